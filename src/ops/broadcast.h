/*
 * broadcast.h - multidirectional (numpy-style) broadcasting for operators.
 *
 * Shapes are right-aligned; two dims are compatible when equal or when one is 1,
 * and the result takes the larger (a 1 against a 0 gives 0).  All shapes here are
 * concrete (every dim >= 0), as prepare() sees them.
 *
 * For kernels, struct bcast_iter describes how up to BCAST_MAX_IN operands are
 * read while the output is written in row-major order.  bcast_iter_init() drops
 * size-1 dims and merges adjacent dims that every operand walks contiguously
 * (or broadcasts along both), so [N,C,H,W] + [1,C,1,1] becomes
 * [N, C, H*W] with strides {HW*C, HW, 1} / {0, 1, 0}, and [N,T,D] + [D] becomes
 * [N*T, D].  The innermost merged dim ("run") is then read by every operand with
 * stride 1 or 0, which a kernel turns into a tight, vectorisable loop; the outer
 * dims are walked with bcast_iter_next().  Internal to src/ops.
 */
#ifndef QLENS_BROADCAST_H
#define QLENS_BROADCAST_H

#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* Multidirectional (numpy-style) broadcast of two shapes into *out; ERR_SHAPE
 * "shapes [2,3] and [4] cannot be broadcast" on mismatch.  out may alias a or b. */
enum status bcast_shape(const struct shape *a, const struct shape *b, struct shape *out,
			struct err *e);

/* Broadcast of n >= 1 shapes (n-ary ops such as Sum, Where). */
enum status bcast_shape_n(const struct shape *const *in, int n, struct shape *out,
			  struct err *e);

/* True when `in` broadcasts to `out` without changing `out` (unidirectional, as
 * Expand's input into its target or PRelu's slope into X). */
bool bcast_fits(const struct shape *in, const struct shape *out);

/* Element strides of `in` viewed as broadcast to `out` (right-aligned; 0 on
 * broadcast dims); writes out->rank entries.  `in` must broadcast to `out`. */
void bcast_strides(const struct shape *in, const struct shape *out, int64_t *strides);

#define BCAST_MAX_IN 3

struct bcast_iter {
	int n_in;			       /* operands */
	int rank;			       /* merged outer dims (run excluded), 0..7 */
	int64_t dim[TENSOR_MAX_RANK];	       /* outer dims, outermost first */
	int64_t stride[BCAST_MAX_IN][TENSOR_MAX_RANK]; /* per operand, elements */
	int64_t run;			       /* innermost length (>= 1 unless empty) */
	int64_t run_stride[BCAST_MAX_IN];      /* 0 or 1 */
	int64_t n_runs;			       /* product of the outer dims */
	/* walking state */
	int64_t idx[TENSOR_MAX_RANK];
	int64_t off[BCAST_MAX_IN];	       /* element offset of each operand's current run */
};

/* Set up the walk over `out` (which every in[i] must broadcast to); n_in <= BCAST_MAX_IN.
 * Afterwards off[] is 0 for the first run.  An empty output gives n_runs == 0. */
void bcast_iter_init(struct bcast_iter *it, const struct shape *out,
		     const struct shape *const *in, int n_in);

/* Advance to the next run (updates off[]); call n_runs - 1 times. */
static inline void bcast_iter_next(struct bcast_iter *it)
{
	for (int d = it->rank - 1; d >= 0; d--) {
		for (int k = 0; k < it->n_in; k++)
			it->off[k] += it->stride[k][d];
		if (++it->idx[d] < it->dim[d])
			return;
		for (int k = 0; k < it->n_in; k++)
			it->off[k] -= it->stride[k][d] * it->dim[d];
		it->idx[d] = 0;
	}
}

#endif
