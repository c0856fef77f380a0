/*
 * test_calib.c - streaming statistics and calibrators against known numbers.
 *
 * Histogram: batches with growing ranges bin exactly like one batch, merges
 * are exact, counts always add up.  Calibrators: percentile against analytic
 * quantiles (uniform, |N(0,1)|), entropy ignores rare huge outliers, mse finds
 * the known optimal clip for Laplace data (Banner et al., ACIQ: 2.83b, 3.89b,
 * 5.03b at 2, 3, 4 bits).  Data come from a fixed-seed generator, so every run
 * sees the same numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"

static uint64_t rng_state;

static uint64_t rng_u64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* (0, 1) */
static double rng_open(void) { return ((double)(rng_u64() >> 11) + 0.5) * 0x1p-53; }

static double rng_gauss(void)
{
	return sqrt(-2 * log(rng_open())) * cos(2 * M_PI * rng_open());
}

static double rng_laplace(double b)
{
	double u = rng_open() - 0.5;
	return -b * (u < 0 ? -1 : 1) * log(1 - 2 * fabs(u));
}

static struct calib_stats *stats_new(void)
{
	struct calib_stats *s = malloc(sizeof *s);
	assert_non_null(s);
	calib_stats_init(s);
	return s;
}

static uint64_t bin_sum(const struct calib_stats *s)
{
	uint64_t t = 0;
	for (int j = 0; j < CALIB_BINS; j++)
		t += s->bins[j];
	return t;
}

static struct calib_spec spec(const char *text)
{
	struct calib_spec c;
	assert_int_equal(calib_spec_parse(text, &c, NULL), OK);
	return c;
}

/* ---- spec --------------------------------------------------------------------- */

static void test_spec_parse(void **state)
{
	(void)state;
	struct calib_spec c;
	char buf[64];
	struct err e;
	static const char *ok[] = { "minmax", "percentile", "percentile:99.9", "percentile:100",
				    "entropy", "mse", "percentile:99.999" };
	static const char *canon[] = { "minmax", "percentile:99.99", "percentile:99.9",
				       "percentile:100", "entropy", "mse", "percentile:99.999" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(calib_spec_parse(ok[i], &c, &e), OK);
		assert_string_equal(calib_spec_str(&c, buf, sizeof buf), canon[i]);
		struct calib_spec again;
		assert_int_equal(calib_spec_parse(buf, &again, NULL), OK);
		assert_int_equal(again.method, c.method);
		assert_true(again.percentile == c.percentile);
	}
	assert_true(spec("percentile").percentile == 99.99);
	static const char *bad[] = { "", "max", "minmax:3", "percentile:", "percentile:0",
				     "percentile:101", "percentile:abc", "percentile:99x",
				     "Entropy", "mse:1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(calib_spec_parse(bad[i], &c, &e), ERR_INVALID);
		assert_true(strlen(e.msg) > 0);
	}
	assert_int_equal(calib_spec_parse(NULL, &c, NULL), ERR_INVALID);
	for (int m = 0; m < CALIB_COUNT; m++)
		assert_int_equal(spec(calib_method_name((enum calib_method)m)).method, m);
}

/* ---- histogram ---------------------------------------------------------------- */

static void fill_uniform(float *x, int n, double r)
{
	for (int i = 0; i < n; i++)
		x[i] = (float)((rng_open() * 2 - 1) * r);
}

static void test_histogram_widening(void **state)
{
	(void)state;
	enum { N = 30000 };
	static float all[4 * N];
	rng_state = 7;
	fill_uniform(all, N, 0.9);		/* R = 1 */
	fill_uniform(all + N, N, 3.0);		/* R = 4 */
	fill_uniform(all + 2 * N, N, 100.0);	/* R = 128 */
	fill_uniform(all + 3 * N, N, 5e4);	/* R = 65536: k = 9 at once */
	all[5] = NAN;
	all[N + 5] = 0.0f;

	/* one batch */
	struct calib_stats *one = stats_new();
	calib_stats_add(one, all, 4 * N);
	assert_true(one->range == 65536.0);

	/* growing batches, checking the invariants after each */
	struct calib_stats *grow = stats_new(), *first = stats_new();
	for (int b = 0; b < 4; b++) {
		calib_stats_add(grow, all + b * N, N);
		assert_int_equal(bin_sum(grow), grow->count);
		if (b == 0) {
			/* within the first range: the same bins as 100 small batches */
			for (int i = 0; i < N; i += N / 100)
				calib_stats_add(first, all + i, N / 100);
			assert_memory_equal(first->bins, grow->bins, sizeof first->bins);
			assert_true(grow->range == 1.0);
		}
	}
	assert_int_equal(grow->count, one->count);
	assert_int_equal(grow->count, 4 * N - 1);
	assert_int_equal(grow->nan_count, 1);
	assert_true(grow->min == one->min && grow->max == one->max);
	assert_true(grow->range == one->range);
	assert_memory_equal(grow->bins, one->bins, sizeof one->bins);
	assert_true(fabs(grow->sum - one->sum) < 1e-6 * fabs(one->sum) + 1e-3);

	/* merge: two "threads" with different ranges give the same statistics */
	struct calib_stats *t1 = stats_new(), *t2 = stats_new();
	calib_stats_add(t1, all + 2 * N, N);
	calib_stats_add(t1, all, N);
	calib_stats_add(t2, all + N, N);
	calib_stats_add(t2, all + 3 * N, N);
	struct calib_stats *m = stats_new();
	calib_stats_merge(m, t2); /* into an empty one */
	calib_stats_merge(m, t1); /* smaller range into a larger one */
	assert_int_equal(m->count, one->count);
	assert_int_equal(m->nan_count, 1);
	assert_true(m->min == one->min && m->max == one->max && m->range == one->range);
	assert_memory_equal(m->bins, one->bins, sizeof one->bins);
	calib_stats_merge(t1, t2); /* larger range into a smaller one */
	assert_memory_equal(t1->bins, one->bins, sizeof one->bins);

	/* zeros before the first nonzero value, and infinities */
	struct calib_stats *z = stats_new();
	float zeros[10] = { 0 }, mixed[4] = { 0.25f, -INFINITY, INFINITY, -0.5f };
	calib_stats_add(z, zeros, 10);
	assert_true(z->range == 0 && z->count == 10 && z->bins[CALIB_BINS / 2] == 10);
	calib_stats_add(z, mixed, 4);
	assert_true(z->range == 0.5);
	assert_int_equal(bin_sum(z), 14);
	assert_int_equal(z->bins[CALIB_BINS / 2], 10);
	assert_int_equal(z->bins[0], 2);	/* -inf and -0.5 (the lower edge) */
	assert_int_equal(z->bins[CALIB_BINS - 1], 1);
	assert_int_equal(z->bins[CALIB_BINS / 2 + 512], 1); /* 0.25 */
	assert_true(isinf(z->min) && isinf(z->max));
	assert_true(z->sum == -0.25);

	free(one), free(grow), free(first), free(t1), free(t2), free(m), free(z);
}

/* ---- percentile --------------------------------------------------------------- */

static void test_percentile_uniform(void **state)
{
	(void)state;
	enum { N = 200000 };
	static float x[N];
	for (int i = 0; i < N; i++)
		x[i] = (float)(-1 + (i + 0.5) * 2.0 / N); /* |x| uniform on [0, 1] */
	struct calib_stats *s = stats_new();
	calib_stats_add(s, x, N);
	double w = s->range / (CALIB_BINS / 2);
	float lo, hi;
	struct calib_spec c = spec("percentile:99");
	calib_range(s, &c, QF_INT8, true, &lo, &hi);
	assert_true(fabs(hi - 0.99) <= w && lo == -hi);
	c = spec("percentile:90");
	calib_range(s, &c, QF_INT8, true, &lo, &hi);
	assert_true(fabs(hi - 0.90) <= w);
	/* asymmetric: 0.5 % off each tail of x uniform on [-1, 1] */
	c = spec("percentile:99");
	calib_range(s, &c, QF_UINT8, false, &lo, &hi);
	assert_true(fabs(lo + 0.99) <= w && fabs(hi - 0.99) <= w);
	/* 100 is minmax */
	c = spec("percentile:100");
	calib_range(s, &c, QF_INT8, true, &lo, &hi);
	assert_true(hi == x[N - 1]);
	calib_range(s, &c, QF_UINT8, false, &lo, &hi);
	assert_true(lo == x[0] && hi == x[N - 1]);
	free(s);
}

static void test_percentile_gaussian(void **state)
{
	(void)state;
	enum { N = 1000000 };
	float *x = malloc(N * sizeof *x);
	assert_non_null(x);
	rng_state = 11;
	for (int i = 0; i < N; i++)
		x[i] = (float)rng_gauss();
	struct calib_stats *s = stats_new();
	calib_stats_add(s, x, N);
	double w = s->range / (CALIB_BINS / 2);
	/* the quantile's sampling error: sqrt(p (1-p) / N) / (2 phi(q)) ~ 0.0034 */
	double tol = w + 4 * 0.0035;
	float lo, hi;
	struct calib_spec c = spec("percentile:99");
	calib_range(s, &c, QF_INT8, true, &lo, &hi);
	assert_true(fabs(hi - 2.5758) <= tol);
	c = spec("percentile:95");
	calib_range(s, &c, QF_INT8, true, &lo, &hi);
	assert_true(fabs(hi - 1.9600) <= w + 4 * 0.0015);
	/* ReLU'd: asymmetric lower bound stays at 0 */
	for (int i = 0; i < N; i++)
		x[i] = x[i] > 0 ? x[i] : 0;
	calib_stats_init(s);
	calib_stats_add(s, x, N);
	c = spec("percentile:99.99");
	calib_range(s, &c, QF_UINT8, false, &lo, &hi);
	/* (interpolating inside the bin of exact zeros may lift it by under a bin) */
	assert_true(lo >= 0.0f && lo < s->range / (CALIB_BINS / 2) && hi > 3.0f && hi <= s->max);
	free(s);
	free(x);
}

/* ---- entropy ------------------------------------------------------------------ */

static void test_entropy_outliers(void **state)
{
	(void)state;
	enum { N = 1000000 };
	float *x = malloc((N + 10) * sizeof *x);
	assert_non_null(x);
	rng_state = 13;
	for (int i = 0; i < N; i++)
		x[i] = (float)rng_gauss();
	struct calib_stats *s = stats_new();
	calib_stats_add(s, x, N);
	struct calib_spec c = spec("entropy");
	float lo, hi;
	calib_range(s, &c, QF_INT8, true, &lo, &hi);
	/* plain Gaussian: a clip inside the data, well above the bulk */
	assert_true(hi > 2.0f && hi < s->max && lo == -hi);
	print_message("entropy, N(0,1) int8: %.3f (max %.3f)\n", (double)hi, s->max);

	for (int i = 0; i < 10; i++)
		x[N + i] = 1000.0f;
	calib_stats_init(s);
	calib_stats_add(s, x, N + 10);
	calib_range(s, &c, QF_INT8, true, &lo, &hi);
	print_message("entropy, N(0,1) + 10 x 1000, int8: %.3f\n", (double)hi);
	assert_true(hi < 20.0f && hi > 2.0f);
	/* asymmetric: clamped to the data's range */
	calib_range(s, &c, QF_UINT8, false, &lo, &hi);
	assert_true(hi < 20.0f && lo >= s->min && lo < 0);
	/* int16 has more levels than the histogram has bins: no clipping */
	calib_range(s, &c, QF_INT16, true, &lo, &hi);
	assert_true(hi == 1000.0f);
	free(s);
	free(x);
}

/* ---- mse ---------------------------------------------------------------------- */

static void test_mse_laplace(void **state)
{
	(void)state;
	enum { N = 1000000 };
	float *x = malloc(N * sizeof *x);
	assert_non_null(x);
	static const struct {
		int bits;
		double alpha;
	} known[] = { { 2, 2.83 }, { 3, 3.89 }, { 4, 5.03 } };
	static const double bs[] = { 1.0, 0.37 };
	for (int bi = 0; bi < 2; bi++) {
		rng_state = 17 + (uint64_t)bi;
		for (int i = 0; i < N; i++)
			x[i] = (float)rng_laplace(bs[bi]);
		struct calib_stats *s = stats_new();
		calib_stats_add(s, x, N);
		for (int k = 0; k < 3; k++) {
			double a = calib_mse_clip_levels(s, 1 << known[k].bits) / bs[bi];
			print_message("laplace b=%.2f, %d bits: alpha = %.3f b (ACIQ %.2f b)\n",
				      bs[bi], known[k].bits, a, known[k].alpha);
			assert_true(fabs(a - known[k].alpha) <= 0.03 * known[k].alpha);
		}
		/* the public path: int4 symmetric has 15 steps over [-a, a] */
		struct calib_spec c = spec("mse");
		float lo, hi;
		calib_range(s, &c, QF_INT4, true, &lo, &hi);
		double a15 = calib_mse_clip_levels(s, 15);
		assert_true(fabs(hi - a15) < 1e-6 * a15 && lo == -hi);
		/* asymmetric int4 on the same data: a range inside the data, near symmetric */
		calib_range(s, &c, QF_UINT4, false, &lo, &hi);
		assert_true(lo < 0 && hi > 0 && lo >= s->min && hi <= s->max);
		assert_true(fabs(fabs(lo) - hi) < 0.2 * hi);
		/* 8 bits clip far less than 4 */
		calib_range(s, &c, QF_INT8, true, &lo, &hi);
		assert_true(hi > 1.5 * a15);
		/* fp8: a positive clip no larger than max |x| */
		double amax = fmax(-s->min, s->max);
		calib_range(s, &c, QF_FP8E4M3, true, &lo, &hi);
		print_message("laplace b=%.2f, fp8e4m3: alpha = %.3f b (max |x| %.3f b)\n", bs[bi],
			      hi / bs[bi], amax / bs[bi]);
		assert_true(hi > 0.25 * amax && hi <= (float)amax && lo == -hi);
		/* no scale to calibrate: minmax */
		calib_range(s, &c, QF_FP16, true, &lo, &hi);
		assert_true(lo == s->min && hi == s->max);
		free(s);
	}
	free(x);
}

static void test_range_edge_cases(void **state)
{
	(void)state;
	struct calib_stats *s = stats_new();
	float lo = 1, hi = 1;
	for (int m = 0; m < CALIB_COUNT; m++) {
		struct calib_spec c = { .method = (enum calib_method)m, .percentile = 99.99 };
		calib_range(s, &c, QF_INT8, true, &lo, &hi);
		assert_true(lo == 0 && hi == 0); /* nothing seen */
	}
	float zeros[100] = { 0 };
	calib_stats_add(s, zeros, 100);
	for (int m = 0; m < CALIB_COUNT; m++) {
		struct calib_spec c = { .method = (enum calib_method)m, .percentile = 99.99 };
		calib_range(s, &c, QF_UINT8, false, &lo, &hi);
		assert_true(lo == 0 && hi == 0);
		struct qparams p = qfmt_params_from_range(QF_UINT8, lo, hi, false);
		assert_true(p.scale == 1.0f && p.zero_point == 0);
	}
	/* a constant: every method gives a range containing it */
	float sevens[100];
	for (int i = 0; i < 100; i++)
		sevens[i] = 7.0f;
	calib_stats_init(s);
	calib_stats_add(s, sevens, 100);
	for (int m = 0; m < CALIB_COUNT; m++) {
		struct calib_spec c = { .method = (enum calib_method)m, .percentile = 99.99 };
		calib_range(s, &c, QF_INT8, true, &lo, &hi);
		assert_true(hi >= 7.0f && hi <= 8.0f);
	}
	free(s);
}

/* ---- weights ------------------------------------------------------------------ */

static void test_weight_range(void **state)
{
	(void)state;
	enum { N = 4096 };
	static float w[2 * N];
	rng_state = 23;
	for (int i = 0; i < 2 * N; i++)
		w[i] = (float)rng_gauss();
	w[2 * 100] = 9.0f; /* an outlier in the even elements */
	float lo, hi;
	calib_weight_range(w, N, 2, CALIB_MINMAX, QF_INT4, true, &lo, &hi);
	float emin = w[0], emax = w[0];
	for (int i = 0; i < N; i++) {
		emin = fminf(emin, w[2 * i]);
		emax = fmaxf(emax, w[2 * i]);
	}
	assert_true(lo == emin && hi == emax && hi == 9.0f);

	/* mse at 4 bits clips the outlier and lowers the error */
	float mlo, mhi;
	calib_weight_range(w, N, 2, CALIB_MSE, QF_INT4, true, &mlo, &mhi);
	assert_true(mhi < 9.0f && mhi > 1.0f && mlo == -mhi);
	double e_mm = 0, e_mse = 0;
	struct qparams pmm = qfmt_params_from_range(QF_INT4, lo, hi, true);
	struct qparams pmse = qfmt_params_from_range(QF_INT4, mlo, mhi, true);
	for (int i = 0; i < N; i++) {
		float a, b;
		qfmt_fake_quant(QF_INT4, &w[2 * i], &a, 1, pmm);
		qfmt_fake_quant(QF_INT4, &w[2 * i], &b, 1, pmse);
		e_mm += (a - w[2 * i]) * (a - w[2 * i]);
		e_mse += (b - w[2 * i]) * (b - w[2 * i]);
	}
	assert_true(e_mse < 0.5 * e_mm);

	/* uniform weights at 8 bits: nothing to clip */
	for (int i = 0; i < N; i++)
		w[i] = (float)(rng_open() * 2 - 1);
	calib_weight_range(w, N, 1, CALIB_MSE, QF_INT8, true, &mlo, &mhi);
	calib_weight_range(w, N, 1, CALIB_MINMAX, QF_INT8, true, &lo, &hi);
	assert_true(mhi >= 0.97f * fmaxf(-lo, hi));
	/* asymmetric: stays inside [min, max] */
	calib_weight_range(w, N, 1, CALIB_MSE, QF_UINT8, false, &mlo, &mhi);
	assert_true(mlo >= lo && mhi <= hi && mlo < 0 && mhi > 0);
	/* percentile/entropy on weights are minmax; fp16 is minmax */
	calib_weight_range(w, N, 1, CALIB_ENTROPY, QF_INT8, true, &mlo, &mhi);
	assert_true(mlo == lo && mhi == hi);
	calib_weight_range(w, N, 1, CALIB_MSE, QF_FP16, true, &mlo, &mhi);
	assert_true(mlo == lo && mhi == hi);
	/* NaNs are skipped */
	float nanw[3] = { NAN, 2.0f, -1.0f };
	calib_weight_range(nanw, 3, 1, CALIB_MSE, QF_INT8, true, &mlo, &mhi);
	assert_true(mlo == -1.0f && mhi == 2.0f);
}

/* Softmax outputs: ONNX Runtime's fixed parameters for uint8 and int8 only;
 * every other format is left to calibration (and *p untouched). */
static void test_softmax_params(void **state)
{
	(void)state;
	for (int f = 0; f < QF_COUNT; f++)
		for (int sym = 0; sym < 2; sym++) {
			struct qparams p = { -1.0f, 99 };
			bool fixed = calib_softmax_params((enum qfmt)f, sym, &p);
			assert_int_equal(fixed, f == QF_UINT8 || f == QF_INT8);
			if (!fixed) {
				assert_true(p.scale == -1.0f);
				assert_int_equal(p.zero_point, 99);
				continue;
			}
			float want_s = f == QF_INT8 && sym ? 1.0f / 127 : 1.0f / 256;
			int want_z = f == QF_INT8 && !sym ? -128 : 0;
			assert_true(p.scale == want_s);
			assert_int_equal(p.zero_point, want_z);
			/* [0, 1] is covered: 0 exact, 1 within one step (clipped to 255/256 at 1/256) */
			const struct qfmt_info *fi = qfmt_info((enum qfmt)f);
			assert_int_equal(qfmt_quantize_one((enum qfmt)f, 0.0f, p), want_z);
			assert_true(qfmt_dequantize_one((enum qfmt)f, want_z, p) == 0.0f);
			float one = qfmt_dequantize_one((enum qfmt)f, qfmt_quantize_one((enum qfmt)f, 1.0f, p), p);
			assert_true(fabsf(one - 1.0f) <= p.scale);
			assert_int_equal(qfmt_quantize_one((enum qfmt)f, 1.0f, p),
					 want_s == 1.0f / 127 ? 127 : fi->qmax);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_histogram_widening),
		cmocka_unit_test(test_percentile_uniform),
		cmocka_unit_test(test_percentile_gaussian),
		cmocka_unit_test(test_entropy_outliers),
		cmocka_unit_test(test_mse_laplace),
		cmocka_unit_test(test_range_edge_cases),
		cmocka_unit_test(test_weight_range),
		cmocka_unit_test(test_softmax_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
