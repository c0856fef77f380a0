/*
 * test_engine.c - the sensitivity engine on a real bundle.
 *
 * Incremental evaluation (cached baseline, only descendants run) must give the
 * same numbers as running every node; a tiny cache budget (forcing producers
 * back into the run set) must too; local SQNR must be finite and higher for
 * fp16 than for int8 on every node; results must be deterministic; progress reports
 * come after every chunk, or throttled to the first and the last.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "policy.h"

static const char *bundle_dir;

static void same_summary(const struct metrics_summary *a, const struct metrics_summary *b)
{
	assert_int_equal(a->n, b->n);
	assert_true(a->top1 == b->top1);
	assert_true(a->agreement == b->agreement);
	assert_true(a->delta == b->delta);
	assert_true(fabs(a->sqnr_db - b->sqnr_db) < 1e-9 || (isinf(a->sqnr_db) && isinf(b->sqnr_db)));
	assert_true(fabs(a->kl - b->kl) < 1e-12);
}

static void run_engine(size_t budget)
{
	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	struct engine en;
	const char *cands[] = { "int8", "fp16", "int8/pt" };
	assert_int_equal(bundle_open(bundle_dir, &b, &e), OK);
	assert_int_equal(bundle_load_model(&b, &g, &e), OK);
	if (engine_init(&en, &b, g, cands, 3, 2, 64, 256, budget, &e))
		fail_msg("%s", e.msg);
	bool *active = calloc((size_t)g->n_nodes, sizeof *active);
	int checked = 0, seen = 0, n_sweep = 0;
	for (int ni = 0; ni < g->n_nodes; ni++)
		n_sweep += en.sweepable[ni];
	/* first, middle and last sweepable nodes: the cheapest and costliest suffixes */
	for (int ni = 0; ni < g->n_nodes; ni++) {
		if (!en.sweepable[ni])
			continue;
		seen++;
		if (seen != 1 && seen != (n_sweep + 1) / 2 && seen != n_sweep)
			continue;
		for (int c = 0; c < 3; c++) {
			struct metrics_summary inc, full;
			if (engine_isolate(&en, ni, c, NULL, &inc, &e))
				fail_msg("%s", e.msg);
			memset(active, 0, (size_t)g->n_nodes * sizeof *active);
			active[ni] = true;
			assert_int_equal(engine_eval_full(&en, &en.cand_sim[c], active, NULL, &full, &e), OK);
			same_summary(&inc, &full);
		}
		/* remove: all int8 but this node */
		struct metrics_summary inc, full;
		if (engine_remove(&en, ni, 0, NULL, &inc, &e))
			fail_msg("%s", e.msg);
		for (int k = 0; k < g->n_nodes; k++)
			active[k] = k != ni;
		assert_int_equal(engine_eval_full(&en, &en.cand_sim[0], active, NULL, &full, &e), OK);
		same_summary(&inc, &full);
		checked++;
	}
	assert_int_equal(checked, n_sweep >= 3 ? 3 : n_sweep);
	double *sq = calloc((size_t)g->n_nodes * 3, sizeof *sq);
	assert_int_equal(engine_local(&en, sq, &e), OK);
	for (int ni = 0; ni < g->n_nodes; ni++) {
		if (!en.sweepable[ni])
			continue;
		assert_true(sq[ni * 3 + 0] > 10 && sq[ni * 3 + 0] < 80);
		assert_true(sq[ni * 3 + 1] > sq[ni * 3 + 0]);
	}
	print_message("budget %zu: %d nodes checked, cache %zu bytes\n", budget, checked,
		      en.cache.bytes);
	free(sq);
	free(active);
	engine_fini(&en);
	graph_free(g);
	bundle_fini(&b);
}

static void test_incremental_equals_full(void **state)
{
	(void)state;
	run_engine((size_t)1 << 30);
}

static void test_small_cache_equals_full(void **state)
{
	(void)state;
	run_engine((size_t)1 << 20);
}

/* Progress reports: after every chunk without every_s (the first chunk of a watched
 * evaluation runs in four pieces: engine.c, ENGINE_HEAD_PIECES); with it, the first and the
 * last only (when the evaluation is faster than every_s), the last with the final figures. */
struct reports {
	int calls;
	int64_t last_done, total;
	bool increasing;
	struct metrics_summary last;
};

static void count_report(void *user, int64_t done, int64_t total, const struct metrics_summary *s)
{
	struct reports *r = user;
	r->increasing = r->increasing && done > r->last_done;
	r->calls++;
	r->last_done = done;
	r->total = total;
	if (s)
		r->last = *s;
}

static void test_progress_reports(void **state)
{
	(void)state;
	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	struct engine en;
	const char *cands[] = { "int8" };
	assert_int_equal(bundle_open(bundle_dir, &b, &e), OK);
	assert_int_equal(bundle_load_model(&b, &g, &e), OK);
	if (engine_init(&en, &b, g, cands, 1, 2, 64, 256, (size_t)1 << 30, &e))
		fail_msg("%s", e.msg);
	int node = -1;
	for (int ni = 0; ni < g->n_nodes && node < 0; ni++)
		if (en.sweepable[ni])
			node = ni;
	assert_true(node >= 0);
	int64_t n = en.ev.x.shape.dim[0], chunks = (n + 63) / 64;
	for (int throttled = 0; throttled < 2; throttled++) {
		struct reports r = { .increasing = true };
		struct eval_progress pr = { count_report, &r, throttled ? 1e9 : 0 };
		struct metrics_summary out;
		if (engine_isolate(&en, node, 0, &pr, &out, &e))
			fail_msg("%s", e.msg);
		assert_true(r.increasing);
		assert_int_equal(r.last_done, n);
		assert_int_equal(r.total, n);
		assert_int_equal(r.calls, throttled ? 2 : (int)(chunks - 1 + 4));
		same_summary(&r.last, &out);
	}
	engine_fini(&en);
	graph_free(g);
	bundle_fini(&b);
}

/* The FP32 cache (sweeps start from it) and the policy cache (edits start from it) share the
 * budget half and half: evaluating a policy after a sweep, and sweeping after the policy,
 * keeps both; a budget smaller than the wanted values gets each cache at most half of it,
 * and the figures stay those of running every node. */
static void test_caches_share_budget(void **state)
{
	(void)state;
	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	const char *cands[] = { "int8" };
	assert_int_equal(bundle_open(bundle_dir, &b, &e), OK);
	assert_int_equal(bundle_load_model(&b, &g, &e), OK);
	struct precision p8;
	struct policy pol;
	assert_int_equal(precision_preset("int8", &p8, &e), OK);
	assert_int_equal(policy_init(&pol, g, &p8, &e), OK);
	size_t wanted = 0;
	for (int round = 0; round < 2; round++) {
		/* first all that is wanted fits in half; then only a third of it */
		size_t budget = round == 0 ? (size_t)1 << 32 : wanted * 2 / 3;
		struct engine en;
		if (engine_init(&en, &b, g, cands, 1, 2, 64, 256, budget, &e))
			fail_msg("%s", e.msg);
		int node = -1;
		for (int ni = g->n_nodes - 1; ni >= 0 && node < 0; ni--)
			if (en.sweepable[ni])
				node = ni;
		struct metrics_summary iso, iso2, pq, pq2, full;
		assert_int_equal(engine_isolate(&en, node, 0, NULL, &iso, &e), OK);
		size_t fp32 = en.cache.bytes;
		assert_true(en.cache.built && fp32 > 0 && fp32 <= budget / 2);
		if (round == 0)
			wanted = fp32;
		assert_int_equal(engine_eval_policy(&en, &pol, NULL, &pq, NULL, &e), OK);
		assert_true(en.pcache.built && en.pcache.bytes > 0 && en.pcache.bytes <= budget / 2);
		assert_true(en.cache.built);
		assert_int_equal(en.cache.bytes, fp32);
		assert_int_equal(engine_isolate(&en, node, 0, NULL, &iso2, &e), OK);
		assert_true(en.pcache.built);
		same_summary(&iso, &iso2);
		/* the policy again, from its cache: as running every node */
		assert_int_equal(engine_eval_policy(&en, &pol, NULL, &pq2, NULL, &e), OK);
		same_summary(&pq, &pq2);
		bool *active = calloc((size_t)g->n_nodes, sizeof *active);
		for (int k = 0; k < g->n_nodes; k++)
			active[k] = true;
		assert_int_equal(engine_eval_full(&en, &en.cand_sim[0], active, NULL, &full, &e), OK);
		same_summary(&pq, &full);
		free(active);
		print_message("budget %zu: FP32 cache %zu bytes, policy cache %zu bytes\n", budget,
			      en.cache.bytes, en.pcache.bytes);
		engine_fini(&en);
	}
	assert_true(wanted > 0);
	policy_fini(&pol);
	graph_free(g);
	bundle_fini(&b);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_engine BUNDLE\n");
		return 2;
	}
	bundle_dir = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_incremental_equals_full),
		cmocka_unit_test(test_small_cache_equals_full),
		cmocka_unit_test(test_progress_reports),
		cmocka_unit_test(test_caches_share_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
