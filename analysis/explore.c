/*
 * explore.c - node statistics, policy cost, sliced calibration, policy
 * files and exports for the interactive explorer.
 *
 * Node statistics prepare a simulation in which only the node looked at runs
 * at the precision (everything else FP32): sim_prepare then quantizes just
 * that node's weight and computes its activation parameters from the
 * calibration statistics exactly as every other simulation does, so what the
 * detail pane shows (scales, zero points, clip ranges, quantized weights) is
 * what the session measured.  Weight figures are exact (every weight);
 * activation figures are estimated from the 2048-bin calibration histogram by
 * fake-quantizing each bin's centre - the error histogram is therefore
 * binned, and labelled as an estimate where shown.
 *
 * Cost follows sim.c's accounting (weight bytes: quantized storage plus one
 * scale and zero point per parameter set; biases stay as they are) without
 * quantizing anything, so the header can update on every key press.
 */
#include "explore.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "fileio.h"
#include "op.h"
#include "policyfile.h"

/* ---- cost --------------------------------------------------------------------- */

static int weight_channel_axis(const struct node *n, const struct shape *w)
{
	if (n->op == OP_CONV)
		return 0;
	if (strcmp(n->op_type, "ConvTranspose") == 0)
		return w->rank > 1 ? 1 : 0;
	if (n->op == OP_GEMM) {
		int64_t tb = 0;
		node_attr_int(n, "transB", 0, &tb, NULL);
		return tb ? 0 : 1;
	}
	return w->rank > 0 ? w->rank - 1 : 0;
}

static int weight_reduce_axis(const struct node *n, const struct shape *w)
{
	if (n->op == OP_GEMM) {
		int64_t tb = 0;
		node_attr_int(n, "transB", 0, &tb, NULL);
		return tb ? 1 : 0;
	}
	if (n->op == OP_MATMUL)
		return w->rank >= 2 ? w->rank - 2 : 0;
	return 1;
}

/* The quantized weight of node ni as sim.c finds it, or NULL. */
static const struct tensor *node_weight(const struct model_info *mi, int ni)
{
	const struct graph *g = mi->g;
	const struct node *n = &g->nodes[ni];
	if (op_defs[n->op].qkind != QK_WEIGHT || n->n_inputs < 2 || n->inputs[1] < 0)
		return NULL;
	int wv = n->inputs[1];
	if (!plan_value_is_const(mi->plan, wv))
		return NULL;
	const struct tensor *w = plan_value(mi->plan, wv);
	return w && w->dtype == DT_FLOAT ? w : NULL;
}

/* Parameter sets sim.c keeps for weight w of node n at precision p. */
static int64_t weight_nparams(const struct node *n, const struct shape *w,
			      const struct precision *p)
{
	enum qfmt f = p->wfmt;
	if (f == QF_FP16 || f == QF_BF16 || f == QF_FP32)
		return 0;
	unsigned mask = qfmt_info(f)->gran_mask;
	enum qgran gran = p->wgran;
	if (gran == QG_BLOCK && (!(mask & QG_BIT(QG_BLOCK)) || (n->op != OP_GEMM && n->op != OP_MATMUL)))
		gran = QG_CHANNEL;
	if (gran == QG_CHANNEL && (!(mask & QG_BIT(QG_CHANNEL)) || w->rank < 1))
		gran = QG_TENSOR;
	if (gran == QG_TENSOR)
		return 1;
	int axis = gran == QG_BLOCK ? weight_reduce_axis(n, w) : weight_channel_axis(n, w);
	int64_t D = w->dim[axis];
	if (gran == QG_CHANNEL)
		return D;
	int64_t outer = 1, inner = 1;
	for (int d = 0; d < axis; d++)
		outer *= w->dim[d];
	for (int d = axis + 1; d < w->rank; d++)
		inner *= w->dim[d];
	int64_t nb = (D + p->block - 1) / p->block;
	return outer * nb * inner;
}

void explore_policy_cost(const struct model_info *mi, const struct policy *pol,
			 struct explore_cost *c)
{
	const struct graph *g = mi->g;
	memset(c, 0, sizeof *c);
	for (int v = 0; v < g->n_values; v++) {
		if (g->values[v].kind != VAL_CONST)
			continue;
		const struct tensor *t = plan_value(mi->plan, v);
		if (t && t->dtype == DT_FLOAT)
			c->fp32_wbytes += 4 * tensor_numel(t);
	}
	c->wbytes = c->fp32_wbytes;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node_info *info = &mi->nodes[ni];
		double macs = (double)info->macs;
		c->fp32_bitops += macs * 32 * 32;
		struct precision p = policy_node(pol, ni);
		bool quant = info->quantizable && !info->folded && !precision_is_fp32(&p);
		if (!quant) {
			c->bitops += macs * 32 * 32;
			continue;
		}
		int wb = qfmt_info(p.wfmt)->bits, ab = qfmt_info(p.afmt)->bits;
		c->bitops += macs * wb * ab;
		if (p.wfmt == QF_FP32)
			continue;
		const struct tensor *w = node_weight(mi, ni);
		if (!w)
			continue;
		int64_t numel = tensor_numel(w);
		const struct qfmt_info *wi = qfmt_info(p.wfmt);
		int64_t zp_bytes = wi->is_float ? 0 : (wi->bits + 7) / 8;
		int64_t np = weight_nparams(&g->nodes[ni], &w->shape, &p);
		c->wbytes += qfmt_storage_bytes(p.wfmt, numel) + np * (4 + zp_bytes) - 4 * numel;
	}
}

/* ---- calibration in slices ------------------------------------------------------- */

enum status explore_calibrate(const struct graph *g, const struct tensor *data, int threads,
			      int batch, int64_t slice, const _Atomic bool *cancel,
			      const struct explore_calib_progress *pr, struct calib_data *out,
			      struct err *e)
{
	memset(out, 0, sizeof *out);
	int64_t n = data->shape.dim[0];
	if (data->dtype != DT_FLOAT || data->shape.rank < 1 || n < 1)
		return err_set(e, ERR_INVALID, "calibration data must be float32 with samples");
	if (slice < 1)
		slice = n;
	size_t row_bytes = data->nbytes / (size_t)n;
	for (int64_t r0 = 0; r0 < n; r0 += slice) {
		if (cancel && atomic_load(cancel)) {
			calib_data_fini(out);
			return err_set(e, ERR_CANCELLED, "calibration cancelled");
		}
		struct shape s = data->shape;
		s.dim[0] = r0 + slice <= n ? slice : n - r0;
		struct tensor view = tensor_view(DT_FLOAT, &s, (char *)data->data + (size_t)r0 * row_bytes);
		struct calib_data part;
		enum status st = calib_collect(g, &view, threads, batch, &part, e);
		if (st) {
			calib_data_fini(out);
			return st;
		}
		if (!out->stats) {
			*out = part;
		} else {
			for (int v = 0; v < g->n_values; v++) {
				if (!part.stats[v])
					continue;
				if (!out->stats[v]) {
					out->stats[v] = part.stats[v];
					part.stats[v] = NULL;
				} else {
					calib_stats_merge(out->stats[v], part.stats[v]);
				}
			}
			out->samples += part.samples;
			calib_data_fini(&part);
		}
		if (pr && pr->fn)
			pr->fn(pr->user, r0 + s.dim[0], n);
	}
	return OK;
}

/* ---- node statistics ------------------------------------------------------------------ */

static enum status hist_alloc(struct explore_hist *h, int n, double lo, double hi, struct err *e)
{
	h->n = n;
	if (!(hi > lo)) {
		double m = fabs(lo) > 0 ? fabs(lo) : 1;
		lo -= m * 0.5;
		hi = lo + m;
	}
	h->lo = lo;
	h->hi = hi;
	h->total = 0;
	h->count = calloc((size_t)n, sizeof *h->count);
	return h->count ? OK : err_set(e, ERR_NOMEM, "out of memory");
}

static void hist_add(struct explore_hist *h, double x, double w)
{
	if (!isfinite(x))
		return;
	int b = (int)floor((x - h->lo) / (h->hi - h->lo) * h->n);
	b = b < 0 ? 0 : b >= h->n ? h->n - 1 : b;
	h->count[b] += w;
	h->total += w;
}

void explore_node_fini(struct explore_node *s)
{
	if (!s)
		return;
	free(s->w_hist.count);
	free(s->w_err.count);
	free(s->a_hist.count);
	free(s->a_err.count);
	free(s->ch_lo);
	free(s->ch_hi);
	free(s->ch_step);
	memset(s, 0, sizeof *s);
}

/* Representable range of one parameter set. */
static void param_range(enum qfmt f, struct qparams p, float *lo, float *hi, double *step)
{
	const struct qfmt_info *fi = qfmt_info(f);
	if (f == QF_FP32 || f == QF_FP16 || f == QF_BF16) {
		*lo = -(float)fi->max_finite;
		*hi = (float)fi->max_finite;
		if (f == QF_FP32)
			*lo = -INFINITY, *hi = INFINITY;
		*step = 0;
	} else if (fi->is_float) {
		*lo = -(float)(fi->max_finite * p.scale);
		*hi = (float)(fi->max_finite * p.scale);
		*step = 0;
	} else {
		*lo = (float)((double)(fi->qmin - p.zero_point) * p.scale);
		*hi = (float)((double)(fi->qmax - p.zero_point) * p.scale);
		*step = p.scale;
	}
}

static enum status weight_stats(const struct sim *sim, const struct node *n, int ni,
				const struct tensor *w, int bins, struct explore_node *o,
				struct err *e)
{
	const struct sim_node *sn = &sim->nodes[ni];
	const float *x = w->data;
	int64_t numel = tensor_numel(w);
	o->has_weight = true;
	o->w_numel = numel;
	o->w_quant = sn->quant && sn->weight_input == 1 && sn->wq.data;
	const float *xq = o->w_quant ? sn->wq.data : x;
	float mn = INFINITY, mx = -INFINITY;
	double sig = 0, err = 0, emax = 0;
	for (int64_t i = 0; i < numel; i++) {
		mn = x[i] < mn ? x[i] : mn;
		mx = x[i] > mx ? x[i] : mx;
		double d = (double)xq[i] - x[i];
		sig += (double)x[i] * x[i];
		err += d * d;
		emax = fabs(d) > emax ? fabs(d) : emax;
	}
	o->w_min = mn;
	o->w_max = mx;
	o->w_sqnr = err > 0 ? 10 * log10(sig / err) : INFINITY;
	/* channels */
	int cax = weight_channel_axis(n, &w->shape);
	int64_t D = w->shape.rank ? w->shape.dim[cax] : 1, inner = 1;
	for (int d = cax + 1; d < w->shape.rank; d++)
		inner *= w->shape.dim[d];
	if (D < 1)
		D = 1;
	o->n_ch = (int)D;
	o->ch_lo = malloc((size_t)D * sizeof *o->ch_lo);
	o->ch_hi = malloc((size_t)D * sizeof *o->ch_hi);
	if (!o->ch_lo || !o->ch_hi)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (int64_t c = 0; c < D; c++)
		o->ch_lo[c] = INFINITY, o->ch_hi[c] = -INFINITY;
	for (int64_t i = 0; i < numel; i++) {
		int64_t c = w->shape.rank ? (i / inner) % D : 0;
		o->ch_lo[c] = x[i] < o->ch_lo[c] ? x[i] : o->ch_lo[c];
		o->ch_hi[c] = x[i] > o->ch_hi[c] ? x[i] : o->ch_hi[c];
	}
	/* parameters: the widest slice represents the grid */
	o->w_nparams = o->w_quant ? sn->n_wparams : 0;
	o->w_gran = QG_TENSOR;
	double a = fmax(fabs(mn), fabs(mx));
	o->w_clip_lo = -INFINITY;
	o->w_clip_hi = INFINITY;
	if (o->w_quant) {
		enum qfmt f = o->prec.wfmt;
		const struct qfmt_info *fi = qfmt_info(f);
		o->w_levels = fi->is_float ? 0 : fi->qmax - fi->qmin + 1;
		int wide = 0;
		for (int k = 1; k < sn->n_wparams; k++)
			if (sn->wparams[k].scale > sn->wparams[wide].scale)
				wide = k;
		if (sn->n_wparams == 0) {
			struct qparams one = { 1, 0 };
			param_range(f, one, &o->w_clip_lo, &o->w_clip_hi, &o->w_step);
			o->w_scale = 1;
		} else {
			param_range(f, sn->wparams[wide], &o->w_clip_lo, &o->w_clip_hi, &o->w_step);
			o->w_scale = sn->wparams[wide].scale;
			o->w_zp = sn->wparams[wide].zero_point;
		}
		if (sn->n_wparams > 1)
			o->w_gran = sn->n_wparams == D && o->prec.wgran != QG_BLOCK ? QG_CHANNEL
				    : o->prec.wgran == QG_BLOCK ? QG_BLOCK : QG_CHANNEL;
		if (o->w_gran == QG_CHANNEL && sn->n_wparams == D && !fi->is_float) {
			o->ch_step = malloc((size_t)D * sizeof *o->ch_step);
			if (!o->ch_step)
				return err_set(e, ERR_NOMEM, "out of memory");
			for (int64_t c = 0; c < D; c++)
				o->ch_step[c] = sn->wparams[c].scale;
		}
		/* clipped: beyond its own slice's grid by more than half a step
		 * (floats: beyond the largest finite value) */
		int64_t clipped = 0;
		for (int64_t i = 0; i < numel; i++) {
			double d = fabs((double)xq[i] - x[i]);
			double half;
			if (fi->is_float) {
				half = fabs(x[i]) * 0.5; /* relative rounding never exceeds this */
				if (d > half && d > 0)
					clipped++;
				continue;
			}
			if (sn->n_wparams == 1)
				half = 0.5 * sn->wparams[0].scale;
			else if (o->w_gran == QG_CHANNEL && sn->n_wparams == D)
				half = 0.5 * sn->wparams[(i / inner) % D].scale;
			else
				half = 0.5 * o->w_scale;
			if (d > half * (1 + 1e-4) + 1e-30)
				clipped++;
		}
		o->w_clipped = numel ? (double)clipped / (double)numel : 0;
		if (isfinite(o->w_clip_hi))
			a = fmax(a, fmax(fabs(o->w_clip_lo), fabs(o->w_clip_hi)));
	}
	enum status st = hist_alloc(&o->w_hist, bins, -a, a, e);
	if (!st)
		st = hist_alloc(&o->w_err, bins, -(emax > 0 ? emax : 1e-12), emax > 0 ? emax : 1e-12, e);
	if (st)
		return st;
	for (int64_t i = 0; i < numel; i++) {
		hist_add(&o->w_hist, x[i], 1);
		hist_add(&o->w_err, (double)xq[i] - x[i], 1);
	}
	return OK;
}

static enum status act_stats(const struct sim *sim, const struct calib_data *cal, int ni,
			     int bins, struct explore_node *o, struct err *e)
{
	const struct graph *g = sim->g;
	const struct node *n = &g->nodes[ni];
	int v = n->n_inputs > 0 ? n->inputs[0] : -1;
	if (v < 0 || !cal || !cal->stats || !cal->stats[v])
		return OK;
	const struct calib_stats *cs = cal->stats[v];
	if (!cs->count)
		return OK;
	o->has_act = true;
	o->a_value = v;
	o->a_min = (float)cs->min;
	o->a_max = (float)cs->max;
	const struct act_q *q = &sim->in_q[sim->in_q_base[ni]];
	o->a_quant = sim->nodes[ni].quant && q->fmt != QF_FP32;
	o->a_fmt = o->a_quant ? q->fmt : QF_FP32;
	o->a_clip_lo = -INFINITY;
	o->a_clip_hi = INFINITY;
	double a = fmax(fabs(cs->min), fabs(cs->max));
	if (o->a_quant) {
		const struct qfmt_info *fi = qfmt_info(q->fmt);
		bool sym = o->prec.act_symmetric || fi->is_float;
		calib_range(cs, &o->prec.acalib, q->fmt, sym, &o->a_rmin, &o->a_rmax);
		param_range(q->fmt, q->p, &o->a_clip_lo, &o->a_clip_hi, &o->a_step);
		o->a_scale = q->p.scale;
		o->a_zp = q->p.zero_point;
		o->a_levels = fi->is_float ? 0 : fi->qmax - fi->qmin + 1;
		if (isfinite(o->a_clip_hi) && fi->bits < 16)
			a = fmax(a, fmax(fabs(o->a_clip_lo), fabs(o->a_clip_hi)));
	}
	/* display range: what the data covers, widened to the clip range when
	 * that is near (a far clip range would squash the data into a few cells) */
	double lo = cs->min, hi = cs->max, span = hi - lo > 0 ? hi - lo : 1;
	if (o->a_quant && isfinite(o->a_clip_lo) && qfmt_info(q->fmt)->bits < 16) {
		if (o->a_clip_lo < lo && lo - o->a_clip_lo < span)
			lo = o->a_clip_lo;
		if (o->a_clip_hi > hi && o->a_clip_hi - hi < span)
			hi = o->a_clip_hi;
	}
	lo -= span * 0.01;
	hi += span * 0.01;
	(void)a;
	enum status st = hist_alloc(&o->a_hist, bins, lo, hi, e);
	if (st)
		return st;
	/* fake-quantize each calibration bin's centre (weighted by its count) */
	double R = cs->range > 0 ? cs->range : 1, bw = 2 * R / CALIB_BINS;
	double sig = 0, err = 0, emax = 0, clipped = 0, total = 0;
	float centres[CALIB_BINS], qc[CALIB_BINS];
	for (int b = 0; b < CALIB_BINS; b++) {
		double c = -R + (b + 0.5) * bw;
		c = c < cs->min ? cs->min : c > cs->max ? cs->max : c;
		centres[b] = (float)c;
	}
	if (o->a_quant)
		qfmt_fake_quant(q->fmt, centres, qc, CALIB_BINS, q->p);
	else
		memcpy(qc, centres, sizeof qc);
	for (int b = 0; b < CALIB_BINS; b++) {
		double w = (double)cs->bins[b];
		if (!w)
			continue;
		double d = (double)qc[b] - centres[b];
		hist_add(&o->a_hist, centres[b], w);
		sig += w * centres[b] * centres[b];
		err += w * d * d;
		emax = fabs(d) > emax ? fabs(d) : emax;
		total += w;
		if (o->a_quant && (centres[b] < o->a_clip_lo || centres[b] > o->a_clip_hi))
			clipped += w;
	}
	o->a_sqnr = err > 0 ? 10 * log10(sig / err) : INFINITY;
	o->a_clipped = total > 0 ? clipped / total : 0;
	if ((st = hist_alloc(&o->a_err, bins, -(emax > 0 ? emax : 1e-12), emax > 0 ? emax : 1e-12, e)))
		return st;
	for (int b = 0; b < CALIB_BINS; b++)
		if (cs->bins[b])
			hist_add(&o->a_err, (double)qc[b] - centres[b], (double)cs->bins[b]);
	return OK;
}

enum status explore_node_stats(const struct graph *g, const struct calib_data *cal, int ni,
			       const struct precision *p, int bins, struct explore_node *out,
			       struct err *e)
{
	memset(out, 0, sizeof *out);
	out->node = ni;
	out->prec = *p;
	out->a_value = -1;
	if (ni < 0 || ni >= g->n_nodes)
		return err_set(e, ERR_INVALID, "no node %d", ni);
	if (bins < 8)
		bins = 8;
	struct precision fp32, pn = *p;
	precision_preset("fp32", &fp32, NULL);
	if (!cal)
		pn.afmt = QF_FP32; /* weights only until statistics exist */
	struct policy pol;
	struct sim sim;
	enum status st = policy_init(&pol, g, &fp32, e);
	if (st)
		return st;
	policy_set(&pol, ni, &pn);
	st = sim_prepare(&sim, g, cal, &pol, e);
	policy_fini(&pol);
	if (st)
		return st;
	const struct node *n = &g->nodes[ni];
	if (op_defs[n->op].qkind == QK_WEIGHT && n->n_inputs > 1 && n->inputs[1] >= 0 &&
	    plan_value_is_const(sim.ref, n->inputs[1])) {
		const struct tensor *w = plan_value(sim.ref, n->inputs[1]);
		if (w && w->dtype == DT_FLOAT && tensor_numel(w) > 0)
			st = weight_stats(&sim, n, ni, w, bins, out, e);
	}
	if (!st)
		st = act_stats(&sim, cal, ni, bins, out, e);
	sim_fini(&sim);
	if (st)
		explore_node_fini(out);
	return st;
}

/* ---- policy files and exports --------------------------------------------------------- */

static const char *base_name(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;
	return s ? s + 1 : p;
}

enum status explore_save_policy(const struct graph *g, const struct calib_data *cal,
				const struct policy *pol, const struct explore_files *f,
				const char *path, struct err *e)
{
	struct sim sim;
	enum status st = sim_prepare(&sim, g, cal, pol, e);
	if (st)
		return st;
	const struct bundle *b = f->b;
	struct policy_doc_source src = {
		.model_file = base_name(b->model_path),
		.model_sha256 = f->model_sha256,
		.calib_data = base_name(b->calib_path),
		.calib_samples = f->calib_samples,
		.eval = f->eval,
		.eval_data = base_name(b->eval_path),
		.labels_data = base_name(b->labels_path),
		.metric = b->metric ? b->metric : "top1",
		.qlens_version = f->qlens_version,
	};
	struct policy_doc d;
	policy_doc_init(&d);
	st = policy_doc_build(&d, &sim, &src, e);
	if (!st)
		st = policy_doc_save(&d, path, e);
	policy_doc_fini(&d);
	sim_fini(&sim);
	if (st)
		err_prefix(e, "%s", path);
	return st;
}

enum status explore_load_policy(const struct graph *g, const char *model_sha256, const char *path,
				struct policy *pol, bool *model_changed, struct err *e)
{
	struct policy_doc d;
	*model_changed = false;
	enum status st = policy_doc_load(path, g, model_sha256, &d, model_changed, e);
	if (st)
		return st;
	st = policy_doc_policy(&d, g, pol, e);
	policy_doc_fini(&d);
	return st;
}

enum status explore_export(const struct graph *g, const struct calib_data *cal,
			   const struct policy *pol, const struct explore_files *f, const char *kind,
			   const char *path, struct err *e)
{
	struct sim sim;
	enum status st = sim_prepare(&sim, g, cal, pol, e);
	if (st)
		return st;
	struct export_info info = {
		.qlens_version = f->qlens_version,
		.model_file = base_name(f->b->model_path),
	};
	char *text = NULL;
	if (strcmp(kind, "qdq") == 0) {
		struct export_qdq x;
		memset(&x, 0, sizeof x);
		st = export_qdq_plan(&sim, &info, &x, e);
		if (!st)
			st = onnx_save_edited(f->b->model_path, &x.edit, path, e);
		export_qdq_fini(&x);
	} else if (strcmp(kind, "ort") == 0 || strcmp(kind, "trt") == 0) {
		st = kind[0] == 'o' ? export_ort_overrides_json(&sim, &info, &text, e)
				    : export_trt_text(&sim, &info, &text, e);
		if (!st)
			st = file_write_atomic(path, text, strlen(text), e);
		free(text);
	} else {
		st = err_set(e, ERR_INVALID, "unknown export kind '%s' (qdq, ort, trt)", kind);
	}
	sim_fini(&sim);
	if (st)
		err_prefix(e, "%s", path);
	return st;
}
