/*
 * fuse.c - finding Conv chains a plain FP32 plan may merge, and folding BatchNormalization.
 *
 * Why: in a CNN every Conv is followed by a BatchNormalization, an activation and often a
 * residual Add, each a full pass over a feature map that no longer fits in cache at batch 64.
 * ONNX Runtime merges them into the convolution; so does qlens, for plans that nobody
 * observes node by node (exec.h: plan_opts.fuse).  Simulation and calibration plans never
 * fuse: quantization happens at node boundaries, so they must see every node.
 *
 * How: starting from a Conv whose weight (and bias) are constant, fuse_find() walks forward
 * while the current value has exactly one reader, is not pinned (a graph output or a value
 * the caller keeps), and that reader is the next allowed link: BatchNormalization (constant
 * statistics, per channel), then Add of a float operand of exactly the same shape (no
 * broadcasting), then one activation.  Links may be skipped but not reordered.  The result
 * is only a description; exec.c rewires the step and fuse_fold_bn() makes the new weights.
 */
#include "fuse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The node that is the only reader of value v, or -1. */
static int sole_reader(const struct fuse_ctx *c, int v)
{
	if (v < 0 || c->pinned[v] || c->readers[v] != 1)
		return -1;
	int r = c->reader[v];
	return r >= 0 && c->is_step[r] ? r : -1;
}

static bool const_float(const struct fuse_ctx *c, int v)
{
	return v >= 0 && c->is_const[v] && c->vt[v].dtype == DT_FLOAT && c->vt[v].data;
}

/* Single float output, the only one the node has. */
static bool one_float_output(const struct fuse_ctx *c, const struct node *n)
{
	if (n->n_outputs < 1 || n->outputs[0] < 0 || c->vt[n->outputs[0]].dtype != DT_FLOAT)
		return false;
	for (int k = 1; k < n->n_outputs; k++)
		if (n->outputs[k] >= 0)
			return false;
	return true;
}

static bool bn_foldable(const struct fuse_ctx *c, const struct node *n, int cur, int64_t m)
{
	if (n->op != OP_BATCHNORM || n->n_inputs != 5 || n->inputs[0] != cur ||
	    !one_float_output(c, n))
		return false;
	int64_t training = 0, spatial = 1;
	if (node_attr_int(n, "training_mode", 0, &training, NULL) ||
	    node_attr_int(n, "spatial", 1, &spatial, NULL) || training ||
	    (spatial == 0 && c->g->opset < 9))
		return false;
	for (int k = 1; k < 5; k++) {
		int v = n->inputs[k];
		if (!const_float(c, v) || c->vt[v].shape.rank != 1 || c->vt[v].shape.dim[0] != m)
			return false;
	}
	return true;
}

/* Fill epi for an activation node reading cur; false if it is none we merge. */
static bool activation(const struct fuse_ctx *c, const struct node *n, int cur,
		       struct step_epilogue *epi)
{
	if (n->n_inputs < 1 || n->inputs[0] != cur || !one_float_output(c, n))
		return false;
	switch (n->op) {
	case OP_RELU:
		if (n->n_inputs != 1)
			return false;
		epi->act = EPI_RELU;
		return true;
	case OP_LEAKY_RELU:
		if (n->n_inputs != 1 || node_attr_float(n, "alpha", 0.01f, &epi->alpha, NULL))
			return false;
		epi->act = EPI_LEAKY_RELU;
		return true;
	case OP_CLIP:
		epi->lo = -INFINITY;
		epi->hi = INFINITY;
		if (c->g->opset < 11) {
			if (n->n_inputs != 1 || node_attr_float(n, "min", -INFINITY, &epi->lo, NULL) ||
			    node_attr_float(n, "max", INFINITY, &epi->hi, NULL))
				return false;
		} else {
			if (n->n_inputs > 3)
				return false;
			for (int k = 1; k < n->n_inputs; k++) {
				int v = n->inputs[k];
				if (v < 0)
					continue;
				if (!const_float(c, v) || tensor_numel(&c->vt[v]) != 1)
					return false;
				*(k == 1 ? &epi->lo : &epi->hi) = *(const float *)c->vt[v].data;
			}
		}
		epi->act = EPI_CLIP;
		return true;
	default:
		return false;
	}
}

bool fuse_find(const struct fuse_ctx *c, int conv, struct fuse_chain *ch)
{
	const struct graph *g = c->g;
	const struct node *n = &g->nodes[conv];
	*ch = (struct fuse_chain){ .conv = conv, .bn = -1, .add = -1, .residual = -1, .act = -1,
				   .last = conv };
	if (n->op != OP_CONV || !c->is_step[conv] || n->n_inputs < 2 || n->n_inputs > 3 ||
	    !one_float_output(c, n) || !const_float(c, n->inputs[1]))
		return false;
	bool has_bias = n->n_inputs > 2 && n->inputs[2] >= 0;
	if (has_bias && !const_float(c, n->inputs[2]))
		return false;
	int cur = n->outputs[0];
	const struct shape *ys = &c->vt[cur].shape;
	if (ys->rank < 3)
		return false;
	int r = sole_reader(c, cur);
	if (r >= 0 && bn_foldable(c, &g->nodes[r], cur, ys->dim[1])) {
		ch->bn = ch->last = r;
		cur = g->nodes[r].outputs[0];
		r = sole_reader(c, cur);
	}
	if (r >= 0 && g->nodes[r].op == OP_ADD && g->nodes[r].n_inputs == 2 &&
	    one_float_output(c, &g->nodes[r])) {
		const struct node *a = &g->nodes[r];
		int other = a->inputs[0] == cur ? a->inputs[1] : a->inputs[0];
		bool ok = (a->inputs[0] == cur) != (a->inputs[1] == cur) && other >= 0 &&
			  c->vt[other].dtype == DT_FLOAT && shape_equal(&c->vt[other].shape, ys) &&
			  shape_equal(&c->vt[a->outputs[0]].shape, ys);
		if (ok) {
			ch->add = ch->last = r;
			ch->residual = other;
			ch->epi.residual = true;
			cur = a->outputs[0];
			r = sole_reader(c, cur);
		}
	}
	if (r >= 0 && activation(c, &g->nodes[r], cur, &ch->epi)) {
		ch->act = ch->last = r;
		cur = g->nodes[r].outputs[0];
	}
	ch->out = cur;
	return ch->last != conv;
}

enum status fuse_fold_bn(const struct fuse_ctx *c, const struct fuse_chain *ch, struct tensor *w,
			 struct tensor *b, struct err *e)
{
	const struct node *cv = &c->g->nodes[ch->conv], *bn = &c->g->nodes[ch->bn];
	const struct tensor *w0 = &c->vt[cv->inputs[1]];
	const struct tensor *b0 = cv->n_inputs > 2 && cv->inputs[2] >= 0 ?
				  &c->vt[cv->inputs[2]] : NULL;
	const float *sc = c->vt[bn->inputs[1]].data, *bi = c->vt[bn->inputs[2]].data;
	const float *mean = c->vt[bn->inputs[3]].data, *var = c->vt[bn->inputs[4]].data;
	float eps;
	enum status st = node_attr_float(bn, "epsilon", 1e-5f, &eps, e);
	if (st)
		return st;
	const int64_t m = w0->shape.dim[0], per = m ? tensor_numel(w0) / m : 0;
	struct shape bs = { .rank = 1, .dim = { m } };
	if ((st = tensor_alloc(w, DT_FLOAT, &w0->shape, e)))
		return st;
	if ((st = tensor_alloc(b, DT_FLOAT, &bs, e))) {
		tensor_fini(w);
		return st;
	}
	const float *ws = w0->data;
	float *wd = w->data, *bd = b->data;
	for (int64_t i = 0; i < m; i++) {
		/* the same float arithmetic as BatchNormalization's run() */
		const float a = sc[i] / sqrtf(var[i] + eps);
		const float off = bi[i] - mean[i] * a;
		for (int64_t k = 0; k < per; k++)
			wd[i * per + k] = ws[i * per + k] * a;
		bd[i] = b0 ? ((const float *)b0->data)[i] * a + off : off;
	}
	return OK;
}
