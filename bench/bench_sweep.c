/*
 * bench_sweep.c - the sensitivity engine: incremental sweeps, policy-edit
 * latency, memory, cancellation.
 *
 * (a) The full isolate sweep (every sweepable layer x the default candidates
 *     int8, w4a8, fp8e4m3, fp16) of one bundle, twice in one run and
 *     interleaved layer by layer so that machine noise hits both alike:
 *     incremental (engine_isolate: FP32 cache, only the layer's downstream
 *     runs; the cache build is counted) and recomputing every evaluation
 *     from the input (engine_eval_full).  Both must give identical numbers.
 *     The cache's cost is the difference between the fastest of three engine
 *     opens with it and of three without, alternated.  Target: time ratio
 *     <= 0.6.
 * (b) For every bundle, through a session exactly as the TUI drives it:
 *     the policy "all int8" is measured once, then every sweepable layer is
 *     switched to fp16 and back, one edit at a time.  Per edit: time from
 *     session_submit_policy to the first running estimate and to the final
 *     figures over all evaluation samples (the session timestamps both), and
 *     the compute bound - the MACs the evaluation recomputed, x2 FLOPs, over
 *     the sgemm rate this machine reaches at the same thread count (measured
 *     here with cblas_sgemm on conv-like shapes; the best rate is used, which
 *     makes the bound as tight as possible).  The rate is measured again
 *     before each round of edits, and an edit's ratio is the median over the
 *     rounds of its time over that round's bound, so a host that slows down
 *     for a while moves both.  Targets: first estimate <= 50 ms; final p95
 *     <= 150 ms and <= 2x the compute bound.
 * (c) Peak memory of the sweep in (a): ru_maxrss, and the engine's caches
 *     plus the runner's plan arenas, against the FP32 activations of one
 *     batch (the arena of a batch-64 plan).
 * (d) Cancellation: an isolate sweep cancelled at random moments; time from
 *     session_cancel to the session being idle.  Target: <= 100 ms.
 *
 * usage: bench-sweep [--sweep BUNDLE] [--latency BUNDLE]... [--threads N]
 *                    [--cache-mb N] [--cancels N] [--rounds R] [--only TEXT]
 *                    [--verbose]
 * --rounds R (default 3) runs the sweep of (a) R times and reports the median of the
 * rounds' ratios, and runs the edits of (b) R times and reports each edit's median.
 * --only TEXT edits only the layers whose names contain TEXT (to profile a
 * few edits over many rounds).
 * Without --sweep / --latency it uses the sample bundles it finds
 * (fashion-mobilenet for (a) when present, else fashion-resnet).
 */
#include <cblas.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"
#include "session.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static _Noreturn void die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench-sweep: %s: %s\n", what, e->msg);
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v[0..n) (sorted in place). */
static double pct(double *v, int n, double p)
{
	if (n == 0)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	int k = (int)ceil(p / 100 * n) - 1;
	return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static bool verbose;

static const char *const cands4[] = { "int8", "w4a8", "fp8e4m3", "fp16" };

/* ---- sgemm rate ------------------------------------------------------------- */

struct gemm_arg {
	int m, n, k;
	double for_s; /* how long to run */
	double secs;
	long reps;
};

static void *gemm_worker(void *p)
{
	struct gemm_arg *a = p;
	float *A = calloc((size_t)a->m * (size_t)a->k, sizeof *A);
	float *B = calloc((size_t)a->k * (size_t)a->n, sizeof *B);
	float *C = calloc((size_t)a->m * (size_t)a->n, sizeof *C);
	for (size_t i = 0; i < (size_t)a->m * (size_t)a->k; i++)
		A[i] = (float)(i % 7) * 0.1f;
	for (size_t i = 0; i < (size_t)a->k * (size_t)a->n; i++)
		B[i] = (float)(i % 5) * 0.1f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->m, a->n, a->k, 1, A, a->k, B,
		    a->n, 0, C, a->n); /* warm-up */
	double t0 = now();
	a->reps = 0;
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->m, a->n, a->k, 1, A, a->k,
			    B, a->n, 0, C, a->n);
		a->reps++;
	} while (now() - t0 < a->for_s);
	a->secs = now() - t0;
	free(A);
	free(B);
	free(C);
	return NULL;
}

/* GFLOP/s at `threads`: one single-threaded sgemm per thread (as the runner's
 * workers do), and one OpenBLAS-threaded sgemm; the better of the two. */
static double sgemm_rate(int m, int n, int k, int threads, bool quiet)
{
	double for_s = quiet ? 0.1 : 0.4;
	struct gemm_arg a[64];
	pthread_t t[64];
	exec_set_blas_threads(1);
	for (int i = 0; i < threads; i++) {
		a[i] = (struct gemm_arg){ m, n, k, for_s, 0, 0 };
		pthread_create(&t[i], NULL, gemm_worker, &a[i]);
	}
	double flops = 0, secs = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		flops += 2.0 * m * n * k * (double)a[i].reps;
		secs = a[i].secs > secs ? a[i].secs : secs;
	}
	double per_worker = flops / secs / 1e9;
	exec_set_blas_threads(threads);
	struct gemm_arg one = { m, n, k, for_s, 0, 0 };
	gemm_worker(&one);
	double blas = 2.0 * m * n * k * (double)one.reps / one.secs / 1e9;
	if (!quiet)
		printf("  sgemm %dx%dx%d: %.1f GFLOP/s (%d single-threaded), %.1f GFLOP/s (OpenBLAS "
		       "%d threads)\n", m, n, k, per_worker, threads, blas, threads);
	return per_worker > blas ? per_worker : blas;
}

/* The compute bound's rate: the best over conv-like shapes (a batch-64 im2col GEMM, a
 * per-sample one, a square one).  quiet: no report, and 0.1 s per measurement instead of
 * 0.4 (before each round of edits). */
static double bound_rate(int threads, bool quiet)
{
	double r1 = sgemm_rate(64, 12544, 216, threads, quiet);
	double r2 = sgemm_rate(64, 196, 576, threads, quiet);
	double r3 = sgemm_rate(256, 256, 256, threads, quiet);
	return fmax(r1, fmax(r2, r3));
}

/* ---- (a) + (c): isolate sweep, incremental against full --------------------- */

static size_t batch_arena(const struct graph *g, const struct engine *en, int batch)
{
	struct shape s = en->ev.x.shape;
	s.dim[0] = batch;
	struct plan *p;
	struct err e = { 0 };
	if (plan_new(g, &s, NULL, &p, &e))
		die("plan", &e);
	size_t bytes = plan_arena_bytes(p);
	plan_free(p);
	return bytes;
}

static bool same(const struct metrics_summary *a, const struct metrics_summary *b)
{
	return a->top1 == b->top1 && a->delta == b->delta && a->agreement == b->agreement &&
	       (a->sqnr_db == b->sqnr_db || (isinf(a->sqnr_db) && isinf(b->sqnr_db))) &&
	       a->kl == b->kl;
}

static void bench_isolate(const char *path, int threads, size_t budget, int rounds)
{
	struct err e = { 0 };
	struct bundle b;
	struct graph *g;
	struct engine en;
	if (bundle_open(path, &b, &e) || bundle_load_model(&b, &g, &e))
		die(path, &e);
	/* open without and with the FP32 cache filled by the reference run, alternately,
	 * three times each: the difference of the fastest opens is what the cache costs to
	 * build (one open against one moves by a few tenths of a second on this host) */
	struct engine_opts o = { .cands = cands4, .n_cands = 4, .threads = threads, .batch = 64,
				 .cache_budget = budget };
	double t0, t_open_plain = INFINITY, t_open = INFINITY;
	for (int k = 0; k < 6; k++) {
		o.no_prefill = k % 2 == 0;
		t0 = now();
		if (engine_setup(&en, &b, g, &o, &e) || engine_prepare(&en, &b, NULL, &e))
			die(path, &e);
		double t = now() - t0;
		if (o.no_prefill)
			t_open_plain = fmin(t_open_plain, t);
		else
			t_open = fmin(t_open, t);
		if (k < 5)
			engine_fini(&en); /* the last one, with the cache, runs the sweep */
	}
	double t_cache = t_open - t_open_plain;
	int n_sweep = 0, equal = 0;
	for (int ni = 0; ni < g->n_nodes; ni++)
		n_sweep += en.sweepable[ni];
	const int evals = n_sweep * en.n_cands; /* per round */
	bool *active = calloc((size_t)g->n_nodes, sizeof *active);
	double *ratios = calloc((size_t)rounds, sizeof *ratios);
	double t_inc = 0, t_full = 0, mac_ratio = 0;
	if (!en.cache.built || engine_cache_baseline(&en, -1, &e))
		die("the FP32 cache was not filled", &e);
	/* each round is the whole sweep both ways; its ratio counts the cache's cost once */
	for (int round = 0; round < rounds; round++) {
		double r_inc = 0, r_full = 0;
		for (int ni = 0; ni < g->n_nodes; ni++) {
			if (!en.sweepable[ni])
				continue;
			struct metrics_summary inc[ENGINE_MAX_CANDS], full;
			double ti = now();
			t0 = ti;
			for (int c = 0; c < en.n_cands; c++)
				if (engine_isolate(&en, ni, c, NULL, &inc[c], &e))
					die("isolate", &e);
			r_inc += now() - t0;
			memset(active, 0, (size_t)g->n_nodes * sizeof *active);
			active[ni] = true;
			t0 = now();
			for (int c = 0; c < en.n_cands; c++) {
				if (engine_eval_full(&en, &en.cand_sim[c], active, NULL, &full, &e))
					die("full", &e);
				equal += same(&inc[c], &full);
			}
			r_full += now() - t0;
			if (round)
				continue;
			/* the MACs an isolate evaluation of this layer recomputes, per sample */
			bool *ch = calloc((size_t)g->n_nodes, sizeof *ch), *run = calloc((size_t)g->n_nodes, sizeof *run);
			ch[ni] = true;
			engine_run_set(&en, ch, run, &e);
			double suf = 0, tot = 0;
			for (int j = 0; j < g->n_nodes; j++) {
				struct node_cost nc;
				engine_node_cost(&en, j, &nc);
				tot += (double)nc.macs;
				suf += run[j] ? (double)nc.macs : 0;
			}
			mac_ratio += suf / tot;
			free(ch);
			free(run);
			if (verbose)
				printf("    %-40s incremental %6.0f ms, full %6.0f ms (x4), recomputes %3.0f%% of "
				       "the MACs\n", g->nodes[ni].name, 1e3 * (t0 - ti), 1e3 * (now() - t0),
				       100 * suf / tot);
		}
		ratios[round] = (r_inc + t_cache) / r_full;
		t_inc += r_inc;
		t_full += r_full;
	}
	mac_ratio /= n_sweep;
	t_inc /= rounds;
	t_full /= rounds;
	double ratio = pct(ratios, rounds, 50); /* sorts them */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	size_t arena = batch_arena(g, &en, 64);
	size_t engine_bytes = en.peak_cache_bytes + (size_t)threads * arena;
	printf("(a) isolate sweep of %s: %d layers x %d candidates = %d evaluations, %lld samples\n",
	       b.name, n_sweep, en.n_cands, evals, (long long)en.ev.x.shape.dim[0]);
	printf("    incremental %.2f s + FP32 cache %.2f s (%.0f MiB, filled by the reference run: "
	       "open %.2f s instead of %.2f s)%s\n", t_inc, t_cache, en.cache.bytes / 1048576.0,
	       t_open, t_open_plain, rounds > 1 ? "; sweep times are means over the rounds" : "");
	printf("    full %.2f s; ratio %.3f with the cache's cost%s, %.3f without (target <= 0.6); "
	       "identical results %d/%d\n", t_full, ratio, rounds > 1 ? " (median of the rounds)" : "",
	       t_inc / t_full, equal, evals * rounds);
	if (rounds > 1) {
		printf("    ratio per round, sorted:");
		for (int r = 0; r < rounds; r++)
			printf(" %.3f", ratios[r]);
		printf("\n");
	}
	printf("    the incremental evaluations recompute %.0f%% of the model's MACs on average\n",
	       100 * mac_ratio);
	printf("(c) memory: peak RSS %.0f MiB; caches %.0f MiB + plan arenas %d x %.1f MiB = %.0f "
	       "MiB; FP32 activations of one batch of 64: %.1f MiB (ratio %.0fx RSS, %.0fx engine)\n",
	       ru.ru_maxrss / 1024.0, en.peak_cache_bytes / 1048576.0, threads, arena / 1048576.0,
	       engine_bytes / 1048576.0, arena / 1048576.0, ru.ru_maxrss * 1024.0 / (double)arena,
	       (double)engine_bytes / (double)arena);
	printf("{\"bench\":\"isolate_sweep\",\"bundle\":\"%s\",\"evaluations\":%d,\"incremental_s\":%.3f,"
	       "\"cache_fill_s\":%.3f,\"full_s\":%.3f,\"ratio\":%.3f,\"identical\":%d,\"peak_rss_mib\":%.1f,"
	       "\"cache_mib\":%.1f,\"batch_arena_mib\":%.2f}\n",
	       b.name, evals, t_inc, t_cache, t_full, ratio, equal / rounds, ru.ru_maxrss / 1024.0,
	       en.peak_cache_bytes / 1048576.0, arena / 1048576.0);
	free(active);
	free(ratios);
	engine_fini(&en);
	graph_free(g);
	bundle_fini(&b);
}

/* ---- (b) + (d): through a session ------------------------------------------------ */

static bool wait_policy(struct session *s, uint64_t id, struct session_snap *sn)
{
	for (;;) {
		session_snapshot(s, sn);
		if (sn->policy.done && sn->policy.id == id)
			return true;
		if (sn->error[0] || (session_idle(s) && session_generation(s) == sn->gen)) {
			if (sn->policy.done && sn->policy.id == id)
				return true;
			fprintf(stderr, "bench-sweep: policy not evaluated: %s\n", sn->error);
			return false;
		}
		session_snap_fini(sn);
		struct pollfd p = { .fd = session_notify_fd(s), .events = POLLIN };
		poll(&p, 1, 50);
		session_ack(s);
	}
}

static void bench_latency(const char *path, int threads, size_t cache_mb, int cancels, int rounds,
			  const char *only)
{
	struct err e = { 0 };
	struct bundle b;
	struct graph *g;
	if (bundle_open(path, &b, &e) || bundle_load_model(&b, &g, &e))
		die(path, &e);
	struct session *s;
	struct session_opts o = { .threads = threads, .cache_mb = (int64_t)cache_mb,
				  .no_cache = true, .version = "bench" };
	if (session_open(&b, g, &o, &s, &e))
		die(path, &e);
	struct precision i8, h;
	struct policy p0, p1;
	precision_preset("int8", &i8, NULL);
	precision_preset("fp16", &h, NULL);
	if (policy_init(&p0, g, &i8, &e) || policy_init(&p1, g, &i8, &e))
		die("policy", &e);
	struct session_snap sn;
	uint64_t id;
	if (session_submit_policy(s, &p0, &id, &e) || !wait_policy(s, id, &sn))
		die("policy", &e);
	int n_rows = sn.res.n_rows, *nodes = malloc(sizeof(int) * (size_t)(n_rows + 1));
	for (int i = 0; i < n_rows; i++)
		nodes[i] = sn.res.rows[i].node;
	int64_t samples = sn.res.samples;
	session_snap_fini(&sn);
	/* each edit runs `rounds` times (the whole loop over the layers, again and again); its
	 * figures are its median over the rounds, which damps what other tenants of the
	 * machine do to one run */
	int n_edits = 2 * n_rows;
	double *first = malloc(sizeof(double) * (size_t)(n_edits + 1));
	double *final = malloc(sizeof(double) * (size_t)(n_edits + 1));
	double *ratio = malloc(sizeof(double) * (size_t)(n_edits + 1));
	double *big = malloc(sizeof(double) * (size_t)(n_edits + 1));
	double *bounds = malloc(sizeof(double) * (size_t)(n_edits + 1));
	double *macs = malloc(sizeof(double) * (size_t)(n_edits + 1));
	double *t_first = malloc(sizeof(double) * (size_t)(rounds * n_edits + 1));
	double *t_final = malloc(sizeof(double) * (size_t)(rounds * n_edits + 1));
	double *t_ratio = malloc(sizeof(double) * (size_t)(rounds * n_edits + 1));
	double *rates = malloc(sizeof(double) * (size_t)rounds);
	double worst_bound = 0, worst_final = 0;
	int n = 0, n_ratio = 0, n_big = 0;
	for (int round = 0; round < rounds; round++) {
		/* the bound's rate, measured again next to each round's edits: a host that slows
		 * down for a while slows both */
		double rate = rates[round] = bound_rate(threads, true);
		n = 0;
		for (int i = 0; i < n_rows; i++) {
			if (only && !strstr(g->nodes[nodes[i]].name, only))
				continue;
			for (int back = 0; back < 2; back++) {
				if (back)
					policy_clear(&p1, nodes[i]);
				else
					policy_set(&p1, nodes[i], &h);
				struct rusage ru0, ru1;
				getrusage(RUSAGE_SELF, &ru0);
				if (session_submit_policy(s, &p1, &id, &e) ||
				    !wait_policy(s, id, &sn))
					die("policy", &e);
				getrusage(RUSAGE_SELF, &ru1);
				double bound = 2.0 * (double)sn.policy.run_macs / (rate * 1e9);
				macs[n] = (double)sn.policy.run_macs;
				t_first[n * rounds + round] = sn.policy.first_s;
				t_final[n * rounds + round] = sn.policy.final_s;
				t_ratio[n * rounds + round] = bound > 0 ? sn.policy.final_s / bound : 0;
				if (verbose)
					printf("    %-40s %-5s ran %2d nodes %8.1f MMAC: first %6.1f ms "
					       "final %7.1f ms bound %7.1f ms, %ld page faults\n",
					       g->nodes[nodes[i]].name, back ? "int8" : "fp16",
					       sn.policy.run_nodes, (double)sn.policy.run_macs / 1e6,
					       1e3 * sn.policy.first_s, 1e3 * sn.policy.final_s,
					       1e3 * bound, ru1.ru_minflt - ru0.ru_minflt);
				n++;
				session_snap_fini(&sn);
			}
		}
	}
	double rate_lo = rates[0], rate_hi = rates[0];
	for (int r = 1; r < rounds; r++) {
		rate_lo = fmin(rate_lo, rates[r]);
		rate_hi = fmax(rate_hi, rates[r]);
	}
	double rate = pct(rates, rounds, 50);
	for (int k = 0; k < n; k++) {
		/* an edit's bound at the rounds' median rate: which edits count as >= 10 ms */
		bounds[k] = 2.0 * macs[k] / (rate * 1e9);
		first[k] = pct(t_first + k * rounds, rounds, 50);
		final[k] = pct(t_final + k * rounds, rounds, 50);
		/* an undo runs nothing (the figures come from the cache): no bound; below
		 * 10 ms of MACs, fixed costs and elementwise ops dominate */
		/* each round's time over that round's bound, median over the rounds */
		double rk = pct(t_ratio + k * rounds, rounds, 50);
		if (bounds[k] > 0)
			ratio[n_ratio++] = rk;
		if (bounds[k] >= 0.010)
			big[n_big++] = rk;
		if (final[k] > worst_final) {
			worst_final = final[k];
			worst_bound = bounds[k];
		}
	}
	double f50 = pct(first, n, 50), f95 = pct(first, n, 95);
	double l50 = pct(final, n, 50), l95 = pct(final, n, 95);
	double r50 = pct(ratio, n_ratio, 50), r95 = pct(ratio, n_ratio, 95);
	double b50 = pct(big, n_big, 50), b95 = pct(big, n_big, 95);
	printf("(b) %s: %d edits (each of %d layers to fp16 and back, %lld samples), median of "
	       "%d round%s\n", b.name, n, n_rows, (long long)samples, rounds, rounds > 1 ? "s" : "");
	printf("    first estimate p50 %.1f ms p95 %.1f ms (target <= 50); final p50 %.1f ms p95 "
	       "%.1f ms (target <= 150)\n", 1e3 * f50, 1e3 * f95, 1e3 * l50, 1e3 * l95);
	printf("    compute bound rate per round: median %.1f GFLOP/s, %.1f-%.1f\n", rate, rate_lo,
	       rate_hi);
	printf("    final / compute bound (each round's time over that round's bound, median): p50 "
	       "%.2f p95 %.2f over the %d edits that recompute anything;\n      p50 %.2f p95 %.2f "
	       "over the %d whose bound is >= 10 ms (target <= 2); slowest edit %.1f ms, bound "
	       "%.1f ms\n", r50, r95, n_ratio, b50, b95, n_big, 1e3 * worst_final,
	       1e3 * worst_bound);
	printf("{\"bench\":\"policy_latency\",\"bundle\":\"%s\",\"edits\":%d,\"first_p50_ms\":%.2f,"
	       "\"first_p95_ms\":%.2f,\"final_p50_ms\":%.2f,\"final_p95_ms\":%.2f,"
	       "\"bound_ratio_p50\":%.3f,\"bound_ratio_p95\":%.3f,\"bound_ratio_big_p95\":%.3f,"
	       "\"gflops\":%.1f,\"gflops_min\":%.1f,\"gflops_max\":%.1f,\"rounds\":%d}\n",
	       b.name, n, 1e3 * f50, 1e3 * f95, 1e3 * l50, 1e3 * l95, r50, r95, b95, rate, rate_lo,
	       rate_hi, rounds);

	/* (d) cancel an isolate sweep at random moments */
	if (cancels > 0) {
		double *lat = malloc(sizeof(double) * (size_t)cancels);
		srand(12345);
		for (int k = 0; k < cancels; k++) {
			struct sweep_sel sel = { .kinds = SWEEP_ISOLATE };
			if (session_submit_sweep(s, &sel, &e))
				die("sweep", &e);
			struct timespec d = { 0, (long)(rand() % 400 + 20) * 1000000L };
			nanosleep(&d, NULL);
			double t0 = now();
			session_cancel(s);
			session_wait_idle(s, -1);
			lat[k] = now() - t0;
		}
		double c50 = pct(lat, cancels, 50), cmax = lat[cancels - 1];
		printf("(d) %s: cancel -> idle over %d random cancels: p50 %.1f ms, max %.1f ms "
		       "(target <= 100)\n", b.name, cancels, 1e3 * c50, 1e3 * cmax);
		free(lat);
	}
	session_snapshot(s, &sn);
	printf("    activation caches %.0f MiB now, %.0f MiB at most\n",
	       sn.cache_bytes / 1048576.0, sn.peak_cache_bytes / 1048576.0);
	session_snap_fini(&sn);
	session_close(s);
	free(first);
	free(final);
	free(ratio);
	free(big);
	free(bounds);
	free(macs);
	free(t_first);
	free(t_final);
	free(t_ratio);
	free(rates);
	free(nodes);
	policy_fini(&p0);
	policy_fini(&p1);
	graph_free(g);
	bundle_fini(&b);
}

static bool exists(const char *dir)
{
	char p[1024];
	struct stat st;
	snprintf(p, sizeof p, "%s/bundle.json", dir);
	return stat(p, &st) == 0;
}

int main(int argc, char **argv)
{
	const char *sweep = NULL, *lat[8], *only = NULL;
	int n_lat = 0, threads = 2, cancels = 20, rounds = 3;
	size_t cache_mb = SESSION_DEFAULT_CACHE_MB;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sweep") && i + 1 < argc)
			sweep = argv[++i];
		else if (!strcmp(argv[i], "--latency") && i + 1 < argc && n_lat < 8)
			lat[n_lat++] = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cache-mb") && i + 1 < argc)
			cache_mb = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--cancels") && i + 1 < argc)
			cancels = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc && atoi(argv[i + 1]) > 0)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench-sweep [--sweep BUNDLE] [--latency BUNDLE]... "
					"[--threads N] [--cache-mb N] [--cancels N] [--rounds R] [--only TEXT] "
					"[--verbose]\n");
			return 2;
		}
	}
	static const char *const names[] = { "fashion-mobilenet", "fashion-resnet", "fashion-vit" };
	char found[3][1024];
	int n_found = 0;
	for (int i = 0; i < 3; i++) {
		snprintf(found[n_found], sizeof found[n_found], "%s/%s", QLENS_SAMPLES, names[i]);
		if (exists(found[n_found]))
			n_found++;
	}
	if (!sweep && !n_lat) {
		if (!n_found) {
			fprintf(stderr, "bench-sweep: no sample bundles under %s\n", QLENS_SAMPLES);
			return 1;
		}
		sweep = found[0];
		for (int i = 0; i < n_found; i++)
			lat[n_lat++] = found[i];
	}
	printf("bench-sweep: %d threads, activation cache budget %zu MiB\n", threads, cache_mb);
	if (sweep)
		bench_isolate(sweep, threads, cache_mb << 20, rounds);
	if (n_lat) {
		printf("    compute bound uses %.1f GFLOP/s (measured again before each round of "
		       "edits)\n", bound_rate(threads, false));
		for (int i = 0; i < n_lat; i++)
			bench_latency(lat[i], threads, cache_mb, i == 0 ? cancels : 0, rounds, only);
	}
	return 0;
}
