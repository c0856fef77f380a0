/*
 * session.h - one model under study, with a worker thread doing all the work.
 *
 * A session holds the model, its data, calibration statistics, the current
 * results and the last evaluated policy.  One worker thread runs jobs from a
 * queue: open (hash the files, load the persisted results, FP32 reference,
 * calibration), calibrate again, sweeps (local / isolate / remove) and policy
 * evaluations.  The caller - the TUI's loop or a headless command - never
 * waits on it: it polls session_notify_fd() and copies a snapshot when the
 * generation moved.
 *
 * Threads and ownership:
 *  - every function here is called from one thread (the UI); the worker is
 *    internal.  The bundle and graph passed to session_open are borrowed and
 *    must outlive the session; nothing else is shared.
 *  - submitting a job copies what it needs (selection, policy); the job's
 *    data is always freed, whether it ran, failed, was cancelled or dropped.
 *  - session_snapshot copies the published state out under the lock; the
 *    copy belongs to the caller (session_snap_fini).
 *  - the worker blocks every signal but the crash signals (SIGSEGV, SIGBUS,
 *    SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS), so the others reach the
 *    caller's thread and a crash in the worker runs the caller's handler.
 *
 * Jobs: each runs to completion, fails (snap.error), or is cancelled
 * (session_cancel: the running job stops within ~100 ms - runs poll between
 * nodes, set-up phases between slices - and queued jobs are dropped).  A
 * job that needs the model ready first finishes the open job's work if that
 * was cancelled, so a cancel never leaves the session unusable.  A policy
 * evaluation is urgent: it replaces a queued one (latest wins) and a running
 * sweep pauses for it between two evaluations and then resumes where it was.
 *
 * Results are keyed by ONNX node name and persisted (unless no_cache) after
 * every few evaluations and at the end of each job, in the result cache of
 * sweepio.h; opening the same model and data shows them at once.
 */
#ifndef QLENS_SESSION_H
#define QLENS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "metrics.h"
#include "policy.h"
#include "search.h"
#include "sweepio.h"

#define SESSION_DEFAULT_CANDS { "int8", "w4a8", "fp8e4m3", "fp16" }
#define SESSION_DEFAULT_N_CANDS 4
/* MiB for cached activations when session_opts.cache_mb is 0 */
#define SESSION_DEFAULT_CACHE_MB 2048

struct session_opts {
	const char *const *cands; /* candidate texts (engine_parse_candidate); NULL = defaults */
	int n_cands;
	const char *base;	  /* remove sweeps' base; NULL = "int8" */
	const char *calib_method; /* NULL = "minmax" */
	int64_t calib_samples;	  /* 0 = all */
	int threads;		  /* 0 = online CPUs */
	int batch;		  /* 0 = 64 */
	int64_t cache_mb;	  /* activation cache budget; 0 = SESSION_DEFAULT_CACHE_MB */
	bool no_cache;		  /* do not read or write persisted results */
	const char *cache_dir;	  /* NULL = $XDG_CACHE_HOME/qlens or ~/.cache/qlens */
	const char *version;	  /* the program's version (part of every cache key) */
	bool lazy;		  /* the open job only loads the model, data and persisted
				     results; the FP32 reference and calibration run when a
				     job first needs them (a headless sweep whose results are
				     all persisted then runs nothing) */
};

struct session;

enum session_state { SESSION_OPENING, SESSION_READY, SESSION_FAILED };

enum job_kind { JOB_NONE, JOB_OPEN, JOB_CALIBRATE, JOB_SWEEP, JOB_POLICY, JOB_AUTO };

/* Sweep kinds, combinable. */
#define SWEEP_LOCAL 1u
#define SWEEP_ISOLATE 2u
#define SWEEP_REMOVE 4u
#define SWEEP_ALL 7u

struct sweep_sel {
	unsigned kinds;		/* SWEEP_* */
	int shard_k, shard_n;	/* 0, 0 = every layer; else shard K of N (sweepio.h) */
	const bool *nodes;	/* per graph node (copied), NULL = every sweepable node */
};

struct session_progress {
	enum job_kind job;	/* running job, JOB_NONE when idle */
	uint64_t job_id;
	char what[256];		/* e.g. "isolate /layer1/conv1/Conv at int8" */
	int64_t done, total;	/* evaluations of the job */
	double fraction;	/* 0..1, weighted by each evaluation's cost */
	double elapsed_s;
	double eta_s;		/* < 0 while unknown */
	int queued;		/* jobs waiting */
	/* the current evaluation: running estimate after est_done of est_total samples */
	bool has_est;
	int64_t est_done, est_total;
	struct metrics_summary est;
};

struct session_policy {
	uint64_t submitted;	/* id of the last policy submitted (0: none) */
	uint64_t id;		/* policy the figures below belong to */
	bool running;		/* its evaluation is under way: est is a running estimate */
	bool done;		/* final holds its measured figures */
	int64_t est_done, est_total;
	struct metrics_summary est, final;
	int64_t weight_bytes;
	int run_nodes, n_nodes;	/* nodes the evaluation ran, of all */
	int64_t run_macs;	/* MACs it computed over all samples */
	double first_s, final_s; /* from submission to the first estimate / the final figures */
};

/* The automatic search job (session_submit_auto): its progress and outcome.
 * The policy and the frontier themselves are copied out with
 * session_auto_result once `done`. */
struct session_auto {
	uint64_t submitted;	/* id of the last search submitted (0: none) */
	uint64_t id;		/* the search the figures below belong to */
	bool running;		/* under way (sweeping what is missing, then searching) */
	bool searching;		/* past the sweep: evaluations below count */
	bool done;		/* finished: the result is ready (session_auto_result) */
	enum status status;	/* of the finished search; ERR_CANCELLED after a cancel */
	char what[160];		/* the step under way, e.g. "proposal at risk budget 12 of 96" */
	int evaluations;	/* measured runs so far (the sweep's not counted) */
	int max_evals;
	bool has_best;		/* a feasible quantized or FP32 policy is known */
	double best_cost;	/* by the objective: weight bytes or BitOps */
	int64_t best_weight_bytes;
	double best_bitops;
	struct metrics_summary best; /* its measured figures */
	double fp32_cost;	/* the all-FP32 policy's cost by the objective */
	int n_points;		/* measured policies (the sweep's included) */
	double elapsed_s;	/* of the search phase */
};

struct session_snap {
	uint64_t gen;		/* moves whenever anything below changes */
	enum session_state state;
	char error[ERR_MSG_MAX]; /* the last failed job's message, "" if none */
	enum status last_status; /* of the last finished job (ERR_CANCELLED after a cancel) */
	char notice[SWEEP_NOTICE_MAX]; /* e.g. a result cache that was ignored, "" if none */
	char cache_path[1024];	 /* the persisted results' file, "" without */
	struct session_progress progress;
	struct sweep_results res; /* every sweepable layer, results so far */
	struct session_policy policy;
	size_t cache_bytes, peak_cache_bytes; /* activation caches now / at most */
	uint64_t evaluations;	 /* evaluations run so far (sweep steps and policies) */
	struct session_auto search; /* the automatic search job */
};

/* Create the session and its worker and queue the open job.  Fails only on
 * bad options or resources; the open job's failure shows in the snapshot. */
enum status session_open(const struct bundle *b, const struct graph *g,
			 const struct session_opts *o, struct session **out, struct err *e);
/* Cancel everything, join the worker, free everything.  Accepts NULL. */
void session_close(struct session *s);

enum status session_submit_sweep(struct session *s, const struct sweep_sel *sel, struct err *e);
/* Calibrate again (method NULL = keep; samples < 0 = keep, 0 = all). */
enum status session_submit_calibrate(struct session *s, const char *method, int64_t samples,
				     struct err *e);
/* Evaluate a policy of the session's graph (copied); *id (may be NULL)
 * receives its id, which snap.policy.id reports once its figures arrive. */
enum status session_submit_policy(struct session *s, const struct policy *pol, uint64_t *id,
				  struct err *e);
/* Automatic mixed precision (search.h): the cheapest policy whose measured
 * top-1 drop is within o->max_drop.  The job first completes whatever
 * isolate and remove results the sweep lacks (persisted like a sweep's, so a
 * second search starts at once), then searches, measuring policies on the
 * session's engine; snap.search shows the step, the evaluations so far and the
 * best feasible cost so far.  It is cancelled like any job (session_cancel:
 * snap.search.status ERR_CANCELLED, what was measured is kept and retrievable).
 * Unlike a sweep it is not paused by a policy evaluation: a policy submitted
 * meanwhile runs after it.  *id (may be NULL) receives its id.
 * o->method SEARCH_FALLBACK runs the one-by-one fallback baseline instead. */
enum status session_submit_auto(struct session *s, const struct search_opts *o, uint64_t *id,
				struct err *e);

/* One point of the measured frontier of (cost, top-1). */
struct session_auto_point {
	double cost;
	int64_t weight_bytes;
	double bitops;
	struct metrics_summary m;
	bool feasible, from_sweep;
	bool frontier;		/* not dominated in (cost, top-1) */
	int eval_no;		/* 1.. in order of evaluation; 0 measured by the sweep */
	struct policy pol;
};

/* The outcome of the last finished search (a copy the caller owns). */
struct session_auto_result {
	uint64_t id;
	struct search_opts opts;
	enum status status;	/* OK, or ERR_CANCELLED: best so far */
	struct policy pol;	/* the cheapest feasible policy measured (all-FP32 when none) */
	struct metrics_summary m; /* its measured figures against FP32 */
	double cost, fp32_cost;	/* by the objective */
	int64_t weight_bytes, fp32_weight_bytes;
	double bitops, fp32_bitops;
	int evaluations;	/* measured runs (the sweep's not counted) */
	double seconds;		/* wall time of the search (the sweep's not counted) */
	double allowed;		/* the drop allowed, fraction */
	char stop[128];		/* why it stopped */
	char summary[256];	/* precisions used, e.g. "int8 12, w4a8 3, fp32 1" */
	int n_frontier;
	struct session_auto_point *frontier; /* cost ascending */
	int n_points;
	struct session_auto_point *points; /* every policy measured (the sweep's free ones
					      included), in order of measurement */
};

/* Copy the last finished search's outcome (ERR_INVALID when there is none).
 * out is initialized here; free with session_auto_result_fini. */
enum status session_auto_result(struct session *s, struct session_auto_result *out,
				struct err *e);
void session_auto_result_fini(struct session_auto_result *r);
/* Write the last search's result: the policy file (policyfile.h: precisions,
 * parameters, the measured evaluation, cost, hashes), and / or the frontier as
 * CSV or JSON by the file's extension (.csv, .json).  Either path may be NULL.
 * Atomic writes; nothing is written when the search has no result. */
enum status session_auto_save(struct session *s, const char *policy_path,
			      const char *frontier_path, struct err *e);

/* Stop the running job and drop the queued ones. */
void session_cancel(struct session *s);

/* Readable when the published state changed; drain with session_ack. */
int session_notify_fd(const struct session *s);
void session_ack(struct session *s);
uint64_t session_generation(struct session *s);
void session_snapshot(struct session *s, struct session_snap *out);
void session_snap_fini(struct session_snap *snap);
/* No job running or queued. */
bool session_idle(struct session *s);
/* Block until idle or timeout_ms passed (< 0: forever); true when idle.  For
 * headless callers and tests - a UI polls the fd instead. */
bool session_wait_idle(struct session *s, int timeout_ms);

#endif
