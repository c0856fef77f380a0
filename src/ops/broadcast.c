/*
 * broadcast.c - shape broadcasting and the merged-dims walk used by elementwise
 * kernels (see broadcast.h for the idea).
 *
 * Merging: after right-aligning every operand to the output rank, dims of
 * extent 1 are dropped (they contribute nothing to addressing), then dim d is
 * folded into its inner neighbour d+1 when, for every operand, stride[d] ==
 * stride[d+1] * dim[d+1] - that holds both when the operand is contiguous across
 * the two dims and when it is broadcast along both (0 == 0 * n).  What remains
 * is the fewest dims that describe the same addressing; the innermost becomes
 * the run.
 */
#include "broadcast.h"

#include <inttypes.h>
#include <string.h>

enum status bcast_shape(const struct shape *a, const struct shape *b, struct shape *out,
			struct err *e)
{
	const struct shape *in[2] = { a, b };
	return bcast_shape_n(in, 2, out, e);
}

enum status bcast_shape_n(const struct shape *const *in, int n, struct shape *out,
			  struct err *e)
{
	struct shape r = { .rank = 0 };
	for (int k = 0; k < n; k++)
		if (in[k]->rank > r.rank)
			r.rank = in[k]->rank;
	for (int i = 0; i < r.rank; i++)
		r.dim[i] = 1;
	for (int k = 0; k < n; k++) {
		const struct shape *s = in[k];
		int shift = r.rank - s->rank;
		for (int i = 0; i < s->rank; i++) {
			int64_t d = s->dim[i], *o = &r.dim[shift + i];
			if (d == *o || d == 1)
				continue;
			if (*o == 1) {
				*o = d;
				continue;
			}
			char b1[160], b2[160];
			if (n == 2)
				return err_set(e, ERR_SHAPE, "shapes %s and %s cannot be broadcast",
					       shape_str(in[0], b1, sizeof b1),
					       shape_str(in[1], b2, sizeof b2));
			/* name the offending operand against what the others gave so far */
			struct shape sofar = r;
			sofar.dim[shift + i] = *o;
			return err_set(e, ERR_SHAPE,
				       "input %d shape %s cannot be broadcast with %s", k, shape_str(s, b1, sizeof b1),
				       shape_str(&sofar, b2, sizeof b2));
		}
	}
	*out = r;
	return OK;
}

bool bcast_fits(const struct shape *in, const struct shape *out)
{
	if (in->rank > out->rank)
		return false;
	int shift = out->rank - in->rank;
	for (int i = 0; i < in->rank; i++)
		if (in->dim[i] != 1 && in->dim[i] != out->dim[shift + i])
			return false;
	return true;
}

void bcast_strides(const struct shape *in, const struct shape *out, int64_t *strides)
{
	int shift = out->rank - in->rank;
	int64_t st = 1;
	for (int i = out->rank - 1; i >= 0; i--) {
		int j = i - shift;
		if (j < 0 || in->dim[j] == 1) {
			strides[i] = 0;
			if (j >= 0)
				st *= in->dim[j];
		} else {
			strides[i] = st;
			st *= in->dim[j];
		}
	}
}

void bcast_iter_init(struct bcast_iter *it, const struct shape *out,
		     const struct shape *const *in, int n_in)
{
	int64_t full[BCAST_MAX_IN][TENSOR_MAX_RANK];
	memset(it, 0, sizeof *it);
	it->n_in = n_in;
	for (int k = 0; k < n_in; k++)
		bcast_strides(in[k], out, full[k]);

	/* keep dims of extent != 1, merging into the previous kept dim when possible */
	int r = 0;
	int64_t dim[TENSOR_MAX_RANK], st[BCAST_MAX_IN][TENSOR_MAX_RANK];
	for (int i = 0; i < out->rank; i++) {
		int64_t d = out->dim[i];
		if (d == 0) {
			it->n_runs = 0;
			it->run = 0;
			return;
		}
		if (d == 1)
			continue;
		bool merge = r > 0;
		for (int k = 0; k < n_in && merge; k++)
			merge = st[k][r - 1] == full[k][i] * d;
		if (merge) {
			dim[r - 1] *= d;
			for (int k = 0; k < n_in; k++)
				st[k][r - 1] = full[k][i];
		} else {
			dim[r] = d;
			for (int k = 0; k < n_in; k++)
				st[k][r] = full[k][i];
			r++;
		}
	}
	if (r == 0) { /* scalar output, or all dims 1 */
		it->run = 1;
		it->n_runs = 1;
		for (int k = 0; k < n_in; k++)
			it->run_stride[k] = 0;
		return;
	}
	it->run = dim[r - 1];
	for (int k = 0; k < n_in; k++)
		it->run_stride[k] = st[k][r - 1];
	it->rank = r - 1;
	it->n_runs = 1;
	for (int i = 0; i < it->rank; i++) {
		it->dim[i] = dim[i];
		it->n_runs *= dim[i];
		for (int k = 0; k < n_in; k++)
			it->stride[k][i] = st[k][i];
	}
}
