/*
 * onnx_save.c - apply an edit list to an ONNX model file and write it back.
 *
 * Why this exists: exports (QDQ models) must be the user's model with a few
 * nodes and initializers added, not a model regenerated from qlens' IR,
 * which drops whatever it does not model.  So the file is unpacked again
 * with protobuf-c, edited in place and packed: fields that were not touched
 * are written back as they were read, including fields of newer ONNX
 * versions that the (older) compiled schema does not know, which protobuf-c
 * keeps as unknown fields and packs again.
 *
 * How: the same pre-flight wire check as the loader (onnx_wire_check) runs
 * before protobuf-c sees the bytes.  Unpacking goes through an arena
 * allocator with the loader's byte budget; everything the edit adds (new
 * messages, pointer arrays, strings) comes from the same arena, so the
 * edited message can freely mix old and new parts and the whole lot is
 * released at once, without protobuf-c's free_unpacked (which would try to
 * free the parts we added).  Names are looked up through small hash maps, so
 * an edit of a large model costs O(nodes + edits).
 *
 * Raising the opset rewrites the few node interfaces that changed between
 * opset 11 and 21 for operators qlens supports: attributes that became
 * inputs (Squeeze, Unsqueeze, ReduceSum, Split at 13; the other Reduce*
 * at 18), Split's num_outputs at 18, and Softmax-family axis semantics at 13
 * (accepted only when the meaning cannot change).  Anything older than
 * opset 11 is refused with a hint to use onnx.version_converter.
 *
 * The final node list is a stable topological sort of the original nodes
 * with the new ones placed where the edit asked, so untouched nodes keep
 * their relative order.
 */
#include "onnx_save.h"

#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "onnx.pb-c.h"
#include "onnx_load.h"
#include "onnx_wire.h"

/* ---- arena allocator ----------------------------------------------------------- */

union arena_head {
	union arena_head *next;
	max_align_t align;
};

struct arena {
	union arena_head *blocks;
	size_t used, limit; /* limit applies to protobuf-c's unpacking only */
	bool exceeded, unlimited;
};

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	size_t need = size + sizeof(union arena_head);
	if (need < size)
		return NULL;
	if (!a->unlimited && need > a->limit - a->used) {
		a->exceeded = true;
		return NULL;
	}
	union arena_head *h = malloc(need);
	if (!h)
		return NULL;
	h->next = a->blocks;
	a->blocks = h;
	a->used += need;
	return h + 1;
}

static void arena_nofree(void *data, void *p)
{
	(void)data;
	(void)p; /* everything goes at once in arena_release */
}

static void arena_release(struct arena *a)
{
	while (a->blocks) {
		union arena_head *n = a->blocks->next;
		free(a->blocks);
		a->blocks = n;
	}
}

static void *az(struct arena *a, size_t size)
{
	void *p = arena_alloc(a, size ? size : 1);
	if (p)
		memset(p, 0, size ? size : 1);
	return p;
}

static char *astrdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

/* ---- string -> int map ----------------------------------------------------------- */

struct smap {
	const char **keys;
	int *vals;
	size_t cap, count;
};

static uint64_t shash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void smap_free(struct smap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static int smap_get(const struct smap *m, const char *k)
{
	if (!m->cap || !k)
		return -1;
	for (size_t h = shash(k) & (m->cap - 1); m->keys[h]; h = (h + 1) & (m->cap - 1))
		if (strcmp(m->keys[h], k) == 0)
			return m->vals[h];
	return -1;
}

/* Insert or overwrite; k must outlive the map.  false on out of memory. */
static bool smap_put(struct smap *m, const char *k, int v)
{
	if ((m->count + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		const char **keys = calloc(cap, sizeof *keys);
		int *vals = calloc(cap, sizeof *vals);
		if (!keys || !vals) {
			free(keys);
			free(vals);
			return false;
		}
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->keys[i])
				continue;
			size_t h = shash(m->keys[i]) & (cap - 1);
			while (keys[h])
				h = (h + 1) & (cap - 1);
			keys[h] = m->keys[i];
			vals[h] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->cap = cap;
	}
	size_t h = shash(k) & (m->cap - 1);
	for (; m->keys[h]; h = (h + 1) & (m->cap - 1))
		if (strcmp(m->keys[h], k) == 0) {
			m->vals[h] = v;
			return true;
		}
	m->keys[h] = k;
	m->vals[h] = v;
	m->count++;
	return true;
}

/* ---- reading -------------------------------------------------------------------------- */

static enum status nomem(struct err *e) { return err_set(e, ERR_NOMEM, "out of memory"); }

static const char *s0(const char *s) { return s ? s : ""; }

static bool default_domain(const char *d) { return !d || !d[0] || strcmp(d, "ai.onnx") == 0; }

/* Unpack path into *m (memory from arena a).  Errors are not yet prefixed. */
static enum status read_model(const char *path, struct arena *a, Onnx__ModelProto **m,
			      struct err *e)
{
	void *buf = NULL;
	size_t len = 0;
	enum status st = file_read_all(path, ONNX_MAX_FILE_BYTES, &buf, &len, e);
	if (st)
		return st;
	if (len == 0) {
		free(buf);
		return err_set(e, ERR_FORMAT, "the file is empty (not an ONNX model)");
	}
	st = onnx_wire_check(buf, len, ONNX_MAX_DEPTH, e);
	if (st) {
		free(buf);
		err_prefix(e, "not a valid ONNX model");
		return st;
	}
	a->limit = len * ONNX_ALLOC_BUDGET_FACTOR;
	if (a->limit < ONNX_ALLOC_BUDGET_MIN)
		a->limit = ONNX_ALLOC_BUDGET_MIN;
	ProtobufCAllocator alloc = { .alloc = arena_alloc, .free = arena_nofree,
				     .allocator_data = a };
	*m = onnx__model_proto__unpack(&alloc, len, buf);
	free(buf);
	a->unlimited = true; /* our own additions are not budgeted */
	if (!*m) {
		if (a->exceeded)
			return err_set(e, ERR_LIMIT, "the model needs more than %zu MB to decode",
				       a->limit >> 20);
		return err_set(e, ERR_FORMAT, "not a valid ONNX model (protobuf decoding failed)");
	}
	if (!(*m)->graph)
		return err_set(e, ERR_FORMAT, "the model has no graph (not an ONNX model?)");
	return OK;
}

/* ---- editing state ---------------------------------------------------------------------- */

struct editor {
	struct arena *a;
	Onnx__ModelProto *m;
	Onnx__GraphProto *gp;
	/* growing node / initializer lists (arena pointer arrays, reallocated by copy) */
	Onnx__NodeProto **nodes;
	size_t n_nodes, cap_nodes;
	Onnx__TensorProto **inits;
	size_t n_inits, cap_inits;
	struct smap names; /* every value name in use: initializers, inputs, node outputs */
};

static bool grow(struct arena *a, void ***arr, size_t *n, size_t *cap, void *item)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void **na = arena_alloc(a, nc * sizeof *na);
		if (!na)
			return false;
		if (*n)
			memcpy(na, *arr, *n * sizeof *na);
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = item;
	return true;
}

static bool add_node(struct editor *ed, Onnx__NodeProto *n)
{
	return grow(ed->a, (void ***)&ed->nodes, &ed->n_nodes, &ed->cap_nodes, n);
}

static bool add_init(struct editor *ed, Onnx__TensorProto *t)
{
	return grow(ed->a, (void ***)&ed->inits, &ed->n_inits, &ed->cap_inits, t);
}

/* A value name not used anywhere yet, from base (base itself when free). */
static const char *fresh_name(struct editor *ed, const char *base)
{
	if (smap_get(&ed->names, base) < 0) {
		char *s = astrdup(ed->a, base);
		if (s && !smap_put(&ed->names, s, 0))
			return NULL;
		return s;
	}
	size_t n = strlen(base) + 24;
	char *s = arena_alloc(ed->a, n);
	if (!s)
		return NULL;
	for (unsigned k = 2;; k++) {
		snprintf(s, n, "%s_%u", base, k);
		if (smap_get(&ed->names, s) < 0)
			break;
	}
	return smap_put(&ed->names, s, 0) ? s : NULL;
}

static Onnx__TensorProto *new_tensor(struct editor *ed, const char *name, enum dtype dt,
				     const struct shape *sh, const void *data, struct err *e)
{
	struct arena *a = ed->a;
	Onnx__TensorProto *t = az(a, sizeof *t);
	if (!t) {
		nomem(e);
		return NULL;
	}
	onnx__tensor_proto__init(t);
	t->name = astrdup(a, name);
	t->has_data_type = true;
	t->data_type = (int32_t)dt;
	t->n_dims = (size_t)sh->rank;
	t->dims = az(a, (size_t)(sh->rank ? sh->rank : 1) * sizeof *t->dims);
	int64_t n = 1;
	for (int d = 0; d < sh->rank; d++) {
		t->dims[d] = sh->dim[d];
		n *= sh->dim[d];
	}
	size_t es = dtype_size(dt);
	bool four = dt == DT_INT4 || dt == DT_UINT4;
	size_t bytes = four ? (size_t)(n + 1) / 2 : (size_t)n * es;
	uint8_t *raw = az(a, bytes);
	if (!t->name || !t->dims || !raw) {
		nomem(e);
		return NULL;
	}
	if (four) {
		const uint8_t *src = data;
		for (int64_t i = 0; i < n; i++)
			raw[i / 2] |= (uint8_t)((src[i] & 0xf) << (4 * (i & 1)));
	} else if (bytes) {
		memcpy(raw, data, bytes);
	}
	t->has_raw_data = true;
	t->raw_data.len = bytes;
	t->raw_data.data = raw;
	return t;
}

static Onnx__AttributeProto *int_attr(struct arena *a, const char *name, int64_t v)
{
	Onnx__AttributeProto *at = az(a, sizeof *at);
	if (!at)
		return NULL;
	onnx__attribute_proto__init(at);
	at->name = astrdup(a, name);
	at->has_type = true;
	at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	at->has_i = true;
	at->i = v;
	return at->name ? at : NULL;
}

static const char *first_output(const Onnx__NodeProto *n)
{
	for (size_t k = 0; k < n->n_output; k++)
		if (n->output[k] && n->output[k][0])
			return n->output[k];
	return NULL;
}

/* ---- opset conversion ------------------------------------------------------------------- */

struct attr_to_input {
	const char *op, *attr;
	int since;
};

static const struct attr_to_input attr_inputs[] = {
	{ "Squeeze", "axes", 13 },	  { "Unsqueeze", "axes", 13 },
	{ "ReduceSum", "axes", 13 },	  { "Split", "split", 13 },
	{ "ReduceMax", "axes", 18 },	  { "ReduceMin", "axes", 18 },
	{ "ReduceMean", "axes", 18 },	  { "ReduceProd", "axes", 18 },
	{ "ReduceL1", "axes", 18 },	  { "ReduceL2", "axes", 18 },
	{ "ReduceLogSum", "axes", 18 },	  { "ReduceLogSumExp", "axes", 18 },
	{ "ReduceSumSquare", "axes", 18 },
};

static const char *node_label(const Onnx__NodeProto *n)
{
	return n->name && n->name[0] ? n->name : s0(first_output(n));
}

static Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name, size_t *at)
{
	for (size_t i = 0; i < n->n_attribute; i++)
		if (strcmp(s0(n->attribute[i]->name), name) == 0) {
			if (at)
				*at = i;
			return n->attribute[i];
		}
	return NULL;
}

static enum status upgrade_node(struct editor *ed, Onnx__NodeProto *n, int64_t from, int64_t to,
				struct err *e)
{
	struct arena *a = ed->a;
	const char *op = s0(n->op_type);
	if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0 ||
	    strcmp(op, "Hardmax") == 0) {
		if (from < 13 && to >= 13) {
			Onnx__AttributeProto *ax = find_attr(n, "axis", NULL);
			if (!ax || ax->i != -1)
				return err_set(e, ERR_UNSUPPORTED,
					       "node '%s' (%s): its axis semantics change at opset 13 "
					       "(only axis=-1 keeps its meaning); convert the model "
					       "with onnx.version_converter first", node_label(n), op);
		}
		return OK;
	}
	for (size_t r = 0; r < sizeof attr_inputs / sizeof *attr_inputs; r++) {
		const struct attr_to_input *c = &attr_inputs[r];
		if (strcmp(op, c->op) != 0 || !(from < c->since && to >= c->since))
			continue;
		size_t at;
		Onnx__AttributeProto *ap = find_attr(n, c->attr, &at);
		if (!ap)
			continue;
		if (n->n_input != 1)
			return err_set(e, ERR_FORMAT, "node '%s' (%s): has attribute '%s' and %zu "
				       "inputs", node_label(n), op, c->attr, n->n_input);
		struct shape sh = { .rank = 1, .dim = { (int64_t)ap->n_ints } };
		char base[512];
		snprintf(base, sizeof base, "%s_%s", node_label(n), c->attr);
		const char *iname = fresh_name(ed, base);
		Onnx__TensorProto *t =
			iname ? new_tensor(ed, iname, DT_INT64, &sh, ap->ints, e) : NULL;
		char **ins = az(a, 2 * sizeof *ins);
		Onnx__AttributeProto **attrs = az(a, n->n_attribute * sizeof *attrs);
		if (!t || !ins || !attrs || !add_init(ed, t))
			return nomem(e);
		ins[0] = n->input[0];
		ins[1] = (char *)iname;
		n->input = ins;
		n->n_input = 2;
		size_t k = 0;
		for (size_t i = 0; i < n->n_attribute; i++)
			if (i != at)
				attrs[k++] = n->attribute[i];
		n->attribute = attrs;
		n->n_attribute = k;
	}
	/* Split-18: without a 'split' input, num_outputs is required */
	if (strcmp(op, "Split") == 0 && from < 18 && to >= 18 &&
	    (n->n_input < 2 || !n->input[1][0]) && !find_attr(n, "num_outputs", NULL)) {
		Onnx__AttributeProto *na = int_attr(a, "num_outputs", (int64_t)n->n_output);
		Onnx__AttributeProto **attrs = az(a, (n->n_attribute + 1) * sizeof *attrs);
		if (!na || !attrs)
			return nomem(e);
		if (n->n_attribute)
			memcpy(attrs, n->attribute, n->n_attribute * sizeof *attrs);
		attrs[n->n_attribute++] = na;
		n->attribute = attrs;
	}
	return OK;
}

static enum status raise_opset(struct editor *ed, int64_t want, struct err *e)
{
	Onnx__ModelProto *m = ed->m;
	Onnx__OperatorSetIdProto *os = NULL;
	for (size_t i = 0; i < m->n_opset_import; i++)
		if (default_domain(m->opset_import[i]->domain))
			os = m->opset_import[i];
	int64_t from = os && os->has_version ? os->version : 1;
	if (want <= from)
		return OK;
	if (from < 11)
		return err_set(e, ERR_UNSUPPORTED,
			       "the model is at opset %" PRId64 " and the export needs %" PRId64
			       "; models older than opset 11 must first be converted with "
			       "onnx.version_converter", from, want);
	for (size_t i = 0; i < ed->n_nodes; i++) {
		Onnx__NodeProto *n = ed->nodes[i];
		if (!default_domain(n->domain))
			continue;
		enum status st = upgrade_node(ed, n, from, want, e);
		if (st)
			return st;
	}
	if (!os) {
		os = az(ed->a, sizeof *os);
		Onnx__OperatorSetIdProto **arr = az(ed->a, (m->n_opset_import + 1) * sizeof *arr);
		if (!os || !arr)
			return nomem(e);
		onnx__operator_set_id_proto__init(os);
		os->domain = astrdup(ed->a, "");
		if (m->n_opset_import)
			memcpy(arr, m->opset_import, m->n_opset_import * sizeof *arr);
		arr[m->n_opset_import++] = os;
		m->opset_import = arr;
	}
	os->has_version = true;
	os->version = want;
	return OK;
}

/* ---- applying the edit ---------------------------------------------------------------- */

static Onnx__NodeProto *make_node(struct editor *ed, const struct onnx_new_node *nn,
				  struct err *e)
{
	struct arena *a = ed->a;
	Onnx__NodeProto *n = az(a, sizeof *n);
	if (!n) {
		nomem(e);
		return NULL;
	}
	onnx__node_proto__init(n);
	if (nn->n_inputs < 1 || nn->n_inputs > ONNX_NEW_NODE_MAX_IN ||
	    nn->n_attrs < 0 || nn->n_attrs > ONNX_NEW_NODE_MAX_ATTR || !nn->output ||
	    !nn->op_type) {
		err_set(e, ERR_INVALID, "new node '%s': bad description", s0(nn->name));
		return NULL;
	}
	n->name = astrdup(a, s0(nn->name));
	n->op_type = astrdup(a, nn->op_type);
	n->domain = astrdup(a, "");
	n->n_input = (size_t)nn->n_inputs;
	n->input = az(a, n->n_input * sizeof *n->input);
	n->n_output = 1;
	n->output = az(a, sizeof *n->output);
	n->n_attribute = (size_t)nn->n_attrs;
	n->attribute = az(a, (n->n_attribute + 1) * sizeof *n->attribute);
	if (!n->name || !n->op_type || !n->domain || !n->input || !n->output || !n->attribute) {
		nomem(e);
		return NULL;
	}
	for (int i = 0; i < nn->n_inputs; i++)
		if (!(n->input[i] = astrdup(a, s0(nn->inputs[i])))) {
			nomem(e);
			return NULL;
		}
	if (!(n->output[0] = astrdup(a, nn->output))) {
		nomem(e);
		return NULL;
	}
	for (int i = 0; i < nn->n_attrs; i++)
		if (!(n->attribute[i] = int_attr(a, nn->attrs[i].name, nn->attrs[i].value))) {
			nomem(e);
			return NULL;
		}
	return n;
}

/* Sequence of nodes: original ones with new ones spliced in where asked. */
struct placed {
	Onnx__NodeProto *n;
	int orig;     /* original index, or -1 */
};

static enum status topo_sort(struct editor *ed, struct placed *seq, size_t n, struct err *e)
{
	/* producers by output name, then in-degrees over node-produced inputs */
	enum status st = OK;
	struct smap prod = { 0 };
	int *indeg = calloc(n + 1, sizeof *indeg);
	int *heap = calloc(n + 1, sizeof *heap);
	size_t *edge_start = calloc(n + 2, sizeof *edge_start);
	int *edges = NULL;
	Onnx__NodeProto **out = arena_alloc(ed->a, (n + 1) * sizeof *out);
	if (!indeg || !heap || !edge_start || !out) {
		st = nomem(e);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < seq[i].n->n_output; k++) {
			const char *o = seq[i].n->output[k];
			if (o && o[0] && !smap_put(&prod, o, (int)i)) {
				st = nomem(e);
				goto done;
			}
		}
	/* edges producer -> consumer, counted then filled (CSR) */
	size_t n_edges = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < seq[i].n->n_input; k++) {
			int p = smap_get(&prod, seq[i].n->input[k]);
			if (p >= 0 && (size_t)p != i) {
				edge_start[p + 1]++;
				n_edges++;
			}
		}
	for (size_t i = 0; i < n; i++)
		edge_start[i + 1] += edge_start[i];
	edges = calloc(n_edges + 1, sizeof *edges);
	size_t *fill = calloc(n + 1, sizeof *fill);
	if (!edges || !fill) {
		free(fill);
		st = nomem(e);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < seq[i].n->n_input; k++) {
			int p = smap_get(&prod, seq[i].n->input[k]);
			if (p >= 0 && (size_t)p != i) {
				edges[edge_start[p] + fill[p]++] = (int)i;
				indeg[i]++;
			}
		}
	free(fill);
	/* Kahn's algorithm with a min-heap on sequence position: stable */
	size_t hn = 0, done_n = 0;
#define HEAP_PUSH(v)                                                        \
	do {                                                                \
		size_t c_ = hn++;                                           \
		heap[c_] = (v);                                             \
		while (c_ && heap[(c_ - 1) / 2] > heap[c_]) {               \
			int t_ = heap[c_];                                  \
			heap[c_] = heap[(c_ - 1) / 2];                      \
			heap[(c_ - 1) / 2] = t_;                            \
			c_ = (c_ - 1) / 2;                                  \
		}                                                           \
	} while (0)
	for (size_t i = 0; i < n; i++)
		if (!indeg[i])
			HEAP_PUSH((int)i);
	while (hn) {
		int top = heap[0];
		heap[0] = heap[--hn];
		for (size_t c = 0;;) {
			size_t l = 2 * c + 1, r = l + 1, m = c;
			if (l < hn && heap[l] < heap[m])
				m = l;
			if (r < hn && heap[r] < heap[m])
				m = r;
			if (m == c)
				break;
			int t = heap[c];
			heap[c] = heap[m];
			heap[m] = t;
			c = m;
		}
		out[done_n++] = seq[top].n;
		for (size_t k = edge_start[top]; k < edge_start[top + 1]; k++)
			if (--indeg[edges[k]] == 0)
				HEAP_PUSH(edges[k]);
	}
#undef HEAP_PUSH
	if (done_n != n) {
		st = err_set(e, ERR_GRAPH, "the edited graph has a cycle");
		goto done;
	}
	ed->gp->node = out;
	ed->gp->n_node = n;
done:
	smap_free(&prod);
	free(indeg);
	free(heap);
	free(edge_start);
	free(edges);
	return st;
}

static enum status set_meta(struct editor *ed, const char *key, const char *value, struct err *e)
{
	Onnx__ModelProto *m = ed->m;
	for (size_t i = 0; i < m->n_metadata_props; i++)
		if (strcmp(s0(m->metadata_props[i]->key), key) == 0) {
			m->metadata_props[i]->value = astrdup(ed->a, value);
			return m->metadata_props[i]->value ? OK : nomem(e);
		}
	Onnx__StringStringEntryProto *kv = az(ed->a, sizeof *kv);
	Onnx__StringStringEntryProto **arr = az(ed->a, (m->n_metadata_props + 1) * sizeof *arr);
	if (!kv || !arr)
		return nomem(e);
	onnx__string_string_entry_proto__init(kv);
	kv->key = astrdup(ed->a, key);
	kv->value = astrdup(ed->a, value);
	if (!kv->key || !kv->value)
		return nomem(e);
	if (m->n_metadata_props)
		memcpy(arr, m->metadata_props, m->n_metadata_props * sizeof *arr);
	arr[m->n_metadata_props++] = kv;
	m->metadata_props = arr;
	return OK;
}

static bool has_external(const Onnx__TensorProto *t)
{
	return t->has_data_location &&
	       t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

/* Same folder?  Compared through realpath so "a/../b" and symbolic links agree. */
static bool same_folder(const char *p, const char *q)
{
	char a[PATH_MAX], b[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX];
	snprintf(a, sizeof a, "%s", p);
	snprintf(b, sizeof b, "%s", q);
	char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	const char *da = sa ? (sa == a ? "/" : (*sa = '\0', a)) : ".";
	const char *db = sb ? (sb == b ? "/" : (*sb = '\0', b)) : ".";
	if (!realpath(da, ra) || !realpath(db, rb))
		return false;
	return strcmp(ra, rb) == 0;
}

static enum status apply(struct editor *ed, const struct onnx_edit *x, const char *src,
			 const char *dst, struct err *e)
{
	enum status st;
	Onnx__GraphProto *gp = ed->gp;
	struct arena *a = ed->a;
	struct smap by_output = { 0 }, new_after = { 0 };
	struct placed *seq = NULL;
	int *after_count = NULL, *before_count = NULL;

	/* names in use */
	for (size_t i = 0; i < gp->n_initializer; i++) {
		if (has_external(gp->initializer[i]) && !same_folder(src, dst))
			return err_set(e, ERR_UNSUPPORTED,
				       "initializer '%s' keeps its data in an external file, whose "
				       "location is relative to the model: write the export into "
				       "the model's folder", s0(gp->initializer[i]->name));
		if (!add_init(ed, gp->initializer[i]) ||
		    !smap_put(&ed->names, s0(gp->initializer[i]->name), 0))
			return nomem(e);
	}
	for (size_t i = 0; i < gp->n_input; i++)
		if (!smap_put(&ed->names, s0(gp->input[i]->name), 0))
			return nomem(e);
	for (size_t i = 0; i < gp->n_node; i++) {
		Onnx__NodeProto *n = gp->node[i];
		if (!add_node(ed, n))
			return nomem(e);
		for (size_t k = 0; k < n->n_output; k++)
			if (n->output[k] && n->output[k][0] && !smap_put(&ed->names, n->output[k], 0))
				return nomem(e);
	}

	/* opset and IR version first: conversions see the original nodes */
	if (x->min_opset && (st = raise_opset(ed, x->min_opset, e)))
		return st;
	if (x->min_ir_version && (!ed->m->has_ir_version || ed->m->ir_version < x->min_ir_version)) {
		ed->m->has_ir_version = true;
		ed->m->ir_version = x->min_ir_version;
	}

	/* new initializers */
	for (int i = 0; i < x->n_inits; i++) {
		const struct onnx_new_init *ni = &x->inits[i];
		if (smap_get(&ed->names, ni->name) == 0)
			return err_set(e, ERR_INVALID, "new initializer '%s': the name is taken",
				       ni->name);
		Onnx__TensorProto *t = new_tensor(ed, ni->name, ni->dtype, &ni->shape, ni->data, e);
		if (!t)
			return e ? e->code : ERR_NOMEM;
		if (!add_init(ed, t) || !smap_put(&ed->names, t->name, 0))
			return nomem(e);
	}

	/* node lookup by first output (original nodes only) */
	size_t n_orig = ed->n_nodes;
	for (size_t i = 0; i < n_orig; i++) {
		const char *o = first_output(ed->nodes[i]);
		if (o && !smap_put(&by_output, o, (int)i)) {
			st = nomem(e);
			goto done;
		}
	}

	/* input edits */
	for (int i = 0; i < x->n_input_edits; i++) {
		const struct onnx_input_edit *ie = &x->input_edits[i];
		int ni = smap_get(&by_output, ie->node_output);
		if (ni < 0) {
			st = err_set(e, ERR_INVALID, "no node produces '%s'", ie->node_output);
			goto done;
		}
		Onnx__NodeProto *n = ed->nodes[ni];
		if (ie->input < 0 || (size_t)ie->input >= n->n_input) {
			st = err_set(e, ERR_INVALID, "node '%s' has no input %d", node_label(n),
				     ie->input);
			goto done;
		}
		/* copy the pointer array once so the edit never touches shared storage */
		char **ins = az(a, n->n_input * sizeof *ins);
		char *v = astrdup(a, ie->value);
		if (!ins || !v) {
			st = nomem(e);
			goto done;
		}
		memcpy(ins, n->input, n->n_input * sizeof *ins);
		ins[ie->input] = v;
		n->input = ins;
	}

	/* output renames */
	for (int i = 0; i < x->n_renames; i++) {
		const struct onnx_output_rename *r = &x->renames[i];
		bool found = false;
		for (size_t ni = 0; ni < n_orig && !found; ni++) {
			Onnx__NodeProto *n = ed->nodes[ni];
			for (size_t k = 0; k < n->n_output; k++)
				if (strcmp(s0(n->output[k]), r->value) == 0) {
					char **outs = az(a, n->n_output * sizeof *outs);
					char *v = astrdup(a, r->new_name);
					if (!outs || !v) {
						st = nomem(e);
						goto done;
					}
					memcpy(outs, n->output, n->n_output * sizeof *outs);
					outs[k] = v;
					n->output = outs;
					found = true;
					break;
				}
		}
		if (!found) {
			st = err_set(e, ERR_INVALID, "no node produces '%s' (rename)", r->value);
			goto done;
		}
		if (smap_get(&ed->names, r->new_name) >= 0) {
			st = err_set(e, ERR_INVALID, "rename of '%s': '%s' is taken", r->value,
				     r->new_name);
			goto done;
		}
		/* 1 = free again: a new node is meant to produce it */
		if (!smap_put(&ed->names, r->new_name, 0) || !smap_put(&ed->names, r->value, 1)) {
			st = nomem(e);
			goto done;
		}
	}

	/* new nodes: placement slots per original node */
	after_count = calloc(n_orig + 1, sizeof *after_count);
	before_count = calloc(n_orig + 1, sizeof *before_count);
	int *slot = calloc((size_t)x->n_nodes + 1, sizeof *slot); /* original index, or -1 = start */
	bool *is_before = calloc((size_t)x->n_nodes + 1, sizeof *is_before);
	Onnx__NodeProto **made = calloc((size_t)x->n_nodes + 1, sizeof *made);
	if (!after_count || !before_count || !slot || !is_before || !made) {
		free(slot);
		free(is_before);
		free(made);
		st = nomem(e);
		goto done;
	}
	/* producer of each value among original nodes (all outputs, after renames) */
	for (size_t ni = 0; ni < n_orig; ni++)
		for (size_t k = 0; k < ed->nodes[ni]->n_output; k++) {
			const char *o = ed->nodes[ni]->output[k];
			if (o && o[0] && !smap_put(&new_after, o, (int)ni)) {
				st = nomem(e);
				goto free_tmp;
			}
		}
	for (int i = 0; i < x->n_nodes; i++) {
		const struct onnx_new_node *nn = &x->nodes[i];
		if (smap_get(&ed->names, nn->output) == 0) {
			st = err_set(e, ERR_INVALID, "new node '%s': the name of its output '%s' is "
				     "taken", s0(nn->name), nn->output);
			goto free_tmp;
		}
		if (!(made[i] = make_node(ed, nn, e))) {
			st = e ? e->code : ERR_NOMEM;
			goto free_tmp;
		}
		if (!smap_put(&ed->names, made[i]->output[0], 0)) {
			st = nomem(e);
			goto free_tmp;
		}
		slot[i] = -1;
		if (nn->before_node) {
			slot[i] = smap_get(&by_output, nn->before_node);
			is_before[i] = slot[i] >= 0;
		} else if (nn->after_value) {
			/* a value renamed away is still found through its new name's producer */
			slot[i] = smap_get(&new_after, nn->after_value);
			for (int r = 0; slot[i] < 0 && r < x->n_renames; r++)
				if (strcmp(x->renames[r].value, nn->after_value) == 0)
					slot[i] = smap_get(&new_after, x->renames[r].new_name);
		}
		if (slot[i] >= 0)
			(is_before[i] ? before_count : after_count)[slot[i]]++;
	}
	size_t total = n_orig + (size_t)x->n_nodes;
	seq = calloc(total + 1, sizeof *seq);
	if (!seq) {
		st = nomem(e);
		goto free_tmp;
	}
	size_t p = 0;
	for (int i = 0; i < x->n_nodes; i++)
		if (slot[i] < 0)
			seq[p++] = (struct placed){ made[i], -1 };
	for (size_t ni = 0; ni < n_orig; ni++) {
		if (before_count[ni])
			for (int i = 0; i < x->n_nodes; i++)
				if (slot[i] == (int)ni && is_before[i])
					seq[p++] = (struct placed){ made[i], -1 };
		seq[p++] = (struct placed){ ed->nodes[ni], (int)ni };
		if (after_count[ni])
			for (int i = 0; i < x->n_nodes; i++)
				if (slot[i] == (int)ni && !is_before[i])
					seq[p++] = (struct placed){ made[i], -1 };
	}
	st = topo_sort(ed, seq, p, e);
free_tmp:
	free(slot);
	free(is_before);
	free(made);
	if (st)
		goto done;

	/* drop initializers / Constant outputs nothing reads any more */
	if (x->n_drops) {
		struct smap used = { 0 };
		for (size_t i = 0; i < gp->n_node; i++)
			for (size_t k = 0; k < gp->node[i]->n_input; k++) {
				const char *in = gp->node[i]->input[k];
				if (in[0] && !smap_put(&used, in, 1)) {
					smap_free(&used);
					st = nomem(e);
					goto done;
				}
			}
		for (size_t i = 0; i < gp->n_output; i++)
			if (!smap_put(&used, s0(gp->output[i]->name), 1)) {
				smap_free(&used);
				st = nomem(e);
				goto done;
			}
		for (int d = 0; d < x->n_drops; d++) {
			const char *name = x->drops[d];
			if (smap_get(&used, name) >= 0)
				continue;
			for (size_t i = 0; i < ed->n_inits; i++)
				if (strcmp(s0(ed->inits[i]->name), name) == 0) {
					memmove(&ed->inits[i], &ed->inits[i + 1],
						(ed->n_inits - i - 1) * sizeof *ed->inits);
					ed->n_inits--;
					break;
				}
			/* an IR-3 style graph input naming the initializer goes too */
			for (size_t i = 0; i < gp->n_input; i++)
				if (strcmp(s0(gp->input[i]->name), name) == 0) {
					Onnx__ValueInfoProto **arr = az(a, gp->n_input * sizeof *arr);
					if (!arr) {
						smap_free(&used);
						st = nomem(e);
						goto done;
					}
					memcpy(arr, gp->input, i * sizeof *arr);
					memcpy(arr + i, gp->input + i + 1,
					       (gp->n_input - i - 1) * sizeof *arr);
					gp->input = arr;
					gp->n_input--;
					break;
				}
			for (size_t i = 0; i < gp->n_node; i++) {
				Onnx__NodeProto *n = gp->node[i];
				if (strcmp(s0(n->op_type), "Constant") == 0 &&
				    default_domain(n->domain) && n->n_output == 1 &&
				    strcmp(s0(n->output[0]), name) == 0) {
					memmove(&gp->node[i], &gp->node[i + 1],
						(gp->n_node - i - 1) * sizeof *gp->node);
					gp->n_node--;
					break;
				}
			}
		}
		smap_free(&used);
	}
	gp->initializer = ed->inits;
	gp->n_initializer = ed->n_inits;

	for (int i = 0; i < x->n_meta; i++)
		if ((st = set_meta(ed, x->meta[i].key, x->meta[i].value, e)))
			goto done;
	st = OK;
done:
	smap_free(&by_output);
	smap_free(&new_after);
	free(seq);
	free(after_count);
	free(before_count);
	return st;
}

enum status onnx_save_edited(const char *src, const struct onnx_edit *x, const char *dst,
			     struct err *e)
{
	struct arena a = { 0 };
	struct editor ed = { .a = &a };
	Onnx__ModelProto *m = NULL;
	uint8_t *buf = NULL;
	enum status st = read_model(src, &a, &m, e);
	if (st) {
		err_prefix(e, "%s", src);
		goto done;
	}
	ed.m = m;
	ed.gp = m->graph;
	if ((st = apply(&ed, x, src, dst, e))) {
		err_prefix(e, "%s", src);
		goto done;
	}
	size_t len = onnx__model_proto__get_packed_size(m);
	if (len > ONNX_MAX_FILE_BYTES) {
		st = err_set(e, ERR_LIMIT, "%s: the result would be %zu MB, over ONNX's 2 GB limit",
			     dst, len >> 20);
		goto done;
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		st = nomem(e);
		goto done;
	}
	if (onnx__model_proto__pack(m, buf) != len) {
		st = err_set(e, ERR_FORMAT, "%s: protobuf packing failed", dst);
		goto done;
	}
	st = file_write_atomic(dst, buf, len, e);
done:
	free(buf);
	smap_free(&ed.names);
	arena_release(&a);
	return st;
}

/* ---- brief ------------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

void onnx_brief_fini(struct onnx_brief *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->n_nodes && b->nodes; i++) {
		struct onnx_brief_node *n = &b->nodes[i];
		free(n->name);
		free(n->op_type);
		free(n->domain);
		for (int k = 0; k < n->n_inputs && n->inputs; k++)
			free(n->inputs[k]);
		for (int k = 0; k < n->n_outputs && n->outputs; k++)
			free(n->outputs[k]);
		free(n->inputs);
		free(n->outputs);
	}
	for (int i = 0; i < b->n_inits && b->inits; i++)
		free(b->inits[i].name);
	for (int i = 0; i < b->n_inputs && b->inputs; i++)
		free(b->inputs[i]);
	for (int i = 0; i < b->n_outputs && b->outputs; i++)
		free(b->outputs[i]);
	for (int i = 0; i < b->n_meta && b->meta_keys; i++) {
		free(b->meta_keys[i]);
		free(b->meta_values[i]);
	}
	free(b->nodes);
	free(b->inits);
	free(b->inputs);
	free(b->outputs);
	free(b->meta_keys);
	free(b->meta_values);
	free(b->producer_name);
	free(b->graph_name);
	memset(b, 0, sizeof *b);
}

static enum status brief_fill(const Onnx__ModelProto *m, struct onnx_brief *b, struct err *e)
{
	const Onnx__GraphProto *gp = m->graph;
	if (gp->n_node > INT_MAX || gp->n_initializer > INT_MAX)
		return err_set(e, ERR_LIMIT, "too many nodes");
	b->ir_version = m->has_ir_version ? m->ir_version : 0;
	for (size_t i = 0; i < m->n_opset_import; i++)
		if (default_domain(m->opset_import[i]->domain) && m->opset_import[i]->has_version)
			b->opset = m->opset_import[i]->version;
	b->producer_name = xstrdup(m->producer_name);
	b->graph_name = xstrdup(gp->name);
	b->nodes = calloc(gp->n_node + 1, sizeof *b->nodes);
	b->inits = calloc(gp->n_initializer + 1, sizeof *b->inits);
	b->inputs = calloc(gp->n_input + 1, sizeof *b->inputs);
	b->outputs = calloc(gp->n_output + 1, sizeof *b->outputs);
	b->meta_keys = calloc(m->n_metadata_props + 1, sizeof *b->meta_keys);
	b->meta_values = calloc(m->n_metadata_props + 1, sizeof *b->meta_values);
	if (!b->producer_name || !b->graph_name || !b->nodes || !b->inits || !b->inputs ||
	    !b->outputs || !b->meta_keys || !b->meta_values)
		return nomem(e);
	for (size_t i = 0; i < gp->n_node; i++) {
		const Onnx__NodeProto *np = gp->node[i];
		struct onnx_brief_node *n = &b->nodes[b->n_nodes++];
		n->name = xstrdup(np->name);
		n->op_type = xstrdup(np->op_type);
		n->domain = xstrdup(np->domain);
		n->inputs = calloc(np->n_input + 1, sizeof *n->inputs);
		n->outputs = calloc(np->n_output + 1, sizeof *n->outputs);
		if (!n->name || !n->op_type || !n->domain || !n->inputs || !n->outputs)
			return nomem(e);
		for (size_t k = 0; k < np->n_input; k++)
			if (!(n->inputs[n->n_inputs++] = xstrdup(np->input[k])))
				return nomem(e);
		for (size_t k = 0; k < np->n_output; k++)
			if (!(n->outputs[n->n_outputs++] = xstrdup(np->output[k])))
				return nomem(e);
		for (size_t k = 0; k < np->n_attribute; k++) {
			const Onnx__AttributeProto *ap = np->attribute[k];
			const char *an = s0(ap->name);
			if (strcmp(an, "axis") == 0) {
				n->has_axis = true;
				n->axis = ap->i;
			} else if (strcmp(an, "block_size") == 0) {
				n->has_block_size = true;
				n->block_size = ap->i;
			} else if (strcmp(an, "to") == 0) {
				n->has_to = true;
				n->to = ap->i;
			}
		}
	}
	for (size_t i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];
		struct onnx_brief_init *bi = &b->inits[b->n_inits++];
		if (!(bi->name = xstrdup(t->name)))
			return nomem(e);
		bi->dtype = t->has_data_type ? t->data_type : 0;
		bi->shape.rank = t->n_dims > TENSOR_MAX_RANK ? TENSOR_MAX_RANK : (int)t->n_dims;
		for (int d = 0; d < bi->shape.rank; d++)
			bi->shape.dim[d] = t->dims[d];
		bi->external = has_external(t);
	}
	for (size_t i = 0; i < gp->n_input; i++)
		if (!(b->inputs[b->n_inputs++] = xstrdup(gp->input[i]->name)))
			return nomem(e);
	for (size_t i = 0; i < gp->n_output; i++)
		if (!(b->outputs[b->n_outputs++] = xstrdup(gp->output[i]->name)))
			return nomem(e);
	for (size_t i = 0; i < m->n_metadata_props; i++) {
		b->meta_keys[b->n_meta] = xstrdup(m->metadata_props[i]->key);
		b->meta_values[b->n_meta] = xstrdup(m->metadata_props[i]->value);
		if (!b->meta_keys[b->n_meta] || !b->meta_values[b->n_meta])
			return nomem(e);
		b->n_meta++;
	}
	return OK;
}

enum status onnx_brief_file(const char *path, struct onnx_brief *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	struct arena a = { 0 };
	Onnx__ModelProto *m = NULL;
	enum status st = read_model(path, &a, &m, e);
	if (!st)
		st = brief_fill(m, out, e);
	arena_release(&a);
	if (st) {
		onnx_brief_fini(out);
		err_prefix(e, "%s", path);
	}
	return st;
}

int onnx_brief_find_producer(const struct onnx_brief *b, const char *output)
{
	for (int i = 0; i < b->n_nodes; i++)
		for (int k = 0; k < b->nodes[i].n_outputs; k++)
			if (strcmp(b->nodes[i].outputs[k], output) == 0)
				return i;
	return -1;
}

const struct onnx_brief_init *onnx_brief_find_init(const struct onnx_brief *b, const char *name)
{
	for (int i = 0; i < b->n_inits; i++)
		if (strcmp(b->inits[i].name, name) == 0)
			return &b->inits[i];
	return NULL;
}

int onnx_brief_count_op(const struct onnx_brief *b, const char *op_type)
{
	int n = 0;
	for (int i = 0; i < b->n_nodes; i++)
		n += strcmp(b->nodes[i].op_type, op_type) == 0;
	return n;
}
