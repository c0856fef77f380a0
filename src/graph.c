/*
 * graph.c - the graph IR: arena, values, nodes, validation and topological sort.
 *
 * All memory hangs off a simple chunked arena so that freeing a graph is one
 * walk over its chunks, and the loader never has to track individual
 * strings.  Values and nodes live in growable arrays (realloc'ed, owned by
 * the graph) because the loader does not know their count up front.
 * Value lookup by name uses a hash table rebuilt on demand.
 *
 * graph_finalize() is where structural problems become errors: unsupported
 * ops, undefined inputs, values produced twice, cycles.  Kahn's algorithm
 * sorts the nodes; taking the lowest ready index first keeps a graph that is
 * already in order unchanged.
 */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *head;
};

#define ARENA_CHUNK (64 * 1024)

static void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	struct arena_chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		/* keep the partly used head in front when a big block is a one-off */
		if (a->head && size > ARENA_CHUNK) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = (char *)c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

/* hash index over value names; rebuilt lazily */
struct name_index {
	int *slots; /* value index + 1, 0 = empty */
	size_t cap;
	int count; /* values indexed */
};

struct graph_priv {
	struct graph g;
	struct arena arena;
	int cap_values, cap_nodes, cap_inputs, cap_outputs;
	struct name_index idx;
};

static struct graph_priv *priv(const struct graph *g) { return (struct graph_priv *)g; }

struct graph *graph_new(void)
{
	struct graph_priv *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->g.arena = &p->arena;
	p->g.name = "";
	p->g.producer_name = "";
	p->g.producer_version = "";
	return &p->g;
}

void graph_free(struct graph *g)
{
	if (!g)
		return;
	struct graph_priv *p = priv(g);
	for (int i = 0; i < g->n_values; i++)
		tensor_fini(&g->values[i].constant);
	struct arena_chunk *c = p->arena.head;
	while (c) {
		struct arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	free(g->values);
	free(g->nodes);
	free(g->inputs);
	free(g->outputs);
	free(p->idx.slots);
	free(p);
}

void *graph_alloc(struct graph *g, size_t size) { return arena_alloc(g->arena, size ? size : 1); }

const char *graph_strndup(struct graph *g, const char *s, size_t n)
{
	char *d = graph_alloc(g, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

const char *graph_strdup(struct graph *g, const char *s) { return graph_strndup(g, s, strlen(s)); }

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static bool index_insert(struct name_index *x, const struct value *vals, int vi)
{
	if ((size_t)(x->count + 1) * 2 > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		int *slots = calloc(cap, sizeof *slots);
		if (!slots)
			return false;
		for (size_t i = 0; i < x->cap; i++) {
			if (!x->slots[i])
				continue;
			size_t h = hash_str(vals[x->slots[i] - 1].name) & (cap - 1);
			while (slots[h])
				h = (h + 1) & (cap - 1);
			slots[h] = x->slots[i];
		}
		free(x->slots);
		x->slots = slots;
		x->cap = cap;
	}
	size_t h = hash_str(vals[vi].name) & (x->cap - 1);
	while (x->slots[h])
		h = (h + 1) & (x->cap - 1);
	x->slots[h] = vi + 1;
	x->count++;
	return true;
}

int graph_find_value(const struct graph *g, const char *name)
{
	const struct name_index *x = &priv(g)->idx;
	if (!x->cap)
		return -1;
	size_t h = hash_str(name) & (x->cap - 1);
	while (x->slots[h]) {
		int vi = x->slots[h] - 1;
		if (strcmp(g->values[vi].name, name) == 0)
			return vi;
		h = (h + 1) & (x->cap - 1);
	}
	return -1;
}

static bool grow(void **arr, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return true;
	int nc = *cap ? *cap * 2 : 16;
	while (nc < need)
		nc *= 2;
	void *p = realloc(*arr, (size_t)nc * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = nc;
	return true;
}

int graph_add_value(struct graph *g, const char *name, enum value_kind kind, struct err *e)
{
	struct graph_priv *p = priv(g);
	if (graph_find_value(g, name) >= 0) {
		err_set(e, ERR_GRAPH, "value '%s' is defined more than once", name);
		return -1;
	}
	if (!grow((void **)&g->values, &p->cap_values, g->n_values + 1, sizeof *g->values)) {
		err_set(e, ERR_NOMEM, "out of memory");
		return -1;
	}
	struct value *v = &g->values[g->n_values];
	memset(v, 0, sizeof *v);
	v->name = graph_strdup(g, name);
	if (!v->name) {
		err_set(e, ERR_NOMEM, "out of memory");
		return -1;
	}
	v->kind = kind;
	v->producer = -1;
	v->shape.rank = -1;
	if (!index_insert(&p->idx, g->values, g->n_values)) {
		err_set(e, ERR_NOMEM, "out of memory");
		return -1;
	}
	return g->n_values++;
}

enum status graph_add_node(struct graph *g, const struct node *n, struct err *e)
{
	struct graph_priv *p = priv(g);
	if (!grow((void **)&g->nodes, &p->cap_nodes, g->n_nodes + 1, sizeof *g->nodes))
		return err_set(e, ERR_NOMEM, "out of memory");
	g->nodes[g->n_nodes++] = *n;
	return OK;
}

enum status graph_add_input(struct graph *g, int value, struct err *e)
{
	struct graph_priv *p = priv(g);
	if (!grow((void **)&g->inputs, &p->cap_inputs, g->n_inputs + 1, sizeof *g->inputs))
		return err_set(e, ERR_NOMEM, "out of memory");
	g->inputs[g->n_inputs++] = value;
	return OK;
}

enum status graph_add_output(struct graph *g, int value, struct err *e)
{
	struct graph_priv *p = priv(g);
	if (g->values[value].is_output)
		return err_set(e, ERR_GRAPH, "graph output '%s' is listed twice",
			       g->values[value].name);
	if (!grow((void **)&g->outputs, &p->cap_outputs, g->n_outputs + 1, sizeof *g->outputs))
		return err_set(e, ERR_NOMEM, "out of memory");
	g->outputs[g->n_outputs++] = value;
	g->values[value].is_output = true;
	return OK;
}

int graph_find_node(const struct graph *g, const char *name)
{
	for (int i = 0; i < g->n_nodes; i++)
		if (strcmp(g->nodes[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- finalize ------------------------------------------------------------ */

static enum status node_err(struct err *e, enum status code, const struct node *n, const char *what,
			    const char *name)
{
	return err_set(e, code, "node '%s' (%s): %s '%s'", n->name, n->op_type, what, name);
}

enum status graph_finalize(struct graph *g, struct err *e)
{
	enum status st = OK;
	int nn = g->n_nodes;
	int *indeg = calloc((size_t)nn + 1, sizeof *indeg);
	int *order = malloc(((size_t)nn + 1) * sizeof *order);
	/* consumers as CSR: for each value, the nodes reading it */
	int *cstart = calloc((size_t)g->n_values + 1, sizeof *cstart);
	int *clist = NULL;
	int *heap = malloc(((size_t)nn + 1) * sizeof *heap);
	struct node *sorted = NULL;
	if (!indeg || !order || !cstart || !heap) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}

	for (int i = 0; i < g->n_values; i++)
		g->values[i].producer = -1;

	for (int ni = 0; ni < nn; ni++) {
		struct node *n = &g->nodes[ni];
		if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) {
			st = err_set(e, ERR_UNSUPPORTED, "node '%s' (%s): operator domain '%s' is not supported",
				     n->name, n->op_type, n->domain);
			goto done;
		}
		n->op = op_lookup(n->op_type);
		if (n->op == OP_COUNT) {
			st = err_set(e, ERR_UNSUPPORTED, "node '%s' (%s): operator '%s' is not supported",
				     n->name, n->op_type, n->op_type);
			goto done;
		}
		if (g->opset && g->opset < op_defs[n->op].min_opset) {
			st = err_set(e, ERR_UNSUPPORTED, "node '%s' (%s): needs opset %d, model has %lld",
				     n->name, n->op_type, op_defs[n->op].min_opset,
				     (long long)g->opset);
			goto done;
		}
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v < 0)
				continue;
			if (v >= g->n_values) {
				st = err_set(e, ERR_GRAPH, "node '%s' (%s): output %d out of range",
					     n->name, n->op_type, k);
				goto done;
			}
			struct value *val = &g->values[v];
			if (val->kind != VAL_INTERMEDIATE || val->producer >= 0) {
				st = node_err(e, ERR_GRAPH, n,
					      "writes a value that is already defined:", val->name);
				goto done;
			}
			val->producer = ni;
		}
	}
	for (int ni = 0; ni < nn; ni++) {
		const struct node *n = &g->nodes[ni];
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			if (v < 0)
				continue;
			if (v >= g->n_values) {
				st = err_set(e, ERR_GRAPH, "node '%s' (%s): input %d out of range",
					     n->name, n->op_type, k);
				goto done;
			}
			const struct value *val = &g->values[v];
			if (val->kind == VAL_INTERMEDIATE && val->producer < 0) {
				st = node_err(e, ERR_GRAPH, n, "input is not defined:", val->name);
				goto done;
			}
			if (val->kind == VAL_INTERMEDIATE) {
				indeg[ni]++;
				cstart[v + 1]++;
			}
		}
	}
	for (int i = 0; i < g->n_outputs; i++) {
		const struct value *val = &g->values[g->outputs[i]];
		if (val->kind == VAL_INTERMEDIATE && val->producer < 0) {
			st = err_set(e, ERR_GRAPH, "graph output '%s' is not produced by any node",
				     val->name);
			goto done;
		}
	}
	for (int v = 0; v < g->n_values; v++)
		cstart[v + 1] += cstart[v];
	clist = malloc(((size_t)cstart[g->n_values] + 1) * sizeof *clist);
	if (!clist) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	{
		int *fill = calloc((size_t)g->n_values + 1, sizeof *fill);
		if (!fill) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int ni = 0; ni < nn; ni++) {
			const struct node *n = &g->nodes[ni];
			for (int k = 0; k < n->n_inputs; k++) {
				int v = n->inputs[k];
				if (v >= 0 && g->values[v].kind == VAL_INTERMEDIATE)
					clist[cstart[v] + fill[v]++] = ni;
			}
		}
		free(fill);
	}

	/* Kahn with a min-heap on node index: stable for sorted graphs */
	int hn = 0, no = 0;
#define HEAP_PUSH(x)                                                          \
	do {                                                                  \
		int i_ = hn++;                                                \
		heap[i_] = (x);                                               \
		while (i_ > 0 && heap[(i_ - 1) / 2] > heap[i_]) {             \
			int t_ = heap[i_];                                    \
			heap[i_] = heap[(i_ - 1) / 2];                        \
			heap[(i_ - 1) / 2] = t_;                              \
			i_ = (i_ - 1) / 2;                                    \
		}                                                             \
	} while (0)
	for (int ni = 0; ni < nn; ni++)
		if (indeg[ni] == 0)
			HEAP_PUSH(ni);
	while (hn > 0) {
		int top = heap[0];
		heap[0] = heap[--hn];
		for (int i = 0;;) {
			int l = 2 * i + 1, r = l + 1, m = i;
			if (l < hn && heap[l] < heap[m])
				m = l;
			if (r < hn && heap[r] < heap[m])
				m = r;
			if (m == i)
				break;
			int t = heap[i];
			heap[i] = heap[m];
			heap[m] = t;
			i = m;
		}
		order[no++] = top;
		const struct node *n = &g->nodes[top];
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v < 0)
				continue;
			for (int c = cstart[v]; c < cstart[v + 1]; c++)
				if (--indeg[clist[c]] == 0)
					HEAP_PUSH(clist[c]);
		}
	}
#undef HEAP_PUSH
	if (no < nn) {
		/* The unsorted nodes are the cycles plus everything downstream of them.
		 * Each has an unsorted producer among its inputs, so walking from one
		 * to such a producer must revisit a node: that one is on a cycle.
		 * The heap is empty now; it serves as the visited flags. */
		memset(heap, 0, ((size_t)nn + 1) * sizeof *heap);
		int cur = 0;
		while (indeg[cur] == 0)
			cur++;
		while (!heap[cur]) {
			heap[cur] = 1;
			const struct node *n = &g->nodes[cur];
			for (int k = 0; k < n->n_inputs; k++) {
				int v = n->inputs[k];
				if (v < 0 || g->values[v].kind != VAL_INTERMEDIATE)
					continue;
				if (indeg[g->values[v].producer] > 0) {
					cur = g->values[v].producer;
					break;
				}
			}
		}
		st = err_set(e, ERR_GRAPH, "node '%s' (%s): the graph has a cycle through this node",
			     g->nodes[cur].name, g->nodes[cur].op_type);
		goto done;
	}
	sorted = malloc(((size_t)nn + 1) * sizeof *sorted);
	if (!sorted) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int i = 0; i < nn; i++)
		sorted[i] = g->nodes[order[i]];
	if (nn)
		memcpy(g->nodes, sorted, (size_t)nn * sizeof *sorted);
	for (int ni = 0; ni < nn; ni++)
		for (int k = 0; k < g->nodes[ni].n_outputs; k++)
			if (g->nodes[ni].outputs[k] >= 0)
				g->values[g->nodes[ni].outputs[k]].producer = ni;
done:
	free(indeg);
	free(order);
	free(cstart);
	free(clist);
	free(heap);
	free(sorted);
	return st;
}

/* ---- attributes ---------------------------------------------------------- */

const struct attr *node_attr(const struct node *n, const char *name)
{
	for (int i = 0; i < n->n_attrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}

static const char *attr_type_name(enum attr_type t)
{
	static const char *const names[] = { "undefined", "float", "int", "string", "tensor",
					     "graph", "floats", "ints", "strings" };
	return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static enum status want(const struct attr *a, enum attr_type t, struct err *e)
{
	if (a->type != t)
		return err_set(e, ERR_INVALID, "attribute '%s' has type %s, expected %s", a->name,
			       attr_type_name(a->type), attr_type_name(t));
	return OK;
}

enum status node_attr_int(const struct node *n, const char *name, int64_t def, int64_t *out,
			  struct err *e)
{
	const struct attr *a = node_attr(n, name);
	*out = def;
	if (!a)
		return OK;
	enum status st = want(a, ATTR_INT, e);
	if (!st)
		*out = a->i;
	return st;
}

enum status node_attr_float(const struct node *n, const char *name, float def, float *out,
			    struct err *e)
{
	const struct attr *a = node_attr(n, name);
	*out = def;
	if (!a)
		return OK;
	enum status st = want(a, ATTR_FLOAT, e);
	if (!st)
		*out = a->f;
	return st;
}

enum status node_attr_string(const struct node *n, const char *name, const char *def,
			     const char **out, struct err *e)
{
	const struct attr *a = node_attr(n, name);
	*out = def;
	if (!a)
		return OK;
	enum status st = want(a, ATTR_STRING, e);
	if (!st)
		*out = a->s;
	return st;
}

enum status node_attr_ints(const struct node *n, const char *name, const int64_t **out,
			   int *n_out, struct err *e)
{
	const struct attr *a = node_attr(n, name);
	*out = NULL;
	*n_out = 0;
	if (!a)
		return OK;
	enum status st = want(a, ATTR_INTS, e);
	if (!st) {
		*out = a->ints;
		*n_out = a->n;
	}
	return st;
}

enum status node_attr_floats(const struct node *n, const char *name, const float **out,
			     int *n_out, struct err *e)
{
	const struct attr *a = node_attr(n, name);
	*out = NULL;
	*n_out = 0;
	if (!a)
		return OK;
	enum status st = want(a, ATTR_FLOATS, e);
	if (!st) {
		*out = a->floats;
		*n_out = a->n;
	}
	return st;
}
