/*
 * fused.h - operators that exist only as merged steps of fused plans.
 * Internal to the core: the planner (exec.c, fuse.c) puts them in place of chains of nodes;
 * they follow op.h's contract (prepare / run) and are never in a graph.
 *
 * fused_linear: Y = epilogue(X @ W + b), the Linear layer torch exports as MatMul (+ Add of a
 *   bias).  Inputs: X [..., K] float; W [K, N] float; b [N] float or NULL; then the residual
 *   (s->epi.residual) of Y's shape.  Y is [..., N].  The epilogue (op.h) may be any
 *   activation, GELU included.
 * fused_attention_mul / fused_attention_div: Y = softmax(Q @ KT * s) @ V, or with "/ s" -
 *   scaled dot-product attention as MatMul, Mul (or Div) by a scalar, Softmax over the last
 *   axis, MatMul.  Inputs: Q [..., n, d]; KT [..., d, m]; s, a one-element float constant;
 *   V [..., m, e], all with the same leading dims.  Y is [..., n, e].
 */
#ifndef QLENS_FUSED_H
#define QLENS_FUSED_H

#include "op.h"

extern const struct op_def fused_linear;
extern const struct op_def fused_attention_mul;
extern const struct op_def fused_attention_div;

#endif
