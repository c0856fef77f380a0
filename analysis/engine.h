/*
 * engine.h - the sensitivity engine's evaluations, without threads of its own.
 *
 * An engine holds a model with its evaluation data, FP32 reference logits and
 * calibration statistics, one prepared simulation per candidate precision
 * (each candidate applied to every node), and a cache of activations of a
 * baseline run (FP32 for isolate sweeps, the base policy for remove sweeps).
 *
 * Incremental execution: evaluating a change at a set of nodes runs only their
 * descendants; everything else they read comes from the cache.  A value the
 * cache could not hold (over its memory budget) pulls its producer into the
 * run instead, so results never depend on the budget - only the time does.
 *
 * All evaluations are paired against the FP32 logits of the same samples
 * (metrics.h) and can report a running estimate after each chunk of samples.
 * Functions here may be called from one thread at a time (the session's
 * worker); they use the runner's threads internally.
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
	int sim_key;	    /* which baseline: -1 FP32, else a candidate index */
};

struct engine {
	struct evaluator ev;	/* model, data, reference, calibration */
	const struct graph *g;
	int n_cands;
	struct precision cand[ENGINE_MAX_CANDS];
	char cand_name[ENGINE_MAX_CANDS][32];
	struct sim cand_sim[ENGINE_MAX_CANDS]; /* candidate c on every quantizable node */
	bool *sweepable;	/* per node: quantizable and not folded */
	uint64_t *desc;		/* per node: bitset of descendants (incl. itself) */
	int desc_words;
	struct actcache cache;
	size_t cache_budget;
	const _Atomic bool *cancel;
};

/* Progress of one evaluation: called after each chunk with the running estimate. */
struct eval_progress {
	void (*fn)(void *user, int64_t done, int64_t total, const struct metrics_summary *s);
	void *user;
};

/* Set up from a bundle: load data, FP32 reference, calibration (calib_samples,
 * 0 = all).  Candidates are preset names with an optional granularity suffix
 * (e.g. "int8", "int8/pt", "w4a8", "fp16"); see engine_parse_candidate. */
enum status engine_init(struct engine *en, const struct bundle *b, const struct graph *g,
			const char *const *cands, int n_cands, int threads, int batch,
			int64_t calib_samples, size_t cache_budget, struct err *e);
void engine_fini(struct engine *en);

/* Parse "int8", "int8/pt" (per-tensor), "int8/pc" (per-channel), "w4a8/b64". */
enum status engine_parse_candidate(const char *text, struct precision *p, struct err *e);

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
/* local: for every sweepable node and candidate, the output SQNR (dB) of the
 * node when its inputs are exact FP32, in one pass over the evaluation data.
 * sqnr[node * n_cands + c]; INFINITY when exact; NAN for non-sweepable nodes. */
enum status engine_local(struct engine *en, double *sqnr, struct err *e);

/* Nodes an evaluation of `changed` would run (for cost estimates and benches). */
enum status engine_run_set(struct engine *en, const bool *changed, bool *run, struct err *e);

#endif
