/*
 * metrics.h - comparing quantized outputs with FP32 outputs on the same samples.
 *
 * Classification metrics over logits [N, C]: task top-1 against labels, top-1
 * agreement with FP32, logit SQNR in dB (10 log10 sum x^2 / sum (x - x')^2 over
 * all logits), and the mean KL(softmax(FP32) || softmax(quantized)).
 *
 * The accuracy delta (quantized minus FP32) is paired: both models saw the same
 * samples, so only discordant samples carry information.  With b = samples FP32
 * got right and the quantized model wrong, c = the reverse, m = b + c:
 *   delta = (c - b) / n,
 *   95% CI = (m / n) * (2 [pi_lo, pi_hi] - 1) where [pi_lo, pi_hi] is the exact
 *   Clopper-Pearson interval of c ~ Binomial(m, pi) (exact McNemar-based),
 *   p = the exact two-sided McNemar test (binomial with pi = 1/2).
 * A delta whose interval contains 0 is "within noise".
 */
#ifndef QLENS_METRICS_H
#define QLENS_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct metrics {
	int64_t n;
	int64_t fp32_correct, q_correct;
	int64_t b, c; /* discordant pairs: fp32-only correct, quantized-only correct */
	int64_t agree;
	double sig_pow, err_pow;
	double kl_sum;
};

struct metrics_summary {
	int64_t n;
	double fp32_top1, top1, delta, ci_lo, ci_hi, p_value;
	double agreement;
	double sqnr_db; /* INFINITY when outputs are identical */
	double kl;
	bool within_noise;
};

void metrics_init(struct metrics *m);
/* Add n samples: ref and q are [n, classes] logits, labels may be NULL. */
void metrics_add(struct metrics *m, const float *ref, const float *q, const int64_t *labels,
		 int64_t n, int64_t classes);
void metrics_summarize(const struct metrics *m, struct metrics_summary *s);

/* Exact two-sided Clopper-Pearson 95% interval for k successes in n trials. */
void clopper_pearson(int64_t k, int64_t n, double *lo, double *hi);

#endif
