/*
 * test_qformat.c - number formats: table, ORT's parameter rules, fake-quant
 * kernels against slow references, FP8 conversions, per-axis and per-block.
 *
 * Every fast path in qformat.c is compared bit for bit with a slow reference
 * written independently here: integers with nearbyint in double, fp16/bf16 with
 * tensor.c's scalar converters, fp8 with a brute-force nearest-code search over
 * the 256 decoded values (ties to the even code).  Inputs mix random values,
 * exact ties, subnormals, huge values, infinities and NaNs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qformat.h"

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng_state = 0x1234567887654321ull;

static uint64_t rng_u64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_uniform(void) { return (double)(rng_u64() >> 11) * 0x1p-53; }

static uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* A float from a wide mix: random bit patterns, small ranges, special values. */
static float rng_float_mixed(void)
{
	static const float specials[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f,
					  0.5f, 65504.0f, 65520.0f, 448.0f, 464.0f, 57344.0f,
					  61440.0f, FLT_MAX, FLT_MIN, 1e-45f };
	uint64_t r = rng_u64();
	switch (r & 7) {
	case 0:
		return specials[(r >> 8) % (sizeof specials / sizeof specials[0])];
	case 1:
	case 2:
		return u2f((uint32_t)(r >> 16)); /* anything, NaN payloads included */
	case 3:
		return (float)((rng_uniform() * 2 - 1) * 1e-5);
	default:
		return (float)((rng_uniform() * 2 - 1) * 600.0);
	}
}

/* Bitwise equality, all NaNs equal. */
static int same_float(float a, float b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return f2u(a) == f2u(b);
}

/* ---- table ------------------------------------------------------------------ */

static void test_table_rows(void **state)
{
	(void)state;
	for (int f = 0; f < QF_COUNT; f++) {
		const struct qfmt_info *fi = qfmt_info((enum qfmt)f);
		assert_non_null(fi);
		assert_int_equal(qfmt_lookup(fi->name), f);
		assert_true(fi->gran_mask & QG_BIT(QG_TENSOR));
		assert_true(fi->bits == 4 || fi->bits == 8 || fi->bits == 16 || fi->bits == 32);
		assert_true(dtype_valid(fi->onnx_dtype));
		assert_true(fi->min_opset >= 1 && fi->min_opset <= 21);
		assert_true(fi->max_finite > 0);
		if (fi->is_float) {
			assert_int_equal(fi->qmin, 0);
			assert_int_equal(fi->qmax, 0);
			assert_false(fi->gran_mask & QG_BIT(QG_BLOCK));
		} else {
			assert_true((fi->qmin < 0) == fi->is_signed);
			assert_int_equal((int64_t)fi->qmax - fi->qmin + 1, (int64_t)1 << fi->bits);
			assert_true(fi->max_finite == fi->qmax);
		}
		/* storage: bits/8 per value, int4 packs two per byte */
		assert_int_equal(qfmt_storage_bytes((enum qfmt)f, 5),
				 fi->bits == 4 ? 3 : 5 * fi->bits / 8);
		assert_int_equal(qfmt_storage_bytes((enum qfmt)f, 0), 0);
	}
	assert_null(qfmt_info(QF_COUNT));
	assert_int_equal(qfmt_lookup("int3"), QF_COUNT);
	assert_int_equal(qfmt_lookup(NULL), QF_COUNT);
	assert_true(qfmt_info(QF_FP8E4M3)->max_finite == 448.0);
	assert_true(qfmt_info(QF_FP8E5M2)->max_finite == 57344.0);
	assert_true(qfmt_info(QF_FP16)->max_finite == 65504.0);
	assert_true(qfmt_info(QF_BF16)->max_finite == (double)u2f(0x7f7f0000u));
	assert_int_equal(qfmt_info(QF_INT4)->onnx_dtype, DT_INT4);
	assert_int_equal(qfmt_info(QF_FP8E4M3)->onnx_dtype, DT_FLOAT8E4M3FN);

	static const char *names[] = { "per-tensor", "per-channel", "per-block" };
	for (int g = 0; g < QG_COUNT; g++) {
		assert_string_equal(qgran_name((enum qgran)g), names[g]);
		assert_int_equal(qgran_lookup(names[g]), g);
	}
	assert_int_equal(qgran_lookup("per-row"), QG_COUNT);
}

/* ---- parameters ------------------------------------------------------------- */

/* ORT's compute_scale_zp, written out directly in double. */
static void ort_params(float rmin, float rmax, int qlo, int qhi, int qmin, int qmax, bool sym,
		       float *s, int *z)
{
	float lo = fminf(rmin, 0), hi = fmaxf(rmax, 0);
	if (sym) {
		float a = fmaxf(fabsf(lo), fabsf(hi));
		lo = -a, hi = a;
	}
	double scale = (double)(float)(hi - lo) / (double)(qhi - qlo);
	if (scale < FLT_MIN) {
		*s = 1, *z = 0;
		return;
	}
	double zz = sym ? nearbyint((qlo + qhi) / 2.0) : nearbyint(qlo - lo / scale);
	*z = (int)fmin(fmax(zz, qmin), qmax);
	*s = (float)scale;
}

static void check_params(enum qfmt f, float rmin, float rmax, bool sym, float s, int z)
{
	struct qparams p = qfmt_params_from_range(f, rmin, rmax, sym);
	assert_true(f2u(p.scale) == f2u(s));
	assert_int_equal(p.zero_point, z);
}

static void test_params_known(void **state)
{
	(void)state;
	/* symmetric int8 is [-127, 127] */
	check_params(QF_INT8, -1, 1, true, (float)(2.0 / 254), 0);
	check_params(QF_INT8, -0.5f, 2, true, (float)(4.0 / 254), 0);
	check_params(QF_INT16, -3, 1, true, (float)(6.0 / 65534), 0);
	/* symmetric uint8 is [0, 254] with z = 127 (ORT) */
	check_params(QF_UINT8, -1, 1, true, (float)(2.0 / 254), 127);
	check_params(QF_UINT8, 0, 5, true, (float)(10.0 / 254), 127);
	/* 4-bit: no symmetric range in ORT, full range, z = round(-0.5) = 0 / round(7.5) = 8 */
	check_params(QF_INT4, -1, 1, true, (float)(2.0 / 15), 0);
	check_params(QF_UINT4, -1, 1, true, (float)(2.0 / 15), 8);
	/* asymmetric: z = round(qmin - rmin / s) */
	check_params(QF_UINT8, -1, 3, false, (float)(4.0 / 255), 64);  /* 63.75 */
	check_params(QF_INT8, -1, 3, false, (float)(4.0 / 255), -64);  /* -64.25 */
	check_params(QF_UINT8, 1, 3, false, (float)(3.0 / 255), 0);    /* widened to 0 */
	check_params(QF_UINT8, -3, -1, false, (float)(3.0 / 255), 255);
	check_params(QF_INT8, -3, -1, false, (float)(3.0 / 255), 127);
	check_params(QF_UINT8, -2.5f, 252.5f, false, 1.0f, 2);		/* 2.5 ties to even */
	check_params(QF_UINT8, -3.5f, 251.5f, false, 1.0f, 4);		/* 3.5 ties to even */
	check_params(QF_UINT4, -1, 2, false, (float)(3.0 / 15), 5);
	/* zero range: s = 1, z = 0 */
	for (int f = 0; f < QF_COUNT; f++) {
		check_params((enum qfmt)f, 0, 0, true, 1, 0);
		check_params((enum qfmt)f, 0, 0, false, 1, 0);
	}
	/* floats: fp8 maps max |x| to the largest finite value; the others ignore scale */
	check_params(QF_FP8E4M3, -2, 1, true, (float)(2.0 / 448), 0);
	check_params(QF_FP8E5M2, -2, 7, false, (float)(7.0 / 57344), 0);
	check_params(QF_FP16, -2, 7, false, 1, 0);
	check_params(QF_BF16, -2, 7, true, 1, 0);
	check_params(QF_FP32, -2, 7, true, 1, 0);
	/* non-finite bounds: NaN ignored, inf held at FLT_MAX */
	check_params(QF_INT8, NAN, 1, true, (float)(2.0 / 254), 0);
	struct qparams p = qfmt_params_from_range(QF_INT8, -INFINITY, 1, true);
	assert_true(isfinite(p.scale) && p.scale > 0);
}

static void test_params_random_vs_ort(void **state)
{
	(void)state;
	static const struct {
		enum qfmt f;
		int qlo_sym, qhi_sym;
	} rows[] = {
		{ QF_INT8, -127, 127 },	   { QF_UINT8, 0, 254 }, { QF_INT16, -32767, 32767 },
		{ QF_INT4, -8, 7 },	   { QF_UINT4, 0, 15 },
	};
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		const struct qfmt_info *fi = qfmt_info(rows[r].f);
		for (int i = 0; i < 2000; i++) {
			float a = (float)((rng_uniform() * 2 - 1) * pow(10, rng_uniform() * 8 - 4));
			float b = (float)((rng_uniform() * 2 - 1) * pow(10, rng_uniform() * 8 - 4));
			float lo = fminf(a, b), hi = fmaxf(a, b);
			for (int sym = 0; sym < 2; sym++) {
				float s;
				int z;
				ort_params(lo, hi, sym ? rows[r].qlo_sym : fi->qmin,
					   sym ? rows[r].qhi_sym : fi->qmax, fi->qmin, fi->qmax,
					   sym, &s, &z);
				check_params(rows[r].f, lo, hi, sym, s, z);
			}
		}
	}
}

/* ---- integer fake-quant ----------------------------------------------------- */

static void test_int8_symmetric_half_step(void **state)
{
	(void)state;
	enum { N = 100000 };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
	assert_non_null(x);
	assert_non_null(y);
	for (int i = 0; i < N; i++)
		x[i] = (float)(rng_uniform() * 2 - 1);
	x[0] = -1, x[1] = 1, x[2] = 0;
	struct qparams p = qfmt_params_from_range(QF_INT8, -1, 1, true);
	assert_true(fabsf(p.scale - 1.0f / 127) < 1e-9f);
	qfmt_fake_quant(QF_INT8, x, y, N, p);
	double worst = 0;
	for (int i = 0; i < N; i++)
		worst = fmax(worst, fabs((double)y[i] - x[i]));
	/* half a step, plus the rounding of r * s in float32 */
	assert_true(worst <= p.scale / 2.0 * (1 + 1e-6));
	assert_true(worst > p.scale / 2.0 * 0.99); /* and it is reached: the bound is tight */
	assert_true(y[2] == 0.0f);
	free(x);
	free(y);
}

/* ONNX QuantizeLinear in double: NaN -> qmin like ORT's MLAS kernel. */
static int32_t ref_quantize_int(enum qfmt f, float x, struct qparams p)
{
	const struct qfmt_info *fi = qfmt_info(f);
	float v = x / p.scale;
	if (isnan(v))
		return fi->qmin;
	double q = nearbyint((double)v) + p.zero_point;
	return (int32_t)fmin(fmax(q, fi->qmin), fi->qmax);
}

static void test_int_matches_reference(void **state)
{
	(void)state;
	enum { N = 20000 };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *w = malloc(N * sizeof *w);
	assert_non_null(x);
	assert_non_null(y);
	assert_non_null(w);
	static const enum qfmt fmts[] = { QF_INT8, QF_UINT8, QF_INT16, QF_INT4, QF_UINT4 };
	for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
		enum qfmt f = fmts[k];
		for (int trial = 0; trial < 6; trial++) {
			float lo = (float)(-rng_uniform() * 10), hi = (float)(rng_uniform() * 10);
			struct qparams p = qfmt_params_from_range(f, lo, hi, trial & 1);
			for (int i = 0; i < N; i++) {
				x[i] = rng_float_mixed();
				/* exact ties: (k + 0.5) * s */
				if (i % 7 == 0)
					x[i] = ((float)(i % 301) - 150.5f) * p.scale;
			}
			qfmt_fake_quant(f, x, y, N, p);
			memcpy(w, x, N * sizeof *w);
			qfmt_fake_quant(f, w, w, N, p); /* in place */
			for (int i = 0; i < N; i++) {
				int32_t q = ref_quantize_int(f, x[i], p);
				float ref = (float)(q - p.zero_point) * p.scale;
				if (!same_float(y[i], ref) || !same_float(w[i], ref))
					fail_msg("%s x=%a s=%a z=%d: got %a / %a, want %a",
						 qfmt_info(f)->name, x[i], p.scale, p.zero_point,
						 y[i], w[i], ref);
				assert_int_equal(qfmt_quantize_one(f, x[i], p), q);
				assert_true(same_float(qfmt_dequantize_one(f, q, p), ref));
			}
		}
	}
	free(x);
	free(y);
	free(w);
}

/*
 * Values within a few ulps of the rounding edges (x / s near k + 0.5), at scales across the
 * float range and at its ends, in runs of every length mod 16 (the vector loops' tails):
 * each result must have the bits of ONNX QuantizeLinear's float division, clamp and
 * round-half-to-even, then the dequantizing product, computed here element by element.
 */
static void test_int_near_ties(void **state)
{
	(void)state;
	enum { N = 4099 };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
	assert_non_null(x);
	assert_non_null(y);
	static const float scales[] = { 1.0f / 127, 0.1f, 3.0f, 0x1.fffffep-1f, 1e-7f, 1e7f,
					0x1p-125f, 0x1p125f, 0x1p-126f, 0x1p126f, 1e-40f };
	static const enum qfmt fmts[] = { QF_INT8, QF_UINT8, QF_INT16, QF_INT4 };
	int64_t checked = 0;
	for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
		for (size_t fk = 0; fk < sizeof fmts / sizeof fmts[0]; fk++) {
			enum qfmt f = fmts[fk];
			const struct qfmt_info *fi = qfmt_info(f);
			struct qparams p = { scales[si], (int32_t)((fi->qmin + fi->qmax) / 3) };
			for (int i = 0; i < N; i++) {
				/* a half-integer quotient inside and around the range */
				double k = floor(rng_uniform() * (fi->qmax - fi->qmin + 6)) +
					   fi->qmin - p.zero_point - 3 + 0.5;
				float t = (float)(k * p.scale);
				int ulps = (int)(rng_u64() % 9) - 4;
				for (; ulps > 0; ulps--)
					t = nextafterf(t, INFINITY);
				for (; ulps < 0; ulps++)
					t = nextafterf(t, -INFINITY);
				x[i] = i % 11 == 0 ? rng_float_mixed() : t;
			}
			for (int len = 1; len <= N; len += len < 40 ? 1 : 997) {
				qfmt_fake_quant(f, x, y, len, p);
				for (int i = 0; i < len; i++) {
					float v = x[i] / p.scale;
					v = v > (float)(fi->qmin - p.zero_point) ? v
						: (float)(fi->qmin - p.zero_point);
					v = v < (float)(fi->qmax - p.zero_point) ? v
						: (float)(fi->qmax - p.zero_point);
					float ref = ((v + 12582912.0f) - 12582912.0f) * p.scale;
					if (!same_float(y[i], ref))
						fail_msg("%s x=%a s=%a z=%d (len %d): got %a, want %a",
							 fi->name, x[i], p.scale, p.zero_point, len,
							 y[i], ref);
					checked++;
				}
			}
		}
	assert_true(checked > 100000);
	free(x);
	free(y);
}

static void test_onnx_examples(void **state)
{
	(void)state;
	/* the QuantizeLinear operator doc's uint8 example: scale 2, zero point 128 */
	static const float x[] = { 0, 2, 3, 1000, -254, -1000 };
	static const int32_t want[] = { 128, 129, 130, 255, 1, 0 };
	struct qparams p = { 2.0f, 128 };
	for (int i = 0; i < 6; i++) {
		assert_int_equal(qfmt_quantize_one(QF_UINT8, x[i], p), want[i]);
		float back = qfmt_dequantize_one(QF_UINT8, want[i], p);
		assert_true(back == (float)(want[i] - 128) * 2);
	}
	/* int8: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 (half to even) */
	struct qparams one = { 1.0f, 0 };
	assert_int_equal(qfmt_quantize_one(QF_INT8, 2.5f, one), 2);
	assert_int_equal(qfmt_quantize_one(QF_INT8, 3.5f, one), 4);
	assert_int_equal(qfmt_quantize_one(QF_INT8, -2.5f, one), -2);
	assert_int_equal(qfmt_quantize_one(QF_INT8, -200.0f, one), -128);
	assert_int_equal(qfmt_quantize_one(QF_INT4, 7.6f, one), 7);
	assert_int_equal(qfmt_quantize_one(QF_UINT4, -1.0f, one), 0);
	/* NaN -> qmin, infinities saturate */
	assert_int_equal(qfmt_quantize_one(QF_INT8, NAN, one), -128);
	assert_int_equal(qfmt_quantize_one(QF_UINT8, NAN, p), 0);
	assert_int_equal(qfmt_quantize_one(QF_INT8, INFINITY, one), 127);
	assert_int_equal(qfmt_quantize_one(QF_INT8, -INFINITY, one), -128);
	float y, nanv = NAN;
	qfmt_fake_quant(QF_UINT8, &nanv, &y, 1, p);
	assert_true(y == -256.0f);
	/* float codes are bit patterns */
	assert_int_equal(qfmt_quantize_one(QF_FP16, 1.0f, one), 0x3c00);
	assert_int_equal(qfmt_quantize_one(QF_BF16, 1.0f, one), 0x3f80);
	struct qparams quarter = { 0.25f, 0 };
	assert_int_equal(qfmt_quantize_one(QF_FP8E4M3, 448.0f * 0.25f, quarter), 0x7e);
	assert_int_equal(qfmt_quantize_one(QF_FP8E5M2, -1.0f, one), 0xbc);
	assert_true(qfmt_dequantize_one(QF_FP8E4M3, 0x7e, quarter) == 112.0f);
	assert_true(qfmt_dequantize_one(QF_FP16, 0x3c00, one) == 1.0f);
	assert_int_equal(qfmt_quantize_one(QF_FP32, 1.5f, one), (int32_t)f2u(1.5f));
	assert_true(qfmt_dequantize_one(QF_FP32, (int32_t)f2u(1.5f), one) == 1.5f);
}

static void test_asymmetric_zero_exact(void **state)
{
	(void)state;
	static const enum qfmt fmts[] = { QF_UINT8, QF_INT8, QF_INT16, QF_UINT4, QF_INT4 };
	for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
		for (int i = 0; i < 5000; i++) {
			double mag = pow(10, rng_uniform() * 8 - 4);
			float a = (float)((rng_uniform() * 2 - 1) * mag);
			float b = (float)((rng_uniform() * 2 - 1) * mag);
			if (i % 5 == 0)
				a = fabsf(a), b = fabsf(b); /* all positive */
			if (i % 5 == 1)
				a = -fabsf(a), b = -fabsf(b); /* all negative */
			struct qparams p = qfmt_params_from_range(fmts[k], fminf(a, b), fmaxf(a, b),
								  false);
			float zero[2] = { 0.0f, -0.0f }, out[2];
			qfmt_fake_quant(fmts[k], zero, out, 2, p);
			if (out[0] != 0.0f || out[1] != 0.0f)
				fail_msg("%s [%g, %g]: s=%g z=%d gives %g", qfmt_info(fmts[k])->name,
					 (double)fminf(a, b), (double)fmaxf(a, b), (double)p.scale,
					 p.zero_point, (double)out[0]);
		}
	}
}

/* ---- fp16 / bf16 ------------------------------------------------------------ */

static float fq1(enum qfmt f, float x)
{
	float y;
	qfmt_fake_quant(f, &x, &y, 1, (struct qparams){ 1.0f, 0 });
	return y;
}

static void test_fp16_bf16_known(void **state)
{
	(void)state;
	static const struct {
		float x;
		uint16_t h, b; /* expected fp16 / bf16 bit patterns */
	} rows[] = {
		{ 1.0f, 0x3c00, 0x3f80 },
		{ 1.0f / 3.0f, 0x3555, 0x3eab },
		{ 65504.0f, 0x7bff, 0x4780 },
		{ 65520.0f, 0x7c00, 0x4780 },		/* fp16: rounds to 65536 -> inf */
		{ 65519.996f, 0x7bff, 0x4780 },
		{ 6e-8f, 0x0001, 0x3381 },		/* fp16 subnormal 2^-24 */
		{ 0x1p-25f, 0x0000, 0x3300 },		/* tie between 0 and 2^-24: even is 0 */
		{ 0x3p-25f, 0x0002, 0x33c0 },		/* tie between 1 and 2 (x 2^-24): 2 */
		{ 0x1.002p0f, 0x3c00, 0x3f80 },		/* fp16 tie 1 + 2^-11: even is 1 */
		{ 0x1.006p0f, 0x3c02, 0x3f80 },		/* tie 1 + 3*2^-11: even is 1 + 2^-9 */
		{ 0x1.01p0f, 0x3c04, 0x3f80 },		/* bf16 tie 1 + 2^-8: even is 1 */
		{ 0x1.03p0f, 0x3c0c, 0x3f82 },		/* bf16 tie 1 + 3*2^-8: 1 + 2^-6 */
		{ 0x1p-14f, 0x0400, 0x3880 },		/* smallest normal half */
		{ 0x1.ffcp-15f, 0x0400, 0x3880 },	/* largest subnormal rounds up into it */
		{ -0.0f, 0x8000, 0x8000 },
		{ -2.0f, 0xc000, 0xc000 },
		{ INFINITY, 0x7c00, 0x7f80 },
		{ -INFINITY, 0xfc00, 0xff80 },
		{ 1e30f, 0x7c00, 0x714a },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		float x = rows[i].x;
		assert_int_equal(float_to_half(x), rows[i].h);
		assert_int_equal(float_to_bf16(x), rows[i].b);
		if (f2u(fq1(QF_FP16, x)) != f2u(half_to_float(rows[i].h)))
			fail_msg("fp16 of %a: got %a", x, fq1(QF_FP16, x));
		if (f2u(fq1(QF_BF16, x)) != f2u(bf16_to_float(rows[i].b)))
			fail_msg("bf16 of %a: got %a", x, fq1(QF_BF16, x));
	}
	/* NaN stays NaN, sign kept */
	assert_true(isnan(fq1(QF_FP16, NAN)));
	assert_true(isnan(fq1(QF_BF16, NAN)));
	assert_true(signbit(fq1(QF_FP16, -NAN)));
	assert_true(signbit(fq1(QF_FP16, -0.0f)) && fq1(QF_FP16, -0.0f) == 0);
	assert_true(signbit(fq1(QF_BF16, -0.0f)) && fq1(QF_BF16, -0.0f) == 0);
}

/* Sweep bit patterns: fast kernels against float_to_half/half_to_float and
 * float_to_bf16/bf16_to_float, bit for bit (NaN payloads included). */
static void test_fp16_bf16_sweep(void **state)
{
	(void)state;
	enum { N = 1 << 16 };
	float *x = malloc(N * sizeof *x), *h = malloc(N * sizeof *h), *b = malloc(N * sizeof *b);
	float *t = malloc(N * sizeof *t);
	assert_non_null(t);
	assert_non_null(x);
	assert_non_null(h);
	assert_non_null(b);
	uint64_t total = 0;
	for (uint64_t start = 0; start < ((uint64_t)1 << 32); start += (uint64_t)N * 997) {
		for (int i = 0; i < N; i++)
			x[i] = u2f((uint32_t)(start + (uint64_t)i * 997));
		qfmt_fake_quant(QF_FP16, x, h, N, (struct qparams){ 1, 0 });
		qfmt_fake_quant(QF_BF16, x, b, N, (struct qparams){ 1, 0 });
		/* in place and with a ragged end, too (the vector kernels' tails): the same */
		memcpy(t, x, N * sizeof *t);
		qfmt_fake_quant(QF_FP16, t + 1, t + 1, N - 3, (struct qparams){ 1, 0 });
		if (memcmp(t + 1, h + 1, (N - 3) * sizeof *t) != 0)
			fail_msg("fp16 in place differs from out of place near %08x", f2u(x[1]));
		for (int i = 0; i < N; i++) {
			uint32_t rh = f2u(half_to_float(float_to_half(x[i])));
			uint32_t rb = f2u(bf16_to_float(float_to_bf16(x[i])));
			if (f2u(h[i]) != rh)
				fail_msg("fp16 %08x: got %08x want %08x", f2u(x[i]), f2u(h[i]), rh);
			if (f2u(b[i]) != rb)
				fail_msg("bf16 %08x: got %08x want %08x", f2u(x[i]), f2u(b[i]), rb);
		}
		total += N;
	}
	assert_true(total > 4000000);
	free(x);
	free(h);
	free(b);
	free(t);
}

/* ---- fp8 ---------------------------------------------------------------------- */

struct fp8fmt {
	float (*dec)(uint8_t);
	uint8_t (*enc)(float, bool);
	enum qfmt f;
	float max, next; /* largest finite, and the value one code beyond it */
	uint8_t max_code, ovf_code;
};

static const struct fp8fmt e4m3 = { fp8e4m3_to_float, float_to_fp8e4m3, QF_FP8E4M3, 448, 480,
				    0x7e, 0x7f };
static const struct fp8fmt e5m2 = { fp8e5m2_to_float, float_to_fp8e5m2, QF_FP8E5M2, 57344, 65536,
				    0x7b, 0x7c };

/* Brute force: the nearest of the non-negative finite codes (and the virtual
 * value beyond the top), ties to the even code. */
static uint8_t ref_fp8(const struct fp8fmt *t, float x, bool saturate)
{
	uint8_t sign = signbit(x) ? 0x80 : 0;
	if (isnan(x))
		return sign | 0x7f;
	double a = fabs((double)x);
	if (a >= t->next) /* distances would lose their precision up there */
		return sign | (saturate ? t->max_code : t->ovf_code);
	int best = -1;
	double best_d = INFINITY;
	for (int c = 0; c <= t->max_code + 1; c++) {
		double v = c <= t->max_code ? t->dec((uint8_t)c) : t->next;
		double d = fabs(v - a);
		if (d < best_d || (d == best_d && (c & 1) == 0)) {
			best = c;
			best_d = d;
		}
	}
	if (isinf(x) || best > t->max_code)
		return sign | (saturate ? t->max_code : t->ovf_code);
	return sign | (uint8_t)best;
}

static void check_fp8_codes(const struct fp8fmt *t)
{
	for (int c = 0; c < 256; c++) {
		float v = t->dec((uint8_t)c);
		if (isnan(v)) {
			assert_true(isnan(t->dec(t->enc(v, false))));
			assert_true(isnan(t->dec(t->enc(v, true))));
			continue;
		}
		assert_int_equal(t->enc(v, false), c);
		if (!isinf(v))
			assert_int_equal(t->enc(v, true), c);
		/* fake-quant at scale 1 reproduces every finite code exactly */
		if (isfinite(v))
			assert_true(f2u(fq1(t->f, v)) == f2u(v));
	}
	/* ties between adjacent codes go to the even one */
	for (int c = 0; c < t->max_code; c++) {
		for (int sign = 0; sign < 2; sign++) {
			uint8_t lo = (uint8_t)(c | (sign << 7));
			uint8_t hi = (uint8_t)((c + 1) | (sign << 7));
			float mid = (t->dec(lo) + t->dec(hi)) / 2; /* exact in float */
			uint8_t even = (c & 1) ? hi : lo;
			assert_int_equal(t->enc(mid, true), even);
			assert_int_equal(t->enc(mid, false), even);
			assert_true(f2u(fq1(t->f, mid)) == f2u(t->dec(even)));
		}
	}
}

static void test_fp8_codes_and_ties(void **state)
{
	(void)state;
	check_fp8_codes(&e4m3);
	check_fp8_codes(&e5m2);
	/* a few known values */
	assert_int_equal(float_to_fp8e4m3(1.0f, true), 0x38);
	assert_int_equal(float_to_fp8e4m3(0x1p-9f, true), 0x01);
	assert_int_equal(float_to_fp8e4m3(0x1p-10f, true), 0x00); /* tie with 0: even */
	assert_int_equal(float_to_fp8e4m3(0x1.8p-10f, true), 0x01);
	assert_int_equal(float_to_fp8e5m2(1.0f, true), 0x3c);
	assert_int_equal(float_to_fp8e5m2(0x1p-16f, true), 0x01);
	assert_true(fp8e4m3_to_float(0x7e) == 448.0f);
	assert_true(isnan(fp8e4m3_to_float(0xff)));
	assert_true(fp8e5m2_to_float(0x7b) == 57344.0f);
	assert_true(isinf(fp8e5m2_to_float(0xfc)) && fp8e5m2_to_float(0xfc) < 0);
	assert_true(fp8e4m3_to_float(0x01) == 0x1p-9f);
	assert_true(fp8e5m2_to_float(0x01) == 0x1p-16f);
}

static void test_fp8_saturation(void **state)
{
	(void)state;
	/* E4M3FN: no inf; beyond 448 saturates or becomes NaN */
	assert_int_equal(float_to_fp8e4m3(448.0f, false), 0x7e);
	assert_int_equal(float_to_fp8e4m3(464.0f, false), 0x7e); /* tie 448/480: even */
	assert_int_equal(float_to_fp8e4m3(465.0f, true), 0x7e);
	assert_int_equal(float_to_fp8e4m3(465.0f, false), 0x7f);
	assert_int_equal(float_to_fp8e4m3(1e9f, true), 0x7e);
	assert_int_equal(float_to_fp8e4m3(-1e9f, true), 0xfe);
	assert_int_equal(float_to_fp8e4m3(INFINITY, true), 0x7e);
	assert_int_equal(float_to_fp8e4m3(-INFINITY, true), 0xfe);
	assert_int_equal(float_to_fp8e4m3(INFINITY, false), 0x7f);
	assert_int_equal(float_to_fp8e4m3(-INFINITY, false), 0xff);
	assert_true(isnan(fp8e4m3_to_float(float_to_fp8e4m3(NAN, true))));
	/* E5M2: beyond 57344 saturates or becomes inf */
	assert_int_equal(float_to_fp8e5m2(60000.0f, false), 0x7b);
	assert_int_equal(float_to_fp8e5m2(61440.0f, true), 0x7b);  /* tie rounds up: overflow */
	assert_int_equal(float_to_fp8e5m2(61440.0f, false), 0x7c);
	assert_int_equal(float_to_fp8e5m2(1e9f, true), 0x7b);
	assert_int_equal(float_to_fp8e5m2(-1e9f, false), 0xfc);
	assert_int_equal(float_to_fp8e5m2(INFINITY, true), 0x7b);
	assert_int_equal(float_to_fp8e5m2(INFINITY, false), 0x7c);
	assert_int_equal(float_to_fp8e5m2(-INFINITY, false), 0xfc);
	assert_true(isinf(fp8e5m2_to_float(float_to_fp8e5m2(INFINITY, false))));
	assert_true(isnan(fp8e5m2_to_float(float_to_fp8e5m2(NAN, false))));
	/* fake-quant saturates */
	assert_true(fq1(QF_FP8E4M3, 1000.0f) == 448.0f);
	assert_true(fq1(QF_FP8E4M3, -INFINITY) == -448.0f);
	assert_true(fq1(QF_FP8E5M2, INFINITY) == 57344.0f);
	assert_true(isnan(fq1(QF_FP8E5M2, NAN)));
	assert_true(isnan(fq1(QF_FP8E4M3, NAN)));
}

static void check_fp8_random(const struct fp8fmt *t)
{
	enum { N = 4096 };
	float x[N], y[N];
	for (int trial = 0; trial < 40; trial++) {
		float s = trial == 0 ? 1.0f : (float)pow(10, rng_uniform() * 6 - 3);
		struct qparams p = { s, 0 };
		for (int i = 0; i < N; i++) {
			x[i] = rng_float_mixed();
			if (i % 3 == 0) /* near the format's own range */
				x[i] = (float)((rng_uniform() * 2 - 1) * t->max * 1.2 * s *
					       pow(2, -(double)(rng_u64() % 24)));
		}
		qfmt_fake_quant(t->f, x, y, N, p);
		for (int i = 0; i < N; i++) {
			float v = x[i] / s;
			uint8_t want = ref_fp8(t, v, true);
			if (t->enc(v, true) != want || t->enc(v, false) != ref_fp8(t, v, false))
				fail_msg("%s of %a: %02x/%02x, want %02x/%02x", qfmt_info(t->f)->name,
					 v, t->enc(v, true), t->enc(v, false), want,
					 ref_fp8(t, v, false));
			float ref = t->dec(want) * s;
			if (!same_float(y[i], ref))
				fail_msg("%s x=%a s=%a: got %a want %a", qfmt_info(t->f)->name, x[i],
					 s, y[i], ref);
			assert_int_equal(qfmt_quantize_one(t->f, x[i], p), want);
		}
	}
}

static void test_fp8_random_vs_bruteforce(void **state)
{
	(void)state;
	check_fp8_random(&e4m3);
	check_fp8_random(&e5m2);
}

/* ---- per-axis, per-block ------------------------------------------------------ */

static double sq_err(const float *a, const float *b, int64_t n)
{
	double e = 0;
	for (int64_t i = 0; i < n; i++)
		e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return e;
}

/*
 * One channel spans [-100, 100], fifteen span [-1, 1]: a per-tensor scale rounds
 * the small channels to {0, +-0.79}, per-channel gives each its own step.
 */
static void test_per_channel_beats_per_tensor(void **state)
{
	(void)state;
	enum { C = 16, K = 512 };
	static float w[C * K], yt[C * K], yc[C * K];
	struct qparams pc[C];
	float amax = 0;
	for (int c = 0; c < C; c++) {
		float scale = c == 3 ? 100.0f : 1.0f;
		float cmax = 0;
		for (int k = 0; k < K; k++) {
			w[c * K + k] = (float)((rng_uniform() * 2 - 1) * scale);
			cmax = fmaxf(cmax, fabsf(w[c * K + k]));
		}
		pc[c] = qfmt_params_from_range(QF_INT8, -cmax, cmax, true);
		amax = fmaxf(amax, cmax);
	}
	struct shape s = shape_make(2, (int64_t[]){ C, K });
	qfmt_fake_quant(QF_INT8, w, yt, C * K, qfmt_params_from_range(QF_INT8, -amax, amax, true));
	qfmt_fake_quant_axis(QF_INT8, w, yc, &s, 0, pc);
	double et = sq_err(w, yt, C * K), ec = sq_err(w, yc, C * K);
	assert_true(ec > 0);
	assert_true(et / ec > 10);
	/* relative to each channel's power the gap is far larger still */
	double nt = 0, nc = 0;
	for (int c = 0; c < C; c++) {
		double pw = sq_err(w + c * K, (float[K]){ 0 }, K);
		nt += sq_err(w + c * K, yt + c * K, K) / pw;
		nc += sq_err(w + c * K, yc + c * K, K) / pw;
	}
	assert_true(nt / nc > 1000);
	/* per channel = each row alone */
	for (int c = 0; c < C; c++) {
		float row[K];
		qfmt_fake_quant(QF_INT8, w + c * K, row, K, pc[c]);
		assert_memory_equal(row, yc + c * K, sizeof row);
	}
}

/* Per-axis against a plain loop, on shapes taking the bulk and the element path. */
static void test_axis_matches_loop(void **state)
{
	(void)state;
	static const int64_t shapes[][3] = { { 4, 3, 5 }, { 2, 3, 40 }, { 6, 7, 1 } };
	static const enum qfmt fmts[] = { QF_UINT8, QF_FP8E4M3, QF_INT4 };
	for (int si = 0; si < 3; si++) {
		struct shape s = shape_make(3, shapes[si]);
		int64_t n = shape_numel(&s);
		for (int axis = 0; axis < 3; axis++) {
			for (size_t fi = 0; fi < 3; fi++) {
				float x[280], y[280];
				struct qparams p[40];
				for (int64_t i = 0; i < n; i++)
					x[i] = (float)(rng_uniform() * 8 - 4);
				for (int64_t c = 0; c < s.dim[axis]; c++) {
					float lo = (float)(-rng_uniform() * 4);
					float hi = (float)(rng_uniform() * 4);
					p[c] = qfmt_params_from_range(fmts[fi], lo, hi, false);
				}
				qfmt_fake_quant_axis(fmts[fi], x, y, &s, axis, p);
				int64_t inner = 1;
				for (int d = axis + 1; d < 3; d++)
					inner *= s.dim[d];
				for (int64_t i = 0; i < n; i++) {
					int64_t c = (i / inner) % s.dim[axis];
					float r;
					qfmt_fake_quant(fmts[fi], &x[i], &r, 1, p[c]);
					assert_true(same_float(r, y[i]));
				}
			}
		}
	}
}

static void test_per_block_int4(void **state)
{
	(void)state;
	/* [N, K] weight, blocks of 32 along K (last block partial) */
	enum { N = 6, K = 100, B = 32, NB = (K + B - 1) / B };
	static float w[N * K], y[N * K];
	struct qparams p[N * NB];
	for (int i = 0; i < N * K; i++)
		w[i] = (float)((rng_uniform() * 2 - 1) * (1 + i % 13));
	for (int n = 0; n < N; n++) {
		for (int b = 0; b < NB; b++) {
			float m = 0;
			for (int k = b * B; k < K && k < (b + 1) * B; k++)
				m = fmaxf(m, fabsf(w[n * K + k]));
			p[n * NB + b] = qfmt_params_from_range(QF_INT4, -m, m, true);
		}
	}
	struct shape s = shape_make(2, (int64_t[]){ N, K });
	qfmt_fake_quant_block(QF_INT4, w, y, &s, 1, B, p);
	for (int n = 0; n < N; n++) {
		for (int k = 0; k < K; k++) {
			struct qparams q = p[n * NB + k / B];
			int32_t code = ref_quantize_int(QF_INT4, w[n * K + k], q);
			assert_true(code >= -8 && code <= 7);
			float ref = (float)code * q.scale;
			assert_true(same_float(ref, y[n * K + k]));
		}
	}
	/* blocks along axis 0 of a [K, N] tensor: the scale tensor is [ceil(K/B), N] */
	enum { K2 = 70, N2 = 5, NB2 = (K2 + B - 1) / B };
	static float w2[K2 * N2], y2[K2 * N2];
	struct qparams p2[NB2 * N2];
	for (int i = 0; i < K2 * N2; i++)
		w2[i] = (float)(rng_uniform() * 6 - 2);
	for (int i = 0; i < NB2 * N2; i++)
		p2[i] = qfmt_params_from_range(QF_UINT4, (float)(-rng_uniform() * 2),
					       (float)(rng_uniform() * 4), false);
	struct shape s2 = shape_make(2, (int64_t[]){ K2, N2 });
	qfmt_fake_quant_block(QF_UINT4, w2, y2, &s2, 0, B, p2);
	for (int k = 0; k < K2; k++) {
		for (int n = 0; n < N2; n++) {
			struct qparams q = p2[(k / B) * N2 + n];
			int32_t code = ref_quantize_int(QF_UINT4, w2[k * N2 + n], q);
			float ref = (float)(code - q.zero_point) * q.scale;
			assert_true(same_float(ref, y2[k * N2 + n]));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_rows),
		cmocka_unit_test(test_params_known),
		cmocka_unit_test(test_params_random_vs_ort),
		cmocka_unit_test(test_int8_symmetric_half_step),
		cmocka_unit_test(test_int_matches_reference),
		cmocka_unit_test(test_int_near_ties),
		cmocka_unit_test(test_onnx_examples),
		cmocka_unit_test(test_asymmetric_zero_exact),
		cmocka_unit_test(test_fp16_bf16_known),
		cmocka_unit_test(test_fp16_bf16_sweep),
		cmocka_unit_test(test_fp8_codes_and_ties),
		cmocka_unit_test(test_fp8_saturation),
		cmocka_unit_test(test_fp8_random_vs_bruteforce),
		cmocka_unit_test(test_per_channel_beats_per_tensor),
		cmocka_unit_test(test_axis_matches_loop),
		cmocka_unit_test(test_per_block_int4),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
