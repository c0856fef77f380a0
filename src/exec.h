/*
 * exec.h - planning and running a graph in FP32.
 *
 * A plan binds a finalized graph to concrete input shapes (one batch size):
 * it folds everything computable from constants (Shape chains, Constant
 * nodes, weight reshapes) at plan time, runs each remaining node's prepare()
 * to infer shapes and scratch sizes, and lays every activation into one arena
 * with a liveness-based memory plan: a value's storage is reused once its last
 * consumer has run.  Graph outputs (and values marked with plan_opts.keep)
 * are never reused.
 *
 * A plan is single-threaded: one thread runs it at a time.  A runner holds one
 * plan per worker thread and splits a large input along its leading (batch)
 * dimension into chunks of `batch` samples, running chunks in parallel with
 * single-threaded BLAS in each worker; with one thread it uses OpenBLAS'
 * own threads instead.
 *
 * Hooks (for calibration and simulated quantization, analysis/): after a node
 * has run, `after_node` may read or modify its outputs in place; `override`
 * substitutes the tensor used for a value (e.g. a fake-quantized weight).
 *
 * Plain FP32 runs (no hooks) may use fused plans (plan_opts.fuse), where a Conv
 * also does the work of the normalization, residual Add and activation after it.
 */
#ifndef QLENS_EXEC_H
#define QLENS_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"
#include "status.h"
#include "tensor.h"

struct plan;

struct plan_hooks {
	/* Called before node `node_index` runs.  `use` starts as a copy of the
	 * node's inputs; the hook may point entries at substitutes it owns (a
	 * fake-quantized weight, a quantized copy of an activation) of the same
	 * dtype and shape.  A non-OK return aborts the run. */
	enum status (*before_node)(void *user, const struct plan *p, int node_index,
				   const struct tensor **use, int n_inputs);
	/* Called after node `node_index` ran; outputs writable in place.  A non-OK
	 * return aborts the run with that status. */
	enum status (*after_node)(void *user, const struct plan *p, int node_index,
				  struct tensor *const *outputs, int n_outputs);
	void *user;
};

struct plan_opts {
	const bool *keep; /* optional, n_values flags: keep these values alive after the run */
	/* optional, one per graph input: a non-NULL entry makes that input a
	 * constant with this data (it must match in_shapes), so shapes computed
	 * from it are known at plan time.  plan_run then ignores that input. */
	const struct tensor *const *const_inputs;
	/* Merge nodes for speed: a Conv absorbs the BatchNormalization (folded into its
	 * weights), the residual Add and the Relu / Clip / LeakyRelu that follow it (see
	 * fuse.h).  Results match the unfused plan to float rounding.  Merged nodes do not
	 * run, so the values between them have no data (plan_value's data is NULL); graph
	 * outputs and kept values are never merged away.  A fused plan must be run whole:
	 * plan_run_subset refuses hooks, subsets and bindings, plan_rerun_node refuses
	 * every node.  Runners use fused plans for runs without hooks, subsets or bindings.
	 * Without fuse nothing is merged, but with AVX-512 a MatMul by a constant 2-D
	 * matrix still runs on the Linear kernel of fused plans (exec.c,
	 * plan_linear_steps): same node, same inputs and outputs, other rounding. */
	bool fuse;
};

/* in_shapes[i] is the concrete shape of g->inputs[i]. */
enum status plan_new(const struct graph *g, const struct shape *in_shapes,
		     const struct plan_opts *opts, struct plan **out, struct err *e);
void plan_free(struct plan *p); /* accepts NULL */

/* Run the whole graph.  inputs[i] feeds g->inputs[i] and must match the planned
 * shape and dtype (float32 inputs; others as declared).  Outputs are then read
 * with plan_value(). */
enum status plan_run(struct plan *p, const struct tensor *inputs, const struct plan_hooks *hooks,
		     struct err *e);

/* Partial runs (incremental re-evaluation): only nodes with run[node] set are
 * executed; every value a running node reads that no running node produces must
 * be bound to caller storage of the planned shape (bound[value] non-NULL).
 * Graph outputs not produced by a running node must be bound too.  NULL
 * run means all nodes; NULL bound means none. */
enum status plan_run_subset(struct plan *p, const struct tensor *inputs,
			    const struct plan_hooks *hooks, const bool *run,
			    const struct tensor *const *bound, const _Atomic bool *cancel,
			    struct err *e);
/* First row (sample index) of the chunk a runner is running on this plan. */
int64_t plan_row0(const struct plan *p);

/* The tensor of a value after planning/running: constants and folded values
 * always; activations only while alive (graph outputs and kept values after a
 * run).  Shape and dtype are always valid after plan_new.  NULL if out of range. */
const struct tensor *plan_value(const struct plan *p, int value);
/* True when the value was folded to a constant at plan time. */
bool plan_value_is_const(const struct plan *p, int value);
/* Bytes of the activation arena (the memory plan's peak). */
size_t plan_arena_bytes(const struct plan *p);
const struct graph *plan_graph(const struct plan *p);

/* Per-node static costs for the planned shapes (batch included). */
struct node_cost {
	int64_t params; /* elements of constant inputs that are weights or biases */
	int64_t macs;	/* multiply-accumulates */
};
void plan_node_cost(const struct plan *p, int node_index, struct node_cost *c);

/* --- runner: many samples, many threads ------------------------------- */
struct runner;

/* n_threads >= 1; batch >= 1 samples per chunk.  Worker w (0 <= w < n_threads)
 * always runs on its own plans, so per-worker hook state needs no locking. */
enum status runner_new(const struct graph *g, int n_threads, int batch, struct runner **out,
		       struct err *e);
void runner_free(struct runner *r);

/* inputs[i] feeds g->inputs[i]; all inputs share the leading dimension N.
 * outputs[j] (caller storage, n = g->n_outputs) receive owned tensors whose
 * leading dimension is N.  Runs without hooks, subsets or bindings use fused
 * plans (plan_opts.fuse); their outputs match unfused runs to float rounding. */
enum status runner_run(struct runner *r, const struct tensor *inputs, struct tensor *outputs,
		       struct err *e);
/* Same, with hooks[w] used by worker w (an array of n_threads entries). */
enum status runner_run_hooked(struct runner *r, const struct tensor *inputs,
			      struct tensor *outputs, const struct plan_hooks *hooks,
			      struct err *e);
int runner_threads(const struct runner *r);

/* Everything a run can be asked for besides inputs and outputs. */
struct run_opts {
	const struct plan_hooks *hooks;	   /* per worker (n_threads entries), or NULL */
	const bool *run;		   /* nodes to execute (partial run), or NULL = all */
	const struct tensor *const *bound; /* per value: full tensors (leading dim N)
					      supplying what running nodes read but do
					      not compute; sliced per chunk.  Or NULL. */
	/* Called by a worker after it stored rows [row0, row0 + rows) of every
	 * output; calls may come from several threads at once. */
	void (*chunk_done)(void *user, int64_t row0, int64_t rows, const struct tensor *outputs);
	void *user;
	/* Polled between nodes: when set, the run stops with ERR_CANCELLED. */
	const _Atomic bool *cancel;
	/* When > 0 and smaller than the first chunk: the first chunk (rows [0, batch))
	 * runs as pieces of head_rows rows, each reported by chunk_done, so that the
	 * first report comes sooner.  The other chunks are unchanged.  Ignored by runs
	 * that use fused plans. */
	int head_rows;
};
enum status runner_exec(struct runner *r, const struct tensor *inputs, struct tensor *outputs,
			const struct run_opts *o, struct err *e);

/* Run node `node_index` of a planned graph once more on other inputs, writing
 * into `outputs` (tensors of the planned shapes, caller storage).  For
 * measuring a node in isolation from inside a hook: uses the plan's scratch,
 * so call it only between steps (i.e. from a hook). */
enum status plan_rerun_node(struct plan *p, int node_index, const struct tensor *const *inputs,
			    struct tensor *const *outputs, struct err *e);

/* Set the process-wide BLAS thread count (wraps openblas_set_num_threads). */
void exec_set_blas_threads(int n);

#endif
