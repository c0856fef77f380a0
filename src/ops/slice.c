/*
 * slice.c - indexing operators: Slice, Gather, GatherElements, Tile.
 *
 * Slice and Tile are pure functions of output index -> input index per axis
 * (start + o*step, o mod dim), so prepare() turns them into an axis map
 * (shape_util.h) and run() is the generic gather; a step-1 slice of the
 * innermost axis becomes one memcpy per row.  Slice follows the spec's
 * clamping exactly: negative starts/ends count from the back, then for a
 * positive step start and end clamp to [0, dim], for a negative step start
 * clamps to [0, dim-1] and end to [-1, dim-1], which makes INT64_MAX/INT64_MIN
 * "to the end" markers work in both directions.  Opset 1 takes starts/ends/axes
 * as attributes, opset 10+ as (constant) int32/int64 inputs plus steps.
 *
 * Gather's indices are data, not shape, so they may change from run to run:
 * run() checks every index (negative ones count from the back) before it
 * copies anything and returns ERR_INVALID for one out of range, then copies
 * one contiguous block of prod(dims after axis) elements per (outer, index)
 * pair.  GatherElements looks up one element per output position.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shape_util.h"

/* --- Slice ------------------------------------------------------------------ */

/* Read starts/ends/axes/steps (attribute or input form) into the arrays;
 * *n is the number of sliced axes. */
static enum status slice_args(const struct step *s, const struct tensor *const *in, int n_in,
			      int64_t *starts, int64_t *ends, int64_t *axes, int64_t *steps,
			      int *n, bool *have_axes, struct err *e)
{
	enum status st;
	int ne, na = 0, ns = 0;
	*have_axes = false;
	if (s->opset < 10) {
		const int64_t *a, *b, *c;
		if ((st = node_attr_ints(s->node, "starts", &a, n, e)) ||
		    (st = node_attr_ints(s->node, "ends", &b, &ne, e)) ||
		    (st = node_attr_ints(s->node, "axes", &c, &na, e)))
			return st;
		if (!a || !b)
			return err_set(e, ERR_INVALID, "attributes 'starts' and 'ends' are required");
		if (*n > TENSOR_MAX_RANK || ne > TENSOR_MAX_RANK || na > TENSOR_MAX_RANK)
			return err_set(e, ERR_INVALID, "more slice entries than the rank limit %d",
				       TENSOR_MAX_RANK);
		memcpy(starts, a, (size_t)*n * sizeof *a);
		memcpy(ends, b, (size_t)ne * sizeof *b);
		if (c) {
			memcpy(axes, c, (size_t)na * sizeof *c);
			*have_axes = true;
		}
	} else {
		if ((st = su_read_ints(in[1], "starts", true, starts, TENSOR_MAX_RANK, n, e)) ||
		    (st = su_read_ints(in[2], "ends", true, ends, TENSOR_MAX_RANK, &ne, e)))
			return st;
		if (n_in >= 4 && in[3]) {
			if ((st = su_read_ints(in[3], "axes", true, axes, TENSOR_MAX_RANK, &na, e)))
				return st;
			*have_axes = true;
		}
		if (n_in >= 5 && in[4]) {
			if ((st = su_read_ints(in[4], "steps", true, steps, TENSOR_MAX_RANK, &ns, e)))
				return st;
			if (ns != *n)
				return err_set(e, ERR_INVALID,
					       "steps has %d entries, starts has %d", ns, *n);
		}
	}
	if (ne != *n)
		return err_set(e, ERR_INVALID, "ends has %d entries, starts has %d", ne, *n);
	if (*have_axes && na != *n)
		return err_set(e, ERR_INVALID, "axes has %d entries, starts has %d", na, *n);
	if (!ns)
		for (int i = 0; i < *n; i++)
			steps[i] = 1;
	return OK;
}

enum status op_slice_prepare(struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, struct err *e)
{
	int64_t starts[TENSOR_MAX_RANK], ends[TENSOR_MAX_RANK], axes[TENSOR_MAX_RANK],
		steps[TENSOR_MAX_RANK];
	int n;
	bool have_axes;
	size_t es;
	enum status st = s->opset < 10 ? ops_check_arity(in, n_in, 1, 1, n_out, 1, e)
				       : ops_check_arity(in, n_in, 3, 5, n_out, 1, e);
	if (st || (st = su_elem_size(in[0], "input", &es, e)) ||
	    (st = slice_args(s, in, n_in, starts, ends, axes, steps, &n, &have_axes, e)))
		return st;
	const struct shape *is = &in[0]->shape;
	int r = is->rank;
	if (n > r)
		return err_set(e, ERR_INVALID, "%d axes sliced on a rank-%d input", n, r);
	/* per input axis: start and step (identity when not sliced) */
	int64_t st0[TENSOR_MAX_RANK], stp[TENSOR_MAX_RANK];
	bool done[TENSOR_MAX_RANK] = { false };
	struct shape os = *is;
	for (int d = 0; d < r; d++) {
		st0[d] = 0;
		stp[d] = 1;
	}
	for (int i = 0; i < n; i++) {
		int a;
		if ((st = su_norm_axis(have_axes ? axes[i] : i, r, "axis", &a, e)))
			return st;
		if (done[a])
			return err_set(e, ERR_INVALID, "axis %d is sliced twice", a);
		done[a] = true;
		int64_t dim = is->dim[a], b = starts[i], t = ends[i], k = steps[i];
		if (k == 0)
			return err_set(e, ERR_INVALID, "step for axis %d is 0", a);
		if (b < 0)
			b += dim;
		if (t < 0)
			t += dim;
		int64_t cnt;
		if (k > 0) {
			b = b < 0 ? 0 : b > dim ? dim : b;
			t = t < 0 ? 0 : t > dim ? dim : t;
			cnt = t > b ? (t - b - 1) / k + 1 : 0;
		} else {
			b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
			t = t < -1 ? -1 : t > dim - 1 ? dim - 1 : t;
			cnt = b > t ? (b - t - 1) / -k + 1 : 0;
		}
		if (dim == 0)
			cnt = 0;
		os.dim[a] = cnt;
		st0[a] = b;
		stp[a] = k;
	}
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = os;
	struct amap *m = NULL;
	if ((st = amap_new(r, os.dim, is->dim, es, &m, e)))
		return st;
	for (int d = 0; d < r; d++) {
		int64_t *t = amap_table(m, d);
		for (int64_t o = 0; o < os.dim[d]; o++)
			t[o] = st0[d] + o * stp[d];
	}
	amap_finish(m);
	s->params = m;
	return OK;
}

enum status op_slice_run(const struct step *s, const struct tensor *const *in, int n_in,
			 struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	amap_run(s->params, in[0]->data, out[0]->data);
	return OK;
}

/* --- Gather ------------------------------------------------------------------ */

struct gather_params {
	int64_t outer, n_idx, dim;
	size_t inner; /* bytes copied per index */
};

enum status op_gather_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 2, n_out, 1, e);
	int64_t axis;
	size_t es;
	if (st || (st = su_elem_size(in[0], "data", &es, e)) ||
	    (st = node_attr_int(s->node, "axis", 0, &axis, e)))
		return st;
	if (in[1]->dtype != DT_INT64 && in[1]->dtype != DT_INT32)
		return err_set(e, ERR_INVALID, "indices have type %s, expected int32 or int64",
			       dtype_name(in[1]->dtype));
	const struct shape *ds = &in[0]->shape, *xs = &in[1]->shape;
	int a;
	if ((st = su_norm_axis(axis, ds->rank, "axis", &a, e)))
		return st;
	int rank = ds->rank - 1 + xs->rank;
	if (rank > TENSOR_MAX_RANK)
		return err_set(e, ERR_UNSUPPORTED, "output rank %d exceeds the limit of %d", rank,
			       TENSOR_MAX_RANK);
	struct shape os = { .rank = rank };
	int k = 0;
	for (int d = 0; d < a; d++)
		os.dim[k++] = ds->dim[d];
	for (int d = 0; d < xs->rank; d++)
		os.dim[k++] = xs->dim[d];
	for (int d = a + 1; d < ds->rank; d++)
		os.dim[k++] = ds->dim[d];
	if ((st = su_set_shape(out[0], in[0]->dtype, &os, e)))
		return st;
	struct gather_params *p = malloc(sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	int64_t outer = 1, inner = 1;
	for (int d = 0; d < ds->rank; d++) {
		if (d < a)
			outer *= ds->dim[d];
		else if (d > a)
			inner *= ds->dim[d];
	}
	p->outer = outer;
	p->n_idx = shape_numel(xs);
	p->dim = ds->dim[a];
	p->inner = (size_t)inner * es;
	return OK;
}

/* Check that every index lies in [-dim, dim-1]; ERR_INVALID naming the first that does not. */
static enum status check_indices(const struct tensor *idx, int64_t n, int64_t dim,
				 struct err *e)
{
	for (int64_t j = 0; j < n; j++) {
		int64_t k = su_int_at(idx, j);
		if (k < -dim || k >= dim)
			return err_set(e, ERR_INVALID, "index %" PRId64 " (at position %" PRId64
				       ") is out of range for an axis of size %" PRId64, k, j, dim);
	}
	return OK;
}

enum status op_gather_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct gather_params *p = s->params;
	enum status st = check_indices(in[1], p->n_idx, p->dim, e);
	if (st)
		return st;
	const unsigned char *x = in[0]->data;
	unsigned char *y = out[0]->data;
	size_t c = p->inner, slab = (size_t)p->dim * c;
	if (c == 0)
		return OK;
	for (int64_t o = 0; o < p->outer; o++) {
		const unsigned char *xo = x + (size_t)o * slab;
		for (int64_t j = 0; j < p->n_idx; j++, y += c) {
			int64_t k = su_int_at(in[1], j);
			if (k < 0)
				k += p->dim;
			memcpy(y, xo + (size_t)k * c, c);
		}
	}
	return OK;
}

/* --- GatherElements ---------------------------------------------------------- */

struct gel_params {
	int rank, axis;
	size_t es;
	int64_t dim[TENSOR_MAX_RANK];	 /* output (= indices) dims */
	int64_t stride[TENSOR_MAX_RANK]; /* data strides, elements */
	int64_t axis_dim;
};

enum status op_gatherelements_prepare(struct step *s, const struct tensor *const *in, int n_in,
				      struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 2, n_out, 1, e);
	int64_t axis;
	size_t es;
	if (st || (st = su_elem_size(in[0], "data", &es, e)) ||
	    (st = node_attr_int(s->node, "axis", 0, &axis, e)))
		return st;
	if (in[1]->dtype != DT_INT64 && in[1]->dtype != DT_INT32)
		return err_set(e, ERR_INVALID, "indices have type %s, expected int32 or int64",
			       dtype_name(in[1]->dtype));
	const struct shape *ds = &in[0]->shape, *xs = &in[1]->shape;
	int a;
	if ((st = su_norm_axis(axis, ds->rank, "axis", &a, e)))
		return st;
	if (xs->rank != ds->rank)
		return err_set(e, ERR_SHAPE, "indices have rank %d, data has %d", xs->rank,
			       ds->rank);
	for (int d = 0; d < ds->rank; d++)
		if (d != a && xs->dim[d] > ds->dim[d])
			return err_set(e, ERR_SHAPE, "indices dim %d (%" PRId64 ") exceeds data's "
				       "(%" PRId64 ")", d, xs->dim[d], ds->dim[d]);
	struct gel_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	p->rank = ds->rank;
	p->axis = a;
	p->es = es;
	p->axis_dim = ds->dim[a];
	int64_t stride = 1;
	for (int d = ds->rank - 1; d >= 0; d--) {
		p->dim[d] = xs->dim[d];
		p->stride[d] = stride;
		stride *= ds->dim[d];
	}
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = *xs;
	return OK;
}

enum status op_gatherelements_run(const struct step *s, const struct tensor *const *in,
				  int n_in, struct tensor *const *out, int n_out, void *scratch,
				  struct err *e)
{
	const struct gel_params *p = s->params;
	int64_t n = tensor_numel(in[1]);
	enum status st = check_indices(in[1], n, p->axis_dim, e);
	if (st || n == 0)
		return st;
	const unsigned char *x = in[0]->data;
	unsigned char *y = out[0]->data;
	int64_t idx[TENSOR_MAX_RANK] = { 0 }, base = 0; /* data offset without the axis term */
	int r = p->rank > 0 ? p->rank : 1;
	for (int64_t i = 0; i < n; i++) {
		int64_t k = su_int_at(in[1], i);
		if (k < 0)
			k += p->axis_dim;
		memcpy(y + (size_t)i * p->es, x + (size_t)(base + k * p->stride[p->axis]) * p->es,
		       p->es);
		for (int d = r - 1; d >= 0; d--) {
			if (d != p->axis)
				base += p->stride[d];
			if (++idx[d] < p->dim[d])
				break;
			if (d != p->axis)
				base -= p->stride[d] * p->dim[d];
			idx[d] = 0;
		}
	}
	return OK;
}

/* --- Tile -------------------------------------------------------------------- */

enum status op_tile_prepare(struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 2, n_out, 1, e);
	int64_t rep[TENSOR_MAX_RANK];
	int n;
	size_t es;
	if (st || (st = su_elem_size(in[0], "input", &es, e)) ||
	    (st = su_read_ints(in[1], "repeats", false, rep, TENSOR_MAX_RANK, &n, e)))
		return st;
	const struct shape *is = &in[0]->shape;
	if (n != is->rank)
		return err_set(e, ERR_INVALID, "repeats has %d entries for an input of rank %d", n,
			       is->rank);
	struct shape os = *is;
	for (int d = 0; d < n; d++) {
		if (rep[d] < 0)
			return err_set(e, ERR_INVALID, "repeats[%d] is negative", d);
		if (is->dim[d] && rep[d] > TENSOR_MAX_BYTES / is->dim[d])
			return err_set(e, ERR_LIMIT, "tiled dimension %d is too large", d);
		os.dim[d] = is->dim[d] * rep[d];
	}
	if ((st = su_set_shape(out[0], in[0]->dtype, &os, e)))
		return st;
	struct amap *m = NULL;
	if ((st = amap_new(is->rank, os.dim, is->dim, es, &m, e)))
		return st;
	for (int d = 0; d < is->rank; d++) {
		int64_t *t = amap_table(m, d);
		for (int64_t o = 0; o < os.dim[d]; o++)
			t[o] = o % is->dim[d];
	}
	amap_finish(m);
	s->params = m;
	return OK;
}

enum status op_tile_run(const struct step *s, const struct tensor *const *in, int n_in,
			struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	amap_run(s->params, in[0]->data, out[0]->data);
	return OK;
}
