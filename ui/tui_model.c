/*
 * tui_model.c - the explorer's state over the session.
 *
 * The only file of the explorer that talks to the session (session.h).  On
 * open it loads the model, builds the rows at once from a one-sample plan
 * (model_info: names, ops, parameters, MACs) so the table draws before any
 * result exists, opens the session and queues a local + isolate sweep and a
 * measurement of the starting policy (every node at the first candidate).
 *
 * The policy being edited lives here, with undo and redo stacks of whole
 * policy copies (policies are small: one precision per node).  Every edit
 * bumps a generation and submits the policy to the session, which replaces a
 * queued evaluation (latest wins) and pauses a running sweep for it.  The
 * session reports figures by submission id; a table of submitted ids maps
 * them back to the policy copy, which becomes a Pareto point once measured.
 * A policy equal to one already measured takes its figures at once (undo is
 * instant).
 *
 * The automatic search (key a) is a session job too.  Its progress is copied
 * from each snapshot; when the job we submitted reports finished, every
 * policy it measured joins the measured policies (marked, with its frontier
 * flag: the Pareto view's search points, whose figures are then known), and
 * its result is applied through the ordinary edit path, so it is one undo
 * entry and takes its measured figures at once.  A cancelled search, or one
 * that found nothing cheaper than FP32 within budget, changes nothing.
 *
 * Beside the session runs one helper thread of the explorer's own for what
 * the session does not offer: the detail pane's node statistics, its own
 * calibration statistics (collected lazily, in slices, cancellable - the
 * session does not expose its statistics), the model's SHA-256, and policy
 * saves and exports (both need a prepared simulation of the whole policy).
 * It shares only read-only data (graph, bundle) and a small request/result
 * block under a mutex, and wakes the UI through a pipe like the session.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "explore.h"
#include "policyfile.h"
#include "session.h"
#include "tui.h"

#define HIST_BINS 256
#define MAX_SUBMITTED 512

struct submitted {
	uint64_t id, gen;
	struct policy pol;
};

struct measured {	/* a measured policy: a Pareto point */
	struct policy pol;
	struct metrics_summary s;
	int64_t weight_bytes;
	double wrel, brel;
	bool search, frontier;	/* measured by the last search / on its frontier */
	bool search_bitops;	/* that search's objective */
	int eval_no;
};

enum aux_job { AUX_NONE, AUX_SAVE, AUX_EXPORT };

struct aux {
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pipe[2];
	_Atomic bool cancel;
	bool stop;
	const struct graph *g;
	const struct bundle *b;
	/* model hash */
	bool sha_done;
	char sha[65];
	/* calibration */
	bool cal_want, cal_ready, cal_failed, cal_running;
	char cal_err[256];
	int64_t cal_done, cal_total;
	struct calib_data cal;
	/* detail request and result */
	bool det_want;
	int det_node;
	struct precision det_prec;
	bool det_running;
	struct explore_node *det_out; /* handed to the UI */
	bool det_out_cal;
	char det_err[256];
	/* save / export */
	enum aux_job job;
	char job_kind[8];
	char job_path[1024];
	struct policy job_pol;
	bool job_has_eval;
	struct metrics_summary job_eval;
	uint64_t job_gen;
	bool job_running;
	bool job_fin;
	bool job_ok;
	enum aux_job job_fin_kind;
	uint64_t job_fin_gen;
	char job_msg[1280];
};

struct tui_model {
	struct bundle b;
	bool have_b;
	struct graph *g;
	struct model_info mi;
	bool have_mi;
	struct session *s;
	char title[200];
	/* candidates */
	int n_cands;
	char cand_name[TUI_MAX_CANDS][32];
	const char *cand_ptr[TUI_MAX_CANDS];
	struct precision cand[TUI_MAX_CANDS];
	/* rows */
	int n_rows;
	struct tui_row *rows;
	int *row_of_node;
	/* session view */
	struct tui_status st;
	uint64_t snap_gen;
	struct session_policy sp;
	struct session_progress prog;
	/* the policy */
	struct policy pol;
	uint64_t gen, saved_gen;
	struct policy *undo, *redo;
	int n_undo, n_redo, cap_undo, cap_redo;
	/* measurements */
	uint64_t cur_id;		/* session id of the current gen's submission */
	struct tui_measure last;
	uint64_t last_done_id;
	struct submitted sub[MAX_SUBMITTED];
	int n_sub;
	struct measured *meas;
	int n_meas, cap_meas;
	struct tui_point *pts;
	int n_pts;
	bool pts_dirty;
	/* detail cache */
	struct explore_node *det;
	bool det_cal;			/* det computed with statistics */
	bool det_pending;
	int det_req_node;
	struct precision det_req_prec;
	char det_note[300];
	/* helper thread */
	struct aux aux;
	char job_note[160];
	double aux_tick;
	/* automatic search */
	uint64_t auto_id;		/* submitted and not finished (0: none) */
	bool auto_cancelled;		/* cancelled from here: apply nothing */
	bool auto_bitops;
	struct session_auto auto_q;	/* the session's progress, last snapshot */
	bool auto_fin;			/* finished, outcome not yet taken */
	enum tui_role auto_role;
	char auto_msg[400];
};

/* ---- helper thread ---------------------------------------------------------------- */

static void aux_wake_ui(struct aux *a)
{
	char c = 1;
	ssize_t r = write(a->pipe[1], &c, 1);
	(void)r;
}

static void aux_cal_progress(void *user, int64_t done, int64_t total)
{
	struct aux *a = user;
	pthread_mutex_lock(&a->mu);
	a->cal_done = done;
	a->cal_total = total;
	pthread_mutex_unlock(&a->mu);
	aux_wake_ui(a);
}

static void aux_calibrate(struct aux *a)
{
	struct err e = { 0 };
	struct tensor data = { 0 };
	struct calib_data cal;
	memset(&cal, 0, sizeof cal);
	enum status st = bundle_load_calib(a->b, &data, &e);
	if (!st) {
		struct explore_calib_progress pr = { aux_cal_progress, a };
		st = explore_calibrate(a->g, &data, 1, 64, 64, &a->cancel, &pr, &cal, &e);
	}
	tensor_fini(&data);
	pthread_mutex_lock(&a->mu);
	a->cal_running = false;
	if (st) {
		a->cal_failed = st != ERR_CANCELLED;
		snprintf(a->cal_err, sizeof a->cal_err, "%s", e.msg[0] ? e.msg : status_str(st));
	} else {
		a->cal = cal;
		a->cal_ready = true;
	}
	pthread_mutex_unlock(&a->mu);
	aux_wake_ui(a);
}

static void *aux_main(void *arg)
{
	struct aux *a = arg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		if (a->stop)
			break;
		if (!a->sha_done) {
			pthread_mutex_unlock(&a->mu);
			char hex[65] = "";
			struct err e = { 0 };
			if (policy_file_sha256(a->b->model_path, hex, &e))
				hex[0] = 0;
			pthread_mutex_lock(&a->mu);
			memcpy(a->sha, hex, sizeof hex);
			a->sha_done = true;
			continue;
		}
		if (a->det_want) {
			int ni = a->det_node;
			struct precision p = a->det_prec;
			bool with_cal = a->cal_ready;
			a->det_want = false;
			a->det_running = true;
			pthread_mutex_unlock(&a->mu);
			struct explore_node *out = calloc(1, sizeof *out);
			struct err e = { 0 };
			enum status st = out ? explore_node_stats(a->g, with_cal ? &a->cal : NULL, ni, &p,
								 HIST_BINS, out, &e)
					     : err_set(&e, ERR_NOMEM, "out of memory");
			pthread_mutex_lock(&a->mu);
			a->det_running = false;
			if (st) {
				free(out);
				snprintf(a->det_err, sizeof a->det_err, "%s", e.msg);
			} else {
				if (a->det_out) {
					explore_node_fini(a->det_out);
					free(a->det_out);
				}
				a->det_out = out;
				a->det_out_cal = with_cal;
				a->det_err[0] = 0;
			}
			if (!a->cal_ready && !a->cal_failed)
				a->cal_want = true;
			pthread_mutex_unlock(&a->mu);
			aux_wake_ui(a);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		if ((a->cal_want || a->job) && !a->cal_ready && !a->cal_failed) {
			a->cal_want = false;
			a->cal_running = true;
			atomic_store(&a->cancel, false);
			pthread_mutex_unlock(&a->mu);
			aux_calibrate(a);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		if (a->job) {
			enum aux_job kind = a->job;
			struct policy pol = a->job_pol;
			memset(&a->job_pol, 0, sizeof a->job_pol);
			char path[1024], what[8];
			snprintf(path, sizeof path, "%s", a->job_path);
			snprintf(what, sizeof what, "%s", a->job_kind);
			struct metrics_summary ev = a->job_eval;
			bool has_ev = a->job_has_eval;
			uint64_t gen = a->job_gen;
			bool cal_ok = a->cal_ready;
			char cal_err[256];
			snprintf(cal_err, sizeof cal_err, "%s", a->cal_err);
			a->job = AUX_NONE;
			a->job_running = true;
			pthread_mutex_unlock(&a->mu);
			struct err e = { 0 };
			enum status st;
			if (!cal_ok) {
				st = err_set(&e, ERR_INVALID, "calibration statistics unavailable: %s",
					     cal_err);
			} else {
				struct explore_files f = {
					.b = a->b, .model_sha256 = a->sha[0] ? a->sha : NULL,
					.qlens_version = QLENS_VERSION, .eval = has_ev ? &ev : NULL,
					.calib_samples = a->cal.samples,
				};
				st = kind == AUX_SAVE ? explore_save_policy(a->g, &a->cal, &pol, &f, path, &e)
						      : explore_export(a->g, &a->cal, &pol, &f, what, path, &e);
			}
			policy_fini(&pol);
			pthread_mutex_lock(&a->mu);
			a->job_running = false;
			a->job_fin = true;
			a->job_ok = !st;
			a->job_fin_kind = kind;
			a->job_fin_gen = gen;
			if (st)
				snprintf(a->job_msg, sizeof a->job_msg, "%s failed: %s",
					 kind == AUX_SAVE ? "save" : "export", e.msg[0] ? e.msg : status_str(st));
			else
				snprintf(a->job_msg, sizeof a->job_msg, "%s %s", kind == AUX_SAVE
					 ? "saved the policy to" : "exported to", path);
			pthread_mutex_unlock(&a->mu);
			aux_wake_ui(a);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		pthread_cond_wait(&a->cv, &a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static bool aux_start(struct aux *a, const struct graph *g, const struct bundle *b)
{
	memset(a, 0, sizeof *a);
	a->g = g;
	a->b = b;
	a->pipe[0] = a->pipe[1] = -1;
	if (pipe(a->pipe) != 0)
		return false;
	for (int i = 0; i < 2; i++) {
		fcntl(a->pipe[i], F_SETFL, fcntl(a->pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(a->pipe[i], F_SETFD, FD_CLOEXEC);
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	atomic_init(&a->cancel, false);
	if (pthread_create(&a->th, NULL, aux_main, a) != 0)
		return false;
	a->started = true;
	return true;
}

static void aux_stop(struct aux *a)
{
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		atomic_store(&a->cancel, true);
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
	}
	if (a->det_out) {
		explore_node_fini(a->det_out);
		free(a->det_out);
	}
	if (a->job_pol.g)
		policy_fini(&a->job_pol);
	calib_data_fini(&a->cal);
	for (int i = 0; i < 2; i++)
		if (a->pipe[i] >= 0)
			close(a->pipe[i]);
	a->started = false;
}

/* ---- helpers --------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool same_policy(const struct tui_model *m, const struct policy *a, const struct policy *b)
{
	for (int i = 0; i < m->n_rows; i++) {
		int ni = m->rows[i].node;
		struct precision pa = policy_node(a, ni), pb = policy_node(b, ni);
		if (!precision_equal(&pa, &pb))
			return false;
	}
	return true;
}

static void cost_rel(const struct tui_model *m, const struct policy *p, double *wrel, double *brel,
		     int64_t *wb, int64_t *wb32)
{
	struct explore_cost c;
	explore_policy_cost(&m->mi, p, &c);
	if (wrel)
		*wrel = c.fp32_wbytes ? (double)c.wbytes / (double)c.fp32_wbytes : 1;
	if (brel)
		*brel = c.fp32_bitops > 0 ? c.bitops / c.fp32_bitops : 1;
	if (wb)
		*wb = c.wbytes;
	if (wb32)
		*wb32 = c.fp32_wbytes;
}

static void submit_current(struct tui_model *m)
{
	/* already measured?  take those figures at once */
	for (int i = m->n_meas - 1; i >= 0; i--)
		if (same_policy(m, &m->meas[i].pol, &m->pol)) {
			m->last.valid = true;
			m->last.policy_gen = m->gen;
			m->last.s = m->meas[i].s;
			m->last.weight_bytes = m->meas[i].weight_bytes;
			m->cur_id = 0;
			return;
		}
	struct err e = { 0 };
	uint64_t id = 0;
	if (session_submit_policy(m->s, &m->pol, &id, &e)) {
		snprintf(m->st.error, sizeof m->st.error, "policy evaluation: %s", e.msg);
		m->cur_id = 0;
		return;
	}
	m->cur_id = id;
	/* remember which policy this id is */
	if (m->n_sub == MAX_SUBMITTED) {
		policy_fini(&m->sub[0].pol);
		memmove(m->sub, m->sub + 1, (MAX_SUBMITTED - 1) * sizeof *m->sub);
		m->n_sub--;
	}
	struct submitted *s = &m->sub[m->n_sub];
	if (policy_copy(&s->pol, &m->pol, &e) == OK) {
		s->id = id;
		s->gen = m->gen;
		m->n_sub++;
	}
}

static bool push_policy(struct policy **stack, int *n, int *cap, const struct policy *p)
{
	if (*n == *cap) {
		int nc = *cap ? *cap * 2 : 16;
		struct policy *ns = realloc(*stack, (size_t)nc * sizeof *ns);
		if (!ns)
			return false;
		*stack = ns;
		*cap = nc;
	}
	struct err e = { 0 };
	if (policy_copy(&(*stack)[*n], p, &e))
		return false;
	(*n)++;
	return true;
}

static void clear_stack(struct policy *stack, int *n)
{
	for (int i = 0; i < *n; i++)
		policy_fini(&stack[i]);
	*n = 0;
}

/* Apply `next` as an edit (takes a copy): undo entry, new generation, measure. */
static void commit_edit(struct tui_model *m, const struct policy *next, bool keep_redo)
{
	if (same_policy(m, next, &m->pol))
		return;
	push_policy(&m->undo, &m->n_undo, &m->cap_undo, &m->pol);
	if (!keep_redo)
		clear_stack(m->redo, &m->n_redo);
	struct policy cp;
	struct err e = { 0 };
	if (policy_copy(&cp, next, &e))
		return;
	policy_fini(&m->pol);
	m->pol = cp;
	m->gen++;
	submit_current(m);
}

/* ---- open / close ------------------------------------------------------------------ */

static void build_rows(struct tui_model *m)
{
	const struct graph *g = m->g;
	m->rows = calloc((size_t)g->n_nodes + 1, sizeof *m->rows);
	m->row_of_node = malloc(((size_t)g->n_nodes + 1) * sizeof *m->row_of_node);
	if (!m->rows || !m->row_of_node)
		return;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		m->row_of_node[ni] = -1;
		const struct node_info *info = &m->mi.nodes[ni];
		if (!info->quantizable || info->folded || g->nodes[ni].n_outputs < 1)
			continue;
		struct tui_row *r = &m->rows[m->n_rows];
		r->node = ni;
		tui_sanitize(g->nodes[ni].name, r->name, sizeof r->name);
		tui_sanitize(g->nodes[ni].op_type, r->op, sizeof r->op);
		r->params = info->params;
		r->macs = info->macs;
		m->row_of_node[ni] = m->n_rows++;
	}
}

struct tui_model *tui_model_open(const char *path, const struct cli_data *data, int64_t cache_mb,
				 char *msg, size_t msg_size)
{
	struct tui_model *m = calloc(1, sizeof *m);
	struct err e = { 0 };
	if (!m) {
		snprintf(msg, msg_size, "out of memory");
		return NULL;
	}
	/* the same opening as the headless commands: a bundle, or a bare model
	 * with --calib/--eval/--labels */
	if (cli_bundle_load(path, data, &m->b, &m->g, &e))
		goto fail;
	m->have_b = true;
	if (!m->b.calib_path || !m->b.eval_path || !m->b.labels_path) {
		err_set(&e, ERR_INVALID, "%s: the explorer needs calibration data, evaluation data "
			"and labels: open a bundle folder, or give --calib FILE.npy --eval FILE.npy "
			"--labels FILE.npy", path);
		goto fail;
	}
	if (model_info_build(m->g, &m->mi, &e))
		goto fail;
	m->have_mi = true;
	/* candidates as the session names them */
	static const char *const defaults[] = SESSION_DEFAULT_CANDS;
	m->n_cands = SESSION_DEFAULT_N_CANDS;
	for (int c = 0; c < m->n_cands; c++) {
		snprintf(m->cand_name[c], sizeof m->cand_name[c], "%s", defaults[c]);
		m->cand_ptr[c] = m->cand_name[c];
		if (engine_parse_candidate(defaults[c], &m->cand[c], &e))
			goto fail;
	}
	build_rows(m);
	if (!m->rows) {
		err_set(&e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	char name[128];
	snprintf(m->title, sizeof m->title, "%s", tui_sanitize(m->b.name, name, sizeof name));
	if (policy_init(&m->pol, m->g, &m->cand[0], &e))
		goto fail;
	if (!aux_start(&m->aux, m->g, &m->b)) {
		err_set(&e, ERR_IO, "cannot start the helper thread: %s", strerror(errno));
		goto fail;
	}
	struct session_opts o = { 0 };
	o.cands = m->cand_ptr;
	o.n_cands = m->n_cands;
	o.version = QLENS_VERSION;
	o.cache_mb = cache_mb;
	if (session_open(&m->b, m->g, &o, &m->s, &e))
		goto fail;
	struct sweep_sel sel = { .kinds = SWEEP_LOCAL | SWEEP_ISOLATE };
	if (session_submit_sweep(m->s, &sel, &e))
		goto fail;
	m->gen = 1;
	m->saved_gen = 1;
	submit_current(m);
	m->pts_dirty = true;
	snprintf(m->st.what, sizeof m->st.what, "opening");
	m->st.busy = true;
	m->st.eta_s = -1;
	m->st.fraction = -1;
	return m;
fail:
	snprintf(msg, msg_size, "%s", e.msg[0] ? e.msg : status_str(e.code));
	tui_model_free(m);
	return NULL;
}

void tui_model_free(struct tui_model *m)
{
	if (!m)
		return;
	session_close(m->s);
	aux_stop(&m->aux);
	if (m->det) {
		explore_node_fini(m->det);
		free(m->det);
	}
	for (int i = 0; i < m->n_sub; i++)
		policy_fini(&m->sub[i].pol);
	for (int i = 0; i < m->n_meas; i++)
		policy_fini(&m->meas[i].pol);
	free(m->meas);
	free(m->pts);
	clear_stack(m->undo, &m->n_undo);
	clear_stack(m->redo, &m->n_redo);
	free(m->undo);
	free(m->redo);
	if (m->pol.g)
		policy_fini(&m->pol);
	free(m->rows);
	free(m->row_of_node);
	if (m->have_mi)
		model_info_fini(&m->mi);
	graph_free(m->g);
	if (m->have_b)
		bundle_fini(&m->b);
	free(m);
}

int tui_model_fds(const struct tui_model *m, int *fds)
{
	int n = 0;
	if (m->s)
		fds[n++] = session_notify_fd(m->s);
	if (m->aux.started)
		fds[n++] = m->aux.pipe[0];
	return n;
}

/* ---- polling ------------------------------------------------------------------------ */

/* The Pareto point of a measured policy (added when new); NULL on no memory. */
static struct measured *meas_add(struct tui_model *m, const struct policy *pol,
				 const struct metrics_summary *sm, int64_t weight_bytes)
{
	for (int i = 0; i < m->n_meas; i++)
		if (same_policy(m, &m->meas[i].pol, pol))
			return &m->meas[i];
	if (m->n_meas == m->cap_meas) {
		int nc = m->cap_meas ? 2 * m->cap_meas : 16;
		struct measured *nm = realloc(m->meas, (size_t)nc * sizeof *nm);
		if (!nm)
			return NULL;
		m->meas = nm;
		m->cap_meas = nc;
	}
	struct measured *me = &m->meas[m->n_meas];
	memset(me, 0, sizeof *me);
	struct err e = { 0 };
	if (policy_copy(&me->pol, pol, &e))
		return NULL;
	me->s = *sm;
	me->weight_bytes = weight_bytes;
	cost_rel(m, &me->pol, &me->wrel, &me->brel, NULL, NULL);
	m->n_meas++;
	m->pts_dirty = true;
	return me;
}

static void add_measured(struct tui_model *m, uint64_t id, const struct session_policy *sp)
{
	int k = -1;
	for (int i = 0; i < m->n_sub; i++)
		if (m->sub[i].id == id)
			k = i;
	if (k < 0)
		return;
	struct submitted *s = &m->sub[k];
	if (s->gen == m->gen || !m->last.valid || s->gen > m->last.policy_gen) {
		m->last.valid = true;
		m->last.policy_gen = s->gen;
		m->last.s = sp->final;
		m->last.weight_bytes = sp->weight_bytes;
	}
	meas_add(m, &s->pol, &sp->final, sp->weight_bytes);
}

/* ---- automatic search ----------------------------------------------------------------- */

/* Every policy the search measured becomes a Pareto point (marked), so
 * restoring one, or applying the result, takes its figures at once. */
static void auto_points(struct tui_model *m, const struct session_auto_result *res)
{
	for (int i = 0; i < m->n_meas; i++)
		m->meas[i].search = m->meas[i].frontier = false;
	for (int i = 0; i < res->n_points; i++) {
		const struct session_auto_point *p = &res->points[i];
		struct measured *me = meas_add(m, &p->pol, &p->m, p->weight_bytes);
		if (!me)
			continue;
		me->search = true;
		me->frontier = p->frontier;
		me->search_bitops = res->opts.objective == SEARCH_BITOPS;
		me->eval_no = p->eval_no;
	}
	m->pts_dirty = true;
}

/* The search `auto_id` finished (ran: it started; else it was dropped from
 * the queue by a cancel): copy its points, apply its policy as one edit, and
 * leave the outcome for tui_model_auto_take. */
static void auto_finish(struct tui_model *m, const struct session_auto *q, bool ran,
			const char *error)
{
	struct session_auto_result res;
	struct err e = { 0 };
	bool have = ran && q->done && session_auto_result(m->s, &res, &e) == OK;
	if (have && res.id != m->auto_id) {
		session_auto_result_fini(&res);
		have = false;
	}
	if (have)
		auto_points(m, &res);
	char *msg = m->auto_msg;
	size_t size = sizeof m->auto_msg;
	if (m->auto_cancelled || (ran && q->status == ERR_CANCELLED)) {
		m->auto_role = R_WARN;
		snprintf(msg, size, "search cancelled after %d evaluations; the policy is unchanged",
			 ran ? q->evaluations : 0);
	} else if (ran && q->status != OK) {
		m->auto_role = R_ERROR;
		snprintf(msg, size, "search failed: %s", error && error[0] ? error
			 : status_str(q->status));
	} else if (!have || res.cost >= res.fp32_cost) {
		m->auto_role = R_WARN;
		snprintf(msg, size, "search: no quantized policy stays within the budget (%d "
			 "evaluations, %.1f s); the policy is unchanged", q->evaluations, q->elapsed_s);
	} else {
		bool same = same_policy(m, &res.pol, &m->pol);
		commit_edit(m, &res.pol, false);
		const struct metrics_summary *r = &res.m;
		m->auto_role = R_GOOD;
		/* fits 100 columns: the figures relative to FP32, the drop in points */
		snprintf(msg, size, "search: %d evaluations, %.1f s: size %.1f%%, BitOps %.1f%%; drop "
			 "%.2f [95%% CI %.2f, %.2f]%s", res.evaluations, res.seconds,
			 res.fp32_weight_bytes ? 100.0 * (double)res.weight_bytes
						 / (double)res.fp32_weight_bytes : 100.0,
			 res.fp32_bitops > 0 ? 100 * res.bitops / res.fp32_bitops : 100.0,
			 -100 * r->delta, -100 * r->ci_hi, -100 * r->ci_lo,
			 same ? "; already the policy" : "; u undoes");
	}
	if (have)
		session_auto_result_fini(&res);
	/* a cancel also dropped the current policy's queued measurement */
	if (!(m->last.valid && m->last.policy_gen == m->gen) && !m->cur_id)
		submit_current(m);
	m->auto_id = 0;
	m->auto_cancelled = false;
	m->auto_fin = true;
}

bool tui_model_auto_start(struct tui_model *m, const struct tui_auto_req *r, char *msg,
			  size_t size)
{
	if (m->auto_id) {
		snprintf(msg, size, "a search is already running (Esc or X cancels it)");
		return false;
	}
	if (!(r->max_drop >= 0) || !isfinite(r->max_drop)) {
		snprintf(msg, size, "the budget must be a number of points from 0");
		return false;
	}
	struct search_opts o = {
		.max_drop = r->relative ? r->max_drop / 100 : r->max_drop,
		.drop_type = r->relative ? SEARCH_RELATIVE : SEARCH_ABSOLUTE,
		.objective = r->bitops ? SEARCH_BITOPS : SEARCH_SIZE,
		.confidence = r->confidence,
	};
	struct err e = { 0 };
	uint64_t id = 0;
	if (session_submit_auto(m->s, &o, &id, &e)) {
		snprintf(msg, size, "search: %s", e.msg[0] ? e.msg : status_str(e.code));
		return false;
	}
	m->auto_id = id;
	m->auto_cancelled = false;
	m->auto_bitops = r->bitops;
	snprintf(msg, size, "searching for the cheapest %s within %.2f%s%s (Esc or X cancels)",
		 r->bitops ? "BitOps" : "weight size", r->max_drop,
		 r->relative ? "% of the FP32 top-1" : " points of top-1",
		 r->confidence ? " at the 95% interval's end" : "");
	return true;
}

void tui_model_auto_status(const struct tui_model *m, struct tui_auto_status *out)
{
	memset(out, 0, sizeof *out);
	if (!m->auto_id)
		return;
	out->running = true;
	out->bitops = m->auto_bitops;
	const struct session_auto *q = &m->auto_q;
	if (q->id != m->auto_id) {
		snprintf(out->what, sizeof out->what, "waiting for the running job");
		return;
	}
	out->searching = q->searching;
	tui_sanitize(q->what, out->what, sizeof out->what);
	out->evaluations = q->evaluations;
	out->max_evals = q->max_evals;
	out->has_best = q->has_best;
	out->best_rel = q->fp32_cost > 0 ? q->best_cost / q->fp32_cost : 1;
	out->best_top1 = q->best.top1;
	out->elapsed_s = q->elapsed_s;
}

bool tui_model_auto_cancel(struct tui_model *m)
{
	if (!m->auto_id)
		return false;
	m->auto_cancelled = true;
	session_cancel(m->s);
	m->cur_id = 0;
	return true;
}

bool tui_model_auto_take(struct tui_model *m, enum tui_role *role, char *msg, size_t size)
{
	if (!m->auto_fin)
		return false;
	m->auto_fin = false;
	*role = m->auto_role;
	snprintf(msg, size, "%s", m->auto_msg);
	return true;
}

static void take_snapshot(struct tui_model *m)
{
	struct session_snap snap;
	session_snapshot(m->s, &snap);
	m->snap_gen = snap.gen;
	struct tui_status *st = &m->st;
	st->ready = snap.state == SESSION_READY;
	tui_sanitize(snap.error, st->error, sizeof st->error);
	if (snap.state == SESSION_FAILED && !st->error[0])
		snprintf(st->error, sizeof st->error, "the session failed");
	char notice[sizeof st->notice];
	tui_sanitize(snap.notice, notice, sizeof notice);
	if (strcmp(notice, st->notice) != 0) {
		memcpy(st->notice, notice, sizeof notice);
		st->notice_seq++;
	}
	m->prog = snap.progress;
	st->busy = snap.progress.job != JOB_NONE || snap.state == SESSION_OPENING;
	tui_sanitize(snap.progress.what, st->what, sizeof st->what);
	if (!st->what[0] && st->busy)
		snprintf(st->what, sizeof st->what, "%s", snap.state == SESSION_OPENING ? "opening"
							   : "working");
	st->done = snap.progress.done;
	st->total = snap.progress.total;
	st->fraction = snap.progress.fraction;
	st->eta_s = snap.progress.eta_s;
	st->have_fp32 = snap.res.has_fp32;
	st->fp32_top1 = snap.res.fp32_top1;
	/* results by node */
	bool changed = false;
	for (int i = 0; i < snap.res.n_rows; i++) {
		const struct sweep_row *sr = &snap.res.rows[i];
		if (sr->node < 0 || sr->node >= m->g->n_nodes || m->row_of_node[sr->node] < 0)
			continue;
		struct tui_row *r = &m->rows[m->row_of_node[sr->node]];
		for (int c = 0; c < m->n_cands && c < snap.res.n_cands; c++) {
			const struct sweep_cell *cell = &sr->cell[c];
			if (cell->has_local && (!r->has_local[c] || r->local[c] != cell->local_sqnr_db)) {
				r->has_local[c] = true;
				r->local[c] = cell->local_sqnr_db;
				changed = true;
			}
			if (cell->has_iso && (!r->iso[c].valid || r->iso[c].delta != cell->iso.delta ||
					      r->iso[c].lo != cell->iso.ci_lo)) {
				r->iso[c] = (struct tui_iso){ true, cell->iso.delta, cell->iso.ci_lo,
							      cell->iso.ci_hi, cell->iso.within_noise };
				changed = true;
			}
		}
	}
	if (changed)
		m->pts_dirty = true;
	/* policy figures */
	m->sp = snap.policy;
	if (snap.policy.done && snap.policy.id && snap.policy.id != m->last_done_id) {
		m->last_done_id = snap.policy.id;
		add_measured(m, snap.policy.id, &snap.policy);
	}
	if (snap.policy.id == m->cur_id && snap.policy.done && m->cur_id)
		m->cur_id = 0;
	m->auto_q = snap.search;
	if (m->auto_id && snap.search.id == m->auto_id && !snap.search.running)
		auto_finish(m, &snap.search, true, snap.error);
	session_snap_fini(&snap);
}

bool tui_model_poll(struct tui_model *m)
{
	bool news = false;
	char buf[64];
	while (read(m->aux.pipe[0], buf, sizeof buf) > 0)
		news = true;
	if (m->s) {
		session_ack(m->s);
		if (session_generation(m->s) != m->snap_gen) {
			take_snapshot(m);
			news = true;
		}
		/* a search cancelled before it started never reports */
		if (m->auto_id && m->auto_cancelled && m->auto_q.id != m->auto_id &&
		    session_idle(m->s)) {
			auto_finish(m, &m->auto_q, false, NULL);
			news = true;
		}
	}
	/* the helper thread's results */
	pthread_mutex_lock(&m->aux.mu);
	if (m->aux.det_out) {
		if (m->det) {
			explore_node_fini(m->det);
			free(m->det);
		}
		m->det = m->aux.det_out;
		m->det_cal = m->aux.det_out_cal;
		m->aux.det_out = NULL;
		news = true;
	}
	m->det_pending = m->aux.det_want || m->aux.det_running;
	if (m->aux.det_err[0]) {
		snprintf(m->det_note, sizeof m->det_note, "%s", m->aux.det_err);
		m->aux.det_err[0] = 0;
	}
	if (m->aux.cal_running)
		snprintf(m->job_note, sizeof m->job_note, "collecting statistics for the detail pane "
			 "%lld/%lld", (long long)m->aux.cal_done, (long long)m->aux.cal_total);
	else if (m->aux.job_running || m->aux.job)
		snprintf(m->job_note, sizeof m->job_note, "%s", "writing the policy file / export");
	else
		m->job_note[0] = 0;
	pthread_mutex_unlock(&m->aux.mu);
	return news;
}

bool tui_model_tick(struct tui_model *m)
{
	double t = now_s();
	if (t - m->aux_tick < 0.5)
		return false;
	m->aux_tick = t;
	return m->st.busy || m->job_note[0];
}

/* ---- queries ------------------------------------------------------------------------- */

const char *tui_model_title(const struct tui_model *m) { return m->title; }
const struct graph *tui_model_graph(const struct tui_model *m) { return m->g; }

int tui_model_rows(const struct tui_model *m, const struct tui_row **rows)
{
	*rows = m->rows;
	return m->n_rows;
}

int tui_model_cands(const struct tui_model *m, const char *const **names)
{
	*names = m->cand_ptr;
	return m->n_cands;
}

const struct precision *tui_model_cand(const struct tui_model *m, int c) { return &m->cand[c]; }

const struct tui_status *tui_model_status(const struct tui_model *m)
{
	/* the helper thread's work shows when the session is idle */
	struct tui_model *mm = (struct tui_model *)m;
	if (!m->st.busy && m->job_note[0]) {
		static struct tui_status s;
		s = m->st;
		s.busy = true;
		snprintf(s.what, sizeof s.what, "%s", m->job_note);
		s.total = 0;
		s.fraction = -1;
		return &s;
	}
	(void)mm;
	return &m->st;
}

const struct policy *tui_model_policy(const struct tui_model *m) { return &m->pol; }
uint64_t tui_model_policy_gen(const struct tui_model *m) { return m->gen; }
bool tui_model_dirty(const struct tui_model *m) { return m->gen != m->saved_gen; }

int tui_model_cand_of(const struct tui_model *m, const struct precision *p)
{
	for (int c = 0; c < m->n_cands; c++)
		if (precision_equal(p, &m->cand[c]))
			return c;
	return -1;
}

void tui_model_figures(const struct tui_model *m, struct tui_figures *f)
{
	memset(f, 0, sizeof *f);
	for (int i = 0; i < m->n_rows; i++) {
		const struct tui_row *r = &m->rows[i];
		struct precision p = policy_node(&m->pol, r->node);
		if (precision_is_fp32(&p))
			continue;
		f->n_quant++;
		f->pred_needed++;
		int c = tui_model_cand_of(m, &p);
		if (c >= 0 && r->iso[c].valid) {
			f->pred_known++;
			f->pred_delta += r->iso[c].delta;
		}
	}
	f->n_nodes = m->n_rows;
	f->last = m->last;
	f->current = m->last.valid && m->last.policy_gen == m->gen;
	f->measuring = !f->current && m->cur_id != 0;
	if (f->measuring && m->sp.id == m->cur_id && m->sp.running && m->sp.est_done > 0) {
		f->partial_valid = true;
		f->partial = m->sp.est;
		f->partial_done = m->sp.est_done;
		f->partial_total = m->sp.est_total;
	}
	cost_rel(m, &m->pol, &f->wbytes_rel, &f->bitops_rel, &f->wbytes, &f->wbytes_fp32);
}

void tui_model_point_cost(const struct tui_model *m, int row, int cand, double *wrel, double *brel)
{
	struct policy p;
	struct precision fp32;
	struct err e = { 0 };
	precision_preset("fp32", &fp32, NULL);
	if (policy_init(&p, m->g, &fp32, &e)) {
		*wrel = *brel = 1;
		return;
	}
	policy_set(&p, m->rows[row].node, &m->cand[cand]);
	cost_rel(m, &p, wrel, brel, NULL, NULL);
	policy_fini(&p);
}

static void rebuild_points(struct tui_model *m)
{
	int n = m->n_meas + m->n_rows * m->n_cands;
	struct tui_point *pts = realloc(m->pts, ((size_t)n + 1) * sizeof *pts);
	if (!pts)
		return;
	m->pts = pts;
	m->n_pts = 0;
	for (int i = 0; i < m->n_meas; i++) {
		const struct measured *me = &m->meas[i];
		m->pts[m->n_pts++] = (struct tui_point){
			.from_sweep = false, .row = -1, .cand = -1, .prec_set = i,
			.search = me->search, .frontier = me->frontier, .eval_no = me->eval_no,
			.search_bitops = me->search_bitops,
			.top1 = me->s.top1, .delta = me->s.delta, .lo = me->s.ci_lo, .hi = me->s.ci_hi,
			.wbytes_rel = me->wrel, .bitops_rel = me->brel,
		};
	}
	if (m->st.have_fp32)
		for (int r = 0; r < m->n_rows; r++)
			for (int c = 0; c < m->n_cands; c++) {
				const struct tui_iso *iso = &m->rows[r].iso[c];
				if (!iso->valid)
					continue;
				struct tui_point *p = &m->pts[m->n_pts++];
				*p = (struct tui_point){
					.from_sweep = true, .row = r, .cand = c, .prec_set = -1,
					.top1 = m->st.fp32_top1 + iso->delta, .delta = iso->delta,
					.lo = iso->lo, .hi = iso->hi,
				};
				tui_model_point_cost(m, r, c, &p->wbytes_rel, &p->bitops_rel);
			}
	m->pts_dirty = false;
}

int tui_model_points(const struct tui_model *m, const struct tui_point **pts)
{
	struct tui_model *mm = (struct tui_model *)m;
	if (mm->pts_dirty)
		rebuild_points(mm);
	*pts = m->pts;
	return m->n_pts;
}

int tui_model_current_point(const struct tui_model *m)
{
	const struct tui_point *pts;
	int n = tui_model_points(m, &pts);
	for (int i = 0; i < n; i++) {
		if (!pts[i].from_sweep) {
			if (same_policy(m, &m->meas[pts[i].prec_set].pol, &m->pol))
				return i;
			continue;
		}
		/* a sweep point: only its node quantized, at its candidate */
		bool match = true;
		for (int r = 0; r < m->n_rows && match; r++) {
			struct precision p = policy_node(&m->pol, m->rows[r].node);
			if (r == pts[i].row)
				match = precision_equal(&p, &m->cand[pts[i].cand]);
			else
				match = precision_is_fp32(&p);
		}
		if (match)
			return i;
	}
	return -1;
}

/* ---- edits ------------------------------------------------------------------------ */

void tui_model_set(struct tui_model *m, int node, const struct precision *p)
{
	struct policy next;
	struct err e = { 0 };
	if (policy_copy(&next, &m->pol, &e))
		return;
	policy_set(&next, node, p);
	commit_edit(m, &next, false);
	policy_fini(&next);
}

void tui_model_set_op(struct tui_model *m, const char *op_type, const struct precision *p)
{
	struct policy next;
	struct err e = { 0 };
	if (policy_copy(&next, &m->pol, &e))
		return;
	for (int i = 0; i < m->n_rows; i++)
		if (strcmp(m->g->nodes[m->rows[i].node].op_type, op_type) == 0)
			policy_set(&next, m->rows[i].node, p);
	commit_edit(m, &next, false);
	policy_fini(&next);
}

void tui_model_set_all(struct tui_model *m, const struct precision *p)
{
	struct policy next;
	struct err e = { 0 };
	if (policy_init(&next, m->g, p, &e))
		return;
	commit_edit(m, &next, false);
	policy_fini(&next);
}

static bool step_history(struct tui_model *m, struct policy *from, int *n_from, struct policy **to,
			 int *n_to, int *cap_to)
{
	if (*n_from == 0)
		return false;
	push_policy(to, n_to, cap_to, &m->pol);
	policy_fini(&m->pol);
	m->pol = from[--(*n_from)];
	m->gen++;
	submit_current(m);
	return true;
}

bool tui_model_undo(struct tui_model *m)
{
	return step_history(m, m->undo, &m->n_undo, &m->redo, &m->n_redo, &m->cap_redo);
}

bool tui_model_redo(struct tui_model *m)
{
	return step_history(m, m->redo, &m->n_redo, &m->undo, &m->n_undo, &m->cap_undo);
}

void tui_model_restore_point(struct tui_model *m, const struct tui_point *pt)
{
	if (!pt->from_sweep) {
		if (pt->prec_set >= 0 && pt->prec_set < m->n_meas)
			commit_edit(m, &m->meas[pt->prec_set].pol, false);
		return;
	}
	struct precision fp32;
	precision_preset("fp32", &fp32, NULL);
	struct policy next;
	struct err e = { 0 };
	if (policy_init(&next, m->g, &fp32, &e))
		return;
	policy_set(&next, m->rows[pt->row].node, &m->cand[pt->cand]);
	commit_edit(m, &next, false);
	policy_fini(&next);
}

void tui_model_cancel(struct tui_model *m)
{
	if (m->auto_id)
		m->auto_cancelled = true;
	session_cancel(m->s);
	atomic_store(&m->aux.cancel, true);
	m->cur_id = 0;
}

/* ---- detail --------------------------------------------------------------------------- */

const struct explore_node *tui_model_detail(struct tui_model *m, int node, const char **note)
{
	struct precision p = policy_node(&m->pol, node);
	bool cal_ready;
	pthread_mutex_lock(&m->aux.mu);
	cal_ready = m->aux.cal_ready;
	bool cal_failed = m->aux.cal_failed;
	pthread_mutex_unlock(&m->aux.mu);
	bool fresh = m->det && m->det->node == node && precision_equal(&m->det->prec, &p) &&
		     (m->det_cal || !cal_ready);
	bool asked = m->det_pending && m->det_req_node == node &&
		     precision_equal(&m->det_req_prec, &p);
	if (!fresh && !asked) {
		pthread_mutex_lock(&m->aux.mu);
		m->aux.det_want = true;
		m->aux.det_node = node;
		m->aux.det_prec = p;
		pthread_cond_signal(&m->aux.cv);
		pthread_mutex_unlock(&m->aux.mu);
		m->det_pending = true;
		m->det_req_node = node;
		m->det_req_prec = p;
	}
	if (note) {
		if (cal_failed)
			snprintf(m->det_note, sizeof m->det_note, "no activation statistics: %s",
				 m->aux.cal_err);
		else if (!cal_ready)
			snprintf(m->det_note, sizeof m->det_note, "%s", m->job_note[0] ? m->job_note
				 : "activation statistics: collecting...");
		else
			m->det_note[0] = 0;
		*note = m->det_note;
	}
	/* show the last result for this node while a new one is computed */
	if (m->det && m->det->node == node)
		return m->det;
	return NULL;
}

/* ---- files ------------------------------------------------------------------------------ */

const char *tui_model_default_path(const struct tui_model *m, const char *kind)
{
	static char buf[512];
	char name[128];
	snprintf(name, sizeof name, "%s", m->b.name ? m->b.name : "model");
	for (char *p = name; *p; p++)
		if (*p == '/' || *p == ' ' || (unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '_';
	const char *ext = strcmp(kind, "qdq") == 0 ? "qdq.onnx"
			  : strcmp(kind, "ort") == 0 ? "ort-overrides.json"
			  : strcmp(kind, "trt") == 0 ? "trtexec.txt" : "policy.json";
	snprintf(buf, sizeof buf, "%s.%s", name, ext);
	return buf;
}

static bool post_job(struct tui_model *m, enum aux_job kind, const char *what, const char *path,
		     char *msg, size_t size)
{
	pthread_mutex_lock(&m->aux.mu);
	bool busy = m->aux.job || m->aux.job_running;
	pthread_mutex_unlock(&m->aux.mu);
	if (busy) {
		snprintf(msg, size, "a save or export is already running");
		return false;
	}
	struct policy cp;
	struct err e = { 0 };
	if (policy_copy(&cp, &m->pol, &e)) {
		snprintf(msg, size, "%s", e.msg);
		return false;
	}
	pthread_mutex_lock(&m->aux.mu);
	m->aux.job = kind;
	m->aux.job_pol = cp;
	snprintf(m->aux.job_kind, sizeof m->aux.job_kind, "%s", what);
	snprintf(m->aux.job_path, sizeof m->aux.job_path, "%s", path);
	m->aux.job_has_eval = m->last.valid && m->last.policy_gen == m->gen;
	m->aux.job_eval = m->last.s;
	m->aux.job_gen = m->gen;
	pthread_cond_signal(&m->aux.cv);
	pthread_mutex_unlock(&m->aux.mu);
	snprintf(msg, size, "%s %s...", kind == AUX_SAVE ? "saving to" : "exporting to", path);
	return true;
}

bool tui_model_save(struct tui_model *m, const char *path, char *msg, size_t size)
{
	return post_job(m, AUX_SAVE, "policy", path, msg, size);
}

bool tui_model_export(struct tui_model *m, const char *kind, const char *path, char *msg,
		      size_t size)
{
	return post_job(m, AUX_EXPORT, kind, path, msg, size);
}

bool tui_model_job_busy(const struct tui_model *m)
{
	struct tui_model *mm = (struct tui_model *)m;
	pthread_mutex_lock(&mm->aux.mu);
	bool b = mm->aux.job || mm->aux.job_running;
	pthread_mutex_unlock(&mm->aux.mu);
	return b;
}

bool tui_model_take_result(struct tui_model *m, bool *ok, char *msg, size_t size)
{
	pthread_mutex_lock(&m->aux.mu);
	bool fin = m->aux.job_fin;
	if (fin) {
		m->aux.job_fin = false;
		*ok = m->aux.job_ok;
		char clean[sizeof m->aux.job_msg];
		tui_sanitize(m->aux.job_msg, clean, sizeof clean);
		snprintf(msg, size, "%s", clean);
		if (m->aux.job_ok && m->aux.job_fin_kind == AUX_SAVE &&
		    m->aux.job_fin_gen > m->saved_gen)
			m->saved_gen = m->aux.job_fin_gen;
	}
	pthread_mutex_unlock(&m->aux.mu);
	return fin;
}

bool tui_model_load(struct tui_model *m, const char *path, char *msg, size_t size)
{
	struct policy pol;
	bool changed = false;
	struct err e = { 0 };
	pthread_mutex_lock(&m->aux.mu);
	char sha[65];
	memcpy(sha, m->aux.sha, sizeof sha);
	pthread_mutex_unlock(&m->aux.mu);
	if (explore_load_policy(m->g, sha[0] ? sha : NULL, path, &pol, &changed, &e)) {
		char clean[600];
		snprintf(msg, size, "load failed: %s", tui_sanitize(e.msg, clean, sizeof clean));
		return false;
	}
	uint64_t before = m->gen;
	commit_edit(m, &pol, false);
	policy_fini(&pol);
	if (m->gen == before)
		snprintf(msg, size, "loaded %s: the same policy as the current one", path);
	else
		snprintf(msg, size, "loaded %s%s", path, changed ? " (made for another version of "
				    "the model: check it)" : "");
	m->saved_gen = m->gen;
	return true;
}
