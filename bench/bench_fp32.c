/*
 * bench_fp32.c - FP32 throughput of qlens' engine on one model and data set.
 *
 * qlens runs every analysis (calibration, per-layer sweeps, simulated
 * quantization) on its own FP32 engine, so that engine's speed bounds how
 * interactive the program feels.  This benchmark measures it the same way
 * scripts/ort/run.mjs measures ONNX Runtime, so bench/fp32.sh can put the
 * two side by side: the data is cut into chunks of --batch samples along
 * its leading dimension and run by a runner (exec.h) with --threads
 * workers; one untimed warm-up pass builds the per-worker plans; then
 * --repeat full passes are timed with CLOCK_MONOTONIC and the best one is
 * reported as a single JSON line on stdout.  The first graph output of the
 * last pass (the logits) is written to --out for comparison.
 *
 * The runner sets the OpenBLAS thread count itself (exec.h): OpenBLAS'
 * threads when one worker runs, single-threaded BLAS per worker otherwise.
 * This file leaves that alone.
 *
 * usage: bench-fp32 MODEL.onnx DATA.npy [--threads N] [--batch N]
 *                   [--repeat R] [--samples N] [--out OUT.npy]
 * Exit status: 0 ok, 1 failure, 2 bad usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec.h"
#include "graph.h"
#include "npy.h"
#include "onnx_load.h"
#include "status.h"
#include "tensor.h"

#define OUTPUTS_MAX 64

struct bench_opts {
	const char *model, *data, *out;
	int threads, batch, repeat;
	long long samples; /* 0: all */
};

static void usage(FILE *f)
{
	fputs("usage: bench-fp32 MODEL.onnx DATA.npy [--threads N] [--batch N] [--repeat R]\n"
	      "                  [--samples N] [--out OUT.npy]\n"
	      "  --threads  runner workers (default 1)\n"
	      "  --batch    samples per chunk (default 64)\n"
	      "  --repeat   timed full passes after one warm-up pass; best is reported (default 3)\n"
	      "  --samples  use only the first N samples of DATA (default all)\n"
	      "  --out      write the first model output of the last pass here\n",
	      f);
}

static int parse_int(const char *opt, const char *s, long long min, long long max, long long *out)
{
	char *end;
	if (!s) {
		fprintf(stderr, "bench-fp32: %s needs a value\n", opt);
		return -1;
	}
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "bench-fp32: %s: expected an integer in %lld..%lld, got '%s'\n", opt,
			min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* 0 ok, 1 help printed, -1 bad usage (message printed). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	*o = (struct bench_opts){ .threads = 1, .batch = 64, .repeat = 3 };
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		long long v;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(a, "--threads")) {
			if (parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, 64, &v))
				return -1;
			o->threads = (int)v;
		} else if (!strcmp(a, "--batch")) {
			if (parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, 1 << 20, &v))
				return -1;
			o->batch = (int)v;
		} else if (!strcmp(a, "--repeat")) {
			if (parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, 10000, &v))
				return -1;
			o->repeat = (int)v;
		} else if (!strcmp(a, "--samples")) {
			if (parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, LLONG_MAX, &v))
				return -1;
			o->samples = v;
		} else if (!strcmp(a, "--out")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "bench-fp32: --out needs a file\n");
				return -1;
			}
			o->out = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "bench-fp32: unknown option '%s'\n", a);
			return -1;
		} else if (npos == 0) {
			o->model = a;
			npos++;
		} else if (npos == 1) {
			o->data = a;
			npos++;
		} else {
			fprintf(stderr, "bench-fp32: unexpected argument '%s'\n", a);
			return -1;
		}
	}
	if (npos != 2) {
		fprintf(stderr, "bench-fp32: give a model and a data file\n");
		return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* JSON string literal of s on f. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* The data as the float32 tensor the model's input wants (owned by *x). */
static enum status load_data(const struct bench_opts *o, const struct graph *g, struct tensor *x,
			     struct err *e)
{
	struct tensor raw = { 0 };
	enum status st = npy_read(o->data, &raw, e);
	if (st)
		return st;
	const struct value *in = &g->values[g->inputs[0]];
	if (raw.shape.rank < 1 || raw.shape.dim[0] < 1) {
		st = err_set(e, ERR_SHAPE, "%s: needs a leading (sample) dimension with samples",
			     o->data);
		goto done;
	}
	if (in->dtype != DT_FLOAT && in->dtype != DT_UNDEFINED) {
		st = err_set(e, ERR_UNSUPPORTED, "model input '%s' is %s; this benchmark feeds float32",
			     in->name, dtype_name(in->dtype));
		goto done;
	}
	struct shape s = raw.shape;
	if (o->samples && o->samples < s.dim[0])
		s.dim[0] = o->samples;
	st = tensor_alloc(x, DT_FLOAT, &s, e);
	if (st)
		goto done;
	st = convert_to_float(x->data, raw.data, raw.dtype, tensor_numel(x), e);
	if (st) {
		err_prefix(e, "%s", o->data);
		tensor_fini(x);
	}
done:
	tensor_fini(&raw);
	return st;
}

static void free_outputs(struct tensor *outs, int n)
{
	for (int k = 0; k < n; k++)
		tensor_fini(&outs[k]);
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 2;

	struct err e = { 0 };
	struct graph *g = NULL;
	struct runner *r = NULL;
	struct tensor x = { 0 };
	struct tensor outs[OUTPUTS_MAX] = { 0 };
	int n_out = 0;
	enum status st = onnx_load_file(o.model, &g, &e);
	if (st)
		goto fail;
	if (g->n_inputs != 1) {
		st = err_set(&e, ERR_UNSUPPORTED, "%s: the model has %d inputs; this benchmark feeds one",
			     o.model, g->n_inputs);
		goto fail;
	}
	if (g->n_outputs < 1 || g->n_outputs > OUTPUTS_MAX) {
		st = err_set(&e, ERR_UNSUPPORTED, "%s: the model has %d outputs (1..%d supported)",
			     o.model, g->n_outputs, OUTPUTS_MAX);
		goto fail;
	}
	n_out = g->n_outputs;
	st = load_data(&o, g, &x, &e);
	if (st)
		goto fail;
	st = runner_new(g, o.threads, o.batch, &r, &e);
	if (st)
		goto fail;

	/* warm-up: builds each worker's plans and touches every buffer */
	st = runner_run(r, &x, outs, &e);
	if (st)
		goto fail;
	double best = -1;
	for (int i = 0; i < o.repeat; i++) {
		free_outputs(outs, n_out);
		double t0 = now_s();
		st = runner_run(r, &x, outs, &e);
		double t = now_s() - t0;
		if (st)
			goto fail;
		if (best < 0 || t < best)
			best = t;
	}
	if (o.out) {
		st = npy_write(o.out, &outs[0], &e);
		if (st)
			goto fail;
	}

	long long samples = (long long)x.shape.dim[0];
	printf("{\"samples\":%lld,\"seconds\":%.6g,\"samples_per_s\":%.6g,\"threads\":%d,"
	       "\"batch\":%d,\"repeat\":%d,\"engine\":\"qlens\",\"model\":",
	       samples, best, (double)samples / best, o.threads, o.batch, o.repeat);
	json_str(stdout, o.model);
	printf("}\n");
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "bench-fp32: %s\n", e.msg[0] ? e.msg : status_str(st));
	rc = 1;
done:
	free_outputs(outs, n_out);
	runner_free(r);
	tensor_fini(&x);
	graph_free(g);
	return rc;
}
