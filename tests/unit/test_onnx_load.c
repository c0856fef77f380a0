/*
 * test_onnx_load.c - the ONNX loader and its wire-format pre-check.
 *
 * Positive cases load the small models in tests/hostile/onnx/valid/ (made by
 * tests/hostile/make_onnx_corpus.py with python3-onnx) and compare every
 * constant, attribute, name and shape with the values the generator wrote.
 * The hostile corpus is driven by tests/hostile/onnx/expected.txt: each file
 * must be refused, quickly, with a message that starts with the file's path
 * and contains the expected text.  Cases git cannot store (symbolic links,
 * hard links, FIFOs) are built in a temporary folder here, and so are the
 * big ones (10 MB of empty nodes or initializers) and the exact-depth cases,
 * which are encoded byte by byte with the small protobuf writer below.
 *
 * The corpus folder comes from argv[1] (meson passes it) or the environment
 * variable QLENS_ONNX_CORPUS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "onnx_load.h"
#include "onnx_wire.h"

static const char *corpus;

/* a hostile load must be refused in well under this (the 10 MB budget cases
 * take about 0.6 s on an idle machine; the rest a few milliseconds) */
#define MAX_SECONDS 2.0
#define MAX_SECONDS_BIG 5.0

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static struct graph *load_ok(const char *rel)
{
	char *p = path_in(corpus, rel);
	struct graph *g = NULL;
	struct err e = { 0 };
	enum status st = onnx_load_file(p, &g, &e);
	if (st)
		fail_msg("%s: %s", rel, e.msg);
	free(p);
	assert_non_null(g);
	return g;
}

/* Load path, expect failure with `want` in the message and the path first. */
static void expect_refused(const char *path, const char *want)
{
	struct graph *g = (struct graph *)1;
	struct err e = { 0 };
	double t0 = now();
	enum status st = onnx_load_file(path, &g, &e);
	double dt = now() - t0;
	if (st == OK)
		fail_msg("%s: loaded, expected '%s'", path, want);
	assert_null(g);
	assert_int_equal(e.code, st);
	if (!strstr(e.msg, want))
		fail_msg("%s:\n  got  '%s'\n  want '%s'", path, e.msg, want);
	if (strncmp(e.msg, path, strlen(path)) != 0 || strncmp(e.msg + strlen(path), ": ", 2) != 0)
		fail_msg("message does not start with the file name: '%s'", e.msg);
	if (dt > MAX_SECONDS)
		fail_msg("%s took %.2f s", path, dt);
	for (const char *c = e.msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			fail_msg("control character 0x%02x in '%s'", (unsigned char)*c, e.msg);
}

static const struct value *value(const struct graph *g, const char *name)
{
	int vi = graph_find_value(g, name);
	if (vi < 0)
		fail_msg("no value '%s'", name);
	return &g->values[vi];
}

static const struct tensor *constant(const struct graph *g, const char *name, enum dtype dt,
				     int rank, const int64_t *dims)
{
	const struct value *v = value(g, name);
	assert_int_equal(v->kind, VAL_CONST);
	assert_int_equal(v->constant.dtype, dt);
	assert_int_equal(v->dtype, dt);
	assert_int_equal(v->constant.shape.rank, rank);
	for (int i = 0; i < rank; i++)
		assert_int_equal(v->constant.shape.dim[i], dims[i]);
	assert_non_null(v->constant.data);
	assert_int_equal(v->constant.nbytes, (size_t)shape_numel(&v->constant.shape) * dtype_size(dt));
	return &v->constant;
}

/* ---- a tiny protobuf writer ------------------------------------------------ */

struct pb {
	uint8_t *p;
	size_t n, cap;
};

static void pb_put(struct pb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	pb_put(b, tmp, n);
}

static void pb_tag(struct pb *b, unsigned field, unsigned wt) { pb_varint(b, field << 3 | wt); }

static void pb_int(struct pb *b, unsigned field, uint64_t v)
{
	pb_tag(b, field, 0);
	pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *d, size_t n)
{
	pb_tag(b, field, 2);
	pb_varint(b, n);
	pb_put(b, d, n);
}

static void pb_str(struct pb *b, unsigned field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

/* Append `inner` as a sub-message and free it. */
static void pb_msg(struct pb *b, unsigned field, struct pb *inner)
{
	pb_bytes(b, field, inner->p, inner->n);
	free(inner->p);
	*inner = (struct pb){ 0 };
}

/* ModelProto { ir_version: 8, opset_import { version: 13 }, graph: <graph> } */
static struct pb model_with_graph(struct pb *graph)
{
	struct pb m = { 0 }, os = { 0 };
	pb_int(&m, 1, 8);
	pb_int(&os, 2, 13);
	pb_msg(&m, 8, &os);
	pb_msg(&m, 7, graph);
	return m;
}

static enum status load_mem(const struct pb *m, struct err *e)
{
	struct graph *g = NULL;
	enum status st = onnx_load_buffer(m->p, m->n, "mem.onnx", NULL, &g, e);
	graph_free(g);
	return st;
}

/* ---- positive loads ------------------------------------------------------- */

static const int64_t d23[] = { 2, 3 };

static void check_dtypes(const struct graph *g, bool raw)
{
	const float f32[] = { 0.5f, -1.25f, 3.0f, 1e-3f, -0.0f, 65504.0f };
	assert_memory_equal(constant(g, "f32", DT_FLOAT, 2, d23)->data, f32, sizeof f32);
	const double f64[] = { 0.1, -2.5, 1e300, -1e-300, 7.0, 8.0 };
	assert_memory_equal(constant(g, "f64", DT_DOUBLE, 2, d23)->data, f64, sizeof f64);
	const uint16_t f16[] = { 0x3c00, 0xc000, 0x3800, 0x7bff, 0xb400, 0x4200 };
	const struct tensor *t = constant(g, "f16", DT_FLOAT16, 2, d23);
	assert_memory_equal(t->data, f16, sizeof f16);
	assert_true(half_to_float(((const uint16_t *)t->data)[3]) == 65504.0f);
	const uint16_t bf16[] = { 0x3f80, 0xc000, 0x3f00, 0x4040, 0xbe80, 0x7e97 };
	t = constant(g, "bf16", DT_BFLOAT16, 2, d23);
	assert_memory_equal(t->data, bf16, sizeof bf16);
	assert_true(bf16_to_float(((const uint16_t *)t->data)[4]) == -0.25f);
	const int64_t i64[] = { 1, -2, (int64_t)1 << 62, -((int64_t)1 << 62), 0, 7 };
	assert_memory_equal(constant(g, "i64", DT_INT64, 2, d23)->data, i64, sizeof i64);
	const int32_t i32[] = { 1, -2, INT32_MAX, INT32_MIN, 0, 7 };
	assert_memory_equal(constant(g, "i32", DT_INT32, 2, d23)->data, i32, sizeof i32);
	const int16_t i16[] = { 1, -2, 32767, -32768, 0, 7 };
	assert_memory_equal(constant(g, "i16", DT_INT16, 2, d23)->data, i16, sizeof i16);
	const int8_t i8[] = { 1, -2, 127, -128, 0, 7 };
	assert_memory_equal(constant(g, "i8", DT_INT8, 2, d23)->data, i8, sizeof i8);
	const uint8_t u8[] = { 1, 2, 255, 128, 0, 7 };
	assert_memory_equal(constant(g, "u8", DT_UINT8, 2, d23)->data, u8, sizeof u8);
	const uint16_t u16[] = { 1, 2, 65535, 32768, 0, 7 };
	assert_memory_equal(constant(g, "u16", DT_UINT16, 2, d23)->data, u16, sizeof u16);
	const uint32_t u32[] = { 1, 2, UINT32_MAX, 1u << 31, 0, 7 };
	assert_memory_equal(constant(g, "u32", DT_UINT32, 2, d23)->data, u32, sizeof u32);
	const uint64_t u64[] = { 1, 2, UINT64_MAX, (uint64_t)1 << 63, 0, 7 };
	assert_memory_equal(constant(g, "u64", DT_UINT64, 2, d23)->data, u64, sizeof u64);
	const uint8_t b[] = { 1, 0, 1, 1, 0, 0 };
	assert_memory_equal(constant(g, "bool", DT_BOOL, 2, d23)->data, b, sizeof b);

	/* 4-bit types are stored one element per byte, int4 sign-extended */
	const int64_t d5[] = { 5 }, d3[] = { 3 };
	const int8_t i4[] = { -1, -8, 1, 7, 3 };
	assert_memory_equal(constant(g, "i4", DT_INT4, 1, d5)->data, i4, sizeof i4);
	if (raw) {
		const uint8_t u4[] = { 0, 15, 9 };
		assert_memory_equal(constant(g, "u4", DT_UINT4, 1, d3)->data, u4, sizeof u4);
		const uint8_t f8[] = { 0x38, 0xb8, 0x00, 0x7e, 0x01, 0x40 };
		assert_memory_equal(constant(g, "f8", DT_FLOAT8E4M3FN, 2, d23)->data, f8, sizeof f8);
	}
	t = constant(g, "scalar", DT_FLOAT, 0, NULL);
	assert_true(*(const float *)t->data == 42.0f);
	const int64_t d03[] = { 0, 3 };
	t = constant(g, "empty", DT_FLOAT, 2, d03);
	assert_int_equal(t->nbytes, 0);

	/* the graph around them */
	assert_int_equal(g->n_inputs, 1);
	assert_string_equal(g->values[g->inputs[0]].name, "x");
	assert_int_equal(g->n_outputs, 1);
	assert_int_equal(g->n_nodes, 1);
	assert_string_equal(g->nodes[0].name, "relu");
	assert_int_equal(g->nodes[0].op, OP_RELU);
	assert_int_equal(g->opset, 13);
	assert_int_equal(g->ir_version, 8);
	assert_string_equal(g->producer_name, "qlens-corpus");
	assert_string_equal(g->name, "g");
}

static void test_dtypes_typed_fields(void **state)
{
	(void)state;
	struct graph *g = load_ok("valid/dtypes_typed.onnx");
	check_dtypes(g, false);
	graph_free(g);
}

static void test_dtypes_raw_data(void **state)
{
	(void)state;
	struct graph *g = load_ok("valid/dtypes_raw.onnx");
	check_dtypes(g, true);
	graph_free(g);
}

static void test_constant_nodes(void **state)
{
	(void)state;
	struct graph *g = load_ok("valid/constants.onnx");
	/* the five Constant nodes are gone; Relu and Identity remain */
	assert_int_equal(g->n_nodes, 2);
	const int64_t d22[] = { 2, 2 }, d3[] = { 3 }, d4[] = { 4 };
	const float tv[] = { 1.0f, -2.0f, 3.0f, -4.0f };
	assert_memory_equal(constant(g, "c_tensor", DT_FLOAT, 2, d22)->data, tv, sizeof tv);
	assert_true(*(const float *)constant(g, "c_float", DT_FLOAT, 0, NULL)->data == 2.5f);
	const float fs[] = { 1.5f, -0.5f, 2.0f };
	assert_memory_equal(constant(g, "c_floats", DT_FLOAT, 1, d3)->data, fs, sizeof fs);
	assert_int_equal(*(const int64_t *)constant(g, "c_int", DT_INT64, 0, NULL)->data, -7);
	const int64_t is[] = { 3, -4, 5, 6 };
	assert_memory_equal(constant(g, "c_ints", DT_INT64, 1, d4)->data, is, sizeof is);
	/* a constant can be a graph output */
	assert_true(value(g, "c_float")->is_output);
	assert_int_equal(g->n_outputs, 3);
	assert_int_equal(g->n_inputs, 0);
	const struct node *relu = &g->nodes[graph_find_node(g, "relu")];
	assert_int_equal(relu->inputs[0], graph_find_value(g, "c_tensor"));
	graph_free(g);
}

static void test_initializer_listed_as_input(void **state)
{
	(void)state;
	struct graph *g = load_ok("valid/init_as_input.onnx");
	assert_int_equal(g->n_inputs, 1);
	const struct value *x = &g->values[g->inputs[0]];
	assert_string_equal(x->name, "x");
	assert_int_equal(x->kind, VAL_INPUT);
	assert_int_equal(x->dtype, DT_FLOAT);
	assert_int_equal(x->shape.rank, 2);
	assert_int_equal(x->shape.dim[0], -1); /* "N" */
	assert_int_equal(x->shape.dim[1], 3);
	const int64_t d3[] = { 3 };
	const float w[] = { 1, 2, 3 };
	assert_memory_equal(constant(g, "w", DT_FLOAT, 1, d3)->data, w, sizeof w);
	const struct value *y = value(g, "y");
	assert_int_equal(y->kind, VAL_INTERMEDIATE);
	assert_true(y->is_output);
	assert_int_equal(y->shape.dim[0], -1);
	graph_free(g);
}

static void test_unnamed_and_unsorted_nodes(void **state)
{
	(void)state;
	struct graph *g = load_ok("valid/unnamed_unsorted.onnx");
	assert_int_equal(g->n_nodes, 4);
	/* sorted: x -Relu-> a -Identity-> b -Relu-> c -Identity-> d */
	const char *order[] = { "dup_2", "dup", "Relu_0", "Relu_0_3" };
	const char *ops[] = { "Relu", "Identity", "Relu", "Identity" };
	const char *outs[] = { "a", "b", "c", "d" };
	for (int i = 0; i < 4; i++) {
		assert_string_equal(g->nodes[i].name, order[i]);
		assert_string_equal(g->nodes[i].op_type, ops[i]);
		assert_string_equal(g->values[g->nodes[i].outputs[0]].name, outs[i]);
		assert_int_equal(g->values[g->nodes[i].outputs[0]].producer, i);
	}
	/* value_info declared a and b */
	assert_int_equal(value(g, "a")->dtype, DT_FLOAT);
	assert_int_equal(value(g, "a")->shape.rank, 1);
	assert_int_equal(value(g, "c")->dtype, DT_UNDEFINED);
	assert_int_equal(value(g, "c")->shape.rank, -1);
	graph_free(g);
}

static void test_attributes(void **state)
{
	(void)state;
	struct graph *g = load_ok("valid/attrs.onnx");
	const struct node *n = &g->nodes[0];
	assert_int_equal(n->n_attrs, 9);
	const struct attr *a = node_attr(n, "af");
	assert_int_equal(a->type, ATTR_FLOAT);
	assert_true(a->f == 0.25f);
	int64_t iv;
	assert_int_equal(node_attr_int(n, "ai", 0, &iv, NULL), OK);
	assert_int_equal(iv, -3);
	a = node_attr(n, "as");
	assert_int_equal(a->type, ATTR_STRING);
	assert_string_equal(a->s, "hello");
	assert_int_equal(a->s_len, 5);
	a = node_attr(n, "at");
	assert_int_equal(a->type, ATTR_TENSOR);
	assert_int_equal(a->t.dtype, DT_INT32);
	const int32_t tv[] = { 5, -6 };
	assert_memory_equal(a->t.data, tv, sizeof tv);
	assert_int_equal(node_attr(n, "ag")->type, ATTR_GRAPH);
	const float *fv;
	int cnt;
	assert_int_equal(node_attr_floats(n, "afs", &fv, &cnt, NULL), OK);
	assert_int_equal(cnt, 2);
	assert_true(fv[0] == 1.0f && fv[1] == 2.0f);
	const int64_t *ints;
	assert_int_equal(node_attr_ints(n, "ais", &ints, &cnt, NULL), OK);
	assert_int_equal(cnt, 3);
	assert_int_equal(ints[2], 9);
	a = node_attr(n, "ass");
	assert_int_equal(a->type, ATTR_STRINGS);
	assert_int_equal(a->n, 2);
	assert_string_equal(a->strings[1], "bc");
	/* INTS with no ints is kept as an empty list */
	assert_int_equal(node_attr_ints(n, "empty_ints", &ints, &cnt, NULL), OK);
	assert_int_equal(cnt, 0);
	/* wrong type is caught by the getter, naming the attribute */
	struct err e = { 0 };
	assert_int_equal(node_attr_ints(n, "af", &ints, &cnt, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "'af'"));
	graph_free(g);
}

static void test_external_data_inside_folder(void **state)
{
	(void)state;
	const float want[] = { -2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f };
	const char *models[] = { "valid/ext/model.onnx", "valid/ext/whole.onnx" };
	for (int i = 0; i < 2; i++) {
		struct graph *g = load_ok(models[i]);
		assert_memory_equal(constant(g, "w", DT_FLOAT, 2, d23)->data, want, sizeof want);
		graph_free(g);
	}
}

static void *read_corpus_file(const char *rel, size_t *len)
{
	char *p = path_in(corpus, rel);
	FILE *f = fopen(p, "rb");
	free(p);
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	void *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void test_buffer_refuses_external_data(void **state)
{
	(void)state;
	size_t len;
	void *buf = read_corpus_file("valid/ext/model.onnx", &len);
	struct graph *g = NULL;
	struct err e = { 0 };
	assert_int_equal(onnx_load_buffer(buf, len, "net.onnx", NULL, &g, &e), ERR_UNSUPPORTED);
	assert_null(g);
	assert_string_equal(e.msg, "net.onnx: initializer 'w': external data cannot be used when "
				   "the model is loaded from memory");
	/* with the folder given it loads */
	char *dir = path_in(corpus, "valid/ext");
	assert_int_equal(onnx_load_buffer(buf, len, "net.onnx", dir, &g, &e), OK);
	graph_free(g);
	free(dir);
	free(buf);
}

/* ---- the hostile corpus --------------------------------------------------- */

struct expect {
	char file[128];
	char msg[384];
	char tag[16];
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
		memset(x, 0, sizeof *x);
		char *t1 = strchr(line, '\t');
		assert_non_null(t1);
		*t1 = '\0';
		char *t2 = strchr(t1 + 1, '\t');
		if (t2) {
			*t2 = '\0';
			snprintf(x->tag, sizeof x->tag, "%s", t2 + 1);
		}
		snprintf(x->file, sizeof x->file, "%s", line);
		snprintf(x->msg, sizeof x->msg, "%s", t1 + 1);
	}
	fclose(f);
	*out = v;
	return n;
}

static const struct expect *find_expected(const struct expect *v, int n, const char *file)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].file, file) == 0)
			return &v[i];
	fail_msg("%s is not in expected.txt", file);
	return NULL;
}

static void test_hostile_corpus(void **state)
{
	(void)state;
	struct expect *v;
	int n = read_expected(&v);
	int checked = 0;
	for (int i = 0; i < n; i++) {
		char *p = path_in(corpus, v[i].file);
		if (!v[i].tag[0]) {
			expect_refused(p, v[i].msg);
			checked++;
		} else if (strcmp(v[i].tag, "plan") == 0) {
			/* the loader keeps these; the planner refuses them.  Until the op
			 * exists, graph_finalize refuses it as unsupported. */
			struct graph *g = NULL;
			struct err e = { 0 };
			if (onnx_load_file(p, &g, &e) != OK)
				assert_non_null(strstr(e.msg, "is not supported"));
			graph_free(g);
		}
		free(p);
	}
	free(v);
	assert_true(checked >= 40);
}

static void copy_file(const char *from, const char *to)
{
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	assert_non_null(a);
	assert_non_null(b);
	char buf[4096];
	size_t k;
	while ((k = fread(buf, 1, sizeof buf, a)) > 0)
		assert_int_equal(fwrite(buf, 1, k, b), k);
	fclose(a);
	assert_int_equal(fclose(b), 0);
}

static void write_file(const char *path, const void *d, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Remove what test_links_fifo_and_odd_files made (a flat list of names). */
static void cleanup_dir(const char *dir, const char *const *names, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		char *p = path_in(dir, names[i]);
		if (unlink(p) != 0)
			rmdir(p);
		free(p);
	}
	rmdir(dir);
}

/*
 * Symbolic links (as the file and as a parent folder), hard links and FIFOs
 * next to a copy of the model.  Every link target is inside the folder and
 * holds valid data, so only the link itself can be the reason for refusal.
 */
static void test_links_fifo_and_odd_files(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/qlens-onnx-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	/* removed in reverse order at the end */
	const char *names[] = { "real.bin",	    "ext_sym.bin",	  "real_dir",
				"real_dir/inner.bin", "ext_linkdir",	  "ext_hard.bin",
				"hard_twin.bin",    "ext_fifo.bin",	  "ext_symlink.onnx",
				"ext_parent_symlink.onnx", "ext_hardlink.onnx", "ext_fifo.onnx",
				"whole.onnx",	    "whole.bin",	  "model_fifo.onnx",
				"model_dir.onnx", "huge.onnx" };
	const int n_names = (int)(sizeof names / sizeof names[0]);
	float data[6] = { 0, 1, 2, 3, 4, 5 };
	char *p;

	p = path_in(dir, "real.bin");
	write_file(p, data, sizeof data);
	free(p);
	char *sym = path_in(dir, "ext_sym.bin");
	assert_int_equal(symlink("real.bin", sym), 0);
	free(sym);
	p = path_in(dir, "real_dir");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = path_in(dir, "real_dir/inner.bin");
	write_file(p, data, sizeof data);
	free(p);
	p = path_in(dir, "ext_linkdir");
	assert_int_equal(symlink("real_dir", p), 0);
	free(p);
	char *hard = path_in(dir, "ext_hard.bin"), *twin = path_in(dir, "hard_twin.bin");
	write_file(hard, data, sizeof data);
	assert_int_equal(link(hard, twin), 0);
	free(hard);
	free(twin);
	p = path_in(dir, "ext_fifo.bin");
	assert_int_equal(mkfifo(p, 0600), 0);
	free(p);

	struct expect *v;
	int n = read_expected(&v);
	const char *cases[] = { "ext_symlink.onnx", "ext_parent_symlink.onnx", "ext_hardlink.onnx",
				"ext_fifo.onnx" };
	for (int i = 0; i < 4; i++) {
		const struct expect *x = find_expected(v, n, cases[i]);
		assert_string_equal(x->tag, "setup");
		char *from = path_in(corpus, cases[i]), *to = path_in(dir, cases[i]);
		copy_file(from, to);
		expect_refused(to, x->msg); /* the FIFO must not block either */
		free(from);
		free(to);
	}
	free(v);

	/* the same folder with a plain file works (so the refusals above are not
	 * about the folder itself) */
	char *from = path_in(corpus, "valid/ext/whole.onnx"), *to = path_in(dir, "whole.onnx");
	copy_file(from, to);
	free(from);
	p = path_in(dir, "whole.bin");
	write_file(p, data, sizeof data);
	free(p);
	struct graph *g = NULL;
	struct err e = { 0 };
	assert_int_equal(onnx_load_file(to, &g, &e), OK);
	assert_memory_equal(constant(g, "w", DT_FLOAT, 2, d23)->data, data, sizeof data);
	graph_free(g);
	free(to);

	/* the model file itself: a FIFO and a folder are refused without blocking */
	p = path_in(dir, "model_fifo.onnx");
	assert_int_equal(mkfifo(p, 0600), 0);
	expect_refused(p, "not a regular file");
	free(p);
	p = path_in(dir, "model_dir.onnx");
	assert_int_equal(mkdir(p, 0755), 0);
	expect_refused(p, "not a regular file");
	free(p);
	p = path_in(dir, "missing.onnx");
	expect_refused(p, "No such file or directory");
	free(p);
	/* larger than ONNX_MAX_FILE_BYTES (a sparse file: no disk space used) */
	p = path_in(dir, "huge.onnx");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)ONNX_MAX_FILE_BYTES + 1), 0);
	close(fd);
	expect_refused(p, "the file is 2147483649 bytes; the limit is 2048 MB");
	free(p);

	cleanup_dir(dir, names, n_names);
}

/* ---- size budget and nesting --------------------------------------------- */

/* ModelProto whose graph holds `count` copies of an empty sub-message in field `field`. */
static struct pb empty_children(unsigned field, size_t count)
{
	struct pb graph = { 0 };
	uint8_t pair[2] = { (uint8_t)(field << 3 | 2), 0 };
	graph.p = malloc(count * 2);
	assert_non_null(graph.p);
	for (size_t i = 0; i < count; i++)
		memcpy(graph.p + 2 * i, pair, 2);
	graph.n = graph.cap = count * 2;
	return model_with_graph(&graph);
}

static void test_budget_empty_nodes_and_initializers(void **state)
{
	(void)state;
	/* 10 MB of empty NodeProtos (field 1) and of empty TensorProtos (field 5) */
	const unsigned fields[] = { 1, 5 };
	for (int i = 0; i < 2; i++) {
		struct pb m = empty_children(fields[i], (size_t)5 << 20);
		assert_true(m.n > (size_t)10 << 20);
		struct err e = { 0 };
		double t0 = now();
		assert_int_equal(load_mem(&m, &e), ERR_LIMIT);
		double dt = now() - t0;
		assert_string_equal(e.msg, "mem.onnx: the model needs more than 160 MB to decode");
		if (dt > MAX_SECONDS_BIG)
			fail_msg("budget refusal took %.2f s", dt);
		free(m.p);
	}
	/* below the 64 MB floor the same shape decodes and fails on content */
	struct pb m = empty_children(1, 1000);
	struct err e = { 0 };
	assert_int_equal(load_mem(&m, &e), ERR_FORMAT);
	assert_string_equal(e.msg, "mem.onnx: node '_0': has no op_type");
	free(m.p);
}

/* Input 'x' whose TypeProto is `seqs` sequence types deep, ending in an empty
 * TypeProto or a tensor type.  Depth: Model 1, Graph 2, ValueInfo 3, Type 4,
 * then +2 per sequence, +1 for the tensor type. */
static struct pb nested_types(int seqs, bool tensor)
{
	struct pb t = { 0 };
	if (tensor) {
		struct pb tt = { 0 };
		pb_int(&tt, 1, 1);
		pb_msg(&t, 1, &tt);
	}
	for (int i = 0; i < seqs; i++) {
		struct pb seq = { 0 }, outer = { 0 };
		pb_msg(&seq, 1, &t);
		pb_msg(&outer, 4, &seq);
		t = outer;
	}
	struct pb vi = { 0 }, graph = { 0 };
	pb_str(&vi, 1, "x");
	pb_msg(&vi, 2, &t);
	pb_msg(&graph, 11, &vi);
	return model_with_graph(&graph);
}

static void test_depth_limit_exact(void **state)
{
	(void)state;
	struct err e = { 0 };
	/* depth 64: passes the scan, protobuf-c decodes it, the loader refuses the type */
	struct pb m = nested_types(30, false);
	assert_int_equal(onnx_wire_check(m.p, m.n, ONNX_MAX_DEPTH, &e), OK);
	assert_int_equal(load_mem(&m, &e), ERR_UNSUPPORTED);
	assert_string_equal(e.msg, "mem.onnx: graph input 'x': is a sequence; only tensors are "
				   "supported");
	free(m.p);
	/* depth 65 */
	m = nested_types(30, true);
	assert_int_equal(onnx_wire_check(m.p, m.n, ONNX_MAX_DEPTH, &e), ERR_LIMIT);
	assert_non_null(strstr(e.msg, "nested more than 64 deep"));
	assert_int_equal(load_mem(&m, &e), ERR_LIMIT);
	free(m.p);
	/* very deep: 5000 sequence levels (10000 messages); the scan is iterative */
	m = nested_types(5000, true);
	double t0 = now();
	assert_int_equal(load_mem(&m, &e), ERR_LIMIT);
	assert_true(now() - t0 < MAX_SECONDS);
	free(m.p);
}

static void test_wire_scan(void **state)
{
	(void)state;
	struct err e = { 0 };
	/* largest 64-bit varint is fine; one more bit is not */
	const uint8_t max64[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	assert_int_equal(onnx_wire_check(max64, sizeof max64, 64, &e), OK);
	const uint8_t over[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	assert_int_equal(onnx_wire_check(over, sizeof over, 64, &e), ERR_FORMAT);
	assert_string_equal(e.msg, "byte 0: field 1: malformed or truncated varint");
	/* fixed32/fixed64 and an opaque string field */
	const uint8_t fixed[] = { 0x0d, 1, 2, 3, 4, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x12, 2, 'h', 'i' };
	assert_int_equal(onnx_wire_check(fixed, sizeof fixed, 64, &e), OK);
	const uint8_t fixed32_short[] = { 0x0d, 1, 2, 3 };
	assert_int_equal(onnx_wire_check(fixed32_short, sizeof fixed32_short, 64, &e), ERR_FORMAT);
	assert_string_equal(e.msg, "byte 0: field 1: truncated 4-byte value");
	/* a sub-message's field must end inside it, not inside its parent */
	const uint8_t spill[] = { 0x3a, 0x02, 0x0a, 0x02, 0x00, 0x00 };
	assert_int_equal(onnx_wire_check(spill, sizeof spill, 64, &e), ERR_FORMAT);
	assert_string_equal(e.msg, "byte 2: field 1: length 2 runs past the end of its message");
	/* the same bytes in an opaque field (ModelProto.producer_name) are fine */
	const uint8_t opaque[] = { 0x12, 0x04, 0x0a, 0x09, 0xff, 0x07 };
	assert_int_equal(onnx_wire_check(opaque, sizeof opaque, 64, &e), OK);
	/* field numbers above 2^29 - 1 do not fit a tag */
	const uint8_t bigtag[] = { 0x80, 0x80, 0x80, 0x80, 0x20, 0x00 };
	assert_int_equal(onnx_wire_check(bigtag, sizeof bigtag, 64, &e), ERR_FORMAT);
	assert_string_equal(e.msg, "byte 0: invalid field number");
	assert_int_equal(onnx_wire_check(max64, 0, 64, &e), OK);
}

/* A chain of 100000 unnamed Relu nodes, and 100000 nodes all named "a":
 * linear time (names are made unique without quadratic probing). */
static void test_many_nodes_fast(void **state)
{
	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		const int count = 100000;
		struct pb graph = { 0 };
		char in[32], out[32];
		for (int i = 0; i < count; i++) {
			struct pb node = { 0 };
			snprintf(in, sizeof in, i ? "v%d" : "x", i);
			snprintf(out, sizeof out, "v%d", i + 1);
			pb_str(&node, 1, in);
			pb_str(&node, 2, out);
			if (variant)
				pb_str(&node, 3, "a");
			pb_str(&node, 4, "Relu");
			pb_msg(&graph, 1, &node);
		}
		struct pb vi = { 0 }, type = { 0 }, tt = { 0 };
		pb_int(&tt, 1, 1);
		pb_msg(&type, 1, &tt);
		pb_str(&vi, 1, "x");
		pb_msg(&vi, 2, &type);
		pb_msg(&graph, 11, &vi);
		snprintf(out, sizeof out, "v%d", count);
		struct pb vo = { 0 };
		pb_str(&vo, 1, out);
		pb_msg(&graph, 12, &vo);
		struct pb m = model_with_graph(&graph);
		struct graph *g = NULL;
		struct err e = { 0 };
		double t0 = now();
		assert_int_equal(onnx_load_buffer(m.p, m.n, "chain.onnx", NULL, &g, &e), OK);
		double dt = now() - t0;
		if (dt > MAX_SECONDS_BIG)
			fail_msg("100000 nodes took %.2f s", dt);
		assert_int_equal(g->n_nodes, count);
		assert_string_equal(g->nodes[0].name, variant ? "a" : "Relu_0");
		assert_string_equal(g->nodes[count - 1].name, variant ? "a_100000" : "Relu_99999");
		graph_free(g);
		free(m.p);
	}
}

static void test_label_and_null_err(void **state)
{
	(void)state;
	struct graph *g = NULL;
	struct err e = { 0 };
	assert_int_equal(onnx_load_buffer("", 0, NULL, NULL, &g, &e), ERR_FORMAT);
	assert_string_equal(e.msg, "<memory>: the file is empty (not an ONNX model)");
	/* err may be NULL */
	const uint8_t bad[] = { 0x0f };
	assert_int_equal(onnx_load_buffer(bad, sizeof bad, "x", NULL, &g, NULL), ERR_FORMAT);
	assert_null(g);
}

int main(int argc, char **argv)
{
	corpus = argc > 1 ? argv[1] : getenv("QLENS_ONNX_CORPUS");
	if (!corpus) {
		fprintf(stderr, "usage: %s CORPUS_DIR (or set QLENS_ONNX_CORPUS)\n", argv[0]);
		return 2;
	}
	if (getenv("QLENS_TEST_FILTER"))
		cmocka_set_test_filter(getenv("QLENS_TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtypes_typed_fields),
		cmocka_unit_test(test_dtypes_raw_data),
		cmocka_unit_test(test_constant_nodes),
		cmocka_unit_test(test_initializer_listed_as_input),
		cmocka_unit_test(test_unnamed_and_unsorted_nodes),
		cmocka_unit_test(test_attributes),
		cmocka_unit_test(test_external_data_inside_folder),
		cmocka_unit_test(test_buffer_refuses_external_data),
		cmocka_unit_test(test_hostile_corpus),
		cmocka_unit_test(test_links_fifo_and_odd_files),
		cmocka_unit_test(test_budget_empty_nodes_and_initializers),
		cmocka_unit_test(test_depth_limit_exact),
		cmocka_unit_test(test_wire_scan),
		cmocka_unit_test(test_many_nodes_fast),
		cmocka_unit_test(test_label_and_null_err),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
