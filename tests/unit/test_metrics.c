/*
 * test_metrics.c - output metrics and the exact paired interval, with known numbers.
 *
 * Reference values were computed independently in Python (bisection on the
 * exact binomial tails with math.comb, 200 steps):
 *   Clopper-Pearson 95% of 1/4      = [0.0063094632, 0.8058795503]
 *   Clopper-Pearson 95% of 0/10     = [0, 0.3084971078]  (= 1 - 0.025^(1/10))
 *   Clopper-Pearson 95% of 10/10    = [0.6915028922, 1]
 *   Clopper-Pearson 95% of 5/10     = [0.1870860284, 0.8129139716]
 *   Clopper-Pearson 95% of 30/1000  = [0.0203304857, 0.0425514025]
 *   Clopper-Pearson 95% of 5000/10000 = [0.4901513806, 0.5098486194]  (log space)
 *   Clopper-Pearson 95% of 3/20000  = [3.093467445e-05, 4.383004534e-04]
 *   exact McNemar p for b=3, c=1    = 2 * P(Bin(4, 1/2) <= 1) = 0.625
 *   exact McNemar p for b=40, c=20  = 0.01348929373
 *   KL((1/2, 1/2) || (3/4, 1/4))    = ln(4/3) / 2 = 0.1438410362
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define NEAR(a, b, tol)                                                                       \
	do {                                                                                  \
		double a_ = (a), b_ = (b);                                                    \
		if (!(fabs(a_ - b_) <= (tol)))                                                \
			fail_msg("%s = %.12g, want %.12g (+- %g)", #a, a_, b_, (double)(tol)); \
	} while (0)

static void test_clopper_pearson(void **state)
{
	(void)state;
	static const struct {
		int64_t k, n;
		double lo, hi;
	} cases[] = {
		{ 1, 4, 0.0063094632, 0.8058795503 },
		{ 0, 10, 0.0, 0.3084971078 },
		{ 10, 10, 0.6915028922, 1.0 },
		{ 5, 10, 0.1870860284, 0.8129139716 },
		{ 30, 1000, 0.0203304857, 0.0425514025 },
		{ 5000, 10000, 0.4901513806, 0.5098486194 },
		{ 0, 1, 0.0, 0.975 },
		{ 1, 1, 0.025, 1.0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double lo, hi;
		clopper_pearson(cases[i].k, cases[i].n, &lo, &hi);
		NEAR(lo, cases[i].lo, 1e-9);
		NEAR(hi, cases[i].hi, 1e-9);
	}
	double lo, hi;
	clopper_pearson(3, 20000, &lo, &hi);
	NEAR(lo, 3.093467445e-05, 1e-12);
	NEAR(hi, 4.383004534e-04, 1e-11);
	/* no trials: the whole unit interval */
	clopper_pearson(0, 0, &lo, &hi);
	NEAR(lo, 0, 0);
	NEAR(hi, 1, 0);
}

/* Logits for `n` samples over `classes` classes: sample i votes for class cls[i]. */
static float *votes(const int64_t *cls, int64_t n, int64_t classes)
{
	float *x = calloc((size_t)(n * classes), sizeof *x);
	assert_non_null(x);
	for (int64_t i = 0; i < n; i++)
		x[i * classes + cls[i]] = 1.0f;
	return x;
}

static void test_identical(void **state)
{
	(void)state;
	enum { N = 50, C = 7 };
	float x[N * C];
	int64_t labels[N];
	for (int i = 0; i < N * C; i++)
		x[i] = (float)((i * 37) % 11) - 5.0f;
	for (int i = 0; i < N; i++)
		labels[i] = i % C;
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	metrics_add(&m, x, x, labels, N, C);
	metrics_summarize(&m, &s);
	assert_int_equal(s.n, N);
	NEAR(s.agreement, 1.0, 0);
	NEAR(s.delta, 0.0, 0);
	NEAR(s.top1, s.fp32_top1, 0);
	assert_true(isinf(s.sqnr_db) && s.sqnr_db > 0);
	NEAR(s.kl, 0.0, 0);
	NEAR(s.ci_lo, 0.0, 0);
	NEAR(s.ci_hi, 0.0, 0);
	NEAR(s.p_value, 1.0, 0);
	assert_true(s.within_noise);
}

/* b = 3 samples only FP32 got right, c = 1 only the quantized model got right, 96 agree. */
static void test_paired_delta(void **state)
{
	(void)state;
	enum { N = 100, C = 3 };
	int64_t labels[N], ref_cls[N], q_cls[N];
	for (int i = 0; i < N; i++) {
		labels[i] = i % C;
		/* 60 both right, 36 both wrong (on the same wrong class) */
		ref_cls[i] = q_cls[i] = i < 60 ? labels[i] : (labels[i] + 1) % C;
	}
	for (int i = 60; i < 63; i++) /* b: fp32 right, quantized wrong */
		ref_cls[i] = labels[i];
	ref_cls[63] = (labels[63] + 1) % C; /* c: quantized right, fp32 wrong */
	q_cls[63] = labels[63];
	float *ref = votes(ref_cls, N, C), *q = votes(q_cls, N, C);
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	/* in two pieces: metrics accumulate */
	metrics_add(&m, ref, q, labels, 30, C);
	metrics_add(&m, ref + 30 * C, q + 30 * C, labels + 30, N - 30, C);
	metrics_summarize(&m, &s);
	assert_int_equal(m.b, 3);
	assert_int_equal(m.c, 1);
	assert_int_equal(s.n, N);
	NEAR(s.fp32_top1, 0.63, 1e-15);
	NEAR(s.top1, 0.61, 1e-15);
	NEAR(s.delta, -0.02, 1e-15);
	NEAR(s.agreement, 0.96, 1e-15);
	/* (4/100) * (2 * CP(1 of 4) - 1) */
	NEAR(s.ci_lo, 0.04 * (2 * 0.0063094632 - 1), 1e-10);
	NEAR(s.ci_hi, 0.04 * (2 * 0.8058795503 - 1), 1e-10);
	NEAR(s.ci_lo, -0.03949524294, 1e-10);
	NEAR(s.ci_hi, 0.02447036403, 1e-10);
	NEAR(s.p_value, 0.625, 1e-12);
	assert_true(s.within_noise);
	free(ref);
	free(q);
}

/* A clear loss: b = 40, c = 20 of 1000 -> p = 0.0135, the interval excludes 0. */
static void test_significant_loss(void **state)
{
	(void)state;
	enum { N = 1000, C = 2 };
	int64_t *labels = calloc(N, sizeof *labels), *rc = calloc(N, sizeof *rc),
		*qc = calloc(N, sizeof *qc);
	assert_true(labels && rc && qc);
	for (int i = 0; i < N; i++) {
		labels[i] = 0;
		rc[i] = qc[i] = 0;
	}
	for (int i = 0; i < 40; i++)
		qc[i] = 1;
	for (int i = 40; i < 60; i++)
		rc[i] = 1;
	float *ref = votes(rc, N, C), *q = votes(qc, N, C);
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	metrics_add(&m, ref, q, labels, N, C);
	metrics_summarize(&m, &s);
	NEAR(s.delta, -0.02, 1e-15);
	NEAR(s.p_value, 0.01348929373, 1e-10);
	double lo, hi;
	clopper_pearson(20, 60, &lo, &hi);
	NEAR(s.ci_lo, 0.06 * (2 * lo - 1), 1e-15);
	NEAR(s.ci_hi, 0.06 * (2 * hi - 1), 1e-15);
	assert_true(s.ci_hi < 0);
	assert_false(s.within_noise);
	/* p is symmetric in b and c */
	metrics_init(&m);
	metrics_add(&m, q, ref, labels, N, C);
	metrics_summarize(&m, &s);
	NEAR(s.delta, 0.02, 1e-15);
	NEAR(s.p_value, 0.01348929373, 1e-10);
	assert_true(s.ci_lo > 0);
	free(ref);
	free(q);
	free(labels);
	free(rc);
	free(qc);
}

static void test_sqnr(void **state)
{
	(void)state;
	/* signal power 10^2 + 0 + 0 = 100, error power 1^2 = 1 -> 20 dB */
	const float ref[3] = { 10, 0, 0 }, q[3] = { 9, 0, 0 };
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	metrics_add(&m, ref, q, NULL, 1, 3);
	metrics_summarize(&m, &s);
	NEAR(s.sqnr_db, 20.0, 1e-12);
	/* powers add over samples: (100 + 300) / (1 + 3) -> still 20 dB */
	const float ref2[3] = { 10, 10, 10 }, q2[3] = { 11, 9, 11 };
	metrics_add(&m, ref2, q2, NULL, 1, 3);
	metrics_summarize(&m, &s);
	NEAR(s.sqnr_db, 20.0, 1e-12);
	/* error power = signal power -> 0 dB; 1000x less error -> 30 dB */
	const float a[2] = { 3, 4 }, b0[2] = { 0, 0 };
	metrics_init(&m);
	metrics_add(&m, a, b0, NULL, 1, 2);
	metrics_summarize(&m, &s);
	NEAR(s.sqnr_db, 0.0, 1e-12);
	/* without labels: no accuracy, no paired statistics */
	NEAR(s.fp32_top1, 0, 0);
	NEAR(s.delta, 0, 0);
	assert_int_equal(m.b + m.c, 0);
}

static void test_kl(void **state)
{
	(void)state;
	/* p = softmax(0, 0) = (1/2, 1/2), q = softmax(ln 3, 0) = (3/4, 1/4) */
	const float ref[4] = { 0, 0, 5, 5 }, q[4] = { logf(3.0f), 0, 5 + logf(3.0f), 5 };
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	metrics_add(&m, ref, q, NULL, 1, 2);
	metrics_summarize(&m, &s);
	NEAR(s.kl, 0.5 * log(4.0 / 3.0), 1e-7);
	/* the second sample is the same distribution shifted by 5: same KL, mean unchanged */
	metrics_add(&m, ref + 2, q + 2, NULL, 1, 2);
	metrics_summarize(&m, &s);
	NEAR(s.kl, 0.5 * log(4.0 / 3.0), 1e-6);
	NEAR(s.agreement, 1.0, 0); /* argmax 0 in both samples of both models */
}

/* softmax over many classes: KL must not silently become 0 for wide outputs. */
static void test_kl_many_classes(void **state)
{
	(void)state;
	enum { C = 5000 };
	float *ref = calloc(C, sizeof *ref), *q = calloc(C, sizeof *q);
	assert_true(ref && q);
	/* p uniform; q puts weight 3 on the first half, 1 on the second: q = 1.5/C, 0.5/C
	 * KL = 1/2 ln(1/1.5) + 1/2 ln(1/0.5) = ln(4/3) / 2 */
	for (int i = 0; i < C; i++)
		q[i] = i < C / 2 ? logf(3.0f) : 0.0f;
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	metrics_add(&m, ref, q, NULL, 1, C);
	metrics_summarize(&m, &s);
	NEAR(s.kl, 0.5 * log(4.0 / 3.0), 1e-6);
	free(ref);
	free(q);
}

static void test_empty(void **state)
{
	(void)state;
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	metrics_summarize(&m, &s);
	assert_int_equal(s.n, 0);
	NEAR(s.delta, 0, 0);
	NEAR(s.kl, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clopper_pearson),
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_paired_delta),
		cmocka_unit_test(test_significant_loss),
		cmocka_unit_test(test_sqnr),
		cmocka_unit_test(test_kl),
		cmocka_unit_test(test_kl_many_classes),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
