/*
 * fuse.h - which nodes after a Conv a plain FP32 plan may merge into it (internal to the core;
 * exec.c is the only user).
 *
 * A chain is Conv -> [BatchNormalization] -> [Add] -> [Relu | Clip | LeakyRelu], each link the
 * only reader of the previous value.  The BatchNormalization is folded into new weights and a
 * new bias (fuse_fold_bn); the Add's other operand becomes the Conv's residual and the
 * activation its epilogue (op.h, struct step_epilogue).  The merged step writes the chain's
 * last value and runs where the chain's last node was, which is after everything it reads.
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
	const bool *pinned;	   /* per value: must stay visible (graph output, kept by the caller) */
	const int *readers;	   /* per value: node inputs that read it (a repeat counts twice) */
	const int *reader;	   /* per value: the node reading it, when readers == 1 */
	const bool *is_step;	   /* per node: runs at run time (was not folded) */
};

struct fuse_chain {
	int conv;     /* node index of the Conv */
	int bn;	      /* BatchNormalization folded into the weights, or -1 */
	int add;      /* Add whose other operand becomes the residual, or -1 */
	int residual; /* value index of that operand, or -1 */
	int act;      /* Relu / Clip / LeakyRelu, or -1 */
	int last;     /* node index of the chain's last node */
	int out;      /* value index the merged step writes */
	struct step_epilogue epi;
};

/* The longest chain starting at node `conv`; false when nothing can be merged into it. */
bool fuse_find(const struct fuse_ctx *c, int conv, struct fuse_chain *ch);

/* Fold the chain's BatchNormalization into the Conv's weight and bias:
 *     a = scale / sqrt(var + epsilon),  w'[m] = w[m] * a[m],
 *     b'[m] = b[m] * a[m] + (B[m] - mean[m] * a[m])      (b = 0 without a bias)
 * exactly as BatchNormalization computes a and its offset.  w and b receive owned tensors. */
enum status fuse_fold_bn(const struct fuse_ctx *c, const struct fuse_chain *ch, struct tensor *w,
			 struct tensor *b, struct err *e);

#endif
