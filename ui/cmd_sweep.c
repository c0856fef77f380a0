/*
 * cmd_sweep.c - `qlens sweep BUNDLE ...`: the per-layer sensitivity sweep,
 * headless; and `qlens sweep --merge SHARD.json... --json OUT`.
 *
 * Drives a session (analysis/session.h) exactly as the TUI will: submits one
 * sweep job (local, isolate and remove), then polls the session's notify fd,
 * copies a snapshot when it moved and draws a progress bar on stderr (plain
 * progress lines when stderr is not a terminal).  Results persist in the
 * session's result cache as they arrive, so an interrupted sweep (Ctrl-C)
 * resumes on the next run.  At the end: a table on stdout, and --json /
 * --csv files written atomically.
 *
 * Output paths are checked before any work starts, and nothing is written
 * unless everything succeeded: a failure leaves no partial file.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "session.h"
#include "sweepio.h"

static const char sweep_help[] =
	"usage: qlens sweep [BUNDLE|MODEL.onnx] [--candidates LIST] [--base PRESET]\n"
	"                   [--json FILE] [--csv FILE] [--shard K/N] [--cache-mb N]\n"
	"                   [--threads N] [--calib-samples N] [--calib-method M]\n"
	"                   [--no-cache] [--cache-dir DIR]\n"
	"                   [--calib FILE.npy --eval FILE.npy --labels FILE.npy]\n"
	"       qlens sweep --merge SHARD.json... --json FILE [--csv FILE]\n\n"
	"Measure how quantizing each layer affects the model, against FP32 on the\n"
	"same evaluation samples (paired deltas with exact 95% intervals):\n"
	"  local    the layer's output SQNR when its input is exact\n"
	"  isolate  only this layer quantized: top-1 delta vs FP32\n"
	"  remove   everything at the base precision except this layer: top-1\n"
	"           recovered vs the all-base model\n"
	"A delta marked ~ is within noise (its interval contains 0).  'interaction'\n"
	"flags layers whose isolate loss and remove gain disagree (intervals apart\n"
	"and at least 0.5 points): + the layer hurts more among quantized layers,\n"
	"- less.\n\n"
	"  --candidates LIST  comma-separated precisions (default int8,w4a8,fp8e4m3,fp16);\n"
	"                     a preset with an optional /pt, /pc or /b32|64|128 suffix\n"
	"  --base PRESET      precision of the remove sweep's base model (default int8)\n"
	"  --json FILE        write the results as JSON (accuracies as fractions)\n"
	"  --csv FILE         write one CSV line per layer and candidate\n"
	"  --shard K/N        sweep only shard K of N of the layers (round robin);\n"
	"                     join the shards' --json files with --merge\n"
	"  --cache-mb N       memory for cached activations (default "
	CLI_STR(SESSION_DEFAULT_CACHE_MB) ")\n"
	"  --calib-samples N  calibrate on the first N samples (default: all)\n"
	"  --calib-method M   minmax | percentile[:P] | entropy | mse (default minmax)\n"
	"  --no-cache         neither read nor write persisted results\n"
	"  --cache-dir DIR    persisted results folder (default $XDG_CACHE_HOME/qlens)\n"
	"  --merge            the arguments are shard files to join\n"
	CLI_DATA_HELP
	CLI_THREADS_HELP;

static enum status write_outputs(const struct sweep_results *r, const char *json,
				 const char *csv, struct err *e)
{
	char *j = NULL, *c = NULL;
	if (json && !(j = sweepio_json(r)))
		return err_set(e, ERR_NOMEM, "out of memory");
	if (csv && !(c = sweepio_csv(r))) {
		free(j);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	enum status st = OK;
	if (j) {
		size_t n = strlen(j);
		j[n] = '\n'; /* replaces the NUL: the write takes a length */
		st = file_write_atomic(json, j, n + 1, e);
	}
	if (!st && c)
		st = file_write_atomic(csv, c, strlen(c), e);
	free(j);
	free(c);
	return st;
}

/* ---- the table -------------------------------------------------------------------- */

static const char *human(int64_t v, char *buf, size_t size)
{
	if (v >= 10000000)
		snprintf(buf, size, "%.1fM", (double)v / 1e6);
	else if (v >= 10000)
		snprintf(buf, size, "%.1fk", (double)v / 1e3);
	else
		snprintf(buf, size, "%lld", (long long)v);
	return buf;
}

static const char *delta_ci(bool has, const struct metrics_summary *m, char *buf, size_t size)
{
	if (!has)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%+6.2f [%+.2f, %+.2f]%s", 100 * m->delta, 100 * m->ci_lo,
			 100 * m->ci_hi, m->within_noise ? " ~" : "");
	return buf;
}

static void print_table(const struct sweep_results *r)
{
	int w = 4;
	for (int i = 0; i < r->n_rows; i++) {
		int n = (int)strlen(r->rows[i].name);
		w = n > w ? n : w;
	}
	w = w > 48 ? 48 : w;
	printf("bundle    %s (model sha256 %.12s, data sha256 %.12s)\n", r->bundle, r->model_sha,
	       r->data_sha);
	printf("samples   %lld evaluation samples; FP32 top-1 %.2f%%\n", (long long)r->samples,
	       100 * r->fp32_top1);
	char cs[32] = "all";
	if (r->calib_samples > 0)
		snprintf(cs, sizeof cs, "the first %lld", (long long)r->calib_samples);
	printf("settings  calibration %s on %s calibration samples; candidates", r->calib, cs);
	for (int c = 0; c < r->n_cands; c++)
		printf(" %s", r->cand[c]);
	printf("\n");
	char b1[64];
	if (r->has_base)
		printf("base      all layers at %s: top-1 %.2f%%, delta %s points vs FP32\n", r->base,
		       100 * r->base_run.top1, delta_ci(true, &r->base_run, b1, sizeof b1));
	if (r->shard_n)
		printf("shard     %d of %d: %d of %d layers\n", r->shard_k, r->shard_n, r->n_rows,
		       r->n_layers);
	printf("\ndeltas in top-1 points with 95%% intervals; ~ within noise\n\n");
	printf("%-*s  %-18s %8s %8s  %-9s %8s  %-28s %-28s %s\n", w, "node", "op", "params", "MACs",
	       "prec", "local dB", "isolate delta", "remove delta (vs base)", "interaction");
	for (int i = 0; i < r->n_rows; i++) {
		const struct sweep_row *x = &r->rows[i];
		int inter = sweep_interaction(r, x);
		for (int c = 0; c < r->n_cands; c++) {
			const struct sweep_cell *cl = &x->cell[c];
			char p[32], m[32], sq[32], iso[64], rem[64];
			if (!cl->has_local)
				snprintf(sq, sizeof sq, "-");
			else if (isinf(cl->local_sqnr_db))
				snprintf(sq, sizeof sq, "exact");
			else
				snprintf(sq, sizeof sq, "%.1f", cl->local_sqnr_db);
			delta_ci(cl->has_iso, &cl->iso, iso, sizeof iso);
			if (c == 0)
				printf("%-*.*s  %-18.18s %8s %8s  ", w, w, x->name, x->op,
				       human(x->params, p, sizeof p), human(x->macs, m, sizeof m));
			else
				printf("%-*s  %-18s %8s %8s  ", w, "", "", "", "");
			printf("%-9s %8s  %-28s", r->cand[c], sq, iso);
			if (c == 0)
				printf(" %-28s %s", delta_ci(x->has_remove, &x->remove_gain, rem, sizeof rem),
				       inter > 0 ? "+ (compounds)" : inter < 0 ? "- (masked)" : "");
			printf("\n");
		}
	}
}

/* ---- progress ----------------------------------------------------------------------- */

struct progress_view {
	bool tty;
	uint64_t last_job;
	int64_t last_done;
	char last_what[256];
	char notice[SWEEP_NOTICE_MAX];
	bool drawn;
};

static void eta_str(double s, char *buf, size_t size)
{
	if (s < 0)
		snprintf(buf, size, "--:--");
	else
		snprintf(buf, size, "%d:%02d", (int)(s / 60), (int)fmod(s, 60));
}

static void draw(void *ctx, const struct session_snap *sn)
{
	struct progress_view *v = ctx;
	const struct session_progress *p = &sn->progress;
	if (sn->notice[0] && strcmp(sn->notice, v->notice)) {
		if (v->drawn && v->tty)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "qlens: note: %s\n", sn->notice);
		snprintf(v->notice, sizeof v->notice, "%s", sn->notice);
	}
	if (p->job == JOB_NONE)
		return;
	char eta[16];
	eta_str(p->eta_s, eta, sizeof eta);
	if (v->tty) {
		int width = 24, fill = (int)(p->fraction * width + 0.5);
		char bar[32];
		for (int i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[width] = 0;
		char est[64] = "";
		if (p->has_est && p->est_total)
			snprintf(est, sizeof est, "  %+.2f after %lld", 100 * p->est.delta,
				 (long long)p->est_done);
		fprintf(stderr, "\r\033[K[%s] %3d%% %lld/%lld ETA %s  %.60s%s", bar,
			(int)(100 * p->fraction), (long long)p->done, (long long)p->total, eta, p->what, est);
		fflush(stderr);
		v->drawn = true;
		return;
	}
	/* plain lines: one as each step or phase starts */
	if (p->job_id == v->last_job && !strcmp(p->what, v->last_what))
		return;
	v->last_job = p->job_id;
	v->last_done = p->done;
	snprintf(v->last_what, sizeof v->last_what, "%s", p->what);
	if (p->what[0])
		fprintf(stderr, "qlens sweep: %3d%% %lld/%lld ETA %s %s\n", (int)(100 * p->fraction),
			(long long)p->done, (long long)p->total, eta, p->what);
}

/* ---- merge ---------------------------------------------------------------------------- */

static int merge(int n, char **files, const char *json, const char *csv)
{
	struct err e = { 0 };
	struct sweep_results *in = calloc((size_t)n, sizeof *in);
	struct sweep_results out;
	int rc = 1, loaded = 0;
	sweep_results_init(&out);
	if (!in)
		return cli_failf("out of memory");
	for (int i = 0; i < n; i++) {
		if (sweepio_read_json(files[i], &in[i], &e)) {
			rc = cli_fail(&e);
			goto done;
		}
		loaded = i + 1;
	}
	if (sweepio_merge(in, n, &out, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	if (write_outputs(&out, json, csv, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	fprintf(stderr, "qlens sweep: merged %d shards, %d layers\n", n, out.n_rows);
	rc = 0;
done:
	for (int i = 0; i < loaded; i++)
		sweep_results_fini(&in[i]);
	free(in);
	sweep_results_fini(&out);
	return rc;
}

/* ---- the command ------------------------------------------------------------------------ */

int cmd_sweep(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "candidates", required_argument, NULL, 'c' },
		{ "base", required_argument, NULL, 'B' },
		{ "json", required_argument, NULL, 'j' },
		{ "csv", required_argument, NULL, 'v' },
		{ "shard", required_argument, NULL, 's' },
		{ "cache-mb", required_argument, NULL, 'm' },
		CLI_THREADS_OPTION,
		CLI_CALIB_OPTIONS,
		{ "no-cache", no_argument, NULL, 'N' },
		{ "cache-dir", required_argument, NULL, 'D' },
		{ "merge", no_argument, NULL, 'g' },
		CLI_DATA_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cand_list = NULL, *base = NULL, *json = NULL, *csv = NULL;
	const char *cache_dir = NULL;
	struct cli_args a;
	cli_args_init(&a);
	int shard_k = 0, shard_n = 0;
	int64_t cache_mb = SESSION_DEFAULT_CACHE_MB;
	bool no_cache = false, merging = false;
	struct err e = { 0 };
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cand_list = optarg; break;
		case 'B': base = optarg; break;
		case 'j': json = optarg; break;
		case 'v': csv = optarg; break;
		case 's':
			if (sweep_parse_shard(optarg, &shard_k, &shard_n, &e))
				return cli_usage("sweep", "--shard: %s", e.msg);
			break;
		case 'm':
			if (!cli_parse_int(optarg, 1, CLI_MAX_CACHE_MB, &cache_mb))
				return cli_usage("sweep", "--cache-mb takes a whole number of MiB from 1");
			break;
		case 'N': no_cache = true; break;
		case 'D': cache_dir = optarg; break;
		case 'g': merging = true; break;
		case 'h': fputs(sweep_help, stdout); return 0;
		default:
			if ((rc = cli_option("sweep", c, optarg, &a)))
				return rc;
		}
	}
	char why[512];
	if (json && !cli_writable(json, why, sizeof why))
		return cli_failf("cannot write %s: %s", json, why);
	if (csv && !cli_writable(csv, why, sizeof why))
		return cli_failf("cannot write %s: %s", csv, why);
	if (merging) {
		if (optind >= argc)
			return cli_usage("sweep", "--merge needs the shard files");
		if (!json && !csv)
			return cli_usage("sweep", "--merge needs --json FILE (or --csv FILE)");
		if (cand_list || base || shard_n || a.method || a.calib_samples)
			return cli_usage("sweep", "--merge takes files and outputs only");
		return merge(argc - optind, argv + optind, json, csv);
	}
	if (argc - optind > 1)
		return cli_usage("sweep", "takes one bundle");
	const char *path = optind < argc ? argv[optind] : cli_default_bundle();

	/* candidates: a comma-separated list */
	char list[512];
	const char *cands[SWEEP_MAX_CANDS];
	int n_cands = 0;
	if (cand_list && (rc = cli_candidates("sweep", cand_list, list, sizeof list, cands,
					      SWEEP_MAX_CANDS, &n_cands)))
		return rc;

	struct bundle b;
	struct graph *g = NULL;
	struct session *s = NULL;
	struct session_snap sn = { 0 };
	struct sweep_results out;
	bool have_sn = false;
	rc = 1;
	sweep_results_init(&out);
	if (cli_bundle_load(path, &a.data, &b, &g, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	/* the session would find out too, but only once the progress has started */
	if (cli_need_data(&b))
		goto done;
	struct session_opts so = { .cands = n_cands ? cands : NULL, .n_cands = n_cands,
				   .base = base, .calib_method = a.method,
				   .calib_samples = a.calib_samples, .threads = (int)a.threads,
				   .cache_mb = cache_mb, .no_cache = no_cache,
				   .cache_dir = cache_dir, .version = QLENS_VERSION, .lazy = true };
	if (session_open(&b, g, &so, &s, &e)) {
		rc = cli_usage("sweep", "%s", e.msg);
		goto done;
	}
	struct sweep_sel sel = { .kinds = SWEEP_ALL, .shard_k = shard_k, .shard_n = shard_n };
	if (session_submit_sweep(s, &sel, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	struct progress_view pv = { .tty = isatty(STDERR_FILENO) };
	bool cancelled = cli_session_wait(s, &sn, &have_sn, draw, &pv);
	if (pv.tty && pv.drawn)
		fputs("\r\033[K", stderr);
	if (cancelled) {
		fprintf(stderr, "qlens: interrupted%s\n",
			sn.cache_path[0] ? "; the results so far are kept for the next run" : "");
		rc = 130;
		goto done;
	}
	if (sn.state == SESSION_FAILED || (sn.last_status && sn.error[0])) {
		rc = cli_failf("%s", sn.error[0] ? sn.error : "the sweep failed");
		goto done;
	}
	enum status st = shard_n ? sweep_results_shard(&out, &sn.res, shard_k, shard_n, &e)
				 : sweep_results_copy(&out, &sn.res, &e);
	if (st) {
		rc = cli_fail(&e);
		goto done;
	}
	if (write_outputs(&out, json, csv, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	print_table(&out);
	rc = 0;
done:
	if (have_sn)
		session_snap_fini(&sn);
	sweep_results_fini(&out);
	session_close(s);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
