/*
 * engine.c - candidate simulations, the activation caches, incremental and
 * full evaluations, the three sweeps' single evaluations and policy edits.
 *
 * The run set of a change is the union of the changed nodes' descendants
 * (bitsets computed once in reverse topological order).  Values the run set
 * reads from outside come from an activation cache; when a value is missing,
 * its producer joins the run set and the closure is taken again.
 *
 * A cache is filled by one run with an after-node hook (chained after the
 * simulation's own, so it stores what consumers see) that copies the chosen
 * values' rows (plan_row0 tells which rows a chunk holds).  It chooses values
 * among those some single-node change would read from outside its run set,
 * until the memory budget is used; graph outputs of a quantized run are always
 * held (the remove sweep pairs against them).  The policy cache is updated in
 * place by each incremental policy evaluation: the values a run recomputes are
 * exactly those it overwrites, and bound (cached) values are never read for a
 * value the run produces, so the copy-back cannot feed a stale row to anyone.
 * A failed or cancelled policy run leaves the cache half old, half new: it is
 * dropped.
 *
 * Determinism: the runner's workers take chunks in any order, so every sum
 * (metrics, local SQNR) is kept per chunk and added in chunk order at the end;
 * the running estimates use arrival order, which does not matter.
 *
 * Set-up is split so that a session can show cached results before the heavy
 * work: engine_setup only loads data and plans one sample; engine_prepare runs
 * the FP32 reference, calibrates in slices (exact: histograms over power-of-
 * two ranges merge without loss, see calib.c) polling the cancel flag between
 * slices, and prepares the simulations.
 */
#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "op.h"

#define KEY_NONE (-2)
#define KEY_FP32 (-1)
#define KEY_POLICY (-3)

/* An evaluation that reports progress runs its first chunk in this many pieces
 * (eval_run): the first estimate comes after a quarter of a chunk's work. */
#define ENGINE_HEAD_PIECES 4

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

static bool cancelled(const struct engine *en)
{
	return en->cancel && atomic_load_explicit(en->cancel, memory_order_relaxed);
}

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
	}
	return OK;
}

/* Forget what a cache holds but keep its memory: on the machines qlens runs
 * on, first-touching fresh pages costs far more than refilling old ones. */
static void cache_reset(struct actcache *c)
{
	c->built = false;
	c->sim_key = KEY_NONE;
}

/* Cache storage comes straight from mmap with transparent huge pages advised:
 * hundreds of MiB are first-touched while a cache fills, and on virtual
 * machines that back guest memory lazily a 4 KiB fault costs tens of
 * microseconds; 2 MiB pages cut the count 512-fold (measured: 64 MiB in
 * 15-250 ms instead of 550-800 ms).  The tensors are borrowed views of it. */
static void *big_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}

static void cache_drop_value(struct actcache *c, int v)
{
	if (!c->val[v].data)
		return;
	munmap(c->val[v].data, c->val[v].nbytes ? c->val[v].nbytes : 1);
	c->bytes -= c->val[v].nbytes;
	memset(&c->val[v], 0, sizeof c->val[v]);
}

static void cache_release(struct engine *en, struct actcache *c)
{
	if (c->val)
		for (int v = 0; v < en->g->n_values; v++)
			cache_drop_value(c, v);
	c->bytes = 0;
	cache_reset(c);
}

void engine_drop_policy_cache(struct engine *en)
{
	cache_release(en, &en->pcache);
	if (en->have_pcache_pol)
		policy_fini(&en->pcache_pol);
	en->have_pcache_pol = false;
	if (en->have_last_pol)
		policy_fini(&en->last_pol);
	en->have_last_pol = false;
	if (en->have_last_sim)
		sim_fini(&en->last_sim);
	en->have_last_sim = false;
}

void engine_fini(struct engine *en)
{
	if (!en)
		return;
	for (int c = 0; c < en->n_sims; c++)
		sim_fini(&en->cand_sim[c]);
	if (en->g) {
		cache_release(en, &en->cache);
		engine_drop_policy_cache(en);
	}
	free(en->cache.val);
	free(en->pcache.val);
	free(en->sweepable);
	free(en->desc);
	plan_free(en->ref);
	evaluator_fini(&en->ev);
	memset(en, 0, sizeof *en);
}

static int sims_wanted(const struct engine *en)
{
	return en->n_cands + (en->base == en->n_cands ? 1 : 0);
}

bool engine_ready(const struct engine *en)
{
	return en->ev.ref.data && en->ev.have_cal && en->n_sims == sims_wanted(en);
}

void engine_node_cost(const struct engine *en, int ni, struct node_cost *c)
{
	plan_node_cost(en->ref, ni, c);
}

enum status engine_setup(struct engine *en, const struct bundle *b, const struct graph *g,
			 const struct engine_opts *o, struct err *e)
{
	memset(en, 0, sizeof *en);
	en->g = g;
	en->cache.sim_key = en->pcache.sim_key = KEY_NONE;
	en->cache_budget = o->cache_budget;
	en->cancel = o->cancel;
	en->base = -1;
	en->calib_samples = o->calib_samples;
	en->no_prefill = o->no_prefill;
	enum status st;
	if (o->n_cands < 1 || o->n_cands > ENGINE_MAX_CANDS)
		return err_set(e, ERR_INVALID, "between 1 and %d candidate precisions, not %d",
			       ENGINE_MAX_CANDS, o->n_cands);
	struct calib_spec cs;
	if ((st = calib_spec_parse(o->calib_method ? o->calib_method : "minmax", &cs, e)))
		return st;
	calib_spec_str(&cs, en->calib_label, sizeof en->calib_label);
	for (int c = 0; c < o->n_cands; c++) {
		if ((st = engine_parse_candidate(o->cands[c], &en->cand[c], e)))
			return st;
		en->cand[c].acalib = cs;
		snprintf(en->cand_name[c], sizeof en->cand_name[c], "%s", o->cands[c]);
	}
	en->n_cands = o->n_cands;
	if (o->base) {
		struct precision bp;
		if ((st = engine_parse_candidate(o->base, &bp, e))) {
			err_prefix(e, "base");
			return st;
		}
		bp.acalib = cs;
		for (int c = 0; c < en->n_cands && en->base < 0; c++)
			if (precision_equal(&bp, &en->cand[c]))
				en->base = c;
		if (en->base < 0) {
			en->base = en->n_cands;
			en->cand[en->base] = bp;
			snprintf(en->cand_name[en->base], sizeof en->cand_name[0], "%s", o->base);
		}
	}
	struct evaluator *ev = &en->ev;
	int in_idx;
	if ((st = bundle_input_index(b, g, &in_idx, e)))
		return st;
	if (g->n_inputs != 1)
		return err_set(e, ERR_UNSUPPORTED, "%s: models with %d inputs cannot be evaluated "
			       "(one image input is supported)", b->name, g->n_inputs);
	if (g->n_outputs < 1 || g->n_outputs > 64)
		return err_set(e, ERR_GRAPH, "%s: the model has %d outputs (1 to 64 supported)",
			       b->name, g->n_outputs);
	ev->g = g;
	ev->threads = o->threads;
	ev->batch = o->batch;
	if ((st = bundle_load_eval(b, &ev->x, &ev->labels, e)))
		goto fail;
	if ((st = runner_new(g, o->threads, o->batch, &ev->r, e)))
		goto fail;
	struct shape s1 = ev->x.shape;
	s1.dim[0] = 1;
	if ((st = plan_new(g, &s1, NULL, &en->ref, e))) {
		err_prefix(e, "%s", b->model_path);
		goto fail;
	}
	en->sweepable = calloc((size_t)g->n_nodes + 1, sizeof *en->sweepable);
	en->cache.val = calloc((size_t)g->n_values + 1, sizeof *en->cache.val);
	en->pcache.val = calloc((size_t)g->n_values + 1, sizeof *en->pcache.val);
	if (!en->sweepable || !en->cache.val || !en->pcache.val) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	/* a quantizable node whose output was folded at plan time never runs:
	 * nothing a policy does to it can show */
	for (int ni = 0; ni < g->n_nodes; ni++)
		en->sweepable[ni] = node_quantizable(g, ni) && g->nodes[ni].n_outputs > 0 &&
				    !plan_value_is_const(en->ref, g->nodes[ni].outputs[0]);
	if ((st = build_desc(en, e)))
		goto fail;
	return OK;
fail:
	engine_fini(en);
	return st;
}

struct ref_job {
	const struct engine_phase *ph;
	pthread_mutex_t lock;
	int64_t done, total;
};

static void ref_chunk(void *user, int64_t row0, int64_t rows, const struct tensor *outputs)
{
	struct ref_job *j = user;
	pthread_mutex_lock(&j->lock);
	j->done += rows;
	if (j->ph && j->ph->fn)
		j->ph->fn(j->ph->user, "reference", j->done, j->total);
	pthread_mutex_unlock(&j->lock);
}

struct capture_worker {
	const struct graph *g;
	struct actcache *c;
};
static enum status capture_after(void *user, const struct plan *p, int ni,
				 struct tensor *const *out, int n_out);
static enum status cache_alloc(struct engine *en, struct actcache *c, struct actcache *other,
			       bool outputs, struct err *e);

/* The FP32 reference logits; unless no_prefill, the same run fills the FP32
 * baseline cache, so that an isolate sweep starts without a run of its own. */
static enum status run_reference(struct engine *en, const struct bundle *b,
				 const struct engine_phase *ph, struct err *e)
{
	struct evaluator *ev = &en->ev;
	const struct graph *g = en->g;
	struct tensor outs[64] = { 0 };
	struct ref_job j = { .ph = ph, .total = ev->x.shape.dim[0] };
	struct capture_worker cw[64];
	struct plan_hooks hooks[64];
	int threads = runner_threads(ev->r);
	bool fill = !en->no_prefill && threads <= 64;
	enum status st = OK;
	if (fill) {
		cache_reset(&en->cache);
		if ((st = cache_alloc(en, &en->cache, &en->pcache, false, e)))
			return st;
		for (int t = 0; t < threads; t++) {
			cw[t] = (struct capture_worker){ g, &en->cache };
			hooks[t] = (struct plan_hooks){ .after_node = capture_after, .user = &cw[t] };
		}
	}
	pthread_mutex_init(&j.lock, NULL);
	struct run_opts o = { .hooks = fill ? hooks : NULL, .chunk_done = ref_chunk, .user = &j,
			      .cancel = en->cancel };
	st = runner_exec(ev->r, &ev->x, outs, &o, e);
	pthread_mutex_destroy(&j.lock);
	if (st) {
		if (st != ERR_CANCELLED)
			err_prefix(e, "%s", b->model_path);
		return st;
	}
	if (fill) {
		en->cache.built = true;
		en->cache.sim_key = KEY_FP32;
	}
	for (int k = 1; k < g->n_outputs; k++)
		tensor_fini(&outs[k]);
	if (outs[0].shape.rank != 2 || outs[0].dtype != DT_FLOAT) {
		char s[96];
		st = err_set(e, ERR_SHAPE, "%s: the first output has shape %s; classification needs "
			     "float logits [N, classes]", b->name, shape_str(&outs[0].shape, s, sizeof s));
		tensor_fini(&outs[0]);
		return st;
	}
	int64_t classes = outs[0].shape.dim[1];
	const int64_t *lab = ev->labels.data;
	for (int64_t i = 0; i < ev->labels.shape.dim[0]; i++)
		if (lab[i] < 0 || lab[i] >= classes) {
			tensor_fini(&outs[0]);
			return err_set(e, ERR_FORMAT, "%s: label %lld of sample %lld is outside "
				       "0..%lld", b->labels_path, (long long)lab[i], (long long)i,
				       (long long)classes - 1);
		}
	ev->ref = outs[0];
	ev->classes = classes;
	return OK;
}

static enum status calibrate(struct engine *en, const struct bundle *b,
			     const struct engine_phase *ph, struct err *e)
{
	struct evaluator *ev = &en->ev;
	const struct graph *g = en->g;
	struct tensor data;
	enum status st = bundle_load_calib(b, &data, e);
	if (st)
		return st;
	int64_t n = data.shape.dim[0];
	if (en->calib_samples > 0 && en->calib_samples < n)
		n = en->calib_samples;
	size_t row_bytes = data.nbytes / (size_t)(data.shape.dim[0] ? data.shape.dim[0] : 1);
	/* slices of a few chunks: each is short enough for a prompt cancel */
	int64_t slice = (int64_t)ev->batch * ev->threads * 2;
	struct calib_data total = { 0 };
	bool have = false;
	for (int64_t r0 = 0; r0 < n; r0 += slice) {
		if (cancelled(en)) {
			st = err_set(e, ERR_CANCELLED, "cancelled");
			break;
		}
		int64_t rows = n - r0 < slice ? n - r0 : slice;
		struct tensor view = data;
		view.shape.dim[0] = rows;
		view.data = (char *)data.data + (size_t)r0 * row_bytes;
		view.nbytes = (size_t)rows * row_bytes;
		view.owned = false;
		struct calib_data part;
		if ((st = calib_collect(g, &view, ev->threads, ev->batch, &part, e)))
			break;
		if (!have) {
			total = part;
			have = true;
		} else {
			for (int v = 0; v < g->n_values; v++)
				if (total.stats[v] && part.stats[v])
					calib_stats_merge(total.stats[v], part.stats[v]);
			total.samples += part.samples;
			calib_data_fini(&part);
		}
		if (ph && ph->fn)
			ph->fn(ph->user, "calibration", r0 + rows, n);
	}
	tensor_fini(&data);
	if (st) {
		if (have)
			calib_data_fini(&total);
		if (st != ERR_CANCELLED)
			err_prefix(e, "calibration");
		return st;
	}
	ev->cal = total;
	ev->have_cal = have;
	return OK;
}

enum status engine_prepare(struct engine *en, const struct bundle *b,
			   const struct engine_phase *ph, struct err *e)
{
	enum status st;
	if (!en->ev.ref.data && (st = run_reference(en, b, ph, e)))
		return st;
	if (!en->ev.have_cal && (st = calibrate(en, b, ph, e)))
		return st;
	int want = sims_wanted(en);
	while (en->n_sims < want) {
		if (cancelled(en))
			return err_set(e, ERR_CANCELLED, "cancelled");
		int c = en->n_sims;
		struct policy pol;
		if ((st = policy_init(&pol, en->g, &en->cand[c], e)))
			return st;
		st = sim_prepare(&en->cand_sim[c], en->g, &en->ev.cal, &pol, e);
		policy_fini(&pol);
		if (st) {
			err_prefix(e, "candidate '%s'", en->cand_name[c]);
			return st;
		}
		en->n_sims = c + 1;
		if (ph && ph->fn)
			ph->fn(ph->user, "simulation", en->n_sims, want);
	}
	return OK;
}

enum status engine_recalibrate(struct engine *en, const struct bundle *b, const char *method,
			       int64_t samples, const struct engine_phase *ph, struct err *e)
{
	struct calib_spec cs = en->cand[0].acalib;
	enum status st;
	if (method && (st = calib_spec_parse(method, &cs, e)))
		return st;
	cache_reset(&en->cache);
	engine_drop_policy_cache(en);
	for (int c = 0; c < en->n_sims; c++)
		sim_fini(&en->cand_sim[c]);
	en->n_sims = 0;
	if (en->ev.have_cal)
		calib_data_fini(&en->ev.cal);
	en->ev.have_cal = false;
	for (int c = 0; c < sims_wanted(en); c++)
		en->cand[c].acalib = cs;
	calib_spec_str(&cs, en->calib_label, sizeof en->calib_label);
	if (samples >= 0)
		en->calib_samples = samples;
	return engine_prepare(en, b, ph, e);
}

enum status engine_init(struct engine *en, const struct bundle *b, const struct graph *g,
			const char *const *cands, int n_cands, int threads, int batch,
			int64_t calib_samples, size_t cache_budget, struct err *e)
{
	struct engine_opts o = { .cands = cands, .n_cands = n_cands, .threads = threads,
				 .batch = batch, .calib_samples = calib_samples,
				 .cache_budget = cache_budget };
	enum status st = engine_setup(en, b, g, &o, e);
	if (st)
		return st;
	if ((st = engine_prepare(en, b, NULL, e)))
		engine_fini(en);
	return st;
}

/* ---- run sets ---------------------------------------------------------------- */

static void run_set_in(const struct engine *en, const struct actcache *c, const bool *changed,
		       bool *run)
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
				if (pr < 0 || run[pr] || c->val[v].data ||
				    plan_value_is_const(en->ref, v))
					continue;
				run[pr] = true;
				grew = true;
			}
		}
	}
}

enum status engine_run_set(struct engine *en, const bool *changed, bool *run, struct err *e)
{
	run_set_in(en, &en->cache, changed, run);
	return OK;
}

/* ---- evaluations ------------------------------------------------------------------ */

static void metrics_merge(struct metrics *a, const struct metrics *b)
{
	a->n += b->n;
	a->fp32_correct += b->fp32_correct;
	a->q_correct += b->q_correct;
	a->b += b->b;
	a->c += b->c;
	a->agree += b->agree;
	a->sig_pow += b->sig_pow;
	a->err_pow += b->err_pow;
	a->kl_sum += b->kl_sum;
}

struct eval_job {
	struct engine *en;
	const struct eval_progress *pr;
	const float *ref2;
	pthread_mutex_t lock;
	struct metrics m;	/* running estimate, in arrival order */
	struct metrics *chunk;	/* per chunk, added in order at the end */
	struct metrics *chunk2;
	int64_t done;
	int64_t head_done;	/* rows of the first chunk done, when it runs in pieces */
	double last_report;	/* monotonic seconds of the last progress report, < 0: none */
};

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void eval_chunk(void *user, int64_t row0, int64_t rows, const struct tensor *outputs)
{
	struct eval_job *j = user;
	const struct evaluator *ev = &j->en->ev;
	int64_t C = ev->classes, N = ev->ref.shape.dim[0];
	int64_t span = N < ev->batch ? N : ev->batch;
	const float *q = (const float *)outputs[0].data + row0 * C;
	const int64_t *lab = (const int64_t *)ev->labels.data + row0;
	struct metrics cm, cm2;
	metrics_init(&cm);
	metrics_add(&cm, (const float *)ev->ref.data + row0 * C, q, lab, rows, C);
	if (j->ref2) {
		metrics_init(&cm2);
		metrics_add(&cm2, j->ref2 + row0 * C, q, lab, rows, C);
	}
	int64_t ci = row0 / ev->batch;
	bool piece = row0 < span && rows < span; /* of the first chunk (run_opts.head_rows) */
	pthread_mutex_lock(&j->lock);
	if (!piece) {
		j->chunk[ci] = cm;
		if (j->ref2)
			j->chunk2[ci] = cm2;
	} else if ((j->head_done += rows) == span) {
		/* every piece's rows are in outputs (each was stored before its report, and
		 * the lock orders the reports): sum the first chunk as one, in sample
		 * order, so the figures do not depend on the pieces */
		const float *q0 = outputs[0].data;
		const int64_t *lab0 = ev->labels.data;
		metrics_init(&j->chunk[0]);
		metrics_add(&j->chunk[0], ev->ref.data, q0, lab0, span, C);
		if (j->ref2) {
			metrics_init(&j->chunk2[0]);
			metrics_add(&j->chunk2[0], j->ref2, q0, lab0, span, C);
		}
	}
	metrics_merge(&j->m, &cm);
	j->done += rows;
	if (j->pr && j->pr->fn) {
		double t = j->pr->every_s > 0 ? mono_s() : 0;
		if (j->last_report < 0 || j->done == N || t - j->last_report >= j->pr->every_s) {
			struct metrics_summary s;
			metrics_summarize(&j->m, &s);
			j->pr->fn(j->pr->user, j->done, N, &s);
			j->last_report = t;
		}
	}
	pthread_mutex_unlock(&j->lock);
}

/* Capturing a run into a cache: an after-node hook per worker. */

static enum status capture_after(void *user, const struct plan *p, int ni,
				 struct tensor *const *out, int n_out)
{
	struct capture_worker *w = user;
	const struct node *n = &w->g->nodes[ni];
	int64_t row0 = plan_row0(p);
	for (int k = 0; k < n_out; k++) {
		int v = n->outputs[k];
		if (v < 0 || !out[k] || !w->c->val[v].data)
			continue;
		struct tensor *c = &w->c->val[v];
		size_t row_bytes = c->nbytes / (size_t)c->shape.dim[0];
		memcpy((char *)c->data + (size_t)row0 * row_bytes, out[k]->data, out[k]->nbytes);
	}
	return OK;
}

struct eval_spec {
	const struct sim *sim;		/* NULL: FP32 */
	const bool *active;		/* per node, NULL = all */
	const bool *run;		/* per node, NULL = every node */
	const struct actcache *from;	/* bindings, or NULL */
	struct actcache *capture;	/* allocated values to store, or NULL */
	const float *ref2;		/* second reference logits, or NULL */
	const struct eval_progress *pr;
	struct metrics_summary *out, *out2; /* may be NULL */
};

/* Values a simulation may fake-quantize in place (sim_hooks_inplace): computed by a
 * node of the run (so they live in the runner's arena, never in a cache or the input),
 * read by exactly one node input, and not graph outputs. */
static bool *inplace_values(const struct engine *en, const bool *run)
{
	const struct graph *g = en->g;
	bool *ok = calloc((size_t)g->n_values + 1, sizeof *ok);
	int *reads = calloc((size_t)g->n_values + 1, sizeof *reads);
	if (!ok || !reads) {
		free(ok);
		free(reads);
		return NULL;
	}
	for (int i = 0; i < g->n_nodes; i++)
		for (int k = 0; k < g->nodes[i].n_inputs; k++)
			if (g->nodes[i].inputs[k] >= 0)
				reads[g->nodes[i].inputs[k]]++;
	for (int v = 0; v < g->n_values; v++) {
		int pr = g->values[v].producer;
		ok[v] = reads[v] == 1 && g->values[v].kind == VAL_INTERMEDIATE && pr >= 0 &&
			(!run || run[pr]) && !g->values[v].is_output &&
			!plan_value_is_const(en->ref, v);
	}
	free(reads);
	return ok;
}

static enum status eval_run(struct engine *en, const struct eval_spec *sp, struct err *e)
{
	const struct graph *g = en->g;
	int threads = runner_threads(en->ev.r);
	int64_t N = en->ev.x.shape.dim[0];
	int64_t n_chunks = (N + en->ev.batch - 1) / en->ev.batch;
	struct sim_hooks *sh = NULL;
	struct plan_hooks *hooks = NULL, *next = NULL;
	struct capture_worker *cw = NULL;
	struct tensor outs[64] = { 0 };
	const struct tensor **bound = NULL;
	bool *inplace = NULL;
	struct eval_job j = { .en = en, .pr = sp->pr, .ref2 = sp->ref2, .last_report = -1 };
	enum status st = OK;
	pthread_mutex_init(&j.lock, NULL);
	metrics_init(&j.m);
	j.chunk = calloc((size_t)n_chunks, sizeof *j.chunk);
	j.chunk2 = calloc((size_t)n_chunks, sizeof *j.chunk2);
	if (!j.chunk || !j.chunk2) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	if (sp->capture) {
		cw = calloc((size_t)threads, sizeof *cw);
		next = calloc((size_t)threads, sizeof *next);
		if (!cw || !next) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int t = 0; t < threads; t++) {
			cw[t] = (struct capture_worker){ g, sp->capture };
			next[t] = (struct plan_hooks){ .after_node = capture_after, .user = &cw[t] };
		}
	}
	if (sp->sim) {
		if ((st = sim_hooks_new(sp->sim, threads, sp->active, next, &sh, &hooks, e)))
			goto done;
		if (!(inplace = inplace_values(en, sp->run))) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
		sim_hooks_inplace(sh, inplace);
	} else {
		hooks = next;
	}
	if (sp->from) {
		bound = calloc((size_t)g->n_values + 1, sizeof *bound);
		if (!bound) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int v = 0; v < g->n_values; v++)
			if (sp->from->val[v].data)
				bound[v] = &sp->from->val[v];
		/* an FP32 baseline's outputs are the reference logits */
		if (sp->from->sim_key == KEY_FP32 && !bound[g->outputs[0]])
			bound[g->outputs[0]] = &en->ev.ref;
	}
	int nodes = 0;
	int64_t macs = 0;
	for (int i = 0; i < g->n_nodes; i++)
		if (!sp->run || sp->run[i]) {
			struct node_cost c;
			plan_node_cost(en->ref, i, &c);
			nodes++;
			macs += c.macs;
		}
	en->last_run_nodes = nodes;
	en->last_run_macs = macs * N;
	/* with someone watching, the first chunk runs in pieces: a first estimate
	 * after a quarter of the work */
	bool watched = sp->pr && sp->pr->fn;
	struct run_opts o = { .hooks = hooks, .run = sp->run, .bound = bound,
			      .chunk_done = eval_chunk, .user = &j, .cancel = en->cancel,
			      .head_rows = watched ? en->ev.batch / ENGINE_HEAD_PIECES : 0 };
	if ((st = runner_exec(en->ev.r, &en->ev.x, outs, &o, e)))
		goto done;
	struct metrics m, m2;
	metrics_init(&m);
	metrics_init(&m2);
	for (int64_t c = 0; c < n_chunks; c++) {
		metrics_merge(&m, &j.chunk[c]);
		metrics_merge(&m2, &j.chunk2[c]);
	}
	if (sp->out)
		metrics_summarize(&m, sp->out);
	if (sp->out2 && sp->ref2)
		metrics_summarize(&m2, sp->out2);
done:
	pthread_mutex_destroy(&j.lock);
	free(j.chunk);
	free(j.chunk2);
	for (int k = 0; k < 64; k++)
		tensor_fini(&outs[k]);
	free(bound);
	free(inplace);
	sim_hooks_free(sh);
	free(cw);
	free(next);
	return st;
}

/* ---- the activation caches ------------------------------------------------------ */

/*
 * Which values to cache.  Candidates are the values some single-node change
 * reads from outside its run set.  Each is worth caching only if recomputing
 * it costs more than holding it: a cache is filled once per baseline, but a
 * value missing from it makes every evaluation that reads it rerun its
 * producers back to the nearest cached value.  Deciding in topological order
 * (so a value's recompute chain stops at upstream values already kept):
 *     keep v  iff  uses(v) * (candidates + 1) * recompute(v) >= CACHE_BYTE_COST * bytes(v)
 * with uses(v) = single-node changes reading v from outside, recompute(v) =
 * per-sample MACs of the chain plus CACHE_ELEM_COST per element it writes
 * (elementwise ops have no MACs but real cost; a node without MACs that reads
 * more than it writes, a pooling, counts what it reads), bytes(v) per sample.
 * Filling a cache costs ~0.09 ns per byte on this class of machine (the
 * kernel zeroing fresh pages, then the reference run's copy: 0.07 s for the
 * MobileNet sample's 760 MiB in bench-sweep); recomputing runs at ~0.01 ns
 * per MAC on two threads, so a byte weighs ~10 MACs, once.  Reading a cached
 * value back costs an evaluation no measurable time (bench-sweep with every
 * evaluation pointed at the same rows of its cached inputs ran no faster).
 * At 16 only values with nearly free producers stay out (an Add of two cached
 * values, a reshape of a small one); with 64, the constant before, the
 * MobileNet sample's expansions and depthwise outputs were recomputed and its
 * incremental isolate sweep took 2-8 % longer (six interleaved pairs).  What
 * is kept is bounded by the budget (cache_alloc).  Results never depend on the
 * choice - only time and memory do.
 */
#define CACHE_BYTE_COST 16
#define CACHE_ELEM_COST 4
/* The policy cache, which TUI edits start from, keeps the leaner set: with 16, bench-sweep's
 * edits (b) ran no faster (final p95 69.9 against 70.2 ms on fashion-mobilenet, 111.5
 * against 110.1 on fashion-vit) and the cache held 2.7x the memory. */
#define PCACHE_BYTE_COST 64

static double node_recompute(const struct engine *en, int ni)
{
	const struct node *n = &en->g->nodes[ni];
	struct node_cost c;
	plan_node_cost(en->ref, ni, &c);
	double written = 0, read = 0;
	for (int k = 0; k < n->n_outputs; k++)
		if (n->outputs[k] >= 0)
			written += (double)tensor_numel(plan_value(en->ref, n->outputs[k]));
	for (int k = 0; k < n->n_inputs; k++)
		if (n->inputs[k] >= 0 && !plan_value_is_const(en->ref, n->inputs[k]))
			read += (double)tensor_numel(plan_value(en->ref, n->inputs[k]));
	/* without MACs, a node costs what it streams: a pooling reads far more than it writes */
	double elems = c.macs == 0 && read > written ? read : written;
	return (double)c.macs + CACHE_ELEM_COST * elems;
}

/* Per-sample cost of recomputing node ni and whatever it reads that is not
 * kept (stamp marks nodes already counted). */
static double chain_cost(const struct engine *en, int ni, const bool *keep, int *stamp, int mark)
{
	const struct graph *g = en->g;
	if (stamp[ni] == mark)
		return 0;
	stamp[ni] = mark;
	double cost = node_recompute(en, ni);
	const struct node *n = &g->nodes[ni];
	for (int k = 0; k < n->n_inputs; k++) {
		int u = n->inputs[k];
		if (u < 0 || g->values[u].kind != VAL_INTERMEDIATE || plan_value_is_const(en->ref, u) ||
		    keep[u] || g->values[u].producer < 0)
			continue;
		cost += chain_cost(en, g->values[u].producer, keep, stamp, mark);
	}
	return cost;
}

/* Each value's worth per byte, uses(v) * (candidates + 1) * recompute(v) / bytes(v), where
 * it is kept (at least byte_cost), else 0. */
static double *want_values(const struct engine *en, double byte_cost)
{
	const struct graph *g = en->g;
	bool *want = calloc((size_t)g->n_values + 1, sizeof *want);
	double *score = calloc((size_t)g->n_values + 1, sizeof *score);
	int *uses = calloc((size_t)g->n_values + 1, sizeof *uses);
	int *last = malloc(((size_t)g->n_values + 1) * sizeof *last);
	int *stamp = malloc(((size_t)g->n_nodes + 1) * sizeof *stamp);
	if (!want || !score || !uses || !last || !stamp) {
		free(want);
		free(score);
		free(uses);
		free(last);
		free(stamp);
		return NULL;
	}
	for (int v = 0; v < g->n_values; v++)
		last[v] = -1;
	for (int i = 0; i < g->n_nodes; i++)
		stamp[i] = -1;
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
				    plan_value_is_const(en->ref, v))
					continue;
				int pr = g->values[v].producer;
				if (pr >= 0 && !bit_get(d, pr) && last[v] != i) {
					last[v] = i;
					uses[v]++;
				}
			}
		}
	}
	/* decide in topological order; want[] doubles as "kept so far" */
	int mark = 0;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		for (int k = 0; k < n->n_outputs; k++) {
			int v = n->outputs[k];
			if (v < 0 || !uses[v])
				continue;
			const struct tensor *t = plan_value(en->ref, v);
			double bytes = t->shape.rank >= 1 ? (double)t->nbytes / (double)(t->shape.dim[0] ? t->shape.dim[0] : 1) : 0;
			double recompute = chain_cost(en, ni, want, stamp, mark++);
			double worth = (double)uses[v] * (en->n_cands + 1) * recompute;
			want[v] = worth >= byte_cost * bytes;
			score[v] = want[v] ? worth / (bytes > 0 ? bytes : 1) : 0;
		}
	}
	free(want);
	free(uses);
	free(last);
	free(stamp);
	return score;
}

static size_t value_bytes(const struct engine *en, int v)
{
	const struct tensor *t = plan_value(en->ref, v);
	if (t->shape.rank < 1)
		return 0;
	size_t per = t->nbytes / (size_t)(t->shape.dim[0] ? t->shape.dim[0] : 1);
	return per * (size_t)en->ev.x.shape.dim[0];
}

static enum status hold(struct engine *en, struct actcache *c, int v, struct err *e)
{
	const struct tensor *t = plan_value(en->ref, v);
	struct shape s = t->shape;
	s.dim[0] = en->ev.x.shape.dim[0];
	size_t bytes = value_bytes(en, v);
	void *p = big_alloc(bytes);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory caching %zu bytes of activations", bytes);
	c->val[v] = tensor_view(t->dtype, &s, p);
	c->val[v].nbytes = bytes;
	c->bytes += bytes;
	return OK;
}

struct ranked {
	double score;
	int v;
};

static int by_score(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->v > y->v) - (x->v < y->v);
}

/*
 * Make c hold storage for the graph outputs when `outputs` (always: they are small), then
 * for the wanted values, worth most per byte first, while they fit in half the budget: the
 * other cache (the FP32 one for sweeps, the policy one for edits) keeps the other half, so
 * a sweep and the edits the TUI interleaves with it do not evict each other's.  Storage c
 * already holds is kept (reused, not re-faulted).  Should the two still not fit (the graph
 * outputs are taken whatever their size), the other one is released.
 */
static enum status cache_alloc(struct engine *en, struct actcache *c, struct actcache *other,
			       bool outputs, struct err *e)
{
	const struct graph *g = en->g;
	double *score = want_values(en, c == &en->pcache ? PCACHE_BYTE_COST : CACHE_BYTE_COST);
	struct ranked *rank = malloc(((size_t)g->n_values + 1) * sizeof *rank);
	bool *take = calloc((size_t)g->n_values + 1, sizeof *take);
	if (!score || !rank || !take) {
		free(score);
		free(rank);
		free(take);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int i = 0; outputs && i < g->n_outputs; i++)
		if (plan_value(en->ref, g->outputs[i])->shape.rank >= 1)
			score[g->outputs[i]] = INFINITY;
	int n = 0;
	for (int v = 0; v < g->n_values; v++)
		if (score[v] > 0 && value_bytes(en, v))
			rank[n++] = (struct ranked){ score[v], v };
	qsort(rank, (size_t)n, sizeof *rank, by_score);
	size_t need = 0, half = en->cache_budget / 2;
	for (int i = 0; i < n; i++) {
		size_t bytes = value_bytes(en, rank[i].v);
		if (rank[i].score == INFINITY || need + bytes <= half) {
			take[rank[i].v] = true;
			need += bytes;
		}
	}
	if (other->bytes && need + other->bytes > en->cache_budget) {
		if (other == &en->pcache)
			engine_drop_policy_cache(en);
		else
			cache_release(en, other);
	}
	/* storage of values no longer taken goes first */
	for (int v = 0; v < g->n_values; v++)
		if (c->val[v].data && !take[v])
			cache_drop_value(c, v);
	enum status st = OK;
	for (int i = 0; i < n && !st; i++)
		if (take[rank[i].v] && !c->val[rank[i].v].data)
			st = hold(en, c, rank[i].v, e);
	free(score);
	free(rank);
	free(take);
	size_t total = en->cache.bytes + en->pcache.bytes;
	if (total > en->peak_cache_bytes)
		en->peak_cache_bytes = total;
	return st;
}

enum status engine_cache_baseline(struct engine *en, int key, struct err *e)
{
	if (en->cache.built && en->cache.sim_key == key)
		return OK;
	if (key < KEY_FP32 || key >= en->n_sims)
		return err_set(e, ERR_INVALID, "no baseline %d", key);
	cache_reset(&en->cache);
	enum status st = cache_alloc(en, &en->cache, &en->pcache, key >= 0, e);
	if (!st) {
		struct eval_spec sp = { .sim = key >= 0 ? &en->cand_sim[key] : NULL,
					.capture = &en->cache };
		st = eval_run(en, &sp, e);
	}
	if (st) {
		cache_reset(&en->cache);
		return st;
	}
	en->cache.built = true;
	en->cache.sim_key = key;
	return OK;
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
	run_set_in(en, &en->cache, changed, run);
	struct eval_spec sp = { .sim = sim, .active = active, .run = run, .from = &en->cache,
				.pr = pr, .out = out };
	enum status st = eval_run(en, &sp, e);
	free(run);
	return st;
}

enum status engine_eval_full(struct engine *en, const struct sim *sim, const bool *active,
			     const struct eval_progress *pr, struct metrics_summary *out,
			     struct err *e)
{
	struct eval_spec sp = { .sim = sim, .active = active, .pr = pr, .out = out };
	return eval_run(en, &sp, e);
}

static enum status single(struct engine *en, int node, int c, int key, bool invert,
			  const struct eval_progress *pr, struct metrics_summary *out,
			  struct metrics_summary *vs_base, struct err *e)
{
	const struct graph *g = en->g;
	if (node < 0 || node >= g->n_nodes || !en->sweepable[node])
		return err_set(e, ERR_INVALID, "node %d cannot be swept", node);
	if (c < 0 || c >= en->n_sims)
		return err_set(e, ERR_INVALID, "no candidate %d", c);
	enum status st = engine_cache_baseline(en, key, e);
	if (st)
		return st;
	bool *active = calloc((size_t)g->n_nodes + 1, sizeof *active);
	bool *changed = calloc((size_t)g->n_nodes + 1, sizeof *changed);
	bool *run = calloc((size_t)g->n_nodes + 1, sizeof *run);
	if (!active || !changed || !run) {
		free(active);
		free(changed);
		free(run);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < g->n_nodes; i++)
		active[i] = invert;
	active[node] = !invert;
	changed[node] = true;
	run_set_in(en, &en->cache, changed, run);
	const struct tensor *base_out = &en->cache.val[g->outputs[0]];
	struct eval_spec sp = { .sim = &en->cand_sim[c], .active = active, .run = run,
				.from = &en->cache, .pr = pr, .out = out, .out2 = vs_base,
				.ref2 = vs_base && base_out->data ? base_out->data : NULL };
	if (vs_base && !sp.ref2)
		st = err_set(e, ERR_INVALID, "the base's logits are not cached");
	else
		st = eval_run(en, &sp, e);
	free(active);
	free(changed);
	free(run);
	return st;
}

enum status engine_isolate(struct engine *en, int node, int c, const struct eval_progress *pr,
			   struct metrics_summary *out, struct err *e)
{
	return single(en, node, c, KEY_FP32, false, pr, out, NULL, e);
}

enum status engine_remove(struct engine *en, int node, int base, const struct eval_progress *pr,
			  struct metrics_summary *out, struct err *e)
{
	return single(en, node, base, base, true, pr, out, NULL, e);
}

enum status engine_remove_paired(struct engine *en, int node, int base,
				 const struct eval_progress *pr, struct metrics_summary *vs_fp32,
				 struct metrics_summary *vs_base, struct err *e)
{
	return single(en, node, base, base, true, pr, vs_fp32, vs_base, e);
}

enum status engine_base(struct engine *en, int base, const struct eval_progress *pr,
			struct metrics_summary *out, struct err *e)
{
	if (base < 0 || base >= en->n_sims)
		return err_set(e, ERR_INVALID, "no candidate %d", base);
	enum status st = engine_cache_baseline(en, base, e);
	if (st)
		return st;
	bool *run = calloc((size_t)en->g->n_nodes + 1, sizeof *run);
	if (!run)
		return err_set(e, ERR_NOMEM, "out of memory");
	/* nothing runs: the logits come from the cache */
	struct eval_spec sp = { .sim = &en->cand_sim[base], .run = run, .from = &en->cache,
				.pr = pr, .out = out };
	st = eval_run(en, &sp, e);
	free(run);
	return st;
}

/* ---- policy edits -------------------------------------------------------------------- */

/* Nodes where two policies run differently. */
static void policy_diff(const struct graph *g, const struct policy *a, const struct policy *b,
			bool *diff)
{
	for (int i = 0; i < g->n_nodes; i++) {
		struct precision x = policy_node(a, i), y = policy_node(b, i);
		diff[i] = !precision_equal(&x, &y);
	}
}

static void forget_policy(struct policy *p, bool *have)
{
	if (*have)
		policy_fini(p);
	*have = false;
}

enum status engine_eval_policy(struct engine *en, const struct policy *pol,
			       const struct eval_progress *pr, struct metrics_summary *out,
			       int64_t *weight_bytes, struct err *e)
{
	const struct graph *g = en->g;
	if (pol->g != g)
		return err_set(e, ERR_INVALID, "the policy belongs to another graph");
	/* the nodes an edit leaves alone keep their prepared weights */
	struct sim sim;
	enum status st = sim_prepare_from(&sim, g, &en->ev.cal, pol,
					  en->have_last_sim ? &en->last_sim : NULL, e);
	if (en->have_last_sim)
		sim_fini(&en->last_sim);
	en->have_last_sim = false;
	if (st)
		return st;
	if (weight_bytes)
		*weight_bytes = sim.weight_bytes;
	bool *changed = calloc((size_t)g->n_nodes + 1, sizeof *changed);
	bool *since_last = calloc((size_t)g->n_nodes + 1, sizeof *since_last);
	bool *run = calloc((size_t)g->n_nodes + 1, sizeof *run);
	bool capture = true;
	if (!changed || !since_last || !run) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	struct eval_spec sp = { .sim = &sim, .pr = pr, .out = out };
	if (en->pcache.built && en->have_pcache_pol) {
		policy_diff(g, &en->pcache_pol, pol, changed);
		run_set_in(en, &en->pcache, changed, run);
		sp.run = run;
		sp.from = &en->pcache;
		/* Re-anchor the cache on this policy only when it builds on the last
		 * one evaluated (it keeps a difference from the cache that the last
		 * policy already had): then later edits start from here.  A toggle
		 * and its undo stay relative to the cache and skip the copy. */
		capture = false;
		if (en->have_last_pol) {
			policy_diff(g, &en->last_pol, pol, since_last);
			for (int i = 0; i < g->n_nodes && !capture; i++)
				capture = changed[i] && !since_last[i];
		}
	} else {
		cache_reset(&en->pcache);
		if ((st = cache_alloc(en, &en->pcache, &en->cache, true, e)))
			goto done;
	}
	if (capture) {
		/* from here on the cache is being rewritten: it is valid again
		 * only if the run completes */
		sp.capture = &en->pcache;
		en->pcache.built = false;
	}
	if ((st = eval_run(en, &sp, e)))
		goto done;
	if (capture) {
		forget_policy(&en->pcache_pol, &en->have_pcache_pol);
		if ((st = policy_copy(&en->pcache_pol, pol, e)))
			goto done;
		en->have_pcache_pol = true;
		en->pcache.built = true;
		en->pcache.sim_key = KEY_POLICY;
	}
	forget_policy(&en->last_pol, &en->have_last_pol);
	if (!policy_copy(&en->last_pol, pol, NULL))
		en->have_last_pol = true;
done:
	if (st && capture) {
		/* half old, half new: forget the contents, keep the memory */
		cache_reset(&en->pcache);
		forget_policy(&en->pcache_pol, &en->have_pcache_pol);
	}
	free(changed);
	free(since_last);
	free(run);
	en->last_sim = sim;
	en->have_last_sim = true;
	return st;
}

/* ---- local sweep --------------------------------------------------------------------- */

#define LOCAL_MAX_IN 8

struct local_shared {
	struct engine *en;
	double *sig, *err; /* [chunk][node * n_cands + c] */
	size_t cells;
	const struct eval_progress *pr;
	pthread_mutex_t lock;
	int64_t done, total;
};

struct local_worker {
	struct local_shared *sh;
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
	struct engine *en = w->sh->en;
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
	size_t base = (size_t)(plan_row0(p) / en->ev.batch) * w->sh->cells;
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
		/* one worker runs a chunk: no other thread touches this slot */
		w->sh->sig[base + (size_t)ni * (size_t)en->n_cands + (size_t)c] += sig;
		w->sh->err[base + (size_t)ni * (size_t)en->n_cands + (size_t)c] += err;
	}
	return OK;
}

static void local_chunk(void *user, int64_t row0, int64_t rows, const struct tensor *outputs)
{
	struct local_shared *sh = user;
	pthread_mutex_lock(&sh->lock);
	sh->done += rows;
	if (sh->pr && sh->pr->fn)
		sh->pr->fn(sh->pr->user, sh->done, sh->total, NULL);
	pthread_mutex_unlock(&sh->lock);
}

enum status engine_local_progress(struct engine *en, double *sqnr, const struct eval_progress *pr,
				  struct err *e)
{
	const struct graph *g = en->g;
	int threads = runner_threads(en->ev.r);
	int64_t N = en->ev.x.shape.dim[0];
	size_t n_chunks = (size_t)((N + en->ev.batch - 1) / en->ev.batch);
	size_t cells = (size_t)g->n_nodes * (size_t)en->n_cands;
	struct local_shared sh = { .en = en, .cells = cells, .pr = pr, .total = N };
	struct local_worker *w = calloc((size_t)threads, sizeof *w);
	struct plan_hooks *hooks = calloc((size_t)threads, sizeof *hooks);
	struct tensor outs[64] = { 0 };
	enum status st = OK;
	pthread_mutex_init(&sh.lock, NULL);
	sh.sig = calloc(cells * n_chunks + 1, sizeof(double));
	sh.err = calloc(cells * n_chunks + 1, sizeof(double));
	if (!w || !hooks || !sh.sig || !sh.err) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int t = 0; t < threads; t++) {
		w[t].sh = &sh;
		hooks[t] = (struct plan_hooks){ .after_node = local_after, .user = &w[t] };
	}
	struct run_opts o = { .hooks = hooks, .cancel = en->cancel, .chunk_done = local_chunk,
			      .user = &sh };
	if ((st = runner_exec(en->ev.r, &en->ev.x, outs, &o, e)))
		goto done;
	for (size_t i = 0; i < cells; i++) {
		double sig = 0, err = 0;
		for (size_t ch = 0; ch < n_chunks; ch++) {
			sig += sh.sig[ch * cells + i];
			err += sh.err[ch * cells + i];
		}
		int ni = (int)(i / (size_t)en->n_cands);
		sqnr[i] = !en->sweepable[ni] ? NAN : err > 0 ? 10 * log10(sig / err) : INFINITY;
	}
done:
	pthread_mutex_destroy(&sh.lock);
	for (int k = 0; k < 64; k++)
		tensor_fini(&outs[k]);
	if (w)
		for (int t = 0; t < threads; t++) {
			for (int k = 0; k < LOCAL_MAX_IN; k++)
				free(w[t].in_buf[k].data);
			free(w[t].out_buf.data);
		}
	free(w);
	free(hooks);
	free(sh.sig);
	free(sh.err);
	return st;
}

enum status engine_local(struct engine *en, double *sqnr, struct err *e)
{
	return engine_local_progress(en, sqnr, NULL, e);
}
