/*
 * bench_fakequant.c - fake-quant throughput per format, next to memcpy.
 *
 * Simulated quantization (qfmt_fake_quant) runs over every activation of
 * every calibration sample for each candidate policy, so it should run close
 * to memory speed.  This benchmark fills a 64 MiB float buffer with
 * Gaussian-like values and times, for every format, qfmt_fake_quant from it
 * into a second buffer and in place, next to memcpy of the same buffer timed
 * in the same rounds (alternating, so that load from other processes hits
 * both alike), each the best of --repeat runs with CLOCK_MONOTONIC after an
 * untimed run that faults the pages in.  Parameters come from
 * qfmt_params_from_range over the data's range, symmetric, so every kernel
 * sees realistic values (fp8 subnormals near zero included).  It prints one
 * table: GB/s of the buffer size out of place and in place, memcpy's GB/s
 * from the same rounds, and the ratio of the out-of-place figure to memcpy's.
 * The target is >= 0.5 for int8, fp16 and bf16 (marked in the last column).
 *
 * usage: bench-fakequant [--mib N] [--repeat R]
 * Exit status: 0 ok, 1 failure, 2 bad usage.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qformat.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a fixed, portable sequence */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Sum of four uniforms: bell-shaped, cheap, in [-2, 2). */
static float rng_bell(uint64_t *s)
{
	uint64_t r = rng_next(s);
	float v = 0;
	for (int i = 0; i < 4; i++)
		v += (float)((r >> (16 * i)) & 0xffff) * (1.0f / 65536.0f);
	return v - 2.0f;
}

static volatile float sink; /* keeps the compiler from dropping the work */

static double time_one(enum qfmt f, const float *x, float *y, int64_t n, struct qparams p,
		       bool is_memcpy)
{
	double t0 = now_s();
	if (is_memcpy)
		memcpy(y, x, (size_t)n * sizeof *y);
	else
		qfmt_fake_quant(f, x, y, n, p);
	double t = now_s() - t0;
	sink = y[n / 2];
	return t;
}

static int parse_pos(const char *s, long *out)
{
	char *end;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || *end || v <= 0 || v > 4096)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	long mib = 64, repeat = 7;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mib") == 0 && parse_pos(argv[i + 1], &mib) == 0)
			i++;
		else if (strcmp(argv[i], "--repeat") == 0 && parse_pos(argv[i + 1], &repeat) == 0)
			i++;
		else {
			fprintf(stderr, "usage: bench-fakequant [--mib N] [--repeat R]\n");
			return 2;
		}
	}
	int64_t n = (int64_t)mib * 1024 * 1024 / 4;
	size_t bytes = (size_t)n * sizeof(float);
	float *x = malloc(bytes), *y = malloc(bytes), *z = malloc(bytes);
	if (!x || !y || !z) {
		fprintf(stderr, "bench-fakequant: out of memory (%ld MiB x 3)\n", mib);
		return 1;
	}
	uint64_t seed = 42;
	float lo = 0, hi = 0;
	for (int64_t i = 0; i < n; i++) {
		x[i] = rng_bell(&seed);
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
	}
	memset(y, 0, bytes);

	double gb = (double)bytes / 1e9;
	printf("fake-quant throughput, %ld MiB float32 buffer, best of %ld runs\n", mib, repeat);
	printf("(memcpy is timed in the same rounds as each format, alternating, so that\n"
	       " load from other processes hits both alike; the ratio uses that memcpy)\n");
	printf("%-10s %10s %10s %10s %9s  %s\n", "format", "GB/s", "in-place", "memcpy", "/memcpy",
	       "target");
	for (int f = 0; f < QF_COUNT; f++) {
		const struct qfmt_info *fi = qfmt_info((enum qfmt)f);
		struct qparams p = qfmt_params_from_range((enum qfmt)f, lo, hi, true);
		qfmt_fake_quant((enum qfmt)f, x, y, n, p); /* untimed warm-up */
		memcpy(z, x, bytes);
		double t = 1e30, t_in = 1e30, t_mc = 1e30;
		for (int r = 0; r < repeat; r++) {
			t_mc = fmin(t_mc, time_one((enum qfmt)f, x, y, n, p, true));
			t = fmin(t, time_one((enum qfmt)f, x, y, n, p, false));
			/* in place over a copy: re-quantizing quantized values is the same work */
			t_in = fmin(t_in, time_one((enum qfmt)f, z, z, n, p, false));
		}
		bool targeted = f == QF_INT8 || f == QF_FP16 || f == QF_BF16;
		double ratio = t_mc / t;
		char in_place[32] = "-"; /* fp32 in place is a no-op */
		if (f != QF_FP32)
			snprintf(in_place, sizeof in_place, "%.2f", gb / t_in);
		printf("%-10s %10.2f %10s %10.2f %9.2f  %s\n", fi->name, gb / t, in_place, gb / t_mc,
		       ratio, targeted ? (ratio >= 0.5 ? ">= 0.5 ok" : ">= 0.5 MISSED") : "");
	}
	free(x);
	free(y);
	free(z);
	return 0;
}
