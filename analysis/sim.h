/*
 * sim.h - calibration and simulated execution of a model under a policy.
 *
 * Calibration runs the model in FP32 over the calibration set once and keeps,
 * for every float tensor that a quantizable node reads or writes, streaming
 * statistics (calib.h).  Any calibrator can then be applied without another
 * model run.
 *
 * Simulation runs the FP32 engine with hooks (exec.h) that apply fake-quant
 * where ONNX Runtime's QDQ format puts QuantizeLinear/DequantizeLinear:
 *  - weights of a quantized node: replaced by their fake-quantized copy,
 *    computed once per (node, precision) when the sim is prepared;
 *  - bias of a quantized Conv/Gemm with scaled weights and activations
 *    (integer or fp8, not fp16/bf16): int32 with scale s_input * s_weight
 *    (per channel when the weight is), as ONNX Runtime makes it;
 *  - activations: every float input of a quantized node is quantized with
 *    that node's activation format and the tensor's calibrated parameters
 *    (on a private copy, so other readers see their own view - in place when
 *    the caller says no other reader exists, sim_hooks_inplace), and every
 *    float output of a quantized node is quantized in place (the shared
 *    Q/DQ pair on the producer's side).  Re-quantizing a value that its
 *    producer already quantized with the same format and parameters is
 *    skipped: it would change nothing.  So is re-quantizing a value that
 *    only data-movement nodes (Reshape, Transpose, Flatten, Squeeze,
 *    Unsqueeze, Identity) separate from such a producer: the values are
 *    the producer's, rearranged, and fake-quant with the same format and
 *    parameters gives back exactly what it is given a second time (see
 *    in_src in sim_prepare).
 * Activations use per-tensor parameters (as ONNX Runtime does).  The output
 * of a Softmax node quantized to uint8 or int8 (by whichever node quantizes
 * it) is not calibrated: it gets ONNX Runtime's fixed parameters, scale 1/256
 * (1/127 for symmetric int8) over [0, 1] (calib_softmax_params).
 *
 * Thread-safety: a prepared sim is read-only during runs; each runner worker
 * gets its own hook state (scratch copies).
 */
#ifndef QLENS_SIM_H
#define QLENS_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "calib.h"
#include "exec.h"
#include "policy.h"

/*
 * Revision of what a simulation computes from given settings, model and
 * calibration data.  Bump it with every change that makes the same inputs
 * give other figures: persisted results (the sweep cache's keys, sweepio.h)
 * carry it, so results computed under an older revision are not reused.
 * Policy files record the same revision as text (POLICY_SIM_SEMANTICS,
 * policyfile.h, "qlens-sim/N"): bump both together.
 *   1  the first semantics (no revision in the keys)
 *   2  Softmax outputs in uint8/int8 take fixed parameters
 *   3  plain runs go through each chunk in sub-batches, and a MatMul by a constant
 *      matrix uses the Linear kernel (exec.c): the same figures to float rounding
 *   4  plain runs' sub-batches fit 1 MiB instead of 4 (RUNNER_PLAIN_BYTES): the same
 *      figures to float rounding
 */
#define SIM_SEMANTICS 4

struct calib_data {
	const struct graph *g;
	int64_t samples;
	struct calib_stats **stats; /* per value; NULL where nothing was collected */
};

/* One FP32 pass over `data` (leading dim = samples) feeding graph input
 * `input_index`.  Only single-input models are supported. */
enum status calib_collect(const struct graph *g, const struct tensor *data, int threads,
			  int batch, struct calib_data *out, struct err *e);
void calib_data_fini(struct calib_data *c);

/* Per-node simulation state (internal layout, exposed for the detail views). */
struct sim_node {
	bool quant;		 /* runs at a non-fp32 precision */
	struct precision prec;
	int weight_input;	 /* input index of the quantized weight, -1 if none */
	int bias_input;		 /* input index of the quantized bias, -1 if none */
	struct tensor wq;	 /* fake-quantized weight (owned) */
	struct tensor bq;	 /* fake-quantized bias (owned) */
	int n_wparams;
	struct qparams *wparams; /* weight parameters (per tensor, channel or block) */
	int waxis;		 /* channel / block axis of the weight */
};

struct act_q {		/* how one activation value is quantized */
	enum qfmt fmt;	/* QF_FP32 = not quantized */
	struct qparams p;
};

struct sim {
	const struct graph *g;
	const struct calib_data *cal;
	struct policy pol;
	struct plan *ref;	 /* batch-1 plan: resolves folded constants */
	struct sim_node *nodes;	 /* per node */
	struct act_q *out_q;	 /* per value: quantization applied by its producer */
	struct act_q *in_q;	 /* per (node, input) edge: offset in_q_base[node] + k */
	int *in_q_base;
	int *in_src;		 /* per edge: the node whose output Q/DQ already gave the edge
				  * exactly its values (in_q), directly or through data-movement
				  * nodes, when that node's quantization is active; -1 if none */
	int64_t weight_bytes;	 /* storage of all weights under the policy */
	int64_t fp32_weight_bytes;
};

/* Prepare a simulation of policy `pol` (copied).  cal may be NULL only when
 * the policy quantizes no activations. */
enum status sim_prepare(struct sim *s, const struct graph *g, const struct calib_data *cal,
			const struct policy *pol, struct err *e);
/* The same, taking from prev (a sim prepared over the same graph and calibration data,
 * or NULL) the prepared state of every node whose precision is unchanged, instead of
 * quantizing its weights again: prev is left valid for sim_fini only.  The result is the
 * same as sim_prepare's, bit for bit. */
enum status sim_prepare_from(struct sim *s, const struct graph *g, const struct calib_data *cal,
			     const struct policy *pol, struct sim *prev, struct err *e);
void sim_fini(struct sim *s);

/* Per-worker hook state for runner_exec: an array of `n` hooks.  `active`
 * (per node, or NULL = all) limits which nodes' quantization applies, so one
 * prepared sim serves "only node k" and "all but node k" runs.  `next`
 * (per worker, or NULL) are hooks chained after the sim's own. */
struct sim_hooks;
enum status sim_hooks_new(const struct sim *s, int n, const bool *active,
			  const struct plan_hooks *next, struct sim_hooks **out,
			  struct plan_hooks **hooks, struct err *e);
void sim_hooks_free(struct sim_hooks *h);
/* Values (per value, borrowed; NULL = none) whose input fake-quant may write into the
 * value itself instead of a private copy: the caller promises that each is computed by the
 * run (never caller, cache or graph-input storage) and read by one node input only, so no
 * other reader can see the change. */
void sim_hooks_inplace(struct sim_hooks *h, const bool *inplace);

/* Run the model under the sim over `inputs` (leading dim = samples);
 * outputs[k] receive owned tensors. */
enum status sim_run(const struct sim *s, struct runner *r, const struct tensor *inputs,
		    struct tensor *outputs, struct err *e);

/* Weight and activation parameters of a value / node edge, for views. */
const struct act_q *sim_value_q(const struct sim *s, int value);

#endif
