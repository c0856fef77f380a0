/*
 * explore.h - what the interactive explorer computes beside the session.
 *
 * The session (session.h) runs sweeps and policy evaluations; the explorer
 * also needs, for whatever node and precision the user looks at:
 *  - node statistics: histograms of the node's weights and of its input
 *    activation with the clip range and grid of the precision, the error
 *    (quantized - FP32) histogram, per-output-channel weight ranges, SQNR,
 *    clipped fraction, scale and zero point - from a one-node simulation
 *    (sim_prepare), so they are exactly what the session simulates;
 *  - the cost of a policy (weight bytes as sim.c counts them, BitOps) at
 *    once, without preparing a simulation;
 *  - calibration statistics of its own, collected in slices so it can be
 *    cancelled (the session does not expose its own; same data, same
 *    method, so the statistics are identical);
 *  - saving a policy file and exporting a policy (they need a prepared
 *    simulation of the whole policy).
 * None of it prints or keeps global state; callers run it on a thread of
 * theirs (the explorer's helper thread), never on a UI thread.
 */
#ifndef QLENS_EXPLORE_H
#define QLENS_EXPLORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "metrics.h"
#include "modelinfo.h"
#include "sim.h"

/* ---- cost ------------------------------------------------------------------- */
struct explore_cost {
	int64_t wbytes, fp32_wbytes; /* weight storage (sim.c's rule) */
	double bitops, fp32_bitops;  /* sum of MACs x weight bits x activation bits */
};
/* mi must be built for pol->g. */
void explore_policy_cost(const struct model_info *mi, const struct policy *pol,
			 struct explore_cost *c);

/* ---- calibration in slices --------------------------------------------------- */
struct explore_calib_progress {
	void (*fn)(void *user, int64_t done, int64_t total);
	void *user;
};
/* calib_collect over `data` in slices of `slice` samples merged exactly;
 * ERR_CANCELLED when *cancel is set between slices. */
enum status explore_calibrate(const struct graph *g, const struct tensor *data, int threads,
			      int batch, int64_t slice, const _Atomic bool *cancel,
			      const struct explore_calib_progress *pr, struct calib_data *out,
			      struct err *e);

/* ---- node statistics ------------------------------------------------------------ */
struct explore_hist {
	int n;
	double lo, hi;	/* the bins cover [lo, hi] evenly */
	double *count;
	double total;
};

struct explore_node {
	int node;
	struct precision prec;
	/* weights (has_weight: a constant float weight quantized by the precision,
	 * or kept when it is fp32 - the histogram and channels are still shown) */
	bool has_weight, w_quant;
	int64_t w_numel;
	struct explore_hist w_hist, w_err;
	enum qgran w_gran;	   /* effective granularity */
	int w_nparams;
	float w_min, w_max;
	float w_clip_lo, w_clip_hi; /* representable range: per tensor, or the widest slice */
	double w_step;		   /* grid step of that slice; 0 for fp16/bf16/fp32 */
	int w_levels;		   /* codes of the format (0 for floats) */
	double w_sqnr;		   /* dB, INFINITY when exact */
	double w_clipped;	   /* fraction of weights beyond their slice's range */
	float w_scale;		   /* per tensor, or the widest slice's */
	int32_t w_zp;
	int n_ch;		   /* output channels */
	float *ch_lo, *ch_hi;	   /* per output channel range */
	float *ch_step;		   /* per channel grid step under the precision (NULL if none) */
	/* the input activation (input 0) */
	bool has_act, a_quant;
	int a_value;
	struct explore_hist a_hist, a_err; /* from the calibration histogram */
	float a_min, a_max;	   /* observed */
	float a_rmin, a_rmax;	   /* calibrated range */
	float a_clip_lo, a_clip_hi; /* representable range of the parameters */
	double a_step;
	int a_levels;
	double a_sqnr, a_clipped;  /* estimated from the histogram */
	float a_scale;
	int32_t a_zp;
	enum qfmt a_fmt;
};

/* Statistics of node ni at precision p.  cal may be NULL (then no activation
 * part).  bins: histogram resolution (e.g. 128). */
enum status explore_node_stats(const struct graph *g, const struct calib_data *cal, int ni,
			       const struct precision *p, int bins, struct explore_node *out,
			       struct err *e);
void explore_node_fini(struct explore_node *s);

/* ---- policy files and exports ------------------------------------------------------ */
struct explore_files {
	const struct bundle *b;
	const char *model_sha256;  /* may be NULL */
	const char *qlens_version; /* may be NULL */
	const struct metrics_summary *eval; /* measured figures of this policy, or NULL */
	int64_t calib_samples;
};
/* Save pol as a policy file (policyfile.h) at path. */
enum status explore_save_policy(const struct graph *g, const struct calib_data *cal,
				const struct policy *pol, const struct explore_files *f,
				const char *path, struct err *e);
/* Load a policy file into pol (initialized here); *model_changed when the
 * file was made for another version of the model. */
enum status explore_load_policy(const struct graph *g, const char *model_sha256, const char *path,
				struct policy *pol, bool *model_changed, struct err *e);
/* Export: kind "qdq" (ONNX model), "ort" (quantizer overrides JSON), "trt"
 * (trtexec flags). */
enum status explore_export(const struct graph *g, const struct calib_data *cal,
			   const struct policy *pol, const struct explore_files *f, const char *kind,
			   const char *path, struct err *e);

#endif
