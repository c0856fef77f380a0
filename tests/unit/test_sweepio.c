/*
 * test_sweepio.c - SHA-256, sweep JSON/CSV, shards and merge, the persisted
 * result cache - on synthetic results (no model run).
 *
 * SHA-256 vectors are FIPS 180-4's examples ("abc", the 448-bit message, a
 * million 'a') plus the empty message.  Results are built with awkward
 * numbers (non-terminating binary fractions, an exact SQNR, missing cells) so
 * that exactness of every round trip is really tested.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "policy.h"
#include "sha256.h"
#include "sim.h"
#include "sweepio.h"

static char tmpdir[256];

/* ---- SHA-256 ------------------------------------------------------------------ */

static void test_sha256_vectors(void **state)
{
	(void)state;
	char hex[SHA256_HEX];
	sha256_hex_of("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex_of("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256_hex_of(m448, strlen(m448), hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a' fed in odd pieces: block boundaries inside updates */
	struct sha256 s;
	unsigned char d[SHA256_BYTES];
	char a[997];
	memset(a, 'a', sizeof a);
	sha256_init(&s);
	size_t left = 1000000;
	for (size_t piece = 1; left; piece = piece % 997 + 1) {
		size_t n = piece < left ? piece : left;
		sha256_update(&s, a, n);
		left -= n;
	}
	sha256_final(&s, d);
	assert_string_equal(sha256_hex(d, hex),
			    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* lengths around the padding boundary agree with a one-shot digest */
	for (size_t n = 50; n < 140; n++) {
		char one[SHA256_HEX];
		sha256_hex_of(a, n, one);
		sha256_init(&s);
		sha256_update(&s, a, n / 3);
		sha256_update(&s, a, n - n / 3);
		sha256_final(&s, d);
		assert_string_equal(sha256_hex(d, hex), one);
	}
}

static void test_sha256_file(void **state)
{
	(void)state;
	char path[512], hex[SHA256_HEX];
	snprintf(path, sizeof path, "%s/abc.txt", tmpdir);
	struct err e = { 0 };
	assert_int_equal(file_write_atomic(path, "abc", 3, &e), OK);
	struct sha256 s;
	unsigned char d[SHA256_BYTES];
	sha256_init(&s);
	assert_int_equal(sha256_file(&s, path, NULL, &e), OK);
	sha256_final(&s, d);
	assert_string_equal(sha256_hex(d, hex),
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	_Atomic bool cancel = true;
	sha256_init(&s);
	assert_int_equal(sha256_file(&s, path, &cancel, &e), ERR_CANCELLED);
	snprintf(path, sizeof path, "%s/missing", tmpdir);
	assert_int_equal(sha256_file(&s, path, NULL, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "missing"));
}

/* ---- synthetic results ------------------------------------------------------------- */

static struct metrics_summary summary(int64_t n, int64_t fp32_ok, int64_t b, int64_t c, double sq)
{
	struct metrics_summary s = { 0 };
	s.n = n;
	s.fp32_top1 = (double)fp32_ok / (double)n;
	s.top1 = (double)(fp32_ok - b + c) / (double)n;
	s.delta = (double)(c - b) / (double)n;
	if (b + c) {
		double lo, hi;
		clopper_pearson(c, b + c, &lo, &hi);
		s.ci_lo = (double)(b + c) / (double)n * (2 * lo - 1);
		s.ci_hi = (double)(b + c) / (double)n * (2 * hi - 1);
	}
	s.p_value = 0.1 + 1.0 / 3.0 * (double)(b % 2);
	s.agreement = 1 - (double)(b + c) / (double)n / 7.0;
	s.sqnr_db = sq;
	s.kl = 1e-3 / 3.0 * (double)(b + 1);
	s.within_noise = s.ci_lo <= 0 && s.ci_hi >= 0;
	return s;
}

#define N_SAMPLES 2000
#define N_LAYERS 7

static void make_results(struct sweep_results *r, int n_cands, bool full)
{
	static const char *names[N_LAYERS] = { "/stem/Conv", "/a,b/Conv", "/pool/MaxPool",
						"/l1/\"q\"/Conv", "/l1/Add", "/gap", "/fc/Gemm" };
	static const char *cands[] = { "int8", "w4a8", "fp8e4m3", "fp16" };
	sweep_results_init(r);
	snprintf(r->version, sizeof r->version, "9.9.9");
	snprintf(r->bundle, sizeof r->bundle, "synthetic");
	sha256_hex_of("model", 5, r->model_sha);
	sha256_hex_of("data", 4, r->data_sha);
	r->n_cands = n_cands;
	for (int c = 0; c < n_cands; c++) {
		snprintf(r->cand[c], sizeof r->cand[c], "%s", cands[c]);
		snprintf(r->cand_key[c], sizeof r->cand_key[c], "key-%s|cs=512|b=64", cands[c]);
	}
	snprintf(r->base, sizeof r->base, "int8");
	snprintf(r->base_key, sizeof r->base_key, "key-int8|cs=512|b=64");
	r->base_cand = 0;
	snprintf(r->calib, sizeof r->calib, "minmax");
	r->calib_samples = 512;
	r->batch = 64;
	r->samples = N_SAMPLES;
	r->has_fp32 = true;
	r->fp32_top1 = 1843.0 / N_SAMPLES;
	r->has_base = true;
	r->base_run = summary(N_SAMPLES, 1843, 17, 3, 31.0 / 3.0);
	r->n_layers = N_LAYERS;
	r->layers = calloc(N_LAYERS, sizeof *r->layers);
	r->rows = calloc(N_LAYERS, sizeof *r->rows);
	r->n_rows = N_LAYERS;
	for (int i = 0; i < N_LAYERS; i++) {
		struct sweep_row *w = &r->rows[i];
		r->layers[i] = strdup(names[i]);
		w->name = strdup(names[i]);
		w->op = strdup(strrchr(names[i], '/') + 1);
		w->node = 3 * i + 1;
		w->index = i;
		w->params = 216 * i;
		w->macs = 169344 * (i + 1);
		for (int c = 0; c < n_cands; c++) {
			struct sweep_cell *cl = &w->cell[c];
			bool skip = !full && (i + c) % 3 == 0;
			cl->has_local = !skip;
			cl->local_sqnr_db = c == 3 && i == 2 ? INFINITY : 40.0 / (c + 1) + i / 7.0;
			cl->has_iso = !skip || c == 0;
			cl->iso = summary(N_SAMPLES, 1843, 2 + i * c, i, 30.0 + c / 3.0);
		}
		w->has_remove = full || i % 2 == 0;
		w->remove = summary(N_SAMPLES, 1843, 10, 3 + i, 20.1 / 3.0);
		w->remove_gain = summary(N_SAMPLES, 1829, 1, 3 * i, 25.0 / 7.0);
	}
}

static void same_summary(const struct metrics_summary *a, const struct metrics_summary *b)
{
	assert_true(memcmp(a, b, offsetof(struct metrics_summary, within_noise)) == 0);
	assert_int_equal(a->within_noise, b->within_noise);
}

static void same_results(const struct sweep_results *a, const struct sweep_results *b)
{
	assert_int_equal(a->n_rows, b->n_rows);
	assert_int_equal(a->n_cands, b->n_cands);
	assert_int_equal(a->has_base, b->has_base);
	if (a->has_base)
		same_summary(&a->base_run, &b->base_run);
	assert_true(a->fp32_top1 == b->fp32_top1);
	for (int i = 0; i < a->n_rows; i++) {
		const struct sweep_row *x = &a->rows[i], *y = &b->rows[i];
		assert_string_equal(x->name, y->name);
		assert_string_equal(x->op, y->op);
		assert_int_equal(x->params, y->params);
		assert_int_equal(x->macs, y->macs);
		for (int c = 0; c < a->n_cands; c++) {
			assert_int_equal(x->cell[c].has_local, y->cell[c].has_local);
			assert_int_equal(x->cell[c].has_iso, y->cell[c].has_iso);
			if (x->cell[c].has_local)
				assert_true(x->cell[c].local_sqnr_db == y->cell[c].local_sqnr_db);
			if (x->cell[c].has_iso)
				same_summary(&x->cell[c].iso, &y->cell[c].iso);
		}
		assert_int_equal(x->has_remove, y->has_remove);
		if (x->has_remove) {
			same_summary(&x->remove, &y->remove);
			same_summary(&x->remove_gain, &y->remove_gain);
		}
		assert_int_equal(x->has_base_iso, y->has_base_iso);
	}
}

static void write_text(const char *path, const char *text)
{
	struct err e = { 0 };
	if (file_write_atomic(path, text, strlen(text), &e))
		fail_msg("%s", e.msg);
}

static char *read_text(const char *path)
{
	void *buf;
	size_t len;
	struct err e = { 0 };
	if (file_read_all(path, 1 << 26, &buf, &len, &e))
		fail_msg("%s", e.msg);
	return buf;
}

/* ---- JSON and CSV ---------------------------------------------------------------------- */

static void test_json_keys_and_round_trip(void **state)
{
	(void)state;
	struct sweep_results r, back;
	struct err e = { 0 };
	make_results(&r, 4, false);
	char *text = sweepio_json(&r);
	assert_non_null(text);
	cJSON *o = cJSON_Parse(text);
	assert_non_null(o);
	static const char *top[] = { "fp32_top1", "base", "base_top1", "samples", "candidates",
				     "settings", "rows", "layers", "model_sha256", "data_sha256" };
	for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
		if (!cJSON_HasObjectItem(o, top[i]))
			fail_msg("key %s missing", top[i]);
	const cJSON *rows = cJSON_GetObjectItem(o, "rows");
	assert_int_equal(cJSON_GetArraySize(rows), N_LAYERS * 4);
	static const char *keys[] = { "node", "op", "precision", "isolate_delta", "isolate_ci95",
				      "local_sqnr_db", "remove_delta", "interaction" };
	const cJSON *row;
	cJSON_ArrayForEach(row, rows)
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (!cJSON_HasObjectItem(row, keys[i]))
				fail_msg("row key %s missing", keys[i]);
	const cJSON *set = cJSON_GetObjectItem(o, "settings");
	assert_true(cJSON_HasObjectItem(set, "calib_method"));
	assert_true(cJSON_HasObjectItem(set, "calib_samples"));
	/* the exact SQNR is "inf", a missing cell null */
	const cJSON *r11 = cJSON_GetArrayItem(rows, 2 * 4 + 3);
	assert_string_equal(cJSON_GetObjectItem(r11, "local_sqnr_db")->valuestring, "inf");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1), "isolate_delta")) ==
		    !r.rows[0].cell[1].has_iso);
	cJSON_Delete(o);

	char path[512];
	snprintf(path, sizeof path, "%s/sweep.json", tmpdir);
	write_text(path, text);
	if (sweepio_read_json(path, &back, &e))
		fail_msg("%s", e.msg);
	same_results(&r, &back);
	char *again = sweepio_json(&back);
	assert_string_equal(text, again);
	free(again);
	sweep_results_fini(&back);

	/* strictness: damaged files fail with the path in the message */
	char *bad = strdup(text);
	char *p = strstr(bad, "\"isolate_delta\"");
	assert_non_null(p);
	memcpy(p, "\"isolate_deltx\"", 15); /* harmless (flat key) */
	p = strstr(bad, "\"top1\":");
	assert_non_null(p);
	p[7] = '7'; /* breaks top1 = fp32_top1 + delta, or the range */
	write_text(path, bad);
	assert_int_equal(sweepio_read_json(path, &back, &e), ERR_FORMAT);
	assert_non_null(strstr(e.msg, "sweep.json"));
	write_text(path, "{\"format\": \"qlens-sweep\"");
	assert_int_equal(sweepio_read_json(path, &back, &e), ERR_FORMAT);
	free(bad);
	free(text);
	sweep_results_fini(&r);
}

static void test_csv(void **state)
{
	(void)state;
	struct sweep_results r;
	make_results(&r, 2, true);
	char *csv = sweepio_csv(&r);
	assert_non_null(csv);
	int lines = 0;
	for (char *p = csv; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 1 + N_LAYERS * 2);
	assert_non_null(strstr(csv, "\"/a,b/Conv\","));
	assert_non_null(strstr(csv, "\"/l1/\"\"q\"\"/Conv\","));
	assert_true(strncmp(csv, "node,op,params,macs,precision,local_sqnr_db,", 44) == 0);
	free(csv);
	sweep_results_fini(&r);
}

static void test_interaction(void **state)
{
	(void)state;
	struct sweep_results r;
	make_results(&r, 2, true);
	struct sweep_row *w = &r.rows[0];
	/* isolate loses 2 points (+-0.3), remove recovers 4 (+-0.4): compounding */
	w->cell[0].iso.delta = -0.02;
	w->cell[0].iso.ci_lo = -0.023;
	w->cell[0].iso.ci_hi = -0.017;
	w->remove_gain.delta = 0.04;
	w->remove_gain.ci_lo = 0.036;
	w->remove_gain.ci_hi = 0.044;
	assert_int_equal(sweep_interaction(&r, w), 1);
	/* overlapping intervals: no flag */
	w->remove_gain.ci_lo = 0.0;
	assert_int_equal(sweep_interaction(&r, w), 0);
	/* apart but under half a point: no flag */
	w->remove_gain.delta = 0.024;
	w->remove_gain.ci_lo = 0.0235;
	w->remove_gain.ci_hi = 0.0245;
	w->cell[0].iso.delta = -0.02;
	w->cell[0].iso.ci_lo = -0.0201;
	w->cell[0].iso.ci_hi = -0.0199;
	assert_int_equal(sweep_interaction(&r, w), 0);
	/* masked: isolate loses 3, remove recovers nothing */
	w->cell[0].iso.delta = -0.03;
	w->cell[0].iso.ci_lo = -0.035;
	w->cell[0].iso.ci_hi = -0.025;
	w->remove_gain.delta = 0.0;
	w->remove_gain.ci_lo = -0.004;
	w->remove_gain.ci_hi = 0.004;
	assert_int_equal(sweep_interaction(&r, w), -1);
	w->has_remove = false;
	assert_int_equal(sweep_interaction(&r, w), 0);
	sweep_results_fini(&r);
}

/* ---- shards ---------------------------------------------------------------------------- */

static void test_shard_merge(void **state)
{
	(void)state;
	struct sweep_results r, sh[3], in[3], out;
	struct err e = { 0 };
	int k, n;
	assert_int_equal(sweep_parse_shard("2/3", &k, &n, &e), OK);
	assert_int_equal(k * 10 + n, 23);
	static const char *bad[] = { "0/3", "4/3", "3", "1/0", "a/b", "1/2x", "-1/2", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sweep_parse_shard(bad[i], &k, &n, &e), ERR_INVALID);

	make_results(&r, 3, false);
	char *whole = sweepio_json(&r);
	int total = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sweep_results_shard(&sh[i], &r, i + 1, 3, &e), OK);
		total += sh[i].n_rows;
		char path[512];
		snprintf(path, sizeof path, "%s/shard%d.json", tmpdir, i + 1);
		char *t = sweepio_json(&sh[i]);
		write_text(path, t);
		free(t);
		if (sweepio_read_json(path, &in[i], &e))
			fail_msg("%s", e.msg);
	}
	assert_int_equal(total, N_LAYERS);
	/* any order */
	struct sweep_results order[3] = { in[2], in[0], in[1] };
	if (sweepio_merge(order, 3, &out, &e))
		fail_msg("%s", e.msg);
	char *merged = sweepio_json(&out);
	assert_string_equal(whole, merged);
	free(merged);
	sweep_results_fini(&out);

	/* incomplete, duplicated, foreign */
	assert_int_equal(sweepio_merge(in, 2, &out, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "missing 3/3"));
	struct sweep_results dup[3] = { in[0], in[1], in[1] };
	assert_int_equal(sweepio_merge(dup, 3, &out, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "both shard 2/3"));
	char keep = in[1].model_sha[0];
	in[1].model_sha[0] = keep == 'a' ? 'b' : 'a';
	assert_int_equal(sweepio_merge(in, 3, &out, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "model"));
	in[1].model_sha[0] = keep;
	snprintf(in[2].cand_key[1], sizeof in[2].cand_key[1], "other");
	assert_int_equal(sweepio_merge(in, 3, &out, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "candidate list"));
	/* a shard holding a layer of another */
	struct sweep_results whole_r;
	assert_int_equal(sweep_results_copy(&whole_r, &r, &e), OK);
	whole_r.shard_k = 1;
	whole_r.shard_n = 3;
	struct sweep_results mix[3] = { whole_r, in[1], in[2] };
	assert_int_equal(sweepio_merge(mix, 3, &out, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "another shard"));
	/* a whole sweep is no shard */
	whole_r.shard_n = 0;
	assert_int_equal(sweepio_merge(&whole_r, 1, &out, &e), ERR_INVALID);
	sweep_results_fini(&whole_r);
	for (int i = 0; i < 3; i++) {
		sweep_results_fini(&sh[i]);
		sweep_results_fini(&in[i]);
	}
	free(whole);
	sweep_results_fini(&r);
}

/* ---- the persisted cache ------------------------------------------------------------------ */

/* An empty copy: same rows and settings, no results. */
static void blank(struct sweep_results *dst, const struct sweep_results *src)
{
	struct err e;
	assert_int_equal(sweep_results_copy(dst, src, &e), OK);
	for (int i = 0; i < dst->n_rows; i++) {
		memset(dst->rows[i].cell, 0, sizeof dst->rows[i].cell);
		dst->rows[i].has_remove = dst->rows[i].has_base_iso = false;
	}
	dst->has_base = dst->has_fp32 = false;
}

static int count_results(const struct sweep_results *r)
{
	int n = r->has_base;
	for (int i = 0; i < r->n_rows; i++) {
		n += r->rows[i].has_remove + r->rows[i].has_base_iso;
		for (int c = 0; c < r->n_cands; c++)
			n += r->rows[i].cell[c].has_local + r->rows[i].cell[c].has_iso;
	}
	return n;
}

static void test_cache_round_trip_and_keys(void **state)
{
	(void)state;
	struct sweep_results r, b;
	struct err e = { 0 };
	char dir[512], path[1024], notice[SWEEP_NOTICE_MAX];
	snprintf(dir, sizeof dir, "%s/cache/nested", tmpdir);
	make_results(&r, 4, false);
	sweepio_cache_path(dir, r.model_sha, r.data_sha, path, sizeof path);
	blank(&b, &r);
	assert_int_equal(sweepio_cache_load(path, &b, notice), 0); /* missing: no notice */
	assert_string_equal(notice, "");
	if (sweepio_cache_save(path, &r, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(sweepio_cache_load(path, &b, notice), count_results(&r));
	assert_string_equal(notice, "");
	same_results(&r, &b);
	sweep_results_fini(&b);

	/* a new base: remove results and the base run go, the rest stays */
	blank(&b, &r);
	snprintf(b.base, sizeof b.base, "w4a8");
	snprintf(b.base_key, sizeof b.base_key, "%s", r.cand_key[1]);
	b.base_cand = 1;
	int n = sweepio_cache_load(path, &b, notice);
	assert_false(b.has_base);
	for (int i = 0; i < b.n_rows; i++) {
		assert_false(b.rows[i].has_remove);
		for (int c = 0; c < 4; c++)
			assert_int_equal(b.rows[i].cell[c].has_iso, r.rows[i].cell[c].has_iso);
	}
	int removes = r.has_base;
	for (int i = 0; i < r.n_rows; i++)
		removes += r.rows[i].has_remove;
	assert_int_equal(n, count_results(&r) - removes);
	sweep_results_fini(&b);

	/* another candidate list: the shared candidates keep their cells */
	blank(&b, &r);
	snprintf(b.cand[1], sizeof b.cand[1], "int8/pt");
	snprintf(b.cand_key[1], sizeof b.cand_key[1], "key-int8-pt");
	sweepio_cache_load(path, &b, notice);
	for (int i = 0; i < b.n_rows; i++) {
		assert_int_equal(b.rows[i].cell[0].has_iso, r.rows[i].cell[0].has_iso);
		assert_false(b.rows[i].cell[1].has_iso);
		assert_false(b.rows[i].cell[1].has_local);
		assert_int_equal(b.rows[i].cell[2].has_local, r.rows[i].cell[2].has_local);
	}
	/* results of that setting are added; the old ones stay in the file */
	b.rows[0].cell[1].has_iso = true;
	b.rows[0].cell[1].iso = r.rows[0].cell[0].iso;
	assert_int_equal(sweepio_cache_save(path, &b, &e), OK);
	sweep_results_fini(&b);
	blank(&b, &r);
	assert_int_equal(sweepio_cache_load(path, &b, notice), count_results(&r));
	same_results(&r, &b);
	sweep_results_fini(&b);
	sweep_results_fini(&r);
}

/* Results persisted under an older simulation semantics (SIM_SEMANTICS) carry
 * other keys, so a sweep of today's settings reuses none of them. */
static void test_cache_key_has_sim_revision(void **state)
{
	(void)state;
	struct precision p;
	struct err e = { 0 };
	char key[SWEEP_KEY_MAX], want[64], dir[512], path[1024], notice[SWEEP_NOTICE_MAX];
	assert_int_equal(precision_preset("int8", &p, &e), OK);
	sweep_prec_key(&p, 512, 64, key, sizeof key);
	snprintf(want, sizeof want, " sim=%d|", SIM_SEMANTICS);
	if (!strstr(key, want))
		fail_msg("key '%s' lacks '%s'", key, want);
	/* revision 1 wrote no sim= field: this is what its int8 key looked like */
	static const char old[] = "w=int8 a=uint8 g=per-channel sym=0 acal=minmax wcal=minmax|cs=512|b=64";
	assert_string_not_equal(key, old);
	/* fp32 simulates nothing: its key (and its cached results) stay valid */
	assert_int_equal(precision_preset("fp32", &p, &e), OK);
	sweep_prec_key(&p, 512, 64, key, sizeof key);
	assert_string_equal(key, "fp32|b=64");

	/* a cache written with revision-1 keys is not reused for today's */
	struct sweep_results r, b;
	make_results(&r, 1, true);
	snprintf(r.cand_key[0], sizeof r.cand_key[0], "%s", old);
	snprintf(r.base_key, sizeof r.base_key, "%s", old);
	snprintf(dir, sizeof dir, "%s/cache-rev", tmpdir);
	sweepio_cache_path(dir, r.model_sha, r.data_sha, path, sizeof path);
	if (sweepio_cache_save(path, &r, &e))
		fail_msg("%s", e.msg);
	blank(&b, &r);
	assert_int_equal(precision_preset("int8", &p, &e), OK);
	sweep_prec_key(&p, 512, 64, b.cand_key[0], sizeof b.cand_key[0]);
	sweep_prec_key(&p, 512, 64, b.base_key, sizeof b.base_key);
	assert_int_equal(sweepio_cache_load(path, &b, notice), 0);
	assert_int_equal(count_results(&b), 0);
	sweep_results_fini(&b);
	/* while the same keys are reused (the test above can fail) */
	blank(&b, &r);
	assert_int_equal(sweepio_cache_load(path, &b, notice), count_results(&r));
	sweep_results_fini(&b);
	sweep_results_fini(&r);
}

static void expect_ignored(const char *path, const struct sweep_results *r, const char *why)
{
	struct sweep_results b;
	char notice[SWEEP_NOTICE_MAX];
	blank(&b, r);
	assert_int_equal(sweepio_cache_load(path, &b, notice), 0);
	assert_int_equal(count_results(&b), 0);
	assert_false(b.has_fp32);
	if (!strstr(notice, "ignored") || !strstr(notice, why))
		fail_msg("notice '%s' lacks '%s'", notice, why);
	sweep_results_fini(&b);
}

static void test_cache_corrupt_or_stale(void **state)
{
	(void)state;
	struct sweep_results r;
	struct err e = { 0 };
	char path[1024];
	make_results(&r, 2, true);
	sweepio_cache_path(tmpdir, r.model_sha, r.data_sha, path, sizeof path);
	assert_int_equal(sweepio_cache_save(path, &r, &e), OK);
	char *good = read_text(path);
	size_t len = strlen(good);

	/* one digit changed in a figure */
	char *t = strdup(good);
	char *p = strstr(t, "\"top1\":0.9");
	assert_non_null(p);
	p[10] = p[10] == '1' ? '2' : '1';
	write_text(path, t);
	expect_ignored(path, &r, "");
	/* truncated */
	memcpy(t, good, len + 1);
	t[len / 2] = 0;
	write_text(path, t);
	expect_ignored(path, &r, "not valid JSON");
	/* garbage */
	write_text(path, "\x01\x02 not json at all");
	expect_ignored(path, &r, "not valid JSON");
	/* another version: stale */
	memcpy(t, good, len + 1);
	p = strstr(t, "9.9.9");
	assert_non_null(p);
	p[0] = '8';
	write_text(path, t);
	expect_ignored(path, &r, "stale");
	/* a version with a control character: quoted in the notice as printable text */
	memcpy(t, good, len + 1);
	p = strstr(t, "9.9.9");
	assert_non_null(p);
	memcpy(p, "\\b9.9", 5); /* JSON \b: a backspace in the version string */
	write_text(path, t);
	{
		struct sweep_results b;
		char notice[SWEEP_NOTICE_MAX];
		blank(&b, &r);
		assert_int_equal(sweepio_cache_load(path, &b, notice), 0);
		assert_non_null(strstr(notice, "stale"));
		for (const char *q = notice; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				fail_msg("control byte 0x%02x in the notice '%s'", (unsigned char)*q,
					 notice);
		sweep_results_fini(&b);
	}
	/* a checksum that is not the file's */
	memcpy(t, good, len + 1);
	p = strstr(t, "\"checksum\":\"");
	assert_non_null(p);
	p[12] = p[12] == '0' ? '1' : '0';
	write_text(path, t);
	expect_ignored(path, &r, "checksum");
	/* another model's file under this name */
	struct sweep_results other;
	assert_int_equal(sweep_results_copy(&other, &r, &e), OK);
	other.model_sha[5] = other.model_sha[5] == 'a' ? 'b' : 'a';
	assert_int_equal(sweepio_cache_save(path, &other, &e), OK);
	expect_ignored(path, &r, "another model");
	/* a node this model has not */
	free(other.rows[1].name);
	other.rows[1].name = strdup("/not/in/the/model");
	memcpy(other.model_sha, r.model_sha, sizeof other.model_sha);
	unlink(path);
	assert_int_equal(sweepio_cache_save(path, &other, &e), OK);
	expect_ignored(path, &r, "not/in/the/model");
	/* and a bad file is replaced by the next save */
	write_text(path, "garbage");
	assert_int_equal(sweepio_cache_save(path, &r, &e), OK);
	struct sweep_results b;
	char notice[SWEEP_NOTICE_MAX];
	blank(&b, &r);
	assert_int_equal(sweepio_cache_load(path, &b, notice), count_results(&r));
	sweep_results_fini(&b);
	sweep_results_fini(&other);
	free(t);
	free(good);
	sweep_results_fini(&r);
}

static void test_cache_dir(void **state)
{
	(void)state;
	char buf[512];
	struct err e = { 0 };
	assert_int_equal(sweepio_cache_dir("/x/y", buf, sizeof buf, &e), OK);
	assert_string_equal(buf, "/x/y");
	setenv("XDG_CACHE_HOME", "/xdg", 1);
	assert_int_equal(sweepio_cache_dir(NULL, buf, sizeof buf, &e), OK);
	assert_string_equal(buf, "/xdg/qlens");
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/u", 1);
	assert_int_equal(sweepio_cache_dir(NULL, buf, sizeof buf, &e), OK);
	assert_string_equal(buf, "/home/u/.cache/qlens");
	sweepio_cache_path("/d", "0123456789abcdef0123", "fedcba9876543210ffff", buf, sizeof buf);
	assert_string_equal(buf, "/d/0123456789abcdef-fedcba9876543210.json");
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/qlens-test-sweepio-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_file),
		cmocka_unit_test(test_json_keys_and_round_trip),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_interaction),
		cmocka_unit_test(test_shard_merge),
		cmocka_unit_test(test_cache_round_trip_and_keys),
		cmocka_unit_test(test_cache_key_has_sim_revision),
		cmocka_unit_test(test_cache_corrupt_or_stale),
		cmocka_unit_test(test_cache_dir),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
