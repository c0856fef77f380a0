/*
 * op.h - the operator table.
 *
 * Every supported ONNX operator is one row of an X-macro list.  A row
 * X(ENUM, "OnnxName", prefix, min_opset, qkind) expands into `enum op_kind`,
 * the name table and the const vtable `op_defs[]`, and declares
 *     enum status op_<prefix>_prepare(struct step *, ...);
 *     enum status op_<prefix>_run(const struct step *, ...);
 * which live in src/ops/<file>.c.  The rows are split over three list files so
 * that kernel families can grow independently:
 *     ops/list_nn.h     convolutions, matrix products, pooling, normalization, softmax
 *     ops/list_math.h   elementwise arithmetic, activations, comparisons, reductions, Cast
 *     ops/list_shape.h  shape and data movement
 *
 * Contract for an operator:
 *  - prepare() runs at plan time with concrete input shapes.  It validates
 *    attributes, input count, dtypes and shapes, sets each non-NULL out[i]'s
 *    dtype and shape (out[i]->data is NULL), may malloc s->params (freed by the
 *    plan with free(); must be one block) and sets s->scratch_bytes.  All
 *    user-facing errors happen here, as plain text without the node name
 *    (the planner prefixes "node 'x' (Op): ").  in[i] is NULL for an omitted
 *    optional input; in[i]->data is non-NULL when the input is constant at plan
 *    time (initializer, folded Constant, or a value computed from constants,
 *    e.g. a Shape chain), which ops such as Reshape need.
 *  - run() computes only: it never allocates and never prints.  out[i]->data
 *    points to storage of the prepared size; scratch points to
 *    s->scratch_bytes bytes (NULL when 0), 64-byte aligned.  run() returns OK,
 *    or an error for data-dependent failures (e.g. a Gather index out of range).
 *  - Outputs never alias inputs unless the op declares nothing else: the
 *    executor gives each output its own storage.
 */
#ifndef QLENS_OP_H
#define QLENS_OP_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* How ONNX Runtime's QDQ quantizer treats an op (guides the analysis layer). */
enum qkind {
	QK_NONE,   /* stays in float */
	QK_WEIGHT, /* has a weight input that gets quantized: Conv, Gemm, MatMul... */
	QK_ACT,	   /* activation-only: inputs/outputs get Q/DQ (Add, Mul, Concat, pooling...) */
};

#include "ops/list_math.h"
#include "ops/list_nn.h"
#include "ops/list_shape.h"

#define OP_LIST(X) OP_LIST_NN(X) OP_LIST_MATH(X) OP_LIST_SHAPE(X)

#define OP_ENUM_(e, name, prefix, opset, qk) OP_##e,
enum op_kind { OP_LIST(OP_ENUM_) OP_COUNT };
#undef OP_ENUM_

struct node;
struct graph;

/*
 * A fused epilogue: work of the nodes that followed this one, which the planner
 * merged into it (plans built with plan_opts.fuse only, see exec.h).  The op
 * applies it to out[0] as it stores it:
 *     out[0] = act(result + residual)
 * An op receives anything but the zero value only if the planner knows it
 * honours it (exec.c: Conv); every other step sees act == EPI_NONE and
 * residual == false, and may ignore this field.
 */
enum epi_act { EPI_NONE, EPI_RELU, EPI_CLIP, EPI_LEAKY_RELU, EPI_GELU };
struct step_epilogue {
	enum epi_act act;
	float lo, hi; /* EPI_CLIP bounds (-INFINITY / INFINITY when absent); NaN stays NaN */
	/* EPI_LEAKY_RELU: the slope; EPI_GELU: the model's sqrt(2) constant c, the activation
	 * being torch's erf form in its order, (v * (erf(v / c) + 1)) * 0.5 */
	float alpha;
	/* in[n_in - 1] is an extra input of out[0]'s shape and dtype, added before act;
	 * it comes after the op's own inputs (prepare sees it too) */
	bool residual;
};

/* One node of a plan: what prepare() may fill in and run() reads. */
struct step {
	const struct node *node;
	const struct graph *graph;
	int64_t opset;	      /* the model's default-domain opset */
	void *params;	      /* op-private, set by prepare, freed by the plan */
	size_t scratch_bytes; /* set by prepare */
	struct step_epilogue epi; /* set by the planner before prepare; see above */
};

typedef enum status (*op_prepare_fn)(struct step *s, const struct tensor *const *in, int n_in,
				     struct tensor *const *out, int n_out, struct err *e);
typedef enum status (*op_run_fn)(const struct step *s, const struct tensor *const *in, int n_in,
				 struct tensor *const *out, int n_out, void *scratch,
				 struct err *e);

struct op_def {
	const char *onnx_name;
	int min_opset;
	enum qkind qkind;
	op_prepare_fn prepare;
	op_run_fn run;
};

#define OP_DECL_(e, name, prefix, opset, qk)                                                     \
	enum status op_##prefix##_prepare(struct step *s, const struct tensor *const *in,         \
					  int n_in, struct tensor *const *out, int n_out,          \
					  struct err *e);                                          \
	enum status op_##prefix##_run(const struct step *s, const struct tensor *const *in,       \
				      int n_in, struct tensor *const *out, int n_out,              \
				      void *scratch, struct err *e);
OP_LIST(OP_DECL_)
#undef OP_DECL_

extern const struct op_def op_defs[OP_COUNT];

/* OP_COUNT when the name is not supported. */
enum op_kind op_lookup(const char *onnx_name);
const char *op_name(enum op_kind k);

#endif
