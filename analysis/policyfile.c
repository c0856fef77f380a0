/*
 * policyfile.c - policy documents: built from a simulation, read from and
 * written to JSON.
 *
 * Why a document type and not just struct policy: a policy file is also the
 * record of what qlens measured (parameters, accuracy, cost, tool chain),
 * and saving what was loaded must reproduce the file.  So the document keeps
 * every field it read, in typed form, and the writer emits them in one fixed
 * order; numbers go through cJSON, whose output reads back to the same
 * double, and 32-bit scales are stored as floats, so load -> save is a fixed
 * point.
 *
 * How loading stays strict without a schema library: every JSON object is
 * checked against its list of known keys (unknown or repeated keys are
 * errors naming the path, e.g. "nodes./fc/Gemm.precision.weight_fomat"),
 * each value against its type, and everything that refers to the model
 * (node names, op types, tensor names, which tensors belong to which node)
 * against the graph.  Errors read "FILE: PATH: what is wrong".
 */
#include "policyfile.h"

#include <cJSON.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "fileio.h"
#include "op.h"
#include "sha256.h"
#include "version.h"

#define POLICY_FILE_MAX_BYTES ((size_t)256 << 20)

/* ---- lifetime --------------------------------------------------------------------- */

void policy_doc_init(struct policy_doc *d)
{
	memset(d, 0, sizeof *d);
	precision_preset("fp32", &d->defaults, NULL);
}

static void act_fini(struct pf_act *a) { free(a->name); }

static void node_fini(struct pf_node *n)
{
	free(n->name);
	free(n->op_type);
	for (int k = 0; k < n->n_inputs; k++)
		act_fini(&n->inputs[k]);
	for (int k = 0; k < n->n_outputs; k++)
		act_fini(&n->outputs[k]);
	free(n->inputs);
	free(n->outputs);
	free(n->weight.name);
	free(n->weight.scales);
	free(n->weight.zero_points);
	free(n->bias.name);
	free(n->bias.scales);
}

void policy_doc_fini(struct policy_doc *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->n_nodes; i++)
		node_fini(&d->nodes[i]);
	free(d->nodes);
	for (int i = 0; i < d->n_opsets; i++)
		free(d->opsets[i].domain);
	free(d->opsets);
	char *strs[] = { d->model_file, d->model_sha256, d->model_producer, d->calib_data,
			 d->calib_sha256, d->calib_method, d->eval_data, d->eval_sha256,
			 d->labels_data, d->labels_sha256, d->metric, d->qlens_version,
			 d->simulation, d->blas, d->protobuf_c, d->onnx_schema, d->cjson };
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		free(strs[i]);
	memset(d, 0, sizeof *d);
}

static enum status nomem(struct err *e) { return err_set(e, ERR_NOMEM, "out of memory"); }

/* strdup of an optional string: NULL stays NULL; *ok cleared on failure. */
static char *dup_opt(const char *s, bool *ok)
{
	if (!s)
		return NULL;
	char *r = strdup(s);
	if (!r)
		*ok = false;
	return r;
}

/* ---- building from a simulation ------------------------------------------------------- */

static bool is_cast(enum qfmt f) { return f == QF_FP16 || f == QF_BF16; }

static bool fill_act(struct pf_act *a, const struct sim *s, int v, const struct act_q *q,
		     const struct precision *pr)
{
	a->name = strdup(s->g->values[v].name);
	a->fmt = q->fmt;
	a->has_params = !is_cast(q->fmt);
	a->scale = q->p.scale;
	a->zero_point = q->p.zero_point;
	const struct calib_stats *st = s->cal && s->cal->stats ? s->cal->stats[v] : NULL;
	if (a->has_params && st) {
		bool sym = pr->act_symmetric || qfmt_info(q->fmt)->is_float;
		calib_range(st, &pr->acalib, q->fmt, sym, &a->rmin, &a->rmax);
		a->has_range = true;
	}
	return a->name != NULL;
}

static enum status build_node(struct pf_node *pn, const struct sim *s, int ni, struct err *e)
{
	const struct graph *g = s->g;
	const struct node *n = &g->nodes[ni];
	const struct sim_node *sn = &s->nodes[ni];
	pn->index = ni;
	pn->name = strdup(n->name);
	pn->op_type = strdup(n->op_type);
	if (!pn->name || !pn->op_type)
		return nomem(e);
	pn->override = s->pol.has_override[ni];
	if (pn->override)
		pn->prec = s->pol.node[ni];
	if (!sn->quant)
		return OK;
	pn->has_tensors = true;
	pn->inputs = calloc((size_t)n->n_inputs + 1, sizeof *pn->inputs);
	pn->outputs = calloc((size_t)n->n_outputs + 1, sizeof *pn->outputs);
	if (!pn->inputs || !pn->outputs)
		return nomem(e);
	for (int k = 0; k < n->n_inputs; k++) {
		const struct act_q *q = &s->in_q[s->in_q_base[ni] + k];
		if (k == sn->weight_input || k == sn->bias_input || n->inputs[k] < 0 ||
		    q->fmt == QF_FP32)
			continue;
		if (!fill_act(&pn->inputs[pn->n_inputs++], s, n->inputs[k], q, &sn->prec))
			return nomem(e);
	}
	for (int k = 0; k < n->n_outputs; k++) {
		int v = n->outputs[k];
		if (v < 0 || s->out_q[v].fmt == QF_FP32)
			continue;
		if (!fill_act(&pn->outputs[pn->n_outputs++], s, v, &s->out_q[v], &sn->prec))
			return nomem(e);
	}
	enum status st;
	if (sn->weight_input >= 0) {
		struct pf_weight *w = &pn->weight;
		pn->has_weight = true;
		w->name = strdup(g->values[n->inputs[sn->weight_input]].name);
		if (!w->name)
			return nomem(e);
		w->fmt = sn->prec.wfmt;
		w->gran = QG_TENSOR;
		if (!is_cast(w->fmt)) {
			if ((st = export_weight_granularity(s, ni, &w->gran, &w->block, e)))
				return st;
			w->axis = w->gran == QG_TENSOR ? 0 : sn->waxis;
			w->n = sn->n_wparams;
			w->scales = malloc((size_t)w->n * sizeof *w->scales);
			w->zero_points = malloc((size_t)w->n * sizeof *w->zero_points);
			if (!w->scales || !w->zero_points)
				return nomem(e);
			for (int j = 0; j < w->n; j++) {
				w->scales[j] = sn->wparams[j].scale;
				w->zero_points[j] = sn->wparams[j].zero_point;
			}
		}
	}
	if (sn->bias_input >= 0) {
		float *sc;
		int nb;
		if ((st = export_bias_scales(s, ni, &sc, &nb, e)))
			return st;
		if (nb > 0) {
			pn->has_bias = true;
			pn->bias.scales = sc;
			pn->bias.n = nb;
			pn->bias.name = strdup(g->values[n->inputs[sn->bias_input]].name);
			if (!pn->bias.name)
				return nomem(e);
		}
	}
	return OK;
}

static void build_cost(struct policy_doc *d, const struct sim *s)
{
	const struct graph *g = s->g;
	double macs = 0, bitops = 0, params = (double)s->fp32_weight_bytes / 4, bits = 32 * params;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		const struct sim_node *sn = &s->nodes[ni];
		if (n->n_outputs > 0 && n->outputs[0] >= 0 &&
		    plan_value_is_const(s->ref, n->outputs[0]))
			continue; /* folded at plan time: never runs */
		struct node_cost c;
		plan_node_cost(s->ref, ni, &c);
		double wb = 32, ab = 32;
		if (sn->quant) {
			ab = qfmt_info(sn->prec.afmt)->bits;
			wb = sn->weight_input >= 0 ? qfmt_info(sn->prec.wfmt)->bits : ab;
			if (sn->weight_input >= 0) {
				const struct tensor *w = plan_value(s->ref, n->inputs[sn->weight_input]);
				bits -= (double)tensor_numel(w) * (32 - wb);
			}
		}
		macs += (double)c.macs;
		bitops += (double)c.macs * wb * ab;
	}
	d->has_cost = true;
	d->weight_bytes = (double)s->weight_bytes;
	d->fp32_weight_bytes = (double)s->fp32_weight_bytes;
	d->params = params;
	d->macs = macs;
	d->bitops = bitops;
	d->fp32_bitops = macs * 32 * 32;
	d->effective_bits = params > 0 ? bits / params : 32;
	d->storage_bits = params > 0 ? 8 * (double)s->weight_bytes / params : 32;
}

enum status policy_doc_build(struct policy_doc *d, const struct sim *s,
			     const struct policy_doc_source *src, struct err *e)
{
	const struct graph *g = s->g;
	enum status st;
	bool ok = true;
	policy_doc_init(d);
	d->has_model = true;
	d->model_file = dup_opt(src->model_file, &ok);
	d->model_sha256 = dup_opt(src->model_sha256, &ok);
	char prod[512];
	snprintf(prod, sizeof prod, "%s%s%s", g->producer_name ? g->producer_name : "",
		 g->producer_version && g->producer_version[0] ? " " : "",
		 g->producer_version ? g->producer_version : "");
	d->model_producer = dup_opt(prod, &ok);
	d->ir_version = g->ir_version;
	d->opsets = calloc(1, sizeof *d->opsets);
	if (d->opsets) {
		d->opsets[0].domain = dup_opt("ai.onnx", &ok);
		d->opsets[0].version = g->opset;
		d->n_opsets = 1;
	} else {
		ok = false;
	}
	d->defaults = s->pol.defaults;
	d->nodes = calloc((size_t)g->n_nodes + 1, sizeof *d->nodes);
	if (!ok || !d->nodes) {
		st = nomem(e);
		goto fail;
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		if (!node_quantizable(g, ni) || (!s->pol.has_override[ni] && !s->nodes[ni].quant))
			continue;
		if ((st = build_node(&d->nodes[d->n_nodes++], s, ni, e))) {
			err_prefix(e, "node '%s'", g->nodes[ni].name);
			goto fail;
		}
	}
	char cs[64];
	d->has_calib = src->calib_data || src->calib_samples;
	d->calib_data = dup_opt(src->calib_data, &ok);
	d->calib_sha256 = dup_opt(src->calib_sha256, &ok);
	d->calib_samples = src->calib_samples;
	d->calib_method = dup_opt(calib_spec_str(&d->defaults.acalib, cs, sizeof cs), &ok);
	if (src->eval) {
		d->has_eval = true;
		d->eval = *src->eval;
		d->eval_data = dup_opt(src->eval_data, &ok);
		d->eval_sha256 = dup_opt(src->eval_sha256, &ok);
		d->labels_data = dup_opt(src->labels_data, &ok);
		d->labels_sha256 = dup_opt(src->labels_sha256, &ok);
		d->metric = dup_opt(src->metric ? src->metric : "top1", &ok);
	}
	build_cost(d, s);
	d->has_toolchain = true;
	d->qlens_version = dup_opt(src->qlens_version ? src->qlens_version : "unknown", &ok);
	d->simulation = dup_opt(POLICY_SIM_SEMANTICS, &ok);
	d->blas = dup_opt(core_blas_config(), &ok);
	d->protobuf_c = dup_opt(core_protobuf_c_version(), &ok);
	d->onnx_schema = dup_opt(core_onnx_schema(), &ok);
	d->cjson = dup_opt(cJSON_Version(), &ok);
	if (!ok) {
		st = nomem(e);
		goto fail;
	}
	return OK;
fail:
	policy_doc_fini(d);
	return st;
}

/* ---- writing ---------------------------------------------------------------------------- */

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

static cJSON *precision_json(const struct precision *p)
{
	cJSON *o = cJSON_CreateObject();
	char lab[64], cs[64];
	cJSON_AddStringToObject(o, "label", precision_label(p, lab, sizeof lab));
	cJSON_AddStringToObject(o, "weight_format", qfmt_info(p->wfmt)->name);
	cJSON_AddStringToObject(o, "activation_format", qfmt_info(p->afmt)->name);
	cJSON_AddStringToObject(o, "granularity", qgran_name(p->wgran));
	if (p->wgran == QG_BLOCK)
		cJSON_AddNumberToObject(o, "block_size", p->block);
	cJSON_AddBoolToObject(o, "activation_symmetric", p->act_symmetric);
	cJSON *c = cJSON_AddObjectToObject(o, "calibrator");
	cJSON_AddStringToObject(c, "method", calib_method_name(p->acalib.method));
	if (p->acalib.method == CALIB_PERCENTILE)
		cJSON_AddNumberToObject(c, "percentile", p->acalib.percentile);
	(void)cs;
	cJSON_AddStringToObject(o, "weight_calibrator", calib_method_name(p->wcalib));
	return o;
}

static cJSON *act_json(const struct pf_act *a)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", a->name);
	cJSON_AddStringToObject(o, "format", qfmt_info(a->fmt)->name);
	if (a->has_params) {
		cJSON_AddNumberToObject(o, "scale", a->scale);
		cJSON_AddNumberToObject(o, "zero_point", a->zero_point);
	}
	if (a->has_range) {
		cJSON *r = cJSON_AddArrayToObject(o, "range");
		cJSON_AddItemToArray(r, cJSON_CreateNumber(a->rmin));
		cJSON_AddItemToArray(r, cJSON_CreateNumber(a->rmax));
	}
	return o;
}

static cJSON *float_array(const float *v, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

static cJSON *node_json(const struct pf_node *n)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "op_type", n->op_type);
	if (n->override)
		cJSON_AddItemToObject(o, "precision", precision_json(&n->prec));
	if (!n->has_tensors)
		return o;
	cJSON *t = cJSON_AddObjectToObject(o, "tensors");
	cJSON *ins = cJSON_AddArrayToObject(t, "inputs");
	for (int k = 0; k < n->n_inputs; k++)
		cJSON_AddItemToArray(ins, act_json(&n->inputs[k]));
	if (n->has_weight) {
		const struct pf_weight *w = &n->weight;
		cJSON *wo = cJSON_AddObjectToObject(t, "weight");
		cJSON_AddStringToObject(wo, "name", w->name);
		cJSON_AddStringToObject(wo, "format", qfmt_info(w->fmt)->name);
		cJSON_AddStringToObject(wo, "granularity", qgran_name(w->gran));
		if (w->gran != QG_TENSOR)
			cJSON_AddNumberToObject(wo, "axis", w->axis);
		if (w->gran == QG_BLOCK)
			cJSON_AddNumberToObject(wo, "block_size", w->block);
		if (w->n > 0) {
			cJSON_AddItemToObject(wo, "scales", float_array(w->scales, w->n));
			cJSON *z = cJSON_AddArrayToObject(wo, "zero_points");
			for (int j = 0; j < w->n; j++)
				cJSON_AddItemToArray(z, cJSON_CreateNumber(w->zero_points[j]));
		}
	}
	if (n->has_bias) {
		cJSON *bo = cJSON_AddObjectToObject(t, "bias");
		cJSON_AddStringToObject(bo, "name", n->bias.name);
		cJSON_AddStringToObject(bo, "format", "int32");
		cJSON_AddItemToObject(bo, "scales", float_array(n->bias.scales, n->bias.n));
	}
	cJSON *outs = cJSON_AddArrayToObject(t, "outputs");
	for (int k = 0; k < n->n_outputs; k++)
		cJSON_AddItemToArray(outs, act_json(&n->outputs[k]));
	return o;
}

char *policy_doc_json(const struct policy_doc *d)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "format", POLICY_FILE_FORMAT);
	cJSON_AddNumberToObject(root, "version", POLICY_FILE_VERSION);
	if (d->has_model) {
		cJSON *m = cJSON_AddObjectToObject(root, "model");
		add_str(m, "file", d->model_file);
		add_str(m, "sha256", d->model_sha256);
		cJSON_AddNumberToObject(m, "ir_version", (double)d->ir_version);
		cJSON *os = cJSON_AddObjectToObject(m, "opsets");
		for (int i = 0; i < d->n_opsets; i++)
			cJSON_AddNumberToObject(os, d->opsets[i].domain, (double)d->opsets[i].version);
		add_str(m, "producer", d->model_producer);
	}
	cJSON_AddItemToObject(root, "defaults", precision_json(&d->defaults));
	cJSON *nodes = cJSON_AddObjectToObject(root, "nodes");
	for (int i = 0; i < d->n_nodes; i++)
		cJSON_AddItemToObject(nodes, d->nodes[i].name, node_json(&d->nodes[i]));
	if (d->has_calib) {
		cJSON *c = cJSON_AddObjectToObject(root, "calibration");
		add_str(c, "data", d->calib_data);
		add_str(c, "sha256", d->calib_sha256);
		cJSON_AddNumberToObject(c, "samples", (double)d->calib_samples);
		add_str(c, "method", d->calib_method);
	}
	if (d->has_eval) {
		const struct metrics_summary *s = &d->eval;
		cJSON *v = cJSON_AddObjectToObject(root, "evaluation");
		add_str(v, "data", d->eval_data);
		add_str(v, "sha256", d->eval_sha256);
		add_str(v, "labels", d->labels_data);
		add_str(v, "labels_sha256", d->labels_sha256);
		cJSON_AddNumberToObject(v, "samples", (double)s->n);
		add_str(v, "metric", d->metric);
		cJSON_AddNumberToObject(v, "fp32", s->fp32_top1);
		cJSON_AddNumberToObject(v, "quantized", s->top1);
		cJSON_AddNumberToObject(v, "delta", s->delta);
		cJSON *ci = cJSON_AddArrayToObject(v, "ci95");
		cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ci_lo));
		cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ci_hi));
		cJSON_AddNumberToObject(v, "p_value", s->p_value);
		cJSON_AddBoolToObject(v, "within_noise", s->within_noise);
		cJSON_AddNumberToObject(v, "agreement", s->agreement);
		if (isfinite(s->sqnr_db))
			cJSON_AddNumberToObject(v, "sqnr_db", s->sqnr_db);
		else
			cJSON_AddNullToObject(v, "sqnr_db");
		cJSON_AddNumberToObject(v, "kl", s->kl);
	}
	if (d->has_cost) {
		cJSON *c = cJSON_AddObjectToObject(root, "cost");
		cJSON_AddNumberToObject(c, "weight_bytes", d->weight_bytes);
		cJSON_AddNumberToObject(c, "fp32_weight_bytes", d->fp32_weight_bytes);
		cJSON_AddNumberToObject(c, "params", d->params);
		cJSON_AddNumberToObject(c, "macs", d->macs);
		cJSON_AddNumberToObject(c, "bitops", d->bitops);
		cJSON_AddNumberToObject(c, "fp32_bitops", d->fp32_bitops);
		cJSON_AddNumberToObject(c, "effective_bits_per_weight", d->effective_bits);
		cJSON_AddNumberToObject(c, "storage_bits_per_weight", d->storage_bits);
	}
	if (d->has_toolchain) {
		cJSON *t = cJSON_AddObjectToObject(root, "toolchain");
		add_str(t, "qlens", d->qlens_version);
		add_str(t, "simulation", d->simulation);
		add_str(t, "blas", d->blas);
		add_str(t, "protobuf_c", d->protobuf_c);
		add_str(t, "onnx_schema", d->onnx_schema);
		add_str(t, "cjson", d->cjson);
	}
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return NULL;
	/* end with a newline, like any text file */
	size_t n = strlen(text);
	char *t2 = realloc(text, n + 2);
	if (!t2) {
		free(text);
		return NULL;
	}
	t2[n] = '\n';
	t2[n + 1] = '\0';
	return t2;
}

enum status policy_doc_save(const struct policy_doc *d, const char *path, struct err *e)
{
	char *text = policy_doc_json(d);
	if (!text)
		return nomem(e);
	enum status st = file_write_atomic(path, text, strlen(text), e);
	free(text);
	return st;
}

/* ---- reading ---------------------------------------------------------------------------- */

struct rd {
	const struct graph *g;
	struct err *e;
	char path[768]; /* JSON path of the object being read */
};

static enum status bad(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static enum status bad(struct rd *r, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return err_set(r->e, ERR_INVALID, "%s: %s", r->path[0] ? r->path : "top level", msg);
}

/* Enter key k of the current path (restore by truncating to the old length). */
static size_t enter(struct rd *r, const char *k)
{
	size_t old = strlen(r->path);
	snprintf(r->path + old, sizeof r->path - old, "%s%s", old ? "." : "", k);
	return old;
}

static void leave(struct rd *r, size_t old) { r->path[old] = '\0'; }

static enum status check_keys(struct rd *r, const cJSON *o, const char *const *known)
{
	if (!cJSON_IsObject(o))
		return bad(r, "expected an object");
	for (const cJSON *c = o->child; c; c = c->next) {
		bool ok = false;
		for (int i = 0; known[i]; i++)
			ok |= strcmp(c->string, known[i]) == 0;
		if (!ok) {
			char list[512] = "";
			for (int i = 0; known[i]; i++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 i ? ", " : "", known[i]);
			return bad(r, "unknown key '%s' (known: %s)", c->string, list);
		}
		for (const cJSON *d = o->child; d != c; d = d->next)
			if (strcmp(d->string, c->string) == 0)
				return bad(r, "key '%s' appears twice", c->string);
	}
	return OK;
}

static const cJSON *item(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static enum status get_str(struct rd *r, const cJSON *o, const char *k, bool required, char **out)
{
	const cJSON *v = item(o, k);
	*out = NULL;
	if (!v) {
		if (required)
			return bad(r, "missing '%s'", k);
		return OK;
	}
	if (!cJSON_IsString(v))
		return bad(r, "'%s' must be a string", k);
	*out = strdup(v->valuestring);
	return *out ? OK : nomem(r->e);
}

static enum status get_num(struct rd *r, const cJSON *o, const char *k, bool required,
			   double *out, bool *present)
{
	const cJSON *v = item(o, k);
	if (present)
		*present = v != NULL;
	if (!v)
		return required ? bad(r, "missing '%s'", k) : OK;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return bad(r, "'%s' must be a number", k);
	*out = v->valuedouble;
	return OK;
}

/* Scales and ranges are stored as 32-bit floats: a number beyond FLT_MAX would
 * become inf there (and cJSON writes inf as null), so it is refused here. */
static bool fits_float(double d) { return isfinite(d) && fabs(d) <= (double)FLT_MAX; }

static enum status float_range(struct rd *r, const char *k, double d)
{
	return fits_float(d) ? OK
			     : bad(r, "'%s' value %g is out of the 32-bit float range (largest %g)", k,
				   d, (double)FLT_MAX);
}

static enum status get_int(struct rd *r, const cJSON *o, const char *k, bool required,
			   int64_t lo, int64_t hi, int64_t *out, bool *present)
{
	double d = 0;
	bool pr = false;
	enum status st = get_num(r, o, k, required, &d, &pr);
	if (present)
		*present = pr;
	if (st || !pr)
		return st;
	if (d != floor(d) || d < (double)lo || d > (double)hi)
		return bad(r, "'%s' must be a whole number from %" PRId64 " to %" PRId64, k, lo, hi);
	*out = (int64_t)d;
	return OK;
}

static enum status get_bool(struct rd *r, const cJSON *o, const char *k, bool *out)
{
	const cJSON *v = item(o, k);
	if (!v)
		return OK;
	if (!cJSON_IsBool(v))
		return bad(r, "'%s' must be true or false", k);
	*out = cJSON_IsTrue(v);
	return OK;
}

static enum status parse_fmt(struct rd *r, const cJSON *o, const char *k, bool required,
			     enum qfmt *out, bool *present)
{
	char *s;
	enum status st = get_str(r, o, k, required, &s);
	if (present)
		*present = s != NULL;
	if (st || !s)
		return st;
	enum qfmt f = qfmt_lookup(s);
	if (f == QF_COUNT) {
		char list[256] = "";
		for (int i = 0; i < QF_COUNT; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
				 qfmt_info((enum qfmt)i)->name);
		st = bad(r, "unknown format '%s' in '%s' (formats: %s)", s, k, list);
	}
	free(s);
	*out = f;
	return st;
}

static enum status parse_gran(struct rd *r, const cJSON *o, const char *k, bool required,
			      enum qgran *out, bool *present)
{
	char *s;
	enum status st = get_str(r, o, k, required, &s);
	if (present)
		*present = s != NULL;
	if (st || !s)
		return st;
	*out = qgran_lookup(s);
	if (*out == QG_COUNT)
		st = bad(r, "unknown granularity '%s' (per-tensor, per-channel, per-block)", s);
	free(s);
	return st;
}

static const char *const precision_keys[] = { "label", "weight_format", "activation_format",
					      "granularity", "block_size", "activation_symmetric",
					      "calibrator", "weight_calibrator", NULL };
static const char *const calibrator_keys[] = { "method", "percentile", NULL };

static enum status parse_precision(struct rd *r, const cJSON *o, struct precision *p)
{
	enum status st;
	if ((st = check_keys(r, o, precision_keys)))
		return st;
	struct precision x;
	precision_preset("fp32", &x, NULL);
	x.block = 32;
	const cJSON *lab = item(o, "label");
	if (lab && !cJSON_IsString(lab))
		return bad(r, "'label' must be a string");
	if ((st = parse_fmt(r, o, "weight_format", true, &x.wfmt, NULL)) ||
	    (st = parse_fmt(r, o, "activation_format", true, &x.afmt, NULL)))
		return st;
	bool has_gran = false;
	if ((st = parse_gran(r, o, "granularity", false, &x.wgran, &has_gran)))
		return st;
	unsigned mask = qfmt_info(x.wfmt)->gran_mask;
	if (!has_gran)
		x.wgran = mask & QG_BIT(QG_CHANNEL) ? QG_CHANNEL : QG_TENSOR;
	if (!(mask & QG_BIT(x.wgran)))
		return bad(r, "granularity '%s' is not available for %s weights", qgran_name(x.wgran),
			   qfmt_info(x.wfmt)->name);
	int64_t block = 32;
	bool has_block = false;
	if ((st = get_int(r, o, "block_size", false, 1, 1 << 20, &block, &has_block)))
		return st;
	if (has_block && x.wgran != QG_BLOCK)
		return bad(r, "'block_size' is only meaningful with granularity 'per-block'");
	x.block = (int)block;
	if ((st = get_bool(r, o, "activation_symmetric", &x.act_symmetric)))
		return st;
	const cJSON *c = item(o, "calibrator");
	if (c) {
		size_t old = enter(r, "calibrator");
		if ((st = check_keys(r, c, calibrator_keys)))
			return st;
		char *m;
		if ((st = get_str(r, c, "method", true, &m)))
			return st;
		struct err tmp;
		st = calib_spec_parse(m, &x.acalib, &tmp);
		if (st || strchr(m, ':')) {
			st = bad(r, "unknown calibrator '%s' (minmax, percentile, entropy, mse)", m);
			free(m);
			return st;
		}
		free(m);
		double pct = 99.99;
		bool has_pct = false;
		if ((st = get_num(r, c, "percentile", false, &pct, &has_pct)))
			return st;
		if (has_pct && x.acalib.method != CALIB_PERCENTILE)
			return bad(r, "'percentile' is only meaningful with method 'percentile'");
		if (!(pct > 0 && pct <= 100))
			return bad(r, "'percentile' must be in (0, 100]");
		x.acalib.percentile = pct;
		leave(r, old);
	}
	char *wc;
	if ((st = get_str(r, o, "weight_calibrator", false, &wc)))
		return st;
	if (wc) {
		if (strcmp(wc, "minmax") == 0)
			x.wcalib = CALIB_MINMAX;
		else if (strcmp(wc, "mse") == 0)
			x.wcalib = CALIB_MSE;
		else
			st = bad(r, "unknown weight calibrator '%s' (minmax, mse)", wc);
		free(wc);
		if (st)
			return st;
	}
	*p = x;
	return OK;
}

/* Is value v among node ni's inputs (want_input) or outputs? */
static bool node_has_value(const struct node *n, int v, bool want_input)
{
	int cnt = want_input ? n->n_inputs : n->n_outputs;
	const int *arr = want_input ? n->inputs : n->outputs;
	for (int k = 0; k < cnt; k++)
		if (arr[k] == v)
			return true;
	return false;
}

static enum status parse_tensor_name(struct rd *r, const cJSON *o, const struct node *n,
				     bool input, char **out)
{
	enum status st = get_str(r, o, "name", true, out);
	if (st)
		return st;
	int v = graph_find_value(r->g, *out);
	if (v < 0)
		return bad(r, "the model has no tensor '%s'", *out);
	if (!node_has_value(n, v, input))
		return bad(r, "tensor '%s' is not an %s of node '%s'", *out, input ? "input" : "output",
			   n->name);
	return OK;
}

static const char *const act_keys[] = { "name", "format", "scale", "zero_point", "range", NULL };

static enum status parse_act(struct rd *r, const cJSON *o, const struct node *n, bool input,
			     struct pf_act *a)
{
	enum status st;
	if ((st = check_keys(r, o, act_keys)) || (st = parse_tensor_name(r, o, n, input, &a->name)) ||
	    (st = parse_fmt(r, o, "format", true, &a->fmt, NULL)))
		return st;
	double sc = 1;
	bool has_sc = false, has_zp = false;
	int64_t zp = 0;
	const struct qfmt_info *fi = qfmt_info(a->fmt);
	if ((st = get_num(r, o, "scale", false, &sc, &has_sc)) ||
	    (st = get_int(r, o, "zero_point", false, fi->is_float ? 0 : fi->qmin,
			  fi->is_float ? 0 : fi->qmax, &zp, &has_zp)))
		return st;
	if (has_sc != has_zp)
		return bad(r, "give both 'scale' and 'zero_point' or neither");
	if (has_sc && (st = float_range(r, "scale", sc)))
		return st;
	/* checked as a float: a positive double below FLT_TRUE_MIN becomes 0 */
	if (has_sc && !((float)sc > 0))
		return bad(r, "'scale' must be positive");
	a->has_params = has_sc;
	a->scale = (float)sc;
	a->zero_point = (int32_t)zp;
	const cJSON *rg = item(o, "range");
	if (rg) {
		if (!cJSON_IsArray(rg) || cJSON_GetArraySize(rg) != 2 ||
		    !cJSON_IsNumber(cJSON_GetArrayItem(rg, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(rg, 1)))
			return bad(r, "'range' must be [rmin, rmax]");
		double lo = cJSON_GetArrayItem(rg, 0)->valuedouble;
		double hi = cJSON_GetArrayItem(rg, 1)->valuedouble;
		if ((st = float_range(r, "range", lo)) || (st = float_range(r, "range", hi)))
			return st;
		a->has_range = true;
		a->rmin = (float)lo;
		a->rmax = (float)hi;
		if (!(a->rmin <= a->rmax))
			return bad(r, "'range' must have rmin <= rmax");
	}
	return OK;
}

static enum status parse_floats(struct rd *r, const cJSON *o, const char *k, float **out, int *n)
{
	const cJSON *a = item(o, k);
	*out = NULL;
	*n = 0;
	if (!a)
		return OK;
	if (!cJSON_IsArray(a))
		return bad(r, "'%s' must be an array of numbers", k);
	int cnt = cJSON_GetArraySize(a);
	*out = malloc((size_t)(cnt ? cnt : 1) * sizeof **out);
	if (!*out)
		return nomem(r->e);
	const cJSON *c;
	cJSON_ArrayForEach(c, a)
	{
		if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
			return bad(r, "'%s' must be an array of numbers", k);
		enum status st = float_range(r, k, c->valuedouble);
		if (st)
			return st;
		(*out)[(*n)++] = (float)c->valuedouble;
	}
	return OK;
}

static const char *const weight_keys[] = { "name", "format", "granularity", "axis", "block_size",
					   "scales", "zero_points", NULL };
static const char *const bias_keys[] = { "name", "format", "scales", NULL };
static const char *const tensors_keys[] = { "inputs", "weight", "bias", "outputs", NULL };

static enum status parse_weight(struct rd *r, const cJSON *o, const struct node *n,
				struct pf_weight *w)
{
	enum status st;
	if ((st = check_keys(r, o, weight_keys)) || (st = parse_tensor_name(r, o, n, true, &w->name)) ||
	    (st = parse_fmt(r, o, "format", true, &w->fmt, NULL)) ||
	    (st = parse_gran(r, o, "granularity", true, &w->gran, NULL)))
		return st;
	int64_t axis = 0, block = 0;
	bool has_axis = false, has_block = false;
	if ((st = get_int(r, o, "axis", false, 0, TENSOR_MAX_RANK - 1, &axis, &has_axis)) ||
	    (st = get_int(r, o, "block_size", false, 1, 1 << 20, &block, &has_block)))
		return st;
	if (has_axis != (w->gran != QG_TENSOR))
		return bad(r, "'axis' is given exactly when the granularity is not per-tensor");
	if (has_block != (w->gran == QG_BLOCK))
		return bad(r, "'block_size' is given exactly when the granularity is per-block");
	w->axis = (int)axis;
	w->block = (int)block;
	int nz = 0;
	float *zf = NULL;
	if ((st = parse_floats(r, o, "scales", &w->scales, &w->n)) ||
	    (st = parse_floats(r, o, "zero_points", &zf, &nz))) {
		free(zf);
		return st;
	}
	if (nz != w->n) {
		free(zf);
		return bad(r, "'scales' has %d entries, 'zero_points' %d", w->n, nz);
	}
	w->zero_points = malloc((size_t)(nz ? nz : 1) * sizeof *w->zero_points);
	if (!w->zero_points) {
		free(zf);
		return nomem(r->e);
	}
	const struct qfmt_info *fi = qfmt_info(w->fmt);
	int32_t zlo = fi->is_float ? 0 : fi->qmin, zhi = fi->is_float ? 0 : fi->qmax;
	for (int j = 0; j < nz; j++) {
		/* range first: converting a float beyond int32 to int32 is undefined */
		if (zf[j] != floorf(zf[j]) || zf[j] < (float)zlo || zf[j] > (float)zhi) {
			free(zf);
			return bad(r, "'zero_points' must hold whole numbers from %d to %d for %s",
				   (int)zlo, (int)zhi, fi->name);
		}
		w->zero_points[j] = (int32_t)zf[j];
	}
	free(zf);
	if (w->n == 0 && !is_cast(w->fmt) && w->fmt != QF_FP32)
		return bad(r, "%s weights need 'scales' and 'zero_points'", qfmt_info(w->fmt)->name);
	for (int j = 0; j < w->n; j++)
		if (!(w->scales[j] > 0))
			return bad(r, "'scales' must be positive");
	return OK;
}

static enum status parse_bias(struct rd *r, const cJSON *o, const struct node *n, struct pf_bias *b)
{
	enum status st;
	char *f = NULL;
	if ((st = check_keys(r, o, bias_keys)) || (st = parse_tensor_name(r, o, n, true, &b->name)) ||
	    (st = get_str(r, o, "format", true, &f)))
		return st;
	bool ok = strcmp(f, "int32") == 0;
	free(f);
	if (!ok)
		return bad(r, "a bias is stored as 'int32'");
	if ((st = parse_floats(r, o, "scales", &b->scales, &b->n)))
		return st;
	if (b->n < 1)
		return bad(r, "'scales' must not be empty");
	return OK;
}

static enum status parse_acts(struct rd *r, const cJSON *t, const char *k, const struct node *n,
			      bool input, struct pf_act **out, int *cnt)
{
	const cJSON *a = item(t, k);
	*cnt = 0;
	if (!a)
		return OK;
	size_t old = enter(r, k);
	if (!cJSON_IsArray(a))
		return bad(r, "expected an array");
	*out = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof **out);
	if (!*out)
		return nomem(r->e);
	const cJSON *c;
	int i = 0;
	cJSON_ArrayForEach(c, a)
	{
		char idx[16];
		snprintf(idx, sizeof idx, "%d", i++);
		size_t o2 = enter(r, idx);
		enum status st = parse_act(r, c, n, input, &(*out)[(*cnt)++]);
		if (st)
			return st;
		leave(r, o2);
	}
	leave(r, old);
	return OK;
}

static const char *const node_keys[] = { "op_type", "precision", "tensors", NULL };

/* Node names: a hash map would be faster, but policies name only quantizable
 * nodes and graph_find_node is fine for the model sizes qlens targets. */
static enum status parse_node(struct rd *r, const cJSON *o, struct pf_node *pn)
{
	enum status st;
	const struct graph *g = r->g;
	if ((st = check_keys(r, o, node_keys)))
		return st;
	int ni = graph_find_node(g, o->string);
	if (ni < 0)
		return bad(r, "the model has no node named '%s'", o->string);
	const struct node *n = &g->nodes[ni];
	pn->index = ni;
	pn->name = strdup(o->string);
	if (!pn->name)
		return nomem(r->e);
	if ((st = get_str(r, o, "op_type", false, &pn->op_type)))
		return st;
	if (pn->op_type && strcmp(pn->op_type, n->op_type) != 0)
		return bad(r, "node '%s' is a %s in the model, not a %s", n->name, n->op_type,
			   pn->op_type);
	if (!pn->op_type && !(pn->op_type = strdup(n->op_type)))
		return nomem(r->e);
	const cJSON *p = item(o, "precision");
	if (p) {
		size_t old = enter(r, "precision");
		if ((st = parse_precision(r, p, &pn->prec)))
			return st;
		leave(r, old);
		if (!node_quantizable(g, ni) && !precision_is_fp32(&pn->prec))
			return bad(r, "node '%s' (%s) is not quantizable; it always runs in fp32",
				   n->name, n->op_type);
		pn->override = true;
	}
	const cJSON *t = item(o, "tensors");
	if (t) {
		size_t old = enter(r, "tensors");
		if ((st = check_keys(r, t, tensors_keys)))
			return st;
		pn->has_tensors = true;
		if ((st = parse_acts(r, t, "inputs", n, true, &pn->inputs, &pn->n_inputs)) ||
		    (st = parse_acts(r, t, "outputs", n, false, &pn->outputs, &pn->n_outputs)))
			return st;
		const cJSON *w = item(t, "weight");
		if (w) {
			size_t o2 = enter(r, "weight");
			if ((st = parse_weight(r, w, n, &pn->weight)))
				return st;
			pn->has_weight = true;
			leave(r, o2);
		}
		const cJSON *b = item(t, "bias");
		if (b) {
			size_t o2 = enter(r, "bias");
			if ((st = parse_bias(r, b, n, &pn->bias)))
				return st;
			pn->has_bias = true;
			leave(r, o2);
		}
		leave(r, old);
	}
	return OK;
}

static const char *const top_keys[] = { "format", "version", "model", "defaults", "nodes",
					"calibration", "evaluation", "cost", "toolchain", NULL };
static const char *const model_keys[] = { "file", "sha256", "ir_version", "opsets", "producer",
					  NULL };
static const char *const calib_keys[] = { "data", "sha256", "samples", "method", NULL };
static const char *const eval_keys[] = { "data", "sha256", "labels", "labels_sha256", "samples",
					 "metric", "fp32", "quantized", "delta", "ci95",
					 "p_value", "within_noise", "agreement", "sqnr_db", "kl",
					 NULL };
static const char *const cost_keys[] = { "weight_bytes", "fp32_weight_bytes", "params", "macs",
					 "bitops", "fp32_bitops", "effective_bits_per_weight",
					 "storage_bits_per_weight", NULL };
static const char *const tool_keys[] = { "qlens", "simulation", "blas", "protobuf_c",
					 "onnx_schema", "cjson", NULL };

static enum status check_sha(struct rd *r, const char *k, const char *v)
{
	if (!v)
		return OK;
	bool ok = strlen(v) == 64;
	for (const char *c = v; *c && ok; c++)
		ok = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f');
	return ok ? OK : bad(r, "'%s' must be 64 lower-case hex digits", k);
}

static enum status parse_model(struct rd *r, const cJSON *m, struct policy_doc *d)
{
	enum status st;
	size_t old = enter(r, "model");
	int64_t ir = 0;
	if ((st = check_keys(r, m, model_keys)) || (st = get_str(r, m, "file", false, &d->model_file)) ||
	    (st = get_str(r, m, "sha256", false, &d->model_sha256)) ||
	    (st = check_sha(r, "sha256", d->model_sha256)) ||
	    (st = get_int(r, m, "ir_version", false, 0, INT32_MAX, &ir, NULL)) ||
	    (st = get_str(r, m, "producer", false, &d->model_producer)))
		return st;
	d->ir_version = ir;
	d->has_model = true;
	const cJSON *os = item(m, "opsets");
	if (os) {
		size_t o2 = enter(r, "opsets");
		if (!cJSON_IsObject(os))
			return bad(r, "expected an object of domain: version");
		d->opsets = calloc((size_t)cJSON_GetArraySize(os) + 1, sizeof *d->opsets);
		if (!d->opsets)
			return nomem(r->e);
		for (const cJSON *c = os->child; c; c = c->next) {
			int64_t v;
			if ((st = get_int(r, os, c->string, true, 1, INT32_MAX, &v, NULL)))
				return st;
			for (int i = 0; i < d->n_opsets; i++)
				if (strcmp(d->opsets[i].domain, c->string) == 0)
					return bad(r, "domain '%s' appears twice", c->string);
			if (!(d->opsets[d->n_opsets].domain = strdup(c->string)))
				return nomem(r->e);
			d->opsets[d->n_opsets++].version = v;
		}
		leave(r, o2);
	}
	leave(r, old);
	return OK;
}

static enum status parse_eval(struct rd *r, const cJSON *v, struct policy_doc *d)
{
	enum status st;
	size_t old = enter(r, "evaluation");
	struct metrics_summary *s = &d->eval;
	int64_t n = 0;
	if ((st = check_keys(r, v, eval_keys)) || (st = get_str(r, v, "data", false, &d->eval_data)) ||
	    (st = get_str(r, v, "sha256", false, &d->eval_sha256)) ||
	    (st = check_sha(r, "sha256", d->eval_sha256)) ||
	    (st = get_str(r, v, "labels", false, &d->labels_data)) ||
	    (st = get_str(r, v, "labels_sha256", false, &d->labels_sha256)) ||
	    (st = check_sha(r, "labels_sha256", d->labels_sha256)) ||
	    (st = get_int(r, v, "samples", true, 0, INT64_MAX / 2, &n, NULL)) ||
	    (st = get_str(r, v, "metric", false, &d->metric)) ||
	    (st = get_num(r, v, "fp32", true, &s->fp32_top1, NULL)) ||
	    (st = get_num(r, v, "quantized", true, &s->top1, NULL)) ||
	    (st = get_num(r, v, "delta", false, &s->delta, NULL)) ||
	    (st = get_num(r, v, "p_value", false, &s->p_value, NULL)) ||
	    (st = get_bool(r, v, "within_noise", &s->within_noise)) ||
	    (st = get_num(r, v, "agreement", false, &s->agreement, NULL)) ||
	    (st = get_num(r, v, "kl", false, &s->kl, NULL)))
		return st;
	s->n = n;
	const cJSON *ci = item(v, "ci95");
	if (ci) {
		/* a literal past the double range (1e999) parses as inf, which cJSON would
		 * write back as null: refused like every other non-finite number */
		const cJSON *lo = cJSON_IsArray(ci) ? cJSON_GetArrayItem(ci, 0) : NULL;
		const cJSON *hi = cJSON_IsArray(ci) ? cJSON_GetArrayItem(ci, 1) : NULL;
		if (cJSON_GetArraySize(ci) != 2 || !cJSON_IsNumber(lo) || !cJSON_IsNumber(hi) ||
		    !isfinite(lo->valuedouble) || !isfinite(hi->valuedouble) ||
		    lo->valuedouble > hi->valuedouble)
			return bad(r, "'ci95' must be [low, high]: two finite numbers, low <= high");
		s->ci_lo = lo->valuedouble;
		s->ci_hi = hi->valuedouble;
	}
	const cJSON *q = item(v, "sqnr_db");
	s->sqnr_db = INFINITY;
	if (q && !cJSON_IsNull(q)) {
		if (!cJSON_IsNumber(q) || !isfinite(q->valuedouble))
			return bad(r, "'sqnr_db' must be a finite number or null (exact)");
		s->sqnr_db = q->valuedouble;
	}
	d->has_eval = true;
	leave(r, old);
	return OK;
}

static enum status parse_cost(struct rd *r, const cJSON *c, struct policy_doc *d)
{
	enum status st;
	size_t old = enter(r, "cost");
	if ((st = check_keys(r, c, cost_keys)) ||
	    (st = get_num(r, c, "weight_bytes", false, &d->weight_bytes, NULL)) ||
	    (st = get_num(r, c, "fp32_weight_bytes", false, &d->fp32_weight_bytes, NULL)) ||
	    (st = get_num(r, c, "params", false, &d->params, NULL)) ||
	    (st = get_num(r, c, "macs", false, &d->macs, NULL)) ||
	    (st = get_num(r, c, "bitops", false, &d->bitops, NULL)) ||
	    (st = get_num(r, c, "fp32_bitops", false, &d->fp32_bitops, NULL)) ||
	    (st = get_num(r, c, "effective_bits_per_weight", false, &d->effective_bits, NULL)) ||
	    (st = get_num(r, c, "storage_bits_per_weight", false, &d->storage_bits, NULL)))
		return st;
	d->has_cost = true;
	leave(r, old);
	return OK;
}

static enum status parse_doc(struct rd *r, const cJSON *root, struct policy_doc *d)
{
	enum status st;
	if ((st = check_keys(r, root, top_keys)))
		return st;
	char *fmt = NULL;
	if ((st = get_str(r, root, "format", true, &fmt)))
		return st;
	bool ok = strcmp(fmt, POLICY_FILE_FORMAT) == 0;
	free(fmt);
	if (!ok)
		return bad(r, "'format' must be \"%s\" (is this a qlens policy?)", POLICY_FILE_FORMAT);
	int64_t ver = 0;
	if ((st = get_int(r, root, "version", true, 0, INT32_MAX, &ver, NULL)))
		return st;
	if (ver != POLICY_FILE_VERSION)
		return bad(r, "version %" PRId64 " is not supported (this qlens reads version %d)",
			   ver, POLICY_FILE_VERSION);
	const cJSON *m = item(root, "model");
	if (m && (st = parse_model(r, m, d)))
		return st;
	const cJSON *def = item(root, "defaults");
	if (!def)
		return bad(r, "missing 'defaults'");
	size_t old = enter(r, "defaults");
	if ((st = parse_precision(r, def, &d->defaults)))
		return st;
	leave(r, old);

	const cJSON *nodes = item(root, "nodes");
	if (nodes) {
		old = enter(r, "nodes");
		if (!cJSON_IsObject(nodes))
			return bad(r, "expected an object keyed by node name");
		int cnt = cJSON_GetArraySize(nodes);
		struct pf_node *tmp = calloc((size_t)cnt + 1, sizeof *tmp);
		d->nodes = calloc((size_t)cnt + 1, sizeof *d->nodes);
		bool *seen = calloc((size_t)r->g->n_nodes + 1, sizeof *seen);
		if (!tmp || !d->nodes || !seen) {
			free(tmp);
			free(seen);
			return nomem(r->e);
		}
		int nt = 0;
		for (const cJSON *c = nodes->child; c; c = c->next) {
			size_t o2 = enter(r, c->string);
			st = parse_node(r, c, &tmp[nt++]);
			if (!st && seen[tmp[nt - 1].index])
				st = bad(r, "node listed twice");
			if (st) {
				for (int i = 0; i < nt; i++)
					node_fini(&tmp[i]);
				free(tmp);
				free(seen);
				return st;
			}
			seen[tmp[nt - 1].index] = true;
			leave(r, o2);
		}
		/* keep graph order, so a save writes nodes as qlens always does */
		for (int ni = 0; ni < r->g->n_nodes; ni++)
			for (int i = 0; seen[ni] && i < nt; i++)
				if (tmp[i].index == ni)
					d->nodes[d->n_nodes++] = tmp[i];
		free(tmp);
		free(seen);
		leave(r, old);
	}
	const cJSON *c = item(root, "calibration");
	if (c) {
		old = enter(r, "calibration");
		if ((st = check_keys(r, c, calib_keys)) ||
		    (st = get_str(r, c, "data", false, &d->calib_data)) ||
		    (st = get_str(r, c, "sha256", false, &d->calib_sha256)) ||
		    (st = check_sha(r, "sha256", d->calib_sha256)) ||
		    (st = get_int(r, c, "samples", false, 0, INT32_MAX, &d->calib_samples, NULL)) ||
		    (st = get_str(r, c, "method", false, &d->calib_method)))
			return st;
		if (d->calib_method) {
			struct calib_spec cs;
			struct err tmp;
			if (calib_spec_parse(d->calib_method, &cs, &tmp))
				return bad(r, "%s", tmp.msg);
		}
		d->has_calib = true;
		leave(r, old);
	}
	const cJSON *v = item(root, "evaluation");
	if (v && (st = parse_eval(r, v, d)))
		return st;
	const cJSON *co = item(root, "cost");
	if (co && (st = parse_cost(r, co, d)))
		return st;
	const cJSON *t = item(root, "toolchain");
	if (t) {
		old = enter(r, "toolchain");
		if ((st = check_keys(r, t, tool_keys)) ||
		    (st = get_str(r, t, "qlens", false, &d->qlens_version)) ||
		    (st = get_str(r, t, "simulation", false, &d->simulation)) ||
		    (st = get_str(r, t, "blas", false, &d->blas)) ||
		    (st = get_str(r, t, "protobuf_c", false, &d->protobuf_c)) ||
		    (st = get_str(r, t, "onnx_schema", false, &d->onnx_schema)) ||
		    (st = get_str(r, t, "cjson", false, &d->cjson)))
			return st;
		d->has_toolchain = true;
		leave(r, old);
	}
	return OK;
}

/* Line and column of byte offset off in text. */
static void line_col(const char *text, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

enum status policy_doc_parse(const char *text, size_t len, const char *label,
			     const struct graph *g, const char *model_sha256, struct policy_doc *d,
			     bool *model_changed, struct err *e)
{
	policy_doc_init(d);
	if (model_changed)
		*model_changed = false;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	/* cJSON stops after the first value: "{...}}" or "{...} x" is not JSON */
	if (root && end) {
		while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
			end++;
		if (end < text + len) {
			cJSON_Delete(root);
			root = NULL;
		}
	}
	if (!root) {
		int line, col;
		size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		line_col(text, off, &line, &col);
		return err_set(e, ERR_FORMAT, "%s: not valid JSON (line %d, column %d)", label, line,
			       col);
	}
	struct rd r = { .g = g, .e = e };
	enum status st = parse_doc(&r, root, d);
	cJSON_Delete(root);
	if (st) {
		policy_doc_fini(d);
		err_prefix(e, "%s", label);
		return st;
	}
	/* the ONNX opset recorded must be the model's (a warning-level mismatch is the hash) */
	if (model_changed && model_sha256 && d->model_sha256 && strcmp(model_sha256, d->model_sha256))
		*model_changed = true;
	return OK;
}

enum status policy_doc_load(const char *path, const struct graph *g, const char *model_sha256,
			    struct policy_doc *d, bool *model_changed, struct err *e)
{
	void *buf;
	size_t len;
	policy_doc_init(d);
	enum status st = file_read_all(path, POLICY_FILE_MAX_BYTES, &buf, &len, e);
	if (st)
		return st;
	st = policy_doc_parse(buf, len, path, g, model_sha256, d, model_changed, e);
	free(buf);
	return st;
}

enum status policy_doc_policy(const struct policy_doc *d, const struct graph *g,
			      struct policy *pol, struct err *e)
{
	enum status st = policy_init(pol, g, &d->defaults, e);
	if (st)
		return st;
	for (int i = 0; i < d->n_nodes; i++)
		if (d->nodes[i].override)
			policy_set(pol, d->nodes[i].index, &d->nodes[i].prec);
	return OK;
}

/* ---- comparing records with a simulation --------------------------------------------------- */

/* Recalibration need not reproduce a range to the last bit: the FP32 engine
 * sums in an order that depends on threads and batch size.  A scale within
 * POLICY_SCALE_RTOL and a zero point within one step is the same calibration. */
static bool params_match(float a, int32_t za, float b, int32_t zb)
{
	float tol = POLICY_SCALE_RTOL * (fabsf(a) > fabsf(b) ? fabsf(a) : fabsf(b));
	return fabsf(a - b) <= tol && abs(za - zb) <= 1;
}

static bool act_matches(const struct pf_act *a, const struct act_q *q)
{
	if (a->fmt != q->fmt)
		return false;
	return !a->has_params || params_match(a->scale, a->zero_point, q->p.scale, q->p.zero_point);
}

int policy_doc_compare(const struct policy_doc *d, const struct sim *s, char *msg, size_t size)
{
	const struct graph *g = s->g;
	int bad_n = 0;
	if (size)
		msg[0] = '\0';
#define MISMATCH(...)                                          \
	do {                                                   \
		if (!bad_n++ && size)                          \
			snprintf(msg, size, __VA_ARGS__);      \
	} while (0)
	for (int i = 0; i < d->n_nodes; i++) {
		const struct pf_node *pn = &d->nodes[i];
		const struct node *n = &g->nodes[pn->index];
		const struct sim_node *sn = &s->nodes[pn->index];
		if (!pn->has_tensors)
			continue;
		if (!sn->quant) {
			MISMATCH("node '%s': recorded as quantized, the simulation keeps it in fp32",
				 pn->name);
			continue;
		}
		for (int k = 0; k < pn->n_inputs; k++) {
			const struct pf_act *a = &pn->inputs[k];
			bool found = false, ok = false;
			for (int j = 0; j < n->n_inputs; j++)
				if (n->inputs[j] >= 0 && strcmp(g->values[n->inputs[j]].name, a->name) == 0) {
					found = true;
					ok |= act_matches(a, &s->in_q[s->in_q_base[pn->index] + j]);
				}
			if (!found || !ok)
				MISMATCH("node '%s': input '%s' is recorded as %s scale %.9g zero point %d; "
					 "the simulation differs", pn->name, a->name,
					 qfmt_info(a->fmt)->name, a->scale, a->zero_point);
		}
		for (int k = 0; k < pn->n_outputs; k++) {
			const struct pf_act *a = &pn->outputs[k];
			int v = graph_find_value(g, a->name);
			if (v < 0 || !act_matches(a, &s->out_q[v]))
				MISMATCH("node '%s': output '%s' is recorded as %s scale %.9g zero point %d, "
					 "the simulation has %s scale %.9g zero point %d", pn->name,
					 a->name, qfmt_info(a->fmt)->name, a->scale, a->zero_point,
					 v < 0 ? "?" : qfmt_info(s->out_q[v].fmt)->name,
					 v < 0 ? 0.0 : s->out_q[v].p.scale,
					 v < 0 ? 0 : s->out_q[v].p.zero_point);
		}
		if (pn->has_weight) {
			const struct pf_weight *w = &pn->weight;
			bool ok = sn->weight_input >= 0 && w->fmt == sn->prec.wfmt &&
				  (w->n == 0 || w->n == sn->n_wparams);
			for (int j = 0; ok && j < w->n; j++)
				ok = params_match(w->scales[j], w->zero_points[j], sn->wparams[j].scale,
						  sn->wparams[j].zero_point);
			if (!ok)
				MISMATCH("node '%s': weight '%s' parameters differ from the simulation's",
					 pn->name, w->name);
		}
	}
#undef MISMATCH
	return bad_n;
}

enum status policy_file_sha256(const char *path, char hex[65], struct err *e)
{
	struct sha256 h;
	unsigned char d[SHA256_BYTES];
	sha256_init(&h);
	enum status st = sha256_file(&h, path, NULL, e);
	if (st)
		return st;
	sha256_final(&h, d);
	sha256_hex(d, hex);
	return OK;
}
