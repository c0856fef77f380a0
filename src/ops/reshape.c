/*
 * reshape.c - operators that change only a tensor's shape, or produce a tensor
 * from shapes and scalars: Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size,
 * Dropout (inference), Expand, ConstantOfShape, Range.
 *
 * Reshape, Flatten, Squeeze, Unsqueeze and Dropout leave the row-major bytes
 * unchanged, so run() is one memcpy (outputs never alias inputs, see op.h);
 * all the work is shape arithmetic in prepare().  Their shape-giving inputs
 * (Reshape's shape, Squeeze's axes from opset 13 ...) must be constant at plan
 * time: a torch export computes them through Shape -> Gather -> Concat, which
 * the planner folds by running these same kernels on int64 data, so every
 * kernel here moves bytes without caring about the element type.
 *
 * Expand uses the axis-map engine of shape_util.h (index 0 along broadcast
 * axes).  ConstantOfShape and Range produce data from their attributes or
 * constant inputs.  Opset differences handled: Reshape's shape attribute
 * (opset < 5) and allowzero (14); Squeeze/Unsqueeze axes attribute before 13,
 * input from 13; Shape's start/end (15); Dropout's is_test (< 7), mask type T
 * (< 10) or bool (>= 10), ratio/training_mode inputs (>= 12).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "shape_util.h"

static void copy_bytes(const struct tensor *in, struct tensor *out)
{
	size_t n = (size_t)tensor_numel(out) * dtype_size(out->dtype);
	if (n)
		memcpy(out->data, in->data, n);
}

static enum status want_numel(const struct shape *from, const struct shape *to, struct err *e)
{
	if (shape_numel(from) != shape_numel(to)) {
		char a[160], b[160];
		return err_set(e, ERR_SHAPE, "cannot reshape %s into %s",
			       shape_str(from, a, sizeof a), shape_str(to, b, sizeof b));
	}
	return OK;
}

/* --- Reshape --------------------------------------------------------------- */

enum status op_reshape_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	bool attr_form = s->opset < 5;
	enum status st = ops_check_arity(in, n_in, attr_form ? 1 : 2, attr_form ? 1 : 2, n_out, 1, e);
	if (st)
		return st;
	int64_t allowzero = 0, dims[TENSOR_MAX_RANK];
	int n = 0;
	if (attr_form) {
		const int64_t *a;
		if ((st = node_attr_ints(s->node, "shape", &a, &n, e)))
			return st;
		if (!a)
			return err_set(e, ERR_INVALID, "attribute 'shape' is missing");
		if (n > TENSOR_MAX_RANK)
			return err_set(e, ERR_UNSUPPORTED, "target rank %d exceeds the limit of %d",
				       n, TENSOR_MAX_RANK);
		memcpy(dims, a, (size_t)n * sizeof *dims);
	} else {
		if (in[1]->data && tensor_numel(in[1]) > TENSOR_MAX_RANK)
			return err_set(e, ERR_UNSUPPORTED, "target rank %" PRId64
				       " exceeds the limit of %d", tensor_numel(in[1]),
				       TENSOR_MAX_RANK);
		if ((st = su_read_ints(in[1], "shape", false, dims, TENSOR_MAX_RANK, &n, e)))
			return st;
		if (s->opset >= 14 && (st = node_attr_int(s->node, "allowzero", 0, &allowzero, e)))
			return st;
	}
	const struct shape *is = &in[0]->shape;
	int neg = -1;
	bool zero = false;
	int64_t known = 1;
	for (int i = 0; i < n; i++) {
		if (dims[i] == 0 && !allowzero) {
			if (i >= is->rank)
				return err_set(e, ERR_INVALID,
					       "shape[%d] is 0 (copy) but the input has rank %d", i,
					       is->rank);
			dims[i] = is->dim[i];
		} else if (dims[i] == -1) {
			if (neg >= 0)
				return err_set(e, ERR_INVALID, "shape has more than one -1");
			neg = i;
			continue;
		} else if (dims[i] < -1) {
			return err_set(e, ERR_INVALID, "shape[%d] is %" PRId64, i, dims[i]);
		}
		if (dims[i] == 0)
			zero = true;
		known *= dims[i];
	}
	if (neg >= 0) {
		if (allowzero && zero)
			return err_set(e, ERR_INVALID, "shape has both -1 and 0 with allowzero=1");
		int64_t total = shape_numel(is);
		if (known == 0 || total % known != 0) {
			char a[160];
			return err_set(e, ERR_SHAPE, "cannot infer the -1 dimension: %s does not "
				       "divide into the other dimensions",
				       shape_str(is, a, sizeof a));
		}
		dims[neg] = total / known;
	}
	struct shape os = shape_make(n, dims);
	if ((st = want_numel(is, &os, e)))
		return st;
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = os;
	return OK;
}

enum status op_reshape_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	copy_bytes(in[0], out[0]);
	return OK;
}

/* --- Flatten --------------------------------------------------------------- */

enum status op_flatten_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	int64_t axis;
	if (st || (st = node_attr_int(s->node, "axis", 1, &axis, e)))
		return st;
	const struct shape *is = &in[0]->shape;
	if (axis < -is->rank || axis > is->rank)
		return err_set(e, ERR_INVALID, "axis %" PRId64 " is out of range for rank %d", axis,
			       is->rank);
	if (axis < 0)
		axis += is->rank;
	int64_t d[2] = { 1, 1 };
	for (int i = 0; i < is->rank; i++)
		d[i < axis ? 0 : 1] *= is->dim[i];
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = shape_make(2, d);
	return OK;
}

enum status op_flatten_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	copy_bytes(in[0], out[0]);
	return OK;
}

/* --- Squeeze / Unsqueeze ----------------------------------------------------- */

/* Axes from the attribute (opset < 13) or the optional second input (>= 13). */
static enum status read_axes(const struct step *s, const struct tensor *const *in, int n_in,
			     int64_t *axes, int *n, bool *given, struct err *e)
{
	*n = 0;
	*given = false;
	if (s->opset < 13) {
		const int64_t *a;
		enum status st = node_attr_ints(s->node, "axes", &a, n, e);
		if (st)
			return st;
		if (*n > TENSOR_MAX_RANK)
			return err_set(e, ERR_UNSUPPORTED, "%d axes exceed the rank limit of %d", *n,
				       TENSOR_MAX_RANK);
		if (a) {
			memcpy(axes, a, (size_t)*n * sizeof *axes);
			*given = true;
		}
		return OK;
	}
	if (n_in < 2 || !in[1])
		return OK;
	*given = true;
	return su_read_ints(in[1], "axes", false, axes, TENSOR_MAX_RANK, n, e);
}

enum status op_squeeze_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	int64_t axes[TENSOR_MAX_RANK];
	int n;
	bool given;
	enum status st = ops_check_arity(in, n_in, 1, s->opset < 13 ? 1 : 2, n_out, 1, e);
	if (st || (st = read_axes(s, in, n_in, axes, &n, &given, e)))
		return st;
	const struct shape *is = &in[0]->shape;
	bool drop[TENSOR_MAX_RANK] = { false };
	if (!given) {
		for (int i = 0; i < is->rank; i++)
			drop[i] = is->dim[i] == 1;
	}
	for (int i = 0; i < n; i++) {
		int a;
		if ((st = su_norm_axis(axes[i], is->rank, "axis", &a, e)))
			return st;
		if (is->dim[a] != 1)
			return err_set(e, ERR_SHAPE, "cannot squeeze axis %d of size %" PRId64, a,
				       is->dim[a]);
		drop[a] = true;
	}
	struct shape os = { 0 };
	for (int i = 0; i < is->rank; i++)
		if (!drop[i])
			os.dim[os.rank++] = is->dim[i];
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = os;
	return OK;
}

enum status op_squeeze_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	copy_bytes(in[0], out[0]);
	return OK;
}

enum status op_unsqueeze_prepare(struct step *s, const struct tensor *const *in, int n_in,
				 struct tensor *const *out, int n_out, struct err *e)
{
	int64_t axes[TENSOR_MAX_RANK];
	int n;
	bool given;
	enum status st = ops_check_arity(in, n_in, s->opset < 13 ? 1 : 2, s->opset < 13 ? 1 : 2,
					 n_out, 1, e);
	if (st || (st = read_axes(s, in, n_in, axes, &n, &given, e)))
		return st;
	if (!given)
		return err_set(e, ERR_INVALID, "axes are missing");
	const struct shape *is = &in[0]->shape;
	int rank = is->rank + n;
	if (rank > TENSOR_MAX_RANK)
		return err_set(e, ERR_UNSUPPORTED, "output rank %d exceeds the limit of %d", rank,
			       TENSOR_MAX_RANK);
	bool ins[TENSOR_MAX_RANK] = { false };
	for (int i = 0; i < n; i++) {
		int a;
		if ((st = su_norm_axis(axes[i], rank, "axis", &a, e)))
			return st;
		if (ins[a])
			return err_set(e, ERR_INVALID, "axis %d is given twice", a);
		ins[a] = true;
	}
	struct shape os = { .rank = rank };
	for (int i = 0, k = 0; i < rank; i++)
		os.dim[i] = ins[i] ? 1 : is->dim[k++];
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = os;
	return OK;
}

enum status op_unsqueeze_run(const struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	copy_bytes(in[0], out[0]);
	return OK;
}

/* --- Shape / Size -------------------------------------------------------------- */

struct shape_params {
	int start;
};

enum status op_shape_prepare(struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	int64_t start = 0, end = INT64_MAX;
	if (st)
		return st;
	if (s->opset >= 15) {
		if ((st = node_attr_int(s->node, "start", 0, &start, e)) ||
		    (st = node_attr_int(s->node, "end", INT64_MAX, &end, e)))
			return st;
	}
	int64_t r = in[0]->shape.rank;
	/* negative values count from the back; both clamp to [0, rank] */
	if (start < 0)
		start += r;
	if (end < 0)
		end += r;
	start = start < 0 ? 0 : start > r ? r : start;
	end = end < 0 ? 0 : end > r ? r : end;
	struct shape_params *p = malloc(sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->start = (int)start;
	s->params = p;
	out[0]->dtype = DT_INT64;
	out[0]->shape = (struct shape){ .rank = 1, .dim = { end > start ? end - start : 0 } };
	return OK;
}

enum status op_shape_run(const struct step *s, const struct tensor *const *in, int n_in,
			 struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct shape_params *p = s->params;
	int64_t *y = out[0]->data;
	for (int64_t i = 0; i < out[0]->shape.dim[0]; i++)
		y[i] = in[0]->shape.dim[p->start + i];
	return OK;
}

enum status op_size_prepare(struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	if (st)
		return st;
	out[0]->dtype = DT_INT64;
	out[0]->shape = (struct shape){ .rank = 0 };
	return OK;
}

enum status op_size_run(const struct step *s, const struct tensor *const *in, int n_in,
			struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	*(int64_t *)out[0]->data = tensor_numel(in[0]);
	return OK;
}

/* --- Dropout (inference) ----------------------------------------------------- */

struct dropout_params {
	size_t mask_size;
	unsigned char one[8]; /* the mask's "kept" value */
};

/* Bit pattern of 1 in a floating type (mask of Dropout before opset 10). */
static bool float_one(enum dtype t, unsigned char *one)
{
	float f = 1.0f;
	double d = 1.0;
	uint16_t h;
	switch (t) {
	case DT_FLOAT: memcpy(one, &f, 4); return true;
	case DT_DOUBLE: memcpy(one, &d, 8); return true;
	case DT_FLOAT16: h = float_to_half(1.0f); memcpy(one, &h, 2); return true;
	case DT_BFLOAT16: h = float_to_bf16(1.0f); memcpy(one, &h, 2); return true;
	default: return false;
	}
}

/* Value of a constant scalar of a floating type as double. */
static enum status scalar_float(const struct tensor *t, const char *what, double *v,
				struct err *e)
{
	if (!t->data)
		return err_set(e, ERR_UNSUPPORTED, "%s input is not constant", what);
	if (tensor_numel(t) != 1)
		return err_set(e, ERR_INVALID, "%s is not a scalar", what);
	switch (t->dtype) {
	case DT_FLOAT: *v = *(const float *)t->data; return OK;
	case DT_DOUBLE: *v = *(const double *)t->data; return OK;
	case DT_FLOAT16: *v = half_to_float(*(const uint16_t *)t->data); return OK;
	case DT_BFLOAT16: *v = bf16_to_float(*(const uint16_t *)t->data); return OK;
	default:
		return err_set(e, ERR_INVALID, "%s has type %s, expected a floating type", what,
			       dtype_name(t->dtype));
	}
}

enum status op_dropout_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, s->opset >= 12 ? 3 : 1, n_out, 1, e);
	if (st)
		return st;
	if (n_in >= 3 && in[2]) {
		/* training_mode: with ratio 0 training is still the identity, mask all true */
		if (in[2]->dtype != DT_BOOL || tensor_numel(in[2]) != 1)
			return err_set(e, ERR_INVALID, "training_mode must be a bool scalar");
		if (!in[2]->data)
			return err_set(e, ERR_UNSUPPORTED, "training_mode input is not constant");
		if (*(const uint8_t *)in[2]->data) {
			double ratio = 0.5;
			if (n_in >= 2 && in[1] && (st = scalar_float(in[1], "ratio", &ratio, e)))
				return st;
			if (ratio != 0.0)
				return err_set(e, ERR_UNSUPPORTED,
					       "training mode (random dropout) is not supported");
		}
	}
	struct dropout_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = in[0]->shape;
	if (n_out >= 2 && out[1]) {
		if (s->opset >= 10) {
			out[1]->dtype = DT_BOOL;
			p->mask_size = 1;
			p->one[0] = 1;
		} else {
			if (!float_one(in[0]->dtype, p->one))
				return err_set(e, ERR_UNSUPPORTED, "mask of type %s is not supported",
					       dtype_name(in[0]->dtype));
			out[1]->dtype = in[0]->dtype;
			p->mask_size = dtype_size(in[0]->dtype);
		}
		out[1]->shape = in[0]->shape;
	}
	return OK;
}

enum status op_dropout_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct dropout_params *p = s->params;
	copy_bytes(in[0], out[0]);
	if (n_out >= 2 && out[1]) {
		int64_t n = tensor_numel(out[1]);
		unsigned char *m = out[1]->data;
		if (p->mask_size == 1)
			memset(m, p->one[0], (size_t)n);
		else
			for (int64_t i = 0; i < n; i++)
				memcpy(m + (size_t)i * p->mask_size, p->one, p->mask_size);
	}
	return OK;
}

/* --- Expand ---------------------------------------------------------------- */

enum status op_expand_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 2, n_out, 1, e);
	int64_t dims[TENSOR_MAX_RANK];
	int n;
	size_t es;
	if (st || (st = su_elem_size(in[0], "input", &es, e)))
		return st;
	if (in[1]->data && tensor_numel(in[1]) > TENSOR_MAX_RANK)
		return err_set(e, ERR_UNSUPPORTED, "target rank %" PRId64 " exceeds the limit of %d",
			       tensor_numel(in[1]), TENSOR_MAX_RANK);
	if ((st = su_read_ints(in[1], "shape", false, dims, TENSOR_MAX_RANK, &n, e)))
		return st;
	for (int i = 0; i < n; i++)
		if (dims[i] < 0)
			return err_set(e, ERR_INVALID, "shape[%d] is %" PRId64, i, dims[i]);
	struct shape target = shape_make(n, dims), os;
	if ((st = bcast_shape(&in[0]->shape, &target, &os, e)) ||
	    (st = su_set_shape(out[0], in[0]->dtype, &os, e)))
		return st;
	/* the input, right-aligned and padded with leading 1s to the output's rank */
	int64_t idim[TENSOR_MAX_RANK];
	int off = os.rank - in[0]->shape.rank;
	for (int d = 0; d < os.rank; d++)
		idim[d] = d < off ? 1 : in[0]->shape.dim[d - off];
	struct amap *m = NULL;
	if ((st = amap_new(os.rank, os.dim, idim, es, &m, e)))
		return st;
	for (int d = 0; d < os.rank; d++) {
		int64_t *t = amap_table(m, d);
		for (int64_t o = 0; o < os.dim[d]; o++)
			t[o] = idim[d] == 1 ? 0 : o;
	}
	amap_finish(m);
	s->params = m;
	return OK;
}

enum status op_expand_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	amap_run(s->params, in[0]->data, out[0]->data);
	return OK;
}

/* --- ConstantOfShape ----------------------------------------------------------- */

struct cos_params {
	size_t esize;
	unsigned char value[8];
};

enum status op_constantofshape_prepare(struct step *s, const struct tensor *const *in, int n_in,
				       struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	int64_t dims[TENSOR_MAX_RANK];
	int n;
	if (st)
		return st;
	if (in[0]->data && tensor_numel(in[0]) > TENSOR_MAX_RANK)
		return err_set(e, ERR_UNSUPPORTED, "output rank %" PRId64 " exceeds the limit of %d",
			       tensor_numel(in[0]), TENSOR_MAX_RANK);
	if ((st = su_read_ints(in[0], "shape", false, dims, TENSOR_MAX_RANK, &n, e)))
		return st;
	for (int i = 0; i < n; i++)
		if (dims[i] < 0)
			return err_set(e, ERR_INVALID, "shape[%d] is %" PRId64, i, dims[i]);
	struct cos_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	enum dtype dt = DT_FLOAT;
	p->esize = 4; /* default value: float 0 */
	const struct attr *a = node_attr(s->node, "value");
	if (a) {
		if (a->type != ATTR_TENSOR)
			return err_set(e, ERR_INVALID, "attribute 'value' is not a tensor");
		if (tensor_numel(&a->t) != 1 || !a->t.data)
			return err_set(e, ERR_INVALID, "attribute 'value' must hold one element");
		dt = a->t.dtype;
		size_t es = dtype_size(dt);
		if (es != 1 && es != 2 && es != 4 && es != 8)
			return err_set(e, ERR_UNSUPPORTED, "value of type %s is not supported",
				       dtype_name(dt));
		p->esize = es;
		memcpy(p->value, a->t.data, es);
	}
	struct shape os = shape_make(n, dims);
	return su_set_shape(out[0], dt, &os, e);
}

enum status op_constantofshape_run(const struct step *s, const struct tensor *const *in,
				   int n_in, struct tensor *const *out, int n_out, void *scratch,
				   struct err *e)
{
	const struct cos_params *p = s->params;
	int64_t n = tensor_numel(out[0]);
	unsigned char *y = out[0]->data;
	bool zero = true;
	for (size_t i = 0; i < p->esize; i++)
		zero = zero && p->value[i] == 0;
	if (zero) {
		if (n)
			memset(y, 0, (size_t)n * p->esize);
		return OK;
	}
	for (int64_t i = 0; i < n; i++)
		memcpy(y + (size_t)i * p->esize, p->value, p->esize);
	return OK;
}

/* --- Range ----------------------------------------------------------------- */

/* Scalar element of a Range input as double (ints are exact up to 2^53, enough
 * for any tensor length) and as int64. */
static double range_val(const struct tensor *t)
{
	switch (t->dtype) {
	case DT_FLOAT: return *(const float *)t->data;
	case DT_DOUBLE: return *(const double *)t->data;
	case DT_INT16: return *(const int16_t *)t->data;
	case DT_INT32: return *(const int32_t *)t->data;
	default: return (double)*(const int64_t *)t->data;
	}
}

static int64_t range_ival(const struct tensor *t)
{
	switch (t->dtype) {
	case DT_INT16: return *(const int16_t *)t->data;
	case DT_INT32: return *(const int32_t *)t->data;
	case DT_INT64: return *(const int64_t *)t->data;
	default: return 0;
	}
}

enum status op_range_prepare(struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, struct err *e)
{
	static const char *const names[3] = { "start", "limit", "delta" };
	enum status st = ops_check_arity(in, n_in, 3, 3, n_out, 1, e);
	if (st)
		return st;
	enum dtype dt = in[0]->dtype;
	if (dt != DT_FLOAT && dt != DT_DOUBLE && dt != DT_INT16 && dt != DT_INT32 &&
	    dt != DT_INT64)
		return err_set(e, ERR_UNSUPPORTED, "type %s is not supported", dtype_name(dt));
	for (int i = 0; i < 3; i++) {
		if (in[i]->dtype != dt)
			return err_set(e, ERR_INVALID, "%s has type %s, start has %s", names[i],
				       dtype_name(in[i]->dtype), dtype_name(dt));
		if (tensor_numel(in[i]) != 1)
			return err_set(e, ERR_INVALID, "%s is not a scalar", names[i]);
		if (!in[i]->data)
			return err_set(e, ERR_UNSUPPORTED, "%s input is not constant", names[i]);
	}
	int64_t n;
	if (dt == DT_FLOAT || dt == DT_DOUBLE) {
		double start = range_val(in[0]), limit = range_val(in[1]), delta = range_val(in[2]);
		if (delta == 0 || !isfinite(start) || !isfinite(limit) || !isfinite(delta))
			return err_set(e, ERR_INVALID, "delta is zero or a value is not finite");
		double c = ceil((limit - start) / delta);
		if (c > (double)TENSOR_MAX_BYTES)
			return err_set(e, ERR_LIMIT, "range of %g elements is too large", c);
		n = c > 0 ? (int64_t)c : 0;
	} else {
		int64_t start = range_ival(in[0]), limit = range_ival(in[1]);
		int64_t delta = range_ival(in[2]);
		if (delta == 0)
			return err_set(e, ERR_INVALID, "delta is zero");
		int64_t span;
		if (__builtin_sub_overflow(limit, start, &span))
			return err_set(e, ERR_LIMIT, "range is too large");
		if ((span > 0) != (delta > 0) || span == 0)
			n = 0;
		else
			n = span / delta + (span % delta != 0);
	}
	struct shape os = { .rank = 1, .dim = { n } };
	return su_set_shape(out[0], dt, &os, e);
}

enum status op_range_run(const struct step *s, const struct tensor *const *in, int n_in,
			 struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	int64_t n = out[0]->shape.dim[0];
	void *y = out[0]->data;
	switch (out[0]->dtype) {
	case DT_FLOAT: {
		float start = *(const float *)in[0]->data, delta = *(const float *)in[2]->data;
		for (int64_t i = 0; i < n; i++)
			((float *)y)[i] = start + (float)i * delta;
		break;
	}
	case DT_DOUBLE: {
		double start = *(const double *)in[0]->data, delta = *(const double *)in[2]->data;
		for (int64_t i = 0; i < n; i++)
			((double *)y)[i] = start + (double)i * delta;
		break;
	}
	case DT_INT16:
		for (int64_t i = 0, v = range_ival(in[0]), d = range_ival(in[2]); i < n; i++, v += d)
			((int16_t *)y)[i] = (int16_t)v;
		break;
	case DT_INT32:
		for (int64_t i = 0, v = range_ival(in[0]), d = range_ival(in[2]); i < n; i++, v += d)
			((int32_t *)y)[i] = (int32_t)v;
		break;
	default:
		for (int64_t i = 0, v = range_ival(in[0]), d = range_ival(in[2]); i < n; i++, v += d)
			((int64_t *)y)[i] = v;
		break;
	}
	return OK;
}
