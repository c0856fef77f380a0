/*
 * modelinfo.h - per-node facts about a model for one sample: shapes,
 * parameters, MACs, and whether ONNX Runtime's QDQ quantizer would quantize it.
 */
#ifndef QLENS_MODELINFO_H
#define QLENS_MODELINFO_H

#include <stdbool.h>
#include <stdint.h>

#include "exec.h"
#include "graph.h"

struct node_info {
	int node;	  /* index in the graph */
	int64_t params;	  /* float elements of constant inputs */
	int64_t macs;	  /* per sample */
	bool quantizable; /* op kind is QK_WEIGHT or QK_ACT */
	bool has_weight;  /* QK_WEIGHT with a constant weight input */
	bool folded;	  /* computed at plan time from constants */
};

struct model_info {
	const struct graph *g;
	struct plan *plan; /* planned for batch 1 (symbolic dims taken as 1) */
	int n_nodes;
	struct node_info *nodes;
	int64_t total_params, total_macs;
	int n_quantizable;
	int64_t weight_bytes_fp32; /* all float constants, 4 bytes each */
};

/* Plan the graph for one sample: every symbolic input dimension taken as 1. */
enum status model_plan_one(const struct graph *g, struct plan **p, struct err *e);

/* Plan the graph for one sample and collect per-node facts. */
enum status model_info_build(const struct graph *g, struct model_info *mi, struct err *e);
void model_info_fini(struct model_info *mi);

/* JSON text ({"model":..., "inputs":[...], "outputs":[...], "nodes":[...], "totals":{...}});
 * malloc'ed, caller frees.  NULL on out of memory. */
char *model_info_json(const struct model_info *mi, const char *model_label);

#endif
