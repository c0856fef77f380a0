/*
 * fuse.h - which chains of nodes a plain FP32 plan may merge into one step (internal to the
 * core; exec.c is the only user).
 *
 * Three kinds of chain, each link the only reader of the previous value:
 *  - Conv -> [BatchNormalization] -> [Add residual] -> [activation]: the BatchNormalization
 *    is folded into new weights and a new bias (fuse_fold_bn), the Add's other operand
 *    becomes the Conv's residual and the activation its epilogue (op.h, struct
 *    step_epilogue); the Conv operator runs the step.
 *  - MatMul by a constant 2-D matrix -> [Add bias] -> [Add residual] -> [activation], or
 *    MatMul -> [Add bias] -> activation: run by fused_linear (ops/fused.h).
 *  - MatMul(Q, KT) -> Mul or Div by a constant scalar -> Softmax over the last axis ->
 *    MatMul(., V): run by fused_attention_mul / _div.
 * An activation is Relu, Clip, LeakyRelu, or the five nodes torch exports for the erf GELU,
 * (x * (Erf(x / sqrt 2) + 1)) * 0.5, whose input x is read by both the Div and the Mul.
 * The merged step writes the chain's last value and runs where the chain's last node was,
 * which is after everything it reads.
 */
#ifndef QLENS_FUSE_H
#define QLENS_FUSE_H

#include <stdbool.h>

#include "graph.h"
#include "op.h"
#include "status.h"
#include "tensor.h"

/* What the planner knows about values and nodes when it looks for chains (all borrowed). */
struct fuse_ctx {
	const struct graph *g;
	const struct tensor *vt;   /* per value: planned dtype and shape; data when constant */
	const bool *is_const;	   /* per value: constant at plan time */
	const bool *pinned;	   /* per value: must stay visible (graph output, kept value) */
	const int *rstart;	   /* per value v: its readers are rlist[rstart[v], rstart[v + 1]) */
	const int *rlist;	   /* node indices; a node reading a value twice is listed twice */
	const bool *is_step;	   /* per node: runs at run time and is not merged yet */
};

#define FUSE_MAX_NODES 12 /* nodes a chain absorbs besides its first */
#define FUSE_MAX_IN 5

struct fuse_chain {
	const struct op_def *def; /* operator of the merged step */
	int first;		  /* node whose step becomes the merged one */
	int absorbed[FUSE_MAX_NODES];
	int n_absorbed;
	int last;		  /* node index of the chain's last node */
	int out;		  /* value index the merged step writes */
	int in[FUSE_MAX_IN];	  /* value indices of its inputs (-1: omitted) */
	int n_in;
	int bn;			  /* Conv: BatchNormalization folded into in[1], in[2], or -1 */
	struct step_epilogue epi;
};

/* The longest chain starting at node `first`; false when there is nothing to gain. */
bool fuse_find(const struct fuse_ctx *c, int first, struct fuse_chain *ch);

/* Fold the chain's BatchNormalization into the Conv's weight and bias:
 *     a = scale / sqrt(var + epsilon),  w'[m] = w[m] * a[m],
 *     b'[m] = b[m] * a[m] + (B[m] - mean[m] * a[m])      (b = 0 without a bias)
 * exactly as BatchNormalization computes a and its offset.  w and b receive owned tensors. */
enum status fuse_fold_bn(const struct fuse_ctx *c, const struct fuse_chain *ch, struct tensor *w,
			 struct tensor *b, struct err *e);

#endif
