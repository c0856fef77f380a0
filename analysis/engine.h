/*
 * engine.h - the sensitivity engine's evaluations, without threads of its own.
 *
 * An engine holds a model with its evaluation data, FP32 reference logits and
 * calibration statistics, one prepared simulation per candidate precision
 * (each candidate applied to every node) plus one for the remove sweeps' base
 * when it is not a candidate, and two activation caches: a baseline run (FP32
 * for isolate sweeps, the base for remove sweeps) and the run of the last
 * policy evaluated (engine_eval_policy, for the TUI's toggles).
 *
 * Incremental execution: evaluating a change at a set of nodes runs only their
 * descendants; everything else they read comes from a cache.  A value a cache
 * could not hold (over the memory budget, which both caches share) pulls its
 * producer into the run instead, so results never depend on the budget - only
 * the time does.  When one cache needs memory the other holds, the other is
 * dropped (it is rebuilt when next needed).
 *
 * All evaluations are paired against the FP32 logits of the same samples
 * (metrics.h) and can report a running estimate after each chunk of samples;
 * when they do, the first chunk runs in pieces of a quarter of it, so the
 * first estimate comes early.  Final figures are summed chunk by chunk in
 * sample order (the first chunk as a whole, whatever its pieces), so they are
 * bit-identical from run to run whatever the thread schedule.
 *
 * Functions here may be called from one thread at a time (the session's
 * worker); they use the runner's threads internally.  Every run polls
 * *cancel (between nodes) and fails with ERR_CANCELLED when it is set; the
 * set-up phases poll it too (between calibration slices and simulations).
 */
#ifndef QLENS_ENGINE_H
#define QLENS_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "evaluate.h"
#include "sim.h"

#define ENGINE_MAX_CANDS 8

struct actcache {
	struct tensor *val; /* per value: full [N, ...] tensor, data NULL when not held */
	size_t bytes;
	bool built;
	int sim_key;	    /* which baseline: -1 FP32, else a candidate index; -3 a policy */
};

struct engine {
	struct evaluator ev;	/* model, data, reference, calibration */
	const struct graph *g;
	int n_cands;
	/* candidates 0..n_cands-1, then the remove base when it is not one of them */
	struct precision cand[ENGINE_MAX_CANDS + 1];
	char cand_name[ENGINE_MAX_CANDS + 1][32];
	struct sim cand_sim[ENGINE_MAX_CANDS + 1]; /* candidate c on every quantizable node */
	int n_sims;		/* prepared entries of cand_sim */
	int base;		/* index of the remove base in cand_sim, -1 when none was named */
	bool *sweepable;	/* per node: quantizable and not folded */
	uint64_t *desc;		/* per node: bitset of descendants (incl. itself) */
	int desc_words;
	struct plan *ref;	/* batch-1 plan: folded values, shapes, per-sample costs */
	struct actcache cache;	/* baseline (isolate / remove sweeps) */
	struct actcache pcache; /* the last evaluated policy's run (sim_key -3 when built) */
	struct policy pcache_pol; /* the policy pcache holds */
	bool have_pcache_pol;
	struct policy last_pol;	  /* the policy evaluated last */
	bool have_last_pol;
	struct sim last_sim;	  /* what is left of its sim, for the next one (sim_prepare_from) */
	bool have_last_sim;
	size_t cache_budget;	/* bytes, shared by both caches */
	const _Atomic bool *cancel;
	/* what the last evaluation ran: nodes, and MACs over all samples (Conv, Gemm,
	 * MatMul; plan_node_cost) - for cost estimates and benches */
	int last_run_nodes;
	int64_t last_run_macs;
	size_t peak_cache_bytes; /* largest cache.bytes + pcache.bytes seen */
	char calib_label[64];	 /* activation calibrator of every candidate (calib_spec_str) */
	int64_t calib_samples;	 /* requested (0 = all); ev.cal.samples is what was used */
	bool no_prefill;
};

/* Progress of one evaluation: called after each chunk with the running estimate
 * (s is NULL for engine_local_progress, which has no single summary).  Calls
 * come from the runner's threads, one at a time.  With every_s > 0, an evaluation
 * reports its first chunk, then at most once per every_s seconds, and always its
 * last: a summary (exact intervals) costs tens of microseconds, and a caller that
 * publishes at a fixed rate need not have it computed for every chunk. */
struct eval_progress {
	void (*fn)(void *user, int64_t done, int64_t total, const struct metrics_summary *s);
	void *user;
	double every_s;
};

/* Set up from a bundle: load data, FP32 reference, calibration (calib_samples,
 * 0 = all).  Candidates are preset names with an optional granularity suffix
 * (e.g. "int8", "int8/pt", "w4a8", "fp16"); see engine_parse_candidate.
 * Equivalent to engine_setup + engine_prepare with no base and no cancel. */
enum status engine_init(struct engine *en, const struct bundle *b, const struct graph *g,
			const char *const *cands, int n_cands, int threads, int batch,
			int64_t calib_samples, size_t cache_budget, struct err *e);
void engine_fini(struct engine *en);

/* Parse "int8", "int8/pt" (per-tensor), "int8/pc" (per-channel), "w4a8/b64". */
enum status engine_parse_candidate(const char *text, struct precision *p, struct err *e);

/* --- set-up in two steps (the session's open job) ---------------------------- */
struct engine_opts {
	const char *const *cands; /* candidate texts (engine_parse_candidate) */
	int n_cands;
	const char *base;	  /* remove sweeps' base (same syntax), or NULL */
	const char *calib_method; /* activation calibrator for every candidate
				     (calib_spec_parse syntax), NULL = minmax */
	int threads, batch;
	int64_t calib_samples;	  /* first N calibration samples, 0 = all */
	size_t cache_budget;	  /* bytes */
	const _Atomic bool *cancel; /* may be NULL; borrowed for the engine's life */
	bool no_prefill;	  /* do not fill the FP32 baseline cache during the
				     reference run (it is then built when first needed) */
};

/* Phases of engine_prepare: "reference", "calibration", "simulation". */
struct engine_phase {
	void (*fn)(void *user, const char *phase, int64_t done, int64_t total);
	void *user;
};

/* Cheap part: parse candidates, load the evaluation data, plan one sample to
 * learn folded values, sweepable nodes and costs.  No model run.  On failure
 * the engine is finalized. */
enum status engine_setup(struct engine *en, const struct bundle *b, const struct graph *g,
			 const struct engine_opts *o, struct err *e);
/* Heavy part: the FP32 reference run (which also fills the FP32 baseline cache
 * unless no_prefill), calibration (in slices, merged exactly), one simulation
 * per candidate and the base.  Cancellable.  On failure the
 * engine stays set up (engine_fini still required) and may be prepared again. */
enum status engine_prepare(struct engine *en, const struct bundle *b,
			   const struct engine_phase *ph, struct err *e);
/* Calibrate again with another method / sample count (NULL / -1 keep the
 * current one) and rebuild the simulations; drops both caches. */
enum status engine_recalibrate(struct engine *en, const struct bundle *b, const char *method,
			       int64_t samples, const struct engine_phase *ph, struct err *e);
/* True once engine_prepare succeeded. */
bool engine_ready(const struct engine *en);

/* Per-sample static cost of node ni (batch-1 plan). */
void engine_node_cost(const struct engine *en, int ni, struct node_cost *c);

/* Make the activation cache hold the baseline: key -1 = FP32, else the run of
 * candidate `key` on every node.  No-op when already built for that key. */
enum status engine_cache_baseline(struct engine *en, int key, struct err *e);

/* Evaluate sim (with `active` nodes, NULL = all) where only the nodes in
 * `changed` differ from the cached baseline. */
enum status engine_eval(struct engine *en, const struct sim *sim, const bool *active,
			const bool *changed, const struct eval_progress *pr,
			struct metrics_summary *out, struct err *e);
/* The same without the cache: every node runs (the reference path). */
enum status engine_eval_full(struct engine *en, const struct sim *sim, const bool *active,
			     const struct eval_progress *pr, struct metrics_summary *out,
			     struct err *e);

/* isolate: only `node` at candidate c, everything else FP32. */
enum status engine_isolate(struct engine *en, int node, int c, const struct eval_progress *pr,
			   struct metrics_summary *out, struct err *e);
/* remove: every node at candidate `base` except `node` (kept FP32). */
enum status engine_remove(struct engine *en, int node, int base, const struct eval_progress *pr,
			  struct metrics_summary *out, struct err *e);
/* remove, also paired against the all-base run: vs_base->delta is the metric
 * recovered (remove top-1 minus all-base top-1) with its exact 95% interval
 * (vs_base->fp32_top1 is then the base's top-1).  `base` indexes cand_sim
 * (a candidate or en->base). */
enum status engine_remove_paired(struct engine *en, int node, int base,
				 const struct eval_progress *pr, struct metrics_summary *vs_fp32,
				 struct metrics_summary *vs_base, struct err *e);
/* The all-base run itself against FP32 (read from the baseline cache). */
enum status engine_base(struct engine *en, int base, const struct eval_progress *pr,
			struct metrics_summary *out, struct err *e);

/* local: for every sweepable node and candidate, the output SQNR (dB) of the
 * node when its inputs are exact FP32, in one pass over the evaluation data.
 * sqnr[node * n_cands + c]; INFINITY when exact; NAN for non-sweepable nodes. */
enum status engine_local(struct engine *en, double *sqnr, struct err *e);
/* The same with progress after each chunk (summary pointer NULL). */
enum status engine_local_progress(struct engine *en, double *sqnr, const struct eval_progress *pr,
				  struct err *e);

/* Evaluate a whole policy of en->g (borrowed).  The engine keeps the run of one
 * policy (the anchor): a policy differing from it at some nodes runs only
 * their downstream.  The anchor moves to the evaluated policy when that one
 * builds on the previous evaluation (it keeps a change from the anchor the
 * previous policy had too: the user is accumulating edits); a toggle and its
 * undo stay relative to the anchor and skip copying the run into the cache.
 * The first evaluation, and the one after a failure or cancellation while
 * the anchor moved, runs everything.  weight_bytes (may be NULL) receives the
 * policy's weight storage. */
enum status engine_eval_policy(struct engine *en, const struct policy *pol,
			       const struct eval_progress *pr, struct metrics_summary *out,
			       int64_t *weight_bytes, struct err *e);
/* Free the policy cache. */
void engine_drop_policy_cache(struct engine *en);

/* Nodes an evaluation of `changed` would run (for cost estimates and benches). */
enum status engine_run_set(struct engine *en, const bool *changed, bool *run, struct err *e);

#endif
