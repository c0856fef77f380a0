/*
 * graph.h - qlens' own graph IR, independent of protobuf.
 *
 * A graph is a list of values (named tensor slots) and a list of nodes in
 * topological order.  Every value is produced by exactly one node, or is a
 * graph input, or is a constant (initializer or former Constant node).  Node
 * inputs and outputs are indices into `values`; an omitted optional input or
 * output (empty name in ONNX) is -1.
 *
 * The graph owns everything it points to: names, attributes and constant
 * tensors live in its arena (see graph_strdup / graph_alloc) and go away with
 * graph_free().  It is immutable once graph_finalize() has run, so any
 * number of threads may read it at once.
 *
 * Shapes recorded here are the declared ones (graph inputs/outputs, value_info)
 * with -1 for symbolic dims; concrete shapes come from planning (exec.h),
 * where each op's prepare() infers them for concrete input shapes.
 */
#ifndef QLENS_GRAPH_H
#define QLENS_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "status.h"
#include "tensor.h"

enum value_kind {
	VAL_INPUT,	  /* graph input fed by the caller */
	VAL_CONST,	  /* initializer or Constant node output; `constant` holds data */
	VAL_INTERMEDIATE, /* produced by a node */
};

struct value {
	const char *name;
	enum value_kind kind;
	enum dtype dtype;      /* DT_UNDEFINED when not declared */
	struct shape shape;    /* declared shape; rank -1 when unknown */
	struct tensor constant;	/* VAL_CONST only: data (borrowed from the arena or owned) */
	int producer;	       /* node index, -1 for inputs and constants */
	bool is_output;	       /* a graph output */
};

enum attr_type {
	ATTR_UNDEFINED = 0,
	ATTR_FLOAT = 1,
	ATTR_INT = 2,
	ATTR_STRING = 3,
	ATTR_TENSOR = 4,
	ATTR_GRAPH = 5,
	ATTR_FLOATS = 6,
	ATTR_INTS = 7,
	ATTR_STRINGS = 8,
}; /* ids are ONNX AttributeProto.AttributeType */

struct attr {
	const char *name;
	enum attr_type type;
	float f;
	int64_t i;
	const char *s;	  /* ATTR_STRING (NUL-terminated; s_len for embedded NULs) */
	size_t s_len;
	int n;		  /* count of floats / ints / strings */
	const float *floats;
	const int64_t *ints;
	const char *const *strings;
	struct tensor t;  /* ATTR_TENSOR */
};

struct node {
	const char *name;     /* ONNX node name; the loader invents "<op>_<index>" for unnamed nodes */
	const char *op_type;  /* ONNX op_type as written */
	const char *domain;   /* "" for the default domain */
	enum op_kind op;      /* OP_COUNT when unsupported (graph_finalize rejects it) */
	int n_inputs, n_outputs;
	const int *inputs;    /* value indices, -1 for omitted optional */
	const int *outputs;
	int n_attrs;
	const struct attr *attrs;
};

struct graph {
	const char *name;
	int64_t ir_version;
	int64_t opset;		/* default-domain opset version */
	const char *producer_name;
	const char *producer_version;

	int n_values;
	struct value *values;
	int n_nodes;
	struct node *nodes;	/* topological order after graph_finalize */
	int n_inputs;
	int *inputs;		/* value indices of graph inputs (initializers excluded) */
	int n_outputs;
	int *outputs;		/* value indices of graph outputs */

	struct arena *arena;	/* owns all memory above */
};

/* --- building (used by the loader and by tests) ------------------------ */
struct graph *graph_new(void);
void graph_free(struct graph *g); /* accepts NULL */

/* Arena allocation owned by the graph; NULL on out of memory. Zeroed. */
void *graph_alloc(struct graph *g, size_t size);
const char *graph_strdup(struct graph *g, const char *s);
const char *graph_strndup(struct graph *g, const char *s, size_t n);

/* Add a value; returns its index or -1 (ERR_NOMEM / ERR_GRAPH for a duplicate
 * name).  The name is copied. */
int graph_add_value(struct graph *g, const char *name, enum value_kind kind, struct err *e);
/* Index of the value named `name`, or -1. */
int graph_find_value(const struct graph *g, const char *name);
/* Append a node (shallow copy; arrays must already live in the arena). */
enum status graph_add_node(struct graph *g, const struct node *n, struct err *e);
enum status graph_add_input(struct graph *g, int value, struct err *e);
enum status graph_add_output(struct graph *g, int value, struct err *e);

/*
 * Validate and finalize: resolve op kinds (unsupported op -> error naming the
 * node), check every node input is defined, every value produced once,
 * no cycles, outputs defined; sort nodes topologically (stable for graphs
 * already in order); fill value producers.  Error text names the node, e.g.
 * "node 'conv3' (Conv): input 'x' is not defined".
 */
enum status graph_finalize(struct graph *g, struct err *e);

/* --- queries ------------------------------------------------------------ */
const struct attr *node_attr(const struct node *n, const char *name);
/* Typed attribute getters with defaults.  They return ERR_INVALID naming the
 * node and attribute when the attribute exists with a different type. */
enum status node_attr_int(const struct node *n, const char *name, int64_t def, int64_t *out,
			  struct err *e);
enum status node_attr_float(const struct node *n, const char *name, float def, float *out,
			    struct err *e);
/* String attribute; *out = def when absent. */
enum status node_attr_string(const struct node *n, const char *name, const char *def,
			     const char **out, struct err *e);
/* Ints attribute: out and n_out point into the graph; (NULL, 0) when absent. */
enum status node_attr_ints(const struct node *n, const char *name, const int64_t **out,
			   int *n_out, struct err *e);
enum status node_attr_floats(const struct node *n, const char *name, const float **out,
			     int *n_out, struct err *e);

/* Index of the node named `name`, or -1. */
int graph_find_node(const struct graph *g, const char *name);

#endif
