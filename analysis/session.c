/*
 * session.c - the worker thread, its job queue, and the published state.
 *
 * Pattern (cmus / Redis): a mutex + condition variable guard a FIFO of jobs;
 * the worker pops one, runs it without the lock, and publishes progress and
 * results into `pub` under the lock, bumping `pub.gen` and writing a byte to
 * a non-blocking self-pipe so that a UI loop polling the read end wakes up.
 * The worker is the only writer of `pub`, so it may read it without the lock;
 * the caller only ever reads it under the lock (session_snapshot copies).
 *
 * The engine (engine.h) belongs to the worker alone.  Its runs poll one
 * atomic cancel flag, which the worker clears when a job starts and
 * session_cancel sets.  A policy evaluation preempts a sweep: submitting one
 * sets the flag with `preempt` marked, the sweep's current evaluation stops,
 * and the worker puts the sweep back behind the policy job instead of freeing
 * it; a sweep skips every result it already has, so it resumes where it was.
 *
 * Opening is a job too, in steps that each leave the engine consistent:
 * hash the files (cancellable between blocks), set the engine up (data,
 * one-sample plan), build the rows and fill them from the persisted cache -
 * published at once, before any model run - then prepare the engine
 * (reference, calibration, simulations).  Every later job first completes
 * whatever of this a cancel cut short.
 *
 * Running estimates arrive from the runner's threads after each chunk; they
 * are published at most every 25 ms (plus the first and the last), which is
 * plenty for a terminal and keeps the pipe quiet.
 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fileio.h"
#include "modelinfo.h"
#include "policyfile.h"
#include "sha256.h"

#define SAVE_EVERY_S 2.0
#define PUBLISH_EVERY_S 0.025

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t id;
	double submitted; /* monotonic seconds */
	unsigned kinds;	  /* JOB_SWEEP */
	int shard_k, shard_n;
	bool *nodes;	  /* JOB_SWEEP, per node or NULL */
	struct policy pol; /* JOB_POLICY */
	bool has_pol;
	char method[64];  /* JOB_CALIBRATE, "" = keep */
	int64_t samples;
	struct search_opts sopts; /* JOB_AUTO */
};

/* The last finished search (JOB_AUTO), guarded by the lock. */
struct auto_out {
	bool have;
	uint64_t id;
	struct search_opts opts;
	enum status status;
	struct search_space sp;
	struct search_result res;
	struct policy_doc doc;	/* the result as a policy file */
	bool have_doc;
};

struct session {
	const struct bundle *b;
	const struct graph *g;
	/* options, copied */
	char cand[SWEEP_MAX_CANDS][32];
	int n_cands;
	char base[32], calib_method[64], version[32];
	char cache_dir[1024];
	int64_t calib_samples;
	int threads, batch;
	size_t cache_budget;
	bool no_cache, lazy;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;	 /* work queued or quit */
	pthread_cond_t idle;	 /* a job finished */
	int pipe_r, pipe_w;
	struct job *head;
	struct job *running;
	int queued;
	bool quit, preempt;
	_Atomic bool cancel;
	uint64_t next_id;

	/* worker-owned */
	pthread_t worker_tid;	/* set by the worker under the lock */
	bool worker_started;
	struct engine en;
	bool hashed, set_up, failed;
	struct err fail;
	double last_save, last_pub;
	double w_total, w_done, w_cur, t0;
	bool est_first;
	uint64_t policy_job;	/* the policy job being evaluated */
	double policy_submitted;

	/* published: written by the worker under the lock */
	struct session_snap pub;
	struct auto_out aout;
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* With the lock held; from any thread.  Only the worker reads the engine's
 * cache sizes (it is the one thread that changes them, outside the lock). */
static void publish(struct session *s)
{
	s->pub.gen++;
	if (s->worker_started && pthread_equal(pthread_self(), s->worker_tid)) {
		s->pub.cache_bytes = s->en.cache.bytes + s->en.pcache.bytes;
		s->pub.peak_cache_bytes = s->en.peak_cache_bytes;
	}
	s->last_pub = now_s();
	char c = 1;
	/* a full pipe already says "changed" */
	if (write(s->pipe_w, &c, 1) < 0 && errno != EAGAIN) {
		/* nothing sensible to do: the reader will see the next byte */
	}
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->nodes);
	if (j->has_pol)
		policy_fini(&j->pol);
	free(j);
}

/* ---- progress --------------------------------------------------------------------- */

static void update_fraction(struct session *s, double cur)
{
	struct session_progress *p = &s->pub.progress;
	double f = s->w_total > 0 ? (s->w_done + s->w_cur * cur) / s->w_total : 0;
	p->fraction = f < 0 ? 0 : f > 1 ? 1 : f;
	p->elapsed_s = now_s() - s->t0;
	p->eta_s = p->fraction > 0.005 ? p->elapsed_s * (1 - p->fraction) / p->fraction : -1;
}

/* A running estimate after a chunk: from the runner's threads. */
static void on_est(void *user, int64_t done, int64_t total, const struct metrics_summary *m)
{
	struct session *s = user;
	pthread_mutex_lock(&s->lock);
	struct session_progress *p = &s->pub.progress;
	p->has_est = m != NULL;
	p->est_done = done;
	p->est_total = total;
	if (m)
		p->est = *m;
	update_fraction(s, total > 0 ? (double)done / (double)total : 0);
	double t = now_s();
	if (s->running && s->running->kind == JOB_POLICY && m) {
		struct session_policy *q = &s->pub.policy;
		q->est = *m;
		q->est_done = done;
		q->est_total = total;
		if (s->est_first)
			q->first_s = t - s->policy_submitted;
	}
	if (s->est_first || done == total || t - s->last_pub >= PUBLISH_EVERY_S)
		publish(s);
	s->est_first = false;
	pthread_mutex_unlock(&s->lock);
}

static void on_phase(void *user, const char *phase, int64_t done, int64_t total)
{
	struct session *s = user;
	pthread_mutex_lock(&s->lock);
	struct session_progress *p = &s->pub.progress;
	snprintf(p->what, sizeof p->what, "open: %s", phase);
	p->done = done;
	p->total = total;
	p->has_est = false;
	/* open: reference, calibration and simulations weigh 1 : 1 : 0.2 */
	double base = strcmp(phase, "reference") == 0 ? 0 : strcmp(phase, "calibration") == 0 ? 1 : 2;
	double w = strcmp(phase, "simulation") == 0 ? 0.2 : 1;
	s->w_total = 2.2;
	s->w_done = base;
	s->w_cur = w;
	update_fraction(s, total > 0 ? (double)done / (double)total : 0);
	if (done == total || now_s() - s->last_pub >= PUBLISH_EVERY_S)
		publish(s);
	pthread_mutex_unlock(&s->lock);
}

static void set_what(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_what(struct session *s, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&s->lock);
	va_start(ap, fmt);
	vsnprintf(s->pub.progress.what, sizeof s->pub.progress.what, fmt, ap);
	va_end(ap);
	s->pub.progress.has_est = false;
	s->est_first = true;
	publish(s);
	pthread_mutex_unlock(&s->lock);
}

/* ---- opening ------------------------------------------------------------------------ */

static enum status hash_files(struct session *s, struct err *e)
{
	const struct bundle *b = s->b;
	char hex[3][SHA256_HEX], model[SHA256_HEX];
	const char *paths[3] = { b->calib_path, b->eval_path, b->labels_path };
	unsigned char d[SHA256_BYTES];
	struct sha256 h;
	enum status st;
	set_what(s, "open: hashing the model and data");
	sha256_init(&h);
	if ((st = sha256_file(&h, b->model_path, &s->cancel, e)))
		return st;
	sha256_final(&h, d);
	sha256_hex(d, model);
	for (int i = 0; i < 3; i++) {
		if (!paths[i])
			return err_set(e, ERR_INVALID, "%s: the bundle names no %s data", b->name,
				       i == 0 ? "calibration" : i == 1 ? "evaluation" : "label");
		sha256_init(&h);
		if ((st = sha256_file(&h, paths[i], &s->cancel, e)))
			return st;
		sha256_final(&h, d);
		sha256_hex(d, hex[i]);
	}
	char text[256];
	snprintf(text, sizeof text, "calib:%s\neval:%s\nlabels:%s\n", hex[0], hex[1], hex[2]);
	pthread_mutex_lock(&s->lock);
	snprintf(s->pub.res.model_sha, sizeof s->pub.res.model_sha, "%s", model);
	sha256_hex_of(text, strlen(text), s->pub.res.data_sha);
	pthread_mutex_unlock(&s->lock);
	s->hashed = true;
	return OK;
}

static void key_settings(struct session *s, struct sweep_results *r)
{
	const struct engine *en = &s->en;
	r->n_cands = en->n_cands;
	for (int c = 0; c < en->n_cands; c++) {
		snprintf(r->cand[c], sizeof r->cand[c], "%s", en->cand_name[c]);
		sweep_prec_key(&en->cand[c], en->calib_samples, en->ev.batch, r->cand_key[c],
			       sizeof r->cand_key[c]);
	}
	snprintf(r->base, sizeof r->base, "%s", en->cand_name[en->base]);
	sweep_prec_key(&en->cand[en->base], en->calib_samples, en->ev.batch, r->base_key,
		       sizeof r->base_key);
	r->base_cand = en->base < en->n_cands ? en->base : -1;
	snprintf(r->calib, sizeof r->calib, "%s", en->calib_label);
	/* the setting, not the count it came to: known without loading the data,
	 * so a sweep read from the cache reports the same */
	r->calib_samples = en->calib_samples;
}

/* Drop every quantized result (a calibration change invalidates them all). */
static void clear_results(struct sweep_results *r, bool fp32_too)
{
	for (int i = 0; i < r->n_rows; i++) {
		struct sweep_row *w = &r->rows[i];
		memset(w->cell, 0, sizeof w->cell);
		w->has_base_iso = w->has_remove = false;
	}
	r->has_base = false;
	if (fp32_too)
		r->has_fp32 = false;
}

/* With the lock held (the UI may be copying pub.res). */
static void load_cache_locked(struct session *s)
{
	if (!s->no_cache)
		sweepio_cache_load(s->pub.cache_path, &s->pub.res, s->pub.notice);
	publish(s);
}

static void load_cache(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	load_cache_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void save_cache(struct session *s)
{
	if (s->no_cache || !s->set_up)
		return;
	struct err e = { 0 };
	s->last_save = now_s();
	if (sweepio_cache_save(s->pub.cache_path, &s->pub.res, &e)) {
		pthread_mutex_lock(&s->lock);
		snprintf(s->pub.notice, sizeof s->pub.notice, "results not saved: %s", e.msg);
		publish(s);
		pthread_mutex_unlock(&s->lock);
	}
}

static enum status set_up(struct session *s, struct err *e)
{
	const char *cands[SWEEP_MAX_CANDS];
	for (int c = 0; c < s->n_cands; c++)
		cands[c] = s->cand[c];
	struct engine_opts o = { .cands = cands, .n_cands = s->n_cands, .base = s->base,
				 .calib_method = s->calib_method, .threads = s->threads,
				 .batch = s->batch, .calib_samples = s->calib_samples,
				 .cache_budget = s->cache_budget, .cancel = &s->cancel };
	enum status st = engine_setup(&s->en, s->b, s->g, &o, e);
	if (st)
		return st;
	const struct graph *g = s->g;
	int n = 0;
	for (int ni = 0; ni < g->n_nodes; ni++)
		n += s->en.sweepable[ni];
	struct sweep_results r;
	sweep_results_init(&r);
	r.layers = calloc((size_t)n + 1, sizeof *r.layers);
	r.rows = calloc((size_t)n + 1, sizeof *r.rows);
	if (!r.layers || !r.rows) {
		sweep_results_fini(&r);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int ni = 0; ni < g->n_nodes; ni++) {
		if (!s->en.sweepable[ni])
			continue;
		struct sweep_row *w = &r.rows[r.n_rows];
		struct node_cost c;
		engine_node_cost(&s->en, ni, &c);
		w->name = strdup(g->nodes[ni].name);
		w->op = strdup(g->nodes[ni].op_type);
		r.layers[r.n_layers++] = strdup(g->nodes[ni].name);
		w->node = ni;
		w->index = r.n_rows++;
		w->params = c.params;
		w->macs = c.macs;
		if (!w->name || !w->op || !r.layers[r.n_layers - 1]) {
			sweep_results_fini(&r);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
	}
	pthread_mutex_lock(&s->lock);
	snprintf(r.version, sizeof r.version, "%s", s->version);
	snprintf(r.bundle, sizeof r.bundle, "%s", s->b->name);
	memcpy(r.model_sha, s->pub.res.model_sha, sizeof r.model_sha);
	memcpy(r.data_sha, s->pub.res.data_sha, sizeof r.data_sha);
	r.batch = s->en.ev.batch;
	r.samples = s->en.ev.x.shape.dim[0];
	key_settings(s, &r);
	sweep_results_fini(&s->pub.res);
	s->pub.res = r;
	if (!s->no_cache) {
		char dir[1024];
		struct err de = { 0 };
		if (sweepio_cache_dir(s->cache_dir[0] ? s->cache_dir : NULL, dir, sizeof dir, &de)) {
			snprintf(s->pub.notice, sizeof s->pub.notice, "results will not persist: %s",
				 de.msg);
			s->no_cache = true;
		} else {
			sweepio_cache_path(dir, r.model_sha, r.data_sha, s->pub.cache_path,
					   sizeof s->pub.cache_path);
		}
	}
	/* rows and persisted results appear together, before any model run */
	load_cache_locked(s);
	s->set_up = true;
	pthread_mutex_unlock(&s->lock);
	return OK;
}

/* Bring the session as far as `ready` asks: set up (files hashed, rows and
 * persisted results shown) or ready (reference, calibration, simulations). */
static enum status ensure_open(struct session *s, bool ready, struct err *e)
{
	enum status st;
	if (s->failed) {
		*e = s->fail;
		return e->code ? e->code : ERR_INVALID;
	}
	if (!s->hashed && (st = hash_files(s, e)))
		goto fail;
	if (!s->set_up && (st = set_up(s, e)))
		goto fail;
	if (!ready || engine_ready(&s->en))
		return OK;
	struct engine_phase ph = { on_phase, s };
	if ((st = engine_prepare(&s->en, s->b, &ph, e)))
		goto fail;
	double fp32 = evaluator_fp32_top1(&s->en.ev);
	pthread_mutex_lock(&s->lock);
	struct sweep_results *r = &s->pub.res;
	if (r->has_fp32 && r->fp32_top1 != fp32) {
		/* the cache passed every check yet disagrees with this run: trust neither */
		snprintf(s->pub.notice, sizeof s->pub.notice, "result cache %s ignored: its FP32 "
			 "top-1 %.4f differs from this run's %.4f", s->pub.cache_path, r->fp32_top1,
			 fp32);
		clear_results(r, true);
	}
	r->has_fp32 = true;
	r->fp32_top1 = fp32;
	s->pub.state = SESSION_READY;
	publish(s);
	pthread_mutex_unlock(&s->lock);
	return OK;
fail:
	if (st != ERR_CANCELLED) {
		s->failed = true;
		s->fail = *e;
		pthread_mutex_lock(&s->lock);
		s->pub.state = SESSION_FAILED;
		pthread_mutex_unlock(&s->lock);
	}
	return st;
}

/* ---- sweeps ------------------------------------------------------------------------ */

enum unit_kind { U_LOCAL, U_ISO, U_BASE_ISO, U_BASE, U_REMOVE };

struct unit {
	enum unit_kind kind;
	int row, cand;
	double w;
};

static double suffix_macs(const struct engine *en, int ni)
{
	const uint64_t *d = en->desc + (size_t)ni * (size_t)en->desc_words;
	double m = 0;
	for (int j = 0; j < en->g->n_nodes; j++)
		if ((d[j >> 6] >> (j & 63)) & 1) {
			struct node_cost c;
			engine_node_cost(en, j, &c);
			m += (double)c.macs + 1;
		}
	return m;
}

static enum status run_sweep(struct session *s, struct job *j, struct err *e)
{
	/* the model runs only if some result is missing */
	enum status st = ensure_open(s, false, e);
	if (st)
		return st;
	struct engine *en = &s->en;
	struct sweep_results *r = &s->pub.res;
	int nc = en->n_cands;
	bool base_sep = en->base >= nc;
	struct unit *u = calloc((size_t)r->n_rows * (size_t)(nc + 3) + 4, sizeof *u);
	double *sq = calloc((size_t)s->g->n_nodes * (size_t)nc + 1, sizeof *sq);
	if (!u || !sq) {
		free(u);
		free(sq);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	double full = 0;
	for (int ni = 0; ni < s->g->n_nodes; ni++) {
		struct node_cost c;
		engine_node_cost(en, ni, &c);
		full += (double)c.macs + 1;
	}
	int n = 0;
	bool need_local = false;
	for (int i = 0; i < r->n_rows; i++) {
		const struct sweep_row *w = &r->rows[i];
		if ((j->nodes && !j->nodes[w->node]) || !sweep_in_shard(w->index, j->shard_k, j->shard_n))
			continue;
		for (int c = 0; c < nc; c++)
			need_local |= (j->kinds & SWEEP_LOCAL) && !w->cell[c].has_local;
	}
	if (need_local)
		u[n++] = (struct unit){ U_LOCAL, -1, -1, full * (1 + nc) };
	/* isolate first (FP32 cache), then remove (base cache) */
	for (int pass = 0; pass < 2; pass++) {
		bool first = true;
		for (int i = 0; i < r->n_rows; i++) {
			const struct sweep_row *w = &r->rows[i];
			if ((j->nodes && !j->nodes[w->node]) ||
			    !sweep_in_shard(w->index, j->shard_k, j->shard_n))
				continue;
			double suf = suffix_macs(en, w->node);
			if (pass == 0 && (j->kinds & SWEEP_ISOLATE)) {
				for (int c = 0; c < nc; c++)
					if (!w->cell[c].has_iso) {
						u[n++] = (struct unit){ U_ISO, i, c, suf + (first ? full : 0) };
						first = false;
					}
				if (base_sep && !w->has_base_iso) {
					u[n++] = (struct unit){ U_BASE_ISO, i, en->base, suf + (first ? full : 0) };
					first = false;
				}
			}
			if (pass == 1 && (j->kinds & SWEEP_REMOVE)) {
				if (!r->has_base && first) {
					u[n++] = (struct unit){ U_BASE, -1, en->base, full };
					first = false;
				}
				if (!w->has_remove)
					u[n++] = (struct unit){ U_REMOVE, i, en->base, suf };
			}
		}
		if (pass == 1 && (j->kinds & SWEEP_REMOVE) && !r->has_base && first)
			u[n++] = (struct unit){ U_BASE, -1, en->base, full };
	}
	if (n && (st = ensure_open(s, true, e))) {
		free(u);
		free(sq);
		return st;
	}
	pthread_mutex_lock(&s->lock);
	s->w_total = 0;
	for (int k = 0; k < n; k++)
		s->w_total += u[k].w;
	s->w_done = 0;
	s->w_cur = 0;
	s->t0 = now_s();
	s->pub.progress.done = 0;
	s->pub.progress.total = n;
	update_fraction(s, 0);
	publish(s);
	pthread_mutex_unlock(&s->lock);
	struct eval_progress pr = { on_est, s, PUBLISH_EVERY_S };
	for (int k = 0; k < n && !st; k++) {
		const struct unit *x = &u[k];
		const char *name = x->row >= 0 ? r->rows[x->row].name : "";
		int node = x->row >= 0 ? r->rows[x->row].node : -1;
		struct metrics_summary m, m2;
		pthread_mutex_lock(&s->lock); /* the runner's threads read it in on_est */
		s->w_cur = x->w;
		pthread_mutex_unlock(&s->lock);
		switch (x->kind) {
		case U_LOCAL:
			set_what(s, "local SQNR of every layer and candidate");
			st = engine_local_progress(en, sq, &pr, e);
			break;
		case U_ISO:
		case U_BASE_ISO:
			set_what(s, "isolate %s at %s", name, en->cand_name[x->cand]);
			st = engine_isolate(en, node, x->cand, &pr, &m, e);
			break;
		case U_BASE:
			set_what(s, "all layers at %s", en->cand_name[x->cand]);
			st = engine_base(en, x->cand, &pr, &m, e);
			break;
		case U_REMOVE:
			set_what(s, "remove %s from all-%s", name, en->cand_name[x->cand]);
			st = engine_remove_paired(en, node, x->cand, &pr, &m, &m2, e);
			break;
		}
		if (st)
			break;
		pthread_mutex_lock(&s->lock);
		switch (x->kind) {
		case U_LOCAL:
			for (int i = 0; i < r->n_rows; i++)
				for (int c = 0; c < nc; c++) {
					struct sweep_cell *cl = &r->rows[i].cell[c];
					if (!cl->has_local) {
						cl->has_local = true;
						cl->local_sqnr_db =
							sq[(size_t)r->rows[i].node * (size_t)nc + (size_t)c];
					}
				}
			break;
		case U_ISO:
			r->rows[x->row].cell[x->cand].iso = m;
			r->rows[x->row].cell[x->cand].has_iso = true;
			break;
		case U_BASE_ISO:
			r->rows[x->row].base_iso = m;
			r->rows[x->row].has_base_iso = true;
			break;
		case U_BASE:
			r->base_run = m;
			r->has_base = true;
			break;
		case U_REMOVE:
			r->rows[x->row].remove = m;
			r->rows[x->row].remove_gain = m2;
			r->rows[x->row].has_remove = true;
			break;
		}
		s->w_done += x->w;
		s->w_cur = 0;
		s->pub.evaluations++;
		s->pub.progress.done = k + 1;
		s->pub.progress.has_est = false;
		update_fraction(s, 0);
		publish(s);
		pthread_mutex_unlock(&s->lock);
		if (now_s() - s->last_save >= SAVE_EVERY_S)
			save_cache(s);
	}
	/* partial results persist too: a cancelled or paused sweep resumes from them */
	save_cache(s);
	free(u);
	free(sq);
	return st;
}

/* ---- other jobs ------------------------------------------------------------------- */

static enum status run_policy(struct session *s, struct job *j, struct err *e)
{
	enum status st = ensure_open(s, true, e);
	if (st)
		return st;
	pthread_mutex_lock(&s->lock);
	struct session_policy *q = &s->pub.policy;
	q->id = j->id;
	q->running = true;
	q->done = false;
	q->est_done = 0;
	q->est_total = s->en.ev.x.shape.dim[0];
	q->first_s = q->final_s = -1;
	s->policy_submitted = j->submitted;
	s->w_total = 1;
	s->w_done = 0;
	s->w_cur = 1;
	s->t0 = now_s();
	s->pub.progress.total = 1;
	snprintf(s->pub.progress.what, sizeof s->pub.progress.what, "policy evaluation");
	s->est_first = true;
	publish(s);
	pthread_mutex_unlock(&s->lock);
	struct eval_progress pr = { on_est, s, PUBLISH_EVERY_S };
	struct metrics_summary m;
	int64_t wb = 0;
	st = engine_eval_policy(&s->en, &j->pol, &pr, &m, &wb, e);
	pthread_mutex_lock(&s->lock);
	q->running = false;
	if (!st) {
		q->done = true;
		q->final = m;
		q->est = m;
		q->est_done = q->est_total;
		q->final_s = now_s() - j->submitted;
		if (q->first_s < 0)
			q->first_s = q->final_s;
		q->weight_bytes = wb;
		q->run_nodes = s->en.last_run_nodes;
		q->n_nodes = s->g->n_nodes;
		q->run_macs = s->en.last_run_macs;
		s->pub.progress.done = 1;
		s->pub.evaluations++;
	}
	publish(s);
	pthread_mutex_unlock(&s->lock);
	return st;
}

static enum status run_calibrate(struct session *s, struct job *j, struct err *e)
{
	enum status st = ensure_open(s, true, e);
	if (st)
		return st;
	struct engine_phase ph = { on_phase, s };
	st = engine_recalibrate(&s->en, s->b, j->method[0] ? j->method : NULL, j->samples, &ph, e);
	pthread_mutex_lock(&s->lock);
	struct sweep_results *r = &s->pub.res;
	clear_results(r, false);
	key_settings(s, r);
	if (st && st != ERR_CANCELLED) {
		s->failed = true;
		s->fail = *e;
		s->pub.state = SESSION_FAILED;
	}
	pthread_mutex_unlock(&s->lock);
	/* results of the new calibration may be in the cache already */
	if (!s->failed)
		load_cache(s);
	return st;
}

/* ---- automatic search ---------------------------------------------------------------- */

static void auto_out_clear(struct auto_out *a)
{
	if (a->have) {
		search_space_fini(&a->sp);
		search_result_fini(&a->res);
	}
	if (a->have_doc)
		policy_doc_fini(&a->doc);
	memset(a, 0, sizeof *a);
}

static void auto_publish_best(struct session *s, const struct search_result *r)
{
	struct session_auto *q = &s->pub.search;
	q->evaluations = r->evaluations;
	q->n_points = r->n_points;
	q->has_best = r->best >= 0;
	if (r->best >= 0) {
		const struct search_point *p = &r->points[r->best];
		q->best_cost = p->cost;
		q->best_weight_bytes = p->wbytes;
		q->best_bitops = p->bitops;
		q->best = p->m;
	}
}

/* After each measurement of the search: from the worker. */
static void on_search(void *user, const struct search_result *r, const char *what,
		      bool starting)
{
	(void)starting;
	struct session *s = user;
	pthread_mutex_lock(&s->lock);
	struct session_auto *q = &s->pub.search;
	auto_publish_best(s, r);
	snprintf(q->what, sizeof q->what, "%s", what);
	q->elapsed_s = now_s() - s->t0;
	s->pub.progress.done = r->evaluations;
	publish(s);
	pthread_mutex_unlock(&s->lock);
}

struct auto_eval {
	struct session *s;
	int max_evals;
};

static enum status auto_eval(void *user, const struct policy *pol, struct metrics_summary *out,
			     struct err *e)
{
	struct auto_eval *a = user;
	struct session *s = a->s;
	pthread_mutex_lock(&s->lock);
	snprintf(s->pub.progress.what, sizeof s->pub.progress.what, "evaluation %d: %s",
		 s->pub.search.evaluations + 1, s->pub.search.what);
	s->w_total = a->max_evals > 0 ? a->max_evals : 1;
	s->w_done = s->pub.search.evaluations;
	s->w_cur = 1;
	s->est_first = true;
	publish(s);
	pthread_mutex_unlock(&s->lock);
	struct eval_progress pr = { on_est, s, PUBLISH_EVERY_S };
	enum status st = engine_eval_policy(&s->en, pol, &pr, out, NULL, e);
	if (!st) {
		pthread_mutex_lock(&s->lock);
		s->pub.evaluations++;
		pthread_mutex_unlock(&s->lock);
	}
	return st;
}

static const char *rel_to(const char *dir, const char *path)
{
	size_t n = dir ? strlen(dir) : 0;
	if (path && n && strncmp(path, dir, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

/* The result as a complete policy file: simulate it once more for its
 * parameters; the evaluation is the one the search measured. */
static enum status auto_doc(struct session *s, struct auto_out *a, struct err *e)
{
	const struct bundle *b = s->b;
	const struct search_point *p = &a->res.points[a->res.best];
	char sha[4][65];
	const char *paths[4] = { b->model_path, b->calib_path, b->eval_path, b->labels_path };
	enum status st;
	for (int i = 0; i < 4; i++) {
		sha[i][0] = 0;
		if (paths[i] && (st = policy_file_sha256(paths[i], sha[i], e)))
			return st;
	}
	struct policy pol;
	if ((st = search_policy(&a->sp, p->choice, &pol, e)))
		return st;
	struct sim sim;
	st = sim_prepare(&sim, s->g, &s->en.ev.cal, &pol, e);
	policy_fini(&pol);
	if (st)
		return st;
	const char *slash = strrchr(b->model_path, '/');
	struct policy_doc_source src = {
		.model_file = slash ? slash + 1 : b->model_path, .model_sha256 = sha[0],
		.calib_data = rel_to(b->dir, b->calib_path), .calib_sha256 = sha[1],
		.calib_samples = s->en.ev.cal.samples,
		.eval = &p->m, .eval_data = rel_to(b->dir, b->eval_path), .eval_sha256 = sha[2],
		.labels_data = rel_to(b->dir, b->labels_path), .labels_sha256 = sha[3],
		.metric = b->metric ? b->metric : "top1", .qlens_version = s->version,
	};
	policy_doc_init(&a->doc);
	st = policy_doc_build(&a->doc, &sim, &src, e);
	sim_fini(&sim);
	if (st)
		policy_doc_fini(&a->doc);
	else
		a->have_doc = true;
	return st;
}

static enum status run_auto(struct session *s, struct job *j, struct err *e)
{
	pthread_mutex_lock(&s->lock);
	struct session_auto *q = &s->pub.search;
	uint64_t submitted = q->submitted;
	memset(q, 0, sizeof *q);
	q->submitted = submitted;
	q->id = j->id;
	q->running = true;
	q->status = OK;
	q->max_evals = j->sopts.max_evals == 0 ? SEARCH_DEFAULT_MAX_EVALS
			 : j->sopts.max_evals < 0 ? 0 : j->sopts.max_evals;
	snprintf(q->what, sizeof q->what, "sweeping what the search needs");
	publish(s);
	pthread_mutex_unlock(&s->lock);
	/* what the search reads: every isolate cell, the remove rows and the base run */
	struct job sweep = { .kind = JOB_SWEEP, .kinds = SWEEP_ISOLATE | SWEEP_REMOVE };
	enum status st = run_sweep(s, &sweep, e);
	if (!st)
		st = ensure_open(s, true, e);
	struct model_info mi;
	bool have_mi = false;
	struct auto_out a = { .id = j->id, .opts = j->sopts };
	if (!st && !(st = model_info_build(s->g, &mi, e)))
		have_mi = true;
	if (!st && !(st = search_space_build(&a.sp, s->g, &mi, &s->pub.res, s->en.cand, e))) {
		a.have = true;
		pthread_mutex_lock(&s->lock);
		q->searching = true;
		q->fp32_cost = j->sopts.objective == SEARCH_BITOPS ? a.sp.fp32.bitops
								    : (double)a.sp.fp32.wbytes;
		s->t0 = now_s();
		s->pub.progress.done = 0;
		s->pub.progress.total = q->max_evals;
		publish(s);
		pthread_mutex_unlock(&s->lock);
		struct auto_eval ae = { s, q->max_evals };
		struct search_eval ev = { auto_eval, &ae };
		struct search_progress pr = { on_search, s };
		st = search_run(&a.sp, &j->sopts, &ev, &pr, &s->cancel, &a.res, e);
		if ((!st || st == ERR_CANCELLED) && a.res.best >= 0) {
			struct err de = { 0 };
			enum status ds = auto_doc(s, &a, &de);
			if (ds && !st) {
				st = ds;
				*e = de;
			}
		}
	}
	if (have_mi)
		model_info_fini(&mi);
	a.status = st;
	pthread_mutex_lock(&s->lock);
	q->running = false;
	q->status = st;
	if (a.have) {
		auto_publish_best(s, &a.res);
		q->elapsed_s = a.res.seconds;
		snprintf(q->what, sizeof q->what, "%s", a.res.stop[0] ? a.res.stop : status_str(st));
	}
	if (a.have && (!st || st == ERR_CANCELLED) && a.res.best >= 0) {
		auto_out_clear(&s->aout);
		s->aout = a;
		s->aout.have = true;
		q->done = true;
	} else {
		auto_out_clear(&a);
	}
	publish(s);
	pthread_mutex_unlock(&s->lock);
	return st;
}

/* ---- the worker ---------------------------------------------------------------- */

static enum status run_job(struct session *s, struct job *j, struct err *e)
{
	switch (j->kind) {
	case JOB_OPEN: return ensure_open(s, !s->lazy, e);
	case JOB_SWEEP: return run_sweep(s, j, e);
	case JOB_POLICY: return run_policy(s, j, e);
	case JOB_CALIBRATE: return run_calibrate(s, j, e);
	case JOB_AUTO: return run_auto(s, j, e);
	case JOB_NONE: break;
	}
	return OK;
}

static void *worker_main(void *arg)
{
	struct session *s = arg;
	pthread_mutex_lock(&s->lock);
	s->worker_tid = pthread_self();
	s->worker_started = true;
	for (;;) {
		while (!s->head && !s->quit)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->quit)
			break;
		struct job *j = s->head;
		s->head = j->next;
		s->queued--;
		s->running = j;
		s->preempt = false;
		atomic_store(&s->cancel, false);
		struct session_progress *p = &s->pub.progress;
		memset(p, 0, sizeof *p);
		p->job = j->kind;
		p->job_id = j->id;
		p->eta_s = -1;
		p->queued = s->queued;
		s->w_total = s->w_done = s->w_cur = 0;
		s->t0 = now_s();
		publish(s);
		pthread_mutex_unlock(&s->lock);

		struct err e = { 0 };
		enum status st = run_job(s, j, &e);

		pthread_mutex_lock(&s->lock);
		s->running = NULL;
		bool requeue = st == ERR_CANCELLED && s->preempt && !s->quit;
		s->preempt = false;
		if (requeue) {
			/* behind the urgent job that interrupted it */
			struct job **at = s->head && s->head->kind == JOB_POLICY ? &s->head->next
										  : &s->head;
			j->next = *at;
			*at = j;
			s->queued++;
		} else {
			s->pub.last_status = st;
			if (st && st != ERR_CANCELLED)
				snprintf(s->pub.error, sizeof s->pub.error, "%s",
					 e.msg[0] ? e.msg : status_str(st));
			else if (!st)
				s->pub.error[0] = 0;
			job_free(j);
		}
		memset(p, 0, sizeof *p);
		p->job = JOB_NONE;
		p->eta_s = -1;
		p->queued = s->queued;
		publish(s);
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- the caller's side ---------------------------------------------------------------- */

static void enqueue(struct session *s, struct job *j, bool front)
{
	j->id = ++s->next_id;
	j->submitted = now_s();
	if (front) {
		j->next = s->head;
		s->head = j;
	} else {
		struct job **at = &s->head;
		while (*at)
			at = &(*at)->next;
		j->next = NULL;
		*at = j;
	}
	s->queued++;
	s->pub.progress.queued = s->queued;
	publish(s);
	pthread_cond_signal(&s->cond);
}

enum status session_open(const struct bundle *b, const struct graph *g,
			 const struct session_opts *o, struct session **out, struct err *e)
{
	static const char *const defaults[] = SESSION_DEFAULT_CANDS;
	const char *const *cands = o->cands && o->n_cands ? o->cands : defaults;
	int n_cands = o->cands && o->n_cands ? o->n_cands : SESSION_DEFAULT_N_CANDS;
	enum status st;
	if (n_cands < 1 || n_cands > SWEEP_MAX_CANDS)
		return err_set(e, ERR_INVALID, "between 1 and %d candidates, not %d",
			       SWEEP_MAX_CANDS, n_cands);
	struct precision p;
	struct calib_spec cs;
	for (int c = 0; c < n_cands; c++) {
		if ((st = engine_parse_candidate(cands[c], &p, e)))
			return st;
		if (strlen(cands[c]) >= 32)
			return err_set(e, ERR_INVALID, "candidate '%s' is too long", cands[c]);
		for (int k = 0; k < c; k++)
			if (strcmp(cands[k], cands[c]) == 0)
				return err_set(e, ERR_INVALID, "candidate '%s' is named twice", cands[c]);
	}
	const char *base = o->base ? o->base : "int8";
	if ((st = engine_parse_candidate(base, &p, e)) || strlen(base) >= 32) {
		if (!st)
			st = err_set(e, ERR_INVALID, "base '%s' is too long", base);
		err_prefix(e, "base");
		return st;
	}
	const char *method = o->calib_method ? o->calib_method : "minmax";
	if ((st = calib_spec_parse(method, &cs, e)))
		return st;
	if (o->threads < 0 || o->threads > 64 || o->batch < 0 || o->cache_mb < 0 ||
	    o->calib_samples < 0)
		return err_set(e, ERR_INVALID, "threads 0..64, batch, cache size and calibration "
			       "samples must not be negative");
	struct session *s = calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->b = b;
	s->g = g;
	s->n_cands = n_cands;
	for (int c = 0; c < n_cands; c++)
		snprintf(s->cand[c], sizeof s->cand[c], "%s", cands[c]);
	snprintf(s->base, sizeof s->base, "%s", base);
	snprintf(s->calib_method, sizeof s->calib_method, "%s", method);
	snprintf(s->version, sizeof s->version, "%s", o->version ? o->version : "unknown");
	snprintf(s->cache_dir, sizeof s->cache_dir, "%s", o->cache_dir ? o->cache_dir : "");
	s->calib_samples = o->calib_samples;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	s->threads = o->threads ? o->threads : cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
	s->batch = o->batch ? o->batch : 64;
	s->cache_budget = (size_t)(o->cache_mb ? o->cache_mb : SESSION_DEFAULT_CACHE_MB) << 20;
	s->no_cache = o->no_cache;
	s->lazy = o->lazy;
	s->pipe_r = s->pipe_w = -1;
	sweep_results_init(&s->pub.res);
	s->pub.state = SESSION_OPENING;
	s->pub.progress.eta_s = -1;
	atomic_init(&s->cancel, false);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->idle, NULL);
	int fds[2];
	if (pipe(fds) != 0) {
		st = err_set(e, ERR_IO, "pipe: %s", strerror(errno));
		goto fail;
	}
	s->pipe_r = fds[0];
	s->pipe_w = fds[1];
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	struct job *j = calloc(1, sizeof *j);
	if (!j) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	j->kind = JOB_OPEN;
	pthread_mutex_lock(&s->lock);
	enqueue(s, j, false);
	pthread_mutex_unlock(&s->lock);
	/* the worker (and the runner threads it starts) inherit a mask of every
	 * signal but the synchronous crash signals: a blocked SIGSEGV raised by a
	 * fault kills the process without running the caller's handler (which
	 * restores the terminal) */
	static const int crash[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS };
	sigset_t all, old;
	sigfillset(&all);
	for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
		sigdelset(&all, crash[i]);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&s->thread, NULL, worker_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		st = err_set(e, ERR_NOMEM, "cannot start the worker thread: %s", strerror(rc));
		goto fail;
	}
	s->thread_started = true;
	*out = s;
	return OK;
fail:
	session_close(s);
	return st;
}

static void drop_queue(struct session *s)
{
	while (s->head) {
		struct job *j = s->head;
		s->head = j->next;
		job_free(j);
	}
	s->queued = 0;
	s->pub.progress.queued = 0;
}

void session_close(struct session *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->quit = true;
	drop_queue(s);
	atomic_store(&s->cancel, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	engine_fini(&s->en);
	auto_out_clear(&s->aout);
	sweep_results_fini(&s->pub.res);
	if (s->pipe_r >= 0)
		close(s->pipe_r);
	if (s->pipe_w >= 0)
		close(s->pipe_w);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

enum status session_submit_sweep(struct session *s, const struct sweep_sel *sel, struct err *e)
{
	if (!sel->kinds || (sel->kinds & ~SWEEP_ALL))
		return err_set(e, ERR_INVALID, "no sweep kind selected");
	if (sel->shard_n && (sel->shard_k < 1 || sel->shard_k > sel->shard_n))
		return err_set(e, ERR_INVALID, "shard %d/%d is not K/N with 1 <= K <= N",
			       sel->shard_k, sel->shard_n);
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return err_set(e, ERR_NOMEM, "out of memory");
	j->kind = JOB_SWEEP;
	j->kinds = sel->kinds;
	j->shard_k = sel->shard_n ? sel->shard_k : 0;
	j->shard_n = sel->shard_n;
	if (sel->nodes) {
		j->nodes = malloc((size_t)s->g->n_nodes + 1);
		if (!j->nodes) {
			free(j);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		memcpy(j->nodes, sel->nodes, (size_t)s->g->n_nodes * sizeof *j->nodes);
	}
	pthread_mutex_lock(&s->lock);
	enqueue(s, j, false);
	pthread_mutex_unlock(&s->lock);
	return OK;
}

enum status session_submit_calibrate(struct session *s, const char *method, int64_t samples,
				     struct err *e)
{
	struct calib_spec cs;
	enum status st;
	if (method && (st = calib_spec_parse(method, &cs, e)))
		return st;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return err_set(e, ERR_NOMEM, "out of memory");
	j->kind = JOB_CALIBRATE;
	snprintf(j->method, sizeof j->method, "%s", method ? method : "");
	j->samples = samples;
	pthread_mutex_lock(&s->lock);
	enqueue(s, j, false);
	pthread_mutex_unlock(&s->lock);
	return OK;
}

enum status session_submit_policy(struct session *s, const struct policy *pol, uint64_t *id,
				  struct err *e)
{
	if (pol->g != s->g)
		return err_set(e, ERR_INVALID, "the policy belongs to another graph");
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return err_set(e, ERR_NOMEM, "out of memory");
	j->kind = JOB_POLICY;
	enum status st = policy_copy(&j->pol, pol, e);
	if (st) {
		free(j);
		return st;
	}
	j->has_pol = true;
	pthread_mutex_lock(&s->lock);
	/* latest wins: a policy still waiting is superseded */
	for (struct job **at = &s->head; *at;) {
		if ((*at)->kind == JOB_POLICY) {
			struct job *old = *at;
			*at = old->next;
			job_free(old);
			s->queued--;
		} else {
			at = &(*at)->next;
		}
	}
	enqueue(s, j, true);
	s->pub.policy.submitted = j->id;
	/* a sweep pauses for it (only once the model is open: opening must finish) */
	if (s->running && s->running->kind == JOB_SWEEP && s->pub.state == SESSION_READY) {
		s->preempt = true;
		atomic_store(&s->cancel, true);
	}
	if (id)
		*id = j->id;
	pthread_mutex_unlock(&s->lock);
	return OK;
}

enum status session_submit_auto(struct session *s, const struct search_opts *o, uint64_t *id,
				struct err *e)
{
	enum status st = search_opts_check(o, e);
	if (st)
		return st;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return err_set(e, ERR_NOMEM, "out of memory");
	j->kind = JOB_AUTO;
	j->sopts = *o;
	pthread_mutex_lock(&s->lock);
	enqueue(s, j, false);
	s->pub.search.submitted = j->id;
	if (id)
		*id = j->id;
	pthread_mutex_unlock(&s->lock);
	return OK;
}

void session_auto_result_fini(struct session_auto_result *r)
{
	if (!r)
		return;
	policy_fini(&r->pol);
	for (int i = 0; i < r->n_frontier; i++)
		policy_fini(&r->frontier[i].pol);
	free(r->frontier);
	for (int i = 0; i < r->n_points; i++)
		policy_fini(&r->points[i].pol);
	free(r->points);
	memset(r, 0, sizeof *r);
}

/* One measured policy of the search as the caller sees it: figures and the
 * policy itself (built from the search's choice). */
static enum status auto_point(const struct auto_out *a, const struct search_point *x,
			      struct session_auto_point *y, struct err *e)
{
	*y = (struct session_auto_point){
		.cost = x->cost, .weight_bytes = x->wbytes, .bitops = x->bitops, .m = x->m,
		.feasible = x->feasible, .from_sweep = x->from_sweep, .frontier = x->frontier,
		.eval_no = x->eval_no,
	};
	return search_policy(&a->sp, x->choice, &y->pol, e);
}

enum status session_auto_result(struct session *s, struct session_auto_result *out,
				struct err *e)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&s->lock);
	const struct auto_out *a = &s->aout;
	enum status st = OK;
	if (!a->have) {
		st = err_set(e, ERR_INVALID, "no search has finished");
		goto done;
	}
	const struct search_point *p = &a->res.points[a->res.best];
	out->id = a->id;
	out->opts = a->opts;
	out->status = a->status;
	out->m = p->m;
	out->cost = p->cost;
	out->weight_bytes = p->wbytes;
	out->bitops = p->bitops;
	out->fp32_weight_bytes = a->sp.fp32.wbytes;
	out->fp32_bitops = a->sp.fp32.bitops;
	out->fp32_cost = a->opts.objective == SEARCH_BITOPS ? a->sp.fp32.bitops
							     : (double)a->sp.fp32.wbytes;
	out->evaluations = a->res.evaluations;
	out->seconds = a->res.seconds;
	out->allowed = a->res.allowed;
	snprintf(out->stop, sizeof out->stop, "%s", a->res.stop);
	search_choice_summary(&a->sp, p->choice, out->summary, sizeof out->summary);
	if ((st = search_policy(&a->sp, p->choice, &out->pol, e)))
		goto done;
	int n = 0;
	for (int i = 0; i < a->res.n_points; i++)
		n += a->res.points[i].frontier;
	out->frontier = calloc((size_t)n + 1, sizeof *out->frontier);
	if (!out->frontier) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int i = 0; i < a->res.n_points; i++) {
		const struct search_point *x = &a->res.points[i];
		if (!x->frontier)
			continue;
		/* cost ascending */
		int at = out->n_frontier;
		while (at > 0 && out->frontier[at - 1].cost > x->cost) {
			out->frontier[at] = out->frontier[at - 1];
			at--;
		}
		out->n_frontier++;
		if ((st = auto_point(a, x, &out->frontier[at], e)))
			goto done;
	}
	out->points = calloc((size_t)a->res.n_points + 1, sizeof *out->points);
	if (!out->points) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int i = 0; i < a->res.n_points; i++) {
		const struct search_point *x = &a->res.points[i];
		if ((st = auto_point(a, x, &out->points[out->n_points], e)))
			goto done;
		out->n_points++;
	}
done:
	pthread_mutex_unlock(&s->lock);
	if (st)
		session_auto_result_fini(out);
	return st;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

enum status session_auto_save(struct session *s, const char *policy_path,
			      const char *frontier_path, struct err *e)
{
	if (frontier_path && !ends_with(frontier_path, ".csv") && !ends_with(frontier_path, ".json"))
		return err_set(e, ERR_INVALID, "%s: the frontier file must end in .csv or .json",
			       frontier_path);
	pthread_mutex_lock(&s->lock);
	const struct auto_out *a = &s->aout;
	enum status st = OK;
	char *text = NULL;
	if (!a->have || !a->have_doc) {
		st = err_set(e, ERR_INVALID, "no search has finished");
		goto done;
	}
	if (frontier_path) {
		text = ends_with(frontier_path, ".csv")
			       ? search_frontier_csv(&a->sp, &a->res, a->opts.objective)
			       : search_frontier_json(&a->sp, &a->res, a->opts.objective, s->b->name);
		if (!text) {
			st = err_set(e, ERR_NOMEM, "out of memory");
			goto done;
		}
	}
	if (policy_path && (st = policy_doc_save(&a->doc, policy_path, e)))
		goto done;
	if (text) {
		size_t n = strlen(text);
		if (ends_with(frontier_path, ".json"))
			text[n++] = '\n'; /* cJSON's text has none; the write takes a length */
		st = file_write_atomic(frontier_path, text, n, e);
	}
done:
	pthread_mutex_unlock(&s->lock);
	free(text);
	return st;
}

void session_cancel(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	drop_queue(s);
	s->preempt = false;
	if (s->running)
		atomic_store(&s->cancel, true);
	publish(s);
	pthread_mutex_unlock(&s->lock);
}

int session_notify_fd(const struct session *s) { return s->pipe_r; }

void session_ack(struct session *s)
{
	char buf[256];
	while (read(s->pipe_r, buf, sizeof buf) > 0) {
	}
}

uint64_t session_generation(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t g = s->pub.gen;
	pthread_mutex_unlock(&s->lock);
	return g;
}

void session_snapshot(struct session *s, struct session_snap *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->pub;
	struct err e;
	if (sweep_results_copy(&out->res, &s->pub.res, &e)) {
		/* out of memory: hand out the header without rows */
		sweep_results_init(&out->res);
		snprintf(out->notice, sizeof out->notice, "out of memory copying results");
	}
	pthread_mutex_unlock(&s->lock);
}

void session_snap_fini(struct session_snap *snap)
{
	if (snap)
		sweep_results_fini(&snap->res);
}

bool session_idle(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	bool idle = !s->running && !s->head;
	pthread_mutex_unlock(&s->lock);
	return idle;
}

bool session_wait_idle(struct session *s, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	if (timeout_ms >= 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&s->lock);
	bool idle;
	while (!(idle = !s->running && !s->head)) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&s->idle, &s->lock);
		} else if (pthread_cond_timedwait(&s->idle, &s->lock, &until) == ETIMEDOUT) {
			idle = !s->running && !s->head;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return idle;
}
