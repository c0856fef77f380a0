/*
 * pad.c - Pad: modes constant, reflect, edge and wrap.
 *
 * Every mode is a per-axis function from output index o to input index
 * i = o - pad_begin: inside [0, dim) it is i itself, outside it is "fill"
 * (constant), clamped (edge), folded back and forth with period 2*(dim-1)
 * (reflect, as numpy does it even for pads wider than the input) or taken
 * modulo dim (wrap).  prepare() writes those tables into an axis map
 * (shape_util.h), so run() is the generic gather that copies the unpadded
 * middle of each row with memcpy.  Negative pads crop, which the same tables
 * express without a special case.
 *
 * Opset differences: before 11 pads ('paddings' in opset 1), mode and the
 * float 'value' are attributes; from 11 pads and the optional constant_value
 * are inputs, from 18 an optional axes input says which axes the pads refer
 * to, and 19 adds wrap.  pads are [begin_0..begin_n-1, end_0..end_n-1].  The
 * constant value may be computed at run time, so it is read in run().
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shape_util.h"

enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

static int64_t pad_index(int64_t i, int64_t n, enum pad_mode mode)
{
	if (i >= 0 && i < n)
		return i;
	switch (mode) {
	case PAD_EDGE:
		return i < 0 ? 0 : n - 1;
	case PAD_WRAP:
		i %= n;
		return i < 0 ? i + n : i;
	case PAD_REFLECT: {
		if (n == 1)
			return 0;
		int64_t p = 2 * (n - 1);
		i %= p;
		if (i < 0)
			i += p;
		return i < n ? i : p - i;
	}
	default:
		return AMAP_FILL;
	}
}

enum status op_pad_prepare(struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, struct err *e)
{
	bool attr_form = s->opset < 11;
	int max_in = s->opset >= 18 ? 4 : 3;
	enum status st = attr_form ? ops_check_arity(in, n_in, 1, 1, n_out, 1, e)
				   : ops_check_arity(in, n_in, 2, max_in, n_out, 1, e);
	size_t es;
	const char *mode_s;
	if (st || (st = su_elem_size(in[0], "input", &es, e)) ||
	    (st = node_attr_string(s->node, "mode", "constant", &mode_s, e)))
		return st;
	enum pad_mode mode;
	if (strcmp(mode_s, "constant") == 0)
		mode = PAD_CONSTANT;
	else if (strcmp(mode_s, "reflect") == 0)
		mode = PAD_REFLECT;
	else if (strcmp(mode_s, "edge") == 0)
		mode = PAD_EDGE;
	else if (strcmp(mode_s, "wrap") == 0)
		mode = PAD_WRAP;
	else
		return err_set(e, ERR_UNSUPPORTED, "mode '%s' is not supported", mode_s);

	const struct shape *is = &in[0]->shape;
	int r = is->rank, np = 0, na = r;
	int64_t pads[2 * TENSOR_MAX_RANK], axes[TENSOR_MAX_RANK];
	for (int d = 0; d < r; d++)
		axes[d] = d;
	if (attr_form) {
		const int64_t *a;
		const char *name = s->opset < 2 ? "paddings" : "pads";
		if ((st = node_attr_ints(s->node, name, &a, &np, e)))
			return st;
		if (!a)
			return err_set(e, ERR_INVALID, "attribute '%s' is missing", name);
		if (np > 2 * TENSOR_MAX_RANK)
			return err_set(e, ERR_INVALID, "too many pads (%d)", np);
		memcpy(pads, a, (size_t)np * sizeof *a);
	} else {
		if ((st = su_read_ints(in[1], "pads", false, pads, 2 * TENSOR_MAX_RANK, &np, e)))
			return st;
		if (n_in >= 4 && in[3] &&
		    (st = su_read_ints(in[3], "axes", true, axes, TENSOR_MAX_RANK, &na, e)))
			return st;
	}
	if (np != 2 * na)
		return err_set(e, ERR_INVALID, "pads has %d entries, expected %d", np, 2 * na);
	int64_t pb[TENSOR_MAX_RANK] = { 0 }, pe[TENSOR_MAX_RANK] = { 0 };
	bool seen[TENSOR_MAX_RANK] = { false };
	for (int i = 0; i < na; i++) {
		int a;
		if ((st = su_norm_axis(axes[i], r, "axis", &a, e)))
			return st;
		if (seen[a])
			return err_set(e, ERR_INVALID, "axis %d is given twice", a);
		seen[a] = true;
		pb[a] = pads[i];
		pe[a] = pads[na + i];
	}
	struct shape os = *is;
	for (int d = 0; d < r; d++) {
		int64_t lim = TENSOR_MAX_BYTES;
		if (pb[d] > lim || pe[d] > lim || pb[d] < -lim || pe[d] < -lim)
			return err_set(e, ERR_LIMIT, "pads for axis %d are too large", d);
		os.dim[d] = is->dim[d] + pb[d] + pe[d];
		if (os.dim[d] < 0)
			return err_set(e, ERR_INVALID, "pads crop axis %d (size %" PRId64 ") below 0",
				       d, is->dim[d]);
		if (mode != PAD_CONSTANT && is->dim[d] == 0 && os.dim[d] > 0)
			return err_set(e, ERR_INVALID, "cannot pad the empty axis %d in mode '%s'", d,
				       mode_s);
	}
	if ((st = su_set_shape(out[0], in[0]->dtype, &os, e)))
		return st;

	struct amap *m = NULL;
	if ((st = amap_new(r, os.dim, is->dim, es, &m, e)))
		return st;
	s->params = m;
	for (int d = 0; d < r; d++) {
		int64_t *t = amap_table(m, d);
		for (int64_t o = 0; o < os.dim[d]; o++)
			t[o] = pad_index(o - pb[d], is->dim[d], mode);
	}
	amap_finish(m);

	/* fill value: attribute (float) before opset 11, else the optional input (read at
	 * run time; zero when absent) */
	if (attr_form) {
		float v;
		if ((st = node_attr_float(s->node, "value", 0.0f, &v, e)))
			return st;
		if ((st = convert_from_float(m->fill, in[0]->dtype, &v, 1, e)))
			return st;
	} else if (n_in >= 3 && in[2]) {
		if (in[2]->dtype != in[0]->dtype)
			return err_set(e, ERR_INVALID, "constant_value has type %s, input has %s",
				       dtype_name(in[2]->dtype), dtype_name(in[0]->dtype));
		if (tensor_numel(in[2]) != 1)
			return err_set(e, ERR_INVALID, "constant_value is not a scalar");
	}
	return OK;
}

enum status op_pad_run(const struct step *s, const struct tensor *const *in, int n_in,
		       struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct amap *m = s->params;
	bool value_input = s->opset >= 11 && n_in >= 3 && in[2];
	amap_run_fill(m, in[0]->data, out[0]->data, value_input ? in[2]->data : m->fill);
	return OK;
}
