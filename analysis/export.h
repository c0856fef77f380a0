/*
 * export.h - what real runtimes run, built from a prepared simulation.
 *
 * The simulation (sim.h) is the reference semantics; every exporter reads a
 * prepared struct sim and writes down exactly what it simulates, so that a
 * runtime executing the export computes what qlens measured:
 *
 *  - QDQ model (export_qdq_plan + onnx_save_edited): the edit list that turns
 *    the original model into ONNX Runtime's QDQ format.  For every float
 *    output of a quantized node, a QuantizeLinear -> DequantizeLinear pair
 *    (one per tensor, shared by all readers; a graph output keeps its name);
 *    for every float input edge the simulation re-quantizes (its producer did
 *    not, or did with other parameters), a pair before that node, shared by
 *    the consumers that use the same parameters; weights become quantized
 *    initializers followed by DequantizeLinear (axis for per-channel,
 *    axis + block_size for per-block); Conv/Gemm biases become int32
 *    initializers with scale s_input * s_weight; fp16 / bf16 become Cast
 *    pairs (and weights stored in that type followed by a Cast to float).
 *    The opset is raised to what the formats need (13 for 8-bit, 19 for
 *    fp8, 21 for 4- and 16-bit integers) and the IR version to match.
 *    Planning checks itself: every quantized weight code, dequantized as a
 *    runtime would, must reproduce the simulation's weight exactly.
 *  - ONNX Runtime quantizer options (export_ort_overrides_json): the
 *    TensorQuantOverrides map (scales and zero points of every activation and
 *    weight), nodes_to_exclude and op_types_to_quantize for
 *    onnxruntime.quantization.quantize_static, valid under ORT's override
 *    rules.  Nodes the quantizer cannot run as simulated (fp16/bf16/fp8e5m2:
 *    no QuantType; per-block weights: no block size in the overrides) make
 *    it fail with ERR_UNSUPPORTED naming them, unless info->ort_partial is
 *    set: then they are excluded (kept in float) and listed, with every
 *    other approximation, under "unsupported".
 *  - TensorRT (export_trt_text): trtexec --layerPrecisions and
 *    --layerOutputTypes strings, one entry per node, by ONNX node name
 *    (export_trt_name_problem says which names trtexec cannot parse).
 *
 * All returned memory is owned by the caller (x_fini / free).
 */
#ifndef QLENS_EXPORT_H
#define QLENS_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "onnx_save.h"
#include "sim.h"

struct export_info {
	const char *qlens_version; /* recorded in the model's metadata; may be NULL */
	const char *policy_file;   /* the policy's file name; may be NULL */
	const char *policy_sha256; /* may be NULL */
	const char *model_file;	   /* for the TensorRT command line; may be NULL */
	bool ort_partial;	   /* ORT overrides: exclude what ORT cannot express
				      instead of failing */
};

struct export_pool;

struct export_qdq {
	struct onnx_edit edit; /* pass to onnx_save_edited */
	int64_t opset;	       /* the opset the formats need (0 = unchanged) */
	int64_t ir_version;
	int n_quantize, n_dequantize, n_cast;
	int n_weights, n_biases, n_act_pairs;
	struct export_pool *pool; /* owns everything edit points to */
};

enum status export_qdq_plan(const struct sim *s, const struct export_info *info,
			    struct export_qdq *x, struct err *e);
void export_qdq_fini(struct export_qdq *x);

/* JSON text (see docs/policy.md, "ONNX Runtime"); malloc'ed.  ERR_UNSUPPORTED,
 * naming the nodes, when the policy has nodes ONNX Runtime's quantizer cannot
 * express and info->ort_partial is not set. */
enum status export_ort_overrides_json(const struct sim *s, const struct export_info *info,
				      char **out, struct err *e);

/* trtexec flags with comment lines (see docs/policy.md, "TensorRT"); malloc'ed.
 * Nodes whose names trtexec cannot parse are left out and listed in a comment. */
enum status export_trt_text(const struct sim *s, const struct export_info *info, char **out,
			    struct err *e);
/* Why trtexec's --layerPrecisions / --layerOutputTypes parser cannot take this
 * layer name (a short phrase), or NULL when it can.  trtexec splits the spec
 * at every ',', takes the text after the last ':' as the precision (so ':'
 * and '/' in names are fine), deletes every single quote from the name and
 * reads '*' as a wildcard; one flag per line excludes control characters. */
const char *export_trt_name_problem(const char *name);

/* The granularity the simulation used for node ni's weight (after its
 * fall-backs: per-block only for Gemm/MatMul, per-channel only where the
 * format allows), checked against the parameters it holds; *block is the
 * block size for QG_BLOCK, else 0. */
enum status export_weight_granularity(const struct sim *s, int ni, enum qgran *gran, int *block,
				      struct err *e);
/* Scales of node ni's int32 bias (s_in * s_w, per channel when the weight is)
 * as the simulation quantizes it: *scales malloc'ed with *n entries; *n = 0
 * when the simulation keeps the bias in float. */
enum status export_bias_scales(const struct sim *s, int ni, float **scales, int *n,
			       struct err *e);

/* Name of ONNX Runtime's QuantType for a format ("QUInt8", ...), NULL when none. */
const char *export_ort_quant_type(enum qfmt f);

#endif
