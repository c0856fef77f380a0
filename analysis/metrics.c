/*
 * metrics.c - output metrics and the exact paired interval (see metrics.h).
 *
 * Clopper-Pearson bounds are found by bisection on the exact binomial tail,
 * summed in log space so that n in the tens of thousands stays accurate.
 */
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void metrics_init(struct metrics *m) { memset(m, 0, sizeof *m); }

static int64_t argmax(const float *x, int64_t n)
{
	int64_t best = 0;
	for (int64_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* log of sum exp(x): log_softmax(x)[i] = x[i] - log_sum_exp(x) */
static double log_sum_exp(const float *x, int64_t n)
{
	double mx = x[0];
	for (int64_t i = 1; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += exp((double)x[i] - mx);
	return log(s) + mx;
}

void metrics_add(struct metrics *m, const float *ref, const float *q, const int64_t *labels,
		 int64_t n, int64_t classes)
{
	for (int64_t i = 0; i < n; i++) {
		const float *r = ref + i * classes, *x = q + i * classes;
		int64_t ar = argmax(r, classes), aq = argmax(x, classes);
		m->agree += ar == aq;
		if (labels) {
			bool cr = ar == labels[i], cq = aq == labels[i];
			m->fp32_correct += cr;
			m->q_correct += cq;
			m->b += cr && !cq;
			m->c += !cr && cq;
		}
		for (int64_t k = 0; k < classes; k++) {
			double d = (double)r[k] - x[k];
			m->sig_pow += (double)r[k] * r[k];
			m->err_pow += d * d;
		}
		/* no buffers, so any class count works */
		double lsr = log_sum_exp(r, classes), lsx = log_sum_exp(x, classes);
		double kl = 0;
		for (int64_t k = 0; k < classes; k++) {
			double lp = (double)r[k] - lsr, lq = (double)x[k] - lsx;
			kl += exp(lp) * (lp - lq);
		}
		m->kl_sum += kl > 0 ? kl : 0;
	}
	m->n += n;
}

/* log(x!) for x >= 0.  lgamma_r, not lgamma: lgamma stores the sign in the
 * global signgam, a data race when the worker and the UI both compute
 * intervals (ThreadSanitizer reports it). */
static double log_factorial(double x)
{
	int sign;
	return lgamma_r(x + 1, &sign);
}

/* log(i!) for i = 0..n, for the tails below; NULL when out of memory (then each term
 * computes its own) */
static double *log_factorials(int64_t n)
{
	double *t = n >= 0 && n < INT32_MAX ? malloc(((size_t)n + 1) * sizeof *t) : NULL;
	if (t)
		for (int64_t i = 0; i <= n; i++)
			t[i] = log_factorial((double)i);
	return t;
}

/* The binomial's p-dependent logs, computed once per tail. */
struct binom {
	int64_t n;
	double p, lp, lq; /* log p, log(1 - p) */
	const double *lf; /* log_factorials(n), or NULL */
};

static struct binom binom_at(int64_t n, double p, const double *lf)
{
	struct binom b = { n, p, 0, 0, lf };
	if (p > 0 && p < 1) {
		b.lp = log(p);
		b.lq = log1p(-p);
	}
	return b;
}

static double lf_at(const struct binom *b, int64_t i)
{
	return b->lf ? b->lf[i] : log_factorial((double)i);
}

/* log of the binomial pmf: the same operations, in the same order, as
 * lf(n) - lf(k) - lf(n - k) + k log p + (n - k) log1p(-p) term by term */
static double log_pmf(const struct binom *b, int64_t k)
{
	if (b->p <= 0)
		return k == 0 ? 0 : -INFINITY;
	if (b->p >= 1)
		return k == b->n ? 0 : -INFINITY;
	return lf_at(b, b->n) - lf_at(b, k) - lf_at(b, b->n - k) + (double)k * b->lp +
	       (double)(b->n - k) * b->lq;
}

/* P(X >= k) for X ~ Bin(n, p) */
static double upper_tail(int64_t k, int64_t n, double p, const double *lf)
{
	struct binom b = binom_at(n, p, lf);
	double s = 0;
	for (int64_t i = k; i <= n; i++)
		s += exp(log_pmf(&b, i));
	return s > 1 ? 1 : s;
}

/* P(X <= k) */
static double lower_tail(int64_t k, int64_t n, double p, const double *lf)
{
	struct binom b = binom_at(n, p, lf);
	double s = 0;
	for (int64_t i = 0; i <= k; i++)
		s += exp(log_pmf(&b, i));
	return s > 1 ? 1 : s;
}

void clopper_pearson(int64_t k, int64_t n, double *lo, double *hi)
{
	const double alpha = 0.05;
	if (n <= 0) {
		*lo = 0;
		*hi = 1;
		return;
	}
	/* 120 tails of up to n + 1 terms: each log(i!) once */
	double *lf = log_factorials(n);
	/* lo: P(X >= k | p) = alpha/2, increasing in p */
	if (k == 0) {
		*lo = 0;
	} else {
		double a = 0, b = 1;
		for (int it = 0; it < 60; it++) {
			double mid = (a + b) / 2;
			if (upper_tail(k, n, mid, lf) < alpha / 2)
				a = mid;
			else
				b = mid;
		}
		*lo = (a + b) / 2;
	}
	/* hi: P(X <= k | p) = alpha/2, decreasing in p */
	if (k == n) {
		*hi = 1;
	} else {
		double a = 0, b = 1;
		for (int it = 0; it < 60; it++) {
			double mid = (a + b) / 2;
			if (lower_tail(k, n, mid, lf) > alpha / 2)
				a = mid;
			else
				b = mid;
		}
		*hi = (a + b) / 2;
	}
	free(lf);
}

void metrics_summarize(const struct metrics *m, struct metrics_summary *s)
{
	memset(s, 0, sizeof *s);
	s->n = m->n;
	if (m->n == 0)
		return;
	double n = (double)m->n;
	s->fp32_top1 = m->fp32_correct / n;
	s->top1 = m->q_correct / n;
	s->delta = (double)(m->c - m->b) / n;
	s->agreement = m->agree / n;
	s->sqnr_db = m->err_pow > 0 ? 10 * log10(m->sig_pow / m->err_pow) : INFINITY;
	s->kl = m->kl_sum / n;
	int64_t disc = m->b + m->c;
	if (disc == 0) {
		s->ci_lo = s->ci_hi = 0;
		s->p_value = 1;
	} else {
		double lo, hi;
		clopper_pearson(m->c, disc, &lo, &hi);
		s->ci_lo = disc / n * (2 * lo - 1);
		s->ci_hi = disc / n * (2 * hi - 1);
		int64_t k = m->b < m->c ? m->b : m->c;
		double p = 2 * lower_tail(k, disc, 0.5, NULL);
		s->p_value = p > 1 ? 1 : p;
	}
	s->within_noise = s->ci_lo <= 0 && s->ci_hi >= 0;
}
