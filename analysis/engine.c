/*
 * engine.c - candidate simulations, the activation cache, incremental and
 * full evaluations, and the three sweeps' single evaluations.
 *
 * The run set of a change is the union of the changed nodes' descendants
 * (bitsets computed once in reverse topological order).  Values the run set
 * reads from outside come from the activation cache; when a value is missing,
 * its producer joins the run set and the closure is taken again.
 *
 * The cache is filled by one baseline run with an after-node hook that copies
 * the chosen values' rows (plan_row0 tells which rows a chunk holds).  It
 * chooses values in topological order among those some single-node change
 * would read from outside its run set, until the memory budget is used.
 */
#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

/* ---- set-up --------------------------------------------------------------- */

enum status engine_parse_candidate(const char *text, struct precision *p, struct err *e)
{
	char name[64];
	const char *slash = strchr(text, '/');
	snprintf(name, sizeof name, "%.*s", slash ? (int)(slash - text) : (int)strlen(text), text);
	enum status st = precision_preset(name, p, e);
	if (st || !slash)
		return st;
	const char *g = slash + 1;
	unsigned mask = qfmt_info(p->wfmt)->gran_mask;
	if (strcmp(g, "pt") == 0 || strcmp(g, "per-tensor") == 0) {
		p->wgran = QG_TENSOR;
	} else if (strcmp(g, "pc") == 0 || strcmp(g, "per-channel") == 0) {
		if (!(mask & QG_BIT(QG_CHANNEL)))
			return err_set(e, ERR_INVALID, "'%s': %s weights have no per-channel form",
				       text, qfmt_info(p->wfmt)->name);
		p->wgran = QG_CHANNEL;
	} else if (g[0] == 'b' && (atoi(g + 1) == 32 || atoi(g + 1) == 64 || atoi(g + 1) == 128)) {
		if (!(mask & QG_BIT(QG_BLOCK)))
			return err_set(e, ERR_INVALID, "'%s': only int4/uint4 weights have blocks", text);
		p->wgran = QG_BLOCK;
		p->block = atoi(g + 1);
	} else {
		return err_set(e, ERR_INVALID, "'%s': unknown granularity '%s' (pt, pc, b32, b64, b128)",
			       text, g);
	}
	return OK;
}

static inline bool bit_get(const uint64_t *b, int i) { return (b[i >> 6] >> (i & 63)) & 1; }
static inline void bit_set(uint64_t *b, int i) { b[i >> 6] |= 1ull << (i & 63); }

static enum status build_desc(struct engine *en, struct err *e)
{
	const struct graph *g = en->g;
	int n = g->n_nodes;
	en->desc_words = (n + 63) / 64;
	en->desc = calloc((size_t)n * (size_t)en->desc_words + 1, sizeof *en->desc);
	if (!en->desc)
		return err_set(e, ERR_NOMEM, "out of memory");
	/* consumers: node j reads a value produced by node i (i < j in topo order) */
	for (int i = n - 1; i >= 0; i--) {
		uint64_t *d = en->desc + (size_t)i * (size_t)en->desc_words;
		bit_set(d, i);
		const struct node *ni = &g->nodes[i];
		for (int j = i + 1; j < n; j++) {
			const struct node *nj = &g->nodes[j];
			bool reads = false;
			for (int k = 0; k < nj->n_inputs && !reads; k++) {
				int v = nj->inputs[k];
				if (v >= 0 && g->values[v].producer == i)
					reads = true;
			}
			if (!reads)
				continue;
			const uint64_t *dj = en->desc + (size_t)j * (size_t)en->desc_words;
			for (int w = 0; w < en->desc_words; w++)
				d[w] |= dj[w];
		}
		(void)ni;
	}
	return OK;
}

void engine_fini(struct engine *en)
{
	if (!en)
		return;
	for (int c = 0; c < en->n_cands; c++)
		sim_fini(&en->cand_sim[c]);
	if (en->cache.val) {
		for (int v = 0; v < en->g->n_values; v++)
			tensor_fini(&en->cache.val[v]);
		free(en->cache.val);
	}
	free(en->sweepable);
	free(en->desc);
	evaluator_fini(&en->ev);
	memset(en, 0, sizeof *en);
}

enum status engine_init(struct engine *en, const struct bundle *b, const struct graph *g,
			const char *const *cands, int n_cands, int threads, int batch,
			int64_t calib_samples, size_t cache_budget, struct err *e)
{
	memset(en, 0, sizeof *en);
	en->g = g;
	en->cache.sim_key = -2;
	en->cache_budget = cache_budget;
	enum status st;
	if (n_cands < 1 || n_cands > ENGINE_MAX_CANDS)
		return err_set(e, ERR_INVALID, "between 1 and %d candidate precisions, not %d",
			       ENGINE_MAX_CANDS, n_cands);
	for (int c = 0; c < n_cands; c++) {
		if ((st = engine_parse_candidate(cands[c], &en->cand[c], e)))
			return st;
		snprintf(en->cand_name[c], sizeof en->cand_name[c], "%s", cands[c]);
	}
	if ((st = evaluator_init(&en->ev, b, g, threads, batch, e)))
		return st;
	if ((st = evaluator_calibrate(&en->ev, b, calib_samples, e)))
		goto fail;
	for (int c = 0; c < n_cands; c++) {
		struct policy pol;
		if ((st = policy_init(&pol, g, &en->cand[c], e)))
			goto fail;
		st = sim_prepare(&en->cand_sim[c], g, &en->ev.cal, &pol, e);
		policy_fini(&pol);
		if (st)
			goto fail;
		en->n_cands = c + 1;
	}
	en->sweepable = calloc((size_t)g->n_nodes + 1, sizeof *en->sweepable);
	en->cache.val = calloc((size_t)g->n_values + 1, sizeof *en->cache.val);
	if (!en->sweepable || !en->cache.val) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (int ni = 0; ni < g->n_nodes; ni++)
		en->sweepable[ni] = en->cand_sim[0].nodes[ni].quant ||
				    (node_quantizable(g, ni) &&
				     !plan_value_is_const(en->cand_sim[0].ref, g->nodes[ni].outputs[0]));
	if ((st = build_desc(en, e)))
		goto fail;
	return OK;
fail:
	engine_fini(en);
	return st;
}

/* ---- run sets ---------------------------------------------------------------- */

static bool cached(const struct engine *en, int v)
{
	return en->cache.val[v].data != NULL;
}

enum status engine_run_set(struct engine *en, const bool *changed, bool *run, struct err *e)
{
	const struct graph *g = en->g;
	int n = g->n_nodes;
	memset(run, 0, (size_t)n * sizeof *run);
	for (int i = 0; i < n; i++) {
		if (!changed[i])
			continue;
		const uint64_t *d = en->desc + (size_t)i * (size_t)en->desc_words;
		for (int j = 0; j < n; j++)
			if (bit_get(d, j))
				run[j] = true;
	}
	/* pull in producers of values the run reads but the cache lacks */
	for (bool grew = true; grew;) {
		grew = false;
		for (int j = n - 1; j >= 0; j--) {
			if (!run[j])
				continue;
			const struct node *nj = &g->nodes[j];
			for (int k = 0; k < nj->n_inputs; k++) {
				int v = nj->inputs[k];
				if (v < 0 || g->values[v].kind != VAL_INTERMEDIATE)
					continue;
				int pr = g->values[v].producer;
				if (pr < 0 || run[pr] || cached(en, v) ||
				    plan_value_is_const(en->cand_sim[0].ref, v))
					continue;
				run[pr] = true;
				grew = true;
			}
		}
	}
	return OK;
}

/* ---- the activation cache ------------------------------------------------------ */

struct cache_worker {
	struct engine *en;
	const bool *want;
};

static enum status cache_after(void *user, const struct plan *p, int ni, struct tensor *const *out,
			       int n_out)
{
	struct cache_worker *w = user;
	const struct graph *g = w->en->g;
	const struct node *n = &g->nodes[ni];
	int64_t row0 = plan_row0(p);
	for (int k = 0; k < n_out; k++) {
		int v = n->outputs[k];
		if (v < 0 || !w->want[v] || !out[k])
			continue;
		struct tensor *c = &w->en->cache.val[v];
		size_t row_bytes = c->nbytes / (size_t)c->shape.dim[0];
		memcpy((char *)c->data + (size_t)row0 * row_bytes, out[k]->data, out[k]->nbytes);
	}
	return OK;
}

static void cache_clear(struct engine *en)
{
	for (int v = 0; v < en->g->n_values; v++)
		tensor_fini(&en->cache.val[v]);
	en->cache.bytes = 0;
	en->cache.built = false;
	en->cache.sim_key = -2;
}

enum status engine_cache_baseline(struct engine *en, int key, struct err *e)
{
	const struct graph *g = en->g;
	if (en->cache.built && en->cache.sim_key == key)
		return OK;
	cache_clear(en);
	enum status st = OK;
	int64_t N = en->ev.x.shape.dim[0];
	bool *want = calloc((size_t)g->n_values + 1, sizeof *want);
	bool *changed = calloc((size_t)g->n_nodes + 1, sizeof *changed);
	bool *run = calloc((size_t)g->n_nodes + 1, sizeof *run);
	struct sim_hooks *sh = NULL;
	struct plan_hooks *hooks = NULL, *next = NULL;
	struct cache_worker *cw = NULL;
	struct tensor outs[64] = { 0 };
	int threads = runner_threads(en->ev.r);
	if (!want || !changed || !run) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	/* values a single-node change reads from outside its run set */
	const struct plan *ref = en->cand_sim[0].ref;
	for (int i = 0; i < g->n_nodes; i++) {
		if (!en->sweepable[i])
			continue;
		const uint64_t *d = en->desc + (size_t)i * (size_t)en->desc_words;
		for (int j = 0; j < g->n_nodes; j++) {
			if (!bit_get(d, j))
				continue;
			const struct node *nj = &g->nodes[j];
			for (int k = 0; k < nj->n_inputs; k++) {
				int v = nj->inputs[k];
				if (v < 0 || g->values[v].kind != VAL_INTERMEDIATE ||
				    plan_value_is_const(ref, v))
					continue;
				int pr = g->values[v].producer;
				if (pr >= 0 && !bit_get(d, pr))
					want[v] = true;
			}
		}
	}
	/* graph outputs come from the reference logits or, for a quantized
	 * baseline, from the cache */
	for (int i = 0; i < g->n_outputs; i++)
		if (key >= 0)
			want[g->outputs[i]] = true;
	size_t used = 0;
	for (int v = 0; v < g->n_values; v++) {
		if (!want[v])
			continue;
		const struct tensor *t = plan_value(ref, v);
		struct shape s = t->shape;
		if (s.rank < 1) {
			want[v] = false;
			continue;
		}
		size_t per = t->nbytes / (size_t)(s.dim[0] ? s.dim[0] : 1);
		size_t bytes = per * (size_t)N;
		if (used + bytes > en->cache_budget) {
			want[v] = false;
			continue;
		}
		s.dim[0] = N;
		if ((st = tensor_alloc(&en->cache.val[v], t->dtype, &s, e)))
			goto done;
		used += bytes;
	}
	cw = calloc((size_t)threads, sizeof *cw);
	next = calloc((size_t)threads, sizeof *next);
	if (!cw || !next) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int t = 0; t < threads; t++) {
		cw[t] = (struct cache_worker){ en, want };
		next[t] = (struct plan_hooks){ .after_node = cache_after, .user = &cw[t] };
	}
	if (key >= 0) {
		if ((st = sim_hooks_new(&en->cand_sim[key], threads, NULL, next, &sh, &hooks, e)))
			goto done;
	} else {
		hooks = next;
	}
	struct run_opts o = { .hooks = hooks, .cancel = en->cancel };
	st = runner_exec(en->ev.r, &en->ev.x, outs, &o, e);
	if (st)
		goto done;
	en->cache.bytes = used;
	en->cache.built = true;
	en->cache.sim_key = key;
done:
	for (int k = 0; k < 64; k++)
		tensor_fini(&outs[k]);
	sim_hooks_free(sh);
	free(cw);
	free(next);
	free(want);
	free(changed);
	free(run);
	if (st)
		cache_clear(en);
	return st;
}

/* ---- evaluations ------------------------------------------------------------------ */

struct eval_job {
	struct engine *en;
	const struct eval_progress *pr;
	pthread_mutex_t lock;
	struct metrics m;
	int64_t done;
};

static void eval_chunk(void *user, int64_t row0, int64_t rows, const struct tensor *outputs)
{
	struct eval_job *j = user;
	const struct evaluator *ev = &j->en->ev;
	int64_t C = ev->classes;
	pthread_mutex_lock(&j->lock);
	metrics_add(&j->m, (const float *)ev->ref.data + row0 * C,
		    (const float *)outputs[0].data + row0 * C,
		    (const int64_t *)ev->labels.data + row0, rows, C);
	j->done += rows;
	if (j->pr && j->pr->fn) {
		struct metrics_summary s;
		metrics_summarize(&j->m, &s);
		j->pr->fn(j->pr->user, j->done, ev->ref.shape.dim[0], &s);
	}
	pthread_mutex_unlock(&j->lock);
}

static enum status eval_common(struct engine *en, const struct sim *sim, const bool *active,
			       const bool *run, const struct eval_progress *pr,
			       struct metrics_summary *out, struct err *e)
{
	const struct graph *g = en->g;
	int threads = runner_threads(en->ev.r);
	struct sim_hooks *sh = NULL;
	struct plan_hooks *hooks = NULL;
	struct tensor outs[64] = { 0 };
	const struct tensor **bound = NULL;
	enum status st;
	if (sim && (st = sim_hooks_new(sim, threads, active, NULL, &sh, &hooks, e)))
		return st;
	if (run) {
		bound = calloc((size_t)g->n_values + 1, sizeof *bound);
		if (!bound) {
			sim_hooks_free(sh);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		for (int v = 0; v < g->n_values; v++)
			if (en->cache.val[v].data)
				bound[v] = &en->cache.val[v];
		/* an FP32 baseline's outputs are the reference logits */
		if (en->cache.sim_key < 0 && !bound[g->outputs[0]])
			bound[g->outputs[0]] = &en->ev.ref;
	}
	struct eval_job j = { .en = en, .pr = pr };
	pthread_mutex_init(&j.lock, NULL);
	metrics_init(&j.m);
	struct run_opts o = { .hooks = hooks, .run = run, .bound = bound, .chunk_done = eval_chunk,
			      .user = &j, .cancel = en->cancel };
	st = runner_exec(en->ev.r, &en->ev.x, outs, &o, e);
	if (!st)
		metrics_summarize(&j.m, out);
	pthread_mutex_destroy(&j.lock);
	for (int k = 0; k < 64; k++)
		tensor_fini(&outs[k]);
	free(bound);
	sim_hooks_free(sh);
	return st;
}

enum status engine_eval(struct engine *en, const struct sim *sim, const bool *active,
			const bool *changed, const struct eval_progress *pr,
			struct metrics_summary *out, struct err *e)
{
	if (!en->cache.built)
		return err_set(e, ERR_INVALID, "no baseline cache");
	bool *run = calloc((size_t)en->g->n_nodes + 1, sizeof *run);
	if (!run)
		return err_set(e, ERR_NOMEM, "out of memory");
	enum status st = engine_run_set(en, changed, run, e);
	if (!st)
		st = eval_common(en, sim, active, run, pr, out, e);
	free(run);
	return st;
}

enum status engine_eval_full(struct engine *en, const struct sim *sim, const bool *active,
			     const struct eval_progress *pr, struct metrics_summary *out,
			     struct err *e)
{
	return eval_common(en, sim, active, NULL, pr, out, e);
}

static enum status single(struct engine *en, int node, int c, int key, bool invert,
			  const struct eval_progress *pr, struct metrics_summary *out, struct err *e)
{
	const struct graph *g = en->g;
	if (node < 0 || node >= g->n_nodes || !en->sweepable[node])
		return err_set(e, ERR_INVALID, "node %d cannot be swept", node);
	if (c < 0 || c >= en->n_cands)
		return err_set(e, ERR_INVALID, "no candidate %d", c);
	enum status st = engine_cache_baseline(en, key, e);
	if (st)
		return st;
	bool *active = calloc((size_t)g->n_nodes + 1, sizeof *active);
	bool *changed = calloc((size_t)g->n_nodes + 1, sizeof *changed);
	if (!active || !changed) {
		free(active);
		free(changed);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < g->n_nodes; i++)
		active[i] = invert;
	active[node] = !invert;
	changed[node] = true;
	st = engine_eval(en, &en->cand_sim[c], active, changed, pr, out, e);
	free(active);
	free(changed);
	return st;
}

enum status engine_isolate(struct engine *en, int node, int c, const struct eval_progress *pr,
			   struct metrics_summary *out, struct err *e)
{
	return single(en, node, c, -1, false, pr, out, e);
}

enum status engine_remove(struct engine *en, int node, int base, const struct eval_progress *pr,
			  struct metrics_summary *out, struct err *e)
{
	return single(en, node, base, base, true, pr, out, e);
}

/* ---- local sweep --------------------------------------------------------------------- */

#define LOCAL_MAX_IN 8

struct local_worker {
	struct engine *en;
	double *sig, *err; /* [node * n_cands + c] */
	struct tensor in_buf[LOCAL_MAX_IN];
	size_t in_cap[LOCAL_MAX_IN];
	struct tensor out_buf;
	size_t out_cap;
};

static enum status grow_buf(struct tensor *t, size_t *cap, const struct tensor *like)
{
	if (*cap < like->nbytes) {
		void *p = realloc(t->data, like->nbytes);
		if (!p)
			return ERR_NOMEM;
		t->data = p;
		*cap = like->nbytes;
	}
	t->dtype = like->dtype;
	t->shape = like->shape;
	t->nbytes = like->nbytes;
	t->owned = false;
	return OK;
}

static enum status local_after(void *user, const struct plan *cp, int ni,
			       struct tensor *const *out, int n_out)
{
	struct local_worker *w = user;
	struct engine *en = w->en;
	struct plan *p = (struct plan *)cp; /* rerun uses the plan's scratch between steps */
	if (!en->sweepable[ni] || n_out < 1 || !out[0] || out[0]->dtype != DT_FLOAT)
		return OK;
	const struct graph *g = en->g;
	const struct node *n = &g->nodes[ni];
	if (n->n_inputs > LOCAL_MAX_IN || n_out > 1)
		return OK;
	const struct tensor *ins[LOCAL_MAX_IN];
	struct tensor *outs[1] = { &w->out_buf };
	enum status st;
	if ((st = grow_buf(&w->out_buf, &w->out_cap, out[0])))
		return st;
	int64_t cnt = tensor_numel(out[0]);
	const float *y = out[0]->data;
	for (int c = 0; c < en->n_cands; c++) {
		const struct sim *s = &en->cand_sim[c];
		const struct sim_node *sn = &s->nodes[ni];
		for (int k = 0; k < n->n_inputs; k++) {
			int v = n->inputs[k];
			ins[k] = v >= 0 ? plan_value(p, v) : NULL;
			if (!sn->quant || v < 0)
				continue;
			if (k == sn->weight_input) {
				ins[k] = &sn->wq;
			} else if (k == sn->bias_input) {
				ins[k] = &sn->bq;
			} else {
				const struct act_q *q = &s->in_q[s->in_q_base[ni] + k];
				if (q->fmt == QF_FP32)
					continue;
				if ((st = grow_buf(&w->in_buf[k], &w->in_cap[k], ins[k])))
					return st;
				qfmt_fake_quant(q->fmt, ins[k]->data, w->in_buf[k].data,
						tensor_numel(ins[k]), q->p);
				ins[k] = &w->in_buf[k];
			}
		}
		if ((st = plan_rerun_node(p, ni, ins, outs, NULL)))
			return st;
		float *yq = w->out_buf.data;
		int v0 = n->outputs[0];
		if (sn->quant && s->out_q[v0].fmt != QF_FP32)
			qfmt_fake_quant(s->out_q[v0].fmt, yq, yq, cnt, s->out_q[v0].p);
		double sig = 0, err = 0;
		for (int64_t i = 0; i < cnt; i++) {
			double d = (double)y[i] - yq[i];
			sig += (double)y[i] * y[i];
			err += d * d;
		}
		w->sig[ni * en->n_cands + c] += sig;
		w->err[ni * en->n_cands + c] += err;
	}
	return OK;
}

enum status engine_local(struct engine *en, double *sqnr, struct err *e)
{
	const struct graph *g = en->g;
	int threads = runner_threads(en->ev.r);
	size_t cells = (size_t)g->n_nodes * (size_t)en->n_cands;
	struct local_worker *w = calloc((size_t)threads, sizeof *w);
	struct plan_hooks *hooks = calloc((size_t)threads, sizeof *hooks);
	struct tensor outs[64] = { 0 };
	enum status st = OK;
	if (!w || !hooks) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int t = 0; t < threads; t++) {
		w[t].en = en;
		w[t].sig = calloc(cells + 1, sizeof(double));
		w[t].err = calloc(cells + 1, sizeof(double));
		if (!w[t].sig || !w[t].err) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
		hooks[t] = (struct plan_hooks){ .after_node = local_after, .user = &w[t] };
	}
	struct run_opts o = { .hooks = hooks, .cancel = en->cancel };
	if ((st = runner_exec(en->ev.r, &en->ev.x, outs, &o, e)))
		goto done;
	for (int ni = 0; ni < g->n_nodes; ni++)
		for (int c = 0; c < en->n_cands; c++) {
			size_t i = (size_t)ni * (size_t)en->n_cands + (size_t)c;
			double sig = 0, err = 0;
			for (int t = 0; t < threads; t++) {
				sig += w[t].sig[i];
				err += w[t].err[i];
			}
			sqnr[i] = !en->sweepable[ni] ? NAN
				  : err > 0 ? 10 * log10(sig / err) : INFINITY;
		}
done:
	for (int k = 0; k < 64; k++)
		tensor_fini(&outs[k]);
	if (w)
		for (int t = 0; t < threads; t++) {
			free(w[t].sig);
			free(w[t].err);
			for (int k = 0; k < LOCAL_MAX_IN; k++)
				free(w[t].in_buf[k].data);
			free(w[t].out_buf.data);
		}
	free(w);
	free(hooks);
	return st;
}
