/*
 * graph_builder.h - building small graphs by hand in cmocka tests.
 *
 * Include after <cmocka.h>.  Constants borrow static data; every helper
 * fails the running test on error.
 */
#ifndef QLENS_TEST_GRAPH_BUILDER_H
#define QLENS_TEST_GRAPH_BUILDER_H

#include <string.h>

#include "graph.h"

#define DIMS(...) ((const int64_t[]){ __VA_ARGS__ })

static inline int add_value(struct graph *g, const char *name, enum value_kind kind, enum dtype dt)
{
	struct err e = { 0 };
	int v = graph_add_value(g, name, kind, &e);
	if (v < 0)
		fail_msg("graph_add_value(%s): %s", name, e.msg);
	g->values[v].dtype = dt;
	return v;
}

/* A graph input with a declared shape (-1: symbolic). */
static inline int input(struct graph *g, const char *name, int rank, const int64_t *dims)
{
	struct err e = { 0 };
	int v = add_value(g, name, VAL_INPUT, DT_FLOAT);
	g->values[v].shape = shape_make(rank, dims);
	assert_int_equal(graph_add_input(g, v, &e), OK);
	return v;
}

/* A constant borrowing static data. */
static inline int constant(struct graph *g, const char *name, enum dtype dt, int rank,
		    const int64_t *dims, const void *data)
{
	int v = add_value(g, name, VAL_CONST, dt);
	struct shape s = shape_make(rank, dims);
	g->values[v].constant = tensor_view(dt, &s, (void *)data);
	g->values[v].shape = s;
	return v;
}

static inline int mid(struct graph *g, const char *name)
{
	return add_value(g, name, VAL_INTERMEDIATE, DT_UNDEFINED);
}

static inline void output(struct graph *g, int v)
{
	struct err e = { 0 };
	assert_int_equal(graph_add_output(g, v, &e), OK);
}

static inline void node(struct graph *g, const char *name, const char *op, int n_in, const int *ins,
		 int out, const struct attr *attrs, int n_attrs)
{
	struct err e = { 0 };
	struct node n = { 0 };
	n.name = graph_strdup(g, name);
	n.op_type = graph_strdup(g, op);
	n.domain = "";
	int *iv = graph_alloc(g, sizeof(int) * (size_t)n_in);
	int *ov = graph_alloc(g, sizeof(int));
	assert_true(iv && ov);
	memcpy(iv, ins, sizeof(int) * (size_t)n_in);
	*ov = out;
	if (n_attrs) {
		struct attr *av = graph_alloc(g, sizeof *av * (size_t)n_attrs);
		assert_non_null(av);
		memcpy(av, attrs, sizeof *av * (size_t)n_attrs);
		n.attrs = av;
	}
	n.n_inputs = n_in;
	n.inputs = iv;
	n.n_outputs = 1;
	n.outputs = ov;
	n.n_attrs = n_attrs;
	assert_int_equal(graph_add_node(g, &n, &e), OK);
}

#define IN(...) (int)(sizeof((int[]){ __VA_ARGS__ }) / sizeof(int)), ((const int[]){ __VA_ARGS__ })

static inline struct attr a_int(const char *name, int64_t v)
{
	return (struct attr){ .name = name, .type = ATTR_INT, .i = v };
}
static inline struct attr a_float(const char *name, float v)
{
	return (struct attr){ .name = name, .type = ATTR_FLOAT, .f = v };
}

static inline void finalize(struct graph *g)
{
	struct err e = { 0 };
	if (graph_finalize(g, &e))
		fail_msg("graph_finalize: %s", e.msg);
}

#endif
