/*
 * export.c - QDQ edit lists, ONNX Runtime quantizer overrides and TensorRT
 * precision strings, all read off a prepared simulation.
 *
 * Why from the sim: the simulation is what qlens measured, so an export that
 * re-derived placement or parameters on its own could silently disagree with
 * the numbers the user chose the policy by.  Here every decision the
 * simulation made is copied: which nodes are quantized (sim_node.quant),
 * which tensor edges are re-quantized and with which parameters (in_q /
 * out_q, including the "producer already did it" skip), the effective weight
 * granularity after the simulation's fall-backs, the weight parameters
 * themselves and the int32 bias rule.  The weight codes are recomputed with
 * qfmt_quantize_one and checked element by element against the simulation's
 * fake-quantized weight, dequantized the way ONNX does it; a mismatch is an
 * error, not a warning.
 *
 * How the QDQ plan is laid out (names follow ONNX Runtime's quantizer):
 *   output v of a quantized node:  v -> v_QuantizeLinear -> v_DequantizeLinear
 *       and every reader of v reads the DequantizeLinear output; when v is a
 *       graph output, the producer writes v_QuantizeLinear_Input instead and
 *       the DequantizeLinear writes v, so the model's interface is unchanged;
 *   input edge k of node n that the simulation quantizes itself:
 *       a pair from what the edge read before (the producer's DequantizeLinear
 *       output when there is one), shared by edges with equal parameters;
 *   weight W:  W_quantized (+ W_scale, W_zero_point) -> DequantizeLinear;
 *   bias B:    B_quantized (int32) + B_scale -> DequantizeLinear;
 *   fp16/bf16: Cast(to) -> Cast(float) pairs, weights stored in that type.
 * Names are made unique against every value and node name of the model.
 */
#include "export.h"

#include <cJSON.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

/* ---- owned storage ----------------------------------------------------------------- */

struct sset { /* string set (keys owned by the pool) */
	const char **keys;
	size_t cap, count;
};

struct export_pool {
	void **ptrs;
	size_t n, cap;
	struct sset names;
	/* growing arrays behind x->edit */
	struct onnx_new_init *inits;
	int n_inits, cap_inits;
	struct onnx_new_node *nodes;
	int n_nodes, cap_nodes;
	struct onnx_input_edit *edits;
	int n_edits, cap_edits;
	struct onnx_output_rename *renames;
	int n_renames, cap_renames;
	const char **drops;
	int n_drops, cap_drops;
	struct onnx_meta *meta;
	int n_meta, cap_meta;
};

static uint64_t shash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static bool sset_has(const struct sset *s, const char *k)
{
	if (!s->cap)
		return false;
	for (size_t h = shash(k) & (s->cap - 1); s->keys[h]; h = (h + 1) & (s->cap - 1))
		if (strcmp(s->keys[h], k) == 0)
			return true;
	return false;
}

static bool sset_add(struct sset *s, const char *k)
{
	if ((s->count + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		const char **keys = calloc(cap, sizeof *keys);
		if (!keys)
			return false;
		for (size_t i = 0; i < s->cap; i++)
			if (s->keys[i]) {
				size_t h = shash(s->keys[i]) & (cap - 1);
				while (keys[h])
					h = (h + 1) & (cap - 1);
				keys[h] = s->keys[i];
			}
		free(s->keys);
		s->keys = keys;
		s->cap = cap;
	}
	size_t h = shash(k) & (s->cap - 1);
	while (s->keys[h]) {
		if (strcmp(s->keys[h], k) == 0)
			return true;
		h = (h + 1) & (s->cap - 1);
	}
	s->keys[h] = k;
	s->count++;
	return true;
}

static void *keep(struct export_pool *p, void *ptr)
{
	if (!ptr)
		return NULL;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		void **np = realloc(p->ptrs, cap * sizeof *np);
		if (!np) {
			free(ptr);
			return NULL;
		}
		p->ptrs = np;
		p->cap = cap;
	}
	p->ptrs[p->n++] = ptr;
	return ptr;
}

static char *pstrdup(struct export_pool *p, const char *s) { return keep(p, strdup(s)); }

static void pool_free(struct export_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->ptrs[i]);
	free(p->ptrs);
	free(p->names.keys);
	free(p->inits);
	free(p->nodes);
	free(p->edits);
	free(p->renames);
	free(p->drops);
	free(p->meta);
	free(p);
}

static bool push(void **arr, int *n, int *cap, size_t elem, const void *item)
{
	if (*n == *cap) {
		int nc = *cap ? *cap * 2 : 16;
		void *na = realloc(*arr, (size_t)nc * elem);
		if (!na)
			return false;
		*arr = na;
		*cap = nc;
	}
	memcpy((char *)*arr + (size_t)*n * elem, item, elem);
	(*n)++;
	return true;
}

#define PUSH(p, field, item) \
	push((void **)&(p)->field, &(p)->n_##field, &(p)->cap_##field, sizeof *(p)->field, (item))

/* A name no value or node of the model and no earlier export name uses. */
static const char *uniq(struct export_pool *p, const char *base)
{
	size_t n = strlen(base) + 24;
	char *s = keep(p, malloc(n));
	if (!s)
		return NULL;
	snprintf(s, n, "%s", base);
	for (unsigned k = 2; sset_has(&p->names, s); k++)
		snprintf(s, n, "%s_%u", base, k);
	return sset_add(&p->names, s) ? s : NULL;
}

static const char *uniqf(struct export_pool *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *uniqf(struct export_pool *p, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return uniq(p, buf);
}

/* ---- QDQ planning ------------------------------------------------------------------ */

struct edge_pair { /* a pair inserted for input edges: reused for equal parameters */
	int value;
	struct act_q q;
	const char *out;
};

struct qdq_ctx {
	const struct sim *s;
	const struct graph *g;
	struct export_qdq *x;
	struct export_pool *p;
	const char **final;	/* per value: name readers see after its producer's pair */
	struct edge_pair *pairs;
	int n_pairs, cap_pairs;
	int64_t opset;
};

static enum status nomem(struct err *e) { return err_set(e, ERR_NOMEM, "out of memory"); }

static const char *vname(const struct qdq_ctx *c, int v) { return c->g->values[v].name; }

/* The first output name of node ni: how onnx_save finds it. */
static const char *node_key(const struct qdq_ctx *c, int ni)
{
	const struct node *n = &c->g->nodes[ni];
	for (int k = 0; k < n->n_outputs; k++)
		if (n->outputs[k] >= 0)
			return vname(c, n->outputs[k]);
	return NULL;
}

static bool is_cast_fmt(enum qfmt f) { return f == QF_FP16 || f == QF_BF16; }

static void need_opset(struct qdq_ctx *c, int64_t v)
{
	if (v > c->opset)
		c->opset = v;
}

/* One-element zero point of format f. */
static void *zero_point_data(struct export_pool *p, enum qfmt f, int32_t z)
{
	uint8_t *d = keep(p, calloc(1, 4));
	if (!d)
		return NULL;
	switch (qfmt_info(f)->onnx_dtype) {
	case DT_INT16: {
		int16_t v = (int16_t)z;
		memcpy(d, &v, 2);
		break;
	}
	case DT_INT8:
	case DT_INT4:
		d[0] = (uint8_t)(int8_t)z;
		break;
	case DT_UINT8:
	case DT_UINT4:
		d[0] = (uint8_t)z;
		break;
	default: /* float8: the zero point is +0 */
		break;
	}
	return d;
}

static enum status add_init(struct qdq_ctx *c, const char *name, enum dtype dt,
			    const struct shape *sh, const void *data, struct err *e)
{
	struct onnx_new_init ni = { name, dt, *sh, data };
	return PUSH(c->p, inits, &ni) ? OK : nomem(e);
}

static enum status add_node(struct qdq_ctx *c, const struct onnx_new_node *n, struct err *e)
{
	if (!PUSH(c->p, nodes, n))
		return nomem(e);
	if (strcmp(n->op_type, "QuantizeLinear") == 0)
		c->x->n_quantize++;
	else if (strcmp(n->op_type, "DequantizeLinear") == 0)
		c->x->n_dequantize++;
	else if (strcmp(n->op_type, "Cast") == 0)
		c->x->n_cast++;
	return OK;
}

/*
 * Quantize-dequantize (or Cast pair) of activation `src` with q.  base names
 * the new tensors; dst is the final output name (NULL: a fresh one).
 * Placement: after the producer of after_value, or before node before_node.
 */
static enum status emit_pair(struct qdq_ctx *c, const char *base, const char *src,
			     const char *dst, const struct act_q *q, const char *after_value,
			     const char *before_node, const char **out, struct err *e)
{
	struct export_pool *p = c->p;
	enum status st;
	if (is_cast_fmt(q->fmt)) {
		const struct qfmt_info *fi = qfmt_info(q->fmt);
		need_opset(c, fi->min_opset);
		const char *ty = q->fmt == QF_FP16 ? "Float16" : "BFloat16";
		const char *mid = uniqf(p, "%s_Cast%s_Output", base, ty);
		const char *fin = dst ? dst : uniqf(p, "%s_CastFloat_Output", base);
		const char *n1 = uniqf(p, "%s_Cast%s", base, ty);
		const char *n2 = uniqf(p, "%s_CastFloat", base);
		if (!mid || !fin || !n1 || !n2)
			return nomem(e);
		struct onnx_new_node a = { .name = n1, .op_type = "Cast", .n_inputs = 1,
					   .inputs = { src }, .output = mid, .n_attrs = 1,
					   .attrs = { { "to", fi->onnx_dtype } },
					   .after_value = after_value, .before_node = before_node };
		struct onnx_new_node b = { .name = n2, .op_type = "Cast", .n_inputs = 1,
					   .inputs = { mid }, .output = fin, .n_attrs = 1,
					   .attrs = { { "to", DT_FLOAT } },
					   .after_value = after_value, .before_node = before_node };
		if ((st = add_node(c, &a, e)) || (st = add_node(c, &b, e)))
			return st;
		*out = fin;
		c->x->n_act_pairs++;
		return OK;
	}
	const struct qfmt_info *fi = qfmt_info(q->fmt);
	need_opset(c, fi->min_opset);
	const char *sc = uniqf(p, "%s_scale", base);
	const char *zp = uniqf(p, "%s_zero_point", base);
	const char *qo = uniqf(p, "%s_QuantizeLinear_Output", base);
	const char *fin = dst ? dst : uniqf(p, "%s_DequantizeLinear_Output", base);
	const char *qn = uniqf(p, "%s_QuantizeLinear", base);
	const char *dn = uniqf(p, "%s_DequantizeLinear", base);
	float *scale = keep(p, malloc(sizeof *scale));
	void *zd = zero_point_data(p, q->fmt, q->p.zero_point);
	if (!sc || !zp || !qo || !fin || !qn || !dn || !scale || !zd)
		return nomem(e);
	*scale = q->p.scale;
	struct shape scalar = { .rank = 0 };
	if ((st = add_init(c, sc, DT_FLOAT, &scalar, scale, e)) ||
	    (st = add_init(c, zp, fi->onnx_dtype, &scalar, zd, e)))
		return st;
	struct onnx_new_node qn_ = { .name = qn, .op_type = "QuantizeLinear", .n_inputs = 3,
				     .inputs = { src, sc, zp }, .output = qo,
				     .after_value = after_value, .before_node = before_node };
	struct onnx_new_node dn_ = { .name = dn, .op_type = "DequantizeLinear", .n_inputs = 3,
				     .inputs = { qo, sc, zp }, .output = fin,
				     .after_value = after_value, .before_node = before_node };
	if ((st = add_node(c, &qn_, e)) || (st = add_node(c, &dn_, e)))
		return st;
	*out = fin;
	c->x->n_act_pairs++;
	return OK;
}

static bool same_q(const struct act_q *a, const struct act_q *b)
{
	return a->fmt == b->fmt && a->p.scale == b->p.scale && a->p.zero_point == b->p.zero_point;
}

/* The granularity the simulation actually used for node ni's weight (its
 * fall-back rules), checked against the parameter count it produced. */
static enum status weight_granularity(const struct sim_node *sn, const struct node *n,
				      const struct tensor *w, enum qgran *out, int *block,
				      struct err *e)
{
	enum qgran gran = sn->prec.wgran;
	unsigned mask = qfmt_info(sn->prec.wfmt)->gran_mask;
	bool matrix = n->op == OP_GEMM || n->op == OP_MATMUL;
	if (gran == QG_BLOCK && (!(mask & QG_BIT(QG_BLOCK)) || !matrix))
		gran = QG_CHANNEL;
	if (gran == QG_CHANNEL && (!(mask & QG_BIT(QG_CHANNEL)) || w->shape.rank < 1))
		gran = QG_TENSOR;
	int64_t want = 1;
	*block = 0;
	if (gran != QG_TENSOR) {
		int ax = sn->waxis;
		if (ax < 0 || ax >= w->shape.rank)
			return err_set(e, ERR_INVALID, "weight axis %d out of range", ax);
		if (gran == QG_CHANNEL) {
			want = w->shape.dim[ax];
		} else {
			*block = sn->prec.block;
			want = 1;
			for (int d = 0; d < w->shape.rank; d++)
				want *= d == ax ? (w->shape.dim[d] + *block - 1) / *block
						: w->shape.dim[d];
		}
	}
	if (want != sn->n_wparams)
		return err_set(e, ERR_INVALID,
			       "the simulation holds %d weight parameter sets, %s needs %" PRId64,
			       sn->n_wparams, qgran_name(gran), want);
	*out = gran;
	return OK;
}

enum status export_weight_granularity(const struct sim *s, int ni, enum qgran *gran, int *block,
				      struct err *e)
{
	const struct sim_node *sn = &s->nodes[ni];
	const struct node *n = &s->g->nodes[ni];
	if (sn->weight_input < 0)
		return err_set(e, ERR_INVALID, "node '%s' has no quantized weight", n->name);
	const struct tensor *w = plan_value(s->ref, n->inputs[sn->weight_input]);
	return weight_granularity(sn, n, w, gran, block, e);
}

/* The int32 bias scales as sim.c's quantize_bias computes them (double
 * s_in * s_w), or false when the simulation keeps the bias in float. */
static bool bias_scales(const struct sim *s, int ni, int64_t nb, double *sc)
{
	const struct sim_node *sn = &s->nodes[ni];
	float s_in = s->in_q[s->in_q_base[ni]].p.scale;
	bool per_channel = sn->n_wparams == nb;
	if (!per_channel && sn->n_wparams != 1)
		return false;
	for (int64_t i = 0; i < nb; i++) {
		sc[i] = (double)s_in * sn->wparams[per_channel ? i : 0].scale;
		if (!(sc[i] > 0))
			return false;
	}
	return true;
}

enum status export_bias_scales(const struct sim *s, int ni, float **scales, int *n, struct err *e)
{
	const struct sim_node *sn = &s->nodes[ni];
	*scales = NULL;
	*n = 0;
	if (sn->bias_input < 0)
		return OK;
	const struct tensor *b = plan_value(s->ref, s->g->nodes[ni].inputs[sn->bias_input]);
	int64_t nb = tensor_numel(b);
	double *sc = malloc((size_t)(nb ? nb : 1) * sizeof *sc);
	float *f = malloc((size_t)(nb ? nb : 1) * sizeof *f);
	if (!sc || !f) {
		free(sc);
		free(f);
		return nomem(e);
	}
	if (nb > 0 && bias_scales(s, ni, nb, sc)) {
		for (int64_t i = 0; i < nb; i++)
			f[i] = (float)sc[i];
		*scales = f;
		*n = (int)nb;
		f = NULL;
	}
	free(sc);
	free(f);
	return OK;
}

/* Index into the weight parameters for element i. */
static int64_t param_index(const struct shape *sh, enum qgran gran, int axis, int block, int64_t i)
{
	if (gran == QG_TENSOR)
		return 0;
	int64_t inner = 1;
	for (int d = axis + 1; d < sh->rank; d++)
		inner *= sh->dim[d];
	int64_t D = sh->dim[axis];
	int64_t c = (i / inner) % D;
	if (gran == QG_CHANNEL)
		return c;
	int64_t o = i / (inner * D), in = i % inner;
	int64_t nb = (D + block - 1) / block;
	return (o * nb + c / block) * inner + in;
}

static enum status emit_weight(struct qdq_ctx *c, int ni, int k, struct err *e)
{
	const struct sim *s = c->s;
	const struct sim_node *sn = &s->nodes[ni];
	const struct node *n = &c->g->nodes[ni];
	struct export_pool *p = c->p;
	int wv = n->inputs[k];
	const char *wname = vname(c, wv);
	const struct tensor *w = plan_value(s->ref, wv);
	enum qfmt f = sn->prec.wfmt;
	const struct qfmt_info *fi = qfmt_info(f);
	int64_t numel = tensor_numel(w);
	const float *x = w->data;
	const float *ref = sn->wq.data;
	enum status st;
	const char *out;

	if (is_cast_fmt(f)) {
		need_opset(c, fi->min_opset);
		uint16_t *d = keep(p, malloc((size_t)(numel ? numel : 1) * 2));
		const char *iname = uniqf(p, "%s_%s", wname, f == QF_FP16 ? "float16" : "bfloat16");
		const char *cn = uniqf(p, "%s_CastFloat", wname);
		out = uniqf(p, "%s_CastFloat_Output", wname);
		if (!d || !iname || !cn || !out)
			return nomem(e);
		for (int64_t i = 0; i < numel; i++) {
			d[i] = (uint16_t)qfmt_quantize_one(f, x[i], (struct qparams){ 1.0f, 0 });
			float back = qfmt_dequantize_one(f, d[i], (struct qparams){ 1.0f, 0 });
			if (!(back == ref[i] || (isnan(back) && isnan(ref[i]))))
				return err_set(e, ERR_INVALID, "weight '%s'[%" PRId64 "]: stored %s value %g "
					       "differs from the simulation's %g", wname, i, fi->name,
					       back, ref[i]);
		}
		if ((st = add_init(c, iname, fi->onnx_dtype, &w->shape, d, e)))
			return st;
		struct onnx_new_node cast = { .name = cn, .op_type = "Cast", .n_inputs = 1,
					      .inputs = { iname }, .output = out, .n_attrs = 1,
					      .attrs = { { "to", DT_FLOAT } },
					      .before_node = node_key(c, ni) };
		if ((st = add_node(c, &cast, e)))
			return st;
	} else {
		enum qgran gran;
		int block;
		if ((st = weight_granularity(sn, n, w, &gran, &block, e)))
			return st;
		need_opset(c, fi->min_opset);
		if (gran == QG_BLOCK)
			need_opset(c, 21);
		size_t es = dtype_size(fi->onnx_dtype);
		uint8_t *codes = keep(p, calloc((size_t)(numel ? numel : 1), es));
		const char *qname = uniqf(p, "%s_quantized", wname);
		const char *sname = uniqf(p, "%s_scale", wname);
		const char *zname = uniqf(p, "%s_zero_point", wname);
		const char *dn = uniqf(p, "%s_DequantizeLinear", wname);
		out = uniqf(p, "%s_DequantizeLinear_Output", wname);
		int np = sn->n_wparams;
		float *scales = keep(p, malloc((size_t)np * sizeof *scales));
		uint8_t *zps = keep(p, calloc((size_t)np, es));
		if (!codes || !qname || !sname || !zname || !dn || !out || !scales || !zps)
			return nomem(e);
		for (int64_t i = 0; i < numel; i++) {
			int64_t pi = param_index(&w->shape, gran, sn->waxis, block, i);
			struct qparams pr = sn->wparams[pi];
			int32_t q = qfmt_quantize_one(f, x[i], pr);
			float back = qfmt_dequantize_one(f, q, pr);
			if (!(back == ref[i] || (isnan(back) && isnan(ref[i]))))
				return err_set(e, ERR_INVALID, "weight '%s'[%" PRId64 "]: code %d "
					       "dequantizes to %.9g, the simulation has %.9g", wname,
					       i, q, back, ref[i]);
			if (es == 2) {
				int16_t v = (int16_t)q;
				memcpy(codes + 2 * i, &v, 2);
			} else {
				codes[i] = (uint8_t)q;
			}
		}
		for (int j = 0; j < np; j++) {
			scales[j] = sn->wparams[j].scale;
			if (!fi->is_float) {
				if (es == 2) {
					int16_t v = (int16_t)sn->wparams[j].zero_point;
					memcpy(zps + 2 * j, &v, 2);
				} else {
					zps[j] = (uint8_t)sn->wparams[j].zero_point;
				}
			}
		}
		struct shape psh = { .rank = 0 };
		if (gran == QG_CHANNEL) {
			psh.rank = 1;
			psh.dim[0] = np;
		} else if (gran == QG_BLOCK) {
			psh = w->shape;
			psh.dim[sn->waxis] = (w->shape.dim[sn->waxis] + block - 1) / block;
		}
		if ((st = add_init(c, qname, fi->onnx_dtype, &w->shape, codes, e)) ||
		    (st = add_init(c, sname, DT_FLOAT, &psh, scales, e)) ||
		    (st = add_init(c, zname, fi->onnx_dtype, &psh, zps, e)))
			return st;
		struct onnx_new_node dq = { .name = dn, .op_type = "DequantizeLinear", .n_inputs = 3,
					    .inputs = { qname, sname, zname }, .output = out,
					    .before_node = node_key(c, ni) };
		if (gran != QG_TENSOR)
			dq.attrs[dq.n_attrs++] = (struct onnx_int_attr){ "axis", sn->waxis };
		if (gran == QG_BLOCK)
			dq.attrs[dq.n_attrs++] = (struct onnx_int_attr){ "block_size", block };
		if ((st = add_node(c, &dq, e)))
			return st;
	}
	struct onnx_input_edit ie = { node_key(c, ni), k, out };
	if (!PUSH(p, edits, &ie) || !PUSH(p, drops, &wname))
		return nomem(e);
	c->x->n_weights++;
	return OK;
}

/* int32 bias exactly as sim.c's quantize_bias: q = round_half_even(b / (s_in * s_w)). */
static enum status emit_bias(struct qdq_ctx *c, int ni, int k, struct err *e)
{
	const struct sim *s = c->s;
	const struct sim_node *sn = &s->nodes[ni];
	const struct node *n = &c->g->nodes[ni];
	struct export_pool *p = c->p;
	int bv = n->inputs[k];
	const struct tensor *b = plan_value(s->ref, bv);
	int64_t nb = tensor_numel(b);
	if (nb < 1)
		return OK;
	bool per_channel = sn->n_wparams == nb && nb > 1;
	double *sd = keep(p, malloc((size_t)nb * sizeof *sd));
	if (!sd)
		return nomem(e);
	if (!bias_scales(s, ni, nb, sd))
		return OK; /* the simulation keeps this bias in float (per-block weights) */
	const char *bname = vname(c, bv);
	int32_t *q = keep(p, malloc((size_t)nb * sizeof *q));
	float *sc = keep(p, malloc((size_t)(per_channel ? nb : 1) * sizeof *sc));
	const char *qname = uniqf(p, "%s_quantized", bname);
	const char *sname = uniqf(p, "%s_scale", bname);
	const char *dn = uniqf(p, "%s_DequantizeLinear", bname);
	const char *out = uniqf(p, "%s_DequantizeLinear_Output", bname);
	if (!q || !sc || !qname || !sname || !dn || !out)
		return nomem(e);
	const float *x = b->data;
	const float *ref = sn->bq.data;
	for (int64_t i = 0; i < nb; i++) {
		double v = nearbyint((double)x[i] / sd[i]);
		v = v < -2147483648.0 ? -2147483648.0 : v > 2147483647.0 ? 2147483647.0 : v;
		q[i] = (int32_t)v;
		if (i == 0 || per_channel)
			sc[per_channel ? i : 0] = (float)sd[i];
		/* the runtime computes q * (float)scale; the simulation (float)(q * scale):
		 * they may differ in the last bit, never more */
		float rt = (float)q[i] * sc[per_channel ? i : 0];
		if (ref && fabsf(rt - ref[i]) > 4 * FLT_EPSILON * fabsf(ref[i]))
			return err_set(e, ERR_INVALID, "bias '%s'[%" PRId64 "]: int32 %d gives %.9g, "
				       "the simulation has %.9g", bname, i, q[i], rt, ref[i]);
	}
	struct shape qsh = b->shape, ssh = { .rank = per_channel ? 1 : 0, .dim = { nb } };
	enum status st;
	if ((st = add_init(c, qname, DT_INT32, &qsh, q, e)) ||
	    (st = add_init(c, sname, DT_FLOAT, &ssh, sc, e)))
		return st;
	struct onnx_new_node dq = { .name = dn, .op_type = "DequantizeLinear", .n_inputs = 2,
				    .inputs = { qname, sname }, .output = out,
				    .before_node = node_key(c, ni) };
	if (per_channel)
		dq.attrs[dq.n_attrs++] = (struct onnx_int_attr){ "axis", 0 };
	if ((st = add_node(c, &dq, e)))
		return st;
	struct onnx_input_edit ie = { node_key(c, ni), k, out };
	if (!PUSH(p, edits, &ie) || !PUSH(p, drops, &bname))
		return nomem(e);
	c->x->n_biases++;
	return OK;
}

void export_qdq_fini(struct export_qdq *x)
{
	if (!x)
		return;
	pool_free(x->pool);
	memset(x, 0, sizeof *x);
}

static enum status plan_qdq(struct qdq_ctx *c, const struct export_info *info, struct err *e)
{
	const struct sim *s = c->s;
	const struct graph *g = c->g;
	struct export_pool *p = c->p;
	enum status st;

	/* every name in use */
	for (int v = 0; v < g->n_values; v++)
		if (!sset_add(&p->names, g->values[v].name))
			return nomem(e);
	for (int ni = 0; ni < g->n_nodes; ni++)
		if (!sset_add(&p->names, g->nodes[ni].name))
			return nomem(e);
	for (int v = 0; v < g->n_values; v++)
		c->final[v] = g->values[v].name;

	/* 1. outputs of quantized nodes: one pair per tensor, shared by every reader */
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct sim_node *sn = &s->nodes[ni];
		const struct node *n = &g->nodes[ni];
		if (!sn->quant)
			continue;
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v < 0 || s->out_q[v].fmt == QF_FP32)
				continue;
			const char *src = vname(c, v), *dst = NULL, *fin;
			if (g->values[v].is_output) {
				src = uniqf(p, "%s_QuantizeLinear_Input", vname(c, v));
				dst = vname(c, v);
				struct onnx_output_rename r = { vname(c, v), src };
				if (!src || !PUSH(p, renames, &r))
					return nomem(e);
			}
			if ((st = emit_pair(c, vname(c, v), src, dst, &s->out_q[v], vname(c, v), NULL,
					    &fin, e)))
				return st;
			c->final[v] = fin;
		}
	}
	/* readers of re-routed tensors (graph outputs keep their name: nothing to do) */
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			if (v < 0 || c->final[v] == g->values[v].name || g->values[v].is_output)
				continue;
			struct onnx_input_edit ie = { node_key(c, ni), k, c->final[v] };
			if (!PUSH(p, edits, &ie))
				return nomem(e);
		}
	}

	/* 2. input edges, weights and biases of quantized nodes */
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct sim_node *sn = &s->nodes[ni];
		const struct node *n = &g->nodes[ni];
		if (!sn->quant)
			continue;
		for (int k = 0; k < n->n_inputs; k++) {
			if (k == sn->weight_input) {
				if ((st = emit_weight(c, ni, k, e)))
					goto node_fail;
				continue;
			}
			if (k == sn->bias_input) {
				if ((st = emit_bias(c, ni, k, e)))
					goto node_fail;
				continue;
			}
			const struct act_q *q = &s->in_q[s->in_q_base[ni] + k];
			int v = n->inputs[k];
			if (v < 0 || q->fmt == QF_FP32)
				continue;
			int pr = g->values[v].producer;
			if (pr >= 0 && s->nodes[pr].quant && same_q(&s->out_q[v], q))
				continue; /* the producer's pair already did exactly this */
			const char *src = g->values[v].is_output ? vname(c, v) : c->final[v];
			const char *out = NULL;
			for (int i = 0; i < c->n_pairs && !out; i++)
				if (c->pairs[i].value == v && same_q(&c->pairs[i].q, q))
					out = c->pairs[i].out;
			if (!out) {
				if ((st = emit_pair(c, vname(c, v), src, NULL, q, NULL, node_key(c, ni),
						    &out, e)))
					goto node_fail;
				struct edge_pair ep = { v, *q, out };
				if (!PUSH(c, pairs, &ep))
					return nomem(e);
			}
			struct onnx_input_edit ie = { node_key(c, ni), k, out };
			if (!PUSH(p, edits, &ie))
				return nomem(e);
		}
		continue;
node_fail:
		err_prefix(e, "node '%s' (%s)", n->name, n->op_type);
		return st;
	}

	/* later edits of the same input win in onnx_save: the edge edits above come
	 * after the reader edits, as they must */
	c->x->opset = c->opset;
	c->x->ir_version = c->opset >= 21 ? 10 : c->opset >= 19 ? 9 : c->opset >= 13 ? 7 : 0;

	struct onnx_meta m[3];
	int nm = 0;
	if (info && info->qlens_version)
		m[nm++] = (struct onnx_meta){ "qlens.version", info->qlens_version };
	if (info && info->policy_file)
		m[nm++] = (struct onnx_meta){ "qlens.policy", info->policy_file };
	if (info && info->policy_sha256)
		m[nm++] = (struct onnx_meta){ "qlens.policy_sha256", info->policy_sha256 };
	for (int i = 0; i < nm; i++) {
		struct onnx_meta mm = { pstrdup(p, m[i].key), pstrdup(p, m[i].value) };
		if (!mm.key || !mm.value || !PUSH(p, meta, &mm))
			return nomem(e);
	}
	return OK;
}

enum status export_qdq_plan(const struct sim *s, const struct export_info *info,
			    struct export_qdq *x, struct err *e)
{
	memset(x, 0, sizeof *x);
	x->pool = calloc(1, sizeof *x->pool);
	struct qdq_ctx c = { .s = s, .g = s->g, .x = x, .p = x->pool };
	if (!x->pool)
		return nomem(e);
	c.final = calloc((size_t)s->g->n_values + 1, sizeof *c.final);
	enum status st = c.final ? plan_qdq(&c, info, e) : nomem(e);
	free(c.final);
	free(c.pairs);
	if (st) {
		export_qdq_fini(x);
		return st;
	}
	struct export_pool *p = x->pool;
	x->edit = (struct onnx_edit){
		.min_opset = x->opset, .min_ir_version = x->ir_version,
		.n_inits = p->n_inits, .inits = p->inits,
		.n_nodes = p->n_nodes, .nodes = p->nodes,
		.n_input_edits = p->n_edits, .input_edits = p->edits,
		.n_renames = p->n_renames, .renames = p->renames,
		.n_drops = p->n_drops, .drops = p->drops,
		.n_meta = p->n_meta, .meta = p->meta,
	};
	return OK;
}

/* ---- ONNX Runtime quantizer options ------------------------------------------------- */

const char *export_ort_quant_type(enum qfmt f)
{
	switch (f) {
	case QF_INT8: return "QInt8";
	case QF_UINT8: return "QUInt8";
	case QF_INT16: return "QInt16";
	case QF_INT4: return "QInt4";
	case QF_UINT4: return "QUInt4";
	case QF_FP8E4M3: return "QFLOAT8E4M3FN";
	default: return NULL; /* fp16, bf16, fp8e5m2 have no QuantType */
	}
}

static cJSON *act_override(const struct act_q *q)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "quant_type", export_ort_quant_type(q->fmt));
	cJSON_AddNumberToObject(o, "scale", q->p.scale);
	cJSON_AddNumberToObject(o, "zero_point", q->p.zero_point);
	return o;
}

static void note(cJSON *arr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(cJSON *arr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
}

/* Why ONNX Runtime's quantizer cannot run quantized node ni as the simulation
 * does (a phrase in buf), or NULL when it can.  TensorQuantOverrides
 * (tensor_quant_overrides.py) takes quant_type, scale, zero_point, axis,
 * symmetric, reduce_range, rmin, rmax and convert: no float16/bfloat16 or
 * float8e5m2 QuantType, no block size. */
static const char *ort_problem(const struct sim *s, int ni, char *buf, size_t n)
{
	const struct sim_node *sn = &s->nodes[ni];
	bool has_w = sn->weight_input >= 0;
	enum qfmt bad = !export_ort_quant_type(sn->prec.afmt) ? sn->prec.afmt
			: has_w && !export_ort_quant_type(sn->prec.wfmt) ? sn->prec.wfmt
									 : QF_COUNT;
	if (bad != QF_COUNT) {
		snprintf(buf, n, "%s: ONNX Runtime has no QuantType for it",
			 qfmt_info(bad)->name);
		return buf;
	}
	enum qgran gran;
	int block;
	struct err tmp;
	if (has_w && export_weight_granularity(s, ni, &gran, &block, &tmp) == OK &&
	    gran == QG_BLOCK) {
		snprintf(buf, n, "%s weights per block of %d: TensorQuantOverrides has no block size",
			 qfmt_info(sn->prec.wfmt)->name, block);
		return buf;
	}
	return NULL;
}

enum status export_ort_overrides_json(const struct sim *s, const struct export_info *info,
				      char **out, struct err *e)
{
	const struct graph *g = s->g;
	*out = NULL;
	cJSON *root = cJSON_CreateObject();
	cJSON *qs = cJSON_CreateObject(), *extra = cJSON_CreateObject();
	cJSON *ov = cJSON_CreateObject(), *excl = cJSON_CreateArray(), *ops = cJSON_CreateArray();
	cJSON *uns = cJSON_CreateArray();
	bool *in_ort = calloc((size_t)g->n_nodes + 1, sizeof *in_ort);
	bool *seen_op = calloc(OP_COUNT + 1, sizeof *seen_op);
	/* the parts, before they are attached to root (after that, root owns them) */
	cJSON *parts[] = { root, qs, extra, ov, excl, ops, uns };
	const size_t n_parts = sizeof parts / sizeof parts[0];
	if (!root || !qs || !extra || !ov || !excl || !ops || !uns || !in_ort || !seen_op) {
		for (size_t i = 0; i < n_parts; i++)
			cJSON_Delete(parts[i]);
		free(in_ort);
		free(seen_op);
		return nomem(e);
	}
	cJSON_AddStringToObject(root, "format", "qlens-ort-quantizer");
	cJSON_AddNumberToObject(root, "version", 1);
	if (info && info->model_file)
		cJSON_AddStringToObject(root, "model", info->model_file);
	if (info && info->policy_file)
		cJSON_AddStringToObject(root, "policy", info->policy_file);
	if (info && info->policy_sha256)
		cJSON_AddStringToObject(root, "policy_sha256", info->policy_sha256);

	/* which nodes ORT's quantizer gets, and the op types involved; the ones it
	 * cannot express stop the export unless the caller accepts them in float */
	char refused[ERR_MSG_MAX] = "";
	size_t rlen = 0;
	int n_refused = 0, n_listed = 0;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct sim_node *sn = &s->nodes[ni];
		const struct node *n = &g->nodes[ni];
		if (!node_quantizable(g, ni) || !sn->quant)
			continue;
		char why[160];
		if (!ort_problem(s, ni, why, sizeof why)) {
			in_ort[ni] = true;
			seen_op[n->op] = true;
			continue;
		}
		n_refused++;
		note(uns, "node '%s': %s; it is excluded (kept in float) here: use the QDQ export%s",
		     n->name, why, is_cast_fmt(sn->prec.afmt) ? ", or convert it with "
		     "onnxconverter-common's float16 tools" : sn->prec.wfmt == QF_INT4 ||
		     sn->prec.wfmt == QF_UINT4 ? ", or ONNX Runtime's MatMul4BitsQuantizer" : "");
		/* the error names as many nodes as fit in one line */
		int k = snprintf(refused + rlen, sizeof refused - rlen, "%s'%s' (%s)",
				 n_listed ? ", " : "", n->name, why);
		if (k > 0 && rlen + (size_t)k < sizeof refused - 120) {
			rlen += (size_t)k;
			n_listed++;
		} else if (n_listed == 0) { /* one very long name: keep its start */
			refused[sizeof refused - 120] = '\0';
			rlen = strlen(refused);
			n_listed++;
		} else {
			refused[rlen] = '\0';
		}
	}
	if (n_refused && !(info && info->ort_partial)) {
		for (size_t i = 0; i < n_parts; i++)
			cJSON_Delete(parts[i]);
		free(in_ort);
		free(seen_op);
		if (n_listed < n_refused)
			return err_set(e, ERR_UNSUPPORTED, "ONNX Runtime's quantizer cannot express %d "
				       "node(s) of this policy: %s and %d more", n_refused, refused,
				       n_refused - n_listed);
		return err_set(e, ERR_UNSUPPORTED, "ONNX Runtime's quantizer cannot express %d "
			       "node(s) of this policy: %s", n_refused, refused);
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		bool folded = n->n_outputs > 0 && n->outputs[0] >= 0 &&
			      plan_value_is_const(s->ref, n->outputs[0]);
		if (node_quantizable(g, ni) && !folded && !in_ort[ni])
			cJSON_AddItemToArray(excl, cJSON_CreateString(n->name));
	}
	for (int k = 0; k < OP_COUNT; k++)
		if (seen_op[k])
			cJSON_AddItemToArray(ops, cJSON_CreateString(op_name((enum op_kind)k)));

	/* activations: one entry per tensor, a 'convert' for consumers that differ */
	for (int v = 0; v < g->n_values; v++) {
		if (plan_value_is_const(s->ref, v))
			continue;
		int pr = g->values[v].producer;
		const struct act_q *prim = NULL;
		if (pr >= 0 && in_ort[pr] && s->out_q[v].fmt != QF_FP32)
			prim = &s->out_q[v];
		const struct act_q *conv = NULL;
		cJSON *recv = NULL;
		bool bad = false;
		for (int ni = 0; ni < g->n_nodes && !bad; ni++) {
			if (!in_ort[ni])
				continue;
			const struct node *n = &g->nodes[ni];
			const struct sim_node *sn = &s->nodes[ni];
			for (int k = 0; k < n->n_inputs; k++) {
				if (n->inputs[k] != v || k == sn->weight_input || k == sn->bias_input)
					continue;
				const struct act_q *q = &s->in_q[s->in_q_base[ni] + k];
				if (q->fmt == QF_FP32)
					continue;
				if (!prim) {
					prim = q;
					if (pr >= 0 && s->nodes[pr].quant && !in_ort[pr])
						note(uns, "tensor '%s': its producer is excluded, so ONNX "
						     "Runtime quantizes it once for all consumers",
						     g->values[v].name);
					continue;
				}
				if (same_q(prim, q))
					continue;
				if (!conv) {
					conv = q;
					recv = cJSON_CreateArray();
				}
				if (!same_q(conv, q) || conv->fmt == prim->fmt) {
					note(uns, "tensor '%s': consumers quantize it with parameters a "
					     "single 'convert' cannot express (ONNX Runtime allows one "
					     "conversion to another type)", g->values[v].name);
					bad = true;
					break;
				}
				cJSON_AddItemToArray(recv, cJSON_CreateString(n->name));
			}
		}
		if (!prim)
			continue;
		cJSON *o = act_override(prim);
		if (conv && !bad) {
			cJSON *cv = act_override(conv);
			cJSON_AddItemToObject(cv, "recv_nodes", recv);
			recv = NULL;
			cJSON_AddItemToObject(o, "convert", cv);
			note(uns, "tensor '%s': converted for some consumers; ONNX Runtime "
			     "re-quantizes the already quantized tensor, while qlens quantizes the "
			     "float tensor for each consumer", g->values[v].name);
		}
		cJSON_Delete(recv);
		cJSON *list = cJSON_CreateArray();
		cJSON_AddItemToArray(list, o);
		cJSON_AddItemToObject(ov, g->values[v].name, list);
	}

	/* weights */
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct sim_node *sn = &s->nodes[ni];
		const struct node *n = &g->nodes[ni];
		if (!in_ort[ni] || sn->weight_input < 0 || is_cast_fmt(sn->prec.wfmt))
			continue;
		int wv = n->inputs[sn->weight_input];
		const struct value *val = &g->values[wv];
		const struct tensor *w = plan_value(s->ref, wv);
		if (val->kind != VAL_CONST) {
			note(uns, "node '%s': its weight '%s' is computed from constants, not an "
			     "initializer, so no override can name it", n->name, val->name);
			continue;
		}
		if (cJSON_GetObjectItemCaseSensitive(ov, val->name)) {
			note(uns, "weight '%s' is shared by several nodes; the first one's "
			     "parameters are given", val->name);
			continue;
		}
		enum qgran gran;
		int block;
		struct err tmp;
		if (weight_granularity(sn, n, w, &gran, &block, &tmp))
			continue;
		if (gran == QG_BLOCK)
			continue; /* not reached: ort_problem excludes per-block nodes */
		cJSON *list = cJSON_CreateArray();
		const char *qt = export_ort_quant_type(sn->prec.wfmt);
		for (int j = 0; j < sn->n_wparams; j++) {
			cJSON *o = cJSON_CreateObject();
			if (j == 0 && gran == QG_CHANNEL)
				cJSON_AddNumberToObject(o, "axis", sn->waxis);
			if (j == 0)
				cJSON_AddStringToObject(o, "quant_type", qt);
			cJSON_AddNumberToObject(o, "scale", sn->wparams[j].scale);
			cJSON_AddNumberToObject(o, "zero_point", sn->wparams[j].zero_point);
			cJSON_AddItemToArray(list, o);
		}
		cJSON_AddItemToObject(ov, val->name, list);
		for (int k = 0; k < n->n_inputs; k++) {
			int cv = n->inputs[k];
			if (k != sn->weight_input && k != sn->bias_input && cv >= 0 &&
			    plan_value_is_const(s->ref, cv) && plan_value(s->ref, cv)->dtype == DT_FLOAT)
				note(uns, "node '%s': ONNX Runtime quantizes its constant input '%s', "
				     "which qlens keeps in float", n->name, g->values[cv].name);
		}
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct sim_node *sn = &s->nodes[ni];
		const struct node *n = &g->nodes[ni];
		if (!in_ort[ni] || sn->weight_input >= 0)
			continue;
		for (int k = 0; k < n->n_inputs; k++) {
			int cv = n->inputs[k];
			if (cv >= 0 && plan_value_is_const(s->ref, cv) &&
			    plan_value(s->ref, cv)->dtype == DT_FLOAT && op_defs[n->op].qkind == QK_ACT)
				note(uns, "node '%s': ONNX Runtime quantizes its constant input '%s', "
				     "which qlens keeps in float", n->name, g->values[cv].name);
		}
	}

	/* global defaults from the policy's default precision */
	const struct precision *d = &s->pol.defaults;
	const char *at = export_ort_quant_type(d->afmt), *wt = export_ort_quant_type(d->wfmt);
	cJSON_AddStringToObject(qs, "quant_format", "QDQ");
	cJSON_AddStringToObject(qs, "activation_type", at ? at : "QUInt8");
	cJSON_AddStringToObject(qs, "weight_type", wt ? wt : "QInt8");
	cJSON_AddBoolToObject(qs, "per_channel", d->wgran != QG_TENSOR);
	cJSON_AddItemToObject(qs, "op_types_to_quantize", ops);
	cJSON_AddItemToObject(qs, "nodes_to_exclude", excl);
	cJSON_AddBoolToObject(extra, "ActivationSymmetric", d->act_symmetric);
	cJSON_AddBoolToObject(extra, "WeightSymmetric", true);
	cJSON_AddItemToObject(extra, "TensorQuantOverrides", ov);
	cJSON_AddItemToObject(qs, "extra_options", extra);
	cJSON_AddItemToObject(root, "quantize_static", qs);
	cJSON_AddItemToObject(root, "unsupported", uns);
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	free(in_ort);
	free(seen_op);
	if (!text)
		return nomem(e);
	*out = text;
	return OK;
}

/* ---- TensorRT ------------------------------------------------------------------------- */

struct sbuf {
	char *s;
	size_t n, cap;
	bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	va_list ap;
	va_start(ap, fmt);
	int need = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (need < 0) {
		b->oom = true;
		return;
	}
	if (b->n + (size_t)need + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)need;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	b->n += (size_t)need;
}

/* trtexec's precision names, NULL when the format has none. */
static const char *trt_type(enum qfmt f)
{
	switch (f) {
	case QF_FP32: return "fp32";
	case QF_FP16: return "fp16";
	case QF_BF16: return "bf16";
	case QF_INT8:
	case QF_UINT8: return "int8";
	default: return NULL;
	}
}

const char *export_trt_name_problem(const char *name)
{
	if (!name[0])
		return "is empty";
	if (strchr(name, ','))
		return "holds ',', where trtexec splits the spec";
	if (strchr(name, '\''))
		return "holds a single quote, which trtexec deletes from layer names";
	if (strchr(name, '*'))
		return "holds '*', which trtexec reads as a wildcard";
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "holds a control character (the file has one flag per line)";
	return NULL;
}

enum status export_trt_text(const struct sim *s, const struct export_info *info, char **out,
			    struct err *e)
{
	const struct graph *g = s->g;
	struct sbuf prec = { 0 }, outs = { 0 }, notes = { 0 }, bad_names = { 0 }, all = { 0 };
	*out = NULL;
	int n_prec = 0, n_bad = 0;
	bool bf16 = false;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		const struct sim_node *sn = &s->nodes[ni];
		if (n->n_outputs > 0 && n->outputs[0] >= 0 &&
		    plan_value_is_const(s->ref, n->outputs[0]))
			continue; /* folded: TensorRT has no layer for it */
		const char *bad = export_trt_name_problem(n->name);
		if (bad) {
			n_bad++;
			sb_printf(&bad_names, "#   node '");
			for (const unsigned char *c = (const unsigned char *)n->name; *c; c++)
				sb_printf(&bad_names, *c < 0x20 || *c == 0x7f ? "\\x%02x" : "%c", *c);
			sb_printf(&bad_names, "' (%s): its name %s\n", n->op_type, bad);
			continue;
		}
		const char *p = "fp32", *ot = "fp32";
		if (sn->quant) {
			bf16 |= sn->prec.afmt == QF_BF16;
			const struct qfmt_info *wi = qfmt_info(sn->prec.wfmt);
			const struct qfmt_info *ai = qfmt_info(sn->prec.afmt);
			if (is_cast_fmt(sn->prec.afmt) &&
			    (sn->weight_input < 0 || sn->prec.wfmt == sn->prec.afmt)) {
				p = ot = trt_type(sn->prec.afmt);
			} else if (!ai->is_float && ai->bits == 8 &&
				   (sn->weight_input < 0 || (!wi->is_float && wi->bits == 8))) {
				p = "int8";
				ot = NULL; /* per output below */
			} else {
				char lab[64];
				sb_printf(&notes, "#   node '%s': %s (weights %s, activations %s)\n",
					  n->name, precision_label(&sn->prec, lab, sizeof lab), wi->name,
					  ai->name);
				continue;
			}
		}
		sb_printf(&prec, "%s%s:%s", n_prec ? "," : "", n->name, p);
		sb_printf(&outs, "%s%s:", n_prec ? "," : "", n->name);
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			const char *t = ot;
			if (!t)
				t = v >= 0 && s->out_q[v].fmt != QF_FP32 ? trt_type(s->out_q[v].fmt)
									     : "fp32";
			if (!t)
				t = "fp32";
			sb_printf(&outs, "%s%s", k ? "+" : "", t);
		}
		n_prec++;
	}
	const char *model = info && info->model_file ? info->model_file : "model.onnx";
	sb_printf(&all, "# TensorRT per-layer precisions for %s", model);
	if (info && info->policy_file)
		sb_printf(&all, ", from qlens policy %s", info->policy_file);
	if (info && info->policy_sha256)
		sb_printf(&all, " (sha256 %s)", info->policy_sha256);
	sb_printf(&all, "\n# Layer names are ONNX node names, which TensorRT's ONNX parser gives "
		  "its layers;\n# every node qlens runs is listed (fp32 where qlens keeps float).\n"
		  "# trtexec splits each spec at ',' and takes the text after a layer's last ':' "
		  "as its\n# precision, so names are written as they are.  Pass each non-comment "
		  "line as one\n# argument (no word splitting, no globbing), e.g. in bash:\n"
		  "#   mapfile -t flags < <(grep -v '^#' THIS_FILE)\n"
		  "#   trtexec --onnx=%s --fp16 --int8%s --precisionConstraints=obey \"${flags[@]}\"\n"
		  "# INT8 layers need scales: build from the QDQ export (qlens export --qdq) or pass "
		  "--calib.\n", model, bf16 ? " --bf16" : "");
	if (notes.n)
		sb_printf(&all, "# Not expressible with --layerPrecisions (precisions trtexec has: fp32, "
			  "fp16, bf16, int8);\n# these come from the QDQ export's Q/DQ nodes instead "
			  "(TensorRT explicit quantization):\n%s", notes.s);
	if (n_bad)
		sb_printf(&all, "# %d node(s) left out: trtexec cannot parse their names (it splits "
			  "at ',', deletes\n# single quotes, reads '*' as a wildcard); rename them in "
			  "the model to constrain them:\n%s", n_bad, bad_names.s);
	sb_printf(&all, "--layerPrecisions=%s\n--layerOutputTypes=%s\n", prec.s ? prec.s : "",
		  outs.s ? outs.s : "");
	bool oom = prec.oom || outs.oom || notes.oom || bad_names.oom || all.oom;
	free(prec.s);
	free(outs.s);
	free(notes.s);
	free(bad_names.s);
	if (oom) {
		free(all.s);
		return nomem(e);
	}
	*out = all.s;
	return OK;
}
