/*
 * fuzz_sweepio.c - libFuzzer harness for sweep files and the sweep cache (sweepio.h).
 *
 * Each input is written to a file and read twice:
 *  - as a sweep JSON file (`qlens sweep --json`, the input of `--merge`): a file that
 *    parses must write back as JSON and CSV, and writing is a fixed point (the JSON of
 *    the file read back from that JSON is the same text); a file that is a whole sweep
 *    or one shard of one must merge with itself alone or be refused with a message;
 *  - as a persisted cache file, against the fixed settings of want_results() below:
 *    a file that fails a check is ignored with a notice and leaves the results as they
 *    were; one that passes fills results that must still write as JSON.
 * FUZZ_SWEEPIO_SEED=PATH writes a valid cache file for those settings to PATH and exits
 * (the committed seed tests/fuzz/corpus/sweepio/cache.json came from it).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "sweepio.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[64] = "/tmp/qlens-fuzz-sweepio-XXXXXX";
static char out_path[80];

static void set_str(char **dst, const char *s)
{
	*dst = strdup(s);
	FUZZ_CHECK(*dst != NULL, "out of memory");
}

/* The settings a cache file is checked against: two layers, two candidates, base int8. */
static void want_results(struct sweep_results *r, bool with_results)
{
	static const char *const names[] = { "/conv/Conv", "/fc/Gemm" };
	sweep_results_init(r);
	snprintf(r->version, sizeof r->version, "0.1.0");
	snprintf(r->bundle, sizeof r->bundle, "fuzz");
	memset(r->model_sha, 'a', SHA256_HEX - 1);
	memset(r->data_sha, 'b', SHA256_HEX - 1);
	r->n_cands = 2;
	snprintf(r->cand[0], sizeof r->cand[0], "int8");
	snprintf(r->cand[1], sizeof r->cand[1], "fp16");
	snprintf(r->cand_key[0], sizeof r->cand_key[0], "w=int8 a=uint8 sim=4|cs=all|b=64");
	snprintf(r->cand_key[1], sizeof r->cand_key[1], "w=fp16 a=fp16 sim=4|cs=all|b=64");
	snprintf(r->base, sizeof r->base, "int8");
	snprintf(r->base_key, sizeof r->base_key, "%s", r->cand_key[0]);
	r->base_cand = 0;
	snprintf(r->calib, sizeof r->calib, "minmax");
	r->batch = 64;
	r->samples = 100;
	r->n_layers = r->n_rows = 2;
	r->layers = calloc(2, sizeof *r->layers);
	r->rows = calloc(2, sizeof *r->rows);
	FUZZ_CHECK(r->layers && r->rows, "out of memory");
	for (int i = 0; i < 2; i++) {
		set_str(&r->layers[i], names[i]);
		set_str(&r->rows[i].name, names[i]);
		set_str(&r->rows[i].op, i ? "Gemm" : "Conv");
		r->rows[i].node = i;
		r->rows[i].index = i;
		if (!with_results)
			continue;
		struct metrics m;
		metrics_init(&m);
		m.n = 100;
		m.fp32_correct = 90;
		m.q_correct = 89 - i;
		m.b = 2 + i;
		m.c = 1;
		m.agree = 97;
		m.sig_pow = 10;
		m.err_pow = 0.01 * (i + 1);
		m.kl_sum = 0.001;
		for (int c = 0; c < 2; c++) {
			struct sweep_cell *cl = &r->rows[i].cell[c];
			cl->has_local = cl->has_iso = true;
			cl->local_sqnr_db = c ? 60.0 : 30.0 + i;
			metrics_summarize(&m, &cl->iso);
		}
		r->rows[i].has_remove = true;
		metrics_summarize(&m, &r->rows[i].remove);
		metrics_summarize(&m, &r->rows[i].remove_gain);
	}
	if (with_results) {
		r->has_fp32 = true;
		r->fp32_top1 = 0.9;
	}
}

static void write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	FUZZ_CHECK(f != NULL, "cannot write %s", path);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size || size == 0, "short write to %s", path);
	FUZZ_CHECK(fclose(f) == 0, "cannot close %s", path);
}

static void remove_files(void)
{
	unlink(in_path);
	unlink(out_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *seed = getenv("FUZZ_SWEEPIO_SEED");
	if (seed && seed[0]) {
		struct sweep_results r;
		struct err e = { 0 };
		want_results(&r, true);
		enum status st = sweepio_cache_save(seed, &r, &e);
		FUZZ_CHECK(st == OK, "%s", e.msg);
		sweep_results_fini(&r);
		exit(0);
	}
	int fd = mkstemp(in_path);
	FUZZ_CHECK(fd >= 0, "mkstemp");
	close(fd);
	snprintf(out_path, sizeof out_path, "%s.out", in_path);
	atexit(remove_files);
	return 0;
}

static void check_sweep_file(void)
{
	struct sweep_results r, back, merged;
	struct err e = { 0 };
	enum status st = sweepio_read_json(in_path, &r, &e);
	if (st) {
		fuzz_check_refusal(st, &e);
		return;
	}
	char *json = sweepio_json(&r), *csv = sweepio_csv(&r);
	FUZZ_CHECK(json && csv, "a sweep that parses does not write");
	write_file(out_path, json, strlen(json));
	st = sweepio_read_json(out_path, &back, &e);
	FUZZ_CHECK(st == OK, "the JSON written from a parsed sweep does not parse: %s", e.msg);
	char *again = sweepio_json(&back);
	FUZZ_CHECK(again && strcmp(json, again) == 0, "writing a read sweep is no fixed point");
	st = sweepio_merge(&r, 1, &merged, &e);
	if (st)
		fuzz_check_refusal(st, &e);
	else
		sweep_results_fini(&merged);
	free(again);
	free(json);
	free(csv);
	sweep_results_fini(&back);
	sweep_results_fini(&r);
}

static void check_cache_file(void)
{
	struct sweep_results r;
	char notice[SWEEP_NOTICE_MAX] = "";
	want_results(&r, false);
	int n = sweepio_cache_load(in_path, &r, notice);
	FUZZ_CHECK(n >= 0, "negative count %d", n);
	if (notice[0]) {
		char copy[SWEEP_NOTICE_MAX];
		memcpy(copy, notice, sizeof copy);
		text_clean(copy);
		FUZZ_CHECK(strcmp(copy, notice) == 0, "unprintable notice '%s'", copy);
		FUZZ_CHECK(n == 0, "%d results taken from a file with a notice: %s", n, notice);
	}
	char *json = sweepio_json(&r);
	FUZZ_CHECK(json != NULL, "results loaded from a cache do not write");
	free(json);
	sweep_results_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	write_file(in_path, data, size);
	check_sweep_file();
	check_cache_file();
	return 0;
}
