/*
 * bench_calib.c - cost of the calibration pass next to one FP32 pass.
 *
 * Both run the same model over the same samples with the same threads and
 * batch: calib_collect (FP32 run + streaming statistics of every tensor a
 * quantizable node reads or writes) against a plain runner_run.  Reported as
 * the ratio of the best of R repetitions each, interleaved so that machine
 * noise hits both alike.  Target: <= 1.5.
 *
 * usage: bench-calib BUNDLE [--threads N] [--batch N] [--repeat R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "exec.h"
#include "sim.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int threads = 1, batch = 64, repeat = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else
			path = argv[i];
	}
	if (!path || threads < 1 || batch < 1 || repeat < 1) {
		fprintf(stderr, "usage: bench-calib BUNDLE [--threads N] [--batch N] [--repeat R]\n");
		return 2;
	}
	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	struct tensor data;
	struct runner *r = NULL;
	if (bundle_open(path, &b, &e) || bundle_load_model(&b, &g, &e) ||
	    bundle_load_calib(&b, &data, &e) || runner_new(g, threads, batch, &r, &e)) {
		fprintf(stderr, "bench-calib: %s\n", e.msg);
		return 1;
	}
	double best_fp32 = 1e30, best_calib = 1e30;
	for (int it = 0; it < repeat; it++) {
		struct tensor out[64] = { 0 };
		double t0 = now();
		if (runner_run(r, &data, out, &e)) {
			fprintf(stderr, "bench-calib: %s\n", e.msg);
			return 1;
		}
		double t1 = now();
		for (int k = 0; k < 64; k++)
			tensor_fini(&out[k]);
		struct calib_data cal;
		double t2 = now();
		if (calib_collect(g, &data, threads, batch, &cal, &e)) {
			fprintf(stderr, "bench-calib: %s\n", e.msg);
			return 1;
		}
		double t3 = now();
		calib_data_fini(&cal);
		if (t1 - t0 < best_fp32)
			best_fp32 = t1 - t0;
		if (t3 - t2 < best_calib)
			best_calib = t3 - t2;
	}
	printf("{\"bundle\": \"%s\", \"samples\": %lld, \"threads\": %d, \"batch\": %d, "
	       "\"fp32_s\": %.4f, \"calib_s\": %.4f, \"ratio\": %.3f}\n",
	       b.name, (long long)data.shape.dim[0], threads, batch, best_fp32, best_calib,
	       best_calib / best_fp32);
	runner_free(r);
	tensor_fini(&data);
	graph_free(g);
	bundle_fini(&b);
	return 0;
}
