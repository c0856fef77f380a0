/*
 * cmd_auto.c - `qlens auto BUNDLE --max-drop D --out POLICY.json`: the
 * cheapest mixed-precision policy whose measured top-1 drop stays within D.
 *
 * Drives a session exactly as the TUI does: one auto job (session.h), which
 * first completes the isolate and remove results the search needs (persisted,
 * so a second run starts searching at once) and then searches
 * (analysis/search.h).  Progress goes to stderr; Ctrl-C cancels and writes
 * nothing.  At the end the policy file (as `qlens policy` writes it, with the
 * evaluation the search measured and the cost) and, with --frontier, the
 * Pareto frontier of the measured policies are written atomically; stdout
 * gets a summary: the policy's cost and accuracy, evaluations and wall time.
 *
 * Output paths are checked before any work starts.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "search.h"
#include "session.h"

int cmd_auto(int argc, char **argv);

static const char auto_help[] =
	"usage: qlens auto [BUNDLE] --max-drop D --out POLICY.json [--drop-type absolute|relative]\n"
	"                  [--objective size|bitops] [--candidates LIST] [--confidence]\n"
	"                  [--frontier FILE.csv|FILE.json] [--max-evals N] [--method M]\n"
	"                  [--threads N] [--cache-mb N] [--calib-samples N] [--calib-method M]\n"
	"                  [--no-cache] [--cache-dir DIR]\n"
	"                  [--calib FILE.npy --eval FILE.npy --labels FILE.npy]\n\n"
	"Find the cheapest mixed-precision policy whose measured top-1 drop against\n"
	"FP32 is within D.  The sweep's isolate results (per node and candidate)\n"
	"propose policies, cheapest per unit of risk (a knapsack); full evaluations\n"
	"confirm them.  Missing sweep results are measured first and kept in the\n"
	"result cache.\n\n"
	"  --max-drop D        allowed drop: top-1 points (0.5 = half a point), or with\n"
	"                      --drop-type relative a fraction of the FP32 top-1 (0.01 = 1%)\n"
	"  --drop-type T       absolute (default) or relative\n"
	"  --objective O       size: weight bytes (default); bitops: MACs x weight bits\n"
	"                      x activation bits\n"
	"  --candidates LIST   precisions per node besides fp32 (default\n"
	"                      int8,w4a8,fp8e4m3,fp16)\n"
	"  --confidence        the upper end of the drop's 95% interval must be within D\n"
	"  --out FILE          the policy file to write (docs/policy.md)\n"
	"  --frontier FILE     the Pareto frontier of (cost, top-1) over the measured\n"
	"                      policies, CSV or JSON by extension\n"
	"  --max-evals N       at most N evaluations (default 12; 0 = only what the\n"
	"                      sweep measured)\n"
	"  --method M          knapsack (default) or fallback: the one-by-one fallback\n"
	"                      of Neural Compressor / NNCF (all int8, revert the most\n"
	"                      damaging node to fp32 until within D), for comparison\n"
	"  --cache-mb N        memory for cached activations (default "
	CLI_STR(SESSION_DEFAULT_CACHE_MB) ")\n"
	"  --threads N         worker threads (default: the number of CPUs)\n"
	"  --calib-samples N   calibrate on the first N samples (default: all)\n"
	"  --calib-method M    minmax | percentile[:P] | entropy | mse (default minmax)\n"
	"  --no-cache          neither read nor write persisted sweep results\n"
	"  --cache-dir DIR     persisted results folder (default $XDG_CACHE_HOME/qlens)\n";

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

struct progress_view {
	bool tty;
	char last[400];
};

static void draw(void *ctx, const struct session_snap *sn)
{
	struct progress_view *v = ctx;
	const struct session_progress *p = &sn->progress;
	const struct session_auto *q = &sn->search;
	if (p->job == JOB_NONE)
		return;
	char line[400];
	if (q->searching) {
		char best[96] = "none yet";
		if (q->has_best)
			snprintf(best, sizeof best, "%.1f%% of fp32 at top-1 %.2f%%",
				 q->fp32_cost > 0 ? 100 * q->best_cost / q->fp32_cost : 0,
				 100 * q->best.top1);
		snprintf(line, sizeof line, "search: %d evaluations, best feasible %s; %s", q->evaluations,
			 best, p->what);
	} else {
		snprintf(line, sizeof line, "%lld/%lld %s", (long long)p->done, (long long)p->total,
			 p->what);
	}
	if (v->tty) {
		fprintf(stderr, "\r\033[K%.*s", 150, line);
		fflush(stderr);
	} else if (strcmp(line, v->last)) {
		fprintf(stderr, "qlens auto: %s\n", line);
	}
	snprintf(v->last, sizeof v->last, "%s", line);
}

int cmd_auto(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-drop", required_argument, NULL, 'd' },
		{ "drop-type", required_argument, NULL, 'T' },
		{ "objective", required_argument, NULL, 'O' },
		{ "candidates", required_argument, NULL, 'c' },
		{ "confidence", no_argument, NULL, 'K' },
		{ "out", required_argument, NULL, 'o' },
		{ "frontier", required_argument, NULL, 'f' },
		{ "max-evals", required_argument, NULL, 'x' },
		{ "method", required_argument, NULL, 'y' },
		{ "cache-mb", required_argument, NULL, 'm' },
		CLI_THREADS_OPTION,
		CLI_CALIB_OPTIONS,
		{ "no-cache", no_argument, NULL, 'N' },
		{ "cache-dir", required_argument, NULL, 'D' },
		CLI_DATA_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cand_list = NULL, *out = NULL, *frontier = NULL, *cache_dir = NULL;
	struct cli_args a;
	cli_args_init(&a);
	int64_t cache_mb = SESSION_DEFAULT_CACHE_MB, max_evals = -1;
	bool no_cache = false, have_drop = false;
	struct search_opts so = { .drop_type = SEARCH_ABSOLUTE, .objective = SEARCH_SIZE };
	struct err e = { 0 };
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!parse_double(optarg, &so.max_drop))
				return cli_usage("auto", "--max-drop takes a number, not '%s'", optarg);
			have_drop = true;
			break;
		case 'T':
			if (search_parse_drop_type(optarg, &so.drop_type, &e))
				return cli_usage("auto", "%s", e.msg);
			break;
		case 'O':
			if (search_parse_objective(optarg, &so.objective, &e))
				return cli_usage("auto", "%s", e.msg);
			break;
		case 'c': cand_list = optarg; break;
		case 'K': so.confidence = true; break;
		case 'o': out = optarg; break;
		case 'f': frontier = optarg; break;
		case 'x':
			if (!cli_parse_int(optarg, 0, 10000, &max_evals))
				return cli_usage("auto", "--max-evals takes a whole number from 0 to 10000");
			break;
		case 'y':
			if (strcmp(optarg, "knapsack") == 0)
				so.method = SEARCH_KNAPSACK;
			else if (strcmp(optarg, "fallback") == 0)
				so.method = SEARCH_FALLBACK;
			else
				return cli_usage("auto", "--method '%s': knapsack or fallback", optarg);
			break;
		case 'm':
			if (!cli_parse_int(optarg, 1, CLI_MAX_CACHE_MB, &cache_mb))
				return cli_usage("auto", "--cache-mb takes a whole number of MiB from 1");
			break;
		case 'N': no_cache = true; break;
		case 'D': cache_dir = optarg; break;
		case 'h': fputs(auto_help, stdout); return 0;
		default:
			if ((rc = cli_option("auto", c, optarg, &a)))
				return rc;
		}
	}
	if (!have_drop)
		return cli_usage("auto", "--max-drop D is required");
	if (!out)
		return cli_usage("auto", "--out FILE is required");
	/* search_opts: 0 = the default, -1 = none */
	so.max_evals = max_evals < 0 ? 0 : max_evals == 0 ? -1 : (int)max_evals;
	if (search_opts_check(&so, &e))
		return cli_usage("auto", "%s", e.msg);
	if (frontier && !ends_with(frontier, ".csv") && !ends_with(frontier, ".json"))
		return cli_usage("auto", "--frontier %s: the file must end in .csv or .json", frontier);
	char why[512];
	if (!cli_writable(out, why, sizeof why))
		return cli_failf("cannot write %s: %s", out, why);
	if (frontier && !cli_writable(frontier, why, sizeof why))
		return cli_failf("cannot write %s: %s", frontier, why);
	if (argc - optind > 1)
		return cli_usage("auto", "takes one bundle");
	const char *path = optind < argc ? argv[optind] : cli_default_bundle();

	char list[512];
	const char *cands[SWEEP_MAX_CANDS];
	int n_cands = 0;
	if (cand_list && (rc = cli_candidates("auto", cand_list, list, sizeof list, cands,
					      SWEEP_MAX_CANDS, &n_cands)))
		return rc;
	/* the search's base (free all-base and remove runs, the fallback's start)
	 * is int8 when it is a candidate, else the first candidate */
	const char *base = "int8";
	if (n_cands) {
		base = cands[0];
		for (int i = 0; i < n_cands; i++)
			if (strcmp(cands[i], "int8") == 0)
				base = cands[i];
	}

	struct bundle b;
	struct graph *g = NULL;
	struct session *s = NULL;
	struct session_snap sn = { 0 };
	struct session_auto_result res = { 0 };
	bool have_sn = false, have_res = false;
	if (cli_bundle_load(path, &a.data, &b, &g, &e))
		return cli_fail(&e);
	rc = 1;
	if (cli_need_data(&b))
		goto done;
	struct session_opts o = { .cands = n_cands ? cands : NULL, .n_cands = n_cands,
				  .base = base, .calib_method = a.method,
				  .calib_samples = a.calib_samples, .threads = (int)a.threads,
				  .cache_mb = cache_mb, .no_cache = no_cache,
				  .cache_dir = cache_dir, .version = QLENS_VERSION, .lazy = true };
	if (session_open(&b, g, &o, &s, &e)) {
		rc = cli_usage("auto", "%s", e.msg);
		goto done;
	}
	if (session_submit_auto(s, &so, NULL, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	struct progress_view pv = { .tty = isatty(STDERR_FILENO) };
	bool cancelled = cli_session_wait(s, &sn, &have_sn, draw, &pv);
	if (pv.tty && pv.last[0])
		fputs("\r\033[K", stderr);
	if (sn.notice[0])
		fprintf(stderr, "qlens: note: %s\n", sn.notice);
	if (cancelled) {
		fprintf(stderr, "qlens: interrupted; nothing written\n");
		rc = 130;
		goto done;
	}
	if (sn.state == SESSION_FAILED || sn.search.status || !sn.search.done) {
		rc = cli_failf("%s", sn.error[0] ? sn.error : "the search failed");
		goto done;
	}
	if (session_auto_result(s, &res, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	have_res = true;
	if (session_auto_save(s, out, frontier, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	const struct metrics_summary *m = &res.m;
	printf("bundle       %s\n", b.name);
	printf("budget       drop <= %.2f points%s (%s; objective %s)\n", 100 * res.allowed,
	       so.confidence ? " at the 95% interval's upper end" : "",
	       so.drop_type == SEARCH_RELATIVE ? "relative" : "absolute",
	       so.objective == SEARCH_BITOPS ? "bitops" : "size");
	printf("policy       %s: %s\n", out, res.summary);
	printf("top-1        %.2f%% (FP32 %.2f%%, drop %.2f points, 95%% CI [%.2f, %.2f])\n",
	       100 * m->top1, 100 * m->fp32_top1, -100 * m->delta, -100 * m->ci_hi, -100 * m->ci_lo);
	printf("weights      %lld bytes, %.1f%% of FP32\n", (long long)res.weight_bytes,
	       100.0 * (double)res.weight_bytes / (double)res.fp32_weight_bytes);
	printf("bitops       %.4g, %.1f%% of FP32\n", res.bitops, 100 * res.bitops / res.fp32_bitops);
	printf("search       %s: %d evaluations, %.1f s (%s)\n",
	       so.method == SEARCH_FALLBACK ? "fallback" : "knapsack", res.evaluations, res.seconds,
	       res.stop);
	if (frontier)
		printf("frontier     %s: %d points\n", frontier, res.n_frontier);
	rc = 0;
done:
	if (have_res)
		session_auto_result_fini(&res);
	if (have_sn)
		session_snap_fini(&sn);
	session_close(s);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
