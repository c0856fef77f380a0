/*
 * concat.c - Concat and Split along one axis.
 *
 * Both see the tensor as [outer, axis * inner] rows: everything before the
 * axis is `outer`, and for each outer index every piece contributes one
 * contiguous chunk of (its size along the axis) * inner elements.  prepare()
 * records the chunk sizes in bytes; run() is a loop of memcpy, so any element
 * type works (Concat on int64 is on the Shape -> Concat -> Reshape path that
 * plan-time folding evaluates).
 *
 * Opset differences: Concat's axis defaults to 1 before opset 4 and may be
 * negative from 11.  Split's sizes come from the 'split' attribute before
 * opset 13 and from the optional second input from 13; opset 18 adds
 * num_outputs, where the last chunk may be smaller.  Without either the axis
 * is divided evenly between the outputs.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shape_util.h"

struct cat_params {
	int64_t outer;
	size_t row; /* bytes of one outer row of the concatenated tensor */
	int n;
	size_t chunk[]; /* bytes each piece contributes per outer row */
};

/* outer = prod(dims before axis), inner bytes = prod(dims after axis) * es */
static void outer_inner(const struct shape *s, int axis, size_t es, int64_t *outer,
			size_t *inner)
{
	int64_t o = 1, i = 1;
	for (int d = 0; d < s->rank; d++) {
		if (d < axis)
			o *= s->dim[d];
		else if (d > axis)
			i *= s->dim[d];
	}
	*outer = o;
	*inner = (size_t)i * es;
}

static enum status cat_params_new(int n, struct cat_params **out, struct err *e)
{
	struct cat_params *p = calloc(1, sizeof *p + (size_t)n * sizeof(size_t));
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->n = n;
	*out = p;
	return OK;
}

enum status op_concat_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1 << 20, n_out, 1, e);
	int64_t axis;
	size_t es;
	if (st || (st = su_elem_size(in[0], "input 0", &es, e)) ||
	    (st = node_attr_int(s->node, "axis", s->opset < 4 ? 1 : INT64_MIN, &axis, e)))
		return st;
	if (axis == INT64_MIN)
		return err_set(e, ERR_INVALID, "attribute 'axis' is missing");
	const struct shape *s0 = &in[0]->shape;
	int a;
	if ((st = su_norm_axis(axis, s0->rank, "axis", &a, e)))
		return st;
	struct shape os = *s0;
	os.dim[a] = 0;
	for (int i = 0; i < n_in; i++) {
		const struct shape *si = in[i] ? &in[i]->shape : NULL;
		if (!si)
			return err_set(e, ERR_INVALID, "input %d is missing", i);
		if (in[i]->dtype != in[0]->dtype)
			return err_set(e, ERR_INVALID, "input %d has type %s, input 0 has %s", i,
				       dtype_name(in[i]->dtype), dtype_name(in[0]->dtype));
		bool ok = si->rank == s0->rank;
		for (int d = 0; ok && d < s0->rank; d++)
			ok = d == a || si->dim[d] == s0->dim[d];
		if (!ok) {
			char b0[160], b1[160];
			return err_set(e, ERR_SHAPE, "input %d has shape %s, incompatible with %s on "
				       "axis %d", i, shape_str(si, b1, sizeof b1),
				       shape_str(s0, b0, sizeof b0), a);
		}
		os.dim[a] += si->dim[a];
	}
	if ((st = su_set_shape(out[0], in[0]->dtype, &os, e)))
		return st;
	struct cat_params *p = NULL;
	if ((st = cat_params_new(n_in, &p, e)))
		return st;
	s->params = p;
	size_t inner;
	outer_inner(s0, a, es, &p->outer, &inner);
	for (int i = 0; i < n_in; i++) {
		p->chunk[i] = (size_t)in[i]->shape.dim[a] * inner;
		p->row += p->chunk[i];
	}
	return OK;
}

enum status op_concat_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct cat_params *p = s->params;
	unsigned char *y = out[0]->data;
	if (p->row == 0)
		return OK;
	for (int64_t o = 0; o < p->outer; o++) {
		for (int i = 0; i < p->n; i++) {
			size_t c = p->chunk[i];
			if (c) {
				memcpy(y, (const unsigned char *)in[i]->data + (size_t)o * c, c);
				y += c;
			}
		}
	}
	return OK;
}

/* --- Split ------------------------------------------------------------------ */

#define SPLIT_MAX 4096

enum status op_split_prepare(struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, struct err *e)
{
	bool input_form = s->opset >= 13 || s->opset < 2;
	enum status st = ops_check_arity(in, n_in, 1, input_form ? 2 : 1, n_out, 1, e);
	int64_t axis, num_outputs = 0;
	size_t es;
	if (st || (st = su_elem_size(in[0], "input", &es, e)) ||
	    (st = node_attr_int(s->node, "axis", 0, &axis, e)))
		return st;
	if (s->opset >= 18 && (st = node_attr_int(s->node, "num_outputs", 0, &num_outputs, e)))
		return st;
	if (n_out > SPLIT_MAX)
		return err_set(e, ERR_UNSUPPORTED, "more than %d outputs", SPLIT_MAX);
	const struct shape *is = &in[0]->shape;
	int a;
	if ((st = su_norm_axis(axis, is->rank, "axis", &a, e)))
		return st;
	int64_t dim = is->dim[a];

	struct cat_params *p = NULL;
	if ((st = cat_params_new(n_out, &p, e)))
		return st;
	s->params = p;
	int64_t *sizes = malloc((size_t)n_out * sizeof *sizes);
	if (!sizes)
		return err_set(e, ERR_NOMEM, "out of memory");
	int n = 0;
	const int64_t *attr = NULL;
	if (!input_form && (st = node_attr_ints(s->node, "split", &attr, &n, e)))
		goto done;
	if (attr) {
		if (n != n_out) {
			st = err_set(e, ERR_INVALID, "split has %d entries for %d outputs", n, n_out);
			goto done;
		}
		memcpy(sizes, attr, (size_t)n * sizeof *sizes);
	} else if (input_form && n_in >= 2 && in[1] && !(in[1]->data && tensor_numel(in[1]) == 0)) {
		if (in[1]->data && tensor_numel(in[1]) != n_out) {
			st = err_set(e, ERR_INVALID, "split has %" PRId64 " entries for %d outputs",
				     tensor_numel(in[1]), n_out);
			goto done;
		}
		if ((st = su_read_ints(in[1], "split", false, sizes, n_out, &n, e)))
			goto done;
	} else if (num_outputs > 0) {
		if (num_outputs != n_out) {
			st = err_set(e, ERR_INVALID, "num_outputs is %" PRId64 " but the node has %d "
				     "outputs", num_outputs, n_out);
			goto done;
		}
		int64_t chunk = (dim + n_out - 1) / n_out, left = dim;
		for (int i = 0; i < n_out; i++) {
			sizes[i] = left < chunk ? left : chunk;
			left -= sizes[i];
		}
	} else {
		if (dim % n_out) {
			st = err_set(e, ERR_INVALID, "axis %d of size %" PRId64 " cannot be split "
				     "evenly into %d outputs", a, dim, n_out);
			goto done;
		}
		for (int i = 0; i < n_out; i++)
			sizes[i] = dim / n_out;
	}
	int64_t sum = 0;
	for (int i = 0; i < n_out; i++) {
		if (sizes[i] < 0) {
			st = err_set(e, ERR_INVALID, "split[%d] is negative", i);
			goto done;
		}
		sum += sizes[i];
	}
	if (sum != dim) {
		st = err_set(e, ERR_SHAPE, "split sizes add up to %" PRId64 ", axis %d has %" PRId64,
			     sum, a, dim);
		goto done;
	}
	size_t inner;
	outer_inner(is, a, es, &p->outer, &inner);
	for (int i = 0; i < n_out; i++) {
		p->chunk[i] = (size_t)sizes[i] * inner;
		p->row += p->chunk[i];
		if (out[i]) {
			out[i]->dtype = in[0]->dtype;
			out[i]->shape = *is;
			out[i]->shape.dim[a] = sizes[i];
		}
	}
done:
	free(sizes);
	return st;
}

enum status op_split_run(const struct step *s, const struct tensor *const *in, int n_in,
			 struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct cat_params *p = s->params;
	const unsigned char *x = in[0]->data;
	if (p->row == 0)
		return OK;
	for (int64_t o = 0; o < p->outer; o++) {
		for (int i = 0; i < p->n; i++) {
			size_t c = p->chunk[i];
			if (c && out[i])
				memcpy((unsigned char *)out[i]->data + (size_t)o * c, x, c);
			x += c;
		}
	}
	return OK;
}
