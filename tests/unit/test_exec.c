/*
 * test_exec.c - plans and runners: results, constant folding, the memory plan,
 * hooks and batch-parallel running.
 *
 * Small graphs are built by hand with operators that exist (Relu, Add, Mul,
 * Identity, Gemm, MatMul, Conv, the Shape chain ops) and checked against
 * numbers worked out by hand.  The memory plan is checked by its arena size
 * (a chain reuses two buffers) and by reading kept values after a run; the
 * runner by comparing chunked and threaded runs with one big batch, bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "graph.h"
#include "ops/nn_util.h"

#include "graph_builder.h"

#define MIB ((size_t)1 << 20)

static struct plan *plan(const struct graph *g, const struct shape *shapes,
			 const struct plan_opts *opts)
{
	struct err e = { 0 };
	struct plan *p = NULL;
	if (plan_new(g, shapes, opts, &p, &e))
		fail_msg("plan_new: %s", e.msg);
	return p;
}

static void run(struct plan *p, const struct tensor *in, const struct plan_hooks *h)
{
	struct err e = { 0 };
	if (plan_run(p, in, h, &e))
		fail_msg("plan_run: %s", e.msg);
}

static struct tensor fview(int rank, const int64_t *dims, const float *data)
{
	struct shape s = shape_make(rank, dims);
	return tensor_view(DT_FLOAT, &s, (void *)data);
}

static void want_f32(const struct tensor *t, const float *v, int64_t n)
{
	assert_non_null(t);
	assert_int_equal(t->dtype, DT_FLOAT);
	assert_int_equal(tensor_numel(t), n);
	assert_non_null(t->data);
	const float *x = t->data;
	for (int64_t i = 0; i < n; i++)
		if (fabsf(x[i] - v[i]) > 1e-5f + 1e-5f * fabsf(v[i]))
			fail_msg("element %lld: got %g, want %g", (long long)i, x[i], v[i]);
}

static void want_shape(const struct tensor *t, int rank, const int64_t *dims)
{
	assert_int_equal(t->shape.rank, rank);
	for (int i = 0; i < rank; i++)
		assert_int_equal(t->shape.dim[i], dims[i]);
}

/* --- results ---------------------------------------------------------------------- */

static void test_elementwise(void **state)
{
	(void)state;
	static const float c3[3] = { 1, 2, 3 };
	struct graph *g = graph_new();
	int x = input(g, "x", 2, DIMS(-1, 3));
	int c = constant(g, "c", DT_FLOAT, 1, DIMS(3), c3);
	int r = mid(g, "r"), a = mid(g, "a"), m = mid(g, "m"), i = mid(g, "i");
	node(g, "relu", "Relu", IN(x), r, NULL, 0);
	node(g, "add", "Add", IN(r, c), a, NULL, 0);
	node(g, "mul", "Mul", IN(a, x), m, NULL, 0);
	node(g, "id", "Identity", IN(m), i, NULL, 0);
	output(g, i);
	output(g, r);
	finalize(g);
	struct shape s = shape_make(2, DIMS(2, 3));
	struct plan *p = plan(g, &s, NULL);
	const float xd[6] = { -1, 2, -3, 4, -5, 6 };
	struct tensor xt = fview(2, DIMS(2, 3), xd);
	run(p, &xt, NULL);
	want_shape(plan_value(p, i), 2, DIMS(2, 3));
	want_f32(plan_value(p, r), (const float[]){ 0, 2, 0, 4, 0, 6 }, 6);
	want_f32(plan_value(p, i), (const float[]){ -1, 8, -9, 20, -10, 54 }, 6);
	assert_false(plan_value_is_const(p, x));
	assert_true(plan_value_is_const(p, c));
	assert_false(plan_value_is_const(p, a));
	assert_null(plan_value(p, -1));
	assert_null(plan_value(p, g->n_values));
	assert_ptr_equal(plan_graph(p), g);
	/* runs again with new data */
	const float xd2[6] = { 1, 1, 1, 1, 1, -1 };
	xt = fview(2, DIMS(2, 3), xd2);
	run(p, &xt, NULL);
	want_f32(plan_value(p, i), (const float[]){ 2, 3, 4, 2, 3, -3 }, 6);
	plan_free(p);
	plan_free(NULL);
	graph_free(g);
}

static void test_gemm_matmul_conv(void **state)
{
	(void)state;
	static const float w43[12] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1 };
	static const float b4[4] = { 0.5f, 0, 0, -1 };
	static const float m32[6] = { 1, 0, 0, 1, 1, 1 };
	static const float k22[4] = { 1, 1, 1, 1 };
	static const float cb[1] = { 1 };
	struct graph *g = graph_new();
	int x = input(g, "x", 2, DIMS(2, 3));
	int img = input(g, "img", 4, DIMS(1, 1, 3, 3));
	int w = constant(g, "w", DT_FLOAT, 2, DIMS(4, 3), w43);
	int b = constant(g, "b", DT_FLOAT, 1, DIMS(4), b4);
	int m = constant(g, "m", DT_FLOAT, 2, DIMS(3, 2), m32);
	int k = constant(g, "k", DT_FLOAT, 4, DIMS(1, 1, 2, 2), k22);
	int kb = constant(g, "kb", DT_FLOAT, 1, DIMS(1), cb);
	int y1 = mid(g, "y1"), y2 = mid(g, "y2"), y3 = mid(g, "y3"), y4 = mid(g, "y4");
	struct attr tb = a_int("transB", 1);
	struct attr gat[2] = { a_int("transB", 1), a_float("alpha", 2.0f) };
	node(g, "gemm", "Gemm", IN(x, w, b), y1, &tb, 1);
	node(g, "gemm2", "Gemm", IN(x, w), y4, gat, 2);
	node(g, "mm", "MatMul", IN(x, m), y2, NULL, 0);
	node(g, "conv", "Conv", IN(img, k, kb), y3, NULL, 0);
	output(g, y1);
	output(g, y2);
	output(g, y3);
	output(g, y4);
	finalize(g);
	struct shape s[2] = { shape_make(2, DIMS(2, 3)), shape_make(4, DIMS(1, 1, 3, 3)) };
	struct plan *p = plan(g, s, NULL);
	const float xd[6] = { 1, 2, 3, 4, 5, 6 };
	const float id[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct tensor in[2] = { fview(2, DIMS(2, 3), xd), fview(4, DIMS(1, 1, 3, 3), id) };
	run(p, in, NULL);
	want_shape(plan_value(p, y1), 2, DIMS(2, 4));
	want_f32(plan_value(p, y1), (const float[]){ 1.5f, 2, 3, 5, 4.5f, 5, 6, 14 }, 8);
	want_f32(plan_value(p, y4), (const float[]){ 2, 4, 6, 12, 8, 10, 12, 30 }, 8);
	want_shape(plan_value(p, y2), 2, DIMS(2, 2));
	want_f32(plan_value(p, y2), (const float[]){ 4, 5, 10, 11 }, 4);
	want_shape(plan_value(p, y3), 4, DIMS(1, 1, 2, 2));
	want_f32(plan_value(p, y3), (const float[]){ 13, 17, 25, 29 }, 4);

	struct node_cost cost;
	plan_node_cost(p, graph_find_node(g, "gemm"), &cost);
	assert_int_equal(cost.params, 16);
	assert_int_equal(cost.macs, 2 * 4 * 3);
	plan_node_cost(p, graph_find_node(g, "mm"), &cost);
	assert_int_equal(cost.params, 6);
	assert_int_equal(cost.macs, 2 * 2 * 3);
	plan_node_cost(p, graph_find_node(g, "conv"), &cost);
	assert_int_equal(cost.params, 5);
	assert_int_equal(cost.macs, 4 * 4);
	plan_free(p);
	graph_free(g);
}

/* --- constant folding ---------------------------------------------------------------- */

struct trace {
	int calls[64];
	int n;
	int count[64];
};

static enum status trace_after(void *user, const struct plan *p, int node_index,
			       struct tensor *const *outputs, int n_outputs)
{
	struct trace *t = user;
	if (t->n < 64)
		t->calls[t->n++] = node_index;
	t->count[node_index]++;
	return OK;
}

static void test_constant_folding(void **state)
{
	(void)state;
	static const int64_t zero = 0, ax0[1] = { 0 }, minus1[1] = { -1 };
	static const float one[1] = { 1 }, two[1] = { 2 };
	struct graph *g = graph_new();
	g->opset = 13;
	int x = input(g, "x", 3, DIMS(-1, 3, 2));
	int i0 = constant(g, "i0", DT_INT64, 0, NULL, &zero);
	int axes = constant(g, "axes", DT_INT64, 1, DIMS(1), ax0);
	int m1 = constant(g, "m1", DT_INT64, 1, DIMS(1), minus1);
	int c1 = constant(g, "c1", DT_FLOAT, 1, DIMS(1), one);
	int c2 = constant(g, "c2", DT_FLOAT, 1, DIMS(1), two);
	int sh = mid(g, "sh"), b = mid(g, "b"), b1 = mid(g, "b1"), tgt = mid(g, "tgt");
	int y = mid(g, "y"), k = mid(g, "k"), z = mid(g, "z");
	struct attr axis0 = a_int("axis", 0);
	node(g, "shape", "Shape", IN(x), sh, NULL, 0);
	node(g, "gather", "Gather", IN(sh, i0), b, &axis0, 1);
	node(g, "unsq", "Unsqueeze", IN(b, axes), b1, NULL, 0);
	node(g, "concat", "Concat", IN(b1, m1), tgt, &axis0, 1);
	node(g, "reshape", "Reshape", IN(x, tgt), y, NULL, 0);
	node(g, "k", "Add", IN(c1, c2), k, NULL, 0);
	node(g, "scale", "Mul", IN(y, k), z, NULL, 0);
	output(g, z);
	finalize(g);

	struct shape s = shape_make(3, DIMS(2, 3, 2));
	struct plan *p = plan(g, &s, NULL);
	/* the whole shape chain and the constant Add are folded */
	assert_true(plan_value_is_const(p, sh));
	assert_true(plan_value_is_const(p, b));
	assert_true(plan_value_is_const(p, b1));
	assert_true(plan_value_is_const(p, tgt));
	assert_true(plan_value_is_const(p, k));
	assert_false(plan_value_is_const(p, y));
	assert_false(plan_value_is_const(p, z));
	const struct tensor *t = plan_value(p, tgt);
	assert_int_equal(t->dtype, DT_INT64);
	want_shape(t, 1, DIMS(2));
	assert_int_equal(((const int64_t *)t->data)[0], 2);
	assert_int_equal(((const int64_t *)t->data)[1], -1);
	want_f32(plan_value(p, k), (const float[]){ 3 }, 1);

	/* only the Reshape and the Mul run */
	float xd[12];
	for (int i = 0; i < 12; i++)
		xd[i] = (float)i;
	struct tensor xt = fview(3, DIMS(2, 3, 2), xd);
	struct trace tr = { 0 };
	struct plan_hooks h = { .after_node = trace_after, .user = &tr };
	run(p, &xt, &h);
	assert_int_equal(tr.n, 2);
	assert_string_equal(g->nodes[tr.calls[0]].name, "reshape");
	assert_string_equal(g->nodes[tr.calls[1]].name, "scale");
	want_shape(plan_value(p, z), 2, DIMS(2, 6));
	float want[12];
	for (int i = 0; i < 12; i++)
		want[i] = 3.0f * (float)i;
	want_f32(plan_value(p, z), want, 12);
	/* the folded values hold no arena memory: only y and z (48 bytes, 64 aligned) */
	assert_int_equal(plan_arena_bytes(p), 2 * 64);
	plan_free(p);

	/* another batch size folds to another shape */
	s = shape_make(3, DIMS(5, 3, 2));
	p = plan(g, &s, NULL);
	t = plan_value(p, tgt);
	assert_int_equal(((const int64_t *)t->data)[0], 5);
	want_shape(plan_value(p, z), 2, DIMS(5, 6));
	plan_free(p);
	graph_free(g);
}

/* --- memory plan ---------------------------------------------------------------------- */

/* y0 = x, y[i] = y[i-1] + 1 for i = 1..10: y[i] = x + i.  Returns the value ids. */
static struct graph *add_chain(int *ys, int64_t n_elems)
{
	static const float one[1] = { 1 };
	struct graph *g = graph_new();
	ys[0] = input(g, "x", 1, DIMS(n_elems));
	int c = constant(g, "one", DT_FLOAT, 1, DIMS(1), one);
	char name[16];
	for (int i = 1; i <= 10; i++) {
		snprintf(name, sizeof name, "y%d", i);
		ys[i] = mid(g, name);
		snprintf(name, sizeof name, "add%d", i);
		node(g, name, "Add", IN(ys[i - 1], c), ys[i], NULL, 0);
	}
	output(g, ys[10]);
	return g;
}

static void test_memory_plan(void **state)
{
	(void)state;
	const int64_t n = (int64_t)(MIB / 4); /* 1 MiB of float32 */
	float *x = malloc(MIB);
	assert_non_null(x);
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)(i % 1000) - 500.0f;
	struct tensor xt = fview(1, DIMS(n), x);
	struct shape s = shape_make(1, DIMS(n));

	/* a chain of 10 Relu needs two buffers, not ten */
	struct graph *g = graph_new();
	int v[11];
	v[0] = input(g, "x", 1, DIMS(-1));
	char name[16];
	for (int i = 1; i <= 10; i++) {
		snprintf(name, sizeof name, "r%d", i);
		v[i] = mid(g, name);
		node(g, name, "Relu", IN(v[i - 1]), v[i], NULL, 0);
	}
	output(g, v[10]);
	finalize(g);
	struct plan *p = plan(g, &s, NULL);
	assert_int_equal(plan_arena_bytes(p), 2 * MIB);
	run(p, &xt, NULL);
	const float *y = plan_value(p, v[10])->data;
	for (int64_t i = 0; i < n; i++)
		if (y[i] != (x[i] > 0 ? x[i] : 0))
			fail_msg("relu chain element %lld: %g", (long long)i, y[i]);
	plan_free(p);
	graph_free(g);

	/* the Add chain: y[i] = x + i.  Plain: two buffers. */
	g = add_chain(v, -1);
	finalize(g);
	p = plan(g, &s, NULL);
	assert_int_equal(plan_arena_bytes(p), 2 * MIB);
	plan_free(p);
	graph_free(g);

	/* y3 kept and y5 a graph output that later nodes read: both survive the run.
	 * First fit gives y1@0 y2@1 y3@0 y4@1 y5@2 y6@1 y7@3 y8@1 y9@3 y10@1 (MiB). */
	g = add_chain(v, -1);
	output(g, v[5]);
	finalize(g);
	bool keep[64] = { 0 };
	assert_true(g->n_values <= 64);
	keep[v[3]] = true;
	struct plan_opts opts = { .keep = keep };
	p = plan(g, &s, &opts);
	assert_int_equal(plan_arena_bytes(p), 4 * MIB);
	run(p, &xt, NULL);
	const int check[3] = { 3, 5, 10 };
	for (int c = 0; c < 3; c++) {
		const float *yy = plan_value(p, v[check[c]])->data;
		assert_non_null(yy);
		for (int64_t i = 0; i < n; i++)
			if (yy[i] != x[i] + (float)check[c])
				fail_msg("y%d[%lld] = %g, want %g", check[c], (long long)i, yy[i],
					 x[i] + (float)check[c]);
	}
	plan_free(p);
	graph_free(g);
	free(x);
}

/* An output never shares memory with an input of its own node, and values read by
 * several later nodes stay alive until the last one. */
static void test_liveness(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	int x = input(g, "x", 1, DIMS(4));
	int a = mid(g, "a"), b = mid(g, "b"), c = mid(g, "c"), d = mid(g, "d"), e = mid(g, "e");
	node(g, "a", "Relu", IN(x), a, NULL, 0);
	node(g, "b", "Add", IN(a, a), b, NULL, 0);       /* 2a */
	node(g, "c", "Mul", IN(b, b), c, NULL, 0);       /* 4a^2 */
	node(g, "d", "Add", IN(c, a), d, NULL, 0);       /* 4a^2 + a: a still alive */
	node(g, "e", "Mul", IN(d, b), e, NULL, 0);       /* (4a^2 + a) * 2a */
	output(g, e);
	finalize(g);
	struct shape s = shape_make(1, DIMS(4));
	struct plan *p = plan(g, &s, NULL);
	const float xd[4] = { -1, 1, 2, 3 };
	struct tensor xt = fview(1, DIMS(4), xd);
	run(p, &xt, NULL);
	float want[4];
	for (int i = 0; i < 4; i++) {
		float av = xd[i] > 0 ? xd[i] : 0;
		want[i] = (4 * av * av + av) * 2 * av;
	}
	want_f32(plan_value(p, e), want, 4);
	plan_free(p);
	graph_free(g);
}

/* --- input checks ---------------------------------------------------------------------- */

static void want_plan_err(const struct graph *g, const struct shape *s, enum status code,
			  const char *fragment)
{
	struct err e = { 0 };
	struct plan *p = NULL;
	enum status st = plan_new(g, s, NULL, &p, &e);
	if (st != code || !strstr(e.msg, fragment))
		fail_msg("got %s '%s', want %s containing '%s'", status_str(st), e.msg,
			 status_str(code), fragment);
	assert_null(p);
}

static void test_input_shape(void **state)
{
	(void)state;
	static const float c3[3] = { 1, 2, 3 };
	struct graph *g = graph_new();
	int x = input(g, "x", 2, DIMS(-1, 4));
	int y = mid(g, "y");
	node(g, "relu", "Relu", IN(x), y, NULL, 0);
	output(g, y);
	finalize(g);
	struct shape s = shape_make(2, DIMS(2, 3));
	want_plan_err(g, &s, ERR_SHAPE, "input 'x' has shape [2,3], the model expects [?,4]");
	s = shape_make(3, DIMS(2, 4, 1));
	want_plan_err(g, &s, ERR_SHAPE, "input 'x' has shape [2,4,1], the model expects [?,4]");
	s = shape_make(2, DIMS(-2, 4));
	want_plan_err(g, &s, ERR_SHAPE, "input 'x'");
	s = shape_make(2, DIMS((int64_t)1 << 40, 4));
	want_plan_err(g, &s, ERR_LIMIT, "input 'x'");

	/* a plan for [2,4] refuses other tensors at run time */
	s = shape_make(2, DIMS(2, 4));
	struct plan *p = plan(g, &s, NULL);
	float d[12] = { 0 };
	struct tensor bad = fview(2, DIMS(3, 4), d);
	struct err e = { 0 };
	assert_int_equal(plan_run(p, &bad, NULL, &e), ERR_SHAPE);
	assert_string_equal(e.msg, "input 'x': got float32 [3,4], planned for float32 [2,4]");
	struct shape s8 = shape_make(2, DIMS(2, 4));
	bad = tensor_view(DT_INT8, &s8, d);
	assert_int_equal(plan_run(p, &bad, NULL, &e), ERR_SHAPE);
	assert_string_equal(e.msg, "input 'x': got int8 [2,4], planned for float32 [2,4]");
	plan_free(p);
	graph_free(g);

	/* a prepare() error names the node */
	g = graph_new();
	x = input(g, "x", 2, DIMS(-1, 4));
	int c = constant(g, "c", DT_FLOAT, 1, DIMS(3), c3);
	y = mid(g, "y");
	node(g, "plus", "Add", IN(x, c), y, NULL, 0);
	output(g, y);
	finalize(g);
	s = shape_make(2, DIMS(2, 4));
	want_plan_err(g, &s, ERR_SHAPE, "node 'plus' (Add): ");
	graph_free(g);
}

/* --- hooks ------------------------------------------------------------------------------ */

struct hook_state {
	struct trace tr;
	int fill_node;	 /* node whose outputs after_node overwrites, -1: none */
	float fill;
	int subst_node;	 /* node whose input 1 before_node replaces, -1: none */
	const struct tensor *subst;
	int stop_node;	 /* node at which before_node fails, -1: none */
	int before_calls;
	bool shapes_ok;
};

static enum status hook_before(void *user, const struct plan *p, int node_index,
			       const struct tensor **use, int n_inputs)
{
	struct hook_state *h = user;
	h->before_calls++;
	for (int k = 0; k < n_inputs; k++)
		if (!use[k] || !use[k]->data)
			h->shapes_ok = false;
	if (node_index == h->stop_node)
		return ERR_CANCELLED;
	if (node_index == h->subst_node)
		use[1] = h->subst;
	return OK;
}

static enum status hook_after(void *user, const struct plan *p, int node_index,
			      struct tensor *const *outputs, int n_outputs)
{
	struct hook_state *h = user;
	trace_after(&h->tr, p, node_index, outputs, n_outputs);
	if (node_index == h->fill_node) {
		float *y = outputs[0]->data;
		for (int64_t i = 0; i < tensor_numel(outputs[0]); i++)
			y[i] = h->fill;
	}
	return OK;
}

static void test_hooks(void **state)
{
	(void)state;
	static const float two[1] = { 2 }, one[1] = { 1 }, three[1] = { 3 };
	/* z = relu(x) * 2 + 1 */
	struct graph *g = graph_new();
	int x = input(g, "x", 1, DIMS(4));
	int c2 = constant(g, "c2", DT_FLOAT, 1, DIMS(1), two);
	int c1 = constant(g, "c1", DT_FLOAT, 1, DIMS(1), one);
	int r = mid(g, "r"), m = mid(g, "m"), z = mid(g, "z");
	node(g, "relu", "Relu", IN(x), r, NULL, 0);
	node(g, "mul", "Mul", IN(r, c2), m, NULL, 0);
	node(g, "add", "Add", IN(m, c1), z, NULL, 0);
	output(g, z);
	finalize(g);
	struct shape s = shape_make(1, DIMS(4));
	struct plan *p = plan(g, &s, NULL);
	const float xd[4] = { -1, 0, 1, 2 };
	struct tensor xt = fview(1, DIMS(4), xd);

	/* every node once, in order */
	struct hook_state hs = { .fill_node = -1, .subst_node = -1, .stop_node = -1,
				 .shapes_ok = true };
	struct plan_hooks h = { .before_node = hook_before, .after_node = hook_after, .user = &hs };
	run(p, &xt, &h);
	assert_int_equal(hs.tr.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(hs.tr.calls[i], i);
		assert_int_equal(hs.tr.count[i], 1);
	}
	assert_int_equal(hs.before_calls, 3);
	assert_true(hs.shapes_ok);
	want_f32(plan_value(p, z), (const float[]){ 1, 1, 3, 5 }, 4);

	/* after_node may modify outputs in place: relu's output becomes 10 */
	hs = (struct hook_state){ .fill_node = 0, .fill = 10, .subst_node = -1, .stop_node = -1 };
	run(p, &xt, &h);
	want_f32(plan_value(p, z), (const float[]){ 21, 21, 21, 21 }, 4);

	/* before_node substitutes the weight of the Mul: * 3 instead of * 2 */
	struct tensor t3 = fview(1, DIMS(1), three);
	hs = (struct hook_state){ .fill_node = -1, .subst_node = 1, .subst = &t3, .stop_node = -1 };
	run(p, &xt, &h);
	want_f32(plan_value(p, z), (const float[]){ 1, 1, 4, 7 }, 4);
	/* the graph's constant is untouched, and the next run without hooks uses it */
	want_f32(plan_value(p, c2), two, 1);
	run(p, &xt, NULL);
	want_f32(plan_value(p, z), (const float[]){ 1, 1, 3, 5 }, 4);

	/* a failing hook aborts the run with its status; later nodes do not run */
	hs = (struct hook_state){ .fill_node = -1, .subst_node = -1, .stop_node = 1 };
	struct err e = { 0 };
	assert_int_equal(plan_run(p, &xt, &h, &e), ERR_CANCELLED);
	assert_int_equal(e.code, ERR_CANCELLED);
	assert_non_null(strstr(e.msg, "node 'mul' (Mul)"));
	assert_int_equal(hs.tr.n, 1);
	plan_free(p);
	graph_free(g);
}

/* --- runner ------------------------------------------------------------------------------- */

static float urand(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* x [N,8] -> Gemm (W [5,8], b) -> Relu -> Gemm (W2 [3,5]) -> y [N,3]; also t = x^T. */
static struct graph *mlp(bool with_transpose, int *y_out, int *t_out)
{
	static float w1[40], b1[5], w2[15];
	unsigned seed = 7;
	for (int i = 0; i < 40; i++)
		w1[i] = urand(&seed);
	for (int i = 0; i < 5; i++)
		b1[i] = urand(&seed);
	for (int i = 0; i < 15; i++)
		w2[i] = urand(&seed);
	struct graph *g = graph_new();
	int x = input(g, "x", 2, DIMS(-1, 8));
	int cw1 = constant(g, "w1", DT_FLOAT, 2, DIMS(5, 8), w1);
	int cb1 = constant(g, "b1", DT_FLOAT, 1, DIMS(5), b1);
	int cw2 = constant(g, "w2", DT_FLOAT, 2, DIMS(3, 5), w2);
	int h = mid(g, "h"), r = mid(g, "r"), y = mid(g, "y");
	struct attr tb = a_int("transB", 1);
	node(g, "fc1", "Gemm", IN(x, cw1, cb1), h, &tb, 1);
	node(g, "relu", "Relu", IN(h), r, NULL, 0);
	node(g, "fc2", "Gemm", IN(r, cw2), y, &tb, 1);
	output(g, y);
	*y_out = y;
	if (with_transpose) {
		int t = mid(g, "t");
		node(g, "tr", "Transpose", IN(x), t, NULL, 0);
		output(g, t);
		*t_out = t;
	}
	finalize(g);
	return g;
}

static void runner_once(const struct graph *g, int threads, int batch, const struct tensor *x,
			struct tensor *out)
{
	struct runner *r = NULL;
	struct err e = { 0 };
	if (runner_new(g, threads, batch, &r, &e))
		fail_msg("runner_new: %s", e.msg);
	assert_int_equal(runner_threads(r), threads);
	if (runner_run(r, x, out, &e))
		fail_msg("runner_run threads=%d batch=%d: %s", threads, batch, e.msg);
	runner_free(r);
}

static void test_runner_identical(void **state)
{
	(void)state;
	enum { N = 1000 };
	int y, t;
	struct graph *g = mlp(false, &y, &t);
	float *xd = malloc(N * 8 * sizeof *xd);
	assert_non_null(xd);
	unsigned seed = 99;
	for (int i = 0; i < N * 8; i++)
		xd[i] = urand(&seed) * 3;
	struct tensor x = fview(2, DIMS(N, 8), xd);
	struct tensor ref = { 0 };
	runner_once(g, 1, N, &x, &ref);
	want_shape(&ref, 2, DIMS(N, 3));

	/* the same numbers as a plain plan over all 1000 rows */
	struct shape s = shape_make(2, DIMS(N, 8));
	struct plan *p = plan(g, &s, NULL);
	run(p, &x, NULL);
	assert_memory_equal(plan_value(p, y)->data, ref.data, N * 3 * sizeof(float));
	plan_free(p);

	static const int cfg[][2] = { { 1, 64 }, { 2, 64 }, { 3, 64 }, { 3, 7 }, { 2, 999 },
				      { 3, 1 } };
	for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
		struct tensor out = { 0 };
		runner_once(g, cfg[c][0], cfg[c][1], &x, &out);
		want_shape(&out, 2, DIMS(N, 3));
		if (memcmp(out.data, ref.data, N * 3 * sizeof(float)) != 0)
			fail_msg("threads=%d batch=%d differs from one batch of %d", cfg[c][0],
				 cfg[c][1], N);
		tensor_fini(&out);
	}
	tensor_fini(&ref);
	free(xd);
	graph_free(g);
}

struct count_hook {
	int calls;
	int rows;
};

static enum status count_after(void *user, const struct plan *p, int node_index,
			       struct tensor *const *outputs, int n_outputs)
{
	struct count_hook *c = user;
	c->calls++;
	if (node_index == 0)
		c->rows += (int)outputs[0]->shape.dim[0];
	return OK;
}

static enum status fail_after(void *user, const struct plan *p, int node_index,
			      struct tensor *const *outputs, int n_outputs)
{
	return node_index == 1 ? ERR_CANCELLED : OK;
}

static void test_runner_hooks(void **state)
{
	(void)state;
	enum { N = 1000, B = 64, T = 3 };
	int y, t;
	struct graph *g = mlp(false, &y, &t);
	float *xd = calloc(N * 8, sizeof *xd);
	assert_non_null(xd);
	struct tensor x = fview(2, DIMS(N, 8), xd);
	struct runner *r = NULL;
	struct err e = { 0 };
	assert_int_equal(runner_new(g, T, B, &r, &e), OK);
	struct count_hook ch[T] = { { 0 } };
	struct plan_hooks hooks[T];
	for (int w = 0; w < T; w++)
		hooks[w] = (struct plan_hooks){ .after_node = count_after, .user = &ch[w] };
	struct tensor out = { 0 };
	if (runner_run_hooked(r, &x, &out, hooks, &e))
		fail_msg("runner_run_hooked: %s", e.msg);
	int calls = 0, rows = 0;
	for (int w = 0; w < T; w++) {
		calls += ch[w].calls;
		rows += ch[w].rows;
	}
	assert_int_equal(calls, 16 * 3); /* 16 chunks x 3 nodes */
	assert_int_equal(rows, N);
	tensor_fini(&out);

	/* a failing hook fails the run with its own status, threaded or not */
	for (int w = 0; w < T; w++)
		hooks[w] = (struct plan_hooks){ .after_node = fail_after };
	out = (struct tensor){ 0 };
	err_clear(&e);
	assert_int_equal(runner_run_hooked(r, &x, &out, hooks, &e), ERR_CANCELLED);
	assert_int_equal(e.code, ERR_CANCELLED);
	assert_null(out.data);
	runner_free(r);
	assert_int_equal(runner_new(g, 1, B, &r, &e), OK);
	err_clear(&e);
	assert_int_equal(runner_run_hooked(r, &x, &out, hooks, &e), ERR_CANCELLED);
	assert_int_equal(e.code, ERR_CANCELLED);
	runner_free(r);
	free(xd);
	graph_free(g);
}

/*
 * Plain (hooked) runs go through each chunk in sub-batches (exec.c, RUNNER_PLAIN_BYTES) and
 * run a MatMul by a constant matrix with the Linear kernel.  Rows of 512 x 64 floats (128 KB
 * of input, 2 x 96 KB planned per row) make a batch of 64 too big for one plan run.  Checked:
 * every row reaches the hooks exactly once, each chunk is reported once and whole, the MatMul
 * step still shows its two inputs to a hook and honours a substituted weight, and the
 * numbers match a double-precision reference.
 */
enum { SB_N = 150, SB_T = 512, SB_K = 64, SB_M = 48, SB_B = 64 };

struct sub_hook {
	int mm;			/* node index of the MatMul */
	int calls, max_rows;
	int seen[SB_N];		/* per row: MatMul outputs seen */
	bool scale_w;		/* substitute 2 x W */
	const struct tensor *w2;
	int bad_n_in;
};

static enum status sub_before(void *user, const struct plan *p, int ni, const struct tensor **use,
			      int n_in)
{
	struct sub_hook *h = user;
	if (ni != h->mm)
		return OK;
	if (n_in != 2)
		h->bad_n_in++;
	if (h->scale_w)
		use[1] = h->w2;
	return OK;
}

static enum status sub_after(void *user, const struct plan *p, int ni, struct tensor *const *out,
			     int n_out)
{
	struct sub_hook *h = user;
	if (ni != h->mm)
		return OK;
	int64_t row0 = plan_row0(p), rows = out[0]->shape.dim[0];
	h->calls++;
	if (rows > h->max_rows)
		h->max_rows = (int)rows;
	for (int64_t r = row0; r < row0 + rows && r < SB_N; r++)
		h->seen[r]++;
	return OK;
}

struct sub_chunks {
	int calls;
	int64_t rows;
};

static void sub_chunk_done(void *user, int64_t row0, int64_t rows, const struct tensor *outputs)
{
	struct sub_chunks *c = user; /* one thread below: no lock needed */
	c->calls++;
	c->rows += rows;
	assert_int_equal(row0 % SB_B, 0);
}

static void test_runner_plain_sub_batches(void **state)
{
	(void)state;
	static float wd[SB_K * SB_M], w2d[SB_K * SB_M];
	unsigned seed = 5;
	for (int i = 0; i < SB_K * SB_M; i++) {
		wd[i] = urand(&seed);
		w2d[i] = 2 * wd[i];
	}
	struct graph *g = graph_new();
	int x = input(g, "x", 3, DIMS(-1, SB_T, SB_K));
	int w = constant(g, "w", DT_FLOAT, 2, DIMS(SB_K, SB_M), wd);
	int m = mid(g, "m"), y = mid(g, "y");
	node(g, "mm", "MatMul", IN(x, w), m, NULL, 0);
	node(g, "relu", "Relu", IN(m), y, NULL, 0);
	output(g, y);
	finalize(g);

	size_t n = (size_t)SB_N * SB_T * SB_K;
	float *xd = malloc(n * sizeof *xd);
	assert_non_null(xd);
	for (size_t i = 0; i < n; i++)
		xd[i] = urand(&seed);
	struct tensor xt = fview(3, DIMS(SB_N, SB_T, SB_K), xd);
	struct tensor w2t = fview(2, DIMS(SB_K, SB_M), w2d);

	for (int pass = 0; pass < 2; pass++) {
		struct runner *r = NULL;
		struct err e = { 0 };
		assert_int_equal(runner_new(g, 1, SB_B, &r, &e), OK);
		struct sub_hook h = { .mm = 0, .scale_w = pass == 1, .w2 = &w2t };
		struct plan_hooks hooks = { .before_node = sub_before, .after_node = sub_after,
					    .user = &h };
		struct sub_chunks ch = { 0 };
		struct run_opts o = { .hooks = &hooks, .chunk_done = sub_chunk_done, .user = &ch };
		struct tensor out = { 0 };
		if (runner_exec(r, &xt, &out, &o, &e))
			fail_msg("runner_exec: %s", e.msg);
		for (int i = 0; i < SB_N; i++)
			if (h.seen[i] != 1)
				fail_msg("row %d reached the MatMul hook %d times", i, h.seen[i]);
		assert_int_equal(h.bad_n_in, 0);
		assert_int_equal(ch.calls, (SB_N + SB_B - 1) / SB_B);
		assert_int_equal(ch.rows, SB_N);
		if (nn_have_avx512()) /* plans of 64 rows need ~12 MB: sub-batched */
			assert_true(h.max_rows < SB_B && h.calls > ch.calls);
		else
			assert_int_equal(h.calls, ch.calls);
		/* relu(x W) in double, W doubled by the hook in the second pass */
		const float *yd = out.data;
		for (int64_t row = 0; row < (int64_t)SB_N * SB_T; row += 97) {
			for (int j = 0; j < SB_M; j++) {
				double acc = 0;
				for (int k = 0; k < SB_K; k++)
					acc += (double)xd[row * SB_K + k] * (pass ? w2d : wd)[k * SB_M + j];
				double want = acc > 0 ? acc : 0;
				double got = yd[row * SB_M + j];
				if (fabs(got - want) > 1e-4 * (1 + fabs(want)))
					fail_msg("pass %d row %lld col %d: got %g, want %g", pass,
						 (long long)row, j, got, want);
			}
		}
		tensor_fini(&out);
		runner_free(r);
	}
	free(xd);
	graph_free(g);
}

static void test_runner_errors(void **state)
{
	(void)state;
	enum { N = 100 };
	int y, t;
	struct graph *g = mlp(true, &y, &t);
	struct runner *r = NULL;
	struct err e = { 0 };
	assert_int_equal(runner_new(g, 0, 64, &r, &e), ERR_INVALID);
	assert_string_equal(e.msg, "thread count 0 is outside 1..64");
	assert_int_equal(runner_new(g, 65, 64, &r, &e), ERR_INVALID);
	assert_string_equal(e.msg, "thread count 65 is outside 1..64");
	assert_int_equal(runner_new(g, 1, 0, &r, &e), ERR_INVALID);
	assert_string_equal(e.msg, "batch size 0 must be at least 1");
	assert_int_equal(runner_new(g, 1, -5, &r, &e), ERR_INVALID);
	assert_null(r);
	runner_free(NULL);

	float *xd = calloc(N * 8, sizeof *xd);
	assert_non_null(xd);
	for (int i = 0; i < N * 8; i++)
		xd[i] = (float)i;
	struct tensor x = fview(2, DIMS(N, 8), xd);
	struct tensor out[2] = { { 0 } };

	/* t = x^T has no batch leading dim: refused when the input is split ... */
	assert_int_equal(runner_new(g, 2, 64, &r, &e), OK);
	assert_int_equal(runner_run(r, &x, out, &e), ERR_SHAPE);
	assert_string_equal(e.msg, "output 't' does not have the batch as its leading dimension;"
				   " run it with the whole input as one batch");
	assert_null(out[0].data);
	assert_null(out[1].data);
	runner_free(r);
	/* ... and fine in one batch */
	assert_int_equal(runner_new(g, 2, N, &r, &e), OK);
	if (runner_run(r, &x, out, &e))
		fail_msg("runner_run: %s", e.msg);
	want_shape(&out[1], 2, DIMS(8, N));
	assert_true(((float *)out[1].data)[1] == 8.0f); /* t[0][1] = x[1][0] */
	tensor_fini(&out[0]);
	tensor_fini(&out[1]);

	/* no samples; a scalar input */
	struct tensor empty = fview(2, DIMS(0, 8), xd);
	assert_int_equal(runner_run(r, &empty, out, &e), ERR_SHAPE);
	assert_string_equal(e.msg, "the inputs hold no samples");
	struct tensor scalar = fview(0, NULL, xd);
	assert_int_equal(runner_run(r, &scalar, out, &e), ERR_SHAPE);
	assert_non_null(strstr(e.msg, "every input needs the same leading (batch) dimension"));
	/* a wrong feature size is the planner's message */
	struct tensor wide = fview(2, DIMS(10, 80), xd);
	assert_int_equal(runner_run(r, &wide, out, &e), ERR_SHAPE);
	assert_string_equal(e.msg, "input 'x' has shape [10,80], the model expects [?,8]");
	runner_free(r);
	graph_free(g);

	/* two inputs with different sample counts */
	g = graph_new();
	int a = input(g, "a", 2, DIMS(-1, 2)), b = input(g, "b", 2, DIMS(-1, 2));
	int s = mid(g, "s");
	node(g, "add", "Add", IN(a, b), s, NULL, 0);
	output(g, s);
	finalize(g);
	struct tensor ab[2] = { fview(2, DIMS(4, 2), xd), fview(2, DIMS(3, 2), xd) };
	assert_int_equal(runner_new(g, 1, 2, &r, &e), OK);
	assert_int_equal(runner_run(r, ab, out, &e), ERR_SHAPE);
	assert_string_equal(e.msg, "input 'b': every input needs the same leading (batch) dimension");
	ab[1] = fview(2, DIMS(4, 2), xd + 8);
	if (runner_run(r, ab, out, &e))
		fail_msg("runner_run: %s", e.msg);
	want_f32(&out[0], (const float[]){ 8, 10, 12, 14, 16, 18, 20, 22 }, 8);
	tensor_fini(&out[0]);
	runner_free(r);
	graph_free(g);
	free(xd);
}

/* A runner may be reused with inputs of another sample shape (a model with
 * symbolic non-batch dims): its cached plans must not be reused blindly. */
static void test_runner_reuse(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	int x = input(g, "x", 2, DIMS(-1, -1));
	int y = mid(g, "y");
	node(g, "relu", "Relu", IN(x), y, NULL, 0);
	output(g, y);
	finalize(g);
	float *xd = malloc(100 * 5 * sizeof *xd);
	assert_non_null(xd);
	for (int i = 0; i < 500; i++)
		xd[i] = (float)(i % 7) - 3.0f;
	struct runner *r = NULL;
	struct err e = { 0 };
	for (int threads = 1; threads <= 2; threads++) {
		assert_int_equal(runner_new(g, threads, 64, &r, &e), OK);
		for (int cols = 4; cols <= 5; cols++) {
			for (int rep = 0; rep < 2; rep++) {
				struct tensor xt = fview(2, DIMS(100, cols), xd);
				struct tensor out = { 0 };
				if (runner_run(r, &xt, &out, &e))
					fail_msg("threads=%d cols=%d: %s", threads, cols, e.msg);
				want_shape(&out, 2, DIMS(100, cols));
				const float *o = out.data;
				for (int i = 0; i < 100 * cols; i++)
					assert_true(o[i] == (xd[i] > 0 ? xd[i] : 0));
				tensor_fini(&out);
			}
		}
		runner_free(r);
	}
	free(xd);
	graph_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elementwise),
		cmocka_unit_test(test_gemm_matmul_conv),
		cmocka_unit_test(test_constant_folding),
		cmocka_unit_test(test_memory_plan),
		cmocka_unit_test(test_liveness),
		cmocka_unit_test(test_input_shape),
		cmocka_unit_test(test_hooks),
		cmocka_unit_test(test_runner_identical),
		cmocka_unit_test(test_runner_hooks),
		cmocka_unit_test(test_runner_plain_sub_batches),
		cmocka_unit_test(test_runner_errors),
		cmocka_unit_test(test_runner_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
