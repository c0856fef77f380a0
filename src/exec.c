/*
 * exec.c - plans (constant folding, shape inference, memory plan) and runners.
 *
 * Planning walks the nodes in topological order once.  A node whose inputs
 * are all known at plan time is folded: prepared, run on the spot, and its
 * outputs become plan-owned constants (this is how a torch export's
 * Shape -> Gather -> Concat -> Reshape chain turns into a constant shape).
 * Every other node becomes a step: its prepare() infers output shapes and
 * scratch size from concrete input shapes.
 *
 * Fusion (plan_opts.fuse, plain FP32 runs only): after every step is
 * prepared, fuse.c finds chains - Conv with its BatchNormalization, residual
 * Add and activation; Linear layers (MatMul, bias, GELU, residual); attention -
 * and plan_fuse() turns each chain's first step into one step run by the
 * chain's operator (the Conv itself, or ops/fused.h), prepared again with the
 * chain's inputs and epilogue.  The merged steps disappear; a fused step moves
 * to its chain's last node, so the steps stay in an order that computes every
 * input first.  The memory plan then only sees the values that remain.
 *
 * Memory plan: activations live in one arena.  Walking the steps in order,
 * each output gets the lowest offset where it fits among the blocks alive at
 * that moment (first fit), and a block is released after its last consumer
 * has run.  Outputs are placed before the step's inputs are released, so an
 * output never aliases an input.  Graph outputs and values the caller asked
 * to keep are never released.
 *
 * The runner splits a large input along its leading dimension.  With more
 * than one thread and more than one chunk, each worker thread owns its plans
 * and pulls chunk indices from an atomic counter, with OpenBLAS limited to one
 * thread: for the small models qlens targets, sample parallelism scales far
 * better than splitting each small GEMM.  With one chunk or one thread, the
 * caller's thread runs everything and OpenBLAS gets the threads.  Runs without
 * hooks, subsets or bindings use fused plans.  Every run goes through each chunk
 * in sub-batches that keep its working set near the core (pick_sub_rows).
 */
#include "exec.h"

#include <cblas.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "ops/fused.h"
#include "ops/nn_util.h"

#define ARENA_ALIGN 64

struct step_rt {
	struct step s;
	const struct op_def *def; /* the node's operator, or a fused one (ops/fused.h) */
	int node_index;
	int n_in, n_out;
	const struct tensor **in; /* into plan->vt (or plan->owned), NULL for omitted inputs */
	struct tensor **out;
	/* value indices of in[] and out[] (-1: omitted, or a plan-owned constant): the node's
	 * own lists, or owned copies for a fused step */
	const int *vin, *vout;
	bool own_vlists;
	int order; /* node index the step runs in place of (the last node of a fused chain) */
};

struct plan {
	const struct graph *g;
	struct tensor *vt;	/* per value: dtype, shape, data (when alive/constant) */
	unsigned char *folded;	/* per value: folded to a plan-owned constant */
	int64_t *offset;	/* per value: arena offset, -1 when none */
	int n_steps;
	struct step_rt *steps;
	unsigned char *arena;
	size_t arena_bytes;
	void *scratch;
	size_t scratch_bytes;
	int64_t row0; /* first sample of the chunk being run (runner) */
	bool fused;	       /* built with plan_opts.fuse: runs whole, without hooks */
	struct tensor *owned;  /* constants made by fusion (folded weights), n_owned of them */
	int n_owned;
};

int64_t plan_row0(const struct plan *p) { return p->row0; }

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

const struct graph *plan_graph(const struct plan *p) { return p->g; }
size_t plan_arena_bytes(const struct plan *p) { return p->arena_bytes; }

const struct tensor *plan_value(const struct plan *p, int value)
{
	if (value < 0 || value >= p->g->n_values)
		return NULL;
	return &p->vt[value];
}

bool plan_value_is_const(const struct plan *p, int value)
{
	if (value < 0 || value >= p->g->n_values)
		return false;
	return p->g->values[value].kind == VAL_CONST || p->folded[value];
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	if (p->vt)
		for (int v = 0; v < p->g->n_values; v++)
			if (p->folded && p->folded[v])
				tensor_fini(&p->vt[v]);
	for (int i = 0; i < p->n_steps; i++) {
		free(p->steps[i].s.params);
		free(p->steps[i].in);
		free(p->steps[i].out);
		if (p->steps[i].own_vlists) {
			free((void *)p->steps[i].vin);
			free((void *)p->steps[i].vout);
		}
	}
	for (int i = 0; i < p->n_owned; i++)
		tensor_fini(&p->owned[i]);
	free(p->owned);
	free(p->steps);
	free(p->vt);
	free(p->folded);
	free(p->offset);
	free(p->arena);
	free(p->scratch);
	free(p);
}

static enum status node_fail(struct err *e, const struct node *n)
{
	err_prefix(e, "node '%s' (%s)", n->name, n->op_type);
	return e ? e->code : ERR_INVALID;
}

/* Fold a node whose inputs are all constant: run it now. */
static enum status fold_node(struct plan *p, const struct node *n, struct step *s,
			     const struct tensor **in, struct tensor **out, struct err *e)
{
	const struct op_def *def = &op_defs[n->op];
	enum status st = OK;
	void *scratch = NULL;
	for (int k = 0; k < n->n_outputs; k++) {
		if (!out[k])
			continue;
		st = tensor_alloc(out[k], out[k]->dtype, &out[k]->shape, e);
		if (st)
			goto done;
		p->folded[n->outputs[k]] = 1;
	}
	if (s->scratch_bytes) {
		scratch = aligned_alloc(ARENA_ALIGN, round_up(s->scratch_bytes, ARENA_ALIGN));
		if (!scratch) {
			st = err_set(e, ERR_NOMEM, "out of memory for %zu bytes of scratch",
				     s->scratch_bytes);
			goto done;
		}
	}
	st = def->run(s, in, n->n_inputs, out, n->n_outputs, scratch, e);
done:
	free(scratch);
	free(s->params);
	s->params = NULL;
	return st;
}

/* First-fit placement among live blocks.  live[] holds value indices sorted by offset. */
struct livelist {
	int *v;
	int n;
};

static int64_t place(struct plan *p, struct livelist *L, int value, size_t bytes)
{
	size_t need = round_up(bytes ? bytes : 1, ARENA_ALIGN);
	size_t at = 0;
	int pos = 0;
	for (; pos < L->n; pos++) {
		int o = L->v[pos];
		size_t start = (size_t)p->offset[o];
		if (start >= at + need)
			break;
		size_t end = start + round_up(p->vt[o].nbytes ? p->vt[o].nbytes : 1, ARENA_ALIGN);
		if (end > at)
			at = end;
	}
	memmove(&L->v[pos + 1], &L->v[pos], (size_t)(L->n - pos) * sizeof *L->v);
	L->v[pos] = value;
	L->n++;
	p->offset[value] = (int64_t)at;
	if (at + need > p->arena_bytes)
		p->arena_bytes = at + need;
	return (int64_t)at;
}

static void release(struct livelist *L, int value)
{
	for (int i = 0; i < L->n; i++)
		if (L->v[i] == value) {
			memmove(&L->v[i], &L->v[i + 1], (size_t)(L->n - i - 1) * sizeof *L->v);
			L->n--;
			return;
		}
}

/*
 * Fusion (plan_opts.fuse): merge the chain ch (fuse.h) into step rt.  The step is prepared
 * again by the chain's operator with the chain's inputs - a folded weight and bias in place
 * of a Conv's, the residual last - and the chain's epilogue; it writes the chain's last value
 * and moves to the chain's last node.
 */
static enum status fuse_step(struct plan *p, const struct fuse_ctx *c, const struct fuse_chain *ch,
			     struct step_rt *rt, struct err *e)
{
	const struct graph *g = p->g;
	const struct node *n = &g->nodes[ch->first];
	const struct tensor *in[FUSE_MAX_IN];
	int vin[FUSE_MAX_IN], n_in = ch->n_in;
	enum status st;
	for (int k = 0; k < n_in; k++) {
		vin[k] = ch->in[k];
		in[k] = vin[k] >= 0 ? &p->vt[vin[k]] : NULL;
	}
	if (ch->bn >= 0) {
		/* x, w, [b], [residual] -> x, w', b', [residual] */
		struct tensor *w = &p->owned[p->n_owned], *b = &p->owned[p->n_owned + 1];
		if ((st = fuse_fold_bn(c, ch, w, b, e)))
			return node_fail(e, &g->nodes[ch->bn]);
		p->n_owned += 2;
		int res = ch->epi.residual ? ch->in[n_in - 1] : -1;
		in[1] = w;
		in[2] = b;
		vin[1] = vin[2] = -1;
		n_in = 3;
		if (res >= 0) {
			in[n_in] = &p->vt[res];
			vin[n_in++] = res;
		}
	}
	struct tensor *y = &p->vt[ch->out];
	const struct tensor planned = *y;
	struct step s = { .node = n, .graph = g, .opset = g->opset, .epi = ch->epi };
	st = ch->def->prepare(&s, in, n_in, &y, 1, e);
	if (!st && (y->dtype != planned.dtype || !shape_equal(&y->shape, &planned.shape)))
		st = err_set(e, ERR_INVALID, "fused output does not match the planned one");
	if (st) {
		free(s.params);
		return node_fail(e, n);
	}
	const struct tensor **nin = calloc((size_t)n_in, sizeof *nin);
	int *nvin = malloc((size_t)n_in * sizeof *nvin), *nvout = malloc(sizeof *nvout);
	if (!nin || !nvin || !nvout) {
		free(nin);
		free(nvin);
		free(nvout);
		free(s.params);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	memcpy(nin, in, (size_t)n_in * sizeof *nin);
	memcpy(nvin, vin, (size_t)n_in * sizeof *nvin);
	*nvout = ch->out;
	free(rt->s.params);
	free(rt->in);
	if (rt->own_vlists) {
		free((void *)rt->vin);
		free((void *)rt->vout);
	}
	rt->s = s;
	rt->def = ch->def;
	rt->in = nin;
	rt->n_in = n_in;
	rt->out[0] = y;
	rt->n_out = 1;
	rt->vin = nvin;
	rt->vout = nvout;
	rt->own_vlists = true;
	rt->order = ch->last;
	if (s.scratch_bytes > p->scratch_bytes)
		p->scratch_bytes = s.scratch_bytes;
	return OK;
}

/*
 * Plans without fusion (hooked, subset and bound runs) still run each MatMul by a constant
 * 2-D float matrix - a Linear layer without its bias - with fused_linear's kernel, alone: no
 * node is merged, the step keeps its node, inputs and outputs, so hooks see exactly what the
 * generic MatMul would give them, to float rounding.  With AVX-512 that kernel beats
 * OpenBLAS on the thin products of small models (K and N of tens to hundreds); without it,
 * fused_linear is one sgemm, so nothing changes and nothing is swapped.
 */
static void plan_linear_steps(struct plan *p)
{
	if (!nn_have_avx512())
		return;
	const struct graph *g = p->g;
	for (int si = 0; si < p->n_steps; si++) {
		struct step_rt *rt = &p->steps[si];
		const struct node *n = &g->nodes[rt->node_index];
		if (rt->def != &op_defs[OP_MATMUL] || rt->n_in != 2 || rt->n_out != 1 ||
		    rt->vin[1] < 0 || !plan_value_is_const(p, rt->vin[1]))
			continue;
		const struct tensor *x = rt->in[0], *w = rt->in[1], *y = rt->out[0];
		if (x->dtype != DT_FLOAT || w->dtype != DT_FLOAT || w->shape.rank != 2 ||
		    x->shape.rank < 2 || x->shape.dim[x->shape.rank - 1] != w->shape.dim[0])
			continue;
		struct tensor planned = *y;
		struct tensor probe = *y;
		struct tensor *out = &probe;
		struct step s = { .node = n, .graph = g, .opset = g->opset };
		struct err ignored = { 0 };
		/* whatever the Linear kernel refuses (sizes past its limits, no memory for a
		 * packed copy) stays with the generic MatMul, which prepared fine */
		if (fused_linear.prepare(&s, rt->in, 2, &out, 1, &ignored) != OK ||
		    probe.dtype != planned.dtype || !shape_equal(&probe.shape, &planned.shape)) {
			free(s.params);
			continue;
		}
		free(rt->s.params);
		rt->s = s;
		rt->def = &fused_linear;
		if (s.scratch_bytes > p->scratch_bytes)
			p->scratch_bytes = s.scratch_bytes;
	}
}

/* Find and merge every chain, then drop the merged steps and restore run order. */
static enum status plan_fuse(struct plan *p, const struct plan_opts *opts, struct err *e)
{
	const struct graph *g = p->g;
	const int nv = g->n_values, nn = g->n_nodes;
	enum status st = OK;
	int n_reads = 0;
	for (int si = 0; si < p->n_steps; si++)
		n_reads += g->nodes[p->steps[si].node_index].n_inputs;
	bool *is_const = calloc((size_t)nv + 1, sizeof *is_const);
	bool *pinned = calloc((size_t)nv + 1, sizeof *pinned);
	int *rstart = calloc((size_t)nv + 2, sizeof *rstart);
	int *rlist = malloc(((size_t)n_reads + 1) * sizeof *rlist);
	bool *is_step = calloc((size_t)nn + 1, sizeof *is_step);
	bool *merged = calloc((size_t)nn + 1, sizeof *merged);
	p->owned = calloc(2 * (size_t)p->n_steps + 1, sizeof *p->owned);
	if (!is_const || !pinned || !rstart || !rlist || !is_step || !merged || !p->owned) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int v = 0; v < nv; v++) {
		is_const[v] = plan_value_is_const(p, v);
		pinned[v] = g->values[v].is_output || (opts->keep && opts->keep[v]);
	}
	/* readers of each value, in node order (counting sort into rlist) */
	for (int si = 0; si < p->n_steps; si++) {
		const struct node *n = &g->nodes[p->steps[si].node_index];
		is_step[p->steps[si].node_index] = true;
		for (int k = 0; k < n->n_inputs; k++)
			if (n->inputs[k] >= 0)
				rstart[n->inputs[k] + 1]++;
	}
	for (int v = 0; v < nv; v++)
		rstart[v + 1] += rstart[v];
	{
		int *fill = calloc((size_t)nv + 1, sizeof *fill);
		if (!fill) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int si = 0; si < p->n_steps; si++) {
			const struct node *n = &g->nodes[p->steps[si].node_index];
			for (int k = 0; k < n->n_inputs; k++) {
				int v = n->inputs[k];
				if (v >= 0)
					rlist[rstart[v] + fill[v]++] = p->steps[si].node_index;
			}
		}
		free(fill);
	}
	struct fuse_ctx c = { .g = g, .vt = p->vt, .is_const = is_const, .pinned = pinned,
			      .rstart = rstart, .rlist = rlist, .is_step = is_step };
	for (int si = 0; si < p->n_steps; si++) {
		struct fuse_chain ch;
		if (merged[p->steps[si].node_index] || !fuse_find(&c, p->steps[si].node_index, &ch))
			continue;
		if ((st = fuse_step(p, &c, &ch, &p->steps[si], e)))
			goto done;
		/* a merged node is gone for later chains: two Convs meeting at one Add must
		 * not both claim it */
		for (int k = 0; k < ch.n_absorbed; k++) {
			merged[ch.absorbed[k]] = true;
			is_step[ch.absorbed[k]] = false;
		}
	}
	/* drop merged steps, then order by the node each step stands in for (insertion sort:
	 * only fused steps move, and not far) */
	int kept = 0;
	for (int si = 0; si < p->n_steps; si++) {
		struct step_rt *rt = &p->steps[si];
		if (!merged[rt->node_index]) {
			p->steps[kept++] = *rt;
			continue;
		}
		free(rt->s.params);
		free(rt->in);
		free(rt->out);
		if (rt->own_vlists) {
			free((void *)rt->vin);
			free((void *)rt->vout);
		}
	}
	p->n_steps = kept;
	for (int i = 1; i < p->n_steps; i++) {
		struct step_rt t = p->steps[i];
		int j = i;
		for (; j > 0 && p->steps[j - 1].order > t.order; j--)
			p->steps[j] = p->steps[j - 1];
		p->steps[j] = t;
	}
	p->fused = true;
done:
	free(is_const);
	free(pinned);
	free(rstart);
	free(rlist);
	free(is_step);
	free(merged);
	return st;
}

enum status plan_new(const struct graph *g, const struct shape *in_shapes,
		     const struct plan_opts *opts, struct plan **out, struct err *e)
{
	enum status st = OK;
	int nv = g->n_values;
	int *last_use = NULL;
	struct livelist live = { 0 };
	struct plan *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->g = g;
	p->vt = calloc((size_t)nv + 1, sizeof *p->vt);
	p->folded = calloc((size_t)nv + 1, 1);
	p->offset = malloc(((size_t)nv + 1) * sizeof *p->offset);
	p->steps = calloc((size_t)g->n_nodes + 1, sizeof *p->steps);
	last_use = malloc(((size_t)nv + 1) * sizeof *last_use);
	live.v = malloc(((size_t)nv + 1) * sizeof *live.v);
	if (!p->vt || !p->folded || !p->offset || !p->steps || !last_use || !live.v) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (int v = 0; v < nv; v++) {
		const struct value *val = &g->values[v];
		p->offset[v] = -1;
		last_use[v] = -1;
		p->vt[v].dtype = val->dtype;
		if (val->kind == VAL_CONST) {
			p->vt[v] = val->constant;
			p->vt[v].owned = false;
		}
	}
	for (int i = 0; i < g->n_inputs; i++) {
		int v = g->inputs[i];
		const struct value *val = &g->values[v];
		const struct shape *s = &in_shapes[i];
		int64_t numel;
		size_t es = dtype_size(val->dtype != DT_UNDEFINED ? val->dtype : DT_FLOAT);
		st = shape_numel_checked(s, es, &numel, e);
		if (st) {
			err_prefix(e, "input '%s'", val->name);
			goto fail;
		}
		if (val->shape.rank >= 0) {
			char b1[128], b2[128];
			bool ok = val->shape.rank == s->rank;
			for (int d = 0; ok && d < s->rank; d++)
				ok = val->shape.dim[d] < 0 || val->shape.dim[d] == s->dim[d];
			if (!ok) {
				st = err_set(e, ERR_SHAPE, "input '%s' has shape %s, the model expects %s",
					     val->name, shape_str(s, b1, sizeof b1),
					     shape_str(&val->shape, b2, sizeof b2));
				goto fail;
			}
		}
		if (p->vt[v].dtype == DT_UNDEFINED)
			p->vt[v].dtype = DT_FLOAT;
		p->vt[v].shape = *s;
		p->vt[v].nbytes = (size_t)numel * es;
		const struct tensor *ci = opts && opts->const_inputs ? opts->const_inputs[i] : NULL;
		if (ci) {
			if (!shape_equal(&ci->shape, s) || (val->dtype != DT_UNDEFINED &&
							    ci->dtype != val->dtype)) {
				st = err_set(e, ERR_SHAPE, "constant input '%s' does not match its "
					     "declared type or shape", val->name);
				goto fail;
			}
			if ((st = tensor_copy(&p->vt[v], ci, e)))
				goto fail;
			p->folded[v] = 1;
		}
	}

	/* pass 1: fold constants, prepare steps */
	const struct tensor *inbuf[256];
	struct tensor *outbuf[256];
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		const struct op_def *def = &op_defs[n->op];
		if (n->n_inputs > 256 || n->n_outputs > 256) {
			st = err_set(e, ERR_LIMIT, "node '%s' (%s): more than 256 inputs or outputs",
				     n->name, n->op_type);
			goto fail;
		}
		/* Shape and Size read only their input's shape, which is concrete here */
		bool shape_only = n->op == OP_SHAPE || n->op == OP_SIZE;
		bool all_const = true;
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			inbuf[k] = v >= 0 ? &p->vt[v] : NULL;
			if (v >= 0 && !plan_value_is_const(p, v) && !shape_only)
				all_const = false;
		}
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			outbuf[k] = v >= 0 ? &p->vt[v] : NULL;
			if (v >= 0)
				p->vt[v] = (struct tensor){ .dtype = DT_UNDEFINED };
		}
		struct step s = { .node = n, .graph = g, .opset = g->opset };
		st = def->prepare(&s, inbuf, n->n_inputs, outbuf, n->n_outputs, e);
		if (st) {
			free(s.params);
			node_fail(e, n);
			goto fail;
		}
		for (int k = 0; k < n->n_outputs; k++) {
			if (!outbuf[k])
				continue;
			int64_t numel;
			size_t es = dtype_size(outbuf[k]->dtype);
			if (!es) {
				free(s.params);
				st = err_set(e, ERR_UNSUPPORTED, "output %d has unsupported type %s", k,
					     dtype_name(outbuf[k]->dtype));
				node_fail(e, n);
				goto fail;
			}
			st = shape_numel_checked(&outbuf[k]->shape, es, &numel, e);
			if (st) {
				free(s.params);
				err_prefix(e, "output '%s'", g->values[n->outputs[k]].name);
				node_fail(e, n);
				goto fail;
			}
			outbuf[k]->nbytes = (size_t)numel * es;
			outbuf[k]->data = NULL;
		}
		if (all_const && n->n_inputs > 0) {
			st = fold_node(p, n, &s, inbuf, outbuf, e);
			if (st) {
				node_fail(e, n);
				goto fail;
			}
			continue;
		}
		struct step_rt *rt = &p->steps[p->n_steps++];
		rt->s = s;
		rt->node_index = ni;
		rt->n_in = n->n_inputs;
		rt->n_out = n->n_outputs;
		rt->in = calloc((size_t)n->n_inputs + 1, sizeof *rt->in);
		rt->out = calloc((size_t)n->n_outputs + 1, sizeof *rt->out);
		if (!rt->in || !rt->out) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto fail;
		}
		memcpy(rt->in, inbuf, (size_t)n->n_inputs * sizeof *rt->in);
		memcpy(rt->out, outbuf, (size_t)n->n_outputs * sizeof *rt->out);
		rt->vin = n->inputs;
		rt->vout = n->outputs;
		rt->order = ni;
		rt->def = def;
		if (s.scratch_bytes > p->scratch_bytes)
			p->scratch_bytes = s.scratch_bytes;
	}
	for (int i = 0; i < g->n_outputs; i++) {
		int v = g->outputs[i];
		if (g->values[v].kind == VAL_INPUT)
			continue;
		if (!plan_value_is_const(p, v) && p->vt[v].dtype == DT_UNDEFINED) {
			st = err_set(e, ERR_GRAPH, "graph output '%s' is never computed",
				     g->values[v].name);
			goto fail;
		}
	}

	if (opts && opts->fuse && (st = plan_fuse(p, opts, e)))
		goto fail;
	if (!(opts && opts->fuse))
		plan_linear_steps(p);

	/* pass 2: liveness and placement */
	for (int si = 0; si < p->n_steps; si++) {
		struct step_rt *rt = &p->steps[si];
		for (int k = 0; k < rt->n_in; k++)
			if (rt->vin[k] >= 0)
				last_use[rt->vin[k]] = si;
	}
	for (int si = 0; si < p->n_steps; si++) {
		struct step_rt *rt = &p->steps[si];
		for (int k = 0; k < rt->n_out; k++) {
			int v = rt->vout[k];
			if (v < 0)
				continue;
			if (last_use[v] < si)
				last_use[v] = si; /* unread output: dies right away */
			place(p, &live, v, p->vt[v].nbytes);
		}
		for (int k = 0; k < rt->n_in; k++) {
			int v = rt->vin[k];
			if (v < 0 || g->values[v].kind != VAL_INTERMEDIATE || p->folded[v])
				continue;
			bool keep = g->values[v].is_output || (opts && opts->keep && opts->keep[v]);
			if (last_use[v] == si && !keep) {
				release(&live, v);
				last_use[v] = -2; /* released (a node may list an input twice) */
			}
		}
		for (int k = 0; k < rt->n_out; k++) {
			int v = rt->vout[k];
			if (v < 0)
				continue;
			bool keep = g->values[v].is_output || (opts && opts->keep && opts->keep[v]);
			if (last_use[v] == si && !keep)
				release(&live, v);
		}
	}
	p->arena = aligned_alloc(ARENA_ALIGN, round_up(p->arena_bytes ? p->arena_bytes : 1, ARENA_ALIGN));
	if (p->scratch_bytes)
		p->scratch = aligned_alloc(ARENA_ALIGN, round_up(p->scratch_bytes, ARENA_ALIGN));
	if (!p->arena || (p->scratch_bytes && !p->scratch)) {
		st = err_set(e, ERR_NOMEM, "out of memory for a %zu-byte activation arena",
			     p->arena_bytes);
		goto fail;
	}
	for (int v = 0; v < nv; v++)
		if (p->offset[v] >= 0)
			p->vt[v].data = p->arena + p->offset[v];
	free(last_use);
	free(live.v);
	*out = p;
	return OK;
fail:
	free(last_use);
	free(live.v);
	plan_free(p);
	return st;
}

enum status plan_run(struct plan *p, const struct tensor *inputs, const struct plan_hooks *hooks,
		     struct err *e)
{
	return plan_run_subset(p, inputs, hooks, NULL, NULL, NULL, e);
}

/* Point bound values at caller storage; restore arena pointers afterwards. */
static enum status bind_values(struct plan *p, const struct tensor *const *bound, const bool *run,
			       bool set, struct err *e)
{
	for (int v = 0; v < p->g->n_values; v++) {
		if (!bound[v] || plan_value_is_const(p, v))
			continue;
		/* a value computed in this run lives in the arena, never in the binding */
		int pr = p->g->values[v].producer;
		if (pr >= 0 && (!run || run[pr]))
			continue;
		if (!set) {
			p->vt[v].data = p->offset[v] >= 0 ? p->arena + p->offset[v] : NULL;
			continue;
		}
		if (bound[v]->nbytes != p->vt[v].nbytes || bound[v]->dtype != p->vt[v].dtype)
			return err_set(e, ERR_SHAPE, "bound value '%s' does not match its planned "
				       "size", p->g->values[v].name);
		p->vt[v].data = bound[v]->data;
	}
	return OK;
}

/* Hooks return a bare status; give it a message naming where the run stopped. */
static enum status hook_fail(struct err *e, const struct node *n, enum status st)
{
	return err_set(e, st, "node '%s' (%s): %s", n->name, n->op_type, status_str(st));
}

enum status plan_run_subset(struct plan *p, const struct tensor *inputs,
			    const struct plan_hooks *hooks, const bool *run,
			    const struct tensor *const *bound, const _Atomic bool *cancel,
			    struct err *e)
{
	const struct graph *g = p->g;
	if (p->fused && (hooks || run || bound))
		return err_set(e, ERR_INVALID, "a fused plan runs whole: no hooks, subsets or "
			       "bound values");
	for (int i = 0; i < g->n_inputs; i++) {
		int v = g->inputs[i];
		struct tensor *t = &p->vt[v];
		if (p->folded[v])
			continue; /* planned as a constant */
		if (inputs[i].dtype != t->dtype || !shape_equal(&inputs[i].shape, &t->shape)) {
			char b1[128], b2[128];
			return err_set(e, ERR_SHAPE, "input '%s': got %s %s, planned for %s %s",
				       g->values[v].name, dtype_name(inputs[i].dtype),
				       shape_str(&inputs[i].shape, b1, sizeof b1), dtype_name(t->dtype),
				       shape_str(&t->shape, b2, sizeof b2));
		}
		t->data = inputs[i].data;
	}
	if (bound) {
		enum status bst = bind_values(p, bound, run, true, e);
		if (bst) {
			bind_values(p, bound, run, false, e);
			return bst;
		}
	}
	enum status result = OK;
	const struct tensor *subst[256];
	for (int si = 0; si < p->n_steps; si++) {
		struct step_rt *rt = &p->steps[si];
		if (run && !run[rt->node_index])
			continue;
		if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
			result = err_set(e, ERR_CANCELLED, "cancelled");
			break;
		}
		const struct node *n = &g->nodes[rt->node_index];
		const struct tensor *const *in = rt->in;
		enum status st;
		if (hooks && hooks->before_node) {
			memcpy(subst, rt->in, (size_t)rt->n_in * sizeof *subst);
			st = hooks->before_node(hooks->user, p, rt->node_index, subst, rt->n_in);
			if (st) {
				result = hook_fail(e, n, st);
				break;
			}
			in = subst;
		}
		st = rt->def->run(&rt->s, in, rt->n_in, rt->out, rt->n_out, p->scratch, e);
		if (st) {
			result = node_fail(e, n);
			break;
		}
		if (hooks && hooks->after_node) {
			st = hooks->after_node(hooks->user, p, rt->node_index, rt->out, rt->n_out);
			if (st) {
				result = hook_fail(e, n, st);
				break;
			}
		}
	}
	if (bound && result == OK) {
		/* graph outputs that this subset did not compute come from the bindings */
		for (int i = 0; i < g->n_outputs; i++) {
			int v = g->outputs[i];
			int pr = g->values[v].producer;
			if (bound[v] && pr >= 0 && run && !run[pr] && p->offset[v] >= 0)
				memcpy(p->arena + p->offset[v], bound[v]->data, p->vt[v].nbytes);
			/* restore happens below; the copy above lands in the arena slot */
		}
	}
	if (bound)
		bind_values(p, bound, run, false, e);
	return result;
}

enum status plan_rerun_node(struct plan *p, int node_index, const struct tensor *const *inputs,
			    struct tensor *const *outputs, struct err *e)
{
	if (p->fused)
		return err_set(e, ERR_INVALID, "nodes of a fused plan cannot be rerun alone");
	for (int si = 0; si < p->n_steps; si++) {
		struct step_rt *rt = &p->steps[si];
		if (rt->node_index != node_index)
			continue;
		const struct node *n = &p->g->nodes[node_index];
		enum status st = rt->def->run(&rt->s, inputs, rt->n_in, outputs, rt->n_out, p->scratch,
					      e);
		return st ? node_fail(e, n) : OK;
	}
	return err_set(e, ERR_INVALID, "node %d is not a step of this plan", node_index);
}

void plan_node_cost(const struct plan *p, int node_index, struct node_cost *c)
{
	const struct graph *g = p->g;
	const struct node *n = &g->nodes[node_index];
	c->params = 0;
	c->macs = 0;
	for (int k = 0; k < n->n_inputs; k++) {
		int v = n->inputs[k];
		if (v < 0 || !plan_value_is_const(p, v))
			continue;
		enum dtype t = p->vt[v].dtype;
		if (t == DT_FLOAT || t == DT_FLOAT16 || t == DT_BFLOAT16 || t == DT_DOUBLE)
			c->params += tensor_numel(&p->vt[v]);
	}
	const struct tensor *x = n->n_inputs > 0 && n->inputs[0] >= 0 ? &p->vt[n->inputs[0]] : NULL;
	const struct tensor *w = n->n_inputs > 1 && n->inputs[1] >= 0 ? &p->vt[n->inputs[1]] : NULL;
	const struct tensor *y = n->n_outputs > 0 && n->outputs[0] >= 0 ? &p->vt[n->outputs[0]] : NULL;
	if (!x || !w || !y)
		return;
	/* by name, so the cost model does not depend on which kernel rows exist */
	const char *op = n->op_type;
	if (strcmp(op, "Conv") == 0) {
		/* each output element: C/group * prod(kernel) MACs */
		int64_t k = 1;
		for (int d = 1; d < w->shape.rank; d++)
			k *= w->shape.dim[d];
		c->macs = tensor_numel(y) * k;
	} else if (strcmp(op, "ConvTranspose") == 0) {
		/* each input element scatters into M/group * prod(kernel) outputs */
		int64_t k = 1;
		for (int d = 1; d < w->shape.rank; d++)
			k *= w->shape.dim[d];
		c->macs = tensor_numel(x) * k;
	} else if (strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0) {
		/* reduction length K: last dim of A (or first when Gemm transA) */
		int64_t kdim = x->shape.rank ? x->shape.dim[x->shape.rank - 1] : 1;
		if (op[0] == 'G') {
			int64_t ta = 0;
			node_attr_int(n, "transA", 0, &ta, NULL);
			if (ta && x->shape.rank == 2)
				kdim = x->shape.dim[0];
		}
		c->macs = tensor_numel(y) * kdim;
	}
}

/* ---- runner -------------------------------------------------------------- */

void exec_set_blas_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }

#define RUNNER_MAX_THREADS 64

/* Per worker and kind (plain / fused): the plans for full chunks and the tail. */
struct worker_plans {
	struct plan *full;  /* chunk of `batch` rows */
	struct plan *tail;  /* the last, shorter chunk */
	int64_t tail_rows;
	struct plan *head;  /* a piece of the first chunk (run_opts.head_rows) */
	int64_t head_rows;
};

struct runner {
	const struct graph *g;
	int n_threads, batch;
	struct worker_plans w[2][RUNNER_MAX_THREADS]; /* [fused][worker] */
	/* per kind [fused]: rows per plan run for samples of shape sub_for (-1: whole
	 * chunks; 0: not chosen yet) */
	int64_t sub_rows[2];
	struct shape sub_for[2];
};

enum status runner_new(const struct graph *g, int n_threads, int batch, struct runner **out,
		       struct err *e)
{
	if (n_threads < 1 || n_threads > RUNNER_MAX_THREADS)
		return err_set(e, ERR_INVALID, "thread count %d is outside 1..%d", n_threads,
			       RUNNER_MAX_THREADS);
	if (batch < 1)
		return err_set(e, ERR_INVALID, "batch size %d must be at least 1", batch);
	struct runner *r = calloc(1, sizeof *r);
	if (!r)
		return err_set(e, ERR_NOMEM, "out of memory");
	r->g = g;
	r->n_threads = n_threads;
	r->batch = batch;
	*out = r;
	return OK;
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	for (int f = 0; f < 2; f++)
		for (int i = 0; i < RUNNER_MAX_THREADS; i++) {
			plan_free(r->w[f][i].full);
			plan_free(r->w[f][i].tail);
			plan_free(r->w[f][i].head);
		}
	free(r);
}

struct run_job {
	struct runner *r;
	const struct plan_hooks *hooks; /* per worker, or NULL */
	const struct run_opts *o;
	const struct tensor *inputs;
	struct tensor *outputs;
	int64_t n_rows, n_chunks;
	/* tasks workers pull: the first chunk's pieces (n_head of head_rows rows, when
	 * head_rows > 0), then the other chunks */
	int64_t head_rows, n_head, n_tasks;
	bool fuse;	   /* no hooks, subset or bindings: fused plans */
	int64_t full_rows; /* rows of a plan run: the batch, or the sub-batch of fused runs */
	atomic_long next;
	atomic_int failed;
	pthread_mutex_t err_lock;
	struct err err;
	/* bindings (run_opts.bound) that hold every row: each worker's views of a sub-batch's
	 * rows of them, set up once per run rather than once per sub-batch */
	int *bound_list, n_bound;
	const struct tensor **views[RUNNER_MAX_THREADS];
	struct tensor *vbuf[RUNNER_MAX_THREADS];
};

/* Plan for `rows` rows on worker wi, cached. */
static enum status worker_plan(struct run_job *j, int wi, int64_t rows, struct plan **out,
			       struct err *e)
{
	struct runner *r = j->r;
	struct worker_plans *wp = &r->w[j->fuse][wi];
	bool head = rows != j->full_rows && j->head_rows > 0 && rows == j->head_rows;
	struct plan **slot = rows == j->full_rows ? &wp->full : head ? &wp->head : &wp->tail;
	const struct graph *g = r->g;
	struct shape shapes[64];
	if (g->n_inputs > 64)
		return err_set(e, ERR_LIMIT, "more than 64 graph inputs");
	bool same = *slot && (rows == j->full_rows || (head ? wp->head_rows : wp->tail_rows) == rows);
	for (int i = 0; i < g->n_inputs; i++) {
		shapes[i] = j->inputs[i].shape;
		shapes[i].dim[0] = rows;
		/* a runner may be reused with inputs of another sample shape */
		if (same && !shape_equal(&shapes[i], &plan_value(*slot, g->inputs[i])->shape))
			same = false;
	}
	if (same) {
		*out = *slot;
		return OK;
	}
	plan_free(*slot);
	*slot = NULL;
	struct plan_opts po = { .fuse = j->fuse };
	enum status st = plan_new(g, shapes, &po, slot, e);
	if (st)
		return st;
	if (head)
		wp->head_rows = rows;
	else if (rows != j->full_rows)
		wp->tail_rows = rows;
	*out = *slot;
	return OK;
}

/* Run rows [row0, row0 + rows) through one plan and store its outputs. */
static enum status run_rows(struct run_job *j, int wi, int64_t row0, int64_t rows, struct err *e)
{
	struct runner *r = j->r;
	const struct graph *g = r->g;
	struct plan *p;
	enum status st = worker_plan(j, wi, rows, &p, e);
	if (st)
		return st;
	struct tensor in[64];
	for (int i = 0; i < g->n_inputs; i++) {
		const struct tensor *t = &j->inputs[i];
		size_t row_bytes = t->nbytes / (size_t)t->shape.dim[0];
		in[i] = *t;
		in[i].shape.dim[0] = rows;
		in[i].data = (char *)t->data + (size_t)row0 * row_bytes;
		in[i].nbytes = (size_t)rows * row_bytes;
		in[i].owned = false;
	}
	p->row0 = row0;
	const struct tensor **views = j->views[wi];
	if (views)
		for (int i = 0; i < j->n_bound; i++) {
			int v = j->bound_list[i];
			const struct tensor *b = j->o->bound[v];
			size_t row_bytes = b->nbytes / (size_t)b->shape.dim[0];
			struct tensor *t = &j->vbuf[wi][v];
			t->shape.dim[0] = rows;
			t->data = (char *)b->data + (size_t)row0 * row_bytes;
			t->nbytes = (size_t)rows * row_bytes;
		}
	st = plan_run_subset(p, in, j->hooks ? &j->hooks[wi] : NULL, j->o ? j->o->run : NULL,
			     views, j->o ? j->o->cancel : NULL, e);
	if (st)
		return st;
	for (int k = 0; k < g->n_outputs; k++) {
		const struct tensor *y = plan_value(p, g->outputs[k]);
		struct tensor *o = &j->outputs[k];
		if (rows == j->n_rows) {
			memcpy(o->data, y->data, y->nbytes);
			continue;
		}
		size_t row_bytes = o->nbytes / (size_t)o->shape.dim[0];
		memcpy((char *)o->data + (size_t)row0 * row_bytes, y->data, (size_t)rows * row_bytes);
	}
	return OK;
}

static void bind_views_free(struct run_job *j)
{
	for (int t = 0; t < RUNNER_MAX_THREADS; t++) {
		free(j->views[t]);
		free(j->vbuf[t]);
		j->views[t] = NULL;
		j->vbuf[t] = NULL;
	}
	free(j->bound_list);
	j->bound_list = NULL;
}

/* The bindings that hold every row of the run, and each worker's views of them
 * (run_rows points them at a sub-batch's rows). */
static enum status bind_views_new(struct run_job *j, struct err *e)
{
	const struct tensor *const *bound = j->o ? j->o->bound : NULL;
	if (!bound)
		return OK;
	int nv = j->r->g->n_values;
	j->bound_list = malloc(((size_t)nv + 1) * sizeof *j->bound_list);
	if (!j->bound_list)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (int v = 0; v < nv; v++) {
		const struct tensor *b = bound[v];
		if (b && b->shape.rank >= 1 && b->shape.dim[0] == j->n_rows)
			j->bound_list[j->n_bound++] = v;
	}
	for (int t = 0; t < j->r->n_threads; t++) {
		j->views[t] = calloc((size_t)nv + 1, sizeof *j->views[t]);
		j->vbuf[t] = calloc((size_t)nv + 1, sizeof *j->vbuf[t]);
		if (!j->views[t] || !j->vbuf[t]) {
			bind_views_free(j);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		for (int i = 0; i < j->n_bound; i++) {
			int v = j->bound_list[i];
			j->vbuf[t][v] = *bound[v];
			j->vbuf[t][v].owned = false;
			j->views[t][v] = &j->vbuf[t][v];
		}
	}
	return OK;
}

/* Task t: a piece of the first chunk (t < n_head) or a whole chunk. */
static enum status run_chunk(struct run_job *j, int wi, int64_t t, struct err *e)
{
	struct runner *r = j->r;
	int64_t row0, rows;
	if (t < j->n_head) {
		int64_t span = j->n_rows < r->batch ? j->n_rows : r->batch;
		row0 = t * j->head_rows;
		rows = span - row0 < j->head_rows ? span - row0 : j->head_rows;
	} else {
		row0 = (t - j->n_head + (j->n_head ? 1 : 0)) * r->batch;
		rows = j->n_rows - row0 < r->batch ? j->n_rows - row0 : r->batch;
	}
	/* the chunk in sub-batches (runner_exec, pick_sub_rows) */
	for (int64_t r0 = row0; r0 < row0 + rows; r0 += j->full_rows) {
		int64_t n = row0 + rows - r0 < j->full_rows ? row0 + rows - r0 : j->full_rows;
		enum status st = run_rows(j, wi, r0, n, e);
		if (st)
			return st;
	}
	if (j->o && j->o->chunk_done)
		j->o->chunk_done(j->o->user, row0, rows, j->outputs);
	return OK;
}

static void *worker_main(void *arg)
{
	struct run_job *j = ((void **)arg)[0];
	int wi = (int)(intptr_t)((void **)arg)[1];
	struct err e = { 0 };
	for (;;) {
		if (atomic_load(&j->failed))
			break;
		long c = atomic_fetch_add(&j->next, 1);
		if (c >= j->n_tasks)
			break;
		enum status st = run_chunk(j, wi, c, &e);
		if (st) {
			if (!e.code)
				e.code = st; /* keep the status even when no message was set */
			pthread_mutex_lock(&j->err_lock);
			if (!atomic_load(&j->failed))
				j->err = e;
			atomic_store(&j->failed, 1);
			pthread_mutex_unlock(&j->err_lock);
			break;
		}
	}
	return NULL;
}

int runner_threads(const struct runner *r) { return r->n_threads; }

/*
 * Sub-batches.  A runner runs each layer over a whole chunk before the next; at batch 64 a
 * small CNN's feature maps (tens of KB per sample) then stream through memory between layers
 * instead of staying in the core's L2.  So each chunk goes through its plans in sub-batches:
 *  - fused runs, which nobody observes node by node, in sub-batches whose activations fit in
 *    RUNNER_L2_BYTES; their kernels compute every sample the same way whatever its
 *    neighbours, so the outputs do not depend on the sub-batch;
 *  - plain runs (hooks, subsets, bindings: simulations, calibration, captures) in
 *    sub-batches whose plan fits in RUNNER_PLAIN_BYTES.  Their plans hold every value
 *    between nodes, and a simulation passes over each several times (its Q/DQ), so keeping
 *    them in L2 pays most here.  4 MiB (and so the L3, which other tenants of a shared
 *    host thrash) was the budget until qlens-sim/4, for the OpenBLAS products (im2col
 *    convolutions), which lose efficiency on few rows; with 1 MiB fashion-vit's edits run
 *    5-8 % faster and the CNNs' no slower (bench-sweep, A B).  Those products round a row's sums
 *    depending on how many rows they see, so the sub-batch decides the last bits of a
 *    simulation's figures, as the batch does: it is a fixed function of the model, the
 *    batch and the CPU's AVX-512 support, never of timing, so results stay reproducible.
 * Hooks see each sub-batch as a plan run with its plan_row0; a chunk's chunk_done still
 * comes once, after all of its rows.  Models whose outputs do not keep the batch as their
 * leading dimension, or that cannot be planned for one sample, run whole chunks; so does
 * everything on CPUs without AVX-512, whose kernels (OpenBLAS products over many samples at
 * once) want the whole chunk.
 */
#define RUNNER_L2_BYTES ((size_t)1 << 20)
#define RUNNER_PLAIN_BYTES ((size_t)1 << 20)

/* Bytes a plan (fused or not) for `rows` rows works in (arena and scratch), or 0 when it
 * cannot be planned or its outputs do not keep the rows as their leading dimension. */
static size_t plan_bytes(const struct graph *g, const struct tensor *inputs, int64_t rows,
			 bool fuse)
{
	struct shape shapes[64];
	for (int i = 0; i < g->n_inputs; i++) {
		shapes[i] = inputs[i].shape;
		shapes[i].dim[0] = rows;
	}
	struct plan *p;
	struct plan_opts po = { .fuse = fuse };
	if (plan_new(g, shapes, &po, &p, NULL))
		return 0;
	bool ok = true;
	for (int k = 0; k < g->n_outputs && ok; k++) {
		const struct tensor *y = plan_value(p, g->outputs[k]);
		ok = y->shape.rank >= 1 && y->shape.dim[0] == rows;
	}
	size_t bytes = ok ? p->arena_bytes + p->scratch_bytes : 0;
	plan_free(p);
	return bytes;
}

static int64_t pick_sub_rows(const struct runner *r, const struct tensor *inputs, bool fuse)
{
	/* the generic kernels (OpenBLAS products over whole chunks) want the big batch */
	if (!nn_have_avx512())
		return -1;
	/* a part of the scratch does not grow with the rows (weights packed at run time when
	 * they are not constant, say): plans for 1 and 2 rows tell the two apart */
	size_t one = plan_bytes(r->g, inputs, 1, fuse), two = plan_bytes(r->g, inputs, 2, fuse);
	const size_t budget = fuse ? RUNNER_L2_BYTES : RUNNER_PLAIN_BYTES;
	if (!one || !two)
		return -1;
	size_t per = two > one ? two - one : 1, fixed = one > per ? one - per : 0;
	int64_t sub = 1;
	while (sub * 2 <= r->batch && fixed + (size_t)(sub * 2) * per <= budget)
		sub *= 2;
	return sub;
}

enum status runner_run(struct runner *r, const struct tensor *inputs, struct tensor *outputs,
		       struct err *e)
{
	return runner_run_hooked(r, inputs, outputs, NULL, e);
}

enum status runner_run_hooked(struct runner *r, const struct tensor *inputs,
			      struct tensor *outputs, const struct plan_hooks *hooks,
			      struct err *e)
{
	struct run_opts o = { .hooks = hooks };
	return runner_exec(r, inputs, outputs, &o, e);
}

enum status runner_exec(struct runner *r, const struct tensor *inputs, struct tensor *outputs,
			const struct run_opts *o, struct err *e)
{
	const struct plan_hooks *hooks = o ? o->hooks : NULL;
	const struct graph *g = r->g;
	enum status st;
	if (g->n_inputs < 1)
		return err_set(e, ERR_INVALID, "the model has no inputs");
	if (g->n_inputs > 64)
		return err_set(e, ERR_LIMIT, "more than 64 graph inputs");
	int64_t n_rows = inputs[0].shape.rank > 0 ? inputs[0].shape.dim[0] : -1;
	for (int i = 0; i < g->n_inputs; i++) {
		if (inputs[i].shape.rank < 1 || inputs[i].shape.dim[0] != n_rows)
			return err_set(e, ERR_SHAPE,
				       "input '%s': every input needs the same leading (batch) dimension",
				       g->values[g->inputs[i]].name);
	}
	if (n_rows < 1)
		return err_set(e, ERR_SHAPE, "the inputs hold no samples");
	struct run_job j = { .r = r, .hooks = hooks, .o = o, .inputs = inputs, .outputs = outputs,
			     .n_rows = n_rows };
	j.n_chunks = (n_rows + r->batch - 1) / r->batch;
	j.fuse = !o || (!o->hooks && !o->run && !o->bound);
	j.full_rows = r->batch;
	{
		struct shape key = inputs[0].shape;
		key.dim[0] = 0;
		if (!r->sub_rows[j.fuse] || !shape_equal(&key, &r->sub_for[j.fuse])) {
			r->sub_rows[j.fuse] = pick_sub_rows(r, inputs, j.fuse);
			r->sub_for[j.fuse] = key;
		}
		if (r->sub_rows[j.fuse] > 0 && r->sub_rows[j.fuse] < r->batch)
			j.full_rows = r->sub_rows[j.fuse];
	}
	j.n_tasks = j.n_chunks;
	if (!j.fuse && o && o->head_rows > 0) {
		int64_t span = n_rows < r->batch ? n_rows : r->batch;
		if (o->head_rows < span) {
			j.head_rows = o->head_rows;
			j.n_head = (span + j.head_rows - 1) / j.head_rows;
			j.n_tasks = j.n_head + j.n_chunks - 1;
		}
	}
	atomic_init(&j.next, 0);
	atomic_init(&j.failed, 0);
	pthread_mutex_init(&j.err_lock, NULL);
	for (int k = 0; k < g->n_outputs; k++)
		outputs[k] = (struct tensor){ 0 };
	if ((st = bind_views_new(&j, e)))
		goto done;

	/* plan the first chunk (or sub-batch) on worker 0 to learn the output shapes */
	struct plan *p0;
	int64_t rows0 = n_rows < j.full_rows ? n_rows : j.full_rows;
	st = worker_plan(&j, 0, rows0, &p0, e);
	if (st)
		goto done;
	for (int k = 0; k < g->n_outputs; k++) {
		const struct tensor *y = plan_value(p0, g->outputs[k]);
		struct shape s = y->shape;
		if (rows0 < n_rows) {
			if (s.rank < 1 || s.dim[0] != rows0) {
				st = err_set(e, ERR_SHAPE,
					     "output '%s' does not have the batch as its leading dimension;"
					     " run it with the whole input as one batch",
					     g->values[g->outputs[k]].name);
				goto done;
			}
			s.dim[0] = n_rows;
		}
		st = tensor_alloc(&outputs[k], y->dtype, &s, e);
		if (st)
			goto done;
	}
	int n_workers = r->n_threads;
	if (j.n_tasks < n_workers)
		n_workers = (int)j.n_tasks;
	if (n_workers <= 1) {
		exec_set_blas_threads(r->n_threads);
		for (int64_t c = 0; c < j.n_tasks; c++) {
			st = run_chunk(&j, 0, c, e);
			if (st)
				goto done;
		}
	} else {
		exec_set_blas_threads(1);
		pthread_t tids[RUNNER_MAX_THREADS];
		void *args[RUNNER_MAX_THREADS][2];
		int started = 0;
		for (int t = 1; t < n_workers; t++) {
			args[t][0] = &j;
			args[t][1] = (void *)(intptr_t)t;
			if (pthread_create(&tids[t], NULL, worker_main, args[t]) != 0)
				break;
			started++;
		}
		args[0][0] = &j;
		args[0][1] = (void *)(intptr_t)0;
		worker_main(args[0]);
		for (int t = 1; t <= started; t++)
			pthread_join(tids[t], NULL);
		exec_set_blas_threads(r->n_threads);
		if (atomic_load(&j.failed)) {
			if (e)
				*e = j.err;
			st = j.err.code ? j.err.code : ERR_INVALID;
			goto done;
		}
	}
done:
	pthread_mutex_destroy(&j.err_lock);
	bind_views_free(&j);
	if (st)
		for (int k = 0; k < g->n_outputs; k++)
			tensor_fini(&outputs[k]);
	return st;
}
