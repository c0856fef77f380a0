/*
 * modelinfo.c - the facts behind `qlens inspect`.
 *
 * The model is planned once with every symbolic dimension set to 1, which
 * gives concrete per-sample shapes; costs come from exec's plan_node_cost.
 * Nodes folded at plan time (shape arithmetic) are reported but cost nothing.
 */
#include "modelinfo.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

enum status model_plan_one(const struct graph *g, struct plan **p, struct err *e)
{
	struct shape shapes[64];
	if (g->n_inputs > 64)
		return err_set(e, ERR_LIMIT, "more than 64 graph inputs");
	for (int i = 0; i < g->n_inputs; i++) {
		const struct value *v = &g->values[g->inputs[i]];
		if (v->shape.rank < 0)
			return err_set(e, ERR_SHAPE, "input '%s' has no declared shape", v->name);
		shapes[i] = v->shape;
		for (int d = 0; d < shapes[i].rank; d++)
			if (shapes[i].dim[d] < 0)
				shapes[i].dim[d] = 1;
	}
	return plan_new(g, shapes, NULL, p, e);
}

enum status model_info_build(const struct graph *g, struct model_info *mi, struct err *e)
{
	memset(mi, 0, sizeof *mi);
	mi->g = g;
	enum status st = model_plan_one(g, &mi->plan, e);
	if (st)
		return st;
	mi->n_nodes = g->n_nodes;
	mi->nodes = calloc((size_t)g->n_nodes + 1, sizeof *mi->nodes);
	if (!mi->nodes) {
		model_info_fini(mi);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		struct node_info *x = &mi->nodes[ni];
		x->node = ni;
		x->folded = n->n_outputs > 0 && n->outputs[0] >= 0 &&
			    plan_value_is_const(mi->plan, n->outputs[0]);
		if (!x->folded) {
			struct node_cost c;
			plan_node_cost(mi->plan, ni, &c);
			x->params = c.params;
			x->macs = c.macs;
		}
		enum qkind qk = op_defs[n->op].qkind;
		x->quantizable = !x->folded && qk != QK_NONE;
		x->has_weight = qk == QK_WEIGHT && n->n_inputs > 1 && n->inputs[1] >= 0 &&
				plan_value_is_const(mi->plan, n->inputs[1]);
		mi->total_params += x->params;
		mi->total_macs += x->macs;
		mi->n_quantizable += x->quantizable;
	}
	for (int v = 0; v < g->n_values; v++) {
		const struct value *val = &g->values[v];
		if (val->kind != VAL_CONST)
			continue;
		enum dtype t = val->constant.dtype;
		if (t == DT_FLOAT || t == DT_FLOAT16 || t == DT_BFLOAT16 || t == DT_DOUBLE)
			mi->weight_bytes_fp32 += 4 * tensor_numel(&val->constant);
	}
	return OK;
}

void model_info_fini(struct model_info *mi)
{
	if (!mi)
		return;
	plan_free(mi->plan);
	free(mi->nodes);
	memset(mi, 0, sizeof *mi);
}

static cJSON *shape_json(const struct shape *s)
{
	cJSON *a = cJSON_CreateArray();
	for (int d = 0; a && d < s->rank; d++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s->dim[d]));
	return a;
}

static cJSON *value_json(const struct model_info *mi, int v)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (v < 0) {
		cJSON_AddNullToObject(o, "name");
		return o;
	}
	const struct tensor *t = plan_value(mi->plan, v);
	cJSON_AddStringToObject(o, "name", mi->g->values[v].name);
	cJSON_AddStringToObject(o, "dtype", dtype_name(t->dtype));
	cJSON_AddItemToObject(o, "shape", shape_json(&t->shape));
	return o;
}

char *model_info_json(const struct model_info *mi, const char *model_label)
{
	const struct graph *g = mi->g;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "model", model_label);
	cJSON_AddNumberToObject(root, "ir_version", (double)g->ir_version);
	cJSON_AddNumberToObject(root, "opset", (double)g->opset);
	cJSON_AddStringToObject(root, "producer", g->producer_name ? g->producer_name : "");
	cJSON *ins = cJSON_AddArrayToObject(root, "inputs");
	for (int i = 0; i < g->n_inputs; i++)
		cJSON_AddItemToArray(ins, value_json(mi, g->inputs[i]));
	cJSON *outs = cJSON_AddArrayToObject(root, "outputs");
	for (int i = 0; i < g->n_outputs; i++)
		cJSON_AddItemToArray(outs, value_json(mi, g->outputs[i]));
	cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
	for (int ni = 0; ni < mi->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		const struct node_info *x = &mi->nodes[ni];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(nodes, o);
		cJSON_AddStringToObject(o, "name", n->name);
		cJSON_AddStringToObject(o, "op", n->op_type);
		cJSON *a = cJSON_AddArrayToObject(o, "inputs");
		for (int k = 0; k < n->n_inputs; k++)
			cJSON_AddItemToArray(a, value_json(mi, n->inputs[k]));
		a = cJSON_AddArrayToObject(o, "outputs");
		for (int k = 0; k < n->n_outputs; k++)
			cJSON_AddItemToArray(a, value_json(mi, n->outputs[k]));
		cJSON_AddNumberToObject(o, "params", (double)x->params);
		cJSON_AddNumberToObject(o, "macs", (double)x->macs);
		cJSON_AddBoolToObject(o, "quantizable", x->quantizable);
		cJSON_AddBoolToObject(o, "folded", x->folded);
	}
	cJSON *tot = cJSON_AddObjectToObject(root, "totals");
	cJSON_AddNumberToObject(tot, "nodes", mi->n_nodes);
	cJSON_AddNumberToObject(tot, "quantizable", mi->n_quantizable);
	cJSON_AddNumberToObject(tot, "params", (double)mi->total_params);
	cJSON_AddNumberToObject(tot, "macs", (double)mi->total_macs);
	cJSON_AddNumberToObject(tot, "weight_bytes_fp32", (double)mi->weight_bytes_fp32);
	char *s = cJSON_Print(root);
	cJSON_Delete(root);
	return s;
}
