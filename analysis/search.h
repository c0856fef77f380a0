/*
 * search.h - automatic mixed precision under an accuracy budget, the Pareto
 * frontier of what was measured, and the one-by-one fallback baseline.
 *
 * The problem.  Every sweepable node runs at one of the sweep's candidates or
 * FP32.  Find the cheapest policy (weight bytes, or BitOps) whose *measured*
 * top-1 drop against FP32 stays within a budget.  Measuring a policy is a full
 * run over the evaluation set (an "evaluation"); the sweep's results are the
 * only other information.
 *
 * The proposals.  Costs are additive over nodes (explore_policy_cost), so
 * each node and option has an exact cost.  Its risk is the noise power it puts
 * on the logits when it alone is quantized, 10^(-SQNR/10) from its isolate
 * run: independent noise adds in power, so risks add far better than top-1
 * deltas do (those are whole samples, mostly within noise, and blind to
 * errors that flip samples both ways).  A multiple-choice knapsack over the
 * nodes (dynamic programming on the summed risk, in MAX_UNITS steps) gives,
 * for every risk budget r, the cheapest assignment P(r) whose summed risk is
 * at most r: one family of proposals, from all-FP32 (r = 0) to the cheapest
 * assignment.
 *
 * The checks.  The summed risk is not the drop, so the search measures
 * proposals and bisects on r: the largest r measured feasible (lo) and the
 * smallest measured infeasible (hi) bracket the answer; inside a bracket the
 * next r is the geometric mean (risks span decades), outside it r doubles or
 * quarters.  The first r comes from what the sweep measured for free: the
 * all-base run (every node at the base) and the remove runs (all base but one
 * node at FP32) are complete policies with measured figures.  If the
 * all-base run is feasible, the first r is its own summed risk (P(r) then
 * costs at most as much, by construction); otherwise r shrinks with budget /
 * drop.  It stops when no proposal left in the bracket could be cheaper than
 * the best feasible policy by SEARCH_MIN_GAIN, when the bracket closes, at
 * max_evals, or when cancelled.  Proposals already measured (or known from
 * the sweep) are not measured again, nor are proposals that would not beat
 * the best feasible policy.  The answer is the cheapest feasible policy
 * measured (ties: the higher top-1), all-FP32 (exact, free) when none is.
 *
 * Feasible: drop = FP32 top-1 - top-1 <= allowed, with allowed = max_drop / 100
 * (absolute, points) or max_drop x FP32 top-1 (relative, a fraction); with
 * `confidence` the upper end of the drop's 95% interval (-ci_lo) must be.
 *
 * The fallback (Neural Compressor / NNCF): start at all-base, and while the
 * drop exceeds the budget revert the most damaging node still quantized to
 * FP32 and measure again.  "Most damaging" ranks nodes by the same sweep:
 * the top-1 their remove run recovered, then their isolate loss at the base.
 *
 * Counting: a policy the sweep already measured costs no evaluation, for
 * either method (the same sweep serves both); every other measured policy
 * costs one.
 *
 * Threads: nothing here has threads of its own; the callbacks are called from
 * the caller's thread.  Ownership: a struct search_space and a struct
 * search_result own everything they point to (their _fini functions).
 */
#ifndef QLENS_SEARCH_H
#define QLENS_SEARCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "explore.h"
#include "metrics.h"
#include "modelinfo.h"
#include "policy.h"
#include "sweepio.h"

#define SEARCH_MAX_OPTS (SWEEP_MAX_CANDS + 1)
#define SEARCH_DEFAULT_MAX_EVALS 12
#define SEARCH_MIN_GAIN 0.005 /* relative cost: smaller improvements are not worth an evaluation */

enum search_objective { SEARCH_SIZE, SEARCH_BITOPS };
enum search_drop { SEARCH_ABSOLUTE, SEARCH_RELATIVE };
enum search_method { SEARCH_KNAPSACK, SEARCH_FALLBACK };

struct search_opts {
	double max_drop;	/* absolute: top-1 points (0.5 = half a point); relative: a
				   fraction of the FP32 top-1 (0.01 = 1%) */
	enum search_drop drop_type;
	enum search_objective objective;
	bool confidence;	/* the 95% interval's upper end of the drop must be within */
	int max_evals;		/* 0 = SEARCH_DEFAULT_MAX_EVALS; -1 = none (only the sweep's
				   measurements); knapsack only, the fallback runs to the end */
	enum search_method method;
};

/* Check the options; one message naming the bad one. */
enum status search_opts_check(const struct search_opts *o, struct err *e);
/* Parse "size" / "bitops" and "absolute" / "relative". */
enum status search_parse_objective(const char *text, enum search_objective *out, struct err *e);
enum status search_parse_drop_type(const char *text, enum search_drop *out, struct err *e);

/* What a search works on: the sweepable nodes, their options (the sweep's
 * candidates, then FP32 last), costs and risks, and the policies the sweep
 * measured. */
struct search_space {
	const struct graph *g;	/* borrowed */
	int n_rows;		/* sweepable nodes */
	int *node;		/* graph node of each row */
	const char **name;	/* ONNX node names (borrowed from g) */
	int n_opts;		/* candidates + 1 (FP32) */
	struct precision opt[SEARCH_MAX_OPTS];
	char opt_name[SEARCH_MAX_OPTS][32];
	int base_opt;		/* the option equal to the sweep's base, or -1 */
	bool *avail;		/* [row * n_opts + k]: isolate result known (FP32 always) */
	double *risk;		/* [row * n_opts + k]: logit noise / signal power, isolated */
	double *wbytes, *bitops; /* [row * n_opts + k]: change against all-FP32 */
	double *rank;		/* per row: fallback rank key (bigger = more damaging) */
	struct explore_cost fp32; /* the all-FP32 policy's cost */
	int64_t samples;
	double fp32_top1;
	/* measured by the sweep: the FP32 reference (free[0]), all-base
	 * (free[base_free], -1 when unknown) and the remove rows */
	int n_free, base_free;
	int **free_choice;
	struct metrics_summary *free_m;
};

/* Build the space from a sweep of graph g (rows matched by node name; every
 * row needs its isolate cells, the remove rows are optional), the model's
 * facts (costs) and the precisions the sweep's candidates stand for (in the
 * sweep's order).  Fails with a message when the sweep lacks isolate results
 * or the FP32 top-1. */
enum status search_space_build(struct search_space *sp, const struct graph *g,
			       const struct model_info *mi, const struct sweep_results *res,
			       const struct precision *cands, struct err *e);
void search_space_fini(struct search_space *sp);

/* The policy of an assignment (option per row); pol is initialized here. */
enum status search_policy(const struct search_space *sp, const int *choice, struct policy *pol,
			  struct err *e);

/* One measured policy. */
struct search_point {
	int *choice;		/* option per row */
	struct metrics_summary m;
	int64_t wbytes;
	double bitops;
	double cost;		/* by the objective */
	bool feasible;
	bool from_sweep;	/* measured by the sweep, no evaluation spent */
	bool frontier;		/* not dominated in (cost, top-1) */
	int eval_no;		/* 1.. in order of evaluation; 0 from the sweep */
};

struct search_result {
	int n_rows;
	bool found;		/* a feasible policy was measured (else best is all-FP32, unmeasured) */
	int best;		/* index into points, -1 when not found */
	int *best_choice;	/* option per row of the result */
	int evaluations;	/* measured runs spent (not counting the sweep's) */
	double seconds;		/* wall time of the search */
	double allowed;		/* the drop allowed, as a fraction */
	int n_points;
	struct search_point *points; /* in order of measurement, free ones first */
	char stop[128];		/* why it stopped */
};

void search_result_init(struct search_result *r);
void search_result_fini(struct search_result *r);

/* Measure a policy: full run over the evaluation set, paired against FP32. */
struct search_eval {
	enum status (*fn)(void *user, const struct policy *pol, struct metrics_summary *out,
			  struct err *e);
	void *user;
};

/* Called before (starting) and after every measurement, and once with the
 * sweep's measurements before the first; `what` names the policy measured. */
struct search_progress {
	void (*fn)(void *user, const struct search_result *r, const char *what, bool starting);
	void *user;
};

/* Run the method of o.  cancel (may be NULL) is polled between evaluations; a
 * cancelled search fails with ERR_CANCELLED and keeps what it measured in r.
 * r is initialized here. */
enum status search_run(const struct search_space *sp, const struct search_opts *o,
		       const struct search_eval *ev, const struct search_progress *pr,
		       const _Atomic bool *cancel, struct search_result *r, struct err *e);

/* Cost of a point by objective, and the frontier flag of every point.  */
void search_mark_frontier(struct search_result *r);

/* The frontier (cost ascending) as CSV (header line first) or JSON text
 * (malloc'ed; NULL on out of memory).  bundle labels the JSON. */
char *search_frontier_csv(const struct search_space *sp, const struct search_result *r,
			  enum search_objective obj);
char *search_frontier_json(const struct search_space *sp, const struct search_result *r,
			   enum search_objective obj, const char *bundle);

/* Count per option of an assignment, e.g. "int8 12, w4a8 3, fp32 1". */
void search_choice_summary(const struct search_space *sp, const int *choice, char *buf,
			   size_t size);

#endif
