/*
 * bench_auto.c - automatic mixed precision (analysis/search.h) against the
 * one-by-one fallback of Neural Compressor / NNCF and uniform policies, on
 * the same bundles, the same sweep and the same engine.
 *
 * For every bundle: a session (result cache on, the default candidates int8,
 * w4a8, fp8e4m3, fp16, base int8) completes the isolate and remove sweep the
 * search reads (from the cache when it is there: its size and the time it took
 * now are printed apart).  Then, through the session as the TUI drives it:
 *  - uniform policies all int8, all fp16, all w4a8 (one evaluation each);
 *  - for every budget: the fallback (session_submit_auto, SEARCH_FALLBACK),
 *    qlens' search with its defaults, and qlens' search limited to one
 *    evaluation.
 * Every policy a method returns is saved as a policy file and measured again
 * from that file on a separate evaluator (calibrated afresh, as `qlens
 * policy` does): "re-measured" is that drop, and "meets" checks it against
 * the budget.  Evaluations are the full measured runs each method asked for
 * after the sweep; a policy the sweep measured (all-int8 is its base run,
 * all-int8-but-one a remove run) costs none, for either method.
 *
 * "To match": qlens' search is anytime - after each evaluation its answer
 * would be the cheapest feasible policy measured so far, the sweep's free
 * ones included.  For a qlens row this column is the number of evaluations
 * after which that answer was already at most the fallback's weight bytes
 * (from the search's own record of its points, in order of measurement), and
 * 0 when the free points alone did it.  "never" when no point
 * was.  It is what qlens needed to be at least as small as the fallback; the
 * evaluations column is what it spent in all to get smaller.
 *
 * usage: bench-auto [--bundle DIR]... [--budgets LIST] [--threads N]
 *                   [--confidence]
 * Without --bundle it uses every bundle in the source tree's sample-models/.
 * Prints a Markdown table on stdout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evaluate.h"
#include "explore.h"
#include "modelinfo.h"
#include "policyfile.h"
#include "search.h"
#include "session.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static _Noreturn void die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench-auto: %s: %s\n", what, e->msg);
	exit(1);
}

struct ctx {
	const char *bundle_dir;
	struct bundle b;
	struct graph *g;
	struct session *s;
	struct evaluator ev; /* the independent re-measurement */
	struct model_info mi;
	bool confidence;
	char tmp[256];
};

static void wait_idle(struct session *s)
{
	if (!session_wait_idle(s, 3600 * 1000)) {
		fprintf(stderr, "bench-auto: the session did not finish\n");
		exit(1);
	}
}

static void snap_check(struct session *s, struct session_snap *sn)
{
	session_snapshot(s, sn);
	if (sn->state == SESSION_FAILED || sn->error[0]) {
		fprintf(stderr, "bench-auto: %s\n", sn->error);
		exit(1);
	}
}

/* Measure pol from scratch: fresh simulation on the independent evaluator. */
static void remeasure(struct ctx *c, const struct policy *pol, struct metrics_summary *m)
{
	struct err e = { 0 };
	struct sim sim;
	if (sim_prepare(&sim, c->g, &c->ev.cal, pol, &e) || evaluator_run(&c->ev, &sim, m, &e))
		die("re-measure", &e);
	sim_fini(&sim);
}

/* Load a policy file written by the session and measure it. */
static void remeasure_file(struct ctx *c, const char *path, struct metrics_summary *m)
{
	struct err e = { 0 };
	struct policy_doc d;
	struct policy pol;
	bool changed;
	if (policy_doc_load(path, c->g, NULL, &d, &changed, &e) || policy_doc_policy(&d, c->g, &pol, &e))
		die(path, &e);
	remeasure(c, &pol, m);
	policy_fini(&pol);
	policy_doc_fini(&d);
}

static double allowed_of(double budget_points) { return budget_points / 100; }

static bool meets(const struct metrics_summary *m, double allowed, bool confidence)
{
	double q = confidence ? -m->ci_lo : -m->delta;
	return q <= allowed + 1e-12;
}

static void row(const char *bundle, double budget, const char *method, double wratio,
		double bratio, const struct metrics_summary *m, const char *evals, const char *match,
		double seconds, const struct metrics_summary *re, bool has_budget, bool conf)
{
	char b[16] = "-", rem[48] = "-", ok[8] = "-";
	if (has_budget)
		snprintf(b, sizeof b, "%.1f", budget);
	if (re)
		snprintf(rem, sizeof rem, "%.2f", -100 * re->delta);
	if (has_budget && re)
		snprintf(ok, sizeof ok, "%s", meets(re, allowed_of(budget), conf) ? "yes" : "NO");
	printf("| %s | %s | %s | %.1f%% | %.1f%% | %.2f%% | %.2f [%.2f, %.2f] | %s | %s | %.1f | %s | %s |\n",
	       bundle, b, method, 100 * wratio, 100 * bratio, 100 * m->top1, -100 * m->delta,
	       -100 * m->ci_hi, -100 * m->ci_lo, evals, match, seconds, rem, ok);
	fflush(stdout);
}

static void uniform(struct ctx *c, const char *preset)
{
	struct err e = { 0 };
	struct precision p;
	struct policy pol;
	if (precision_preset(preset, &p, &e) || policy_init(&pol, c->g, &p, &e))
		die(preset, &e);
	uint64_t id;
	if (session_submit_policy(c->s, &pol, &id, &e))
		die(preset, &e);
	wait_idle(c->s);
	struct session_snap sn;
	snap_check(c->s, &sn);
	struct explore_cost cost;
	explore_policy_cost(&c->mi, &pol, &cost);
	struct metrics_summary re;
	remeasure(c, &pol, &re);
	char label[32];
	snprintf(label, sizeof label, "all %s", preset);
	row(c->b.name, 0, label, (double)cost.wbytes / (double)cost.fp32_wbytes,
	    cost.bitops / cost.fp32_bitops, &sn.policy.final, "1", "-", sn.policy.final_s, &re,
	    false, false);
	session_snap_fini(&sn);
	policy_fini(&pol);
}

/* Evaluations after which the cheapest feasible point measured so far had at most
 * `bytes` weight bytes: 0 when a free (sweep) point did, -1 never. */
static int evals_to_reach(const struct session_auto_result *r, int64_t bytes)
{
	int k = -1;
	for (int i = 0; i < r->n_points; i++) {
		const struct session_auto_point *p = &r->points[i];
		if (p->feasible && p->weight_bytes <= bytes && (k < 0 || p->eval_no < k))
			k = p->eval_no;
	}
	return k;
}

/* One search through the session; returns its result's weight bytes.  fallback_bytes
 * (< 0: none) is the fallback's, for the "to match" column. */
static int64_t search(struct ctx *c, double budget, enum search_method method, int max_evals,
		      const char *label, int64_t fallback_bytes)
{
	struct err e = { 0 };
	struct search_opts o = { .max_drop = budget, .drop_type = SEARCH_ABSOLUTE,
				 .objective = SEARCH_SIZE, .confidence = c->confidence,
				 .max_evals = max_evals, .method = method };
	if (session_submit_auto(c->s, &o, NULL, &e))
		die(label, &e);
	wait_idle(c->s);
	struct session_snap sn;
	snap_check(c->s, &sn);
	session_snap_fini(&sn);
	struct session_auto_result r;
	if (session_auto_result(c->s, &r, &e))
		die(label, &e);
	char path[512];
	snprintf(path, sizeof path, "%s/%s-%.1f-%s.json", c->tmp, c->b.name, budget,
		 method == SEARCH_FALLBACK ? "fallback" : max_evals == 1 ? "qlens1" : "qlens");
	if (session_auto_save(c->s, path, NULL, &e))
		die(path, &e);
	struct metrics_summary re;
	remeasure_file(c, path, &re);
	unlink(path);
	char ev[16], match[24] = "-";
	snprintf(ev, sizeof ev, "%d", r.evaluations);
	if (fallback_bytes >= 0) {
		int k = evals_to_reach(&r, fallback_bytes);
		snprintf(match, sizeof match, k < 0 ? "never" : "%d", k);
	}
	row(c->b.name, budget, label, (double)r.weight_bytes / (double)r.fp32_weight_bytes,
	    r.bitops / r.fp32_bitops, &r.m, ev, match, r.seconds, &re, true, c->confidence);
	fprintf(stderr, "bench-auto: %s %.1f %s: %s (%s)\n", c->b.name, budget, label, r.summary,
		r.stop);
	int64_t bytes = r.weight_bytes;
	session_auto_result_fini(&r);
	return bytes;
}

static void run_bundle(const char *dir, const double *budgets, int n_budgets, int threads,
		       bool confidence)
{
	struct ctx c = { .bundle_dir = dir, .confidence = confidence };
	struct err e = { 0 };
	snprintf(c.tmp, sizeof c.tmp, "/tmp/bench-auto.%d", (int)getpid());
	mkdir(c.tmp, 0700);
	if (bundle_open(dir, &c.b, &e) || bundle_load_model(&c.b, &c.g, &e))
		die(dir, &e);
	if (model_info_build(c.g, &c.mi, &e))
		die(dir, &e);
	struct session_opts so = { .threads = threads, .version = QLENS_VERSION_STR, .lazy = true };
	if (session_open(&c.b, c.g, &so, &c.s, &e))
		die(dir, &e);
	double t0 = now();
	struct sweep_sel sel = { .kinds = SWEEP_ISOLATE | SWEEP_REMOVE };
	if (session_submit_sweep(c.s, &sel, &e))
		die(dir, &e);
	wait_idle(c.s);
	struct session_snap sn;
	snap_check(c.s, &sn);
	double sweep_s = now() - t0;
	int rows = sn.res.n_rows, cands = sn.res.n_cands;
	fprintf(stderr, "bench-auto: %s: sweep of %d layers x %d candidates: %d isolate + %d remove "
		"+ 1 all-int8 runs, %llu run now in %.1f s (the rest from the result cache)\n",
		c.b.name, rows, cands, rows * cands, rows, (unsigned long long)sn.evaluations, sweep_s);
	printf("| %s | - | sweep (shared) | - | - | %.2f%% (FP32) | - | %d | - | %s | - | - |\n", c.b.name,
	       100 * sn.res.fp32_top1, rows * cands + rows + 1,
	       sn.evaluations ? "(run now)" : "(cached)");
	session_snap_fini(&sn);
	if (evaluator_init(&c.ev, &c.b, c.g, threads, 64, &e) ||
	    evaluator_calibrate(&c.ev, &c.b, 0, &e))
		die(dir, &e);
	/* prepare the session's engine (FP32 reference, calibration) outside the timings */
	{
		struct precision p32;
		struct policy pol;
		if (precision_preset("fp32", &p32, &e) || policy_init(&pol, c.g, &p32, &e) ||
		    session_submit_policy(c.s, &pol, NULL, &e))
			die(dir, &e);
		wait_idle(c.s);
		policy_fini(&pol);
	}
	uniform(&c, "int8");
	uniform(&c, "fp16");
	uniform(&c, "w4a8");
	for (int i = 0; i < n_budgets; i++) {
		int64_t fb = search(&c, budgets[i], SEARCH_FALLBACK, 0, "fallback (NNCF/INC)", -1);
		search(&c, budgets[i], SEARCH_KNAPSACK, 0, "qlens auto", fb);
		search(&c, budgets[i], SEARCH_KNAPSACK, 1, "qlens auto --max-evals 1", fb);
	}
	evaluator_fini(&c.ev);
	rmdir(c.tmp);
	session_close(c.s);
	model_info_fini(&c.mi);
	graph_free(c.g);
	bundle_fini(&c.b);
}

int main(int argc, char **argv)
{
	const char *bundles[16];
	int n_bundles = 0, threads = 2, n_budgets = 0;
	double budgets[16];
	bool confidence = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--bundle") && i + 1 < argc && n_bundles < 16) {
			bundles[n_bundles++] = argv[++i];
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--confidence")) {
			confidence = true;
		} else if (!strcmp(argv[i], "--budgets") && i + 1 < argc) {
			char *save = NULL, *list = argv[++i];
			for (char *t = strtok_r(list, ",", &save); t && n_budgets < 16;
			     t = strtok_r(NULL, ",", &save))
				budgets[n_budgets++] = atof(t);
		} else {
			fprintf(stderr, "usage: bench-auto [--bundle DIR]... [--budgets LIST] "
				"[--threads N] [--confidence]\n");
			return 2;
		}
	}
	if (!n_budgets) {
		budgets[0] = 0.5;
		budgets[1] = 1.0;
		n_budgets = 2;
	}
	static const char *const samples[] = { "fashion-mobilenet", "fashion-resnet", "fashion-vit" };
	static char paths[3][1024];
	if (!n_bundles)
		for (int i = 0; i < 3; i++) {
			struct stat st;
			snprintf(paths[i], sizeof paths[i], "%s/%s", QLENS_SAMPLES, samples[i]);
			char bj[1100];
			snprintf(bj, sizeof bj, "%s/bundle.json", paths[i]);
			if (stat(bj, &st) == 0)
				bundles[n_bundles++] = paths[i];
		}
	printf("| bundle | budget (points) | method | weights vs FP32 | BitOps vs FP32 | top-1 | "
	       "drop [95%% CI] (points) | evaluations | to match | seconds | re-measured drop | meets |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < n_bundles; i++)
		run_bundle(bundles[i], budgets, n_budgets, threads, confidence);
	return 0;
}
