/*
 * policyfile.h - mixed-precision policies as versioned JSON files.
 *
 * A policy file ("format": "qlens-policy", "version": 1; docs/policy.md and
 * docs/policy.schema.json) carries everything needed to reproduce, audit and
 * deploy a policy:
 *   model        file name, sha256, IR version, opsets, producer
 *   defaults     the default precision
 *   nodes        per ONNX node name: an explicit precision (an override) and
 *                the tensors the node covers with their resulting parameters
 *                (activation scale / zero point / calibrated range, weight
 *                scales and zero points per tensor, channel or block, int32
 *                bias scales)
 *   calibration  data file, its sha256, sample count, method
 *   evaluation   data and labels with sha256, metric, FP32 value, quantized
 *                value, paired delta with its 95% interval, agreement, ...
 *   cost         weight bytes against FP32, BitOps (sum of MACs x weight bits
 *                x activation bits), effective bits per weight
 *   toolchain    qlens version, simulation semantics, BLAS, protobuf-c, ONNX
 *                schema and cJSON versions
 *
 * The precisions (defaults + overrides) are the policy; everything else is a
 * record of what qlens computed with it.  Loading is strict and checks the
 * file against the model: unknown keys, formats, granularities, calibrators
 * and node names, non-quantizable nodes given a precision, or tensors the
 * model does not have are errors that name the JSON path.  A model whose
 * sha256 differs from the recorded one is not an error: the caller gets a
 * flag and decides (qlens warns and asks for --accept-model-change).
 * Saving a loaded document gives the same text (qlens writes numbers so that
 * they read back exactly); saves are atomic (file_write_atomic).
 *
 * Thread-safety: a document is plain data owned by its caller.
 */
#ifndef QLENS_POLICYFILE_H
#define QLENS_POLICYFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "policy.h"
#include "sim.h"

#define POLICY_FILE_FORMAT "qlens-policy"
#define POLICY_FILE_VERSION 1
/* What a policy's numbers mean; bump when sim.c's semantics change. */
#define POLICY_SIM_SEMANTICS                                                                    \
	"qlens-sim/4: ONNX Runtime QDQ placement (inputs and outputs of quantized nodes, "      \
	"per-tensor activations, weights symmetric per tensor/channel/block), int32 bias with " \
	"scale s_in*s_w, uint8/int8 Softmax outputs at ONNX Runtime's fixed 1/256 (1/127 "     \
	"symmetric int8), ONNX QuantizeLinear rounding (half to even, saturating), FP32 compute"

struct pf_act { /* one quantized activation tensor */
	char *name;
	enum qfmt fmt;
	bool has_params; /* integer and fp8 formats; fp16/bf16 have none */
	float scale;
	int32_t zero_point;
	bool has_range;
	float rmin, rmax; /* calibrated range the parameters came from */
};

struct pf_weight {
	char *name;
	enum qfmt fmt;
	enum qgran gran; /* effective granularity (after fall-backs) */
	int axis, block;
	int n; /* parameter sets; 0 for fp16/bf16 */
	float *scales;
	int32_t *zero_points;
};

struct pf_bias { /* int32 bias: zero points are 0 */
	char *name;
	int n;
	float *scales;
};

struct pf_node {
	char *name;
	char *op_type;
	int index;		/* node index in the graph */
	bool override;		/* the policy sets this node's precision */
	struct precision prec;	/* valid when override */
	bool has_tensors;
	int n_inputs, n_outputs;
	struct pf_act *inputs, *outputs;
	bool has_weight, has_bias;
	struct pf_weight weight;
	struct pf_bias bias;
};

struct pf_opset {
	char *domain; /* "ai.onnx" for the default domain */
	int64_t version;
};

struct policy_doc {
	/* model identity (has_model false: the file names no model) */
	bool has_model;
	char *model_file, *model_sha256, *model_producer;
	int64_t ir_version;
	int n_opsets;
	struct pf_opset *opsets;

	struct precision defaults;
	int n_nodes;
	struct pf_node *nodes; /* graph order */

	bool has_calib;
	char *calib_data, *calib_sha256, *calib_method;
	int64_t calib_samples; /* 0 = all */

	bool has_eval;
	char *eval_data, *eval_sha256, *labels_data, *labels_sha256, *metric;
	struct metrics_summary eval; /* fp32_top1 = reference, top1 = quantized */

	bool has_cost;
	double weight_bytes, fp32_weight_bytes, params, macs, bitops, fp32_bitops;
	double effective_bits, storage_bits;

	bool has_toolchain;
	char *qlens_version, *simulation, *blas, *protobuf_c, *onnx_schema, *cjson;
};

void policy_doc_init(struct policy_doc *d);
void policy_doc_fini(struct policy_doc *d);

/* What the caller knows that the simulation does not; any field may be NULL / 0. */
struct policy_doc_source {
	const char *model_file, *model_sha256;
	const char *calib_data, *calib_sha256;
	int64_t calib_samples;
	const struct metrics_summary *eval; /* NULL: no evaluation section */
	const char *eval_data, *eval_sha256, *labels_data, *labels_sha256, *metric;
	const char *qlens_version;
};

/* A complete document for the policy simulated by s (its policy, parameters,
 * cost) plus what src gives.  The tool chain is filled from the libraries. */
enum status policy_doc_build(struct policy_doc *d, const struct sim *s,
			     const struct policy_doc_source *src, struct err *e);

/* Parse and validate `text` (len bytes) against graph g.  label names the
 * source in errors.  model_sha256 (may be NULL) is compared with the recorded
 * hash: *model_changed is set when they differ.  d is initialized here. */
enum status policy_doc_parse(const char *text, size_t len, const char *label,
			     const struct graph *g, const char *model_sha256, struct policy_doc *d,
			     bool *model_changed, struct err *e);
enum status policy_doc_load(const char *path, const struct graph *g, const char *model_sha256,
			    struct policy_doc *d, bool *model_changed, struct err *e);

/* JSON text (malloc'ed) and atomic save. */
char *policy_doc_json(const struct policy_doc *d);
enum status policy_doc_save(const struct policy_doc *d, const char *path, struct err *e);

/* The struct policy the document describes, for graph g (pol is initialized here). */
enum status policy_doc_policy(const struct policy_doc *d, const struct graph *g,
			      struct policy *pol, struct err *e);

/* Compare the recorded parameters with a simulation of the same policy:
 * returns the number of tensors whose recorded format or parameters differ,
 * and describes the first in msg.  Scales match within a relative
 * POLICY_SCALE_RTOL and zero points within one step: recalibrating on the same
 * data with another thread count or batch size moves observed ranges in the
 * last bits (the FP32 engine's summation order changes). */
#define POLICY_SCALE_RTOL 1e-5f
int policy_doc_compare(const struct policy_doc *d, const struct sim *s, char *msg, size_t size);

/* SHA-256 of a file as lower-case hex into hex[65]. */
enum status policy_file_sha256(const char *path, char hex[65], struct err *e);

#endif
