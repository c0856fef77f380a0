/*
 * evaluate.h - measuring a policy on a bundle's evaluation set.
 *
 * A session-like helper for the headless commands: it holds the model, the
 * evaluation data with labels, the FP32 reference logits (computed once) and
 * the calibration statistics, and evaluates simulations against them.
 */
#ifndef QLENS_EVALUATE_H
#define QLENS_EVALUATE_H

#include "bundle.h"
#include "metrics.h"
#include "sim.h"

struct evaluator {
	const struct graph *g;
	struct runner *r;
	struct tensor x, labels; /* evaluation images (float32), labels (int64) */
	struct tensor ref;	 /* FP32 logits [N, classes] */
	int64_t classes;
	struct calib_data cal;
	bool have_cal;
	int threads, batch;
};

/* Load evaluation data of bundle b for graph g and compute FP32 logits. */
enum status evaluator_init(struct evaluator *ev, const struct bundle *b, const struct graph *g,
			   int threads, int batch, struct err *e);
/* Calibrate on the bundle's calibration set (first `samples` samples; 0 = all). */
enum status evaluator_calibrate(struct evaluator *ev, const struct bundle *b, int64_t samples,
				struct err *e);
void evaluator_fini(struct evaluator *ev);

/* Evaluate a prepared simulation. */
enum status evaluator_run(struct evaluator *ev, const struct sim *s, struct metrics_summary *out,
			  struct err *e);
/* FP32 accuracy of the reference logits. */
double evaluator_fp32_top1(const struct evaluator *ev);

/* What `qlens eval --json` prints: one object with fp32_top1, top1, delta, ci95,
 * p_value, within_noise, agreement, sqnr_db (null when exact), kl, samples,
 * weight_bytes, fp32_weight_bytes, plus the recipe (policy label, calibration
 * method and samples).  malloc'ed; NULL on out of memory. */
struct eval_recipe {
	const char *bundle;
	const char *policy;
	const char *granularity;
	const char *calib_method;
	int64_t calib_samples;
};
char *eval_report_json(const struct metrics_summary *s, const struct sim *sim,
		       const struct eval_recipe *r);

#endif
