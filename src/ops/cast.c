/*
 * cast.c - Cast and CastLike between the numeric types and bool.
 *
 * Cast is exact where C conversions are: a kernel is generated for every pair of
 * the eleven types with a native C representation (float, double, the eight
 * integer types, bool), so int64 -> int32 or int64 -> double never goes through
 * float.  The rules (ONNX Cast, which follows numpy's astype):
 *   - float -> integer truncates toward zero.  Out-of-range values are undefined
 *     in ONNX (and in C); we saturate to the target's range and map NaN to 0, so
 *     the result is deterministic.  (tensor.h's convert_from_float rounds half to
 *     even instead - that is quantization, not Cast.)
 *   - integer -> narrower integer wraps (two's complement), as numpy does.
 *   - anything -> bool is x != 0 (NaN -> true); bool -> anything is 0 / 1.
 * float16 and bfloat16 go through float32 in chunks of a stack buffer, with
 * round-to-nearest-even narrowing (double -> float16 therefore rounds twice,
 * which can differ from a direct rounding in the last bit in rare ties).
 * float8 types, int4 and strings are refused with ERR_UNSUPPORTED.
 */
#include <math.h>
#include <string.h>

#include "ops_util.h"

typedef void (*cv_fn)(const void *src, void *dst, int64_t n);

/* Two copies of the type list, because an X-macro cannot expand inside itself.
 * X(dtype, C type, kind: F float / S signed / U unsigned / B bool, suffix, ...) */
#define CV_TYPES_A(X, ...)                                                                        \
	X(DT_FLOAT, float, F, f32, __VA_ARGS__)                                                    \
	X(DT_DOUBLE, double, F, f64, __VA_ARGS__)                                                  \
	X(DT_INT8, int8_t, S, i8, __VA_ARGS__)                                                     \
	X(DT_INT16, int16_t, S, i16, __VA_ARGS__)                                                  \
	X(DT_INT32, int32_t, S, i32, __VA_ARGS__)                                                  \
	X(DT_INT64, int64_t, S, i64, __VA_ARGS__)                                                  \
	X(DT_UINT8, uint8_t, U, u8, __VA_ARGS__)                                                   \
	X(DT_UINT16, uint16_t, U, u16, __VA_ARGS__)                                                \
	X(DT_UINT32, uint32_t, U, u32, __VA_ARGS__)                                                \
	X(DT_UINT64, uint64_t, U, u64, __VA_ARGS__)                                                \
	X(DT_BOOL, uint8_t, B, b, __VA_ARGS__)
#define CV_TYPES_B(X, ...)                                                                        \
	X(DT_FLOAT, float, F, f32, __VA_ARGS__)                                                    \
	X(DT_DOUBLE, double, F, f64, __VA_ARGS__)                                                  \
	X(DT_INT8, int8_t, S, i8, __VA_ARGS__)                                                     \
	X(DT_INT16, int16_t, S, i16, __VA_ARGS__)                                                  \
	X(DT_INT32, int32_t, S, i32, __VA_ARGS__)                                                  \
	X(DT_INT64, int64_t, S, i64, __VA_ARGS__)                                                  \
	X(DT_UINT8, uint8_t, U, u8, __VA_ARGS__)                                                   \
	X(DT_UINT16, uint16_t, U, u16, __VA_ARGS__)                                                \
	X(DT_UINT32, uint32_t, U, u32, __VA_ARGS__)                                                \
	X(DT_UINT64, uint64_t, U, u64, __VA_ARGS__)                                                \
	X(DT_BOOL, uint8_t, B, b, __VA_ARGS__)

/* float -> integer: truncate toward zero, saturate, NaN -> 0.  The bounds as doubles
 * are exact or round up to a power of two, so `v >= hi` catches every value whose
 * truncation does not fit. */
#define SAT_FN(sfx, T, lo, hi)                                                                    \
	static inline T sat_##sfx(double v)                                                      \
	{                                                                                         \
		if (v != v)                                                                       \
			return 0;                                                                 \
		if (v <= (double)(lo))                                                            \
			return (lo);                                                              \
		if (v >= (double)(hi))                                                            \
			return (hi);                                                              \
		return (T)v;                                                                      \
	}
SAT_FN(i8, int8_t, INT8_MIN, INT8_MAX)
SAT_FN(i16, int16_t, INT16_MIN, INT16_MAX)
SAT_FN(i32, int32_t, INT32_MIN, INT32_MAX)
SAT_FN(i64, int64_t, INT64_MIN, INT64_MAX)
SAT_FN(u8, uint8_t, 0, UINT8_MAX)
SAT_FN(u16, uint16_t, 0, UINT16_MAX)
SAT_FN(u32, uint32_t, 0, UINT32_MAX)
SAT_FN(u64, uint64_t, 0, UINT64_MAX)

/* CONV_<src kind><dst kind>(dst type, dst suffix, value) */
#define CONV_FF(T, sfx, v) ((T)(v))
#define CONV_FS(T, sfx, v) sat_##sfx((double)(v))
#define CONV_FU(T, sfx, v) sat_##sfx((double)(v))
#define CONV_FB(T, sfx, v) ((v) != 0)
#define CONV_SF(T, sfx, v) ((T)(v))
#define CONV_SS(T, sfx, v) ((T)(v))
#define CONV_SU(T, sfx, v) ((T)(v))
#define CONV_SB(T, sfx, v) ((v) != 0)
#define CONV_UF CONV_SF
#define CONV_US CONV_SS
#define CONV_UU CONV_SS
#define CONV_UB CONV_SB
#define CONV_BF(T, sfx, v) ((T)((v) != 0))
#define CONV_BS CONV_BF
#define CONV_BU CONV_BF
#define CONV_BB CONV_SB

#define CV_PAIR(ddt, TD, KD, dsfx, sdt, TS, KS, ssfx)                                             \
	static void cv_##ssfx##_##dsfx(const void *s_, void *d_, int64_t n)                      \
	{                                                                                         \
		const TS *restrict s = s_;                                                        \
		TD *restrict d = d_;                                                              \
		for (int64_t i = 0; i < n; i++)                                                   \
			d[i] = (TD)CONV_##KS##KD(TD, dsfx, s[i]);                                 \
	}
#define CV_FROM(sdt, TS, KS, ssfx, unused) CV_TYPES_B(CV_PAIR, sdt, TS, KS, ssfx)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wfloat-conversion"
CV_TYPES_A(CV_FROM, 0)
#pragma GCC diagnostic pop

#define DT_TAB 32
#define CV_ROW_ENTRY(ddt, TD, KD, dsfx, sdt, ssfx) [ddt] = cv_##ssfx##_##dsfx,
#define CV_ROW(sdt, TS, KS, ssfx, unused) [sdt] = { CV_TYPES_B(CV_ROW_ENTRY, sdt, ssfx) },
static const cv_fn cv_table[DT_TAB][DT_TAB] = { CV_TYPES_A(CV_ROW, 0) };

static cv_fn cv_native(enum dtype from, enum dtype to)
{
	if ((unsigned)from >= DT_TAB || (unsigned)to >= DT_TAB)
		return NULL;
	return cv_table[from][to];
}

static bool is_half(enum dtype t) { return t == DT_FLOAT16 || t == DT_BFLOAT16; }

static bool cast_supported(enum dtype from, enum dtype to)
{
	if (from == to)
		return dtype_size(from) != 0;
	bool f = is_half(from) || cv_native(from, DT_FLOAT);
	bool t = is_half(to) || cv_native(DT_FLOAT, to);
	return f && t;
}

/* --- prepare / run ---------------------------------------------------------------- */

static enum status cast_check(enum dtype from, int64_t to, struct err *e)
{
	if (!dtype_valid((int)to))
		return err_set(e, to == 8 ? ERR_UNSUPPORTED : ERR_INVALID,
			       "cannot cast to type %s", to == 8 ? "string" : "with unknown id");
	if (!cast_supported(from, (enum dtype)to))
		return err_set(e, ERR_UNSUPPORTED, "cast from %s to %s is not supported",
			       dtype_name(from), dtype_name((enum dtype)to));
	return OK;
}

enum status op_cast_prepare(struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	if (st)
		return st;
	int64_t to;
	if ((st = node_attr_int(s->node, "to", 0, &to, e)))
		return st;
	if (!node_attr(s->node, "to"))
		return err_set(e, ERR_INVALID, "attribute 'to' is missing");
	if ((st = cast_check(in[0]->dtype, to, e)))
		return st;
	out[0]->dtype = (enum dtype)to;
	out[0]->shape = in[0]->shape;
	return OK;
}

enum status op_castlike_prepare(struct step *s, const struct tensor *const *in, int n_in,
				struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 2, n_out, 1, e);
	if (st)
		return st;
	if ((st = cast_check(in[0]->dtype, in[1]->dtype, e)))
		return st;
	out[0]->dtype = in[1]->dtype;
	out[0]->shape = in[0]->shape;
	return OK;
}

#define CHUNK 256

static enum status cast_run(const struct tensor *x, struct tensor *y, struct err *e)
{
	enum dtype from = x->dtype, to = y->dtype;
	int64_t n = tensor_numel(x);
	if (from == to) {
		if (x->nbytes) /* data may be NULL when empty */
			memcpy(y->data, x->data, x->nbytes);
		return OK;
	}
	cv_fn f = cv_native(from, to);
	if (f) {
		f(x->data, y->data, n);
		return OK;
	}
	/* one side is float16 / bfloat16: go through float32 chunk by chunk */
	float buf[CHUNK];
	const char *src = x->data;
	char *dst = y->data;
	size_t es = dtype_size(from), ed = dtype_size(to);
	cv_fn in_cv = is_half(from) ? NULL : cv_native(from, DT_FLOAT);
	cv_fn out_cv = is_half(to) ? NULL : cv_native(DT_FLOAT, to);
	enum status st = OK;
	for (int64_t i = 0; i < n && !st; i += CHUNK) {
		int64_t m = n - i < CHUNK ? n - i : CHUNK;
		const void *sp = src + (size_t)i * es;
		void *dp = dst + (size_t)i * ed;
		if (in_cv)
			in_cv(sp, buf, m);
		else
			st = convert_to_float(buf, sp, from, m, e);
		if (st)
			break;
		if (out_cv)
			out_cv(buf, dp, m);
		else
			st = convert_from_float(dp, to, buf, m, e);
	}
	return st;
}

enum status op_cast_run(const struct step *s, const struct tensor *const *in, int n_in,
			struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	return cast_run(in[0], out[0], e);
}

enum status op_castlike_run(const struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	return cast_run(in[0], out[0], e);
}
