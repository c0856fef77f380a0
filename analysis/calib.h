/*
 * calib.h - streaming activation statistics and the calibrators computed from them.
 *
 * One struct calib_stats per tensor collects, in bounded memory and one pass
 * over the calibration data: min, max, count, sum of squares, and a histogram
 * of values over a symmetric range [-R, R] with CALIB_BINS bins.  When a batch
 * brings a value beyond R, the range grows to the smallest power-of-two
 * multiple of R that covers it and existing bins are merged accordingly
 * (2, 4, ... bins into one), so no activation is ever stored.
 *
 * Every calibrator works from these statistics alone (no model run):
 *   minmax          [min, max]
 *   percentile:P    clip at the P-th percentile (default 99.99) of |x|
 *                   (symmetric) or of each tail (asymmetric)
 *   entropy         TensorRT-style KL-divergence threshold search on |x|
 *   mse             the clip minimizing expected squared error (clipping +
 *                   rounding) for the target format, estimated from the histogram
 * and returns a range (rmin, rmax) to feed qfmt_params_from_range().
 */
#ifndef QLENS_CALIB_H
#define QLENS_CALIB_H

#include <stdbool.h>
#include <stdint.h>

#include "qformat.h"
#include "status.h"

#define CALIB_BINS 2048

struct calib_stats {
	double min, max;
	double sum, sum_sq;
	uint64_t count;
	uint64_t nan_count;
	double range;	 /* histogram covers [-range, range]; 0 until the first nonzero value */
	uint64_t bins[CALIB_BINS];
};

void calib_stats_init(struct calib_stats *s);
void calib_stats_add(struct calib_stats *s, const float *x, int64_t n);
/* Merge b into a (for per-thread statistics). */
void calib_stats_merge(struct calib_stats *a, const struct calib_stats *b);

enum calib_method { CALIB_MINMAX, CALIB_PERCENTILE, CALIB_ENTROPY, CALIB_MSE, CALIB_COUNT };

struct calib_spec {
	enum calib_method method;
	double percentile; /* CALIB_PERCENTILE: in (0, 100]; default 99.99 */
};

const char *calib_method_name(enum calib_method m);
/* Parse "minmax", "percentile", "percentile:99.9", "entropy", "mse". */
enum status calib_spec_parse(const char *text, struct calib_spec *out, struct err *e);
/* Writes e.g. "percentile:99.99" into buf. */
const char *calib_spec_str(const struct calib_spec *c, char *buf, size_t size);

/* The calibrated range for quantizing into format f (symmetric or not). */
void calib_range(const struct calib_stats *s, const struct calib_spec *c, enum qfmt f,
		 bool symmetric, float *rmin, float *rmax);

/*
 * Fixed parameters for a Softmax output quantized into format f, as ONNX
 * Runtime's quantizer sets them (operators/softmax.py, QDQSoftmax) instead of
 * calibrating: the values lie in [0, 1] by construction.
 *   uint8 (symmetric or not)  scale 1/256, zero point 0
 *   int8 asymmetric           scale 1/256, zero point -128
 *   int8 symmetric            scale 1/127, zero point 0
 * Writes *p and returns true for those; returns false (leaving *p alone) for
 * every other format (16-bit and 4-bit integers, fp8, fp16/bf16, fp32),
 * which are calibrated like any other tensor.  1/256 and 1/127 also keep
 * ONNX Runtime's fused QLinearSoftmax exact: it requantizes with
 * floor(1 / scale), which differs from 1 / scale for a calibrated scale.
 */
bool calib_softmax_params(enum qfmt f, bool symmetric, struct qparams *p);

/* Weights: the range of a slice of values directly (minmax or mse; mse searches
 * the clip on the exact values). */
void calib_weight_range(const float *w, int64_t n, int64_t stride, enum calib_method m,
			enum qfmt f, bool symmetric, float *rmin, float *rmax);

/*
 * The symmetric clip alpha minimizing the mse calibrator's histogram estimate
 * of clipping plus rounding error for a uniform grid of `levels` steps over
 * [-alpha, alpha] (step = 2 alpha / levels, rounding error step^2 / 12).
 * calib_range's mse uses the same model with the format's own step; this
 * entry takes any level count (tests check it against the known optimum for
 * Laplace data at 2, 3 and 4 bits, widths no format has).
 */
double calib_mse_clip_levels(const struct calib_stats *s, double levels);

#endif
