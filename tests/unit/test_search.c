/*
 * test_search.c - the automatic search (analysis/search.h) on a synthetic
 * problem, without running a model.
 *
 * The graph is a chain of eight MatMul nodes of different sizes (so costs
 * differ); the "sweep" and the "evaluations" come from a known accuracy model:
 * every node and precision adds logit noise power nsr = sensitivity x level
 * (int8 1e-4, w4a8 2e-3, fp16 1e-7), and a policy with total noise S drops
 * 4 S + 30 S^2 of top-1 (fraction; the square term makes drops compound, so
 * isolate results are not additive), rounded to whole samples of 1000.  The
 * sweep's isolate cells, all-int8 run and remove rows are that model's
 * figures too.  Checks: the result meets the budget when measured again, is
 * never costlier than the fallback, evaluations are counted, the frontier is
 * non-dominated, cancellation stops it, bad options fail with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_builder.h"
#include "search.h"

#define N_NODES 8
#define SAMPLES 1000
#define FP32_TOP1 0.9

static const int64_t widths[N_NODES + 1] = { 8, 16, 32, 16, 64, 8, 32, 16, 8 };
static const double sens[N_NODES] = { 1, 5, 0.2, 3, 0.5, 8, 0.3, 1 };
static float zeros[64 * 64];
static const char *const cand_names[] = { "int8", "w4a8", "fp16" };
static const double level[] = { 1e-4, 2e-3, 1e-7, 0 }; /* the options, fp32 last */

static struct graph *G;
static struct model_info MI;
static struct precision cands[3];
static struct sweep_results SW;
static struct search_space SP;
static int calls;
static _Atomic bool cancel_flag;
static int cancel_after; /* set the flag after this many calls (0: never) */

/* ---- the accuracy model ------------------------------------------------------------ */

static void model(const int *choice, struct metrics_summary *m)
{
	double S = 0;
	for (int i = 0; i < N_NODES; i++)
		S += sens[i] * level[choice[i]];
	double drop = round((4 * S + 30 * S * S) * SAMPLES) / SAMPLES;
	double hw = 0.002 + 0.5 * drop;
	memset(m, 0, sizeof *m);
	m->n = SAMPLES;
	m->fp32_top1 = FP32_TOP1;
	m->top1 = FP32_TOP1 - drop;
	m->delta = -drop;
	m->ci_lo = -drop - hw;
	m->ci_hi = -drop + hw;
	m->sqnr_db = S > 0 ? -10 * log10(S) : INFINITY;
	m->agreement = 1 - drop;
	m->within_noise = m->ci_lo <= 0 && m->ci_hi >= 0;
}

static enum status eval_fn(void *user, const struct policy *pol, struct metrics_summary *out,
			   struct err *e)
{
	const struct search_space *sp = user;
	int choice[N_NODES];
	for (int i = 0; i < sp->n_rows; i++) {
		struct precision p = policy_node(pol, sp->node[i]);
		choice[i] = -1;
		for (int k = 0; k < sp->n_opts; k++)
			if (precision_equal(&p, &sp->opt[k]))
				choice[i] = k;
		if (choice[i] < 0)
			return err_set(e, ERR_INVALID, "node %d has no option's precision", i);
	}
	calls++;
	if (cancel_after && calls >= cancel_after)
		atomic_store(&cancel_flag, true);
	model(choice, out);
	return OK;
}

/* ---- fixture --------------------------------------------------------------------------- */

static void build_sweep(struct sweep_results *r)
{
	sweep_results_init(r);
	r->n_cands = 3;
	for (int c = 0; c < 3; c++)
		snprintf(r->cand[c], sizeof r->cand[c], "%s", cand_names[c]);
	snprintf(r->base, sizeof r->base, "int8");
	r->base_cand = 0;
	r->samples = SAMPLES;
	r->has_fp32 = true;
	r->fp32_top1 = FP32_TOP1;
	r->rows = calloc(N_NODES, sizeof *r->rows);
	r->layers = calloc(N_NODES, sizeof *r->layers);
	assert_true(r->rows && r->layers);
	int all8[N_NODES] = { 0 }, choice[N_NODES];
	r->has_base = true;
	model(all8, &r->base_run);
	for (int i = 0; i < N_NODES; i++) {
		struct sweep_row *w = &r->rows[r->n_rows++];
		w->name = strdup(G->nodes[i].name);
		w->op = strdup("MatMul");
		r->layers[r->n_layers++] = strdup(G->nodes[i].name);
		w->node = i;
		w->index = i;
		for (int c = 0; c < 3; c++) {
			for (int j = 0; j < N_NODES; j++)
				choice[j] = j == i ? c : 3;
			w->cell[c].has_iso = true;
			model(choice, &w->cell[c].iso);
		}
		for (int j = 0; j < N_NODES; j++)
			choice[j] = j == i ? 3 : 0;
		w->has_remove = true;
		model(choice, &w->remove);
		w->remove_gain = w->remove;
		w->remove_gain.delta = w->remove.top1 - r->base_run.top1;
	}
}

static int setup(void **state)
{
	(void)state;
	struct err e = { 0 };
	G = graph_new();
	int v = input(G, "x", 2, DIMS(1, widths[0]));
	for (int i = 0; i < N_NODES; i++) {
		char wn[16], on[16], nn[16];
		snprintf(wn, sizeof wn, "w%d", i);
		snprintf(on, sizeof on, "y%d", i);
		snprintf(nn, sizeof nn, "mm%d", i);
		int w = constant(G, wn, DT_FLOAT, 2, DIMS(widths[i], widths[i + 1]), zeros);
		int o = mid(G, on);
		node(G, nn, "MatMul", IN(v, w), o, NULL, 0);
		v = o;
	}
	output(G, v);
	finalize(G);
	if (model_info_build(G, &MI, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	for (int c = 0; c < 3; c++)
		if (precision_preset(cand_names[c], &cands[c], &e))
			return -1;
	build_sweep(&SW);
	if (search_space_build(&SP, G, &MI, &SW, cands, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	search_space_fini(&SP);
	sweep_results_fini(&SW);
	model_info_fini(&MI);
	graph_free(G);
	return 0;
}

static struct search_opts opts(double budget, enum search_method m)
{
	struct search_opts o = { .max_drop = budget, .drop_type = SEARCH_ABSOLUTE,
				 .objective = SEARCH_SIZE, .method = m };
	return o;
}

static void run(const struct search_opts *o, struct search_result *r)
{
	struct err e = { 0 };
	struct search_eval ev = { eval_fn, &SP };
	calls = 0;
	cancel_after = 0;
	atomic_store(&cancel_flag, false);
	if (search_run(&SP, o, &ev, NULL, &cancel_flag, r, &e))
		fail_msg("search_run: %s", e.msg);
	assert_true(r->found);
	assert_int_equal(r->evaluations, calls);
}

/* Measure the result again, through its policy. */
static void remeasure(const struct search_result *r, struct metrics_summary *m)
{
	struct policy pol;
	struct err e = { 0 };
	assert_int_equal(search_policy(&SP, r->best_choice, &pol, &e), OK);
	assert_int_equal(eval_fn(&SP, &pol, m, &e), OK);
	policy_fini(&pol);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_space(void **state)
{
	(void)state;
	assert_int_equal(SP.n_rows, N_NODES);
	assert_int_equal(SP.n_opts, 4);
	assert_int_equal(SP.base_opt, 0);
	/* reference, all-int8 and the remove rows come free */
	assert_int_equal(SP.n_free, 2 + N_NODES);
	assert_int_equal(SP.base_free, 1);
	for (int i = 0; i < N_NODES; i++) {
		const double *wb = &SP.wbytes[i * 4], *rk = &SP.risk[i * 4];
		/* w4a8 < int8 < fp16 < fp32 (0) in weight bytes; risk the other way */
		assert_true(wb[1] < wb[0] && wb[0] < wb[2] && wb[2] < wb[3] && wb[3] == 0);
		assert_true(rk[1] > rk[0] && rk[0] > rk[2] && rk[3] == 0);
		assert_true(fabs(rk[0] - sens[i] * 1e-4) < 1e-9 * sens[i]);
	}
}

static void test_meets_budget_and_beats_fallback(void **state)
{
	(void)state;
	static const double budgets[] = { 0.3, 0.5, 1.0, 2.0, 5.0 };
	for (int obj = 0; obj < 2; obj++)
		for (size_t b = 0; b < sizeof budgets / sizeof *budgets; b++) {
			struct search_opts o = opts(budgets[b], SEARCH_KNAPSACK);
			o.objective = obj ? SEARCH_BITOPS : SEARCH_SIZE;
			struct search_result q, f;
			run(&o, &q);
			struct metrics_summary m;
			remeasure(&q, &m);
			assert_true(-m.delta <= budgets[b] / 100 + 1e-12);
			assert_true(q.points[q.best].feasible);
			assert_true(q.evaluations <= SEARCH_DEFAULT_MAX_EVALS);
			o.method = SEARCH_FALLBACK;
			run(&o, &f);
			remeasure(&f, &m);
			assert_true(-m.delta <= budgets[b] / 100 + 1e-12);
			print_message("%s budget %.1f: qlens %.0f (%d evaluations), fallback %.0f (%d)\n",
				      obj ? "bitops" : "size", budgets[b], q.points[q.best].cost,
				      q.evaluations, f.points[f.best].cost, f.evaluations);
			assert_true(q.points[q.best].cost <= f.points[f.best].cost);
			search_result_fini(&q);
			search_result_fini(&f);
		}
}

static void test_strict_budget_needs_reverts(void **state)
{
	(void)state;
	/* all-int8 drops 0.8 points: at 0.3 the fallback has to revert nodes, and
	 * it reverts the most damaging first (node 5, sensitivity 8) */
	struct search_opts o = opts(0.3, SEARCH_FALLBACK);
	struct search_result f;
	run(&o, &f);
	assert_true(f.evaluations >= 1);
	assert_int_equal(f.best_choice[5], 3);
	search_result_fini(&f);
}

static void test_confidence(void **state)
{
	(void)state;
	struct search_opts o = opts(1.0, SEARCH_KNAPSACK);
	o.confidence = true;
	struct search_result r;
	run(&o, &r);
	struct metrics_summary m;
	remeasure(&r, &m);
	assert_true(-m.ci_lo <= 0.01 + 1e-12);
	search_result_fini(&r);
	/* relative: 1% of the FP32 top-1 */
	o = opts(0.01, SEARCH_KNAPSACK);
	o.drop_type = SEARCH_RELATIVE;
	run(&o, &r);
	assert_true(fabs(r.allowed - 0.009) < 1e-12);
	remeasure(&r, &m);
	assert_true(-m.delta <= 0.009 + 1e-12);
	search_result_fini(&r);
}

static void test_only_the_sweep(void **state)
{
	(void)state;
	/* no evaluation allowed: the cheapest feasible policy the sweep measured */
	struct search_opts o = opts(1.0, SEARCH_KNAPSACK);
	o.max_evals = -1;
	struct search_result r;
	run(&o, &r);
	assert_int_equal(r.evaluations, 0);
	assert_true(r.points[r.best].from_sweep);
	for (int i = 0; i < N_NODES; i++)
		assert_int_equal(r.best_choice[i], 0); /* all int8 (0.8 points) */
	search_result_fini(&r);
	o.max_evals = 1;
	run(&o, &r);
	assert_int_equal(r.evaluations, 1);
	search_result_fini(&r);
}

static void test_frontier(void **state)
{
	(void)state;
	struct search_opts o = opts(0.5, SEARCH_KNAPSACK);
	struct search_result r;
	run(&o, &r);
	int n = 0;
	for (int i = 0; i < r.n_points; i++) {
		const struct search_point *p = &r.points[i];
		bool dominated = false;
		for (int j = 0; j < r.n_points; j++) {
			const struct search_point *q = &r.points[j];
			if (q->cost <= p->cost && q->m.top1 >= p->m.top1 &&
			    (q->cost < p->cost || q->m.top1 > p->m.top1))
				dominated = true;
		}
		if (p->frontier) {
			n++;
			assert_false(dominated);
		}
		/* a point off the frontier is dominated or equal to an earlier one */
		if (!p->frontier && !dominated) {
			bool twin = false;
			for (int j = 0; j < i; j++)
				twin |= r.points[j].cost == p->cost && r.points[j].m.top1 == p->m.top1;
			assert_true(twin);
		}
	}
	assert_true(n >= 2); /* FP32 and the result at least */
	assert_true(r.points[r.best].frontier);
	char *csv = search_frontier_csv(&SP, &r, o.objective);
	assert_non_null(csv);
	int lines = 0;
	for (const char *c = csv; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, n + 1);
	free(csv);
	char *json = search_frontier_json(&SP, &r, o.objective, "synthetic");
	assert_non_null(json);
	cJSON *root = cJSON_Parse(json);
	assert_non_null(root);
	const cJSON *pts = cJSON_GetObjectItemCaseSensitive(root, "points");
	assert_int_equal(cJSON_GetArraySize(pts), n);
	double last = -1;
	for (const cJSON *p = pts->child; p; p = p->next) {
		double c = cJSON_GetObjectItemCaseSensitive(p, "cost")->valuedouble;
		assert_true(c >= last);
		last = c;
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "nodes")),
				 N_NODES);
	}
	cJSON_Delete(root);
	free(json);
	search_result_fini(&r);
}

static void test_cancel(void **state)
{
	(void)state;
	struct search_opts o = opts(0.5, SEARCH_KNAPSACK);
	struct search_result r;
	struct err e = { 0 };
	struct search_eval ev = { eval_fn, &SP };
	calls = 0;
	cancel_after = 1;
	atomic_store(&cancel_flag, false);
	assert_int_equal(search_run(&SP, &o, &ev, NULL, &cancel_flag, &r, &e), ERR_CANCELLED);
	assert_int_equal(r.evaluations, 1);
	assert_true(r.n_points >= SP.n_free + 1); /* what was measured is kept */
	search_result_fini(&r);
	cancel_after = 0;
	/* the fallback too */
	o = opts(0.3, SEARCH_FALLBACK);
	calls = 0;
	atomic_store(&cancel_flag, true);
	assert_int_equal(search_run(&SP, &o, &ev, NULL, &cancel_flag, &r, &e), ERR_CANCELLED);
	assert_int_equal(calls, 0);
	search_result_fini(&r);
}

static void test_bad_options(void **state)
{
	(void)state;
	struct err e = { 0 };
	struct search_result r;
	struct search_eval ev = { eval_fn, &SP };
	static const double bad[] = { 0, -1, NAN, INFINITY, 150 };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct search_opts o = opts(bad[i], SEARCH_KNAPSACK);
		e.msg[0] = 0;
		assert_int_equal(search_run(&SP, &o, &ev, NULL, NULL, &r, &e), ERR_INVALID);
		assert_non_null(strstr(e.msg, "--max-drop"));
		search_result_fini(&r);
	}
	struct search_opts o = opts(1.5, SEARCH_KNAPSACK);
	o.drop_type = SEARCH_RELATIVE;
	assert_int_equal(search_opts_check(&o, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "fraction"));
	o = opts(1, SEARCH_KNAPSACK);
	o.max_evals = -2;
	assert_int_equal(search_opts_check(&o, &e), ERR_INVALID);
	enum search_objective obj;
	enum search_drop dt;
	assert_int_equal(search_parse_objective("speed", &obj, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "speed"));
	assert_int_equal(search_parse_drop_type("percent", &dt, &e), ERR_INVALID);
	assert_int_equal(search_parse_objective("bitops", &obj, &e), OK);
	assert_int_equal(obj, SEARCH_BITOPS);
	/* a sweep without an isolate cell, and a shard, are refused */
	struct search_space sp;
	SW.rows[3].cell[1].has_iso = false;
	assert_int_equal(search_space_build(&sp, G, &MI, &SW, cands, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "mm3"));
	assert_non_null(strstr(e.msg, "w4a8"));
	SW.rows[3].cell[1].has_iso = true;
	SW.shard_k = 1;
	SW.shard_n = 2;
	assert_int_equal(search_space_build(&sp, G, &MI, &SW, cands, &e), ERR_INVALID);
	SW.shard_k = SW.shard_n = 0;
	SW.has_fp32 = false;
	assert_int_equal(search_space_build(&sp, G, &MI, &SW, cands, &e), ERR_INVALID);
	SW.has_fp32 = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_space),
		cmocka_unit_test(test_meets_budget_and_beats_fallback),
		cmocka_unit_test(test_strict_budget_needs_reverts),
		cmocka_unit_test(test_confidence),
		cmocka_unit_test(test_only_the_sweep),
		cmocka_unit_test(test_frontier),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_bad_options),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
