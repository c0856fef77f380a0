/*
 * cli.c - shared helpers of the headless commands.
 */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "evaluate.h"
#include "graph.h"
#include "session.h"

int cli_fail(const struct err *e)
{
	fprintf(stderr, "qlens: %s\n", e->msg[0] ? e->msg : status_str(e->code));
	return 1;
}

int cli_failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("qlens: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "qlens %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see 'qlens %s --help')\n", cmd);
	va_end(ap);
	return EXIT_USAGE;
}

bool cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

const char *cli_default_bundle(void)
{
	const char *env = getenv("QLENS_BUNDLE");
	if (env && *env)
		return env;
	struct stat st;
	/* a source or build tree run first, then the installed copy */
	if (stat("sample-models/fashion-mobilenet/bundle.json", &st) == 0)
		return "sample-models/fashion-mobilenet";
	if (stat(QLENS_SOURCE_SAMPLES "/fashion-mobilenet/bundle.json", &st) == 0)
		return QLENS_SOURCE_SAMPLES "/fashion-mobilenet";
	return QLENS_INSTALLED_SAMPLES "/fashion-mobilenet";
}

int cli_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

bool cli_data_option(int c, const char *arg, struct cli_data *d)
{
	switch (c) {
	case CLI_OPT_CALIB: d->calib = arg; return true;
	case CLI_OPT_EVAL: d->eval = arg; return true;
	case CLI_OPT_LABELS: d->labels = arg; return true;
	default: return false;
	}
}

void cli_args_init(struct cli_args *a)
{
	memset(a, 0, sizeof *a);
	a->threads = cli_default_threads();
	a->batch = 64;
}

int cli_option(const char *cmd, int c, const char *arg, struct cli_args *a)
{
	if (cli_data_option(c, arg, &a->data))
		return 0;
	switch (c) {
	case CLI_OPT_THREADS:
		if (!cli_parse_int(arg, 1, 64, &a->threads))
			return cli_usage(cmd, "--threads takes a whole number from 1 to 64");
		return 0;
	case CLI_OPT_BATCH:
		if (!cli_parse_int(arg, 1, 65536, &a->batch))
			return cli_usage(cmd, "--batch takes a whole number from 1");
		return 0;
	case CLI_OPT_PRESET: a->preset = arg; return 0;
	case CLI_OPT_GRAN: a->gran = arg; return 0;
	case CLI_OPT_METHOD: a->method = arg; return 0;
	case CLI_OPT_SAMPLES:
		if (!cli_parse_int(arg, 1, INT32_MAX, &a->calib_samples))
			return cli_usage(cmd, "--calib-samples takes a whole number from 1");
		return 0;
	case CLI_OPT_SET:
		if (a->n_sets == CLI_MAX_SETS)
			return cli_usage(cmd, "too many --set");
		a->sets[a->n_sets++] = arg;
		return 0;
	default: return cli_usage(cmd, "unknown option");
	}
}

int cli_candidates(const char *cmd, const char *list, char *buf, size_t size,
		   const char **cands, int max, int *n)
{
	*n = 0;
	if (strlen(list) >= size)
		return cli_usage(cmd, "--candidates: list too long");
	snprintf(buf, size, "%s", list);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == max)
			return cli_usage(cmd, "--candidates: at most %d", max);
		cands[(*n)++] = t;
	}
	if (!*n)
		return cli_usage(cmd, "--candidates: empty list");
	return 0;
}

bool cli_writable(const char *path, char *why, size_t size)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(why, size, "it is a folder");
		return false;
	}
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, size, "folder %s does not exist", dir);
		return false;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(why, size, "folder %s is not writable: %s", dir, strerror(errno));
		return false;
	}
	return true;
}

enum status cli_bundle_load(const char *path, const struct cli_data *d, struct bundle *b,
			    struct graph **g, struct err *e)
{
	*g = NULL;
	memset(b, 0, sizeof *b);
	enum status st = bundle_open(path, b, e);
	if (st)
		return st;
	if (d)
		st = bundle_set_data(b, d->calib, d->eval, d->labels, e);
	if (!st)
		st = bundle_load_model(b, g, e);
	if (st) {
		graph_free(*g);
		*g = NULL;
		bundle_fini(b);
	}
	return st;
}

int cli_need_data(const struct bundle *b)
{
	const char *what = !b->calib_path  ? "calibration data (give --calib FILE.npy)"
			   : !b->eval_path ? "evaluation data (give --eval FILE.npy)"
			   : !b->labels_path ? "labels (give --labels FILE.npy)"
					     : NULL;
	if (!what)
		return 0;
	/* the name is the model's file name or bundle.json's: no control characters */
	char name[256];
	snprintf(name, sizeof name, "%s", b->name ? b->name : "the bundle");
	for (char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return cli_failf("%s: no %s", name, what);
}

int cli_precision(const char *cmd, const struct cli_args *a, struct precision *prec,
		  struct calib_spec *cspec)
{
	struct err e = { 0 };
	const char *gran = a->gran;
	if (precision_preset(a->preset ? a->preset : "int8", prec, &e))
		return cli_usage(cmd, "%s", e.msg);
	if (calib_spec_parse(a->method ? a->method : "minmax", cspec, &e))
		return cli_usage(cmd, "%s", e.msg);
	prec->acalib = *cspec;
	if (gran) {
		enum qgran gr = qgran_lookup(gran);
		if (gr == QG_COUNT)
			return cli_usage(cmd, "unknown granularity '%s' (per-tensor, per-channel, "
					 "per-block)", gran);
		if (!(qfmt_info(prec->wfmt)->gran_mask & QG_BIT(gr)))
			return cli_usage(cmd, "%s weights have no %s parameters",
					 qfmt_info(prec->wfmt)->name, gran);
		prec->wgran = gr;
	}
	return 0;
}

int cli_measure(const struct bundle *b, const struct graph *g, const struct policy *pol,
		const struct cli_args *a, struct evaluator *ev, struct sim *sim,
		struct metrics_summary *s)
{
	struct err e = { 0 };
	if (evaluator_init(ev, b, g, (int)a->threads, (int)a->batch, &e))
		return cli_fail(&e);
	if (evaluator_calibrate(ev, b, a->calib_samples, &e) || sim_prepare(sim, g, &ev->cal, pol, &e)) {
		evaluator_fini(ev);
		return cli_fail(&e);
	}
	if (evaluator_run(ev, sim, s, &e)) {
		sim_fini(sim);
		evaluator_fini(ev);
		return cli_fail(&e);
	}
	return 0;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

bool cli_session_wait(struct session *s, struct session_snap *sn, bool *have_sn,
		      void (*draw)(void *ctx, const struct session_snap *sn), void *ctx)
{
	struct sigaction sa = { 0 }, old_int, old_term;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	uint64_t seen = 0;
	bool cancelled = false;
	for (;;) {
		struct pollfd pfd = { .fd = session_notify_fd(s), .events = POLLIN };
		poll(&pfd, 1, 250);
		session_ack(s);
		if (interrupted && !cancelled) {
			session_cancel(s);
			cancelled = true;
		}
		uint64_t gen = session_generation(s);
		bool idle = session_idle(s);
		if (gen == seen && !idle)
			continue;
		seen = gen;
		if (*have_sn)
			session_snap_fini(sn);
		session_snapshot(s, sn);
		*have_sn = true;
		draw(ctx, sn);
		if (idle && session_generation(s) == sn->gen)
			break;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return cancelled;
}
