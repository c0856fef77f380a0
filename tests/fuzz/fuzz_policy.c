/*
 * fuzz_policy.c - libFuzzer harness for policy files (policyfile.h).
 *
 * Each input is the text of a policy file, parsed from memory against a small
 * graph built once at start-up (policy_doc_parse checks node and tensor
 * names against the model):
 *
 *   x [1,1,8,8] -> conv (Conv, conv.weight [4,1,3,3], conv.bias [4]) -> c
 *     -> relu (Relu) -> r -> flatten (Flatten) -> f [1,256]
 *     -> fc (Gemm, fc.weight [3,256], fc.bias [3], transB=1) -> y
 *
 * A document that parses must turn into a policy for the graph, and saving it
 * must be a fixed point (policyfile.h promises that saving a loaded document
 * gives the same text): json(parse(input)) is parsed again and written again,
 * and the two texts must be equal.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "graph.h"
#include "policyfile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct graph *model;
static bool verbose; /* FUZZ_VERBOSE=1: say why inputs are refused, print what is saved */

static float conv_w[4 * 1 * 3 * 3], conv_b[4], fc_w[3 * 256], fc_b[3];

static int value(const char *name, enum value_kind kind, enum dtype dt, int rank,
		 const int64_t *dims, void *data)
{
	struct err e = { 0 };
	int v = graph_add_value(model, name, kind, &e);
	FUZZ_CHECK(v >= 0, "graph_add_value(%s): %s", name, e.msg);
	struct value *val = &model->values[v];
	val->dtype = dt;
	if (rank >= 0)
		val->shape = shape_make(rank, dims);
	else
		val->shape.rank = -1;
	if (kind == VAL_CONST)
		val->constant = tensor_view(dt, &val->shape, data);
	return v;
}

static void add_node(const char *name, const char *op, int n_in, const int *ins, int out,
		     const struct attr *attr)
{
	struct err e = { 0 };
	int *iv = graph_alloc(model, sizeof *iv * (size_t)n_in);
	int *ov = graph_alloc(model, sizeof *ov);
	struct attr *av = attr ? graph_alloc(model, sizeof *av) : NULL;
	FUZZ_CHECK(iv && ov && (!attr || av), "out of memory");
	memcpy(iv, ins, sizeof *iv * (size_t)n_in);
	*ov = out;
	if (attr)
		*av = *attr;
	struct node n = { .name = graph_strdup(model, name), .op_type = graph_strdup(model, op),
			  .domain = "", .n_inputs = n_in, .inputs = iv, .n_outputs = 1,
			  .outputs = ov, .n_attrs = attr ? 1 : 0, .attrs = av };
	FUZZ_CHECK(graph_add_node(model, &n, &e) == OK, "graph_add_node(%s): %s", name, e.msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *vb = getenv("FUZZ_VERBOSE");
	verbose = vb && *vb && strcmp(vb, "0") != 0;
	struct err e = { 0 };
	model = graph_new();
	FUZZ_CHECK(model != NULL, "out of memory");
	model->opset = 13;
	int x = value("x", VAL_INPUT, DT_FLOAT, 4, (const int64_t[]){ 1, 1, 8, 8 }, NULL);
	int cw = value("conv.weight", VAL_CONST, DT_FLOAT, 4, (const int64_t[]){ 4, 1, 3, 3 },
		       conv_w);
	int cb = value("conv.bias", VAL_CONST, DT_FLOAT, 1, (const int64_t[]){ 4 }, conv_b);
	int fw = value("fc.weight", VAL_CONST, DT_FLOAT, 2, (const int64_t[]){ 3, 256 }, fc_w);
	int fb = value("fc.bias", VAL_CONST, DT_FLOAT, 1, (const int64_t[]){ 3 }, fc_b);
	int c = value("c", VAL_INTERMEDIATE, DT_UNDEFINED, -1, NULL, NULL);
	int r = value("r", VAL_INTERMEDIATE, DT_UNDEFINED, -1, NULL, NULL);
	int f = value("f", VAL_INTERMEDIATE, DT_UNDEFINED, -1, NULL, NULL);
	int y = value("y", VAL_INTERMEDIATE, DT_UNDEFINED, -1, NULL, NULL);
	FUZZ_CHECK(graph_add_input(model, x, &e) == OK, "%s", e.msg);
	struct attr pads = { .name = "pads", .type = ATTR_INTS, .n = 4,
			     .ints = (const int64_t[]){ 1, 1, 1, 1 } };
	struct attr transb = { .name = "transB", .type = ATTR_INT, .i = 1 };
	add_node("conv", "Conv", 3, (const int[]){ x, cw, cb }, c, &pads);
	add_node("relu", "Relu", 1, (const int[]){ c }, r, NULL);
	add_node("flatten", "Flatten", 1, (const int[]){ r }, f, NULL);
	add_node("fc", "Gemm", 3, (const int[]){ f, fw, fb }, y, &transb);
	FUZZ_CHECK(graph_add_output(model, y, &e) == OK, "%s", e.msg);
	FUZZ_CHECK(graph_finalize(model, &e) == OK, "graph_finalize: %s", e.msg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_doc d;
	struct err e = { 0 };
	bool changed = true;
	static const char sha[] = "0000000000000000000000000000000000000000000000000000000000000000";
	enum status st = policy_doc_parse((const char *)data, size, "policy.json", model, sha, &d,
					  &changed, &e);
	if (st != OK) {
		if (verbose)
			fprintf(stderr, "refused: %s\n", e.msg);
		fuzz_check_refusal(st, &e);
		return 0;
	}
	if (verbose)
		fprintf(stderr, "parsed: %d nodes\n", d.n_nodes);

	struct policy pol;
	st = policy_doc_policy(&d, model, &pol, &e);
	FUZZ_CHECK(st == OK, "a parsed document gives no policy: %s", e.msg);
	policy_fini(&pol);

	char *t1 = policy_doc_json(&d);
	FUZZ_CHECK(t1 != NULL, "a parsed document does not write");
	if (verbose)
		fputs(t1, stderr);
	struct policy_doc d2;
	st = policy_doc_parse(t1, strlen(t1), "saved", model, NULL, &d2, NULL, &e);
	FUZZ_CHECK(st == OK, "a saved document does not read back: %s\n%s", e.msg, t1);
	char *t2 = policy_doc_json(&d2);
	FUZZ_CHECK(t2 != NULL, "a reloaded document does not write");
	FUZZ_CHECK(strcmp(t1, t2) == 0, "save -> load -> save changed the text:\n%s\n---\n%s", t1,
		   t2);
	free(t2);
	free(t1);
	policy_doc_fini(&d2);
	policy_doc_fini(&d);
	return 0;
}
