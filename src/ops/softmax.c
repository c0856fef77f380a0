/*
 * softmax.c - Softmax and LogSoftmax on float32, numerically stable.
 *
 * The axis meaning changed at opset 13.  Before, the input is coerced to 2-D at `axis`
 * (default 1): every row [prod(dims[:axis]), prod(dims[axis:])] is normalised as a whole.
 * From opset 13 the op normalises along the single dim `axis` (default -1).  Both reduce to
 * "outer blocks x L values x inner stride": opset < 13 is the case inner = 1 with L the whole
 * flattened tail.
 *
 * Each set of L values is shifted by its maximum before exp() so large inputs do not overflow.
 * With inner = 1 (the usual last-axis case) a row is contiguous: Softmax rows go to
 * nn_softmax_rows (AVX-512 exp where the CPU has it, four rows at a time, each with the bits
 * nn_softmax_row, which fused attention uses, gives it alone).  LogSoftmax is then
 * (x - max) - log(sum(exp(x - max))).  Otherwise the running maxima and sums for one block's
 * `inner` columns sit in scratch and every pass walks the block row by row, keeping memory
 * access sequential.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "nn_util.h"

struct softmax_params {
	int64_t outer, len, inner;
	bool log;
};

static enum status softmax_prepare(struct step *s, const struct tensor *const *in, int n_in,
				   struct tensor *const *out, int n_out, bool log,
				   struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	if (!st)
		st = ops_want_dtype(in[0], "input", DT_FLOAT, e);
	if (st)
		return st;
	const struct shape *xs = &in[0]->shape;
	if (xs->rank < 1)
		return err_set(e, ERR_SHAPE, "input is a scalar; expected at least 1 dim");
	bool coerce = s->opset < 13;
	int64_t axis_attr;
	int axis;
	if ((st = node_attr_int(s->node, "axis", coerce ? 1 : -1, &axis_attr, e)) ||
	    (st = nn_axis(axis_attr, xs->rank, &axis, e)))
		return st;
	struct softmax_params p = { .outer = 1, .len = 1, .inner = 1, .log = log };
	for (int i = 0; i < xs->rank; i++) {
		if (i < axis)
			p.outer *= xs->dim[i];
		else if (i == axis || coerce)
			p.len *= xs->dim[i];
		else
			p.inner *= xs->dim[i];
	}
	struct softmax_params *pp = malloc(sizeof *pp);
	if (!pp)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pp = p;
	s->params = pp;
	s->scratch_bytes = p.inner > 1 ? 2 * (size_t)p.inner * sizeof(float) : 0;
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = *xs;
	return OK;
}

/* One contiguous row of n values. */
static void softmax_row(const float *restrict x, float *restrict y, int64_t n, bool log)
{
	if (!log) {
		nn_softmax_row(x, y, n);
		return;
	}
	float mx = -INFINITY;
	for (int64_t i = 0; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	float sum = 0.0f;
	for (int64_t i = 0; i < n; i++)
		sum += expf(x[i] - mx);
	/* (x - max) is exact near max; adding max + log(sum) first would round it away */
	const float ls = logf(sum);
	for (int64_t i = 0; i < n; i++)
		y[i] = (x[i] - mx) - ls;
}

/* One block of len rows by inner columns, normalised down the columns. */
static void softmax_cols(const float *restrict x, float *restrict y, int64_t len, int64_t inner,
			 bool log, float *restrict mx, float *restrict sum)
{
	for (int64_t j = 0; j < inner; j++) {
		mx[j] = -INFINITY;
		sum[j] = 0.0f;
	}
	for (int64_t l = 0; l < len; l++) {
		const float *restrict xr = x + l * inner;
		for (int64_t j = 0; j < inner; j++)
			mx[j] = xr[j] > mx[j] ? xr[j] : mx[j];
	}
	for (int64_t l = 0; l < len; l++) {
		const float *restrict xr = x + l * inner;
		float *restrict yr = y + l * inner;
		for (int64_t j = 0; j < inner; j++) {
			yr[j] = expf(xr[j] - mx[j]);
			sum[j] += yr[j];
		}
	}
	if (log) {
		for (int64_t j = 0; j < inner; j++)
			sum[j] = logf(sum[j]);
		for (int64_t l = 0; l < len; l++) {
			const float *restrict xr = x + l * inner;
			float *restrict yr = y + l * inner;
			for (int64_t j = 0; j < inner; j++)
				yr[j] = (xr[j] - mx[j]) - sum[j];
		}
		return;
	}
	for (int64_t j = 0; j < inner; j++)
		sum[j] = 1.0f / sum[j];
	for (int64_t l = 0; l < len; l++) {
		float *restrict yr = y + l * inner;
		for (int64_t j = 0; j < inner; j++)
			yr[j] *= sum[j];
	}
}

static enum status softmax_run(const struct step *s, const struct tensor *const *in,
			       struct tensor *const *out, void *scratch)
{
	const struct softmax_params *p = s->params;
	const float *x = in[0]->data;
	float *y = out[0]->data;
	const int64_t block = p->len * p->inner;
	if (p->inner == 1 && !p->log) {
		nn_softmax_rows(x, y, p->outer, p->len);
		return OK;
	}
	for (int64_t o = 0; o < p->outer; o++) {
		if (p->inner == 1)
			softmax_row(x + o * block, y + o * block, p->len, p->log);
		else
			softmax_cols(x + o * block, y + o * block, p->len, p->inner, p->log,
				     scratch, (float *)scratch + p->inner);
	}
	return OK;
}

enum status op_softmax_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	return softmax_prepare(s, in, n_in, out, n_out, false, e);
}

enum status op_softmax_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	return softmax_run(s, in, out, scratch);
}

enum status op_logsoftmax_prepare(struct step *s, const struct tensor *const *in, int n_in,
				  struct tensor *const *out, int n_out, struct err *e)
{
	return softmax_prepare(s, in, n_in, out, n_out, true, e);
}

enum status op_logsoftmax_run(const struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	return softmax_run(s, in, out, scratch);
}
