/*
 * search.c - automatic mixed precision: knapsack proposals checked by
 * measurement, and the one-by-one fallback (search.h has the design).
 *
 * Why a knapsack and not a greedy walk: costs are exactly additive over
 * nodes and risks (logit noise power) nearly so, so a dynamic programme over
 * the summed risk, cut into MAX_UNITS steps, gives the cheapest assignment
 * for *every* risk budget at once (rows x options x steps: a few million
 * cells at most).  The measured search then only moves along that
 * one-dimensional family, which is what makes a handful of evaluations
 * enough: each measurement narrows the bracket of risk budgets, and
 * proposals that could not beat the best feasible policy are skipped
 * unmeasured.  A greedy walk (the fallback) measures after every single
 * change instead.
 */
#include "search.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#define MAX_UNITS 16384 /* risk steps of the knapsack */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- options ------------------------------------------------------------------------ */

enum status search_opts_check(const struct search_opts *o, struct err *e)
{
	if (!(o->max_drop > 0) || !isfinite(o->max_drop))
		return err_set(e, ERR_INVALID, "--max-drop must be a number above 0");
	if (o->drop_type == SEARCH_ABSOLUTE && o->max_drop > 100)
		return err_set(e, ERR_INVALID, "--max-drop %g: an absolute drop is in top-1 points "
			       "(0 < D <= 100)", o->max_drop);
	if (o->drop_type == SEARCH_RELATIVE && o->max_drop >= 1)
		return err_set(e, ERR_INVALID, "--max-drop %g: a relative drop is a fraction of the "
			       "FP32 top-1 (0 < D < 1, e.g. 0.01 for 1%%)", o->max_drop);
	if (o->drop_type != SEARCH_ABSOLUTE && o->drop_type != SEARCH_RELATIVE)
		return err_set(e, ERR_INVALID, "unknown drop type");
	if (o->objective != SEARCH_SIZE && o->objective != SEARCH_BITOPS)
		return err_set(e, ERR_INVALID, "unknown objective");
	if (o->method != SEARCH_KNAPSACK && o->method != SEARCH_FALLBACK)
		return err_set(e, ERR_INVALID, "unknown search method");
	if (o->max_evals < -1 || o->max_evals > 10000)
		return err_set(e, ERR_INVALID, "--max-evals must be from 0 to 10000");
	return OK;
}

enum status search_parse_objective(const char *text, enum search_objective *out, struct err *e)
{
	if (strcmp(text, "size") == 0)
		*out = SEARCH_SIZE;
	else if (strcmp(text, "bitops") == 0)
		*out = SEARCH_BITOPS;
	else
		return err_set(e, ERR_INVALID, "--objective '%s': size or bitops", text);
	return OK;
}

enum status search_parse_drop_type(const char *text, enum search_drop *out, struct err *e)
{
	if (strcmp(text, "absolute") == 0)
		*out = SEARCH_ABSOLUTE;
	else if (strcmp(text, "relative") == 0)
		*out = SEARCH_RELATIVE;
	else
		return err_set(e, ERR_INVALID, "--drop-type '%s': absolute or relative", text);
	return OK;
}

/* ---- the space ---------------------------------------------------------------------- */

void search_space_fini(struct search_space *sp)
{
	if (!sp)
		return;
	free(sp->node);
	free(sp->name);
	free(sp->avail);
	free(sp->risk);
	free(sp->wbytes);
	free(sp->bitops);
	free(sp->rank);
	for (int i = 0; i < sp->n_free; i++)
		free(sp->free_choice[i]);
	free(sp->free_choice);
	free(sp->free_m);
	memset(sp, 0, sizeof *sp);
}

static int find_node(const struct graph *g, const struct sweep_row *w)
{
	if (w->node >= 0 && w->node < g->n_nodes && strcmp(g->nodes[w->node].name, w->name) == 0)
		return w->node;
	for (int ni = 0; ni < g->n_nodes; ni++)
		if (g->nodes[ni].name && strcmp(g->nodes[ni].name, w->name) == 0)
			return ni;
	return -1;
}

static enum status add_free(struct search_space *sp, const int *choice,
			    const struct metrics_summary *m, struct err *e)
{
	int *c = malloc((size_t)sp->n_rows * sizeof *c + 1);
	if (!c)
		return err_set(e, ERR_NOMEM, "out of memory");
	memcpy(c, choice, (size_t)sp->n_rows * sizeof *c);
	sp->free_choice[sp->n_free] = c;
	sp->free_m[sp->n_free++] = *m;
	return OK;
}

enum status search_space_build(struct search_space *sp, const struct graph *g,
			       const struct model_info *mi, const struct sweep_results *res,
			       const struct precision *cands, struct err *e)
{
	memset(sp, 0, sizeof *sp);
	sp->g = g;
	if (res->n_cands < 1 || res->n_cands > SWEEP_MAX_CANDS)
		return err_set(e, ERR_INVALID, "the sweep has no candidates");
	if (!res->has_fp32)
		return err_set(e, ERR_INVALID, "the sweep has no FP32 top-1");
	if (res->n_rows < 1 || res->shard_n || res->n_rows != res->n_layers)
		return err_set(e, ERR_INVALID, "the search needs a whole sweep (every layer), not "
			       "a shard");
	int n = res->n_rows, no = res->n_cands + 1;
	size_t cells = (size_t)n * (size_t)no;
	sp->n_rows = n;
	sp->n_opts = no;
	sp->samples = res->samples;
	sp->fp32_top1 = res->fp32_top1;
	sp->base_opt = res->base_cand;
	sp->node = calloc((size_t)n, sizeof *sp->node);
	sp->name = calloc((size_t)n, sizeof *sp->name);
	sp->avail = calloc(cells, sizeof *sp->avail);
	sp->risk = calloc(cells, sizeof *sp->risk);
	sp->wbytes = calloc(cells, sizeof *sp->wbytes);
	sp->bitops = calloc(cells, sizeof *sp->bitops);
	sp->rank = calloc((size_t)n, sizeof *sp->rank);
	sp->free_choice = calloc((size_t)n + 2, sizeof *sp->free_choice);
	sp->free_m = calloc((size_t)n + 2, sizeof *sp->free_m);
	int *choice = calloc((size_t)n, sizeof *choice);
	struct policy pol = { 0 };
	bool have_pol = false;
	enum status st;
	if (!sp->node || !sp->name || !sp->avail || !sp->risk || !sp->wbytes || !sp->bitops ||
	    !sp->rank || !sp->free_choice || !sp->free_m || !choice) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (int c = 0; c < res->n_cands; c++) {
		sp->opt[c] = cands[c];
		snprintf(sp->opt_name[c], sizeof sp->opt_name[c], "%s", res->cand[c]);
	}
	if ((st = precision_preset("fp32", &sp->opt[no - 1], e)))
		goto fail;
	snprintf(sp->opt_name[no - 1], sizeof sp->opt_name[no - 1], "fp32");
	if ((st = policy_init(&pol, g, &sp->opt[no - 1], e)))
		goto fail;
	have_pol = true;
	explore_policy_cost(mi, &pol, &sp->fp32);
	for (int i = 0; i < n; i++) {
		const struct sweep_row *w = &res->rows[i];
		int ni = find_node(g, w);
		if (ni < 0) {
			st = err_set(e, ERR_INVALID, "the sweep's node '%s' is not in the model", w->name);
			goto fail;
		}
		sp->node[i] = ni;
		sp->name[i] = g->nodes[ni].name;
		for (int k = 0; k < no; k++) {
			size_t at = (size_t)i * (size_t)no + (size_t)k;
			if (k < no - 1) {
				if (!w->cell[k].has_iso) {
					st = err_set(e, ERR_INVALID, "the sweep has no isolate result for "
						     "node '%s' at %s", w->name, res->cand[k]);
					goto fail;
				}
				/* the logits' noise-to-signal power when only this node is
				 * quantized: independent noise adds in power */
				double db = w->cell[k].iso.sqnr_db;
				sp->risk[at] = isnan(db) ? 1 : isinf(db) ? 0 : pow(10, -db / 10);
				policy_set(&pol, ni, &sp->opt[k]);
				struct explore_cost c;
				explore_policy_cost(mi, &pol, &c);
				policy_clear(&pol, ni);
				sp->wbytes[at] = (double)(c.wbytes - sp->fp32.wbytes);
				sp->bitops[at] = c.bitops - sp->fp32.bitops;
			}
			sp->avail[at] = true;
		}
		const struct metrics_summary *bi = sweep_base_iso(res, w);
		double iso_loss = bi ? -bi->delta : 0;
		/* recovered top-1 first; the isolate loss breaks ties (and stands in
		 * when the remove run is missing) */
		sp->rank[i] = (w->has_remove ? w->remove_gain.delta : 0) + 1e-3 * iso_loss;
	}
	/* the reference itself: exact, free */
	for (int i = 0; i < n; i++)
		choice[i] = no - 1;
	struct metrics_summary ref = { .n = sp->samples, .fp32_top1 = sp->fp32_top1,
				       .top1 = sp->fp32_top1, .agreement = 1, .sqnr_db = INFINITY,
				       .p_value = 1, .within_noise = true };
	if ((st = add_free(sp, choice, &ref, e)))
		goto fail;
	sp->base_free = -1;
	if (sp->base_opt >= 0 && res->has_base) {
		for (int i = 0; i < n; i++)
			choice[i] = sp->base_opt;
		sp->base_free = sp->n_free;
		if ((st = add_free(sp, choice, &res->base_run, e)))
			goto fail;
	}
	if (sp->base_opt >= 0)
		for (int i = 0; i < n; i++) {
			if (!res->rows[i].has_remove)
				continue;
			for (int r = 0; r < n; r++)
				choice[r] = r == i ? no - 1 : sp->base_opt;
			if ((st = add_free(sp, choice, &res->rows[i].remove, e)))
				goto fail;
		}
	policy_fini(&pol);
	free(choice);
	return OK;
fail:
	if (have_pol)
		policy_fini(&pol);
	free(choice);
	search_space_fini(sp);
	return st;
}

enum status search_policy(const struct search_space *sp, const int *choice, struct policy *pol,
			  struct err *e)
{
	enum status st = policy_init(pol, sp->g, &sp->opt[sp->n_opts - 1], e);
	if (st)
		return st;
	for (int i = 0; i < sp->n_rows; i++)
		if (choice[i] != sp->n_opts - 1)
			policy_set(pol, sp->node[i], &sp->opt[choice[i]]);
	return OK;
}

void search_choice_summary(const struct search_space *sp, const int *choice, char *buf,
			   size_t size)
{
	int count[SEARCH_MAX_OPTS] = { 0 };
	for (int i = 0; i < sp->n_rows; i++)
		count[choice[i]]++;
	size_t len = 0;
	buf[0] = 0;
	for (int k = 0; k < sp->n_opts && len < size; k++)
		if (count[k])
			len += (size_t)snprintf(buf + len, size - len, "%s%s %d", len ? ", " : "",
						sp->opt_name[k], count[k]);
}

/* ---- results ------------------------------------------------------------------------ */

void search_result_init(struct search_result *r)
{
	memset(r, 0, sizeof *r);
	r->best = -1;
}

void search_result_fini(struct search_result *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n_points; i++)
		free(r->points[i].choice);
	free(r->points);
	free(r->best_choice);
	search_result_init(r);
}

static void point_cost(const struct search_space *sp, enum search_objective obj,
		       struct search_point *p)
{
	double wb = (double)sp->fp32.wbytes, bo = sp->fp32.bitops;
	for (int i = 0; i < sp->n_rows; i++) {
		size_t at = (size_t)i * (size_t)sp->n_opts + (size_t)p->choice[i];
		wb += sp->wbytes[at];
		bo += sp->bitops[at];
	}
	p->wbytes = (int64_t)llround(wb);
	p->bitops = bo;
	p->cost = obj == SEARCH_BITOPS ? bo : wb;
}

static double measure_of(const struct metrics_summary *m, bool confidence)
{
	return confidence ? -m->ci_lo : -m->delta;
}

static bool better(const struct search_point *a, const struct search_point *b)
{
	if (a->cost != b->cost)
		return a->cost < b->cost;
	return a->m.top1 > b->m.top1;
}

static int find_point(const struct search_result *r, const int *choice)
{
	for (int i = 0; i < r->n_points; i++)
		if (memcmp(r->points[i].choice, choice, (size_t)r->n_rows * sizeof *choice) == 0)
			return i;
	return -1;
}

static enum status add_point(struct search_result *r, const struct search_space *sp,
			     const struct search_opts *o, const int *choice,
			     const struct metrics_summary *m, bool from_sweep, struct err *e)
{
	struct search_point *np = realloc(r->points, (size_t)(r->n_points + 1) * sizeof *np);
	if (!np)
		return err_set(e, ERR_NOMEM, "out of memory");
	r->points = np;
	struct search_point *p = &np[r->n_points];
	memset(p, 0, sizeof *p);
	p->choice = malloc((size_t)sp->n_rows * sizeof *p->choice + 1);
	if (!p->choice)
		return err_set(e, ERR_NOMEM, "out of memory");
	memcpy(p->choice, choice, (size_t)sp->n_rows * sizeof *choice);
	p->m = *m;
	p->from_sweep = from_sweep;
	p->eval_no = from_sweep ? 0 : r->evaluations;
	point_cost(sp, o->objective, p);
	p->feasible = measure_of(m, o->confidence) <= r->allowed + 1e-12;
	int at = r->n_points++;
	if (p->feasible && (r->best < 0 || better(p, &r->points[r->best])))
		r->best = at;
	return OK;
}

void search_mark_frontier(struct search_result *r)
{
	for (int i = 0; i < r->n_points; i++) {
		struct search_point *p = &r->points[i];
		p->frontier = true;
		for (int j = 0; j < r->n_points && p->frontier; j++) {
			const struct search_point *q = &r->points[j];
			if (j == i)
				continue;
			bool no_worse = q->cost <= p->cost && q->m.top1 >= p->m.top1;
			bool strictly = q->cost < p->cost || q->m.top1 > p->m.top1;
			/* of two equal points the earlier one stays */
			if (no_worse && (strictly || j < i))
				p->frontier = false;
		}
	}
}

/* Measure `choice` unless it was measured already; *at receives its point. */
static enum status measure(struct search_result *r, const struct search_space *sp,
			   const struct search_opts *o, const struct search_eval *ev,
			   const struct search_progress *pr, const _Atomic bool *cancel,
			   const int *choice, const char *what, int *at, struct err *e)
{
	int k = find_point(r, choice);
	if (k >= 0) {
		*at = k;
		return OK;
	}
	if (cancel && atomic_load(cancel))
		return err_set(e, ERR_CANCELLED, "search cancelled");
	if (pr && pr->fn)
		pr->fn(pr->user, r, what, true);
	struct policy pol;
	enum status st = search_policy(sp, choice, &pol, e);
	if (st)
		return st;
	struct metrics_summary m;
	st = ev->fn(ev->user, &pol, &m, e);
	policy_fini(&pol);
	if (st)
		return st;
	r->evaluations++;
	if ((st = add_point(r, sp, o, choice, &m, false, e)))
		return st;
	*at = r->n_points - 1;
	if (pr && pr->fn)
		pr->fn(pr->user, r, what, false);
	return OK;
}

/* ---- the knapsack -------------------------------------------------------------------- */

struct knap {
	int n, no, units;	/* rows, options, largest summed risk */
	int *w;			/* [row * no + k] risk in steps, -1 unavailable */
	double *c;		/* [row * no + k] cost change */
	unsigned char *ch;	/* [row * (units + 1) + r] option chosen */
	double *best;		/* [units + 1] min cost with summed risk exactly r */
	int *arg;		/* [units + 1] r' <= r with the least cost */
};

static void knap_fini(struct knap *k)
{
	free(k->w);
	free(k->c);
	free(k->ch);
	free(k->best);
	free(k->arg);
}

static enum status knap_build(struct knap *k, const struct search_space *sp,
			      enum search_objective obj, struct err *e)
{
	memset(k, 0, sizeof *k);
	int n = sp->n_rows, no = sp->n_opts;
	size_t cells = (size_t)n * (size_t)no;
	k->n = n;
	k->no = no;
	k->w = malloc(cells * sizeof *k->w);
	k->c = malloc(cells * sizeof *k->c);
	if (!k->w || !k->c)
		return err_set(e, ERR_NOMEM, "out of memory");
	/* MAX_UNITS steps over the largest summed risk */
	double total = 0;
	for (int i = 0; i < n; i++) {
		double mx = 0;
		for (int o = 0; o < no; o++)
			mx = fmax(mx, sp->risk[(size_t)i * (size_t)no + (size_t)o]);
		total += mx;
	}
	double per = 1, scale = total > 0 ? total / MAX_UNITS : 1;
	int units = 0;
	for (int i = 0; i < n; i++) {
		int mx = 0;
		for (int o = 0; o < no; o++) {
			size_t at = (size_t)i * (size_t)no + (size_t)o;
			k->c[at] = obj == SEARCH_BITOPS ? sp->bitops[at] : sp->wbytes[at];
			if (!sp->avail[at]) {
				k->w[at] = -1;
				continue;
			}
			k->w[at] = (int)ceil(sp->risk[at] * per / scale - 1e-6);
			if (k->w[at] < 0)
				k->w[at] = 0;
			mx = k->w[at] > mx ? k->w[at] : mx;
		}
		units += mx;
	}
	k->units = units;
	size_t W = (size_t)units + 1;
	k->ch = malloc((size_t)n * W + 1);
	k->best = malloc(W * sizeof *k->best);
	k->arg = malloc(W * sizeof *k->arg);
	double *prev = malloc(W * sizeof *prev);
	if (!k->ch || !k->best || !k->arg || !prev) {
		free(prev);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (size_t r = 0; r < W; r++)
		prev[r] = INFINITY;
	prev[0] = 0;
	for (int i = 0; i < n; i++) {
		unsigned char *ch = k->ch + (size_t)i * W;
		for (size_t r = 0; r < W; r++) {
			double b = INFINITY;
			int bk = no - 1;
			for (int o = 0; o < no; o++) {
				int w = k->w[(size_t)i * (size_t)no + (size_t)o];
				if (w < 0 || (size_t)w > r || !isfinite(prev[r - (size_t)w]))
					continue;
				double v = prev[r - (size_t)w] + k->c[(size_t)i * (size_t)no + (size_t)o];
				if (v < b) {
					b = v;
					bk = o;
				}
			}
			k->best[r] = b;
			ch[r] = (unsigned char)bk;
		}
		memcpy(prev, k->best, W * sizeof *prev);
	}
	free(prev);
	int a = 0;
	for (size_t r = 0; r < W; r++) {
		if (k->best[r] < k->best[a])
			a = (int)r;
		k->arg[r] = a;
	}
	return OK;
}

/* P(r): the cheapest assignment with summed risk at most r. */
static void knap_policy(const struct knap *k, int r, int *choice)
{
	size_t W = (size_t)k->units + 1;
	int at = k->arg[r < 0 ? 0 : r > k->units ? k->units : r];
	for (int i = k->n - 1; i >= 0; i--) {
		int o = k->ch[(size_t)i * W + (size_t)at];
		choice[i] = o;
		at -= k->w[(size_t)i * (size_t)k->no + (size_t)o];
	}
}

static int knap_risk(const struct knap *k, const int *choice)
{
	int s = 0;
	for (int i = 0; i < k->n; i++) {
		int w = k->w[(size_t)i * (size_t)k->no + (size_t)choice[i]];
		s += w > 0 ? w : 0;
	}
	return s;
}

static double choice_cost(const struct knap *k, const struct search_space *sp, const int *choice)
{
	(void)sp;
	double c = 0;
	for (int i = 0; i < k->n; i++)
		c += k->c[(size_t)i * (size_t)k->no + (size_t)choice[i]];
	return c;
}

/* The next risk budget to try inside (lo, hi); hi > units: none infeasible yet. */
static int next_risk(int lo, int hi, int units)
{
	if (hi > units)
		return lo <= 0 ? 1 : 2 * lo;
	if (lo <= 0)
		return hi / 4;
	return (int)sqrt((double)lo * (double)hi);
}

static enum status run_knapsack(const struct search_space *sp, const struct search_opts *o,
				const struct search_eval *ev, const struct search_progress *pr,
				const _Atomic bool *cancel, struct search_result *r, struct err *e)
{
	struct knap k = { 0 };
	int *choice = malloc((size_t)sp->n_rows * sizeof *choice + 1);
	enum status st = choice ? knap_build(&k, sp, o->objective, e)
				: err_set(e, ERR_NOMEM, "out of memory");
	if (st) {
		if (choice)
			knap_fini(&k);
		free(choice);
		return st;
	}
	int max_evals = o->max_evals == 0 ? SEARCH_DEFAULT_MAX_EVALS : o->max_evals < 0 ? 0 : o->max_evals;
	double base_cost = sp->fp32.wbytes;
	if (o->objective == SEARCH_BITOPS)
		base_cost = sp->fp32.bitops;
	/* the first risk budget: the all-base run's own, when the sweep measured
	 * it feasible (P(r) then costs at most as much); scaled down otherwise */
	int rr = k.units / 8;
	if (sp->base_free >= 0) {
		const struct search_point *bp = &r->points[sp->base_free];
		int s = knap_risk(&k, bp->choice);
		double q = measure_of(&bp->m, o->confidence);
		if (bp->feasible)
			rr = s;
		else if (q > 0)
			rr = (int)floor(s * fmin(0.5, r->allowed / q));
	}
	int lo = -1, hi = k.units + 1;
	for (;;) {
		const struct search_point *inc = &r->points[r->best];
		/* nothing left in the bracket can beat the best feasible policy enough */
		knap_policy(&k, hi - 1, choice);
		double floor_cost = base_cost + choice_cost(&k, sp, choice);
		if (floor_cost >= inc->cost * (1 - SEARCH_MIN_GAIN)) {
			snprintf(r->stop, sizeof r->stop, "no proposal left could save %.1f%%",
				 100 * SEARCH_MIN_GAIN);
			break;
		}
		if (hi - lo <= 1) {
			snprintf(r->stop, sizeof r->stop, "the risk bracket closed");
			break;
		}
		if (r->evaluations >= max_evals) {
			snprintf(r->stop, sizeof r->stop, "evaluation limit (%d) reached", max_evals);
			break;
		}
		rr = rr <= lo ? lo + 1 : rr >= hi ? hi - 1 : rr;
		knap_policy(&k, rr, choice);
		double cost = base_cost + choice_cost(&k, sp, choice);
		if (cost >= inc->cost * (1 - SEARCH_MIN_GAIN)) {
			/* no cheaper than what we have: everything at or below rr is not either */
			lo = rr;
			rr = next_risk(lo, hi, k.units);
			continue;
		}
		char what[160];
		snprintf(what, sizeof what, "knapsack proposal at risk %d/%d", rr, k.units);
		int at;
		if ((st = measure(r, sp, o, ev, pr, cancel, choice, what, &at, e)))
			break;
		const struct search_point *p = &r->points[at];
		/* risks span decades: bisect geometrically, step by factors outside */
		if (p->feasible)
			lo = rr;
		else
			hi = rr;
		rr = next_risk(lo, hi, k.units);
	}
	knap_fini(&k);
	free(choice);
	return st;
}

/* ---- the fallback ------------------------------------------------------------------- */

static const struct search_space *rank_space;

static int by_rank(const void *a, const void *b)
{
	int i = *(const int *)a, j = *(const int *)b;
	double x = rank_space->rank[i], y = rank_space->rank[j];
	return x > y ? -1 : x < y ? 1 : i - j;
}

static enum status run_fallback(const struct search_space *sp, const struct search_opts *o,
				const struct search_eval *ev, const struct search_progress *pr,
				const _Atomic bool *cancel, struct search_result *r, struct err *e)
{
	if (sp->base_opt < 0)
		return err_set(e, ERR_INVALID, "the fallback starts from the sweep's base, which "
			       "must be one of the candidates");
	int n = sp->n_rows;
	int *order = malloc((size_t)n * sizeof *order + 1);
	int *choice = malloc((size_t)n * sizeof *choice + 1);
	enum status st = OK;
	if (!order || !choice) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		order[i] = i;
		choice[i] = sp->base_opt;
	}
	rank_space = sp;
	qsort(order, (size_t)n, sizeof *order, by_rank);
	for (int t = 0;; t++) {
		char what[160];
		if (t == 0)
			snprintf(what, sizeof what, "all %s", sp->opt_name[sp->base_opt]);
		else
			snprintf(what, sizeof what, "%s reverted to fp32 (%d of %d)", sp->name[order[t - 1]],
				 t, n);
		int at;
		if ((st = measure(r, sp, o, ev, pr, cancel, choice, what, &at, e)))
			break;
		if (r->points[at].feasible) {
			r->best = at; /* what the fallback returns: where it stopped */
			snprintf(r->stop, sizeof r->stop, "within budget after %d reverts", t);
			break;
		}
		if (t == n)
			break;
		choice[order[t]] = sp->n_opts - 1;
	}
done:
	free(order);
	free(choice);
	return st;
}

enum status search_run(const struct search_space *sp, const struct search_opts *o,
		       const struct search_eval *ev, const struct search_progress *pr,
		       const _Atomic bool *cancel, struct search_result *r, struct err *e)
{
	search_result_init(r);
	enum status st = search_opts_check(o, e);
	if (st)
		return st;
	double t0 = now_s();
	r->n_rows = sp->n_rows;
	r->allowed = o->drop_type == SEARCH_ABSOLUTE ? o->max_drop / 100 : o->max_drop * sp->fp32_top1;
	/* what the sweep measured: the reference first (always feasible) */
	for (int i = 0; i < sp->n_free; i++)
		if ((st = add_point(r, sp, o, sp->free_choice[i], &sp->free_m[i], true, e)))
			return st;
	if (pr && pr->fn)
		pr->fn(pr->user, r, "what the sweep measured", false);
	st = o->method == SEARCH_FALLBACK ? run_fallback(sp, o, ev, pr, cancel, r, e)
					  : run_knapsack(sp, o, ev, pr, cancel, r, e);
	r->seconds = now_s() - t0;
	search_mark_frontier(r);
	if (r->best >= 0) {
		r->found = true;
		r->best_choice = malloc((size_t)sp->n_rows * sizeof *r->best_choice + 1);
		if (!r->best_choice)
			return st ? st : err_set(e, ERR_NOMEM, "out of memory");
		memcpy(r->best_choice, r->points[r->best].choice,
		       (size_t)sp->n_rows * sizeof *r->best_choice);
	}
	return st;
}

/* ---- frontier files ----------------------------------------------------------------------- */

static int *frontier_order(const struct search_result *r, int *n)
{
	int *ix = malloc((size_t)r->n_points * sizeof *ix + 1);
	if (!ix)
		return NULL;
	*n = 0;
	for (int i = 0; i < r->n_points; i++)
		if (r->points[i].frontier)
			ix[(*n)++] = i;
	/* insertion sort by cost: a handful of points */
	for (int a = 1; a < *n; a++)
		for (int b = a; b > 0 && r->points[ix[b]].cost < r->points[ix[b - 1]].cost; b--) {
			int t = ix[b];
			ix[b] = ix[b - 1];
			ix[b - 1] = t;
		}
	return ix;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

char *search_frontier_csv(const struct search_space *sp, const struct search_result *r,
			  enum search_objective obj)
{
	int n;
	int *ix = frontier_order(r, &n);
	if (!ix)
		return NULL;
	struct sbuf b = { 0 };
	sb_printf(&b, "cost,objective,weight_bytes,weight_vs_fp32,bitops,bitops_vs_fp32,top1,"
		  "drop_points,drop_ci_lo,drop_ci_hi,feasible,source,evaluation,precisions\n");
	for (int t = 0; t < n; t++) {
		const struct search_point *p = &r->points[ix[t]];
		char sum[256];
		search_choice_summary(sp, p->choice, sum, sizeof sum);
		sb_printf(&b, "%.17g,%s,%lld,%.6f,%.17g,%.6f,%.6f,%.4f,%.4f,%.4f,%s,%s,%d,\"%s\"\n",
			  p->cost, obj == SEARCH_BITOPS ? "bitops" : "size", (long long)p->wbytes,
			  (double)p->wbytes / (double)sp->fp32.wbytes, p->bitops,
			  p->bitops / sp->fp32.bitops, p->m.top1, -100 * p->m.delta, -100 * p->m.ci_hi,
			  -100 * p->m.ci_lo, p->feasible ? "yes" : "no",
			  p->from_sweep ? "sweep" : "evaluation", p->eval_no, sum);
	}
	free(ix);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

char *search_frontier_json(const struct search_space *sp, const struct search_result *r,
			   enum search_objective obj, const char *bundle)
{
	int n;
	int *ix = frontier_order(r, &n);
	if (!ix)
		return NULL;
	cJSON *root = cJSON_CreateObject(), *pts = NULL;
	bool ok = root && cJSON_AddStringToObject(root, "format", "qlens-frontier") &&
		  cJSON_AddNumberToObject(root, "version", 1) &&
		  cJSON_AddStringToObject(root, "bundle", bundle ? bundle : "") &&
		  cJSON_AddStringToObject(root, "objective", obj == SEARCH_BITOPS ? "bitops" : "size") &&
		  cJSON_AddNumberToObject(root, "fp32_top1", sp->fp32_top1) &&
		  cJSON_AddNumberToObject(root, "fp32_weight_bytes", (double)sp->fp32.wbytes) &&
		  cJSON_AddNumberToObject(root, "fp32_bitops", sp->fp32.bitops) &&
		  cJSON_AddNumberToObject(root, "allowed_drop", r->allowed) &&
		  cJSON_AddNumberToObject(root, "evaluations", r->evaluations) &&
		  (pts = cJSON_AddArrayToObject(root, "points"));
	for (int t = 0; ok && t < n; t++) {
		const struct search_point *p = &r->points[ix[t]];
		cJSON *o = cJSON_CreateObject(), *nodes = NULL;
		ok = o && cJSON_AddItemToArray(pts, o) && cJSON_AddNumberToObject(o, "cost", p->cost) &&
		     cJSON_AddNumberToObject(o, "weight_bytes", (double)p->wbytes) &&
		     cJSON_AddNumberToObject(o, "bitops", p->bitops) &&
		     cJSON_AddNumberToObject(o, "top1", p->m.top1) &&
		     cJSON_AddNumberToObject(o, "delta", p->m.delta) &&
		     cJSON_AddNumberToObject(o, "ci_lo", p->m.ci_lo) &&
		     cJSON_AddNumberToObject(o, "ci_hi", p->m.ci_hi) &&
		     cJSON_AddBoolToObject(o, "feasible", p->feasible) &&
		     cJSON_AddStringToObject(o, "source", p->from_sweep ? "sweep" : "evaluation") &&
		     cJSON_AddNumberToObject(o, "evaluation", p->eval_no) &&
		     (nodes = cJSON_AddObjectToObject(o, "nodes"));
		for (int i = 0; ok && i < sp->n_rows; i++)
			ok = cJSON_AddStringToObject(nodes, sp->name[i], sp->opt_name[p->choice[i]]) != NULL;
	}
	free(ix);
	char *text = ok ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	return text;
}
