/*
 * fuse.c - finding the chains a plain FP32 plan may merge (fuse.h), and folding
 * BatchNormalization into convolution weights.
 *
 * Why: in a CNN every Conv is followed by a BatchNormalization, an activation and often a
 * residual Add; in a transformer every Linear layer is a MatMul, a bias Add, perhaps a GELU of
 * five nodes and a residual Add, and attention is four nodes around a Softmax.  Each node is
 * a full pass over a tensor that no longer fits in cache at batch 64.  ONNX Runtime merges
 * them; so does qlens, for plans that nobody observes node by node (exec.h: plan_opts.fuse).
 * Simulation and calibration plans never fuse: quantization happens at node boundaries, so
 * they must see every node.
 *
 * How: starting from a Conv or MatMul step, the matchers walk forward while the current value
 * has exactly one reader, is not pinned (a graph output or a value the caller keeps), and that
 * reader is the next allowed link (links may be skipped, not reordered).  Every interior
 * value of a chain thus has one reader, so chains cannot overlap and a merged step reads only
 * values that exist before it runs.  The result is a description; exec.c rewires the step and
 * fuse_fold_bn() makes the new weights.
 */
#include "fuse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/fused.h"
#include "ops/nn_util.h"

static int readers(const struct fuse_ctx *c, int v)
{
	return c->rstart[v + 1] - c->rstart[v];
}

/* The node that is the only reader of value v (a step not merged yet), or -1. */
static int sole_reader(const struct fuse_ctx *c, int v)
{
	if (v < 0 || c->pinned[v] || readers(c, v) != 1)
		return -1;
	int r = c->rlist[c->rstart[v]];
	return c->is_step[r] ? r : -1;
}

static bool const_float(const struct fuse_ctx *c, int v)
{
	return v >= 0 && c->is_const[v] && c->vt[v].dtype == DT_FLOAT && c->vt[v].data;
}

/* A one-element float constant, its value in *out. */
static bool const_scalar(const struct fuse_ctx *c, int v, float *out)
{
	if (!const_float(c, v) || tensor_numel(&c->vt[v]) != 1)
		return false;
	*out = *(const float *)c->vt[v].data;
	return true;
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

/* Node r is a binary op `op` of cur and another value; that value in *other. */
static bool binary_with(const struct fuse_ctx *c, int r, enum op_kind op, int cur, int *other)
{
	const struct node *n = &c->g->nodes[r];
	if (n->op != op || n->n_inputs != 2 || !one_float_output(c, n))
		return false;
	if ((n->inputs[0] == cur) == (n->inputs[1] == cur)) /* neither, or cur twice */
		return false;
	*other = n->inputs[0] == cur ? n->inputs[1] : n->inputs[0];
	return *other >= 0;
}

static void absorb(struct fuse_chain *ch, int node)
{
	ch->absorbed[ch->n_absorbed++] = node;
	ch->last = node;
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

/*
 * The erf GELU as torch exports it, reading x:  d = Div(x, c), e = Erf(d), a = Add(e, 1),
 * m = Mul(x, a), y = Mul(m, 0.5) - x read by the Div and the first Mul only, c within 1% of
 * sqrt 2.  Absorbs the five nodes and sets *y.
 */
static bool gelu(const struct fuse_ctx *c, int x, struct fuse_chain *ch, int *y)
{
	const struct graph *g = c->g;
	if (c->pinned[x] || readers(c, x) != 2)
		return false;
	int r0 = c->rlist[c->rstart[x]], r1 = c->rlist[c->rstart[x] + 1];
	if (r0 == r1 || !c->is_step[r0] || !c->is_step[r1])
		return false;
	int div = g->nodes[r0].op == OP_DIV ? r0 : r1, mul = div == r0 ? r1 : r0;
	const struct node *dn = &g->nodes[div];
	float cst, one, half;
	int other, e, a, m;
	if (dn->op != OP_DIV || dn->n_inputs != 2 || dn->inputs[0] != x ||
	    !one_float_output(c, dn) || !const_scalar(c, dn->inputs[1], &cst) ||
	    fabsf(cst - 1.41421356f) > 0.0142f)
		return false;
	e = sole_reader(c, dn->outputs[0]);
	if (e < 0 || g->nodes[e].op != OP_ERF || g->nodes[e].n_inputs != 1 ||
	    !one_float_output(c, &g->nodes[e]))
		return false;
	a = sole_reader(c, g->nodes[e].outputs[0]);
	if (a < 0 || !binary_with(c, a, OP_ADD, g->nodes[e].outputs[0], &other) ||
	    !const_scalar(c, other, &one) || one != 1.0f)
		return false;
	if (sole_reader(c, g->nodes[a].outputs[0]) != mul ||
	    !binary_with(c, mul, OP_MUL, g->nodes[a].outputs[0], &other) || other != x)
		return false;
	m = sole_reader(c, g->nodes[mul].outputs[0]);
	if (m < 0 || !binary_with(c, m, OP_MUL, g->nodes[mul].outputs[0], &other) ||
	    !const_scalar(c, other, &half) || half != 0.5f)
		return false;
	if (ch->n_absorbed + 5 > FUSE_MAX_NODES)
		return false;
	absorb(ch, div);
	absorb(ch, e);
	absorb(ch, a);
	absorb(ch, mul);
	absorb(ch, m);
	ch->epi.act = EPI_GELU;
	ch->epi.alpha = cst;
	*y = g->nodes[m].outputs[0];
	return true;
}

/* An activation reading cur: absorbs it, fills the epilogue, sets *y. */
static bool activation(const struct fuse_ctx *c, int cur, struct fuse_chain *ch, int *y)
{
	if (gelu(c, cur, ch, y))
		return true;
	int r = sole_reader(c, cur);
	if (r < 0)
		return false;
	const struct node *n = &c->g->nodes[r];
	struct step_epilogue *epi = &ch->epi;
	if (n->n_inputs < 1 || n->inputs[0] != cur || !one_float_output(c, n))
		return false;
	switch (n->op) {
	case OP_RELU:
		if (n->n_inputs != 1)
			return false;
		epi->act = EPI_RELU;
		break;
	case OP_LEAKY_RELU:
		if (n->n_inputs != 1 || node_attr_float(n, "alpha", 0.01f, &epi->alpha, NULL))
			return false;
		epi->act = EPI_LEAKY_RELU;
		break;
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
			for (int k = 1; k < n->n_inputs; k++)
				if (n->inputs[k] >= 0 &&
				    !const_scalar(c, n->inputs[k], k == 1 ? &epi->lo : &epi->hi))
					return false;
		}
		epi->act = EPI_CLIP;
		break;
	default:
		return false;
	}
	absorb(ch, r);
	*y = n->outputs[0];
	return true;
}

/* An Add of cur and a float value of exactly cur's shape: that value becomes the residual. */
static bool residual(const struct fuse_ctx *c, int cur, struct fuse_chain *ch, int *y)
{
	int r = sole_reader(c, cur), other;
	if (r < 0 || !binary_with(c, r, OP_ADD, cur, &other) || c->vt[other].dtype != DT_FLOAT ||
	    !shape_equal(&c->vt[other].shape, &c->vt[cur].shape) ||
	    !shape_equal(&c->vt[c->g->nodes[r].outputs[0]].shape, &c->vt[cur].shape))
		return false;
	absorb(ch, r);
	ch->in[ch->n_in++] = other;
	ch->epi.residual = true;
	*y = c->g->nodes[r].outputs[0];
	return true;
}

static bool find_conv(const struct fuse_ctx *c, const struct node *n, struct fuse_chain *ch)
{
	if (n->n_inputs < 2 || n->n_inputs > 3 || !const_float(c, n->inputs[1]))
		return false;
	bool has_bias = n->n_inputs > 2 && n->inputs[2] >= 0;
	if (has_bias && !const_float(c, n->inputs[2]))
		return false;
	int cur = n->outputs[0];
	if (c->vt[cur].shape.rank < 3)
		return false;
	ch->def = &op_defs[OP_CONV];
	for (int k = 0; k < n->n_inputs; k++)
		ch->in[ch->n_in++] = n->inputs[k];
	int r = sole_reader(c, cur);
	if (r >= 0 && bn_foldable(c, &c->g->nodes[r], cur, c->vt[cur].shape.dim[1])) {
		ch->bn = r;
		absorb(ch, r);
		cur = c->g->nodes[r].outputs[0];
	}
	residual(c, cur, ch, &cur);
	activation(c, cur, ch, &cur);
	ch->out = cur;
	return ch->n_absorbed > 0;
}

static bool find_linear(const struct fuse_ctx *c, const struct node *n, struct fuse_chain *ch)
{
	if (n->n_inputs != 2 || !const_float(c, n->inputs[1]) || n->inputs[0] < 0)
		return false;
	const struct tensor *x = &c->vt[n->inputs[0]], *w = &c->vt[n->inputs[1]];
	if (x->dtype != DT_FLOAT || x->shape.rank < 2 || w->shape.rank != 2 ||
	    x->shape.dim[x->shape.rank - 1] != w->shape.dim[0])
		return false;
	const int64_t ncols = w->shape.dim[1];
	ch->def = &fused_linear;
	ch->in[ch->n_in++] = n->inputs[0];
	ch->in[ch->n_in++] = n->inputs[1];
	int cur = n->outputs[0], r = sole_reader(c, cur), other;
	int bias = -1;
	if (r >= 0 && binary_with(c, r, OP_ADD, cur, &other) && const_float(c, other) &&
	    tensor_numel(&c->vt[other]) == ncols &&
	    c->vt[other].shape.dim[c->vt[other].shape.rank - 1] == ncols &&
	    shape_equal(&c->vt[c->g->nodes[r].outputs[0]].shape, &c->vt[cur].shape)) {
		absorb(ch, r);
		bias = other;
		cur = c->g->nodes[r].outputs[0];
	}
	ch->in[ch->n_in++] = bias;
	if (residual(c, cur, ch, &cur)) {
		/* the epilogue adds the residual before the activation: act(x W + b + r) */
		activation(c, cur, ch, &cur);
	} else {
		activation(c, cur, ch, &cur);
	}
	ch->out = cur;
	return true; /* even alone, the fused kernel beats the generic MatMul */
}

static bool same_lead(const struct shape *a, const struct shape *b)
{
	if (a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank - 2; i++)
		if (a->dim[i] != b->dim[i])
			return false;
	return true;
}

static bool find_attention(const struct fuse_ctx *c, const struct node *n, struct fuse_chain *ch)
{
	const struct graph *g = c->g;
	if (n->n_inputs != 2 || n->inputs[0] < 0 || n->inputs[1] < 0)
		return false;
	int q = n->inputs[0], kt = n->inputs[1];
	const struct shape *qs = &c->vt[q].shape, *ks = &c->vt[kt].shape;
	if (c->vt[q].dtype != DT_FLOAT || c->vt[kt].dtype != DT_FLOAT || qs->rank < 2 ||
	    !same_lead(qs, ks) || qs->dim[qs->rank - 1] != ks->dim[ks->rank - 2])
		return false;
	int s = n->outputs[0], r = sole_reader(c, s), other;
	float scale;
	if (r < 0)
		return false;
	bool div = g->nodes[r].op == OP_DIV;
	if (div ? !(binary_with(c, r, OP_DIV, s, &other) && g->nodes[r].inputs[0] == s) :
		  !binary_with(c, r, OP_MUL, s, &other))
		return false;
	if (!const_scalar(c, other, &scale))
		return false;
	int sm = sole_reader(c, g->nodes[r].outputs[0]);
	if (sm < 0 || g->nodes[sm].op != OP_SOFTMAX || g->nodes[sm].n_inputs != 1 ||
	    !one_float_output(c, &g->nodes[sm]))
		return false;
	int64_t axis;
	if (node_attr_int(&g->nodes[sm], "axis", g->opset >= 13 ? -1 : 1, &axis, NULL) ||
	    (axis != -1 && axis != qs->rank - 1))
		return false;
	int mm = sole_reader(c, g->nodes[sm].outputs[0]);
	if (mm < 0 || g->nodes[mm].op != OP_MATMUL || g->nodes[mm].n_inputs != 2 ||
	    g->nodes[mm].inputs[0] != g->nodes[sm].outputs[0] || !one_float_output(c, &g->nodes[mm]))
		return false;
	int v = g->nodes[mm].inputs[1];
	if (v < 0 || c->vt[v].dtype != DT_FLOAT || !same_lead(&c->vt[v].shape, qs) ||
	    c->vt[v].shape.dim[qs->rank - 2] != ks->dim[ks->rank - 1])
		return false;
	ch->def = div ? &fused_attention_div : &fused_attention_mul;
	ch->in[ch->n_in++] = q;
	ch->in[ch->n_in++] = kt;
	ch->in[ch->n_in++] = other;
	ch->in[ch->n_in++] = v;
	absorb(ch, r);
	absorb(ch, sm);
	absorb(ch, mm);
	ch->out = g->nodes[mm].outputs[0];
	return true;
}

bool fuse_find(const struct fuse_ctx *c, int first, struct fuse_chain *ch)
{
	const struct node *n = &c->g->nodes[first];
	*ch = (struct fuse_chain){ .first = first, .last = first, .bn = -1 };
	if (!c->is_step[first] || !one_float_output(c, n))
		return false;
	for (int k = 0; k < n->n_inputs; k++)
		if (n->inputs[k] >= 0 && c->vt[n->inputs[k]].dtype != DT_FLOAT)
			return false;
	switch (n->op) {
	case OP_CONV:
		return find_conv(c, n, ch);
	case OP_MATMUL:
		/* without AVX-512 the fused attention is plain loops, slower than the nodes */
		if (nn_have_avx512() && find_attention(c, n, ch))
			return true;
		*ch = (struct fuse_chain){ .first = first, .last = first, .bn = -1 };
		return find_linear(c, n, ch);
	default:
		return false;
	}
}

enum status fuse_fold_bn(const struct fuse_ctx *c, const struct fuse_chain *ch, struct tensor *w,
			 struct tensor *b, struct err *e)
{
	const struct node *cv = &c->g->nodes[ch->first], *bn = &c->g->nodes[ch->bn];
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
