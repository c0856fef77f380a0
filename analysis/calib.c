/*
 * calib.c - streaming activation statistics and the four calibrators.
 *
 * Calibration must see every activation of every calibration sample without
 * keeping any of them (ONNX Runtime keeps them all and runs out of memory on
 * BERT), so each tensor gets a fixed-size struct calib_stats: min, max, sums
 * and a 2048-bin histogram over [-R, R].
 *
 * The histogram range R is always a power of two.  The first nonzero finite
 * value sets R to the smallest power of two >= its batch's max |x|; a later
 * batch with a larger |x| multiplies R by the smallest 2^k that covers it.
 * Because the edges then double, every new bin is the union of 2^k old bins:
 * old bin j (over [-R + j w, -R + (j+1) w], w = 2R/2048) goes to new bin
 * 1024 + floor((j - 1024) / 2^k), i.e. the old bins are merged in aligned
 * groups of 2^k counted outward from zero and land in the middle 2048/2^k new
 * bins (for k > 10 everything lands in the two bins next to zero).  No count
 * is split, so the counts always sum to `count`, and data that never leaves
 * the first range is binned exactly as if R had been fixed in advance.  Two
 * statistics always have ranges that differ by a power of two, so merging
 * (per-thread statistics) is the same exact regrouping.  Value x goes to bin
 * floor(x * 1024 / R + 1024), clamped to [0, 2047]: exact zeros sit in bin
 * 1024; infinities are counted in the edge bins; NaNs only in nan_count.  The
 * price of power-of-two ranges: [0, max |x|] spans between 512 and 1024 bins.
 *
 * Calibrators (all from the statistics alone; fp32/fp16/bf16 have no scale
 * to calibrate and always get minmax):
 *  - minmax: [min, max].
 *  - percentile P: symmetric - the P-th percentile of |x| from the folded
 *    histogram (bins k and 2047-k added), interpolated linearly inside the bin
 *    that crosses the target count, giving [-t, t]; asymmetric - each tail is
 *    cut by (100 - P) / 2 percent: the (100-P)/200 and 1 - (100-P)/200 quantiles
 *    of the signed histogram, interpolated the same way (as ORT's
 *    HistogramCollector does, without its snapping to bin edges).  Clamped to
 *    [min, max].
 *  - entropy: TensorRT's KL-divergence search on the folded histogram of |x|.
 *    For each candidate threshold at bin edge j: P = the first j bins with the
 *    mass beyond added to the last; Q = the same j bins without that mass,
 *    merged into L = `levels` groups (group g covers bins [g j / L,
 *    (g+1) j / L)) and spread evenly back over the bins where P is nonzero; the j with the
 *    smallest KL(P || Q) wins (a bin where Q is empty but P is not is given
 *    half a sample of its own width, which penalises clipping without making
 *    KL infinite).
 *    levels = 2^(bits-1), i.e. (qmax - qmin + 1) / 2, for integers (TensorRT's
 *    128 for 8 bits), 128 for fp8 (its uniform-grid model is an approximation
 *    there).  Unlike TensorRT the search also tries j < levels: the j bins
 *    are then split evenly into ceil(levels / j) parts each so that the grid
 *    still has `levels` groups - Q is then nearly P and only clipping counts.
 *    Without this, a few huge outliers that make the bins coarse would force
 *    the threshold up to at least 128 bins.  When levels >= the number of
 *    occupied bins the histogram cannot see the rounding at all and the
 *    threshold is max |x|.  Symmetric: [-t, t]; asymmetric: [-t, t] clamped
 *    to [min, max].
 *  - mse: the clip minimizing the expected squared error estimated from the
 *    histogram, each bin's count spread uniformly over the bin: clipping
 *    error integrated exactly for the mass beyond the clip, plus rounding
 *    error for the mass inside.  Integer formats: step^2/12 per value (the
 *    ACIQ model), step = the scale qfmt_params_from_range gives for that
 *    clip; prefix sums of c, c m, c m^2 over the bins make each candidate
 *    O(1).  Symmetric: alpha runs over every bin edge up to max |x|;
 *    asymmetric: every pair of bin edges lo <= 0 <= hi over the occupied
 *    span.  Float8 (symmetric only): scale = alpha / max_finite, and a value
 *    v inside has error ulp^2/12 with ulp the format's spacing at v / scale
 *    (the subnormal step below the smallest normal) times the scale, taken at
 *    each bin's centre; alpha over every bin edge, O(bins) each.
 *    Exact zeros (ReLU) sit inside bin 1024 and are charged rounding error
 *    like their neighbours, although zero is always exact.
 *
 * Weights (calib_weight_range) use exact values: minmax, or mse as a search
 * over [c lo, c hi] for c = 1.00, 0.99, ... 0.20, where [lo, hi] is the
 * slice's [min, max] widened to include 0 (symmetric or float8: +-max |w|),
 * scoring each c by the actual fake-quant error of the values (at most 65536
 * of them, evenly strided, for large slices); percentile and entropy fall
 * back to minmax.
 *
 * Softmax outputs are not calibrated at all for uint8 and int8
 * (calib_softmax_params): like ONNX Runtime's quantizer, qlens gives them the
 * fixed scale 1/256 (1/127 for symmetric int8) over their true range [0, 1].
 */
/*
 * Under -ftrapping-math (gcc's default) an ordered comparison that may see a
 * NaN counts as a possible trap, so gcc will not turn the min/max selects of
 * the statistics pass into vector code.  qlens never reads floating-point
 * exception flags; results do not change.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "calib.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The statistics pass runs over every calibrated activation: build it for AVX2
 * too and pick at load time (as qformat.c does). */
/* not under ThreadSanitizer: ifunc resolvers run before its runtime starts */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
	!defined(__SANITIZE_THREAD__)
#define CALIB_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CALIB_CLONES
#endif

#define HALF (CALIB_BINS / 2)

void calib_stats_init(struct calib_stats *s) { memset(s, 0, sizeof *s); }

/* Bin index of non-NaN x for range r (0 when no nonzero value was seen yet). */
static void finish_add(struct calib_stats *s, int64_t n, uint64_t nans, float bmin, float bmax,
		       double sum, double sq);

static int bin_of(double x, double r)
{
	if (r == 0.0)
		return x > 0 ? CALIB_BINS - 1 : x < 0 ? 0 : HALF;
	double t = x * (HALF / r) + HALF;
	if (!(t >= 0.0))
		return 0;
	if (t >= CALIB_BINS)
		return CALIB_BINS - 1;
	return (int)t;
}

/* New index of old bin j when the range grows by 2^k (floor division). */
static int regroup(int j, int k)
{
	if (k > 20)
		k = 20; /* every bin already lands next to zero */
	int d = j - HALF;
	int q = d >= 0 ? d >> k : -((-d + (1 << k) - 1) >> k);
	return HALF + q;
}

static void widen(struct calib_stats *s, double new_range)
{
	int k = ilogb(new_range) - ilogb(s->range);
	s->range = new_range;
	if (k <= 0)
		return;
	uint64_t nb[CALIB_BINS] = { 0 };
	for (int j = 0; j < CALIB_BINS; j++)
		nb[regroup(j, k)] += s->bins[j];
	memcpy(s->bins, nb, sizeof nb);
}

/* The range for a new max |x| m > 0: a power of two, R * 2^k when R is set. */
static double range_for(double r, double m)
{
	if (r == 0.0) {
		int e;
		double f = frexp(m, &e); /* m = f * 2^e, f in [0.5, 1) */
		return f == 0.5 ? m : ldexp(1.0, e);
	}
	while (r < m)
		r *= 2;
	return r;
}

/* Largest finite |x| (0 if none), in eight lanes so that gcc vectorises it. */
static float finite_abs_max(const float *x, int64_t n)
{
	enum { L = 8 };
	float am[L] = { 0 };
	int64_t i = 0;
	for (; i + L <= n; i += L) {
		for (int l = 0; l < L; l++) {
			float a = fabsf(x[i + l]);
			a = a <= FLT_MAX ? a : 0.0f; /* NaN and inf */
			am[l] = a > am[l] ? a : am[l];
		}
	}
	for (; i < n; i++) {
		float a = fabsf(x[i]);
		a = a <= FLT_MAX ? a : 0.0f;
		am[0] = a > am[0] ? a : am[0];
	}
	float m = am[0];
	for (int l = 1; l < L; l++)
		m = am[l] > m ? am[l] : m;
	return m;
}

CALIB_CLONES void calib_stats_add(struct calib_stats *s, const float *x, int64_t n)
{
	if (n <= 0)
		return;
	/* first the range, so that every value of the batch is binned once */
	float amax = finite_abs_max(x, n);
	if (amax > s->range) {
		double r = range_for(s->range, amax);
		if (s->range == 0.0)
			s->range = r; /* only zeros (bin 1024) and infinities so far */
		else
			widen(s, r);
	}
	/* then one pass: extremes, sums of the finite values, bins.  x * (1024 / R)
	 * is exact (a power of two) and so is its sum with 1024 in double when
	 * |x| >= R 2^-29, so the bin is exactly floor(x 1024 / R) + 1024, the
	 * same whichever power-of-two R is in force (regrouping stays exact);
	 * tinier negative values may join the zeros in bin 1024. */
	const double k = s->range > 0 ? HALF / s->range : 0, top = CALIB_BINS - 1;
	if (k <= 0) {
		/* only zeros, NaN and infinities so far: rare, keep it simple */
		float bmin = INFINITY, bmax = -INFINITY;
		double sum = 0, sq = 0;
		uint64_t nans = 0;
		for (int64_t i = 0; i < n; i++) {
			float v = x[i];
			if (v != v) {
				nans++;
				continue;
			}
			bmin = v < bmin ? v : bmin;
			bmax = v > bmax ? v : bmax;
			double d = fabsf(v) <= FLT_MAX ? v : 0.0;
			sum += d;
			sq += d * d;
			s->bins[bin_of(v, 0.0)]++;
		}
		finish_add(s, n, nans, bmin, bmax, sum, sq);
		return;
	}
	/* Hot path, in blocks: first a branch-free pass that computes bin indices,
	 * extremes, NaN count and sums with independent accumulators (so it
	 * vectorises and has no long dependency chains), then the increments,
	 * spread over four sub-histograms so that runs of equal bins (ReLU
	 * zeros) do not serialise on one counter.  NaN lands in bin 0 in the
	 * first pass and is taken out again. */
	enum { BLOCK = 2048, L = 8 };
	int32_t idx[BLOCK];
	float vmin[L], vmax[L];
	double vs[L], vq[L];
	int64_t vn[L];
	for (int l = 0; l < L; l++) {
		vmin[l] = INFINITY;
		vmax[l] = -INFINITY;
		vs[l] = vq[l] = 0;
		vn[l] = 0;
	}
	uint32_t *sub = NULL;
	uint32_t sub_local[4][CALIB_BINS];
	bool use_sub = n >= 4 * CALIB_BINS;
	if (use_sub) {
		memset(sub_local, 0, sizeof sub_local);
		sub = &sub_local[0][0];
	}
	int64_t nans_bin0 = 0;
	for (int64_t b0 = 0; b0 < n; b0 += BLOCK) {
		int64_t m = n - b0 < BLOCK ? n - b0 : BLOCK;
		const float *xb = x + b0;
		int64_t i = 0;
		for (; i + L <= m; i += L) {
			for (int l = 0; l < L; l++) {
				float v = xb[i + l];
				int isnan_ = v != v;
				vn[l] += isnan_;
				vmin[l] = v < vmin[l] ? v : vmin[l];
				vmax[l] = v > vmax[l] ? v : vmax[l];
				double d = fabsf(v) <= FLT_MAX ? (double)v : 0.0;
				vs[l] += d;
				vq[l] += d * d;
				double t = (double)v * k + HALF;
				t = t > 0 ? t : 0;
				t = t < top ? t : top;
				idx[i + l] = (int32_t)t;
			}
		}
		for (; i < m; i++) {
			float v = xb[i];
			vn[0] += v != v;
			vmin[0] = v < vmin[0] ? v : vmin[0];
			vmax[0] = v > vmax[0] ? v : vmax[0];
			double d = fabsf(v) <= FLT_MAX ? (double)v : 0.0;
			vs[0] += d;
			vq[0] += d * d;
			double t = (double)v * k + HALF;
			t = t > 0 ? t : 0;
			t = t < top ? t : top;
			idx[i] = (int32_t)t;
		}
		if (use_sub) {
			int64_t j = 0;
			for (; j + 4 <= m; j += 4) {
				sub[0 * CALIB_BINS + idx[j]]++;
				sub[1 * CALIB_BINS + idx[j + 1]]++;
				sub[2 * CALIB_BINS + idx[j + 2]]++;
				sub[3 * CALIB_BINS + idx[j + 3]]++;
			}
			for (; j < m; j++)
				sub[idx[j]]++;
		} else {
			for (int64_t j = 0; j < m; j++)
				s->bins[idx[j]]++;
		}
	}
	if (use_sub)
		for (int b = 0; b < CALIB_BINS; b++)
			s->bins[b] += (uint64_t)sub_local[0][b] + sub_local[1][b] + sub_local[2][b] +
				      sub_local[3][b];
	float bmin = INFINITY, bmax = -INFINITY;
	double sum = 0, sq = 0;
	for (int l = 0; l < L; l++) {
		bmin = vmin[l] < bmin ? vmin[l] : bmin;
		bmax = vmax[l] > bmax ? vmax[l] : bmax;
		sum += vs[l];
		sq += vq[l];
		nans_bin0 += vn[l];
	}
	s->bins[0] -= (uint64_t)nans_bin0; /* NaN was binned at 0 above */
	finish_add(s, n, (uint64_t)nans_bin0, bmin, bmax, sum, sq);
}

/* Fold one batch's extremes and sums into s. */
static void finish_add(struct calib_stats *s, int64_t n, uint64_t nans, float bmin, float bmax,
		       double sum, double sq)
{
	s->nan_count += nans;
	uint64_t cnt = (uint64_t)n - nans;
	if (cnt == 0)
		return;
	if (s->count == 0) {
		s->min = bmin;
		s->max = bmax;
	} else {
		s->min = bmin < s->min ? bmin : s->min;
		s->max = bmax > s->max ? bmax : s->max;
	}
	s->count += cnt;
	s->sum += sum;
	s->sum_sq += sq;
}

void calib_stats_merge(struct calib_stats *a, const struct calib_stats *b)
{
	a->nan_count += b->nan_count;
	if (b->count == 0)
		return;
	if (a->count == 0) {
		a->min = b->min;
		a->max = b->max;
	} else {
		a->min = b->min < a->min ? b->min : a->min;
		a->max = b->max > a->max ? b->max : a->max;
	}
	a->count += b->count;
	a->sum += b->sum;
	a->sum_sq += b->sum_sq;
	if (b->range > a->range) {
		if (a->range == 0.0)
			a->range = b->range;
		else
			widen(a, b->range);
	}
	int k = b->range == 0.0 ? 0 : ilogb(a->range) - ilogb(b->range);
	for (int j = 0; j < CALIB_BINS; j++)
		if (b->bins[j])
			a->bins[regroup(j, k)] += b->bins[j];
}

/* ---- histogram helpers ---------------------------------------------------- */

static double bin_width(const struct calib_stats *s) { return s->range / HALF; }

static double abs_max(const struct calib_stats *s) { return fmax(fabs(s->min), fabs(s->max)); }

/* |x| histogram: h[k] counts |x| in [k w, (k+1) w].  Returns the number of
 * bins up to the last nonzero one. */
static int fold(const struct calib_stats *s, double h[HALF])
{
	int n = 0;
	for (int k = 0; k < HALF; k++) {
		h[k] = (double)(s->bins[HALF + k] + s->bins[HALF - 1 - k]);
		if (h[k] > 0)
			n = k + 1;
	}
	return n;
}

/* The q-quantile (q in [0, 1]) of |x|, interpolated inside its bin. */
static double quantile_abs(const struct calib_stats *s, double q)
{
	double h[HALF];
	int n = fold(s, h);
	double target = q * (double)s->count, cum = 0;
	for (int k = 0; k < n; k++) {
		if (h[k] > 0 && cum + h[k] >= target)
			return (k + (target - cum) / h[k]) * bin_width(s);
		cum += h[k];
	}
	return n * bin_width(s);
}

/* The q-quantile of x from the signed histogram. */
static double quantile_signed(const struct calib_stats *s, double q)
{
	double target = q * (double)s->count, cum = 0;
	int last = 0;
	for (int j = 0; j < CALIB_BINS; j++) {
		double c = (double)s->bins[j];
		if (c > 0 && cum + c >= target)
			return -s->range + (j + (target - cum) / c) * bin_width(s);
		cum += c;
		if (c > 0)
			last = j;
	}
	return -s->range + (last + 1) * bin_width(s);
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- calibrators ---------------------------------------------------------- */

static void range_minmax(const struct calib_stats *s, const struct calib_spec *c, enum qfmt f,
			 bool symmetric, double *lo, double *hi)
{
	(void)c, (void)f, (void)symmetric;
	*lo = s->min;
	*hi = s->max;
}

static void range_percentile(const struct calib_stats *s, const struct calib_spec *c,
			     enum qfmt f, bool symmetric, double *lo, double *hi)
{
	(void)f;
	double p = c->percentile > 0 && c->percentile <= 100 ? c->percentile : 99.99;
	if (symmetric) {
		double t = fmin(quantile_abs(s, p / 100.0), abs_max(s));
		*lo = -t;
		*hi = t;
	} else {
		double cut = (100.0 - p) / 200.0;
		*lo = clampd(quantile_signed(s, cut), s->min, s->max);
		*hi = clampd(quantile_signed(s, 1.0 - cut), s->min, s->max);
	}
}

/* Levels of the uniform grid the entropy search assumes for |x|. */
static int entropy_levels(enum qfmt f)
{
	const struct qfmt_info *fi = qfmt_info(f);
	if (fi->is_float)
		return 128;
	return (int)(((int64_t)fi->qmax - fi->qmin + 1) / 2);
}

static double entropy_threshold(const struct calib_stats *s, int levels)
{
	double h[HALF];
	int n = fold(s, h);
	double w = bin_width(s), total = 0;
	for (int k = 0; k < n; k++)
		total += h[k];
	if (n == 0 || total <= 0)
		return 0;
	if (levels >= n)
		return n * w;

	static const double half_sample = 0.5;
	/* virtual bins: fewer than 2 * levels (split case) or n (unsplit), both <= 2 HALF */
	double *scratch = malloc((HALF + 1 + 4 * HALF) * sizeof *scratch);
	if (!scratch)
		return n * w; /* no clipping */
	double *suffix = scratch, *p = suffix + HALF + 1, *q = p + 2 * HALF;
	suffix[n] = 0;
	for (int k = n - 1; k >= 0; k--)
		suffix[k] = suffix[k + 1] + h[k];

	double best_kl = INFINITY;
	int best_j = n;
	for (int j = 1; j <= n; j++) {
		int sp = j < levels ? (levels + j - 1) / j : 1;
		int v = j * sp;
		double outliers = suffix[j], inside = total - outliers;
		if (inside <= 0)
			continue;
		for (int k = 0; k < j; k++)
			for (int t = 0; t < sp; t++)
				p[k * sp + t] = h[k] / sp;
		/* Q: in-range mass per group, spread over the bins where P (with
		 * the outliers) is nonzero */
		for (int g = 0; g < levels; g++) {
			int a = (int)((int64_t)g * v / levels);
			int b = (int)((int64_t)(g + 1) * v / levels);
			double sum = 0;
			int nz = 0;
			for (int i = a; i < b; i++) {
				sum += p[i];
				nz += p[i] > 0 || (i == v - 1 && outliers > 0);
			}
			for (int i = a; i < b; i++) {
				bool nonzero = p[i] > 0 || (i == v - 1 && outliers > 0);
				q[i] = nonzero && nz ? sum / nz : 0;
			}
		}
		p[v - 1] += outliers;
		double kl = 0;
		for (int i = 0; i < v; i++) {
			if (p[i] <= 0)
				continue;
			double pi = p[i] / total;
			double qi = (q[i] > 0 ? q[i] : half_sample / sp) / inside;
			kl += pi * log(pi / qi);
		}
		if (kl < best_kl) {
			best_kl = kl;
			best_j = j;
		}
	}
	free(scratch);
	return best_j * w;
}

static void range_entropy(const struct calib_stats *s, const struct calib_spec *c, enum qfmt f,
			  bool symmetric, double *lo, double *hi)
{
	(void)c;
	double t = fmin(entropy_threshold(s, entropy_levels(f)), abs_max(s));
	*lo = symmetric ? -t : fmax(s->min, -t);
	*hi = symmetric ? t : fmin(s->max, t);
}

/*
 * mse, integer formats.  With each bin's count spread uniformly over the bin,
 * a bin entirely beyond a clip at a bin edge contributes c ((m - clip)^2 +
 * w^2/12) (m its centre), so prefix sums of c, c m and c m^2 give the
 * clipping error of any edge in O(1); the rounding error is the inside count
 * times step^2 / 12.  Edges are indexed like bins: edge e is -R + e w.
 */
struct mse_prefix {
	double c[CALIB_BINS + 1], m1[CALIB_BINS + 1], m2[CALIB_BINS + 1];
	double w, r;
};

static void mse_prefix_init(struct mse_prefix *px, const struct calib_stats *s)
{
	px->w = bin_width(s);
	px->r = s->range;
	px->c[0] = px->m1[0] = px->m2[0] = 0;
	for (int j = 0; j < CALIB_BINS; j++) {
		double c = (double)s->bins[j], m = -s->range + (j + 0.5) * px->w;
		px->c[j + 1] = px->c[j] + c;
		px->m1[j + 1] = px->m1[j] + c * m;
		px->m2[j + 1] = px->m2[j] + c * m * m;
	}
}

/* Expected squared error (summed) for the clip [edge el, edge eh], step (hi-lo)/levels. */
static double mse_int(const struct mse_prefix *px, int el, int eh, double levels)
{
	const double *c = px->c, *m1 = px->m1, *m2 = px->m2;
	double lo = -px->r + el * px->w, hi = -px->r + eh * px->w, w2 = px->w * px->w / 12;
	double below = lo * lo * c[el] - 2 * lo * m1[el] + m2[el] + c[el] * w2;
	double cu = c[CALIB_BINS] - c[eh], mu1 = m1[CALIB_BINS] - m1[eh];
	double mu2 = m2[CALIB_BINS] - m2[eh];
	double above = hi * hi * cu - 2 * hi * mu1 + mu2 + cu * w2;
	double step = (hi - lo) / levels;
	/* cancellation can leave a clipping term slightly negative: it is >= 0 */
	return fmax(below, 0) + fmax(above, 0) + (c[eh] - c[el]) * step * step / 12;
}

/* Symmetric integer search: alpha = k w over every edge up to the last occupied bin. */
static double mse_alpha_int(const struct calib_stats *s, double levels)
{
	double h[HALF];
	int n = fold(s, h);
	if (n == 0)
		return 0;
	struct mse_prefix *px = malloc(sizeof *px);
	if (!px)
		return n * bin_width(s); /* no clipping */
	mse_prefix_init(px, s);
	double best = INFINITY;
	int best_k = n;
	for (int k = 1; k <= n; k++) {
		double e = mse_int(px, HALF - k, HALF + k, levels);
		if (e < best) {
			best = e;
			best_k = k;
		}
	}
	free(px);
	return best_k * bin_width(s);
}

double calib_mse_clip_levels(const struct calib_stats *s, double levels)
{
	return fmin(mse_alpha_int(s, levels), abs_max(s));
}

/* Asymmetric integer search: every pair of edges lo <= 0 <= hi in the occupied span. */
static void mse_range_int_asym(const struct calib_stats *s, double levels, double *lo, double *hi)
{
	int jlo = -1, jhi = -1;
	for (int j = 0; j < CALIB_BINS; j++) {
		if (s->bins[j]) {
			jlo = jlo < 0 ? j : jlo;
			jhi = j;
		}
	}
	*lo = s->min;
	*hi = s->max;
	struct mse_prefix *px = jlo >= 0 ? malloc(sizeof *px) : NULL;
	if (!px)
		return;
	mse_prefix_init(px, s);
	int e0 = jlo < HALF ? jlo : HALF, e1 = jhi + 1 > HALF ? jhi + 1 : HALF;
	double best = INFINITY;
	int best_l = e0, best_h = e1;
	for (int el = e0; el <= HALF; el++) {
		for (int eh = e1; eh >= HALF; eh--) {
			if (el == eh)
				continue;
			double e = mse_int(px, el, eh, levels);
			if (e < best) {
				best = e;
				best_l = el;
				best_h = eh;
			}
		}
	}
	free(px);
	/* an unclipped end is the data's own (all-positive data keeps its min) */
	*lo = fmax(-s->range + best_l * bin_width(s), s->min);
	*hi = fmin(-s->range + best_h * bin_width(s), s->max);
}

/* Steps of the format's symmetric or asymmetric grid over a clip range: 2 / scale of [-1, 1]. */
static double int_levels(enum qfmt f, bool symmetric)
{
	const struct qfmt_info *fi = qfmt_info(f);
	if (!symmetric)
		return (double)fi->qmax - fi->qmin;
	return nearbyint(2.0 / qfmt_params_from_range(f, -1, 1, true).scale);
}

/*
 * mse, float8 (symmetric only): scale = alpha / max_finite; a value v inside
 * has rounding error ulp^2/12, ulp being the format's spacing at v / scale
 * (the subnormal step below the smallest normal) times the scale, taken at
 * each bin's centre.  O(bins) per candidate.
 */
struct fp8_model {
	double ulp_scale; /* 2^-mantissa bits */
	double min_normal, sub_step, max_finite;
};

static double fp8_round_err(const struct fp8_model *m, double v, double sc)
{
	double u = v / sc, ulp;
	if (u < m->min_normal) {
		ulp = m->sub_step;
	} else {
		/* 2^floor(log2 u): u's bits with the mantissa cleared (u is normal) */
		uint64_t b;
		memcpy(&b, &u, sizeof b);
		b &= 0xfff0000000000000ull;
		memcpy(&ulp, &b, sizeof b);
		ulp *= m->ulp_scale; /* 2^-mbits */
	}
	ulp *= sc;
	return ulp * ulp / 12;
}

static double cube(double v) { return v * v * v; }

static double mse_fp8(const struct calib_stats *s, int jlo, int jhi, double alpha,
		      const struct fp8_model *m)
{
	double w = bin_width(s), err = 0, sc = alpha / m->max_finite;
	for (int j = jlo; j <= jhi; j++) {
		if (!s->bins[j])
			continue;
		double a = -s->range + j * w, b = a + w, dens = (double)s->bins[j] / w;
		if (a < -alpha) /* the part below -alpha */
			err += dens * (cube(-alpha - a) - cube(-alpha - fmin(b, -alpha))) / 3;
		if (b > alpha)
			err += dens * (cube(b - alpha) - cube(fmax(a, alpha) - alpha)) / 3;
		double ia = fmax(a, -alpha), ib = fmin(b, alpha);
		if (ib > ia)
			err += dens * (ib - ia) * fp8_round_err(m, fabs((ia + ib) / 2), sc);
	}
	return err;
}

static double mse_alpha_fp8(const struct calib_stats *s, enum qfmt f)
{
	struct fp8_model m = f == QF_FP8E4M3
				     ? (struct fp8_model){ 0x1p-3, 0x1p-6, 0x1p-9, 448 }
				     : (struct fp8_model){ 0x1p-2, 0x1p-14, 0x1p-16, 57344 };
	double h[HALF];
	int n = fold(s, h), jlo = HALF - n, jhi = HALF + n - 1;
	double w = bin_width(s), best = INFINITY, best_a = n * w;
	for (int k = 1; k <= n; k++) {
		double e = mse_fp8(s, jlo, jhi, k * w, &m);
		if (e < best) {
			best = e;
			best_a = k * w;
		}
	}
	return best_a;
}

static void range_mse(const struct calib_stats *s, const struct calib_spec *c, enum qfmt f,
		      bool symmetric, double *lo, double *hi)
{
	(void)c;
	bool fp8 = qfmt_info(f)->is_float;
	if (!symmetric && !fp8) {
		mse_range_int_asym(s, int_levels(f, false), lo, hi);
		return;
	}
	double a = fp8 ? mse_alpha_fp8(s, f) : mse_alpha_int(s, int_levels(f, true));
	a = fmin(a, abs_max(s));
	*lo = symmetric ? -a : fmax(s->min, -a);
	*hi = symmetric ? a : fmin(s->max, a);
}

/* ---- table, parsing ------------------------------------------------------- */

typedef void (*calib_fn)(const struct calib_stats *s, const struct calib_spec *c, enum qfmt f,
			 bool symmetric, double *lo, double *hi);

static const struct {
	const char *name;
	calib_fn range;
} calib_methods[] = {
	[CALIB_MINMAX] = { "minmax", range_minmax },
	[CALIB_PERCENTILE] = { "percentile", range_percentile },
	[CALIB_ENTROPY] = { "entropy", range_entropy },
	[CALIB_MSE] = { "mse", range_mse },
};
_Static_assert(sizeof calib_methods / sizeof calib_methods[0] == CALIB_COUNT,
	       "calib_methods is out of step with enum calib_method");

const char *calib_method_name(enum calib_method m)
{
	return (unsigned)m < CALIB_COUNT ? calib_methods[m].name : "unknown";
}

enum status calib_spec_parse(const char *text, struct calib_spec *out, struct err *e)
{
	if (!text)
		text = "";
	const char *colon = strchr(text, ':');
	size_t len = colon ? (size_t)(colon - text) : strlen(text);
	for (int m = 0; m < CALIB_COUNT; m++) {
		const char *name = calib_methods[m].name;
		if (strlen(name) != len || strncmp(name, text, len))
			continue;
		struct calib_spec c = { .method = (enum calib_method)m, .percentile = 99.99 };
		if (colon) {
			if (m != CALIB_PERCENTILE)
				return err_set(e, ERR_INVALID,
					       "calibration method '%s' takes no argument", text);
			char *end;
			errno = 0;
			double p = strtod(colon + 1, &end);
			if (end == colon + 1 || *end || errno || !(p > 0 && p <= 100))
				return err_set(e, ERR_INVALID,
					       "'%s': the percentile must be a number in (0, 100]",
					       text);
			c.percentile = p;
		}
		*out = c;
		return OK;
	}
	return err_set(e, ERR_INVALID,
		       "unknown calibration method '%s' (minmax, percentile[:P], entropy, mse)",
		       text);
}

const char *calib_spec_str(const struct calib_spec *c, char *buf, size_t size)
{
	if (c->method == CALIB_PERCENTILE)
		snprintf(buf, size, "percentile:%.10g", c->percentile);
	else
		snprintf(buf, size, "%s", calib_method_name(c->method));
	return buf;
}

/* ---- entry points --------------------------------------------------------- */

static bool has_scale(enum qfmt f) { return f != QF_FP32 && f != QF_FP16 && f != QF_BF16; }

void calib_range(const struct calib_stats *s, const struct calib_spec *c, enum qfmt f,
		 bool symmetric, float *rmin, float *rmax)
{
	double lo = 0, hi = 0;
	if (s->count > 0 && (unsigned)f < QF_COUNT) {
		enum calib_method m = (unsigned)c->method < CALIB_COUNT ? c->method : CALIB_MINMAX;
		if (!has_scale(f))
			m = CALIB_MINMAX;
		calib_methods[m].range(s, c, f, symmetric, &lo, &hi);
	}
	*rmin = (float)lo;
	*rmax = (float)hi;
}

bool calib_softmax_params(enum qfmt f, bool symmetric, struct qparams *p)
{
	/* ONNX Runtime's QDQSoftmax refuses every other activation type */
	if (f == QF_UINT8) {
		*p = (struct qparams){ 1.0f / 256, 0 };
		return true;
	}
	if (f == QF_INT8) {
		/* symmetric: [0, 1] gets only the upper half of [-127, 127] */
		*p = symmetric ? (struct qparams){ 1.0f / 127, 0 } : (struct qparams){ 1.0f / 256, -128 };
		return true;
	}
	return false;
}

/* Sum of squared fake-quant errors of v[0..n) for the clip [lo, hi]. */
static double fq_sq_err(enum qfmt f, const float *v, float *tmp, int64_t n, float lo, float hi,
			bool symmetric)
{
	qfmt_fake_quant(f, v, tmp, n, qfmt_params_from_range(f, lo, hi, symmetric));
	double e = 0;
	for (int64_t i = 0; i < n; i++) {
		double d = (double)v[i] - tmp[i];
		e += d * d;
	}
	return e;
}

void calib_weight_range(const float *w, int64_t n, int64_t stride, enum calib_method m,
			enum qfmt f, bool symmetric, float *rmin, float *rmax)
{
	if (stride < 1)
		stride = 1;
	float lo = INFINITY, hi = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		float v = w[i * stride];
		if (isnan(v))
			continue;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (lo > hi) /* nothing but NaN */
		lo = hi = 0;
	*rmin = lo;
	*rmax = hi;
	if (m != CALIB_MSE || !has_scale(f) || n == 0)
		return;

	/* gather (a strided sample of) the finite values */
	enum { SAMPLE_MAX = 65536 };
	int64_t step = n > SAMPLE_MAX ? (n + SAMPLE_MAX - 1) / SAMPLE_MAX : 1;
	int64_t cap = (n + step - 1) / step;
	float *v = malloc((size_t)cap * 2 * sizeof *v);
	if (!v)
		return; /* minmax it is */
	float *tmp = v + cap;
	int64_t k = 0;
	for (int64_t i = 0; i < n; i += step)
		if (isfinite(w[i * stride]))
			v[k++] = w[i * stride];
	float l0 = fminf(lo, 0), h0 = fmaxf(hi, 0);
	if (symmetric || qfmt_info(f)->is_float) {
		float a = fmaxf(-l0, h0);
		l0 = -a;
		h0 = a;
	}
	double best = INFINITY;
	for (int c = 100; c >= 20; c--) {
		float cl = l0 * (float)c / 100, ch = h0 * (float)c / 100;
		double e = fq_sq_err(f, v, tmp, k, cl, ch, symmetric);
		if (e < best) {
			best = e;
			*rmin = c == 100 ? lo : cl;
			*rmax = c == 100 ? hi : ch;
		}
	}
	free(v);
}
