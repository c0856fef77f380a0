/*
 * test_bundle.c - bundle.json reading, the data loaders, and the hostile bundle corpus.
 *
 * The corpus lives in tests/hostile/bundle/ (made by make_bundle_corpus.py):
 * ok/ is a valid bundle with a tiny three-class linear model whose numbers are
 * checked here end to end, and every other folder is one case listed in
 * expected.txt with the status bundle_open must return and a piece of its
 * message.  A refused bundle must leave nothing allocated (struct bundle zeroed)
 * and name the folder in its message.  Cases git cannot hold or that would be
 * big are built in a temporary folder here: a 2 MB bundle.json, 100000 levels
 * of nesting, a FIFO, a symbolic link to /dev/zero, an unreadable file; so are
 * the .npy files for the loader tests (label count, label types).
 *
 * The corpus folder comes from argv[1] (meson passes it) or the environment
 * variable QLENS_BUNDLE_CORPUS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "exec.h"
#include "npy.h"

static const char *corpus;
static char tmpdir[256];

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A fresh folder under tmpdir. */
static char *tmp_folder(const char *name)
{
	char *p = path_in(tmpdir, name);
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", p, strerror(errno));
	return p;
}

static void want_open_err(const char *path, enum status code, const char *fragment)
{
	struct bundle b;
	struct err e = { 0 };
	enum status st = bundle_open(path, &b, &e);
	if (st == OK)
		bundle_fini(&b);
	if (st != code || !strstr(e.msg, fragment))
		fail_msg("%s: got %s '%s', want %s containing '%s'", path, status_str(st), e.msg,
			 status_str(code), fragment);
}

/* --- the corpus ------------------------------------------------------------------- */

struct expect {
	char folder[256];
	char status[32];
	char msg[512];
};

static int read_expected(struct expect **out)
{
	char *p = path_in(corpus, "expected.txt");
	FILE *f = fopen(p, "r");
	if (!f)
		fail_msg("cannot open %s: %s", p, strerror(errno));
	free(p);
	int n = 0, cap = 0;
	struct expect *v = NULL;
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, (size_t)cap * sizeof *v);
			assert_non_null(v);
		}
		struct expect *x = &v[n++];
		char *t1 = strchr(line, '\t');
		assert_non_null(t1);
		*t1 = '\0';
		char *t2 = strchr(t1 + 1, '\t');
		assert_non_null(t2);
		*t2 = '\0';
		snprintf(x->folder, sizeof x->folder, "%s", line);
		snprintf(x->status, sizeof x->status, "%s", t1 + 1);
		snprintf(x->msg, sizeof x->msg, "%s", t2 + 1);
	}
	fclose(f);
	*out = v;
	return n;
}

static const char *status_name(enum status s)
{
	static const char *const names[] = {
#define NAME_(name, text) #name,
		STATUS_LIST(NAME_)
#undef NAME_
	};
	return (unsigned)s < STATUS_COUNT ? names[s] : "?";
}

static void test_corpus(void **state)
{
	(void)state;
	struct expect *v;
	int n = read_expected(&v);
	int refused = 0;
	for (int i = 0; i < n; i++) {
		char *dir = path_in(corpus, v[i].folder);
		struct bundle b;
		struct err e = { 0 };
		enum status st = bundle_open(dir, &b, &e);
		if (strcmp(status_name(st), v[i].status) != 0)
			fail_msg("%s: got %s '%s', want %s", v[i].folder, status_name(st), e.msg,
				 v[i].status);
		if (st == OK) {
			assert_true(b.is_dir);
			assert_non_null(b.model_path);
			bundle_fini(&b);
		} else {
			refused++;
			if (!strstr(e.msg, v[i].msg))
				fail_msg("%s: '%s' does not contain '%s'", v[i].folder, e.msg, v[i].msg);
			/* the message names the bundle; nothing is left allocated */
			if (!strstr(e.msg, v[i].folder))
				fail_msg("%s: '%s' does not name the folder", v[i].folder, e.msg);
			assert_int_equal(e.code, st);
			assert_null(b.dir);
			assert_null(b.name);
			assert_null(b.model_path);
			assert_null(b.calib_path);
			bundle_fini(&b);
		}
		free(dir);
	}
	assert_true(refused >= 20);

	/* every folder of the corpus is listed, and every listed folder exists */
	DIR *d = opendir(corpus);
	assert_non_null(d);
	struct dirent *de;
	int folders = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = path_in(corpus, de->d_name);
		struct stat sb;
		assert_int_equal(stat(p, &sb), 0);
		free(p);
		if (!S_ISDIR(sb.st_mode))
			continue;
		folders++;
		int found = 0;
		for (int i = 0; i < n; i++)
			found += strcmp(v[i].folder, de->d_name) == 0;
		if (found != 1)
			fail_msg("folder %s is listed %d times in expected.txt", de->d_name, found);
	}
	closedir(d);
	assert_int_equal(folders, n);
	free(v);
}

/* Cases built at test time. */
static void test_generated(void **state)
{
	(void)state;
	char *model = path_in(corpus, "ok/model.onnx");
	char head[1024];
	int hn = snprintf(head, sizeof head,
			  "{\"format\": \"qlens-bundle\", \"version\": 1, \"model\": \"%s\", "
			  "\"description\": \"", model);

	/* bundle.json over the 1 MiB limit: refused before parsing */
	char *dir = tmp_folder("big");
	char *json = path_in(dir, "bundle.json");
	size_t big = 2u << 20;
	char *text = malloc(big);
	assert_non_null(text);
	memset(text, 'a', big);
	memcpy(text, head, (size_t)hn);
	memcpy(text + big - 3, "\"}\n", 3);
	write_file(json, text, big);
	want_open_err(dir, ERR_LIMIT, "over the 1048576-byte limit");
	/* exactly 1 MiB is still fine */
	size_t lim = 1u << 20;
	memcpy(text + lim - 3, "\"}\n", 3);
	write_file(json, text, lim);
	struct bundle b;
	struct err e = { 0 };
	if (bundle_open(dir, &b, &e))
		fail_msg("1 MiB bundle.json: %s", e.msg);
	assert_int_equal(strlen(b.description), lim - 3 - (size_t)hn);
	bundle_fini(&b);
	free(json);
	free(dir);

	/* 100000 levels of nesting, arrays and objects: refused cleanly, no stack overflow */
	for (int kind = 0; kind < 2; kind++) {
		dir = tmp_folder(kind ? "deep_objects" : "deep_arrays");
		json = path_in(dir, "bundle.json");
		const char *open = kind ? "{\"a\":" : "[", *close = kind ? "}" : "]";
		size_t depth = 100000, lo = strlen(open), lc = strlen(close);
		size_t len = (size_t)hn + depth * (lo + lc) + 8;
		char *t = malloc(len);
		assert_non_null(t);
		size_t at = 0;
		at += (size_t)snprintf(t, len, "{\"format\": \"qlens-bundle\", \"x\": ");
		for (size_t i = 0; i < depth; i++, at += lo)
			memcpy(t + at, open, lo);
		for (size_t i = 0; i < depth; i++, at += lc)
			memcpy(t + at, close, lc);
		t[at++] = '}';
		write_file(json, t, at);
		want_open_err(dir, ERR_FORMAT, "invalid JSON near line 1");
		free(t);
		free(json);
		free(dir);
	}

	/* a FIFO must not block; a link to /dev/zero is not read */
	dir = tmp_folder("fifo");
	json = path_in(dir, "bundle.json");
	unlink(json);
	assert_int_equal(mkfifo(json, 0644), 0);
	want_open_err(dir, ERR_IO, "not a regular file");
	free(json);
	free(dir);
	dir = tmp_folder("devzero");
	json = path_in(dir, "bundle.json");
	unlink(json);
	assert_int_equal(symlink("/dev/zero", json), 0);
	want_open_err(dir, ERR_IO, "not a regular file");
	free(json);
	free(dir);

	/* unreadable (meaningless for root, who reads anything) */
	dir = tmp_folder("unreadable");
	json = path_in(dir, "bundle.json");
	write_file(json, head, (size_t)hn);
	chmod(json, 0);
	if (geteuid() != 0)
		want_open_err(dir, ERR_IO, "Permission denied");
	chmod(json, 0644);
	free(json);
	free(dir);

	/* an absolute model path works from anywhere */
	dir = tmp_folder("absolute");
	json = path_in(dir, "bundle.json");
	hn = snprintf(head, sizeof head,
		      "{\"format\": \"qlens-bundle\", \"version\": 1, \"model\": \"%s\"}", model);
	write_file(json, head, (size_t)hn);
	if (bundle_open(dir, &b, &e))
		fail_msg("absolute model path: %s", e.msg);
	assert_string_equal(b.model_path, model);
	assert_string_equal(b.name, "absolute");
	bundle_fini(&b);
	free(json);
	free(dir);
	free(text);
	free(model);
}

/* --- the valid bundle ------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_open_ok(void **state)
{
	(void)state;
	char *dir = path_in(corpus, "ok");
	struct bundle b;
	struct err e = { 0 };
	if (bundle_open(dir, &b, &e))
		fail_msg("%s", e.msg);
	assert_true(b.is_dir);
	assert_string_equal(b.dir, dir);
	assert_string_equal(b.name, "tiny");
	assert_string_equal(b.description, "three-class linear model on four features");
	assert_true(ends_with(b.model_path, "/ok/model.onnx"));
	assert_string_equal(b.input_name, "x");
	assert_true(ends_with(b.calib_path, "/ok/calib.npy"));
	assert_true(ends_with(b.eval_path, "/ok/eval.npy"));
	assert_true(ends_with(b.labels_path, "/ok/labels.npy"));
	assert_null(b.ref_logits_path);
	assert_string_equal(b.task, "classification");
	assert_string_equal(b.metric, "top1");
	assert_string_equal(b.preprocessing, "none");
	assert_true(b.fp32_top1_eval == 0.5);
	assert_true(b.fp32_top1_test == 0.25);

	/* the model, the data, and the model's top-1 on the data */
	struct graph *g = NULL;
	if (bundle_load_model(&b, &g, &e))
		fail_msg("%s", e.msg);
	int idx = -1;
	assert_int_equal(bundle_input_index(&b, g, &idx, &e), OK);
	assert_int_equal(idx, 0);
	struct tensor calib, x, labels;
	assert_int_equal(bundle_load_calib(&b, &calib, &e), OK);
	assert_int_equal(calib.dtype, DT_FLOAT);
	assert_int_equal(calib.shape.rank, 2);
	assert_int_equal(calib.shape.dim[0], 8);
	for (int i = 0; i < 32; i++)
		assert_true(((float *)calib.data)[i] == (float)i / 10.0f);
	if (bundle_load_eval(&b, &x, &labels, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(x.shape.dim[0], 6);
	assert_int_equal(labels.dtype, DT_INT64);
	static const int64_t want_labels[6] = { 2, 0, 1, 2, 2, 1 };
	assert_memory_equal(labels.data, want_labels, sizeof want_labels);
	struct runner *r = NULL;
	struct tensor out = { 0 };
	assert_int_equal(runner_new(g, 1, 4, &r, &e), OK);
	if (runner_run(r, &x, &out, &e))
		fail_msg("%s", e.msg);
	const float *lg = out.data;
	int correct = 0;
	for (int i = 0; i < 6; i++) {
		/* logits = (x0 + 0.5, x1 - 0.5, x2) with x = 4i .. 4i+3 */
		assert_true(lg[i * 3 + 0] == 4.0f * (float)i + 0.5f);
		assert_true(lg[i * 3 + 1] == 4.0f * (float)i + 0.5f);
		assert_true(lg[i * 3 + 2] == 4.0f * (float)i + 2.0f);
		correct += want_labels[i] == 2;
	}
	assert_true((double)correct / 6 == b.fp32_top1_eval);
	tensor_fini(&out);
	runner_free(r);
	tensor_fini(&calib);
	tensor_fini(&x);
	tensor_fini(&labels);

	/* an input the model does not have */
	free(b.input_name);
	b.input_name = strdup("pixels");
	assert_int_equal(bundle_input_index(&b, g, &idx, &e), ERR_GRAPH);
	assert_string_equal(e.msg, "tiny: the model has no input named 'pixels'");
	graph_free(g);
	bundle_fini(&b);
	bundle_fini(&b); /* twice is harmless */
	bundle_fini(NULL);

	/* a trailing slash does not change the name */
	char *slash = path_in(dir, "");
	assert_int_equal(bundle_open(slash, &b, &e), OK);
	assert_string_equal(b.name, "tiny");
	bundle_fini(&b);
	char *mini = path_in(corpus, "ok_minimal/");
	assert_int_equal(bundle_open(mini, &b, &e), OK);
	assert_string_equal(b.name, "ok_minimal");
	bundle_fini(&b);
	free(mini);
	free(slash);
	free(dir);
}

static void test_open_variants(void **state)
{
	(void)state;
	struct bundle b;
	struct err e = { 0 };
	/* non-ASCII names; the model path given with a \u escape */
	char *dir = path_in(corpus, "ok_unicode_\xc3\xa9\xe6\xa8\xa1\xe5\x9e\x8b");
	if (bundle_open(dir, &b, &e))
		fail_msg("%s", e.msg);
	assert_string_equal(b.name, "\xe3\x83\x95\xe3\x82\xa1\xe3\x83\x83\xe3\x82\xb7\xe3\x83\xa7"
				    "\xe3\x83\xb3 \xf0\x9f\xa7\xaa");
	assert_true(ends_with(b.model_path, "/mod\xc3\xa8le.onnx"));
	struct graph *g = NULL;
	if (bundle_load_model(&b, &g, &e))
		fail_msg("%s", e.msg);
	graph_free(g);
	bundle_fini(&b);
	free(dir);

	/* '..' is allowed: bundles share data folders */
	dir = path_in(corpus, "ok_dotdot");
	assert_int_equal(bundle_open(dir, &b, &e), OK);
	assert_true(ends_with(b.ref_logits_path, "/ok_dotdot/../ok/../ok/eval.npy"));
	assert_true(ends_with(b.calib_path, "/ok_dotdot/../ok/calib.npy"));
	bundle_fini(&b);
	free(dir);

	/* an escaped backslash before "u0000" is text, not an escaped NUL */
	dir = path_in(corpus, "ok_escaped_backslash");
	assert_int_equal(bundle_open(dir, &b, &e), OK);
	assert_string_equal(b.description, "C:\\u0000");
	bundle_fini(&b);
	free(dir);

	/* minimal: only the model; the loaders say what is missing */
	dir = path_in(corpus, "ok_minimal");
	assert_int_equal(bundle_open(dir, &b, &e), OK);
	assert_string_equal(b.name, "ok_minimal");
	assert_null(b.calib_path);
	assert_null(b.task);
	assert_true(b.fp32_top1_eval < 0);
	assert_true(b.fp32_top1_test < 0);
	struct tensor x, labels;
	assert_int_equal(bundle_load_calib(&b, &x, &e), ERR_INVALID);
	assert_string_equal(e.msg, "ok_minimal: no calibration data (give --calib FILE.npy)");
	assert_int_equal(bundle_load_eval(&b, &x, &labels, &e), ERR_INVALID);
	assert_string_equal(e.msg, "ok_minimal: no evaluation data (give --eval FILE.npy)");
	char *eval = path_in(corpus, "ok/eval.npy");
	assert_int_equal(bundle_set_data(&b, NULL, eval, NULL, &e), OK);
	assert_int_equal(bundle_load_eval(&b, &x, &labels, &e), ERR_INVALID);
	assert_string_equal(e.msg, "ok_minimal: no labels (give --labels FILE.npy)");
	bundle_fini(&b);
	free(eval);
	free(dir);

	/* a bare model file is a bundle without data */
	char *model = path_in(corpus, "ok/model.onnx");
	assert_int_equal(bundle_open(model, &b, &e), OK);
	assert_false(b.is_dir);
	assert_string_equal(b.name, "model.onnx");
	assert_string_equal(b.model_path, model);
	assert_true(ends_with(b.dir, "/ok"));
	assert_null(b.calib_path);
	assert_null(b.input_name);
	assert_int_equal(bundle_load_calib(&b, &x, &e), ERR_INVALID);
	assert_string_equal(e.msg, "model.onnx: no calibration data (give --calib FILE.npy)");
	bundle_fini(&b);
	free(model);

	/* not there; neither folder nor file */
	dir = path_in(corpus, "no_such_bundle");
	want_open_err(dir, ERR_IO, "no_such_bundle: No such file or directory");
	free(dir);
	want_open_err("/dev/null", ERR_FORMAT, "/dev/null: neither a bundle folder nor a model file");

	/* no model named */
	memset(&b, 0, sizeof b);
	b.name = "nothing";
	struct graph *g2 = NULL;
	assert_int_equal(bundle_load_model(&b, &g2, &e), ERR_INVALID);
	assert_string_equal(e.msg, "nothing: the bundle names no model");
}

/* --- data files ---------------------------------------------------------------------- */

static char *write_npy(const char *name, enum dtype dt, int rank, const int64_t *dims,
		       const void *data)
{
	char *p = path_in(tmpdir, name);
	struct shape s = shape_make(rank, dims);
	struct tensor t = tensor_view(dt, &s, (void *)data);
	struct err e = { 0 };
	if (npy_write(p, &t, &e))
		fail_msg("npy_write %s: %s", p, e.msg);
	return p;
}

/* Open ok_minimal and set its data files; labels as given. */
static void open_with(struct bundle *b, const char *eval, const char *labels)
{
	struct err e = { 0 };
	char *dir = path_in(corpus, "ok_minimal");
	assert_int_equal(bundle_open(dir, b, &e), OK);
	if (bundle_set_data(b, NULL, eval, labels, &e))
		fail_msg("bundle_set_data: %s", e.msg);
	free(dir);
}

static void want_eval_err(const char *eval, const char *labels, enum status code,
			  const char *fragment)
{
	struct bundle b;
	struct err e = { 0 };
	struct tensor x = { 0 }, l = { 0 };
	open_with(&b, eval, labels);
	enum status st = bundle_load_eval(&b, &x, &l, &e);
	if (st != code || !strstr(e.msg, fragment))
		fail_msg("got %s '%s', want %s containing '%s'", status_str(st), e.msg,
			 status_str(code), fragment);
	assert_null(x.data);
	bundle_fini(&b);
}

static void test_load_eval(void **state)
{
	(void)state;
	char *eval = path_in(corpus, "ok/eval.npy");
	static const int64_t l5[5] = { 0, 1, 2, 0, 1 };
	static const float lf[6] = { 0, 1, 2, 0, 1, 2 };
	static const int64_t l61[6] = { 0, 1, 2, 0, 1, 2 };
	char *p5 = write_npy("labels5.npy", DT_INT64, 1, (const int64_t[]){ 5 }, l5);
	char *pf = write_npy("labelsf.npy", DT_FLOAT, 1, (const int64_t[]){ 6 }, lf);
	char *p2d = write_npy("labels2d.npy", DT_INT64, 2, (const int64_t[]){ 6, 1 }, l61);
	char *p0d = write_npy("labels0d.npy", DT_INT64, 0, NULL, l61);
	want_eval_err(eval, p5, ERR_SHAPE, "labels5.npy: 5 labels for 6 evaluation samples");
	want_eval_err(eval, pf, ERR_FORMAT, "labelsf.npy: labels must be integers, not float32");
	want_eval_err(eval, p2d, ERR_SHAPE, "labels2d.npy: labels must be a 1-D array");
	want_eval_err(eval, p0d, ERR_SHAPE, "labels0d.npy: labels must be a 1-D array");

	/* every integer type is fine and read exactly */
	static const int8_t i8[6] = { 0, 1, 2, 3, 4, 5 };
	static const uint8_t u8[6] = { 0, 1, 2, 3, 4, 255 };
	static const int16_t i16[6] = { 0, 1, 2, 3, 4, 1000 };
	static const uint16_t u16[6] = { 0, 1, 2, 3, 4, 65535 };
	static const int32_t i32[6] = { 0, 1, 2, 3, 4, 100000 };
	static const uint32_t u32[6] = { 0, 1, 2, 3, 4, 4000000000u };
	static const uint64_t u64[6] = { 0, 1, 2, 3, 4, 5 };
	static const struct {
		enum dtype dt;
		const void *data;
		int64_t last;
	} types[] = {
		{ DT_INT8, i8, 5 },      { DT_UINT8, u8, 255 },   { DT_INT16, i16, 1000 },
		{ DT_UINT16, u16, 65535 }, { DT_INT32, i32, 100000 }, { DT_UINT32, u32, 4000000000 },
		{ DT_UINT64, u64, 5 },   { DT_INT64, l61, 2 },
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "labels_%s.npy", dtype_name(types[i].dt));
		char *p = write_npy(name, types[i].dt, 1, (const int64_t[]){ 6 }, types[i].data);
		struct bundle b;
		struct err e = { 0 };
		struct tensor x, l;
		open_with(&b, eval, p);
		if (bundle_load_eval(&b, &x, &l, &e))
			fail_msg("%s labels: %s", dtype_name(types[i].dt), e.msg);
		assert_int_equal(l.dtype, DT_INT64);
		assert_int_equal(((int64_t *)l.data)[1], 1);
		assert_int_equal(((int64_t *)l.data)[5], types[i].last);
		tensor_fini(&x);
		tensor_fini(&l);
		bundle_fini(&b);
		free(p);
	}
	/* uint64 labels beyond int64 are refused, not wrapped to negative */
	static const uint64_t huge[6] = { 0, 1, 2, 3, 4, UINT64_MAX };
	char *ph = write_npy("labels_huge.npy", DT_UINT64, 1, (const int64_t[]){ 6 }, huge);
	want_eval_err(eval, ph, ERR_FORMAT, "labels_huge.npy: label 18446744073709551615");
	free(ph);
	static const uint8_t bools[6] = { 0, 1, 1, 0, 1, 0 };
	char *pb = write_npy("labels_bool.npy", DT_BOOL, 1, (const int64_t[]){ 6 }, bools);
	want_eval_err(eval, pb, ERR_FORMAT, "labels must be integers, not bool");
	free(pb);

	/* evaluation data of another type is converted to float32 */
	static uint8_t img[12];
	for (int i = 0; i < 12; i++)
		img[i] = (uint8_t)(i * 20);
	char *pu8 = write_npy("eval_u8.npy", DT_UINT8, 2, (const int64_t[]){ 6, 2 }, img);
	struct bundle b;
	struct err e = { 0 };
	struct tensor x, l;
	open_with(&b, pu8, p2d);
	/* 2-D labels refused: the data tensor is freed too */
	assert_int_equal(bundle_load_eval(&b, &x, &l, &e), ERR_SHAPE);
	bundle_fini(&b);
	char *p6 = write_npy("labels6.npy", DT_INT64, 1, (const int64_t[]){ 6 }, l61);
	open_with(&b, pu8, p6);
	assert_int_equal(bundle_load_eval(&b, &x, &l, &e), OK);
	assert_int_equal(x.dtype, DT_FLOAT);
	assert_true(((float *)x.data)[11] == 220.0f);
	tensor_fini(&x);
	tensor_fini(&l);

	/* files that vanish after opening: the loader's I/O error names them */
	char *gone = write_npy("gone.npy", DT_INT64, 1, (const int64_t[]){ 6 }, l61);
	assert_int_equal(bundle_set_data(&b, NULL, NULL, gone, &e), OK);
	unlink(gone);
	assert_int_equal(bundle_load_eval(&b, &x, &l, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "gone.npy"));
	assert_non_null(strstr(e.msg, "No such file or directory"));
	bundle_fini(&b);
	/* the scalar is not a sample set */
	static const float sc[1] = { 1 };
	char *ps = write_npy("calib_scalar.npy", DT_FLOAT, 0, NULL, sc);
	open_with(&b, NULL, NULL);
	assert_int_equal(bundle_set_data(&b, ps, NULL, NULL, &e), OK);
	assert_int_equal(bundle_load_calib(&b, &x, &e), ERR_SHAPE);
	assert_non_null(strstr(e.msg, "calibration data must have a leading sample dimension"));
	bundle_fini(&b);

	free(ps);
	free(gone);
	free(p6);
	free(pu8);
	free(p5);
	free(pf);
	free(p2d);
	free(p0d);
	free(eval);
}

static void test_set_data(void **state)
{
	(void)state;
	struct bundle b;
	struct err e = { 0 };
	char *dir = path_in(corpus, "ok");
	assert_int_equal(bundle_open(dir, &b, &e), OK);
	char *old = strdup(b.calib_path);
	char *missing = path_in(tmpdir, "missing.npy");
	assert_int_equal(bundle_set_data(&b, missing, NULL, NULL, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "missing.npy"));
	assert_non_null(strstr(e.msg, "No such file or directory"));
	assert_string_equal(b.calib_path, old); /* unchanged */
	/* a folder is not a data file, and the message says so (not a stale errno) */
	assert_int_equal(bundle_set_data(&b, NULL, tmpdir, NULL, &e), ERR_FORMAT);
	assert_non_null(strstr(e.msg, "is not a regular file"));
	assert_non_null(strstr(e.msg, "evaluation data"));
	assert_int_equal(bundle_set_data(&b, NULL, NULL, missing, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "labels"));
	/* NULL leaves everything as it is; a real file replaces */
	assert_int_equal(bundle_set_data(&b, NULL, NULL, NULL, &e), OK);
	assert_string_equal(b.calib_path, old);
	char *eval = path_in(corpus, "ok/eval.npy");
	assert_int_equal(bundle_set_data(&b, eval, NULL, NULL, &e), OK);
	assert_string_equal(b.calib_path, eval);
	struct tensor t;
	assert_int_equal(bundle_load_calib(&b, &t, &e), OK);
	assert_int_equal(t.shape.dim[0], 6);
	tensor_fini(&t);
	bundle_fini(&b);
	free(eval);
	free(missing);
	free(old);
	free(dir);
}

/* --- setup ------------------------------------------------------------------------------ */

static void rm_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d))) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				char *p = path_in(path, de->d_name);
				rm_tree(p);
				free(p);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/qlens-test-bundle-XXXXXX", base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rm_tree(tmpdir);
	return 0;
}

int main(int argc, char **argv)
{
	const char *arg = argc > 1 ? argv[1] : getenv("QLENS_BUNDLE_CORPUS");
	/* absolute, so that paths written into temporary bundles resolve from anywhere */
	char *abs = arg ? realpath(arg, NULL) : NULL;
	if (!abs) {
		fprintf(stderr, "usage: %s CORPUS_DIR (tests/hostile/bundle)\n", argv[0]);
		return 2;
	}
	corpus = abs;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_open_ok),
		cmocka_unit_test(test_open_variants),
		cmocka_unit_test(test_load_eval),
		cmocka_unit_test(test_set_data),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	free(abs);
	return failed;
}
