/*
 * policy.h - precisions and mixed-precision policies.
 *
 * A precision says how one node runs: the format of its weights and of its
 * activations (inputs and outputs, where ONNX Runtime's QDQ format puts
 * QuantizeLinear/DequantizeLinear), the weight granularity and block size,
 * symmetric or not, and the calibrators.  A policy is a default precision
 * plus per-node overrides keyed by node index (node names in files).
 * Nodes that are not quantizable always run in FP32 whatever the policy says.
 *
 * Presets (by name): fp32, fp16, bf16, fp8e4m3, fp8e5m2, int8 (W8A8),
 * w8a16 (int8 weights, int16 activations), w4a8 (int4 weights, int8
 * activations), w4a16 (int4 weights, int16 activations).  Integer weights are
 * symmetric; integer activations are asymmetric (uint8/uint16 as ONNX
 * Runtime's defaults) unless `act_symmetric`.
 */
#ifndef QLENS_POLICY_H
#define QLENS_POLICY_H

#include <stdbool.h>

#include "calib.h"
#include "graph.h"
#include "qformat.h"

struct precision {
	enum qfmt wfmt;		  /* weights; QF_FP32 keeps them */
	enum qfmt afmt;		  /* activations; QF_FP32 keeps them */
	enum qgran wgran;	  /* weight granularity */
	int block;		  /* QG_BLOCK: elements per block (32, 64, 128) */
	bool act_symmetric;	  /* activations symmetric (int formats) */
	struct calib_spec acalib; /* activation calibrator */
	enum calib_method wcalib; /* CALIB_MINMAX or CALIB_MSE */
};

/* Fill *p from a preset name; ERR_INVALID listing the presets when unknown. */
enum status precision_preset(const char *name, struct precision *p, struct err *e);
/* The preset names, NULL-terminated. */
extern const char *const precision_preset_names[];
bool precision_equal(const struct precision *a, const struct precision *b);
bool precision_is_fp32(const struct precision *p);
/* Short label: "int8", "w4a8/blk32", "fp16", "int8/pt" (per-tensor) ... */
const char *precision_label(const struct precision *p, char *buf, size_t size);

struct policy {
	const struct graph *g;
	struct precision defaults;
	bool *has_override;	   /* per node */
	struct precision *node;	   /* per node, valid when has_override */
};

enum status policy_init(struct policy *pol, const struct graph *g, const struct precision *def,
			struct err *e);
void policy_fini(struct policy *pol);
enum status policy_copy(struct policy *dst, const struct policy *src, struct err *e);
/* The precision node ni runs at (fp32 for non-quantizable nodes). */
struct precision policy_node(const struct policy *pol, int ni);
void policy_set(struct policy *pol, int ni, const struct precision *p);
void policy_clear(struct policy *pol, int ni);
/* Parse "NODE=PRESET" and apply it. */
enum status policy_set_spec(struct policy *pol, const char *spec, struct err *e);

/* Is node ni quantizable (op kind QK_WEIGHT or QK_ACT)? */
bool node_quantizable(const struct graph *g, int ni);

#endif
