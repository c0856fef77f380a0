/*
 * sim.c - calibration pass and simulated quantized execution.
 *
 * Everything expensive that depends only on the policy (weight fake-quant,
 * bias quantization, activation parameters) is computed in sim_prepare, so a
 * run costs the FP32 pass plus one fake-quant sweep over each quantized
 * activation.  See sim.h for where quantization is applied and why.
 */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "modelinfo.h"
#include "op.h"

/* ---- calibration ---------------------------------------------------------- */

struct calib_worker {
	const struct graph *g;
	struct calib_stats **stats; /* per value, worker-local */
};

static enum status calib_after(void *user, const struct plan *p, int ni, struct tensor *const *out,
			       int n_out)
{
	struct calib_worker *w = user;
	const struct node *n = &w->g->nodes[ni];
	for (int k = 0; k < n_out; k++) {
		int v = n->outputs[k];
		if (v < 0 || !w->stats[v] || !out[k] || out[k]->dtype != DT_FLOAT)
			continue;
		calib_stats_add(w->stats[v], out[k]->data, tensor_numel(out[k]));
	}
	return OK;
}

/* Values whose statistics a policy may need: float inputs and outputs of
 * quantizable nodes that are not constants. */
static bool *wanted_values(const struct graph *g, const struct plan *ref)
{
	bool *want = calloc((size_t)g->n_values + 1, sizeof *want);
	if (!want)
		return NULL;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		if (!node_quantizable(g, ni))
			continue;
		const struct node *n = &g->nodes[ni];
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			if (v >= 0 && !plan_value_is_const(ref, v) &&
			    plan_value(ref, v)->dtype == DT_FLOAT)
				want[v] = true;
		}
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v >= 0 && !plan_value_is_const(ref, v) &&
			    plan_value(ref, v)->dtype == DT_FLOAT)
				want[v] = true;
		}
	}
	return want;
}

void calib_data_fini(struct calib_data *c)
{
	if (!c || !c->stats)
		return;
	for (int v = 0; v < c->g->n_values; v++)
		free(c->stats[v]);
	free(c->stats);
	memset(c, 0, sizeof *c);
}

enum status calib_collect(const struct graph *g, const struct tensor *data, int threads,
			  int batch, struct calib_data *out, struct err *e)
{
	enum status st;
	struct plan *ref = NULL;
	struct runner *r = NULL;
	struct calib_worker *workers = NULL;
	struct plan_hooks *hooks = NULL;
	struct tensor outs[64] = { 0 };
	bool *want = NULL;
	memset(out, 0, sizeof *out);
	out->g = g;
	if (g->n_inputs != 1)
		return err_set(e, ERR_UNSUPPORTED, "calibration supports single-input models (this one has %d)",
			       g->n_inputs);
	if (g->n_outputs > 64)
		return err_set(e, ERR_LIMIT, "more than 64 graph outputs");
	if ((st = model_plan_one(g, &ref, e)))
		return st;
	want = wanted_values(g, ref);
	out->stats = calloc((size_t)g->n_values + 1, sizeof *out->stats);
	workers = calloc((size_t)threads, sizeof *workers);
	hooks = calloc((size_t)threads, sizeof *hooks);
	if (!want || !out->stats || !workers || !hooks) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int v = 0; v < g->n_values; v++)
		if (want[v]) {
			out->stats[v] = malloc(sizeof **out->stats);
			if (!out->stats[v]) {
				st = err_set(e, ERR_NOMEM, "out of memory");
				goto done;
			}
			calib_stats_init(out->stats[v]);
		}
	for (int t = 0; t < threads; t++) {
		workers[t].g = g;
		workers[t].stats = calloc((size_t)g->n_values + 1, sizeof *workers[t].stats);
		if (!workers[t].stats) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int v = 0; v < g->n_values; v++) {
			if (!want[v] || g->values[v].kind == VAL_INPUT)
				continue;
			workers[t].stats[v] = malloc(sizeof **workers[t].stats);
			if (!workers[t].stats[v]) {
				st = err_set(e, ERR_NOMEM, "out of memory");
				goto done;
			}
			calib_stats_init(workers[t].stats[v]);
		}
		hooks[t] = (struct plan_hooks){ .after_node = calib_after, .user = &workers[t] };
	}
	/* the graph input is not produced by a node: take its statistics directly */
	int vin = g->inputs[0];
	if (out->stats[vin])
		calib_stats_add(out->stats[vin], data->data, tensor_numel(data));
	if ((st = runner_new(g, threads, batch, &r, e)))
		goto done;
	if ((st = runner_run_hooked(r, data, outs, hooks, e)))
		goto done;
	for (int t = 0; t < threads; t++)
		for (int v = 0; v < g->n_values; v++)
			if (workers[t].stats[v])
				calib_stats_merge(out->stats[v], workers[t].stats[v]);
	out->samples = data->shape.dim[0];
done:
	for (int k = 0; k < 64; k++)
		tensor_fini(&outs[k]);
	if (workers)
		for (int t = 0; t < threads; t++) {
			if (workers[t].stats)
				for (int v = 0; v < g->n_values; v++)
					free(workers[t].stats[v]);
			free(workers[t].stats);
		}
	free(workers);
	free(hooks);
	free(want);
	runner_free(r);
	plan_free(ref);
	if (st)
		calib_data_fini(out);
	return st;
}

/* ---- preparing a simulation -------------------------------------------------- */

/* The output-channel axis of a node's weight, per ONNX layout. */
static int weight_channel_axis(const struct node *n, const struct tensor *w)
{
	if (n->op == OP_CONV)
		return 0;
	if (strcmp(n->op_type, "ConvTranspose") == 0)
		return w->shape.rank > 1 ? 1 : 0;
	if (n->op == OP_GEMM) {
		int64_t tb = 0;
		node_attr_int(n, "transB", 0, &tb, NULL);
		return tb ? 0 : 1;
	}
	/* MatMul: B is [..., K, N]: output columns are the last axis */
	return w->shape.rank - 1;
}

/* The reduction axis (for per-block): K of Gemm/MatMul's B. */
static int weight_reduce_axis(const struct node *n, const struct tensor *w)
{
	if (n->op == OP_GEMM) {
		int64_t tb = 0;
		node_attr_int(n, "transB", 0, &tb, NULL);
		return tb ? 1 : 0;
	}
	if (n->op == OP_MATMUL)
		return w->shape.rank >= 2 ? w->shape.rank - 2 : 0;
	return 1; /* Conv: input channels */
}

static bool is_float_fmt(enum qfmt f) { return qfmt_info(f)->is_float; }

/* fp16/bf16 are plain casts with no scale: their biases stay float.  Every
 * scaled format (integers and fp8) gets an int32 bias, as ONNX Runtime makes it. */
static bool is_half_fmt(enum qfmt f) { return f == QF_FP16 || f == QF_BF16; }

/* Parameters for one weight slice gathered into buf. */
static struct qparams slice_params(const float *buf, int64_t n, const struct precision *pr)
{
	float lo, hi;
	calib_weight_range(buf, n, 1, pr->wcalib, pr->wfmt, true, &lo, &hi);
	return qfmt_params_from_range(pr->wfmt, lo, hi, true);
}

static enum status quantize_weight(struct sim_node *sn, const struct node *n,
				   const struct tensor *w, struct err *e)
{
	const struct precision *pr = &sn->prec;
	enum qfmt f = pr->wfmt;
	enum qgran gran = pr->wgran;
	unsigned mask = qfmt_info(f)->gran_mask;
	/* fall back to the finest granularity the format and op allow */
	if (gran == QG_BLOCK && (!(mask & QG_BIT(QG_BLOCK)) ||
				 (n->op != OP_GEMM && n->op != OP_MATMUL)))
		gran = QG_CHANNEL;
	if (gran == QG_CHANNEL && (!(mask & QG_BIT(QG_CHANNEL)) || w->shape.rank < 1))
		gran = QG_TENSOR;
	enum status st = tensor_alloc(&sn->wq, DT_FLOAT, &w->shape, e);
	if (st)
		return st;
	const float *x = w->data;
	int64_t numel = tensor_numel(w);
	if (f == QF_FP16 || f == QF_BF16) {
		struct qparams one = { 1.0f, 0 };
		qfmt_fake_quant(f, x, sn->wq.data, numel, one);
		sn->n_wparams = 0;
		return OK;
	}
	int axis = gran == QG_BLOCK ? weight_reduce_axis(n, w) : weight_channel_axis(n, w);
	int64_t D = gran == QG_TENSOR ? 1 : w->shape.dim[axis];
	int64_t outer = 1, inner = 1;
	if (gran != QG_TENSOR) {
		for (int d = 0; d < axis; d++)
			outer *= w->shape.dim[d];
		for (int d = axis + 1; d < w->shape.rank; d++)
			inner *= w->shape.dim[d];
	}
	int block = gran == QG_BLOCK ? pr->block : 0;
	int64_t nb = block ? (D + block - 1) / block : 0;
	int64_t np = gran == QG_TENSOR ? 1 : gran == QG_CHANNEL ? D : outer * nb * inner;
	float *buf = malloc((size_t)(numel ? numel : 1) * sizeof *buf);
	sn->wparams = calloc((size_t)np, sizeof *sn->wparams);
	if (!buf || !sn->wparams) {
		free(buf);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	sn->n_wparams = (int)np;
	sn->waxis = axis;
	if (gran == QG_TENSOR) {
		sn->wparams[0] = slice_params(x, numel, pr);
		qfmt_fake_quant(f, x, sn->wq.data, numel, sn->wparams[0]);
	} else if (gran == QG_CHANNEL) {
		for (int64_t c = 0; c < D; c++) {
			int64_t m = 0;
			for (int64_t o = 0; o < outer; o++)
				for (int64_t i = 0; i < inner; i++)
					buf[m++] = x[(o * D + c) * inner + i];
			sn->wparams[c] = slice_params(buf, m, pr);
		}
		qfmt_fake_quant_axis(f, x, sn->wq.data, &w->shape, axis, sn->wparams);
	} else {
		for (int64_t o = 0; o < outer; o++)
			for (int64_t b = 0; b < nb; b++)
				for (int64_t i = 0; i < inner; i++) {
					int64_t m = 0;
					for (int64_t c = b * block; c < D && c < (b + 1) * block; c++)
						buf[m++] = x[(o * D + c) * inner + i];
					sn->wparams[(o * nb + b) * inner + i] = slice_params(buf, m, pr);
				}
		qfmt_fake_quant_block(f, x, sn->wq.data, &w->shape, axis, block, sn->wparams);
	}
	free(buf);
	return OK;
}

/* int32 bias with scale s_in * s_w[c] (ONNX Runtime's QDQ bias). */
static enum status quantize_bias(struct sim_node *sn, const struct tensor *b, float s_in,
				 struct err *e)
{
	enum status st = tensor_alloc(&sn->bq, DT_FLOAT, &b->shape, e);
	if (st)
		return st;
	int64_t n = tensor_numel(b);
	const float *x = b->data;
	float *y = sn->bq.data;
	for (int64_t c = 0; c < n; c++) {
		float sw = sn->n_wparams == n ? sn->wparams[c].scale
			   : sn->n_wparams == 1 ? sn->wparams[0].scale : 0.0f;
		double s = (double)s_in * sw;
		if (!(s > 0)) {
			y[c] = x[c];
			continue;
		}
		double q = nearbyint((double)x[c] / s);
		q = q < -2147483648.0 ? -2147483648.0 : q > 2147483647.0 ? 2147483647.0 : q;
		y[c] = (float)(q * s);
	}
	return OK;
}

static bool value_is_softmax_output(const struct graph *g, int v)
{
	int pr = g->values[v].producer;
	return pr >= 0 && g->nodes[pr].op == OP_SOFTMAX;
}

static enum status act_params(const struct sim *s, int v, enum qfmt f,
			      const struct precision *pr, struct act_q *q, struct err *e)
{
	q->fmt = f;
	q->p = (struct qparams){ 1.0f, 0 };
	if (f == QF_FP32 || f == QF_FP16 || f == QF_BF16)
		return OK;
	bool sym = pr->act_symmetric || is_float_fmt(f);
	/* A Softmax output gets ONNX Runtime's fixed parameters whichever node
	 * quantizes it (the Softmax itself runs in float: its reader does), so the
	 * producer and every reader agree on one Q/DQ pair. */
	if (value_is_softmax_output(s->g, v) && calib_softmax_params(f, sym, &q->p))
		return OK;
	const struct calib_stats *st = s->cal && s->cal->stats ? s->cal->stats[v] : NULL;
	if (!st)
		return err_set(e, ERR_INVALID, "tensor '%s' needs calibration data for %s",
			       s->g->values[v].name, qfmt_info(f)->name);
	float lo, hi;
	calib_range(st, &pr->acalib, f, sym, &lo, &hi);
	q->p = qfmt_params_from_range(f, lo, hi, sym);
	return OK;
}

static bool same_q(const struct act_q *a, const struct act_q *b)
{
	return a->fmt == b->fmt && a->p.scale == b->p.scale && a->p.zero_point == b->p.zero_point;
}

/* Nodes that only rearrange or copy the values of their first input. */
static bool moves_data(const struct node *n)
{
	switch (n->op) {
	case OP_IDENTITY:
	case OP_RESHAPE:
	case OP_FLATTEN:
	case OP_SQUEEZE:
	case OP_UNSQUEEZE:
	case OP_TRANSPOSE:
		return n->n_inputs >= 1 && n->n_outputs == 1;
	default:
		return false;
	}
}

/*
 * The quantized node whose output Q/DQ (q) gives value v exactly its values: v's
 * producer, or the producer at the end of a chain of unquantized data-movement nodes
 * leading to v.  Fake-quant is idempotent for the same format and parameters - an integer
 * grid value q*s comes back as (q*s)/s within 2^-23 * 65535 of q, which rounds to q; fp8,
 * fp16 and bf16 grid values are representable and come back unchanged - so applying q
 * again to those values would change no bit.  -1 if there is no such node.
 */
static int same_values_from(const struct sim *s, int v, const struct act_q *q)
{
	for (int hops = 0; v >= 0 && hops <= s->g->n_nodes; hops++) {
		int pr = s->g->values[v].producer;
		if (pr < 0)
			return -1;
		if (s->nodes[pr].quant)
			return same_q(&s->out_q[v], q) ? pr : -1;
		const struct node *n = &s->g->nodes[pr];
		if (!moves_data(n))
			return -1;
		v = n->inputs[0];
	}
	return -1;
}

void sim_fini(struct sim *s)
{
	if (!s)
		return;
	if (s->nodes)
		for (int ni = 0; ni < s->g->n_nodes; ni++) {
			tensor_fini(&s->nodes[ni].wq);
			tensor_fini(&s->nodes[ni].bq);
			free(s->nodes[ni].wparams);
		}
	free(s->nodes);
	free(s->out_q);
	free(s->in_q);
	free(s->in_q_base);
	free(s->in_src);
	plan_free(s->ref);
	policy_fini(&s->pol);
	memset(s, 0, sizeof *s);
}

const struct act_q *sim_value_q(const struct sim *s, int value) { return &s->out_q[value]; }

/* Storage of node ni's quantized weight under the policy, in place of its FP32 bytes. */
static void count_weight(struct sim *s, const struct sim_node *sn, const struct tensor *w)
{
	int64_t numel = tensor_numel(w);
	const struct qfmt_info *wi = qfmt_info(sn->prec.wfmt);
	int64_t zp_bytes = wi->is_float ? 0 : (wi->bits + 7) / 8;
	s->weight_bytes += qfmt_storage_bytes(sn->prec.wfmt, numel) +
			   (int64_t)sn->n_wparams * (4 + zp_bytes) - 4 * numel;
}

/* Take node ni's prepared state from prev, which prepared it at the same precision over
 * the same graph and calibration: its weights, bias and parameters are what preparing it
 * again would compute. */
static void take_node(struct sim *s, struct sim *prev, int ni)
{
	const struct node *n = &s->g->nodes[ni];
	struct sim_node *sn = &s->nodes[ni];
	*sn = prev->nodes[ni];
	memset(&prev->nodes[ni].wq, 0, sizeof prev->nodes[ni].wq);
	memset(&prev->nodes[ni].bq, 0, sizeof prev->nodes[ni].bq);
	prev->nodes[ni].wparams = NULL;
	for (int k = 0; k < n->n_inputs; k++)
		s->in_q[s->in_q_base[ni] + k] = prev->in_q[prev->in_q_base[ni] + k];
	for (int k = 0; k < n->n_outputs; k++)
		if (n->outputs[k] >= 0)
			s->out_q[n->outputs[k]] = prev->out_q[n->outputs[k]];
	if (sn->weight_input >= 0)
		count_weight(s, sn, plan_value(s->ref, n->inputs[sn->weight_input]));
}

enum status sim_prepare(struct sim *s, const struct graph *g, const struct calib_data *cal,
			const struct policy *pol, struct err *e)
{
	return sim_prepare_from(s, g, cal, pol, NULL, e);
}

enum status sim_prepare_from(struct sim *s, const struct graph *g, const struct calib_data *cal,
			     const struct policy *pol, struct sim *prev, struct err *e)
{
	if (prev && (prev->g != g || prev->cal != cal || !prev->nodes))
		prev = NULL;
	enum status st;
	memset(s, 0, sizeof *s);
	s->g = g;
	s->cal = cal;
	if ((st = policy_copy(&s->pol, pol, e)))
		return st;
	if ((st = model_plan_one(g, &s->ref, e)))
		goto fail;
	int n_edges = 0;
	for (int ni = 0; ni < g->n_nodes; ni++)
		n_edges += g->nodes[ni].n_inputs;
	s->nodes = calloc((size_t)g->n_nodes + 1, sizeof *s->nodes);
	s->out_q = calloc((size_t)g->n_values + 1, sizeof *s->out_q);
	s->in_q = calloc((size_t)n_edges + 1, sizeof *s->in_q);
	s->in_q_base = calloc((size_t)g->n_nodes + 1, sizeof *s->in_q_base);
	s->in_src = malloc(((size_t)n_edges + 1) * sizeof *s->in_src);
	if (!s->nodes || !s->out_q || !s->in_q || !s->in_q_base || !s->in_src) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (int v = 0; v < g->n_values; v++) {
		const struct tensor *t = plan_value(s->ref, v);
		if (g->values[v].kind == VAL_CONST && (t->dtype == DT_FLOAT))
			s->fp32_weight_bytes += 4 * tensor_numel(t);
	}
	s->weight_bytes = s->fp32_weight_bytes;
	for (int ni = 0, base = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		struct sim_node *sn = &s->nodes[ni];
		s->in_q_base[ni] = base;
		base += n->n_inputs;
		sn->weight_input = sn->bias_input = -1;
		sn->prec = policy_node(&s->pol, ni);
		bool folded = n->n_outputs > 0 && n->outputs[0] >= 0 &&
			      plan_value_is_const(s->ref, n->outputs[0]);
		sn->quant = !folded && !precision_is_fp32(&sn->prec);
		if (!sn->quant)
			continue;
		if (prev && prev->nodes[ni].quant && precision_equal(&prev->nodes[ni].prec, &sn->prec)) {
			take_node(s, prev, ni);
			continue;
		}
		/* activation edges and outputs */
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			struct act_q *q = &s->in_q[s->in_q_base[ni] + k];
			q->fmt = QF_FP32;
			if (v < 0 || plan_value_is_const(s->ref, v) ||
			    plan_value(s->ref, v)->dtype != DT_FLOAT)
				continue;
			if ((st = act_params(s, v, sn->prec.afmt, &sn->prec, q, e)))
				goto fail_node;
		}
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v < 0 || plan_value(s->ref, v)->dtype != DT_FLOAT)
				continue;
			if ((st = act_params(s, v, sn->prec.afmt, &sn->prec, &s->out_q[v], e)))
				goto fail_node;
		}
		/* weights */
		if (op_defs[n->op].qkind != QK_WEIGHT || sn->prec.wfmt == QF_FP32)
			continue;
		int wv = n->n_inputs > 1 ? n->inputs[1] : -1;
		if (wv < 0 || !plan_value_is_const(s->ref, wv) ||
		    plan_value(s->ref, wv)->dtype != DT_FLOAT)
			continue;
		const struct tensor *w = plan_value(s->ref, wv);
		sn->weight_input = 1;
		if ((st = quantize_weight(sn, n, w, e)))
			goto fail_node;
		count_weight(s, sn, w);
		/* bias: int32 when weights and activations are scaled formats */
		int bv = n->n_inputs > 2 ? n->inputs[2] : -1;
		const struct act_q *xq = &s->in_q[s->in_q_base[ni]];
		if ((n->op == OP_CONV || n->op == OP_GEMM) && bv >= 0 &&
		    plan_value_is_const(s->ref, bv) && plan_value(s->ref, bv)->dtype == DT_FLOAT &&
		    !is_half_fmt(sn->prec.wfmt) && !is_half_fmt(sn->prec.afmt) && xq->fmt != QF_FP32 &&
		    plan_value(s->ref, bv)->shape.rank == 1) {
			sn->bias_input = 2;
			if ((st = quantize_bias(sn, plan_value(s->ref, bv), xq->p.scale, e)))
				goto fail_node;
		}
		continue;
fail_node:
		err_prefix(e, "node '%s' (%s)", n->name, n->op_type);
		goto fail;
	}
	for (int ni = 0; ni < g->n_nodes; ni++)
		for (int k = 0; k < g->nodes[ni].n_inputs; k++) {
			int ei = s->in_q_base[ni] + k;
			s->in_src[ei] = s->nodes[ni].quant && s->in_q[ei].fmt != QF_FP32
						? same_values_from(s, g->nodes[ni].inputs[k], &s->in_q[ei])
						: -1;
		}
	return OK;
fail:
	sim_fini(s);
	return st;
}

/* ---- running -------------------------------------------------------------------- */

#define SIM_MAX_EDGE 16

struct sim_worker {
	const struct sim *s;
	const bool *active;
	const bool *inplace; /* per value: may be quantized where it lies (sim_hooks_inplace) */
	const struct plan_hooks *next;
	struct tensor buf[SIM_MAX_EDGE]; /* private quantized copies of inputs */
	size_t cap[SIM_MAX_EDGE];
};

struct sim_hooks {
	int n;
	struct sim_worker *w;
	struct plan_hooks *hooks;
};

static enum status sim_before(void *user, const struct plan *p, int ni, const struct tensor **use,
			      int n_in)
{
	struct sim_worker *w = user;
	const struct sim *s = w->s;
	const struct sim_node *sn = &s->nodes[ni];
	if (!sn->quant || (w->active && !w->active[ni]))
		goto next;
	const struct node *n = &s->g->nodes[ni];
	for (int k = 0; k < n_in && k < SIM_MAX_EDGE; k++) {
		if (k == sn->weight_input) {
			use[k] = &sn->wq;
			continue;
		}
		if (k == sn->bias_input) {
			use[k] = &sn->bq;
			continue;
		}
		const struct act_q *q = &s->in_q[s->in_q_base[ni] + k];
		int v = n->inputs[k];
		if (q->fmt == QF_FP32 || !use[k])
			continue;
		int src = s->in_src[s->in_q_base[ni] + k];
		if (src >= 0 && (!w->active || w->active[src]))
			continue; /* a producer's Q/DQ already did exactly this */
		const struct tensor *x = use[k];
		if (w->inplace && w->inplace[v] && x->dtype == DT_FLOAT) {
			/* nobody else reads it: no private copy needed */
			float *d = x->data;
			qfmt_fake_quant(q->fmt, d, d, tensor_numel(x), q->p);
			continue;
		}
		if (w->cap[k] < x->nbytes) {
			float *nb = realloc(w->buf[k].data, x->nbytes);
			if (!nb)
				return ERR_NOMEM;
			w->buf[k].data = nb;
			w->cap[k] = x->nbytes;
		}
		w->buf[k].dtype = x->dtype;
		w->buf[k].shape = x->shape;
		w->buf[k].nbytes = x->nbytes;
		qfmt_fake_quant(q->fmt, x->data, w->buf[k].data, tensor_numel(x), q->p);
		use[k] = &w->buf[k];
	}
next:
	if (w->next && w->next->before_node)
		return w->next->before_node(w->next->user, p, ni, use, n_in);
	return OK;
}

static enum status sim_after(void *user, const struct plan *p, int ni, struct tensor *const *out,
			     int n_out)
{
	struct sim_worker *w = user;
	const struct sim *s = w->s;
	if (s->nodes[ni].quant && (!w->active || w->active[ni])) {
		const struct node *n = &s->g->nodes[ni];
		for (int k = 0; k < n_out; k++) {
			int v = n->outputs[k];
			if (v < 0 || !out[k] || s->out_q[v].fmt == QF_FP32)
				continue;
			qfmt_fake_quant(s->out_q[v].fmt, out[k]->data, out[k]->data,
					tensor_numel(out[k]), s->out_q[v].p);
		}
	}
	if (w->next && w->next->after_node)
		return w->next->after_node(w->next->user, p, ni, out, n_out);
	return OK;
}

enum status sim_hooks_new(const struct sim *s, int n, const bool *active,
			  const struct plan_hooks *next, struct sim_hooks **out,
			  struct plan_hooks **hooks, struct err *e)
{
	struct sim_hooks *h = calloc(1, sizeof *h);
	if (!h)
		return err_set(e, ERR_NOMEM, "out of memory");
	h->n = n;
	h->w = calloc((size_t)n, sizeof *h->w);
	h->hooks = calloc((size_t)n, sizeof *h->hooks);
	if (!h->w || !h->hooks) {
		sim_hooks_free(h);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		h->w[i].s = s;
		h->w[i].active = active;
		h->w[i].next = next ? &next[i] : NULL;
		h->hooks[i] = (struct plan_hooks){ .before_node = sim_before, .after_node = sim_after,
						   .user = &h->w[i] };
	}
	*out = h;
	*hooks = h->hooks;
	return OK;
}

void sim_hooks_inplace(struct sim_hooks *h, const bool *inplace)
{
	for (int i = 0; i < h->n; i++)
		h->w[i].inplace = inplace;
}

void sim_hooks_free(struct sim_hooks *h)
{
	if (!h)
		return;
	if (h->w)
		for (int i = 0; i < h->n; i++)
			for (int k = 0; k < SIM_MAX_EDGE; k++)
				free(h->w[i].buf[k].data);
	free(h->w);
	free(h->hooks);
	free(h);
}

enum status sim_run(const struct sim *s, struct runner *r, const struct tensor *inputs,
		    struct tensor *outputs, struct err *e)
{
	struct sim_hooks *h;
	struct plan_hooks *hooks;
	enum status st = sim_hooks_new(s, runner_threads(r), NULL, NULL, &h, &hooks, e);
	if (st)
		return st;
	st = runner_run_hooked(r, inputs, outputs, hooks, e);
	sim_hooks_free(h);
	return st;
}
