/*
 * policy.c - presets and per-node precision overrides.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

const char *const precision_preset_names[] = { "fp32", "fp16", "bf16", "fp8e4m3", "fp8e5m2",
					       "int8", "w8a16", "w4a8", "w4a16", NULL };

enum status precision_preset(const char *name, struct precision *p, struct err *e)
{
	struct precision x = {
		.wfmt = QF_FP32, .afmt = QF_FP32, .wgran = QG_CHANNEL, .block = 32,
		.act_symmetric = false, .acalib = { CALIB_MINMAX, 99.99 }, .wcalib = CALIB_MINMAX,
	};
	if (strcmp(name, "fp32") == 0) {
		x.wgran = QG_TENSOR;
	} else if (strcmp(name, "fp16") == 0) {
		x.wfmt = x.afmt = QF_FP16;
		x.wgran = QG_TENSOR;
	} else if (strcmp(name, "bf16") == 0) {
		x.wfmt = x.afmt = QF_BF16;
		x.wgran = QG_TENSOR;
	} else if (strcmp(name, "fp8e4m3") == 0) {
		x.wfmt = x.afmt = QF_FP8E4M3;
		x.act_symmetric = true;
	} else if (strcmp(name, "fp8e5m2") == 0) {
		x.wfmt = x.afmt = QF_FP8E5M2;
		x.act_symmetric = true;
	} else if (strcmp(name, "int8") == 0) {
		x.wfmt = QF_INT8;
		x.afmt = QF_UINT8;
	} else if (strcmp(name, "w8a16") == 0) {
		x.wfmt = QF_INT8;
		x.afmt = QF_INT16;
		x.act_symmetric = true;
	} else if (strcmp(name, "w4a8") == 0) {
		x.wfmt = QF_INT4;
		x.afmt = QF_UINT8;
		x.wgran = QG_BLOCK;
	} else if (strcmp(name, "w4a16") == 0) {
		x.wfmt = QF_INT4;
		x.afmt = QF_INT16;
		x.act_symmetric = true;
		x.wgran = QG_BLOCK;
	} else {
		char list[256] = "";
		for (int i = 0; precision_preset_names[i]; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
				 precision_preset_names[i]);
		return err_set(e, ERR_INVALID, "unknown precision '%s' (presets: %s)", name, list);
	}
	*p = x;
	return OK;
}

bool precision_is_fp32(const struct precision *p)
{
	return p->wfmt == QF_FP32 && p->afmt == QF_FP32;
}

bool precision_equal(const struct precision *a, const struct precision *b)
{
	if (precision_is_fp32(a) && precision_is_fp32(b))
		return true;
	return a->wfmt == b->wfmt && a->afmt == b->afmt && a->wgran == b->wgran &&
	       (a->wgran != QG_BLOCK || a->block == b->block) &&
	       a->act_symmetric == b->act_symmetric && a->acalib.method == b->acalib.method &&
	       (a->acalib.method != CALIB_PERCENTILE || a->acalib.percentile == b->acalib.percentile) &&
	       a->wcalib == b->wcalib;
}

const char *precision_label(const struct precision *p, char *buf, size_t size)
{
	const char *w = qfmt_info(p->wfmt)->name, *a = qfmt_info(p->afmt)->name;
	const struct qfmt_info *wi = qfmt_info(p->wfmt), *ai = qfmt_info(p->afmt);
	char base[64];
	if (precision_is_fp32(p))
		snprintf(base, sizeof base, "fp32");
	else if (p->wfmt == p->afmt)
		snprintf(base, sizeof base, "%s", w);
	else if (!wi->is_float && !ai->is_float && wi->bits == 8 && ai->bits == 8)
		snprintf(base, sizeof base, "int8");
	else if (!wi->is_float && !ai->is_float)
		snprintf(base, sizeof base, "w%da%d", wi->bits, ai->bits);
	else
		snprintf(base, sizeof base, "w:%s/a:%s", w, a);
	const char *g = "";
	char gb[16] = "";
	if (!wi->is_float || p->wfmt == QF_FP8E4M3 || p->wfmt == QF_FP8E5M2) {
		if (p->wgran == QG_TENSOR)
			g = "/pt";
		else if (p->wgran == QG_BLOCK) {
			snprintf(gb, sizeof gb, "/b%d", p->block);
			g = gb;
		}
	}
	snprintf(buf, size, "%s%s", base, g);
	return buf;
}

bool node_quantizable(const struct graph *g, int ni)
{
	return op_defs[g->nodes[ni].op].qkind != QK_NONE;
}

enum status policy_init(struct policy *pol, const struct graph *g, const struct precision *def,
			struct err *e)
{
	memset(pol, 0, sizeof *pol);
	pol->g = g;
	pol->defaults = *def;
	pol->has_override = calloc((size_t)g->n_nodes + 1, sizeof *pol->has_override);
	pol->node = calloc((size_t)g->n_nodes + 1, sizeof *pol->node);
	if (!pol->has_override || !pol->node) {
		policy_fini(pol);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	return OK;
}

void policy_fini(struct policy *pol)
{
	if (!pol)
		return;
	free(pol->has_override);
	free(pol->node);
	memset(pol, 0, sizeof *pol);
}

enum status policy_copy(struct policy *dst, const struct policy *src, struct err *e)
{
	enum status st = policy_init(dst, src->g, &src->defaults, e);
	if (st)
		return st;
	memcpy(dst->has_override, src->has_override, (size_t)src->g->n_nodes * sizeof(bool));
	memcpy(dst->node, src->node, (size_t)src->g->n_nodes * sizeof *src->node);
	return OK;
}

struct precision policy_node(const struct policy *pol, int ni)
{
	if (!node_quantizable(pol->g, ni)) {
		struct precision p;
		precision_preset("fp32", &p, NULL);
		return p;
	}
	return pol->has_override[ni] ? pol->node[ni] : pol->defaults;
}

void policy_set(struct policy *pol, int ni, const struct precision *p)
{
	pol->has_override[ni] = true;
	pol->node[ni] = *p;
}

void policy_clear(struct policy *pol, int ni) { pol->has_override[ni] = false; }

enum status policy_set_spec(struct policy *pol, const char *spec, struct err *e)
{
	const char *eq = strrchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return err_set(e, ERR_INVALID, "'%s': expected NODE=PRESET", spec);
	char name[1024];
	snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
	int ni = graph_find_node(pol->g, name);
	if (ni < 0)
		return err_set(e, ERR_INVALID, "'%s': the model has no node named '%s'", spec, name);
	if (!node_quantizable(pol->g, ni))
		return err_set(e, ERR_INVALID, "'%s': node '%s' (%s) is not quantizable", spec, name,
			       pol->g->nodes[ni].op_type);
	struct precision p;
	enum status st = precision_preset(eq + 1, &p, e);
	if (st)
		return st;
	/* keep the policy's granularity and calibrators unless the preset implies one */
	if (p.wgran != QG_BLOCK && !precision_is_fp32(&p) && qfmt_info(p.wfmt)->gran_mask & QG_BIT(pol->defaults.wgran))
		p.wgran = pol->defaults.wgran;
	p.acalib = pol->defaults.acalib;
	p.wcalib = pol->defaults.wcalib;
	policy_set(pol, ni, &p);
	return OK;
}
