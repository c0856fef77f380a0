/*
 * qformat.c - number formats: the format table, parameters from a range,
 * fake-quant kernels, single-value codes and the FP8 conversions.
 *
 * Simulated quantization runs over every activation of every calibration
 * sample for every candidate policy, so fake-quant is on qlens' hot path and
 * must run near memory speed.  Each format therefore has one branch-free
 * per-element function (static inline) that gcc vectorises when it is called
 * in a plain loop, and the same function is used for single elements (per-axis
 * and per-block paths), so every path gives identical bits:
 *
 *  - integers: v = x / s (a real division, as ONNX Runtime does), clamp to
 *    [qmin - z, qmax - z] with compare-selects (a NaN fails `v > lo` and
 *    becomes qmin, as in ORT's MLAS kernel), then round half to even with the
 *    magic number 1.5 * 2^23: (v + M) - M rounds in the default rounding mode
 *    and is exact for |v| < 2^22 (the clamp guarantees |v| <= 65535), and
 *    y = r * s, which equals ONNX's (q - z) * s because z is an integer.
 *  - fp16 / fp8: round |v| in float arithmetic as (|v| + C) - C, where C is
 *    a power of two built from |v|'s exponent whose ulp is the target's ulp
 *    there (at least the target's subnormal step): round to nearest even,
 *    subnormals included, in a handful of vector instructions; overflow, infinity
 *    and NaN are selected at the end (see round_to_format).
 *  - bf16: add 0x7fff plus the lowest kept bit to the bit pattern and clear
 *    the low 16 bits: nearest even, the carry walking into the exponent.
 *
 * The scalar encoders (float_to_half in tensor.c, float_to_fp8e4m3 and
 * float_to_fp8e5m2 here) are written in the ordinary, branchy way; the unit
 * tests compare every fast path against them.
 *
 * FP8 semantics are ONNX's (Cast / QuantizeLinear, opset 19):
 * E4M3FN has bias 7, no infinities and one NaN per sign (S.1111.111), largest
 * value 448; E5M2 has bias 15, infinities (S.11111.00), NaNs (S.11111.xx), largest
 * value 57344.  Rounding is to nearest even on the exact value; a result beyond
 * the largest finite value (and an infinite input) becomes +-max with
 * saturate, otherwise NaN (E4M3FN) or +-inf (E5M2).  NaN stays NaN.
 */
/*
 * Under -ftrapping-math (gcc's default) an ordered float comparison that may
 * see a NaN, or float arithmetic that gcc has sunk into one arm of a select,
 * counts as a possible trap, and gcc then keeps the branches and does not
 * vectorise the fp16 and fp8 loops.  qlens never reads floating-point
 * exception flags, so traps are irrelevant here; results do not change (no
 * reassociation, no contraction).
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "qformat.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "ops/nn_util.h"

#if NN_X86 /* GCC pragmas below */
#include <immintrin.h>
#endif

/* ---- the table ------------------------------------------------------------ */

#define QF_MAX_FINITE_(e, qmax)                                                            \
	((e) == QF_FP32	      ? (double)FLT_MAX                                             \
	 : (e) == QF_FP16     ? 65504.0                                                     \
	 : (e) == QF_BF16     ? 0x1.fep127                                                  \
	 : (e) == QF_FP8E4M3 ? 448.0                                                       \
	 : (e) == QF_FP8E5M2 ? 57344.0                                                     \
			      : (double)(qmax))

#define QF_ROW_(e, nm, b, isf, iss, qmn, qmx, dt, opset, gran)                                \
	[e] = { .name = nm,                                                                   \
		.bits = b,                                                                    \
		.is_float = isf,                                                              \
		.is_signed = iss,                                                             \
		.qmin = qmn,                                                                  \
		.qmax = qmx,                                                                  \
		.onnx_dtype = dt,                                                             \
		.min_opset = opset,                                                           \
		.gran_mask = gran,                                                            \
		.max_finite = QF_MAX_FINITE_(e, qmx) },
static const struct qfmt_info qfmt_table[] = { QFMT_LIST(QF_ROW_) };
#undef QF_ROW_
_Static_assert(sizeof qfmt_table / sizeof qfmt_table[0] == QF_COUNT,
	       "qfmt_table is out of step with QFMT_LIST");

static const char *const qgran_names[] = {
	[QG_TENSOR] = "per-tensor",
	[QG_CHANNEL] = "per-channel",
	[QG_BLOCK] = "per-block",
};
_Static_assert(sizeof qgran_names / sizeof qgran_names[0] == QG_COUNT,
	       "qgran_names is out of step with enum qgran");

const struct qfmt_info *qfmt_info(enum qfmt f)
{
	return (unsigned)f < QF_COUNT ? &qfmt_table[f] : NULL;
}

enum qfmt qfmt_lookup(const char *name)
{
	if (name)
		for (int i = 0; i < QF_COUNT; i++)
			if (strcmp(qfmt_table[i].name, name) == 0)
				return (enum qfmt)i;
	return QF_COUNT;
}

const char *qgran_name(enum qgran g)
{
	return (unsigned)g < QG_COUNT ? qgran_names[g] : "unknown";
}

enum qgran qgran_lookup(const char *name)
{
	if (name)
		for (int i = 0; i < QG_COUNT; i++)
			if (strcmp(qgran_names[i], name) == 0)
				return (enum qgran)i;
	return QG_COUNT;
}

int64_t qfmt_storage_bytes(enum qfmt f, int64_t n)
{
	const struct qfmt_info *fi = qfmt_info(f);
	if (!fi || n <= 0)
		return 0;
	if (fi->bits == 4)
		return (n + 1) / 2;
	return n * (fi->bits / 8);
}

/* ---- parameters from a range ---------------------------------------------- */

/* ORT's symmetric code ranges (quant_utils.py ONNX_INT_TYPE_SYMMETRIC_RANGE);
 * formats it has none for use their full range. */
static void symmetric_codes(enum qfmt f, int32_t *lo, int32_t *hi)
{
	switch (f) {
	case QF_INT8:
		*lo = -127, *hi = 127;
		break;
	case QF_INT16:
		*lo = -32767, *hi = 32767;
		break;
	case QF_UINT8:
		*lo = 0, *hi = 254;
		break;
	default:
		*lo = qfmt_table[f].qmin, *hi = qfmt_table[f].qmax;
		break;
	}
}

/* NaN bounds carry no range; infinite ones are held at the largest float. */
static float finite_bound(float v)
{
	if (isnan(v))
		return 0.0f;
	if (isinf(v))
		return v > 0 ? FLT_MAX : -FLT_MAX;
	return v;
}

struct qparams qfmt_params_from_range(enum qfmt f, float rmin, float rmax, bool symmetric)
{
	struct qparams p = { .scale = 1.0f, .zero_point = 0 };
	const struct qfmt_info *fi = qfmt_info(f);
	if (!fi || f == QF_FP32 || f == QF_FP16 || f == QF_BF16)
		return p;
	rmin = finite_bound(rmin);
	rmax = finite_bound(rmax);
	float lo = rmin < 0.0f ? rmin : 0.0f;
	float hi = rmax > 0.0f ? rmax : 0.0f;

	if (fi->is_float) {
		/* float8: symmetric only, the absolute maximum maps to max_finite */
		double scale = (double)fmaxf(-lo, hi) / fi->max_finite;
		if (scale >= FLT_MIN)
			p.scale = (float)scale;
		return p;
	}

	int32_t qlo = fi->qmin, qhi = fi->qmax;
	if (symmetric) {
		float a = fmaxf(-lo, hi);
		lo = -a;
		hi = a;
		symmetric_codes(f, &qlo, &qhi);
	}
	/* ORT subtracts in float32 and divides in float64 (numpy promotion) */
	float dr = hi - lo;
	if (isinf(dr))
		dr = FLT_MAX;
	double scale = (double)dr / ((double)qhi - (double)qlo);
	if (scale < FLT_MIN) /* numpy.finfo(float32).tiny: a zero range */
		return p;
	double z = symmetric ? nearbyint(((double)qlo + (double)qhi) / 2.0)
			     : nearbyint((double)qlo - (double)lo / scale);
	if (z < fi->qmin)
		z = fi->qmin;
	if (z > fi->qmax)
		z = fi->qmax;
	p.scale = (float)scale;
	p.zero_point = (int32_t)z;
	return p;
}

/* ---- per-element kernels -------------------------------------------------- */

static inline uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* 1.5 * 2^23: adding and subtracting it rounds |v| < 2^22 to an integer, ties to even */
#define ROUND_MAGIC 12582912.0f

static inline float round_magic(float v) { return (v + ROUND_MAGIC) - ROUND_MAGIC; }

/* lo, hi = qmin - z, qmax - z */
static inline float fq_int(float x, float s, float lo, float hi)
{
	float v = x / s;
	v = v > lo ? v : lo; /* NaN -> lo, like ORT */
	v = v < hi ? v : hi;
	return round_magic(v) * s;
}

/*
 * Round |v| (bits a, not NaN) to a float format with mbits mantissa bits, to
 * nearest even, in float arithmetic: C = 2^(e + 23 - mbits), e the exponent
 * of |v|, has an ulp equal to the target's ulp at |v|, and |v| < 2^(e+1) keeps
 * |v| + C in C's binade, so (|v| + C) - C is |v| rounded at that ulp (C is an
 * even multiple of it, so ties go to the even target mantissa) and the
 * subtraction is exact.  Clamping C from below at c_min (ulp = the subnormal
 * step) gives the subnormal rounding; capping e at e_cap (a binade entirely
 * beyond the format's largest value) keeps C finite for huge |v|, whose result
 * then stays beyond the largest value and is handled by the caller.
 */
static inline float round_to_format(int32_t a, int mbits, int32_t c_min, int32_t e_cap)
{
	int32_t e = a & 0x7f800000;
	e = e < e_cap ? e : e_cap;
	int32_t c = e + ((23 - mbits) << 23);
	c = c > c_min ? c : c_min;
	float cf = u2f((uint32_t)c);
	return (u2f((uint32_t)a) + cf) - cf;
}

static inline float fq_fp16(float x)
{
	uint32_t u = f2u(x);
	uint32_t sign = u & 0x80000000u;
	int32_t a = (int32_t)(u ^ sign);
	/* 10 bits; subnormal step 2^-24 = ulp(0.5); binades from 2^16 overflow */
	float r = round_to_format(a, 10, 0x3f000000, 0x47800000);
	uint32_t rb = r > 65504.0f ? 0x7f800000u : f2u(r);
	/* NaN as float_to_half + half_to_float leave it: quiet, top 10 payload bits */
	rb = a > 0x7f800000 ? 0x7fc00000u | ((uint32_t)a & 0x007fe000u) : rb;
	return u2f(rb | sign);
}

static inline float fq_bf16(float x)
{
	/* bf16 keeps fp32's exponent range: round the low 16 bits away in place,
	 * the carry walking into the exponent (up to infinity) as it must */
	uint32_t u = f2u(x);
	uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
	int32_t a = (int32_t)(u & 0x7fffffffu);
	/* NaN as float_to_bf16 + bf16_to_float leave it: quiet, top 7 payload bits */
	return u2f(a > 0x7f800000 ? ((u & 0xffff0000u) | 0x00400000u) : r);
}

/* Float8 fake-quant with saturate=1: see round_to_format for the arguments. */
static inline float fq_fp8(float x, float s, int mbits, int32_t c_min, int32_t e_cap, float max)
{
	float v = x / s;
	uint32_t u = f2u(v);
	uint32_t sign = u & 0x80000000u;
	int32_t a = (int32_t)(u ^ sign);
	float r = round_to_format(a, mbits, c_min, e_cap);
	r = r < max ? r : max; /* saturate, infinity included */
	uint32_t rb = a > 0x7f800000 ? 0x7fc00000u : f2u(r);
	return u2f(rb | sign) * s;
}

/* E4M3FN: step 2^-9 = ulp(2^14), binades from 2^9 are beyond 448.
 * E5M2: step 2^-16 = ulp(2^7), binades from 2^16 are beyond 57344. */
#define E4M3_ARGS 3, 0x46800000, 0x44000000, 448.0f
#define E5M2_ARGS 2, 0x43000000, 0x47800000, 57344.0f

static inline float fq_one(enum qfmt f, float x, struct qparams p)
{
	switch (f) {
	case QF_FP32:
		return x;
	case QF_FP16:
		return fq_fp16(x);
	case QF_BF16:
		return fq_bf16(x);
	case QF_FP8E4M3:
		return fq_fp8(x, p.scale, E4M3_ARGS);
	case QF_FP8E5M2:
		return fq_fp8(x, p.scale, E5M2_ARGS);
	default:
		return fq_int(x, p.scale, (float)(qfmt_table[f].qmin - p.zero_point),
			      (float)(qfmt_table[f].qmax - p.zero_point));
	}
}

/* ---- bulk fake-quant ------------------------------------------------------ */

/*
 * Each loop exists twice: in place (one pointer) and out of place (restrict),
 * because with two unrestricted pointers gcc's runtime overlap check refuses
 * the vector loop exactly when y == x.
 */
#define FQ_LOOP_(EXPR)                                                                       \
	do {                                                                                 \
		if (x == y) {                                                                \
			float *v_ = y;                                                       \
			for (int64_t i = 0; i < n; i++) {                                    \
				float xi = v_[i];                                            \
				v_[i] = (EXPR);                                              \
			}                                                                    \
		} else {                                                                     \
			const float *restrict s_ = x;                                        \
			float *restrict d_ = y;                                              \
			for (int64_t i = 0; i < n; i++) {                                    \
				float xi = s_[i];                                            \
				d_[i] = (EXPR);                                              \
			}                                                                    \
		}                                                                            \
	} while (0)

/*
 * On x86-64 with GNU ifuncs, each loop is also compiled for AVX-512F and AVX2
 * and picked at load time: the bit-manipulating fp16/fp8 kernels are compute-
 * bound at SSE2 width, and the integer one is bound by its division.  Same C,
 * same IEEE operations (C11 mode: no contraction into FMAs), so the bits do
 * not change.  (fp16 goes through the CPU's own conversions where AVX-512F
 * is there: run_fp16_avx512.)  A multiplication by 1/s in place of the
 * division, with an exact redo near rounding ties, was tried and is slower on
 * this project's AVX-512 machine (AMD Zen 5, whose division keeps up).
 */

static NN_CLONES void run_int(const float *x, float *y, int64_t n, float s, float lo, float hi)
{
	FQ_LOOP_(fq_int(xi, s, lo, hi));
}

static NN_CLONES void run_fp16_c(const float *x, float *y, int64_t n)
{
	FQ_LOOP_(fq_fp16(xi));
}

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")
/*
 * fp16 through the CPU's own conversions (vcvtps2ph, rounding to nearest even
 * given in the instruction, and back): IEEE's conversion, which is what
 * fq_fp16 computes, NaN payloads included; the unit tests hold the two to the
 * same bits.  A third of fq_fp16's time.  Masked stores only for the tail
 * (they are slow on some CPUs).
 */
/* an immediate operand, also at -O0 (where the intrinsic is a macro) */
#define FP16_RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
static void run_fp16_avx512(const float *x, float *y, int64_t n)
{
	int64_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i,
				 _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), FP16_RN)));
	if (i < n) {
		__mmask16 k = (__mmask16)((1u << (n - i)) - 1);
		__m512 v = _mm512_maskz_loadu_ps(k, x + i);
		_mm512_mask_storeu_ps(y + i, k, _mm512_cvtph_ps(_mm512_cvtps_ph(v, FP16_RN)));
	}
}
#undef FP16_RN
#pragma GCC pop_options
#endif

static void run_fp16(const float *x, float *y, int64_t n)
{
#if NN_X86
	if (nn_have_avx512()) {
		run_fp16_avx512(x, y, n);
		return;
	}
#endif
	run_fp16_c(x, y, n);
}

static NN_CLONES void run_bf16(const float *x, float *y, int64_t n)
{
	FQ_LOOP_(fq_bf16(xi));
}

static NN_CLONES void run_e4m3(const float *x, float *y, int64_t n, float s)
{
	FQ_LOOP_(fq_fp8(xi, s, E4M3_ARGS));
}

static NN_CLONES void run_e5m2(const float *x, float *y, int64_t n, float s)
{
	FQ_LOOP_(fq_fp8(xi, s, E5M2_ARGS));
}

void qfmt_fake_quant(enum qfmt f, const float *x, float *y, int64_t n, struct qparams p)
{
	if (n <= 0 || (unsigned)f >= QF_COUNT)
		return;
	switch (f) {
	case QF_FP32:
		if (x != y)
			memmove(y, x, (size_t)n * sizeof *y);
		return;
	case QF_FP16:
		run_fp16(x, y, n);
		return;
	case QF_BF16:
		run_bf16(x, y, n);
		return;
	case QF_FP8E4M3:
		run_e4m3(x, y, n, p.scale);
		return;
	case QF_FP8E5M2:
		run_e5m2(x, y, n, p.scale);
		return;
	default:
		run_int(x, y, n, p.scale, (float)(qfmt_table[f].qmin - p.zero_point),
			(float)(qfmt_table[f].qmax - p.zero_point));
		return;
	}
}

/* Below this many contiguous elements per parameter set, go element by element. */
#define FQ_RUN_MIN 16

static void split_axis(const struct shape *s, int axis, int64_t *outer, int64_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int d = 0; d < axis; d++)
		*outer *= s->dim[d];
	for (int d = axis + 1; d < s->rank; d++)
		*inner *= s->dim[d];
}

void qfmt_fake_quant_axis(enum qfmt f, const float *x, float *y, const struct shape *s, int axis,
			  const struct qparams *params)
{
	if ((unsigned)f >= QF_COUNT || axis < 0 || axis >= s->rank)
		return;
	int64_t outer, inner, c_n = s->dim[axis];
	split_axis(s, axis, &outer, &inner);
	for (int64_t o = 0; o < outer; o++) {
		for (int64_t c = 0; c < c_n; c++) {
			int64_t off = (o * c_n + c) * inner;
			if (inner >= FQ_RUN_MIN) {
				qfmt_fake_quant(f, x + off, y + off, inner, params[c]);
			} else {
				for (int64_t i = 0; i < inner; i++)
					y[off + i] = fq_one(f, x[off + i], params[c]);
			}
		}
	}
}

void qfmt_fake_quant_block(enum qfmt f, const float *x, float *y, const struct shape *s, int axis,
			   int block, const struct qparams *params)
{
	if ((unsigned)f >= QF_COUNT || axis < 0 || axis >= s->rank || block <= 0)
		return;
	int64_t outer, inner, d_n = s->dim[axis];
	int64_t nb = (d_n + block - 1) / block;
	split_axis(s, axis, &outer, &inner);
	for (int64_t o = 0; o < outer; o++) {
		if (inner == 1) {
			/* blocks are contiguous runs (the usual [N, K] weight, axis 1) */
			for (int64_t b = 0; b < nb; b++) {
				int64_t k0 = b * block;
				int64_t len = d_n - k0 < block ? d_n - k0 : block;
				int64_t off = o * d_n + k0;
				qfmt_fake_quant(f, x + off, y + off, len, params[o * nb + b]);
			}
			continue;
		}
		for (int64_t k = 0; k < d_n; k++) {
			const struct qparams *row = params + (o * nb + k / block) * inner;
			int64_t off = (o * d_n + k) * inner;
			for (int64_t i = 0; i < inner; i++)
				y[off + i] = fq_one(f, x[off + i], row[i]);
		}
	}
}

/* ---- single codes --------------------------------------------------------- */

int32_t qfmt_quantize_one(enum qfmt f, float x, struct qparams p)
{
	switch (f) {
	case QF_FP32:
		return (int32_t)f2u(x);
	case QF_FP16:
		return float_to_half(x);
	case QF_BF16:
		return float_to_bf16(x);
	case QF_FP8E4M3:
		return float_to_fp8e4m3(x / p.scale, true);
	case QF_FP8E5M2:
		return float_to_fp8e5m2(x / p.scale, true);
	default: {
		if ((unsigned)f >= QF_COUNT)
			return 0;
		float lo = (float)(qfmt_table[f].qmin - p.zero_point);
		float hi = (float)(qfmt_table[f].qmax - p.zero_point);
		float v = x / p.scale;
		v = v > lo ? v : lo;
		v = v < hi ? v : hi;
		return (int32_t)round_magic(v) + p.zero_point;
	}
	}
}

float qfmt_dequantize_one(enum qfmt f, int32_t q, struct qparams p)
{
	switch (f) {
	case QF_FP32:
		return u2f((uint32_t)q);
	case QF_FP16:
		return half_to_float((uint16_t)q);
	case QF_BF16:
		return bf16_to_float((uint16_t)q);
	case QF_FP8E4M3:
		return fp8e4m3_to_float((uint8_t)q) * p.scale;
	case QF_FP8E5M2:
		return fp8e5m2_to_float((uint8_t)q) * p.scale;
	default:
		return (float)(q - p.zero_point) * p.scale;
	}
}

/* ---- FP8 conversions ------------------------------------------------------ */

float fp8e4m3_to_float(uint8_t v)
{
	uint32_t sign = (uint32_t)(v & 0x80) << 24;
	uint32_t e = (v >> 3) & 0xf, m = v & 0x7;
	if (e == 0xf && m == 0x7)
		return u2f(sign | 0x7fc00000u);
	if (e == 0) {
		float f = (float)m * 0x1p-9f; /* subnormal: m * 2^-9, exact */
		return sign ? -f : f;
	}
	return u2f(sign | ((e - 7 + 127) << 23) | (m << 20));
}

float fp8e5m2_to_float(uint8_t v)
{
	uint32_t sign = (uint32_t)(v & 0x80) << 24;
	uint32_t e = (v >> 2) & 0x1f, m = v & 0x3;
	if (e == 0x1f)
		return u2f(sign | (m ? 0x7fc00000u : 0x7f800000u));
	if (e == 0) {
		float f = (float)m * 0x1p-16f;
		return sign ? -f : f;
	}
	return u2f(sign | ((e - 15 + 127) << 23) | (m << 21));
}

uint8_t float_to_fp8e4m3(float f, bool saturate)
{
	uint32_t u = f2u(f);
	uint8_t sign = (uint8_t)((u >> 24) & 0x80);
	uint32_t a = u & 0x7fffffffu;
	if (a > 0x7f800000u) /* NaN */
		return sign | 0x7f;
	if (a == 0x7f800000u)
		return sign | (saturate ? 0x7e : 0x7f);
	if (a < 0x3c800000u) {
		/* below 2^-6: a multiple of the subnormal step 2^-9; 8 carries into
		 * the smallest normal, whose code is 8 as well */
		return sign | (uint8_t)nearbyintf(u2f(a) * 0x1p9f);
	}
	uint32_t r = a + 0x7ffffu + ((a >> 20) & 1u);
	uint32_t e = (r >> 23) - 127 + 7, m = (r >> 20) & 7;
	if (e > 15 || (e == 15 && m == 7)) /* beyond 448 */
		return sign | (saturate ? 0x7e : 0x7f);
	return sign | (uint8_t)(e << 3 | m);
}

uint8_t float_to_fp8e5m2(float f, bool saturate)
{
	uint32_t u = f2u(f);
	uint8_t sign = (uint8_t)((u >> 24) & 0x80);
	uint32_t a = u & 0x7fffffffu;
	if (a > 0x7f800000u)
		return sign | 0x7f;
	if (a == 0x7f800000u)
		return sign | (saturate ? 0x7b : 0x7c);
	if (a < 0x38800000u) /* below 2^-14: multiples of 2^-16 */
		return sign | (uint8_t)nearbyintf(u2f(a) * 0x1p16f);
	uint32_t r = a + 0xfffffu + ((a >> 21) & 1u);
	uint32_t e = (r >> 23) - 127 + 15, m = (r >> 21) & 3;
	if (e > 30) /* beyond 57344 */
		return sign | (saturate ? 0x7b : 0x7c);
	return sign | (uint8_t)(e << 2 | m);
}
