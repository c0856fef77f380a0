/*
 * fuzz_onnx.c - libFuzzer harness for the ONNX loader (and what follows it).
 *
 * Each input is a model file loaded from memory (onnx_load_buffer, no folder:
 * external data is refused).  A model that loads must be a finalized graph
 * that finalizes again unchanged, so graph_finalize runs a second time; then
 * the graph is planned for batch 1 (plan_new: constant folding, every node's
 * prepare(), the memory plan), which is where a loaded but hostile model
 * meets the operators.  Planning is skipped for graphs that are expensive
 * rather than wrong - more than FUZZ_PLAN_MAX_NODES nodes, or a constant or
 * batch-1 input over FUZZ_PLAN_MAX_BYTES - so each execution stays fast.
 *
 * Symbolic input dimensions become 1; an input without a declared shape is
 * planned as a 1-element vector.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "fuzz_common.h"
#include "onnx_load.h"

#define FUZZ_PLAN_MAX_NODES 1000
#define FUZZ_PLAN_MAX_BYTES ((size_t)16 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Batch-1 shapes for the graph's inputs; false when planning would be too
 * expensive for a fuzzing run. */
static bool plan_shapes(const struct graph *g, struct shape *shapes)
{
	if (g->n_nodes > FUZZ_PLAN_MAX_NODES)
		return false;
	for (int v = 0; v < g->n_values; v++) {
		const struct value *val = &g->values[v];
		if (val->kind == VAL_CONST && val->constant.nbytes > FUZZ_PLAN_MAX_BYTES)
			return false;
	}
	for (int i = 0; i < g->n_inputs; i++) {
		const struct value *val = &g->values[g->inputs[i]];
		struct shape *s = &shapes[i];
		if (val->shape.rank < 0) {
			*s = (struct shape){ .rank = 1, .dim = { 1 } };
			continue;
		}
		*s = val->shape;
		for (int d = 0; d < s->rank; d++)
			if (s->dim[d] < 0)
				s->dim[d] = 1;
		size_t es = dtype_size(val->dtype != DT_UNDEFINED ? val->dtype : DT_FLOAT);
		int64_t numel;
		if (shape_numel_checked(s, es ? es : 1, &numel, NULL) != OK ||
		    (uint64_t)numel * (es ? es : 1) > FUZZ_PLAN_MAX_BYTES)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct graph *g = NULL;
	struct err e = { 0 };
	enum status st = onnx_load_buffer(data, size, NULL, NULL, &g, &e);
	if (st != OK) {
		fuzz_check_refusal(st, &e);
		FUZZ_CHECK(g == NULL, "graph returned with %s", e.msg);
		return 0;
	}
	FUZZ_CHECK(g != NULL, "OK without a graph");

	struct err e2 = { 0 };
	st = graph_finalize(g, &e2);
	FUZZ_CHECK(st == OK, "a loaded graph does not finalize again: %s", e2.msg);

	struct shape *shapes = calloc((size_t)g->n_inputs + 1, sizeof *shapes);
	FUZZ_CHECK(shapes != NULL, "out of memory");
	if (plan_shapes(g, shapes)) {
		struct plan *p = NULL;
		struct err e3 = { 0 };
		st = plan_new(g, shapes, NULL, &p, &e3);
		if (st != OK)
			fuzz_check_refusal(st, &e3);
		else
			FUZZ_CHECK(p != NULL && plan_graph(p) == g, "OK without a plan");
		plan_free(p);
	}
	free(shapes);
	graph_free(g);
	return 0;
}
