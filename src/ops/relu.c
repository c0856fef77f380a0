/*
 * relu.c - Relu on float32.
 */
#include "ops_util.h"

enum status op_relu_prepare(struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	if (!st)
		st = ops_want_dtype(in[0], "input", DT_FLOAT, e);
	if (st)
		return st;
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = in[0]->shape;
	return OK;
}

enum status op_relu_run(const struct step *s, const struct tensor *const *in, int n_in,
			struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const float *x = in[0]->data;
	float *y = out[0]->data;
	int64_t n = tensor_numel(in[0]);
	for (int64_t i = 0; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
	return OK;
}
