/*
 * cli.c - shared helpers of the headless commands.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "graph.h"

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
