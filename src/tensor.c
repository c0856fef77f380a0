/*
 * tensor.c - element types, shapes, dense tensors, and float conversions.
 *
 * half/bfloat16 conversions are bit-exact with round-to-nearest-even,
 * subnormals, infinities and NaN (NaN stays NaN, quiet).
 */
#include "tensor.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dtype_row {
	int id;
	const char *name;
	size_t size;
};
#define DTYPE_ROW_(e, id, name, size) { id, name, size },
static const struct dtype_row dtype_rows[] = { DTYPE_LIST(DTYPE_ROW_) };
#undef DTYPE_ROW_
#define N_DTYPES ((int)(sizeof dtype_rows / sizeof dtype_rows[0]))

static const struct dtype_row *dtype_row(int id)
{
	for (int i = 0; i < N_DTYPES; i++)
		if (dtype_rows[i].id == id)
			return &dtype_rows[i];
	return NULL;
}

bool dtype_valid(int id) { return dtype_row(id) != NULL; }

size_t dtype_size(enum dtype t)
{
	const struct dtype_row *r = dtype_row((int)t);
	return r ? r->size : 0;
}

const char *dtype_name(enum dtype t)
{
	if (t == DT_UNDEFINED)
		return "undefined";
	const struct dtype_row *r = dtype_row((int)t);
	return r ? r->name : "unknown";
}

int64_t shape_numel(const struct shape *s)
{
	int64_t n = 1;
	for (int i = 0; i < s->rank; i++) {
		if (s->dim[i] < 0)
			return -1;
		n *= s->dim[i];
	}
	return n;
}

enum status shape_numel_checked(const struct shape *s, size_t elem_size, int64_t *numel,
				struct err *e)
{
	if (s->rank < 0 || s->rank > TENSOR_MAX_RANK)
		return err_set(e, ERR_LIMIT, "rank %d exceeds the limit of %d", s->rank,
			       TENSOR_MAX_RANK);
	int64_t n = 1;
	int64_t limit = TENSOR_MAX_BYTES / (int64_t)(elem_size ? elem_size : 1);
	for (int i = 0; i < s->rank; i++) {
		int64_t d = s->dim[i];
		if (d < 0)
			return err_set(e, ERR_SHAPE, "dimension %d is negative (%" PRId64 ")", i, d);
		if (d != 0 && n > limit / d) {
			char buf[160];
			return err_set(e, ERR_LIMIT, "shape %s is larger than the %" PRId64
				       "-byte tensor limit", shape_str(s, buf, sizeof buf),
				       (int64_t)TENSOR_MAX_BYTES);
		}
		n *= d;
	}
	*numel = n;
	return OK;
}

bool shape_equal(const struct shape *a, const struct shape *b)
{
	if (a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (a->dim[i] != b->dim[i])
			return false;
	return true;
}

char *shape_str(const struct shape *s, char *buf, size_t size)
{
	size_t used = 0;
	if (size == 0)
		return buf;
	buf[0] = '\0';
	used += (size_t)snprintf(buf + used, size - used, "[");
	for (int i = 0; i < s->rank && used < size; i++) {
		if (s->dim[i] < 0)
			used += (size_t)snprintf(buf + used, size - used, "%s?", i ? "," : "");
		else
			used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? "," : "",
						 s->dim[i]);
	}
	if (used < size)
		snprintf(buf + used, size - used, "]");
	return buf;
}

struct shape shape_make(int rank, const int64_t *dims)
{
	struct shape s = { .rank = rank };
	for (int i = 0; i < rank && i < TENSOR_MAX_RANK; i++)
		s.dim[i] = dims[i];
	return s;
}

enum status tensor_alloc(struct tensor *t, enum dtype dtype, const struct shape *s, struct err *e)
{
	size_t es = dtype_size(dtype);
	if (!es)
		return err_set(e, ERR_UNSUPPORTED, "unknown element type %d", (int)dtype);
	int64_t n;
	enum status st = shape_numel_checked(s, es, &n, e);
	if (st)
		return st;
	size_t bytes = (size_t)n * es;
	void *p = calloc(bytes ? bytes : 1, 1);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
	*t = (struct tensor){ .dtype = dtype, .shape = *s, .data = p, .nbytes = bytes, .owned = true };
	return OK;
}

enum status tensor_copy(struct tensor *dst, const struct tensor *src, struct err *e)
{
	enum status st = tensor_alloc(dst, src->dtype, &src->shape, e);
	if (st)
		return st;
	if (src->nbytes)
		memcpy(dst->data, src->data, src->nbytes);
	return OK;
}

struct tensor tensor_view(enum dtype dtype, const struct shape *s, void *data)
{
	int64_t n = shape_numel(s);
	return (struct tensor){ .dtype = dtype, .shape = *s, .data = data,
				.nbytes = n > 0 ? (size_t)n * dtype_size(dtype) : 0, .owned = false };
}

void tensor_fini(struct tensor *t)
{
	if (!t)
		return;
	if (t->owned)
		free(t->data);
	t->data = NULL;
	t->owned = false;
	t->nbytes = 0;
}

/* ---- half / bfloat16 ---------------------------------------------------- */

static inline uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	if (exp == 0x1f) /* inf / nan */
		return bits_f32(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0));
	if (exp == 0) {
		/* zero or subnormal: man * 2^-24, exact in float */
		float v = (float)man * 0x1p-24f;
		return sign ? -v : v;
	}
	return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t float_to_half(float f)
{
	uint32_t u = f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t a = u & 0x7fffffffu;
	if (a >= 0x7f800000u) /* inf or nan */
		return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 | ((a >> 13) & 0x3ff) : 0));
	if (a >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
		return (uint16_t)(sign | 0x7c00);
	if (a < 0x38800000u) {
		/* result is subnormal or zero: scale so that the half ulp (2^-24) is 1 */
		float v = bits_f32(a) * 0x1p24f;
		/* nearbyint uses the current rounding mode: to nearest even by default */
		uint32_t m = (uint32_t)nearbyintf(v);
		return (uint16_t)(sign | m); /* m == 0x400 carries into the smallest normal */
	}
	/* normal: rebias exponent, round mantissa to 10 bits, nearest even */
	uint32_t r = a - 0x38000000u; /* exponent 127 -> 15 */
	uint32_t lsb = (r >> 13) & 1;
	r += 0xfffu + lsb;
	return (uint16_t)(sign | (r >> 13));
}

float bf16_to_float(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t float_to_bf16(float f)
{
	uint32_t u = f32_bits(f);
	if ((u & 0x7fffffffu) > 0x7f800000u) /* nan: keep it quiet and nan */
		return (uint16_t)((u >> 16) | 0x40);
	uint32_t lsb = (u >> 16) & 1;
	u += 0x7fffu + lsb;
	return (uint16_t)(u >> 16);
}

/* ---- bulk conversions ---------------------------------------------------- */

static inline double round_half_even(double x) { return nearbyint(x); }

enum status convert_to_float(float *dst, const void *src, enum dtype src_type, int64_t n,
			     struct err *e)
{
	switch (src_type) {
	case DT_FLOAT:
		memcpy(dst, src, (size_t)n * 4);
		break;
#define CONV_(T, DT) \
	case DT: { const T *s = src; for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i]; break; }
	CONV_(double, DT_DOUBLE)
	CONV_(int64_t, DT_INT64)
	CONV_(int32_t, DT_INT32)
	CONV_(int16_t, DT_INT16)
	CONV_(int8_t, DT_INT8)
	CONV_(uint8_t, DT_UINT8)
	CONV_(uint16_t, DT_UINT16)
	CONV_(uint32_t, DT_UINT32)
	CONV_(uint64_t, DT_UINT64)
#undef CONV_
	case DT_BOOL: {
		const uint8_t *s = src;
		for (int64_t i = 0; i < n; i++)
			dst[i] = s[i] ? 1.0f : 0.0f;
		break;
	}
	case DT_FLOAT16: {
		const uint16_t *s = src;
		for (int64_t i = 0; i < n; i++)
			dst[i] = half_to_float(s[i]);
		break;
	}
	case DT_BFLOAT16: {
		const uint16_t *s = src;
		for (int64_t i = 0; i < n; i++)
			dst[i] = bf16_to_float(s[i]);
		break;
	}
	default:
		return err_set(e, ERR_UNSUPPORTED, "cannot convert %s to float32",
			       dtype_name(src_type));
	}
	return OK;
}

enum status convert_from_float(void *dst, enum dtype dst_type, const float *src, int64_t n,
			       struct err *e)
{
	switch (dst_type) {
	case DT_FLOAT:
		memcpy(dst, src, (size_t)n * 4);
		break;
	case DT_DOUBLE: {
		double *d = dst;
		for (int64_t i = 0; i < n; i++)
			d[i] = src[i];
		break;
	}
#define SAT_(T, DT, LO, HI)                                                        \
	case DT: {                                                                 \
		T *d = dst;                                                        \
		for (int64_t i = 0; i < n; i++) {                                  \
			double v = isnan(src[i]) ? 0.0 : round_half_even(src[i]);  \
			d[i] = v <= (double)(LO) ? (T)(LO)                         \
			       : v >= (double)(HI) ? (T)(HI) : (T)v;               \
		}                                                                  \
		break;                                                             \
	}
	SAT_(int64_t, DT_INT64, INT64_MIN, INT64_MAX)
	SAT_(int32_t, DT_INT32, INT32_MIN, INT32_MAX)
	SAT_(int16_t, DT_INT16, INT16_MIN, INT16_MAX)
	SAT_(int8_t, DT_INT8, INT8_MIN, INT8_MAX)
	SAT_(uint8_t, DT_UINT8, 0, UINT8_MAX)
	SAT_(uint16_t, DT_UINT16, 0, UINT16_MAX)
	SAT_(uint32_t, DT_UINT32, 0, UINT32_MAX)
	SAT_(uint64_t, DT_UINT64, 0, UINT64_MAX)
#undef SAT_
	case DT_BOOL: {
		uint8_t *d = dst;
		for (int64_t i = 0; i < n; i++)
			d[i] = src[i] != 0.0f;
		break;
	}
	case DT_FLOAT16: {
		uint16_t *d = dst;
		for (int64_t i = 0; i < n; i++)
			d[i] = float_to_half(src[i]);
		break;
	}
	case DT_BFLOAT16: {
		uint16_t *d = dst;
		for (int64_t i = 0; i < n; i++)
			d[i] = float_to_bf16(src[i]);
		break;
	}
	default:
		return err_set(e, ERR_UNSUPPORTED, "cannot convert float32 to %s",
			       dtype_name(dst_type));
	}
	return OK;
}
