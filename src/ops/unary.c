/*
 * unary.c - elementwise math and activations: Relu, LeakyRelu, Sigmoid, Tanh, Erf,
 * Gelu, Clip, Sqrt, Exp, Log and friends.
 *
 * Every op here maps one input element to one output element of the same shape,
 * so they share one prepare (arity, dtype, attributes into struct un_params) and
 * one run that switches on the op once and then executes a plain loop - the loop
 * body is a libm call or a few arithmetic operations, which gcc vectorises where
 * it can (the arithmetic ones) and leaves as a call where it cannot (expf etc.).
 *
 * Exp, Sigmoid, Tanh (and Selu, Gelu-tanh, Mish) use the vectorisable vexpf / vtanhf
 * below instead of libm (within 1.3 / 2.2 ulp of exact); Erf goes to nn_erf (AVX-512
 * polynomial within 7.3e-8 where the CPU has it, C99 erff otherwise), as fused GELUs do.
 *
 * float32 is the main type.  Neg, Abs, Sign, Relu and Clip also run on the
 * integer types (torch shape arithmetic and int8 tests use them); integer Neg
 * and Abs wrap for the most negative value instead of overflowing.
 *
 * Clip: before opset 11 the bounds are `min` / `max` attributes; from 11 they are
 * optional scalar inputs, read at run time (they need not be constant).  An
 * absent bound is -inf / +inf (or the integer type's range).
 * Round rounds half to even (rintf under the default rounding mode).
 * Gelu (opset 20) supports approximate="none" (erf form) and "tanh".
 * Also here because they cost one loop each: trigonometric and hyperbolic functions,
 * Softsign, Celu, Selu, ThresholdedRelu, Shrink, Mish, IsNaN, IsInf.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_util.h"
#include "ops_util.h"

enum un_op {
	U_RELU, U_LEAKY, U_SQRT, U_EXP, U_LOG, U_ERF, U_NEG, U_RECIP, U_ABS, U_FLOOR, U_CEIL,
	U_ROUND, U_SIGN, U_CLIP, U_SIGMOID, U_HSIGMOID, U_HSWISH, U_TANH, U_SOFTPLUS,
	U_SOFTSIGN, U_ELU, U_SELU, U_CELU, U_GELU, U_GELU_TANH, U_THRELU, U_SIN, U_COS,
	U_ISNAN, U_ISINF, U_TAN, U_ASIN, U_ACOS, U_ATAN, U_SINH, U_COSH, U_ASINH, U_ACOSH,
	U_ATANH, U_SHRINK, U_MISH,
};

struct un_params {
	enum un_op op;
	float alpha, beta, gamma;
	bool clip_attrs;     /* Clip bounds come from attributes (opset < 11) */
	bool inf_pos, inf_neg; /* IsInf */
};

/* --- integer kernels ------------------------------------------------------- */

#define UN_INT_TYPES(X)                                                                           \
	X(DT_INT8, int8_t, uint8_t, 1, INT8_MIN, INT8_MAX)                                         \
	X(DT_INT16, int16_t, uint16_t, 1, INT16_MIN, INT16_MAX)                                    \
	X(DT_INT32, int32_t, uint32_t, 1, INT32_MIN, INT32_MAX)                                    \
	X(DT_INT64, int64_t, uint64_t, 1, INT64_MIN, INT64_MAX)                                    \
	X(DT_UINT8, uint8_t, uint8_t, 0, 0, UINT8_MAX)                                             \
	X(DT_UINT16, uint16_t, uint16_t, 0, 0, UINT16_MAX)                                         \
	X(DT_UINT32, uint32_t, uint32_t, 0, 0, UINT32_MAX)                                         \
	X(DT_UINT64, uint64_t, uint64_t, 0, 0, UINT64_MAX)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits" /* x < 0 on unsigned types */
#define UN_INT_KERNEL(dt, T, U, is_signed, lo_, hi_)                                              \
	static void un_int_##T(enum un_op op, const void *x_, void *y_, int64_t n,                \
			       const struct tensor *tlo, const struct tensor *thi)                 \
	{                                                                                         \
		const T *restrict x = x_;                                                         \
		T *restrict y = y_;                                                               \
		switch (op) {                                                                     \
		case U_NEG:                                                                       \
			for (int64_t i = 0; i < n; i++)                                           \
				y[i] = (T)((U)0 - (U)x[i]);                                       \
			break;                                                                    \
		case U_ABS:                                                                       \
			for (int64_t i = 0; i < n; i++)                                           \
				y[i] = x[i] < 0 ? (T)((U)0 - (U)x[i]) : x[i];                     \
			break;                                                                    \
		case U_SIGN:                                                                      \
			for (int64_t i = 0; i < n; i++)                                           \
				y[i] = (T)((x[i] > 0) - (x[i] < 0));                              \
			break;                                                                    \
		case U_RELU:                                                                      \
			for (int64_t i = 0; i < n; i++)                                           \
				y[i] = x[i] > 0 ? x[i] : 0;                                       \
			break;                                                                    \
		case U_CLIP: {                                                                    \
			T lo = tlo ? *(const T *)tlo->data : (T)(lo_);                            \
			T hi = thi ? *(const T *)thi->data : (T)(hi_);                            \
			for (int64_t i = 0; i < n; i++) {                                         \
				T v = x[i] < lo ? lo : x[i];                                      \
				y[i] = v > hi ? hi : v;                                           \
			}                                                                         \
			break;                                                                    \
		}                                                                                 \
		default:                                                                          \
			break;                                                                    \
		}                                                                                 \
	}
UN_INT_TYPES(UN_INT_KERNEL)
#pragma GCC diagnostic pop

/* --- float kernels ----------------------------------------------------------- */

/*
 * Branch-free helpers.  gcc (with its default -ftrapping-math) refuses to if-convert
 * some float ternaries, which keeps the whole loop scalar; a select through integer
 * masks always vectorises.
 */
static inline float fsel(int c, float a, float b)
{
	union { float f; uint32_t u; } ua = { a }, ub = { b }, r;
	uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
	r.u = (ua.u & m) | (ub.u & ~m);
	return r.f;
}

static inline float clampf(float v, float lo, float hi)
{
	v = fsel(v < lo, lo, v);
	return fsel(v > hi, hi, v);
}

/*
 * e^x in float, vectorisable: x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of
 * ln2), e^r by its degree-7 Taylor polynomial (truncation error < 2^-25), 2^n built in
 * the exponent bits as two factors so that n may reach +-150.  Clamping x to
 * [-104, 100] still lets the final products overflow to inf or underflow through the
 * subnormals to 0 exactly where expf does.  Measured: at most 1.3 ulp from the exact
 * value over [-100, 100].
 */
static inline float vexpf(float x)
{
	float c = fsel(x > -104.0f, x, -104.0f); /* also maps NaN to -104 */
	c = fsel(c < 100.0f, c, 100.0f);
	float n = (c * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to integer */
	float r = c - n * 0.693359375f;
	r = r - n * -2.12194440e-4f;
	float p = 1.0f / 5040.0f;
	p = p * r + 1.0f / 720.0f;
	p = p * r + 1.0f / 120.0f;
	p = p * r + 1.0f / 24.0f;
	p = p * r + 1.0f / 6.0f;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	int32_t ni = (int32_t)n, e1 = ni >> 1, e2 = ni - e1;
	union { uint32_t u; float f; } s1 = { .u = (uint32_t)(e1 + 127) << 23 },
				       s2 = { .u = (uint32_t)(e2 + 127) << 23 };
	return fsel(x == x, p * s1.f * s2.f, x);
}

/*
 * tanh in float, vectorisable: (1 - e) / (1 + e) with e = e^-2|x| where that has no
 * cancellation (|x| >= 0.3), the odd Taylor series to x^13 below.  At most 2.2 ulp
 * from the exact value.
 */
static inline float vtanhf(float x)
{
	float a = fabsf(x);
	float e = vexpf(-2.0f * a);
	float big = (1.0f - e) / (1.0f + e);
	float x2 = x * x;
	float p = 21844.0f / 6081075.0f;
	p = p * x2 - 1382.0f / 155925.0f;
	p = p * x2 + 62.0f / 2835.0f;
	p = p * x2 - 17.0f / 315.0f;
	p = p * x2 + 2.0f / 15.0f;
	p = p * x2 - 1.0f / 3.0f;
	float small = a + a * x2 * p;
	return copysignf(fsel(a < 0.3f, small, big), x);
}

/* Also compiled for AVX-512F and AVX2 and picked at load time, like the binary float kernels
 * (elementwise.c): the same operations in the same order, so the same bits; Clip and Relu
 * between convolutions run at SSE2's width otherwise. */
static NN_CLONES void un_float(const struct un_params *p, const float *restrict x, void *y_,
			       int64_t n, float lo, float hi)
{
	float *restrict y = y_;
	const float a = p->alpha, b = p->beta, g = p->gamma;
	switch (p->op) {
	case U_RELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = x[i] > 0.0f ? x[i] : 0.0f;
		break;
	case U_LEAKY:
		for (int64_t i = 0; i < n; i++)
			y[i] = fsel(x[i] < 0.0f, a * x[i], x[i]);
		break;
	case U_SQRT:
		for (int64_t i = 0; i < n; i++)
			y[i] = sqrtf(x[i]);
		break;
	case U_EXP:
		for (int64_t i = 0; i < n; i++)
			y[i] = vexpf(x[i]);
		break;
	case U_LOG:
		for (int64_t i = 0; i < n; i++)
			y[i] = logf(x[i]);
		break;
	case U_ERF:
		nn_erf(x, y, n);
		break;
	case U_NEG:
		for (int64_t i = 0; i < n; i++)
			y[i] = -x[i];
		break;
	case U_RECIP:
		for (int64_t i = 0; i < n; i++)
			y[i] = 1.0f / x[i];
		break;
	case U_ABS:
		for (int64_t i = 0; i < n; i++)
			y[i] = fabsf(x[i]);
		break;
	case U_FLOOR:
		for (int64_t i = 0; i < n; i++)
			y[i] = floorf(x[i]);
		break;
	case U_CEIL:
		for (int64_t i = 0; i < n; i++)
			y[i] = ceilf(x[i]);
		break;
	case U_ROUND:
		for (int64_t i = 0; i < n; i++)
			y[i] = rintf(x[i]);
		break;
	case U_SIGN:
		/* keeps 0 and NaN as they are */
		for (int64_t i = 0; i < n; i++)
			y[i] = fsel(x[i] > 0.0f, 1.0f, fsel(x[i] < 0.0f, -1.0f, x[i]));
		break;
	case U_CLIP:
		for (int64_t i = 0; i < n; i++)
			y[i] = clampf(x[i], lo, hi); /* keeps NaN */
		break;
	case U_SIGMOID:
		for (int64_t i = 0; i < n; i++)
			y[i] = 1.0f / (1.0f + vexpf(-x[i]));
		break;
	case U_HSIGMOID:
		for (int64_t i = 0; i < n; i++)
			y[i] = clampf(a * x[i] + b, 0.0f, 1.0f);
		break;
	case U_HSWISH:
		for (int64_t i = 0; i < n; i++)
			y[i] = x[i] * clampf(x[i] * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
		break;
	case U_TANH:
		for (int64_t i = 0; i < n; i++)
			y[i] = vtanhf(x[i]);
		break;
	case U_SOFTPLUS:
		/* log(1 + e^x) without overflow for large x */
		for (int64_t i = 0; i < n; i++)
			y[i] = fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
		break;
	case U_SOFTSIGN:
		for (int64_t i = 0; i < n; i++)
			y[i] = x[i] / (1.0f + fabsf(x[i]));
		break;
	case U_ELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = x[i] < 0.0f ? a * expm1f(x[i]) : x[i];
		break;
	case U_SELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = fsel(x[i] <= 0.0f, g * (a * vexpf(x[i]) - a), g * x[i]);
		break;
	case U_CELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = fmaxf(x[i], 0.0f) + fminf(0.0f, a * expm1f(x[i] / a));
		break;
	case U_GELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
		break;
	case U_GELU_TANH: {
		const float k = (float)(M_2_SQRTPI * M_SQRT1_2); /* sqrt(2 / pi) */
		for (int64_t i = 0; i < n; i++) {
			float v = x[i];
			y[i] = 0.5f * v * (1.0f + vtanhf(k * (v + 0.044715f * v * v * v)));
		}
		break;
	}
	case U_THRELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = fsel(x[i] > a, x[i], 0.0f);
		break;
	case U_SIN:
		for (int64_t i = 0; i < n; i++)
			y[i] = sinf(x[i]);
		break;
	case U_COS:
		for (int64_t i = 0; i < n; i++)
			y[i] = cosf(x[i]);
		break;
	case U_TAN:
		for (int64_t i = 0; i < n; i++)
			y[i] = tanf(x[i]);
		break;
	case U_ASIN:
		for (int64_t i = 0; i < n; i++)
			y[i] = asinf(x[i]);
		break;
	case U_ACOS:
		for (int64_t i = 0; i < n; i++)
			y[i] = acosf(x[i]);
		break;
	case U_ATAN:
		for (int64_t i = 0; i < n; i++)
			y[i] = atanf(x[i]);
		break;
	case U_SINH:
		for (int64_t i = 0; i < n; i++)
			y[i] = sinhf(x[i]);
		break;
	case U_COSH:
		for (int64_t i = 0; i < n; i++)
			y[i] = coshf(x[i]);
		break;
	case U_ASINH:
		for (int64_t i = 0; i < n; i++)
			y[i] = asinhf(x[i]);
		break;
	case U_ACOSH:
		for (int64_t i = 0; i < n; i++)
			y[i] = acoshf(x[i]);
		break;
	case U_ATANH:
		for (int64_t i = 0; i < n; i++)
			y[i] = atanhf(x[i]);
		break;
	case U_SHRINK:
		/* alpha = lambd, beta = bias */
		for (int64_t i = 0; i < n; i++)
			y[i] = fsel(x[i] < -a, x[i] + b, fsel(x[i] > a, x[i] - b, 0.0f));
		break;
	case U_MISH:
		for (int64_t i = 0; i < n; i++)
			y[i] = x[i] * vtanhf(fmaxf(x[i], 0.0f) + log1pf(vexpf(-fabsf(x[i]))));
		break;
	case U_ISNAN: {
		uint8_t *restrict o = y_;
		for (int64_t i = 0; i < n; i++)
			o[i] = x[i] != x[i];
		break;
	}
	case U_ISINF: {
		uint8_t *restrict o = y_;
		for (int64_t i = 0; i < n; i++)
			o[i] = (uint8_t)((p->inf_pos & (x[i] == INFINITY)) |
					 (p->inf_neg & (x[i] == -INFINITY)));
		break;
	}
	}
}

/* --- prepare / run ------------------------------------------------------------- */

static bool int_capable(enum un_op op)
{
	return op == U_NEG || op == U_ABS || op == U_SIGN || op == U_RELU || op == U_CLIP;
}

static bool is_int_type(enum dtype t)
{
	switch (t) {
	case DT_INT8: case DT_INT16: case DT_INT32: case DT_INT64:
	case DT_UINT8: case DT_UINT16: case DT_UINT32: case DT_UINT64:
		return true;
	default:
		return false;
	}
}

static enum status get_f(const struct step *s, const char *name, float def, float *out,
			 struct err *e)
{
	return node_attr_float(s->node, name, def, out, e);
}

static enum status un_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, enum un_op op, struct err *e)
{
	int max_in = op == U_CLIP && s->opset >= 11 ? 3 : 1;
	enum status st = ops_check_arity(in, n_in, 1, max_in, n_out, 1, e);
	if (st)
		return st;
	enum dtype t = in[0]->dtype;
	if (t != DT_FLOAT && !(int_capable(op) && is_int_type(t)))
		return err_set(e, ERR_UNSUPPORTED, "input type %s is not supported", dtype_name(t));
	if (op == U_NEG && (t == DT_UINT8 || t == DT_UINT16 || t == DT_UINT32 || t == DT_UINT64))
		return err_set(e, ERR_UNSUPPORTED, "input type %s is not supported", dtype_name(t));
	if (op == U_CLIP) {
		for (int i = 1; i < n_in; i++) {
			if (!in[i])
				continue;
			if (in[i]->dtype != t)
				return err_set(e, ERR_INVALID, "%s has type %s, input has %s",
					       i == 1 ? "min" : "max", dtype_name(in[i]->dtype),
					       dtype_name(t));
			if (tensor_numel(in[i]) != 1)
				return err_set(e, ERR_INVALID, "%s must be a scalar",
					       i == 1 ? "min" : "max");
		}
	}

	struct un_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->op = op;
	switch (op) {
	case U_LEAKY: st = get_f(s, "alpha", 0.01f, &p->alpha, e); break;
	case U_HSIGMOID:
		if (!(st = get_f(s, "alpha", 0.2f, &p->alpha, e)))
			st = get_f(s, "beta", 0.5f, &p->beta, e);
		break;
	case U_ELU: st = get_f(s, "alpha", 1.0f, &p->alpha, e); break;
	case U_CELU: st = get_f(s, "alpha", 1.0f, &p->alpha, e); break;
	case U_THRELU: st = get_f(s, "alpha", 1.0f, &p->alpha, e); break;
	case U_SELU:
		if (!(st = get_f(s, "alpha", 1.67326319217681884765625f, &p->alpha, e)))
			st = get_f(s, "gamma", 1.05070102519989013671875f, &p->gamma, e);
		break;
	case U_CLIP:
		if (s->opset < 11) {
			p->clip_attrs = true;
			if (!(st = get_f(s, "min", -INFINITY, &p->alpha, e)))
				st = get_f(s, "max", INFINITY, &p->beta, e);
		}
		break;
	case U_SHRINK:
		if (!(st = get_f(s, "lambd", 0.5f, &p->alpha, e)))
			st = get_f(s, "bias", 0.0f, &p->beta, e);
		break;
	case U_GELU: {
		const char *appr;
		if ((st = node_attr_string(s->node, "approximate", "none", &appr, e)))
			break;
		if (strcmp(appr, "tanh") == 0)
			p->op = U_GELU_TANH;
		else if (strcmp(appr, "none") != 0)
			st = err_set(e, ERR_UNSUPPORTED, "approximate=\"%s\" is not supported",
				     appr);
		break;
	}
	case U_ISINF: {
		int64_t dp, dn;
		if (!(st = node_attr_int(s->node, "detect_positive", 1, &dp, e)))
			st = node_attr_int(s->node, "detect_negative", 1, &dn, e);
		p->inf_pos = !st && dp;
		p->inf_neg = !st && dn;
		break;
	}
	default:
		break;
	}
	if (!st && p->clip_attrs && t != DT_FLOAT)
		st = err_set(e, ERR_UNSUPPORTED, "Clip before opset 11 supports float32 only");
	if (st) {
		free(p);
		return st;
	}
	s->params = p;
	out[0]->dtype = (op == U_ISNAN || op == U_ISINF) ? DT_BOOL : t;
	out[0]->shape = in[0]->shape;
	return OK;
}

static enum status un_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out)
{
	const struct un_params *p = s->params;
	int64_t n = tensor_numel(in[0]);
	const struct tensor *tlo = n_in > 1 ? in[1] : NULL, *thi = n_in > 2 ? in[2] : NULL;
	if (in[0]->dtype == DT_FLOAT) {
		float lo = -INFINITY, hi = INFINITY;
		if (p->clip_attrs) {
			lo = p->alpha;
			hi = p->beta;
		} else {
			if (tlo)
				lo = *(const float *)tlo->data;
			if (thi)
				hi = *(const float *)thi->data;
		}
		un_float(p, in[0]->data, out[0]->data, n, lo, hi);
		return OK;
	}
	switch (in[0]->dtype) {
#define UN_INT_CASE(dt, T, U, is_signed, lo_, hi_)                                                \
	case dt:                                                                                  \
		un_int_##T(p->op, in[0]->data, out[0]->data, n, tlo, thi);                        \
		break;
		UN_INT_TYPES(UN_INT_CASE)
#undef UN_INT_CASE
	default:
		break;
	}
	return OK;
}

#define UN_OP(prefix, OPID)                                                                       \
	enum status op_##prefix##_prepare(struct step *s, const struct tensor *const *in,         \
					  int n_in, struct tensor *const *out, int n_out,          \
					  struct err *e)                                           \
	{                                                                                         \
		return un_prepare(s, in, n_in, out, n_out, OPID, e);                              \
	}                                                                                         \
	enum status op_##prefix##_run(const struct step *s, const struct tensor *const *in,       \
				      int n_in, struct tensor *const *out, int n_out,              \
				      void *scratch, struct err *e)                                \
	{                                                                                         \
		return un_run(s, in, n_in, out);                                                  \
	}

UN_OP(relu, U_RELU)
UN_OP(leakyrelu, U_LEAKY)
UN_OP(sqrt, U_SQRT)
UN_OP(exp, U_EXP)
UN_OP(log, U_LOG)
UN_OP(erf, U_ERF)
UN_OP(neg, U_NEG)
UN_OP(reciprocal, U_RECIP)
UN_OP(abs, U_ABS)
UN_OP(floor, U_FLOOR)
UN_OP(ceil, U_CEIL)
UN_OP(round, U_ROUND)
UN_OP(sign, U_SIGN)
UN_OP(clip, U_CLIP)
UN_OP(sigmoid, U_SIGMOID)
UN_OP(hardsigmoid, U_HSIGMOID)
UN_OP(hardswish, U_HSWISH)
UN_OP(tanh, U_TANH)
UN_OP(softplus, U_SOFTPLUS)
UN_OP(softsign, U_SOFTSIGN)
UN_OP(elu, U_ELU)
UN_OP(selu, U_SELU)
UN_OP(celu, U_CELU)
UN_OP(gelu, U_GELU)
UN_OP(thresholdedrelu, U_THRELU)
UN_OP(sin, U_SIN)
UN_OP(cos, U_COS)
UN_OP(isnan, U_ISNAN)
UN_OP(isinf, U_ISINF)
UN_OP(tan, U_TAN)
UN_OP(asin, U_ASIN)
UN_OP(acos, U_ACOS)
UN_OP(atan, U_ATAN)
UN_OP(sinh, U_SINH)
UN_OP(cosh, U_COSH)
UN_OP(asinh, U_ASINH)
UN_OP(acosh, U_ACOSH)
UN_OP(atanh, U_ATANH)
UN_OP(shrink, U_SHRINK)
UN_OP(mish, U_MISH)
