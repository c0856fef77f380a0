/*
 * test_graph.c - the graph IR: building, validation, topological sort, attributes.
 *
 * Graphs are built by hand through the same calls the loader uses
 * (graph_add_value / graph_add_node / graph_add_input / graph_add_output), so
 * every structural error graph_finalize() must catch can be produced exactly:
 * unsupported operators, undefined inputs, values written twice, cycles, graph
 * outputs nobody produces.  Messages are checked by substring, because they are
 * what the user sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static int val(struct graph *g, const char *name, enum value_kind kind)
{
	struct err e = { 0 };
	int v = graph_add_value(g, name, kind, &e);
	if (v < 0)
		fail_msg("graph_add_value(%s): %s", name, e.msg);
	g->values[v].dtype = DT_FLOAT;
	return v;
}

/* Add a node; ins/outs are value indices, n_out outputs. */
static void node(struct graph *g, const char *name, const char *op, int n_in, const int *ins,
		 int n_out, const int *outs, const struct attr *attrs, int n_attrs)
{
	struct err e = { 0 };
	struct node n = { 0 };
	n.name = graph_strdup(g, name);
	n.op_type = graph_strdup(g, op);
	n.domain = "";
	int *iv = graph_alloc(g, sizeof(int) * (size_t)(n_in ? n_in : 1));
	int *ov = graph_alloc(g, sizeof(int) * (size_t)(n_out ? n_out : 1));
	assert_true(iv && ov && n.name && n.op_type);
	if (n_in)
		memcpy(iv, ins, sizeof(int) * (size_t)n_in);
	if (n_out)
		memcpy(ov, outs, sizeof(int) * (size_t)n_out);
	if (n_attrs) {
		struct attr *av = graph_alloc(g, sizeof *av * (size_t)n_attrs);
		assert_non_null(av);
		memcpy(av, attrs, sizeof *av * (size_t)n_attrs);
		n.attrs = av;
	}
	n.n_inputs = n_in;
	n.inputs = iv;
	n.n_outputs = n_out;
	n.outputs = ov;
	n.n_attrs = n_attrs;
	assert_int_equal(graph_add_node(g, &n, &e), OK);
}

/* One-input one-output node. */
static void node1(struct graph *g, const char *name, const char *op, int in, int out)
{
	node(g, name, op, 1, &in, 1, &out, NULL, 0);
}

static void want_finalize_err(struct graph *g, enum status code, const char *fragment)
{
	struct err e = { 0 };
	enum status st = graph_finalize(g, &e);
	if (st != code || !strstr(e.msg, fragment))
		fail_msg("got %s '%s', want %s containing '%s'", status_str(st), e.msg,
			 status_str(code), fragment);
	graph_free(g);
}

static void finalize_ok(struct graph *g)
{
	struct err e = { 0 };
	if (graph_finalize(g, &e))
		fail_msg("graph_finalize: %s", e.msg);
}

/* --- building ----------------------------------------------------------------- */

static void test_values(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	assert_non_null(g);
	struct err e = { 0 };
	int x = graph_add_value(g, "x", VAL_INPUT, &e);
	int w = graph_add_value(g, "w", VAL_CONST, &e);
	int y = graph_add_value(g, "y", VAL_INTERMEDIATE, &e);
	assert_int_equal(x, 0);
	assert_int_equal(w, 1);
	assert_int_equal(y, 2);
	assert_int_equal(g->n_values, 3);
	assert_string_equal(g->values[y].name, "y");
	assert_int_equal(g->values[y].kind, VAL_INTERMEDIATE);
	assert_int_equal(g->values[y].producer, -1);
	assert_int_equal(g->values[y].shape.rank, -1);
	assert_int_equal(g->values[y].dtype, DT_UNDEFINED);
	assert_false(g->values[y].is_output);
	assert_int_equal(graph_find_value(g, "w"), w);
	assert_int_equal(graph_find_value(g, "nope"), -1);
	assert_int_equal(graph_find_value(g, ""), -1);

	/* a duplicate name is refused and changes nothing */
	assert_int_equal(graph_add_value(g, "w", VAL_INTERMEDIATE, &e), -1);
	assert_int_equal(e.code, ERR_GRAPH);
	assert_string_equal(e.msg, "value 'w' is defined more than once");
	assert_int_equal(g->n_values, 3);
	assert_int_equal(g->values[w].kind, VAL_CONST);

	/* the name is copied */
	char name[8] = "tmp";
	int t = graph_add_value(g, name, VAL_INTERMEDIATE, &e);
	strcpy(name, "xxx");
	assert_string_equal(g->values[t].name, "tmp");
	assert_int_equal(graph_find_value(g, "tmp"), t);

	/* many values: the index grows and every name still resolves */
	char buf[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof buf, "v%d", i);
		assert_int_equal(graph_add_value(g, buf, VAL_INTERMEDIATE, &e), 4 + i);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof buf, "v%d", i);
		assert_int_equal(graph_find_value(g, buf), 4 + i);
		assert_string_equal(g->values[4 + i].name, buf);
	}
	assert_int_equal(graph_find_value(g, "x"), x);
	snprintf(buf, sizeof buf, "v%d", 4999);
	assert_int_equal(graph_add_value(g, buf, VAL_INPUT, &e), -1);
	assert_string_equal(e.msg, "value 'v4999' is defined more than once");
	graph_free(g);
	graph_free(NULL);
}

static void test_arena(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	assert_non_null(g);
	/* zeroed, aligned, and one block bigger than a chunk */
	unsigned char *small = graph_alloc(g, 3);
	unsigned char *big = graph_alloc(g, 200000);
	unsigned char *after = graph_alloc(g, 16);
	assert_true(small && big && after);
	for (int i = 0; i < 200000; i++)
		assert_int_equal(big[i], 0);
	assert_int_equal((uintptr_t)big % _Alignof(max_align_t), 0);
	assert_int_equal((uintptr_t)after % _Alignof(max_align_t), 0);
	memset(big, 0xab, 200000);
	memset(small, 1, 3);
	memset(after, 2, 16);
	assert_int_equal(big[199999], 0xab);
	assert_non_null(graph_alloc(g, 0));
	const char *s = graph_strndup(g, "hello world", 5);
	assert_string_equal(s, "hello");
	assert_string_equal(graph_strdup(g, ""), "");
	graph_free(g);
}

static void test_outputs_inputs(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	struct err e = { 0 };
	int x = val(g, "x", VAL_INPUT);
	int y = val(g, "y", VAL_INTERMEDIATE);
	node1(g, "r", "Relu", x, y);
	assert_int_equal(graph_add_input(g, x, &e), OK);
	assert_int_equal(graph_add_output(g, y, &e), OK);
	assert_true(g->values[y].is_output);
	assert_int_equal(graph_add_output(g, y, &e), ERR_GRAPH);
	assert_string_equal(e.msg, "graph output 'y' is listed twice");
	assert_int_equal(g->n_outputs, 1);
	finalize_ok(g);
	assert_int_equal(g->values[y].producer, 0);
	assert_int_equal(g->values[x].producer, -1);
	assert_int_equal(g->nodes[0].op, OP_RELU);
	assert_int_equal(graph_find_node(g, "r"), 0);
	assert_int_equal(graph_find_node(g, "q"), -1);
	/* finalizing again changes nothing */
	finalize_ok(g);
	assert_int_equal(g->values[y].producer, 0);
	graph_free(g);
}

/* --- finalize errors -------------------------------------------------------------- */

static void test_unsupported(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	int x = val(g, "x", VAL_INPUT), y = val(g, "y", VAL_INTERMEDIATE);
	int z = val(g, "z", VAL_INTERMEDIATE);
	node1(g, "n0", "Relu", x, y);
	node1(g, "n1", "Foo", y, z);
	want_finalize_err(g, ERR_UNSUPPORTED, "node 'n1' (Foo): operator 'Foo' is not supported");

	/* op names are case-sensitive, as in ONNX */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	y = val(g, "y", VAL_INTERMEDIATE);
	node1(g, "n0", "relu", x, y);
	want_finalize_err(g, ERR_UNSUPPORTED, "node 'n0' (relu): operator 'relu' is not supported");

	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	y = val(g, "y", VAL_INTERMEDIATE);
	node1(g, "n0", "Relu", x, y);
	g->nodes[0].domain = "com.microsoft";
	want_finalize_err(g, ERR_UNSUPPORTED,
			  "node 'n0' (Relu): operator domain 'com.microsoft' is not supported");

	/* "ai.onnx" is the default domain spelled out */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	y = val(g, "y", VAL_INTERMEDIATE);
	node1(g, "n0", "Relu", x, y);
	g->nodes[0].domain = "ai.onnx";
	finalize_ok(g);
	graph_free(g);

	/* an op newer than the model's opset */
	g = graph_new();
	g->opset = 13;
	x = val(g, "x", VAL_INPUT);
	y = val(g, "y", VAL_INTERMEDIATE);
	node1(g, "g0", "Gelu", x, y);
	want_finalize_err(g, ERR_UNSUPPORTED, "node 'g0' (Gelu): needs opset 20, model has 13");
}

static void test_undefined_input(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	int x = val(g, "x", VAL_INPUT), y = val(g, "y", VAL_INTERMEDIATE);
	int ghost = val(g, "ghost", VAL_INTERMEDIATE), z = val(g, "z", VAL_INTERMEDIATE);
	node1(g, "n0", "Relu", x, y);
	node(g, "n1", "Add", 2, (int[]){ y, ghost }, 1, &z, NULL, 0);
	want_finalize_err(g, ERR_GRAPH, "node 'n1' (Add): input is not defined: 'ghost'");

	/* an index past the value table */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	y = val(g, "y", VAL_INTERMEDIATE);
	node(g, "n0", "Add", 2, (int[]){ x, 7 }, 1, &y, NULL, 0);
	want_finalize_err(g, ERR_GRAPH, "node 'n0' (Add): input 1 out of range");
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	node(g, "n0", "Relu", 1, &x, 1, (int[]){ 3 }, NULL, 0);
	want_finalize_err(g, ERR_GRAPH, "node 'n0' (Relu): output 0 out of range");

	/* omitted optional inputs (-1) are fine */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	int w = val(g, "w", VAL_CONST);
	y = val(g, "y", VAL_INTERMEDIATE);
	node(g, "c", "Conv", 3, (int[]){ x, w, -1 }, 1, &y, NULL, 0);
	finalize_ok(g);
	graph_free(g);
}

static void test_produced_twice(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	int x = val(g, "x", VAL_INPUT), y = val(g, "y", VAL_INTERMEDIATE);
	node1(g, "n1", "Relu", x, y);
	node1(g, "n2", "Identity", x, y);
	want_finalize_err(g, ERR_GRAPH, "node 'n2' (Identity): writes a value that is already defined: 'y'");

	/* writing a graph input or a constant */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	int w = val(g, "w", VAL_CONST);
	node1(g, "n1", "Relu", x, w);
	want_finalize_err(g, ERR_GRAPH, "node 'n1' (Relu): writes a value that is already defined: 'w'");
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	node1(g, "n1", "Relu", x, x);
	want_finalize_err(g, ERR_GRAPH, "node 'n1' (Relu): writes a value that is already defined: 'x'");

	/* one node listing the same output twice */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	y = val(g, "y", VAL_INTERMEDIATE);
	node(g, "s", "Split", 1, &x, 2, (int[]){ y, y }, NULL, 0);
	want_finalize_err(g, ERR_GRAPH, "node 's' (Split): writes a value that is already defined: 'y'");
}

static void test_cycles(void **state)
{
	(void)state;
	/* two nodes feeding each other */
	struct graph *g = graph_new();
	int x = val(g, "x", VAL_INPUT), a = val(g, "a", VAL_INTERMEDIATE);
	int b = val(g, "b", VAL_INTERMEDIATE);
	node(g, "A", "Add", 2, (int[]){ x, b }, 1, &a, NULL, 0);
	node1(g, "B", "Relu", a, b);
	want_finalize_err(g, ERR_GRAPH, "node 'A' (Add): the graph has a cycle through this node");

	/* a self-loop */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	a = val(g, "a", VAL_INTERMEDIATE);
	node(g, "selfie", "Add", 2, (int[]){ x, a }, 1, &a, NULL, 0);
	want_finalize_err(g, ERR_GRAPH, "node 'selfie' (Add): the graph has a cycle through this node");

	/* the node named must be on the cycle, not merely downstream of it: C reads the
	 * A <-> B loop and comes first in the list */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	a = val(g, "a", VAL_INTERMEDIATE);
	b = val(g, "b", VAL_INTERMEDIATE);
	int c = val(g, "c", VAL_INTERMEDIATE);
	node1(g, "C", "Relu", a, c);
	node(g, "A", "Add", 2, (int[]){ x, b }, 1, &a, NULL, 0);
	node1(g, "B", "Relu", a, b);
	struct err e = { 0 };
	assert_int_equal(graph_finalize(g, &e), ERR_GRAPH);
	assert_non_null(strstr(e.msg, "the graph has a cycle through this node"));
	if (strncmp(e.msg, "node 'A' ", 9) && strncmp(e.msg, "node 'B' ", 9))
		fail_msg("names a node off the cycle: %s", e.msg);
	graph_free(g);

	/* a longer loop behind a valid prefix */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	int v[6];
	char nm[8];
	for (int i = 0; i < 6; i++) {
		snprintf(nm, sizeof nm, "v%d", i);
		v[i] = val(g, nm, VAL_INTERMEDIATE);
	}
	node1(g, "n0", "Relu", x, v[0]);
	node(g, "n1", "Add", 2, (int[]){ v[0], v[5] }, 1, &v[1], NULL, 0);
	for (int i = 2; i < 6; i++) {
		snprintf(nm, sizeof nm, "n%d", i);
		node1(g, nm, "Relu", v[i - 1], v[i]);
	}
	want_finalize_err(g, ERR_GRAPH, "node 'n1' (Add): the graph has a cycle");
}

static void test_output_not_produced(void **state)
{
	(void)state;
	struct graph *g = graph_new();
	struct err e = { 0 };
	int x = val(g, "x", VAL_INPUT), y = val(g, "y", VAL_INTERMEDIATE);
	int z = val(g, "z", VAL_INTERMEDIATE);
	node1(g, "n0", "Relu", x, y);
	assert_int_equal(graph_add_input(g, x, &e), OK);
	assert_int_equal(graph_add_output(g, y, &e), OK);
	assert_int_equal(graph_add_output(g, z, &e), OK);
	want_finalize_err(g, ERR_GRAPH, "graph output 'z' is not produced by any node");

	/* a graph input or a constant may be a graph output */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	int w = val(g, "w", VAL_CONST);
	assert_int_equal(graph_add_input(g, x, &e), OK);
	assert_int_equal(graph_add_output(g, x, &e), OK);
	assert_int_equal(graph_add_output(g, w, &e), OK);
	finalize_ok(g);
	graph_free(g);
}

/* --- topological sort ------------------------------------------------------------ */

static void want_order(const struct graph *g, const char *const *names, int n)
{
	assert_int_equal(g->n_nodes, n);
	for (int i = 0; i < n; i++)
		if (strcmp(g->nodes[i].name, names[i]) != 0)
			fail_msg("node %d is '%s', want '%s'", i, g->nodes[i].name, names[i]);
	/* producers follow the new order */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < g->nodes[i].n_outputs; k++)
			assert_int_equal(g->values[g->nodes[i].outputs[k]].producer, i);
}

static void test_topo_sort(void **state)
{
	(void)state;
	/* chain x -> a -> b -> c -> d listed backwards */
	struct graph *g = graph_new();
	int x = val(g, "x", VAL_INPUT), a = val(g, "a", VAL_INTERMEDIATE);
	int b = val(g, "b", VAL_INTERMEDIATE), c = val(g, "c", VAL_INTERMEDIATE);
	int d = val(g, "d", VAL_INTERMEDIATE);
	node1(g, "n3", "Relu", c, d);
	node1(g, "n2", "Relu", b, c);
	node1(g, "n1", "Relu", a, b);
	node1(g, "n0", "Relu", x, a);
	finalize_ok(g);
	want_order(g, (const char *[]){ "n0", "n1", "n2", "n3" }, 4);
	/* the node arrays moved with their nodes */
	assert_int_equal(g->nodes[0].inputs[0], x);
	assert_int_equal(g->nodes[3].outputs[0], d);
	graph_free(g);

	/* a shuffled diamond with a constant and a second branch:
	 *   x -> p(Relu) -> q(Mul p,w) -> s(Add q,r) ;  p -> r(Identity) ;  s -> t(Relu)  */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	int w = val(g, "w", VAL_CONST);
	int vp = val(g, "vp", VAL_INTERMEDIATE), vq = val(g, "vq", VAL_INTERMEDIATE);
	int vr = val(g, "vr", VAL_INTERMEDIATE), vs = val(g, "vs", VAL_INTERMEDIATE);
	int vt = val(g, "vt", VAL_INTERMEDIATE);
	node1(g, "t", "Relu", vs, vt);
	node(g, "s", "Add", 2, (int[]){ vq, vr }, 1, &vs, NULL, 0);
	node1(g, "r", "Identity", vp, vr);
	node(g, "q", "Mul", 2, (int[]){ vp, w }, 1, &vq, NULL, 0);
	node1(g, "p", "Relu", x, vp);
	finalize_ok(g);
	/* after p both r (index 2) and q (index 3) are ready: lowest index first */
	want_order(g, (const char *[]){ "p", "r", "q", "s", "t" }, 5);
	graph_free(g);

	/* an already sorted graph keeps its order, even where another order is valid */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	int o[6];
	char nm[8];
	for (int i = 0; i < 6; i++) {
		snprintf(nm, sizeof nm, "o%d", i);
		o[i] = val(g, nm, VAL_INTERMEDIATE);
	}
	node1(g, "k0", "Relu", x, o[0]);
	node1(g, "k1", "Relu", x, o[1]); /* independent of k0 */
	node1(g, "k2", "Relu", o[1], o[2]);
	node1(g, "k3", "Relu", o[0], o[3]);
	node(g, "k4", "Add", 2, (int[]){ o[2], o[3] }, 1, &o[4], NULL, 0);
	node1(g, "k5", "Relu", x, o[5]);
	const char *sorted[] = { "k0", "k1", "k2", "k3", "k4", "k5" };
	finalize_ok(g);
	want_order(g, sorted, 6);
	finalize_ok(g);
	want_order(g, sorted, 6);
	graph_free(g);

	/* a node reading the same value twice */
	g = graph_new();
	x = val(g, "x", VAL_INPUT);
	a = val(g, "a", VAL_INTERMEDIATE);
	b = val(g, "b", VAL_INTERMEDIATE);
	node(g, "sq", "Mul", 2, (int[]){ a, a }, 1, &b, NULL, 0);
	node1(g, "r", "Relu", x, a);
	finalize_ok(g);
	want_order(g, (const char *[]){ "r", "sq" }, 2);
	graph_free(g);
}

/* a long shuffled chain: every node lands after its producer */
static void test_topo_sort_big(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct graph *g = graph_new();
	int v[N + 1];
	char nm[16];
	v[0] = val(g, "x", VAL_INPUT);
	for (int i = 1; i <= N; i++) {
		snprintf(nm, sizeof nm, "v%d", i);
		v[i] = val(g, nm, VAL_INTERMEDIATE);
	}
	int perm[N];
	for (int i = 0; i < N; i++)
		perm[i] = i;
	unsigned seed = 12345;
	for (int i = N - 1; i > 0; i--) {
		seed = seed * 1103515245u + 12345u;
		int j = (int)((seed >> 8) % (unsigned)(i + 1));
		int t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int i = 0; i < N; i++) {
		int k = perm[i]; /* node k: v[k] -> v[k+1] */
		snprintf(nm, sizeof nm, "n%d", k);
		node1(g, nm, "Relu", v[k], v[k + 1]);
	}
	finalize_ok(g);
	for (int i = 0; i < N; i++) {
		snprintf(nm, sizeof nm, "n%d", i);
		assert_string_equal(g->nodes[i].name, nm);
		assert_int_equal(g->values[v[i + 1]].producer, i);
	}
	graph_free(g);
}

/* --- attributes ------------------------------------------------------------------ */

static void test_attrs(void **state)
{
	(void)state;
	static const int64_t ints[3] = { 1, -2, 3 };
	static const float floats[2] = { 0.5f, -1.5f };
	struct attr attrs[] = {
		{ .name = "axis", .type = ATTR_INT, .i = -1 },
		{ .name = "alpha", .type = ATTR_FLOAT, .f = 0.25f },
		{ .name = "mode", .type = ATTR_STRING, .s = "linear", .s_len = 6 },
		{ .name = "pads", .type = ATTR_INTS, .ints = ints, .n = 3 },
		{ .name = "scales", .type = ATTR_FLOATS, .floats = floats, .n = 2 },
		{ .name = "beta", .type = ATTR_FLOAT, .f = 2.0f },
	};
	struct node n = { .name = "n1", .op_type = "Foo", .n_attrs = 6, .attrs = attrs };
	struct err e = { 0 };
	int64_t i;
	float f;
	const char *s;
	const int64_t *iv;
	const float *fv;
	int cnt;

	assert_ptr_equal(node_attr(&n, "mode"), &attrs[2]);
	assert_null(node_attr(&n, "Mode"));
	assert_int_equal(node_attr_int(&n, "axis", 7, &i, &e), OK);
	assert_int_equal(i, -1);
	assert_int_equal(node_attr_int(&n, "missing", 7, &i, &e), OK);
	assert_int_equal(i, 7);
	assert_int_equal(node_attr_float(&n, "alpha", 1.0f, &f, &e), OK);
	assert_true(f == 0.25f);
	assert_int_equal(node_attr_float(&n, "missing", 1.5f, &f, &e), OK);
	assert_true(f == 1.5f);
	assert_int_equal(node_attr_string(&n, "mode", "nearest", &s, &e), OK);
	assert_string_equal(s, "linear");
	assert_int_equal(node_attr_string(&n, "missing", "nearest", &s, &e), OK);
	assert_string_equal(s, "nearest");
	assert_int_equal(node_attr_string(&n, "missing", NULL, &s, &e), OK);
	assert_null(s);
	assert_int_equal(node_attr_ints(&n, "pads", &iv, &cnt, &e), OK);
	assert_ptr_equal(iv, ints);
	assert_int_equal(cnt, 3);
	assert_int_equal(node_attr_ints(&n, "missing", &iv, &cnt, &e), OK);
	assert_null(iv);
	assert_int_equal(cnt, 0);
	assert_int_equal(node_attr_floats(&n, "scales", &fv, &cnt, &e), OK);
	assert_ptr_equal(fv, floats);
	assert_int_equal(cnt, 2);
	assert_int_equal(node_attr_floats(&n, "missing", &fv, &cnt, &e), OK);
	assert_null(fv);
	assert_int_equal(cnt, 0);

	/* wrong types: ERR_INVALID naming the attribute; the output keeps the default */
	struct attr axis_f = { .name = "axis", .type = ATTR_FLOAT, .f = 1.0f };
	struct node m = { .name = "n1", .op_type = "Foo", .n_attrs = 1, .attrs = &axis_f };
	i = 99;
	assert_int_equal(node_attr_int(&m, "axis", 3, &i, &e), ERR_INVALID);
	assert_int_equal(e.code, ERR_INVALID);
	assert_string_equal(e.msg, "attribute 'axis' has type float, expected int");
	assert_int_equal(i, 3);
	assert_int_equal(node_attr_float(&n, "axis", 0, &f, &e), ERR_INVALID);
	assert_string_equal(e.msg, "attribute 'axis' has type int, expected float");
	assert_int_equal(node_attr_string(&n, "pads", "x", &s, &e), ERR_INVALID);
	assert_string_equal(e.msg, "attribute 'pads' has type ints, expected string");
	assert_int_equal(node_attr_ints(&n, "axis", &iv, &cnt, &e), ERR_INVALID);
	assert_string_equal(e.msg, "attribute 'axis' has type int, expected ints");
	assert_null(iv);
	assert_int_equal(cnt, 0);
	assert_int_equal(node_attr_floats(&n, "mode", &fv, &cnt, &e), ERR_INVALID);
	assert_string_equal(e.msg, "attribute 'mode' has type string, expected floats");
	struct attr odd = { .name = "g", .type = (enum attr_type)42 };
	struct node o = { .name = "n1", .op_type = "Foo", .n_attrs = 1, .attrs = &odd };
	assert_int_equal(node_attr_int(&o, "g", 0, &i, &e), ERR_INVALID);
	assert_string_equal(e.msg, "attribute 'g' has type unknown, expected int");
	/* a NULL err is allowed */
	assert_int_equal(node_attr_int(&m, "axis", 3, &i, NULL), ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_outputs_inputs),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_undefined_input),
		cmocka_unit_test(test_produced_twice),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_output_not_produced),
		cmocka_unit_test(test_topo_sort),
		cmocka_unit_test(test_topo_sort_big),
		cmocka_unit_test(test_attrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
