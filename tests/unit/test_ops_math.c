/*
 * test_ops_math.c - the "math" kernel family: broadcasting, binary arithmetic,
 * comparisons, logic, Where, unary math and activations, reductions and Cast.
 *
 * Ops are driven through their op_defs row as the executor drives them: prepare() on a
 * hand-built node and input tensors, outputs allocated at the prepared shapes, poisoned
 * scratch of the prepared size, then run().  Each case asserts known numbers; the
 * broadcast fast paths are cross-checked against a naive index-by-index loop, and one
 * test goes through plan_new / plan_run to cover constant folding.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec.h"
#include "graph.h"
#include "op.h"
#include "ops/broadcast.h"
#include "tensor.h"

/* --- building nodes and running ops -------------------------------------------- */

#define MAX_ATTRS 8

struct tnode {
	struct node node;
	struct attr attrs[MAX_ATTRS];
	int64_t ints[MAX_ATTRS][8];
};

static void tn_init(struct tnode *t, const char *op_type)
{
	memset(t, 0, sizeof *t);
	t->node.name = "n0";
	t->node.op_type = op_type;
	t->node.domain = "";
	t->node.op = op_lookup(op_type);
	t->node.attrs = t->attrs;
	if (t->node.op == OP_COUNT)
		fail_msg("op %s is not registered", op_type);
}

static struct attr *tn_attr(struct tnode *t, const char *name, enum attr_type type)
{
	assert_true(t->node.n_attrs < MAX_ATTRS);
	struct attr *a = &t->attrs[t->node.n_attrs++];
	a->name = name;
	a->type = type;
	return a;
}

static void tn_int(struct tnode *t, const char *name, int64_t v)
{
	tn_attr(t, name, ATTR_INT)->i = v;
}

static void tn_float(struct tnode *t, const char *name, float v)
{
	tn_attr(t, name, ATTR_FLOAT)->f = v;
}

static void tn_str(struct tnode *t, const char *name, const char *v)
{
	struct attr *a = tn_attr(t, name, ATTR_STRING);
	a->s = v;
	a->s_len = strlen(v);
}

static void tn_ints(struct tnode *t, const char *name, int n, ...)
{
	int idx = t->node.n_attrs;
	struct attr *a = tn_attr(t, name, ATTR_INTS);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		t->ints[idx][i] = va_arg(ap, int);
	va_end(ap);
	a->n = n;
	a->ints = t->ints[idx];
}

static struct shape shp(int rank, ...)
{
	struct shape s = { .rank = rank };
	va_list ap;
	va_start(ap, rank);
	for (int i = 0; i < rank; i++)
		s.dim[i] = va_arg(ap, int);
	va_end(ap);
	return s;
}

static struct tensor ten(enum dtype t, struct shape s, const void *data)
{
	return tensor_view(t, &s, (void *)data);
}

struct result {
	int n_out;
	struct tensor out[2];
};

static void result_fini(struct result *r)
{
	for (int i = 0; i < r->n_out; i++)
		tensor_fini(&r->out[i]);
}

static enum status run_op_opset(const struct tnode *t, int64_t opset,
				const struct tensor *const *in, int n_in, struct result *r,
				struct err *e)
{
	memset(r, 0, sizeof *r);
	r->n_out = 1;
	const struct op_def *d = &op_defs[t->node.op];
	struct step s = { .node = &t->node, .opset = opset };
	struct tensor *outp[1] = { &r->out[0] };
	err_clear(e);
	enum status st = d->prepare(&s, in, n_in, outp, 1, e);
	if (st) {
		free(s.params);
		return st;
	}
	struct shape sh = r->out[0].shape;
	assert_int_equal(tensor_alloc(&r->out[0], r->out[0].dtype, &sh, e), OK);
	void *scratch = NULL;
	if (s.scratch_bytes) {
		scratch = aligned_alloc(64, (s.scratch_bytes + 63) & ~(size_t)63);
		assert_non_null(scratch);
		memset(scratch, 0x7f, s.scratch_bytes);
	}
	st = d->run(&s, in, n_in, outp, 1, scratch, e);
	free(scratch);
	free(s.params);
	return st;
}

/* Run at opset 17 and require success. */
static void run_ok(const struct tnode *t, const struct tensor *const *in, int n_in,
		   struct result *r)
{
	struct err e;
	enum status st = run_op_opset(t, 17, in, n_in, r, &e);
	if (st)
		fail_msg("%s: %s", status_str(st), e.msg);
}

static void run_ok_opset(const struct tnode *t, int64_t opset, const struct tensor *const *in,
			 int n_in, struct result *r)
{
	struct err e;
	enum status st = run_op_opset(t, opset, in, n_in, r, &e);
	if (st)
		fail_msg("%s: %s", status_str(st), e.msg);
}

static void expect_err(const struct tnode *t, int64_t opset, const struct tensor *const *in,
		       int n_in, enum status code, const char *substr)
{
	struct err e;
	struct result r;
	enum status st = run_op_opset(t, opset, in, n_in, &r, &e);
	result_fini(&r);
	if (st != code || !strstr(e.msg, substr))
		fail_msg("got %s '%s', expected %s containing '%s'", status_str(st), e.msg,
			 status_str(code), substr);
}

static void expect_shp(const struct shape *got, struct shape want)
{
	char a[96], b[96];
	if (!shape_equal(got, &want))
		fail_msg("shape %s, expected %s", shape_str(got, a, sizeof a),
			 shape_str(&want, b, sizeof b));
}

static void expect_shape(const struct tensor *t, struct shape want)
{
	expect_shp(&t->shape, want);
}

static void expect_f(const struct tensor *t, const float *want, int64_t n, float tol)
{
	assert_int_equal(t->dtype, DT_FLOAT);
	assert_int_equal(tensor_numel(t), n);
	const float *got = t->data;
	for (int64_t i = 0; i < n; i++) {
		bool ok = isnan(want[i]) ? isnan(got[i])
			: isinf(want[i]) ? got[i] == want[i]
			: fabsf(got[i] - want[i]) <= tol * (1.0f + fabsf(want[i]));
		if (!ok)
			fail_msg("element %lld: got %.9g, expected %.9g", (long long)i,
				 (double)got[i], (double)want[i]);
	}
}

static void expect_i64(const struct tensor *t, const int64_t *want, int64_t n)
{
	assert_int_equal(t->dtype, DT_INT64);
	assert_int_equal(tensor_numel(t), n);
	const int64_t *got = t->data;
	for (int64_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("element %lld: got %lld, expected %lld", (long long)i,
				 (long long)got[i], (long long)want[i]);
}

static void expect_i32(const struct tensor *t, const int32_t *want, int64_t n)
{
	assert_int_equal(t->dtype, DT_INT32);
	assert_int_equal(tensor_numel(t), n);
	const int32_t *got = t->data;
	for (int64_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("element %lld: got %d, expected %d", (long long)i, got[i], want[i]);
}

static void expect_b(const struct tensor *t, const uint8_t *want, int64_t n)
{
	assert_int_equal(t->dtype, DT_BOOL);
	assert_int_equal(tensor_numel(t), n);
	const uint8_t *got = t->data;
	for (int64_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("element %lld: got %d, expected %d", (long long)i, got[i], want[i]);
}

/* One binary op on float tensors. */
static void bin_f(const char *op, struct shape sa, const float *a, struct shape sb,
		  const float *b, struct shape so, const float *want)
{
	struct tnode t;
	tn_init(&t, op);
	struct tensor ta = ten(DT_FLOAT, sa, a), tb = ten(DT_FLOAT, sb, b);
	const struct tensor *in[2] = { &ta, &tb };
	struct result r;
	run_ok(&t, in, 2, &r);
	expect_shape(&r.out[0], so);
	expect_f(&r.out[0], want, shape_numel(&so), 1e-6f);
	result_fini(&r);
}

static void bin_i64(const char *op, struct shape sa, const int64_t *a, struct shape sb,
		    const int64_t *b, struct shape so, const int64_t *want)
{
	struct tnode t;
	tn_init(&t, op);
	struct tensor ta = ten(DT_INT64, sa, a), tb = ten(DT_INT64, sb, b);
	const struct tensor *in[2] = { &ta, &tb };
	struct result r;
	run_ok(&t, in, 2, &r);
	expect_shape(&r.out[0], so);
	expect_i64(&r.out[0], want, shape_numel(&so));
	result_fini(&r);
}

static uint32_t rng_state = 12345;
static float frand(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* --- broadcasting ------------------------------------------------------------- */

static void test_bcast_shape(void **state)
{
	struct shape o;
	struct err e;
	struct shape a = shp(2, 2, 3), b = shp(1, 3);
	assert_int_equal(bcast_shape(&a, &b, &o, &e), OK);
	expect_shp(&o, shp(2, 2, 3));
	a = shp(3, 4, 1, 5), b = shp(2, 3, 1);
	assert_int_equal(bcast_shape(&a, &b, &o, &e), OK);
	expect_shp(&o, shp(3, 4, 3, 5));
	a = shp(0), b = shp(2, 2, 7);
	assert_int_equal(bcast_shape(&a, &b, &o, &e), OK);
	expect_shp(&o, shp(2, 2, 7));
	a = shp(1, 0), b = shp(2, 3, 1);
	assert_int_equal(bcast_shape(&a, &b, &o, &e), OK);
	expect_shp(&o, shp(2, 3, 0));
	a = shp(2, 2, 3), b = shp(1, 4);
	assert_int_equal(bcast_shape(&a, &b, &o, &e), ERR_SHAPE);
	assert_string_equal(e.msg, "shapes [2,3] and [4] cannot be broadcast");
	a = shp(1, 3), b = shp(1, 0);
	assert_int_equal(bcast_shape(&a, &b, &o, &e), ERR_SHAPE);

	const struct shape s1 = shp(2, 2, 1), s2 = shp(1, 3), s3 = shp(3, 4, 1, 1);
	const struct shape *three[3] = { &s1, &s2, &s3 };
	assert_int_equal(bcast_shape_n(three, 3, &o, &e), OK);
	expect_shp(&o, shp(3, 4, 2, 3));
	const struct shape s4 = shp(1, 5);
	three[2] = &s4;
	assert_int_equal(bcast_shape_n(three, 3, &o, &e), ERR_SHAPE);
	assert_non_null(strstr(e.msg, "input 2"));

	struct shape fi = shp(3, 1, 3, 1), fo = shp(4, 2, 4, 3, 5);
	assert_true(bcast_fits(&fi, &fo));
	assert_false(bcast_fits(&fo, &fi));
}

static void test_bcast_strides(void **state)
{
	int64_t st[TENSOR_MAX_RANK];
	struct shape in = shp(3, 1, 3, 1), out = shp(3, 2, 3, 4);
	bcast_strides(&in, &out, st);
	assert_int_equal(st[0], 0);
	assert_int_equal(st[1], 1);
	assert_int_equal(st[2], 0);
	in = shp(2, 3, 4), out = shp(4, 5, 2, 3, 4);
	bcast_strides(&in, &out, st);
	int64_t want[4] = { 0, 0, 4, 1 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(st[i], want[i]);
	in = shp(0), out = shp(2, 2, 2);
	bcast_strides(&in, &out, st);
	assert_int_equal(st[0], 0);
	assert_int_equal(st[1], 0);
}

static void test_bcast_iter_merging(void **state)
{
	struct bcast_iter it;
	/* [N,C,H,W] + [1,C,1,1] -> outer [N, C], run H*W */
	struct shape o = shp(4, 2, 3, 4, 5), c = shp(4, 1, 3, 1, 1);
	const struct shape *sh[2] = { &o, &c };
	bcast_iter_init(&it, &o, sh, 2);
	assert_int_equal(it.rank, 2);
	assert_int_equal(it.dim[0], 2);
	assert_int_equal(it.dim[1], 3);
	assert_int_equal(it.run, 20);
	assert_int_equal(it.run_stride[0], 1);
	assert_int_equal(it.run_stride[1], 0);
	assert_int_equal(it.stride[1][0], 0);
	assert_int_equal(it.stride[1][1], 1);
	assert_int_equal(it.n_runs, 6);
	/* [N,T,D] + [D] -> one outer dim N*T, run D */
	struct shape o2 = shp(3, 2, 7, 16), d = shp(1, 16);
	sh[0] = &o2, sh[1] = &d;
	bcast_iter_init(&it, &o2, sh, 2);
	assert_int_equal(it.rank, 1);
	assert_int_equal(it.dim[0], 14);
	assert_int_equal(it.run, 16);
	assert_int_equal(it.run_stride[1], 1);
	assert_int_equal(it.stride[1][0], 0);
	/* same shapes: one run */
	sh[1] = &o2;
	bcast_iter_init(&it, &o2, sh, 2);
	assert_int_equal(it.rank, 0);
	assert_int_equal(it.run, 2 * 7 * 16);
	assert_int_equal(it.n_runs, 1);
	/* empty output */
	struct shape z = shp(2, 3, 0);
	sh[0] = &z, sh[1] = &z;
	bcast_iter_init(&it, &z, sh, 2);
	assert_int_equal(it.n_runs, 0);
}

/* Naive broadcast Add for cross-checking; shapes right-aligned to rank 4. */
static void naive_add(const float *a, struct shape sa, const float *b, struct shape sb, float *y,
		      struct shape so)
{
	int64_t ast[TENSOR_MAX_RANK], bst[TENSOR_MAX_RANK];
	bcast_strides(&sa, &so, ast);
	bcast_strides(&sb, &so, bst);
	int64_t n = shape_numel(&so);
	for (int64_t i = 0; i < n; i++) {
		int64_t rem = i, oa = 0, ob = 0;
		for (int d = so.rank - 1; d >= 0; d--) {
			int64_t k = rem % so.dim[d];
			rem /= so.dim[d];
			oa += k * ast[d];
			ob += k * bst[d];
		}
		y[i] = a[oa] + b[ob];
	}
}

static void test_add_broadcast_patterns_vs_naive(void **state)
{
	const struct shape pairs[][2] = {
		{ shp(4, 2, 3, 4, 5), shp(4, 1, 3, 1, 1) }, /* per channel */
		{ shp(3, 2, 7, 16), shp(1, 16) },	    /* row bias */
		{ shp(2, 3, 1), shp(2, 1, 4) },		    /* outer */
		{ shp(0), shp(3, 2, 3, 4) },		    /* scalar first */
		{ shp(4, 2, 3, 4, 5), shp(0) },		    /* scalar second */
		{ shp(4, 2, 1, 4, 1), shp(3, 3, 1, 5) },    /* interleaved */
		{ shp(3, 5, 1, 1), shp(3, 5, 1, 1) },	    /* equal with 1s */
	};
	for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
		struct shape so;
		struct err e;
		assert_int_equal(bcast_shape(&pairs[k][0], &pairs[k][1], &so, &e), OK);
		int64_t na = shape_numel(&pairs[k][0]), nb = shape_numel(&pairs[k][1]);
		int64_t no = shape_numel(&so);
		float *a = malloc((size_t)na * 4), *b = malloc((size_t)nb * 4);
		float *want = malloc((size_t)no * 4);
		assert_non_null(a);
		assert_non_null(b);
		assert_non_null(want);
		for (int64_t i = 0; i < na; i++)
			a[i] = frand();
		for (int64_t i = 0; i < nb; i++)
			b[i] = frand();
		naive_add(a, pairs[k][0], b, pairs[k][1], want, so);
		bin_f("Add", pairs[k][0], a, pairs[k][1], b, so, want);
		free(a);
		free(b);
		free(want);
	}
}

/* --- binary arithmetic ------------------------------------------------------------- */

static void test_arith_float(void **state)
{
	const float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 2, 4, 8, 1, -1, 0.5f };
	const float add[6] = { 3, 6, 11, 5, 4, 6.5f }, sub[6] = { -1, -2, -5, 3, 6, 5.5f };
	const float mul[6] = { 2, 8, 24, 4, -5, 3 }, dv[6] = { 0.5f, 0.5f, 0.375f, 4, -5, 12 };
	bin_f("Add", shp(2, 2, 3), a, shp(2, 2, 3), b, shp(2, 2, 3), add);
	bin_f("Sub", shp(2, 2, 3), a, shp(2, 2, 3), b, shp(2, 2, 3), sub);
	bin_f("Mul", shp(2, 2, 3), a, shp(2, 2, 3), b, shp(2, 2, 3), mul);
	bin_f("Div", shp(2, 2, 3), a, shp(2, 2, 3), b, shp(2, 2, 3), dv);
	/* scalar and row broadcasts */
	const float s = 10, row[3] = { 1, 2, 3 };
	const float adds[6] = { 11, 12, 13, 14, 15, 16 }, subs[6] = { 9, 8, 7, 6, 5, 4 };
	const float addr[6] = { 2, 4, 6, 5, 7, 9 }, divr[6] = { 1, 1, 1, 4, 2.5f, 2 };
	bin_f("Add", shp(2, 2, 3), a, shp(0), &s, shp(2, 2, 3), adds);
	bin_f("Sub", shp(0), &s, shp(2, 2, 3), a, shp(2, 2, 3), subs);
	bin_f("Add", shp(2, 2, 3), a, shp(1, 3), row, shp(2, 2, 3), addr);
	bin_f("Div", shp(2, 2, 3), a, shp(1, 3), row, shp(2, 2, 3), divr);
	/* [N,C,H,W] * [1,C,1,1]: N=1, C=2, H=1, W=3 */
	const float ch[2] = { 10, -1 };
	const float mulc[6] = { 10, 20, 30, -4, -5, -6 };
	bin_f("Mul", shp(4, 1, 2, 1, 3), a, shp(4, 1, 2, 1, 1), ch, shp(4, 1, 2, 1, 3), mulc);
	/* max / min with broadcast and NaN propagation */
	const float m1[4] = { 1, NAN, 3, -2 }, m2[2] = { 2, 0 };
	const float mx[4] = { 2, NAN, 3, 0 }, mn[4] = { 1, NAN, 2, -2 };
	bin_f("Max", shp(2, 2, 2), m1, shp(1, 2), m2, shp(2, 2, 2), mx);
	bin_f("Min", shp(2, 2, 2), m1, shp(1, 2), m2, shp(2, 2, 2), mn);
	/* float division by zero is IEEE */
	const float z = 0, one[2] = { 1, -1 }, dz[2] = { INFINITY, -INFINITY };
	bin_f("Div", shp(1, 2), one, shp(0), &z, shp(1, 2), dz);
}

/* A matrix against a row repeated down it, the row on either side (bias adds, scalings by a
 * per-feature vector; one kernel call for the whole matrix): each element has the bits of
 * the one float operation. */
static void test_arith_row_broadcast(void **state)
{
	enum { R = 35, N = 19 };
	static const char *const ops[] = { "Add", "Sub", "Mul", "Div" };
	float m[R * N], row[N], y[R * N];
	for (int i = 0; i < R * N; i++)
		m[i] = frand() * 8;
	for (int i = 0; i < N; i++)
		row[i] = frand() * 3 + (i % 2 ? 0.5f : -0.5f);
	const struct shape ms[] = { shp(3, 5, 7, N), shp(2, R, N) };
	const struct shape rs[] = { shp(1, N), shp(3, 1, 1, N) };
	for (int o = 0; o < 4; o++)
		for (int k = 0; k < 2; k++)
			for (int row_first = 0; row_first < 2; row_first++) {
				struct tnode t;
				tn_init(&t, ops[o]);
				struct tensor tm = ten(DT_FLOAT, ms[k], m), tr = ten(DT_FLOAT, rs[k], row);
				const struct tensor *in[2] = { row_first ? &tr : &tm,
							       row_first ? &tm : &tr };
				struct result r;
				run_ok(&t, in, 2, &r);
				expect_shape(&r.out[0], k ? shp(3, 1, R, N) : ms[k]);
				for (int i = 0; i < R * N; i++) {
					float x = row_first ? row[i % N] : m[i];
					float v = row_first ? m[i] : row[i % N];
					y[i] = o == 0 ? x + v : o == 1 ? x - v : o == 2 ? x * v : x / v;
				}
				if (memcmp(r.out[0].data, y, sizeof y) != 0)
					fail_msg("%s, row %s: not the bits of the float operation",
						 ops[o], row_first ? "first" : "second");
				result_fini(&r);
			}
}

static void test_arith_int(void **state)
{
	const int64_t a[6] = { 7, -7, 9, INT64_MIN, 5, 100 }, b[6] = { 2, 2, -4, -1, 0, 7 };
	const int64_t add[6] = { 9, -5, 5, INT64_MAX, 5, 107 };
	const int64_t sub[6] = { 5, -9, 13, INT64_MIN + 1, 5, 93 };
	const int64_t mul[6] = { 14, -14, -36, INT64_MIN, 0, 700 };
	/* truncation toward zero, x/0 -> 0, INT64_MIN / -1 wraps */
	const int64_t dv[6] = { 3, -3, -2, INT64_MIN, 0, 14 };
	bin_i64("Add", shp(1, 6), a, shp(1, 6), b, shp(1, 6), add);
	bin_i64("Sub", shp(1, 6), a, shp(1, 6), b, shp(1, 6), sub);
	bin_i64("Mul", shp(1, 6), a, shp(1, 6), b, shp(1, 6), mul);
	bin_i64("Div", shp(1, 6), a, shp(1, 6), b, shp(1, 6), dv);
	const int64_t mx[6] = { 7, 2, 9, -1, 5, 100 }, mn[6] = { 2, -7, -4, INT64_MIN, 0, 7 };
	bin_i64("Max", shp(1, 6), a, shp(1, 6), b, shp(1, 6), mx);
	bin_i64("Min", shp(1, 6), a, shp(1, 6), b, shp(1, 6), mn);
	/* shape arithmetic: [1,3] * scalar, [2,1] + [3] */
	const int64_t dims[3] = { 2, 3, 4 }, two = 2, col[2] = { 10, 20 };
	const int64_t dbl[3] = { 4, 6, 8 }, outer[6] = { 12, 13, 14, 22, 23, 24 };
	bin_i64("Mul", shp(1, 3), dims, shp(0), &two, shp(1, 3), dbl);
	bin_i64("Add", shp(2, 2, 1), col, shp(1, 3), dims, shp(2, 2, 3), outer);

	/* int32 */
	struct tnode t;
	tn_init(&t, "Div");
	const int32_t x[4] = { -9, 9, 1, INT32_MIN }, y[4] = { 4, -4, 0, -1 };
	const int32_t q[4] = { -2, -2, 0, INT32_MIN };
	struct tensor tx = ten(DT_INT32, shp(1, 4), x), ty = ten(DT_INT32, shp(1, 4), y);
	const struct tensor *in[2] = { &tx, &ty };
	struct result r;
	run_ok(&t, in, 2, &r);
	expect_i32(&r.out[0], q, 4);
	result_fini(&r);

	/* uint8 wraps */
	tn_init(&t, "Sub");
	const uint8_t u1[2] = { 3, 200 }, u2[2] = { 5, 100 };
	struct tensor t1 = ten(DT_UINT8, shp(1, 2), u1), t2 = ten(DT_UINT8, shp(1, 2), u2);
	const struct tensor *in2[2] = { &t1, &t2 };
	run_ok(&t, in2, 2, &r);
	assert_int_equal(r.out[0].dtype, DT_UINT8);
	assert_int_equal(((uint8_t *)r.out[0].data)[0], 254);
	assert_int_equal(((uint8_t *)r.out[0].data)[1], 100);
	result_fini(&r);
}

static void test_arith_errors(void **state)
{
	struct tnode t;
	tn_init(&t, "Add");
	const float a[6] = { 0 };
	const int64_t b[4] = { 0 };
	struct tensor ta = ten(DT_FLOAT, shp(2, 2, 3), a), tb = ten(DT_INT64, shp(1, 3), b);
	const struct tensor *in[2] = { &ta, &tb };
	expect_err(&t, 17, in, 2, ERR_INVALID, "input types float32 and int64 differ");
	struct tensor tc = ten(DT_FLOAT, shp(1, 4), a);
	in[1] = &tc;
	expect_err(&t, 17, in, 2, ERR_SHAPE, "shapes [2,3] and [4] cannot be broadcast");
	struct tensor ts = ten(DT_FLOAT8E4M3FN, shp(1, 3), a), ts2 = ts;
	in[0] = &ts, in[1] = &ts2;
	expect_err(&t, 17, in, 2, ERR_UNSUPPORTED, "float8e4m3fn");
	in[0] = &ta;
	expect_err(&t, 17, in, 1, ERR_INVALID, "inputs");
}

static void test_legacy_axis_broadcast(void **state)
{
	/* opset 6: B [3] broadcast into A [2,3,2] at axis 1 */
	struct tnode t;
	tn_init(&t, "Add");
	tn_int(&t, "broadcast", 1);
	tn_int(&t, "axis", 1);
	const float a[12] = { 0 }, b[3] = { 1, 2, 3 };
	const float want[12] = { 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3 };
	struct tensor ta = ten(DT_FLOAT, shp(3, 2, 3, 2), a), tb = ten(DT_FLOAT, shp(1, 3), b);
	const struct tensor *in[2] = { &ta, &tb };
	struct result r;
	run_ok_opset(&t, 6, in, 2, &r);
	expect_shape(&r.out[0], shp(3, 2, 3, 2));
	expect_f(&r.out[0], want, 12, 0);
	result_fini(&r);
}

static void test_pow(void **state)
{
	const float x[4] = { 2, 3, 4, -2 }, y[4] = { 3, 0.5f, -1, 2 };
	const float want[4] = { 8, 1.7320508f, 0.25f, 4 };
	bin_f("Pow", shp(1, 4), x, shp(1, 4), y, shp(1, 4), want);
	const float two = 2, sq[4] = { 4, 9, 16, 4 };
	bin_f("Pow", shp(1, 4), x, shp(0), &two, shp(1, 4), sq);

	/* float ** int64 and int64 ** int64 */
	struct tnode t;
	tn_init(&t, "Pow");
	const int64_t e[4] = { 2, 3, -1, 0 };
	struct tensor tx = ten(DT_FLOAT, shp(1, 4), x), te = ten(DT_INT64, shp(1, 4), e);
	const struct tensor *in[2] = { &tx, &te };
	struct result r;
	run_ok(&t, in, 2, &r);
	const float fw[4] = { 4, 27, 0.25f, 1 };
	expect_f(&r.out[0], fw, 4, 1e-6f);
	result_fini(&r);
	const int64_t ib[4] = { 2, -3, 1, 7 };
	const int64_t iw[4] = { 4, -27, 1, 1 };
	bin_i64("Pow", shp(1, 4), ib, shp(1, 4), e, shp(1, 4), iw);
}

static void test_mod_prelu(void **state)
{
	const int64_t a[4] = { 7, -7, 7, -7 }, b[4] = { 3, 3, -3, -3 };
	const int64_t pym[4] = { 1, 2, -2, -1 }, cm[4] = { 1, -1, 1, -1 };
	bin_i64("Mod", shp(1, 4), a, shp(1, 4), b, shp(1, 4), pym);
	struct tnode t;
	tn_init(&t, "Mod");
	tn_int(&t, "fmod", 1);
	struct tensor ta = ten(DT_INT64, shp(1, 4), a), tb = ten(DT_INT64, shp(1, 4), b);
	const struct tensor *in[2] = { &ta, &tb };
	struct result r;
	run_ok(&t, in, 2, &r);
	expect_i64(&r.out[0], cm, 4);
	result_fini(&r);
	/* float Mod needs fmod=1 */
	tn_init(&t, "Mod");
	const float fa[2] = { 5.5f, -5.5f }, fb[2] = { 2, 2 };
	struct tensor tfa = ten(DT_FLOAT, shp(1, 2), fa), tfb = ten(DT_FLOAT, shp(1, 2), fb);
	const struct tensor *fin[2] = { &tfa, &tfb };
	expect_err(&t, 13, fin, 2, ERR_INVALID, "fmod");

	/* PRelu with a per-channel slope [C,1,1] on [N,C,H,W] */
	const float x[8] = { -1, 2, -3, 4, -1, 2, -3, 4 }, slope[2] = { 0.5f, 0.25f };
	const float want[8] = { -0.5f, 2, -1.5f, 4, -0.25f, 2, -0.75f, 4 };
	bin_f("PRelu", shp(4, 1, 2, 2, 2), x, shp(3, 2, 1, 1), slope, shp(4, 1, 2, 2, 2), want);
	tn_init(&t, "PRelu");
	struct tensor tx = ten(DT_FLOAT, shp(1, 2), x), ts = ten(DT_FLOAT, shp(2, 2, 2), x);
	const struct tensor *pin[2] = { &tx, &ts };
	expect_err(&t, 16, pin, 2, ERR_SHAPE, "does not broadcast to X");
}

static void test_variadic(void **state)
{
	const float a[2] = { 1, 2 }, b[3] = { 10, 20, 30 }, c = 100;
	struct tensor ta = ten(DT_FLOAT, shp(2, 2, 1), a), tb = ten(DT_FLOAT, shp(1, 3), b),
		      tc = ten(DT_FLOAT, shp(0), &c);
	const struct tensor *in[3] = { &ta, &tb, &tc };
	struct tnode t;
	struct result r;
	tn_init(&t, "Sum");
	run_ok(&t, in, 3, &r);
	expect_shape(&r.out[0], shp(2, 2, 3));
	const float sum[6] = { 111, 121, 131, 112, 122, 132 };
	expect_f(&r.out[0], sum, 6, 0);
	result_fini(&r);
	tn_init(&t, "Mean");
	run_ok(&t, in, 3, &r);
	const float mean[6] = { 37, 121 / 3.0f, 131 / 3.0f, 112 / 3.0f, 122 / 3.0f, 44 };
	expect_f(&r.out[0], mean, 6, 1e-6f);
	result_fini(&r);
	tn_init(&t, "Max");
	run_ok(&t, in, 3, &r);
	const float mx[6] = { 100, 100, 100, 100, 100, 100 };
	expect_f(&r.out[0], mx, 6, 0);
	result_fini(&r);
	tn_init(&t, "Min");
	run_ok(&t, in, 2, &r);
	const float mn[6] = { 1, 1, 1, 2, 2, 2 };
	expect_f(&r.out[0], mn, 6, 0);
	result_fini(&r);
	/* four inputs: the ping-pong through scratch ends in the output */
	const struct tensor *in4[4] = { &ta, &tb, &tc, &tc };
	tn_init(&t, "Sum");
	run_ok(&t, in4, 4, &r);
	const float sum4[6] = { 211, 221, 231, 212, 222, 232 };
	expect_f(&r.out[0], sum4, 6, 0);
	result_fini(&r);
	/* one input is a copy */
	run_ok(&t, in, 1, &r);
	expect_f(&r.out[0], a, 2, 0);
	result_fini(&r);
	/* int64 Max */
	const int64_t i1[3] = { 1, 5, -3 }, i2[3] = { 4, 2, -8 }, iw[3] = { 4, 5, -3 };
	struct tensor t1 = ten(DT_INT64, shp(1, 3), i1), t2 = ten(DT_INT64, shp(1, 3), i2);
	const struct tensor *iin[2] = { &t1, &t2 };
	tn_init(&t, "Max");
	run_ok(&t, iin, 2, &r);
	expect_i64(&r.out[0], iw, 3);
	result_fini(&r);
	tn_init(&t, "Mean");
	expect_err(&t, 13, iin, 2, ERR_UNSUPPORTED, "int64");
}

/* --- comparisons, logic, Where ------------------------------------------------------ */

static void test_compare(void **state)
{
	const float a[6] = { 1, 2, 3, 4, 5, NAN }, b[3] = { 2, 2, 5 };
	struct tensor ta = ten(DT_FLOAT, shp(2, 2, 3), a), tb = ten(DT_FLOAT, shp(1, 3), b);
	const struct tensor *in[2] = { &ta, &tb };
	const char *ops[5] = { "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual" };
	const uint8_t want[5][6] = {
		{ 0, 1, 0, 0, 0, 0 },
		{ 0, 0, 0, 1, 1, 0 },
		{ 1, 0, 1, 0, 0, 0 },
		{ 0, 1, 0, 1, 1, 0 },
		{ 1, 1, 1, 0, 0, 0 },
	};
	for (int k = 0; k < 5; k++) {
		struct tnode t;
		struct result r;
		tn_init(&t, ops[k]);
		run_ok(&t, in, 2, &r);
		expect_shape(&r.out[0], shp(2, 2, 3));
		expect_b(&r.out[0], want[k], 6);
		result_fini(&r);
	}
	/* int64 scalar comparisons (shape chains) and bool Equal */
	const int64_t x[3] = { -1, 0, 7 }, zero = 0;
	struct tensor tx = ten(DT_INT64, shp(1, 3), x), tz = ten(DT_INT64, shp(0), &zero);
	const struct tensor *iin[2] = { &tx, &tz };
	struct tnode t;
	struct result r;
	tn_init(&t, "Less");
	run_ok(&t, iin, 2, &r);
	const uint8_t lw[3] = { 1, 0, 0 };
	expect_b(&r.out[0], lw, 3);
	result_fini(&r);
	const uint8_t p[4] = { 0, 0, 1, 1 }, q[4] = { 0, 1, 0, 1 };
	struct tensor tp = ten(DT_BOOL, shp(1, 4), p), tq = ten(DT_BOOL, shp(1, 4), q);
	const struct tensor *bin[2] = { &tp, &tq };
	const char *lops[4] = { "Equal", "And", "Or", "Xor" };
	const uint8_t lwant[4][4] = { { 1, 0, 0, 1 }, { 0, 0, 0, 1 }, { 0, 1, 1, 1 }, { 0, 1, 1, 0 } };
	for (int k = 0; k < 4; k++) {
		tn_init(&t, lops[k]);
		run_ok(&t, bin, 2, &r);
		expect_b(&r.out[0], lwant[k], 4);
		result_fini(&r);
	}
	tn_init(&t, "Not");
	run_ok(&t, bin, 1, &r);
	const uint8_t nw[4] = { 1, 1, 0, 0 };
	expect_b(&r.out[0], nw, 4);
	result_fini(&r);
	tn_init(&t, "And");
	const struct tensor *mixed[2] = { &ta, &ta };
	expect_err(&t, 7, mixed, 2, ERR_UNSUPPORTED, "float32");
}

static void test_where(void **state)
{
	/* condition [2,1], X [1,3], Y scalar -> [2,3] */
	const uint8_t c[2] = { 1, 0 };
	const float x[3] = { 1, 2, 3 }, y = -1;
	struct tensor tc = ten(DT_BOOL, shp(2, 2, 1), c), tx = ten(DT_FLOAT, shp(2, 1, 3), x),
		      ty = ten(DT_FLOAT, shp(0), &y);
	const struct tensor *in[3] = { &tc, &tx, &ty };
	struct tnode t;
	struct result r;
	tn_init(&t, "Where");
	run_ok(&t, in, 3, &r);
	expect_shape(&r.out[0], shp(2, 2, 3));
	const float want[6] = { 1, 2, 3, -1, -1, -1 };
	expect_f(&r.out[0], want, 6, 0);
	result_fini(&r);
	/* elementwise condition, int64 */
	const uint8_t c2[4] = { 1, 0, 0, 1 };
	const int64_t a[4] = { 1, 2, 3, 4 }, b[4] = { -1, -2, -3, -4 }, w[4] = { 1, -2, -3, 4 };
	struct tensor tc2 = ten(DT_BOOL, shp(2, 2, 2), c2), ta = ten(DT_INT64, shp(2, 2, 2), a),
		      tb = ten(DT_INT64, shp(2, 2, 2), b);
	const struct tensor *in2[3] = { &tc2, &ta, &tb };
	run_ok(&t, in2, 3, &r);
	expect_i64(&r.out[0], w, 4);
	result_fini(&r);
	/* condition varies along the run while X / Y are broadcast */
	const uint8_t c3[3] = { 0, 1, 0 };
	const int64_t xs = 5;
	struct tensor tc3 = ten(DT_BOOL, shp(1, 3), c3), txs = ten(DT_INT64, shp(0), &xs),
		      tys = ten(DT_INT64, shp(1, 3), b);
	const struct tensor *in3[3] = { &tc3, &txs, &tys };
	run_ok(&t, in3, 3, &r);
	const int64_t w3[3] = { -1, 5, -3 };
	expect_i64(&r.out[0], w3, 3);
	result_fini(&r);
	in2[0] = &ta;
	expect_err(&t, 16, in2, 3, ERR_UNSUPPORTED, "condition");
	in2[0] = &tc2;
	in2[2] = &tx;
	expect_err(&t, 16, in2, 3, ERR_INVALID, "X has type int64, Y has float32");
}

/* --- unary -------------------------------------------------------------------------- */

static void un_f(const char *op, const float *x, int n, const float *want, float tol)
{
	struct tnode t;
	tn_init(&t, op);
	struct tensor tx = ten(DT_FLOAT, shp(1, n), x);
	const struct tensor *in[1] = { &tx };
	struct result r;
	run_ok(&t, in, 1, &r);
	expect_shape(&r.out[0], shp(1, n));
	expect_f(&r.out[0], want, n, tol);
	result_fini(&r);
}

static void test_unary_math(void **state)
{
	const float x[4] = { 0.5f, 1, 4, 0 };
	const float sq[4] = { 0.70710678f, 1, 2, 0 }, ex[4] = { 1.6487213f, 2.7182818f, 54.59815f, 1 };
	const float lg[4] = { -0.69314718f, 0, 1.3862944f, -INFINITY };
	const float rc[4] = { 2, 1, 0.25f, INFINITY };
	un_f("Sqrt", x, 4, sq, 1e-6f);
	un_f("Exp", x, 4, ex, 1e-6f);
	un_f("Log", x, 4, lg, 1e-6f);
	un_f("Reciprocal", x, 4, rc, 0);
	const float e[6] = { 0.5f, -0.5f, 1, 2, -3, 0.1f };
	const float ew[6] = { 0.5204998778f, -0.5204998778f, 0.8427007929f, 0.9953222650f,
			      -0.9999779095f, 0.1124629160f };
	un_f("Erf", e, 6, ew, 1e-7f);
	const float r[8] = { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f, 3 };
	const float rw[8] = { 0, 2, 2, -0.0f, -2, 2, -3, 3 };
	const float fl[8] = { 0, 1, 2, -1, -2, 2, -3, 3 }, ce[8] = { 1, 2, 3, 0, -1, 3, -2, 3 };
	const float ng[8] = { -0.5f, -1.5f, -2.5f, 0.5f, 1.5f, -2.4f, 2.6f, -3 };
	const float ab[8] = { 0.5f, 1.5f, 2.5f, 0.5f, 1.5f, 2.4f, 2.6f, 3 };
	const float sg[8] = { 1, 1, 1, -1, -1, 1, -1, 1 };
	un_f("Round", r, 8, rw, 0);
	un_f("Floor", r, 8, fl, 0);
	un_f("Ceil", r, 8, ce, 0);
	un_f("Neg", r, 8, ng, 0);
	un_f("Abs", r, 8, ab, 0);
	un_f("Sign", r, 8, sg, 0);
	const float z[2] = { 0, NAN }, zs[2] = { 0, NAN };
	un_f("Sign", z, 2, zs, 0);
	const float tr[3] = { 0, 0.5f, -2 };
	const float sn[3] = { 0, 0.47942554f, -0.90929743f }, cs[3] = { 1, 0.87758256f, -0.41614684f };
	un_f("Sin", tr, 3, sn, 1e-6f);
	un_f("Cos", tr, 3, cs, 1e-6f);

	/* integer Neg / Abs / Sign wrap instead of overflowing */
	struct tnode t;
	tn_init(&t, "Abs");
	const int64_t iv[4] = { -5, 3, 0, INT64_MIN };
	struct tensor ti = ten(DT_INT64, shp(1, 4), iv);
	const struct tensor *in[1] = { &ti };
	struct result res;
	run_ok(&t, in, 1, &res);
	const int64_t aw[4] = { 5, 3, 0, INT64_MIN };
	expect_i64(&res.out[0], aw, 4);
	result_fini(&res);
	tn_init(&t, "Neg");
	run_ok(&t, in, 1, &res);
	const int64_t nw[4] = { 5, -3, 0, INT64_MIN };
	expect_i64(&res.out[0], nw, 4);
	result_fini(&res);
	tn_init(&t, "Sign");
	run_ok(&t, in, 1, &res);
	const int64_t sw[4] = { -1, 1, 0, -1 };
	expect_i64(&res.out[0], sw, 4);
	result_fini(&res);
	tn_init(&t, "Exp");
	expect_err(&t, 13, in, 1, ERR_UNSUPPORTED, "int64");
}

static void test_activations(void **state)
{
	const float x[5] = { -2, -0.5f, 0, 0.5f, 3 };
	const float relu[5] = { 0, 0, 0, 0.5f, 3 };
	un_f("Relu", x, 5, relu, 0);
	const float sig[5] = { 0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.95257413f };
	un_f("Sigmoid", x, 5, sig, 1e-6f);
	const float th[5] = { -0.96402758f, -0.46211716f, 0, 0.46211716f, 0.99505475f };
	un_f("Tanh", x, 5, th, 1e-6f);
	const float sp[5] = { 0.12692801f, 0.47407698f, 0.69314718f, 0.97407698f, 3.04858735f };
	un_f("Softplus", x, 5, sp, 1e-6f);
	const float ss[5] = { -2 / 3.0f, -1 / 3.0f, 0, 1 / 3.0f, 0.75f };
	un_f("Softsign", x, 5, ss, 1e-6f);
	const float hsig[5] = { 0.1f, 0.4f, 0.5f, 0.6f, 1 };
	un_f("HardSigmoid", x, 5, hsig, 1e-6f);
	const float hsw[5] = { -2 * (1 / 6.0f), -0.5f * (0.5f - 0.5f / 6), 0, 0.5f * (0.5f + 0.5f / 6),
			       3 };
	un_f("HardSwish", x, 5, hsw, 1e-6f);
	const float elu[5] = { -0.86466472f, -0.39346934f, 0, 0.5f, 3 };
	un_f("Elu", x, 5, elu, 1e-6f);
	const float selu[5] = { -1.5201665f, -0.6917582f, 0, 0.5253505f, 3.1521030f };
	un_f("Selu", x, 5, selu, 1e-6f);
	const float gelu[5] = { -0.04550026f, -0.15426877f, 0, 0.34573123f, 2.99595031f };
	un_f("Gelu", x, 5, gelu, 1e-6f);
	const float lrelu[5] = { -0.02f, -0.005f, 0, 0.5f, 3 };
	un_f("LeakyRelu", x, 5, lrelu, 1e-6f);
	const float thr[5] = { 0, 0, 0, 0, 3 };
	un_f("ThresholdedRelu", x, 5, thr, 0);

	/* attributes */
	struct tnode t;
	struct tensor tx = ten(DT_FLOAT, shp(1, 5), x);
	const struct tensor *in[1] = { &tx };
	struct result r;
	tn_init(&t, "LeakyRelu");
	tn_float(&t, "alpha", 0.1f);
	run_ok(&t, in, 1, &r);
	const float lr2[5] = { -0.2f, -0.05f, 0, 0.5f, 3 };
	expect_f(&r.out[0], lr2, 5, 1e-6f);
	result_fini(&r);
	tn_init(&t, "Elu");
	tn_float(&t, "alpha", 2);
	run_ok(&t, in, 1, &r);
	const float elu2[5] = { -1.72932943f, -0.78693868f, 0, 0.5f, 3 };
	expect_f(&r.out[0], elu2, 5, 1e-6f);
	result_fini(&r);
	tn_init(&t, "Celu");
	tn_float(&t, "alpha", 2);
	run_ok(&t, in, 1, &r);
	const float celu[5] = { -1.26424112f, -0.44239843f, 0, 0.5f, 3 };
	expect_f(&r.out[0], celu, 5, 1e-6f);
	result_fini(&r);
	tn_init(&t, "Gelu");
	tn_str(&t, "approximate", "tanh");
	run_ok_opset(&t, 20, in, 1, &r);
	const float gt[5] = { -0.04540231f, -0.15428599f, 0, 0.34571401f, 2.99636261f };
	expect_f(&r.out[0], gt, 5, 1e-6f);
	result_fini(&r);
	tn_init(&t, "Gelu");
	tn_str(&t, "approximate", "cubic");
	expect_err(&t, 20, in, 1, ERR_UNSUPPORTED, "cubic");
	tn_init(&t, "HardSigmoid");
	tn_float(&t, "alpha", 0.5f);
	tn_float(&t, "beta", 0.6f);
	run_ok(&t, in, 1, &r);
	const float hs2[5] = { 0, 0.35f, 0.6f, 0.85f, 1 };
	expect_f(&r.out[0], hs2, 5, 1e-6f);
	result_fini(&r);
}

/* Exp, Sigmoid and Tanh use their own vectorised exp / tanh: compare with libm in double
 * over a wide range, including the overflow / underflow edges and specials. */
static void test_vectorised_transcendentals(void **state)
{
	enum { N = 4000 };
	static float x[N + 6];
	for (int i = 0; i < N; i++)
		x[i] = -110.0f + 220.0f * (float)i / N;
	const float special[6] = { NAN, INFINITY, -INFINITY, 0.0f, 1e-30f, -88.7f };
	memcpy(x + N, special, sizeof special);
	const char *ops[3] = { "Exp", "Tanh", "Sigmoid" };
	for (int k = 0; k < 3; k++) {
		struct tnode t;
		tn_init(&t, ops[k]);
		struct tensor tx = ten(DT_FLOAT, shp(1, N + 6), x);
		const struct tensor *in[1] = { &tx };
		struct result r;
		run_ok(&t, in, 1, &r);
		const float *y = r.out[0].data;
		for (int i = 0; i < N + 6; i++) {
			double xd = x[i];
			double w = k == 0 ? exp(xd) : k == 1 ? tanh(xd) : 1.0 / (1.0 + exp(-xd));
			if (isnan(w)) {
				assert_true(isnan(y[i]));
				continue;
			}
			if (isinf(w) || w > FLT_MAX) {
				assert_true(isinf(y[i]) && y[i] > 0);
				continue;
			}
			/* 3 ulp relative, or an absolute 2^-126 for flushed tiny values */
			double tol = 3.6e-7 * fabs(w) + 1.2e-38;
			if (!(fabs(y[i] - w) <= tol))
				fail_msg("%s(%.9g) = %.9g, expected %.9g", ops[k], xd, (double)y[i], w);
		}
		result_fini(&r);
	}
}

static void test_clip(void **state)
{
	const float x[5] = { -3, -1, 0, 2, 5 };
	struct tensor tx = ten(DT_FLOAT, shp(1, 5), x);
	struct tnode t;
	struct result r;
	/* opset 6: attributes */
	tn_init(&t, "Clip");
	tn_float(&t, "min", -1.5f);
	tn_float(&t, "max", 1.5f);
	const struct tensor *in1[1] = { &tx };
	run_ok_opset(&t, 6, in1, 1, &r);
	const float w1[5] = { -1.5f, -1, 0, 1.5f, 1.5f };
	expect_f(&r.out[0], w1, 5, 0);
	result_fini(&r);
	tn_init(&t, "Clip");
	tn_float(&t, "max", 0.5f);
	run_ok_opset(&t, 6, in1, 1, &r);
	const float w1b[5] = { -3, -1, 0, 0.5f, 0.5f };
	expect_f(&r.out[0], w1b, 5, 0);
	result_fini(&r);
	/* opset 13: inputs, each optional */
	const float lo = -1.5f, hi = 1.5f;
	struct tensor tlo = ten(DT_FLOAT, shp(0), &lo), thi = ten(DT_FLOAT, shp(0), &hi);
	tn_init(&t, "Clip");
	const struct tensor *in3[3] = { &tx, &tlo, &thi };
	run_ok_opset(&t, 13, in3, 3, &r);
	expect_f(&r.out[0], w1, 5, 0);
	result_fini(&r);
	const struct tensor *in_max[3] = { &tx, NULL, &thi };
	run_ok_opset(&t, 13, in_max, 3, &r);
	const float wm[5] = { -3, -1, 0, 1.5f, 1.5f };
	expect_f(&r.out[0], wm, 5, 0);
	result_fini(&r);
	const struct tensor *in_min[2] = { &tx, &tlo };
	run_ok_opset(&t, 13, in_min, 2, &r);
	const float wn[5] = { -1.5f, -1, 0, 2, 5 };
	expect_f(&r.out[0], wn, 5, 0);
	result_fini(&r);
	run_ok_opset(&t, 13, in1, 1, &r);
	expect_f(&r.out[0], x, 5, 0);
	result_fini(&r);
	/* int64 */
	const int64_t ix[4] = { -10, 0, 5, 100 }, ilo = 0, ihi = 6;
	struct tensor tix = ten(DT_INT64, shp(1, 4), ix), tilo = ten(DT_INT64, shp(0), &ilo),
		      tihi = ten(DT_INT64, shp(0), &ihi);
	const struct tensor *iin[3] = { &tix, &tilo, &tihi };
	run_ok_opset(&t, 13, iin, 3, &r);
	const int64_t iw[4] = { 0, 0, 5, 6 };
	expect_i64(&r.out[0], iw, 4);
	result_fini(&r);
	/* errors */
	const float two[2] = { 1, 2 };
	struct tensor tv = ten(DT_FLOAT, shp(1, 2), two);
	const struct tensor *bad[3] = { &tx, &tv, NULL };
	expect_err(&t, 13, bad, 3, ERR_INVALID, "min must be a scalar");
	const struct tensor *bad2[3] = { &tx, &tilo, NULL };
	expect_err(&t, 13, bad2, 3, ERR_INVALID, "min has type int64");
}

/* --- reductions -------------------------------------------------------------------- */

/* x[2][3][4] = i */
static float x234[24];
static void init_x234(void)
{
	for (int i = 0; i < 24; i++)
		x234[i] = (float)i;
}

static void red(const char *op, int64_t opset, int keepdims, const struct tensor *axes_in,
		int n_axes, const int *axes, struct shape so, const float *want, float tol)
{
	struct tnode t;
	tn_init(&t, op);
	tn_int(&t, "keepdims", keepdims);
	if (n_axes == 1)
		tn_ints(&t, "axes", 1, axes[0]);
	else if (n_axes == 2)
		tn_ints(&t, "axes", 2, axes[0], axes[1]);
	struct tensor tx = ten(DT_FLOAT, shp(3, 2, 3, 4), x234);
	const struct tensor *in[2] = { &tx, axes_in };
	struct result r;
	run_ok_opset(&t, opset, in, axes_in ? 2 : 1, &r);
	expect_shape(&r.out[0], so);
	expect_f(&r.out[0], want, shape_numel(&so), tol);
	result_fini(&r);
}

static void test_reduce_axes(void **state)
{
	init_x234();
	int a1[1] = { 1 }, am1[1] = { -1 }, a02[2] = { 0, 2 };
	/* axis 1 (middle) */
	const float sum1[8] = { 12, 15, 18, 21, 48, 51, 54, 57 };
	red("ReduceSum", 11, 1, NULL, 1, a1, shp(3, 2, 1, 4), sum1, 0);
	red("ReduceSum", 11, 0, NULL, 1, a1, shp(2, 2, 4), sum1, 0);
	const float mean1[8] = { 4, 5, 6, 7, 16, 17, 18, 19 };
	red("ReduceMean", 13, 0, NULL, 1, a1, shp(2, 2, 4), mean1, 0);
	/* last axis */
	const float maxl[6] = { 3, 7, 11, 15, 19, 23 }, minl[6] = { 0, 4, 8, 12, 16, 20 };
	red("ReduceMax", 13, 0, NULL, 1, am1, shp(2, 2, 3), maxl, 0);
	red("ReduceMin", 13, 1, NULL, 1, am1, shp(3, 2, 3, 1), minl, 0);
	const float prodl[6] = { 0, 840, 7920, 32760, 93024, 212520 };
	red("ReduceProd", 13, 0, NULL, 1, am1, shp(2, 2, 3), prodl, 1e-6f);
	/* two axes and all axes */
	const float sum02[3] = { 0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19,
				 8 + 9 + 10 + 11 + 20 + 21 + 22 + 23 };
	red("ReduceSum", 11, 0, NULL, 2, a02, shp(1, 3), sum02, 0);
	red("ReduceSum", 11, 1, NULL, 2, a02, shp(3, 1, 3, 1), sum02, 0);
	const float all = 276, allmean = 11.5f;
	red("ReduceSum", 11, 1, NULL, 0, NULL, shp(3, 1, 1, 1), &all, 0);
	red("ReduceMean", 13, 0, NULL, 0, NULL, shp(0), &allmean, 0);
	/* sum of squares, L1, L2, log-sum on the last axis */
	const float ssq[6] = { 14, 126, 366, 734, 1230, 1854 };
	red("ReduceSumSquare", 13, 0, NULL, 1, am1, shp(2, 2, 3), ssq, 0);
	float l2[6], l1[6] = { 6, 22, 38, 54, 70, 86 }, ls[6];
	for (int i = 0; i < 6; i++) {
		l2[i] = sqrtf(ssq[i]);
		ls[i] = logf(l1[i]);
	}
	red("ReduceL2", 13, 0, NULL, 1, am1, shp(2, 2, 3), l2, 1e-6f);
	red("ReduceL1", 13, 0, NULL, 1, am1, shp(2, 2, 3), l1, 0);
	red("ReduceLogSum", 13, 0, NULL, 1, am1, shp(2, 2, 3), ls, 1e-6f);
}

static void test_reduce_axes_input(void **state)
{
	init_x234();
	const int64_t ax1 = 1, ax02[2] = { 0, -1 };
	struct tensor t1 = ten(DT_INT64, shp(1, 1), &ax1), t02 = ten(DT_INT64, shp(1, 2), ax02);
	const float sum1[8] = { 12, 15, 18, 21, 48, 51, 54, 57 };
	/* ReduceSum takes axes as an input from opset 13, the others from 18 */
	red("ReduceSum", 13, 0, &t1, 0, NULL, shp(2, 2, 4), sum1, 0);
	const float mean02[3] = { 7.5f, 11.5f, 15.5f };
	red("ReduceMean", 18, 0, &t02, 0, NULL, shp(1, 3), mean02, 1e-6f);
	/* empty axes: all, or a copy with noop_with_empty_axes */
	struct tensor te = ten(DT_INT64, shp(1, 0), NULL);
	const float all = 276;
	red("ReduceSum", 13, 0, &te, 0, NULL, shp(0), &all, 0);
	struct tnode t;
	tn_init(&t, "ReduceSum");
	tn_int(&t, "noop_with_empty_axes", 1);
	struct tensor tx = ten(DT_FLOAT, shp(3, 2, 3, 4), x234);
	const struct tensor *in[2] = { &tx, &te };
	struct result r;
	run_ok_opset(&t, 13, in, 2, &r);
	expect_shape(&r.out[0], shp(3, 2, 3, 4));
	expect_f(&r.out[0], x234, 24, 0);
	result_fini(&r);
	/* a non-constant axes input cannot be planned */
	struct tensor tnc = ten(DT_INT64, shp(1, 1), NULL);
	in[1] = &tnc;
	expect_err(&t, 13, in, 2, ERR_UNSUPPORTED, "axes must be constant");
	/* opset 13 ReduceMean has no axes input */
	tn_init(&t, "ReduceMean");
	in[1] = &t1;
	expect_err(&t, 13, in, 2, ERR_INVALID, "inputs");
	tn_init(&t, "ReduceMean");
	tn_ints(&t, "axes", 1, 3);
	expect_err(&t, 13, in, 1, ERR_INVALID, "axis 3 is out of range");
}

static void test_reduce_types_and_lse(void **state)
{
	struct tnode t;
	struct result r;
	const int64_t iv[6] = { 5, -2, 9, 1, 1, INT64_MIN };
	struct tensor ti = ten(DT_INT64, shp(2, 2, 3), iv);
	const struct tensor *in[1] = { &ti };
	tn_init(&t, "ReduceMax");
	tn_ints(&t, "axes", 1, 1);
	tn_int(&t, "keepdims", 0);
	run_ok(&t, in, 1, &r);
	const int64_t mx[2] = { 9, 1 };
	expect_i64(&r.out[0], mx, 2);
	result_fini(&r);
	tn_init(&t, "ReduceSum");
	tn_ints(&t, "axes", 1, 0);
	tn_int(&t, "keepdims", 0);
	run_ok_opset(&t, 11, in, 1, &r);
	const int64_t sm[3] = { 6, -1, 9 + INT64_MIN };
	expect_i64(&r.out[0], sm, 3);
	result_fini(&r);
	tn_init(&t, "ReduceL2");
	expect_err(&t, 13, in, 1, ERR_UNSUPPORTED, "int64");

	/* LogSumExp stays finite for large inputs and handles -inf */
	const float x[6] = { 1000, 1000, 1000, -INFINITY, -INFINITY, -INFINITY };
	struct tensor tx = ten(DT_FLOAT, shp(2, 2, 3), x);
	in[0] = &tx;
	tn_init(&t, "ReduceLogSumExp");
	tn_ints(&t, "axes", 1, 1);
	tn_int(&t, "keepdims", 0);
	run_ok(&t, in, 1, &r);
	const float lse[2] = { 1000 + 1.0986123f, -INFINITY };
	expect_f(&r.out[0], lse, 2, 1e-6f);
	result_fini(&r);

	/* long rows exercise the 8-lane accumulators and the tail */
	static float big[3 * 1003];
	float want[3] = { 0 };
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 1003; j++) {
			big[i * 1003 + j] = (float)((j % 7) - 3) * 0.25f;
			want[i] += big[i * 1003 + j];
		}
	struct tensor tb = ten(DT_FLOAT, shp(2, 3, 1003), big);
	in[0] = &tb;
	tn_init(&t, "ReduceSum");
	tn_ints(&t, "axes", 1, 1);
	tn_int(&t, "keepdims", 0);
	run_ok_opset(&t, 11, in, 1, &r);
	expect_f(&r.out[0], want, 3, 1e-6f);
	result_fini(&r);
	/* and over the first axis (row-wise accumulate) */
	tn_init(&t, "ReduceMean");
	tn_ints(&t, "axes", 1, 0);
	tn_int(&t, "keepdims", 1);
	run_ok(&t, in, 1, &r);
	expect_shape(&r.out[0], shp(2, 1, 1003));
	float colmean[1003];
	for (int j = 0; j < 1003; j++)
		colmean[j] = big[j];
	expect_f(&r.out[0], colmean, 1003, 1e-6f);
	result_fini(&r);
}

/* --- extras: ArgMax / ArgMin, BitShift, Shrink, trigonometry ----------------------------- */

static void test_extras(void **state)
{
	struct tnode t;
	struct result r;
	/* [2,3]: ties go to the first index unless select_last_index */
	const float x[6] = { 1, 5, 5, 7, -1, 7 };
	struct tensor tx = ten(DT_FLOAT, shp(2, 2, 3), x);
	const struct tensor *in[2] = { &tx, NULL };
	tn_init(&t, "ArgMax");
	tn_int(&t, "axis", 1);
	run_ok(&t, in, 1, &r);
	expect_shape(&r.out[0], shp(2, 2, 1));
	const int64_t am[2] = { 1, 0 };
	expect_i64(&r.out[0], am, 2);
	result_fini(&r);
	tn_int(&t, "select_last_index", 1);
	tn_int(&t, "keepdims", 0);
	run_ok(&t, in, 1, &r);
	expect_shape(&r.out[0], shp(1, 2));
	const int64_t aml[2] = { 2, 2 };
	expect_i64(&r.out[0], aml, 2);
	result_fini(&r);
	tn_init(&t, "ArgMin");
	run_ok(&t, in, 1, &r); /* axis 0 over the strided path */
	expect_shape(&r.out[0], shp(2, 1, 3));
	const int64_t amn[3] = { 0, 1, 0 };
	expect_i64(&r.out[0], amn, 3);
	result_fini(&r);

	tn_init(&t, "BitShift");
	tn_str(&t, "direction", "LEFT");
	const uint8_t u[3] = { 1, 3, 255 }, sh[3] = { 1, 7, 8 };
	struct tensor tu = ten(DT_UINT8, shp(1, 3), u), ts = ten(DT_UINT8, shp(1, 3), sh);
	in[0] = &tu, in[1] = &ts;
	run_ok(&t, in, 2, &r);
	const uint8_t lw[3] = { 2, 128, 0 };
	assert_memory_equal(r.out[0].data, lw, 3);
	result_fini(&r);
	tn_init(&t, "BitShift");
	tn_str(&t, "direction", "RIGHT");
	run_ok(&t, in, 2, &r);
	const uint8_t rw[3] = { 0, 0, 0 };
	assert_memory_equal(r.out[0].data, rw, 3);
	result_fini(&r);

	const float sx[5] = { -2, -1, 0, 1, 2 };
	struct tensor tsx = ten(DT_FLOAT, shp(1, 5), sx);
	in[0] = &tsx;
	tn_init(&t, "Shrink");
	tn_float(&t, "lambd", 1.5f);
	tn_float(&t, "bias", 1.5f);
	run_ok(&t, in, 1, &r);
	const float sw[5] = { -0.5f, 0, 0, 0, 0.5f };
	expect_f(&r.out[0], sw, 5, 0);
	result_fini(&r);

	const float tr[3] = { 0.5f, -0.25f, 0.9f };
	const float tan_w[3] = { 0.54630249f, -0.25534192f, 1.26015822f };
	const float asin_w[3] = { 0.52359878f, -0.25268026f, 1.11976951f };
	const float atanh_w[3] = { 0.54930614f, -0.25541281f, 1.47221949f };
	un_f("Tan", tr, 3, tan_w, 1e-6f);
	un_f("Asin", tr, 3, asin_w, 1e-6f);
	un_f("Atanh", tr, 3, atanh_w, 1e-6f);
}

/* --- Cast --------------------------------------------------------------------------- */

static void cast(const void *src, enum dtype from, int n, enum dtype to, struct result *r)
{
	struct tnode t;
	tn_init(&t, "Cast");
	tn_int(&t, "to", to);
	struct tensor tx = ten(from, shp(1, n), src);
	const struct tensor *in[1] = { &tx };
	run_ok(&t, in, 1, r);
	assert_int_equal(r->out[0].dtype, to);
}

static void test_cast_float_to_int(void **state)
{
	struct result r;
	/* truncation toward zero, saturation, NaN -> 0 */
	const float x[8] = { 1.7f, -1.7f, 2.5f, -2.5f, 1e10f, -1e10f, NAN, -0.9f };
	cast(x, DT_FLOAT, 8, DT_INT32, &r);
	const int32_t w32[8] = { 1, -1, 2, -2, INT32_MAX, INT32_MIN, 0, 0 };
	expect_i32(&r.out[0], w32, 8);
	result_fini(&r);
	cast(x, DT_FLOAT, 8, DT_INT64, &r);
	const int64_t w64[8] = { 1, -1, 2, -2, 10000000000LL, -10000000000LL, 0, 0 };
	expect_i64(&r.out[0], w64, 8);
	result_fini(&r);
	const float y[5] = { -3, 300, 255.9f, 0.5f, 128 };
	cast(y, DT_FLOAT, 5, DT_UINT8, &r);
	const uint8_t wu8[5] = { 0, 255, 255, 0, 128 };
	assert_memory_equal(r.out[0].data, wu8, 5);
	result_fini(&r);
	cast(y, DT_FLOAT, 5, DT_INT8, &r);
	const int8_t wi8[5] = { -3, 127, 127, 0, 127 };
	assert_memory_equal(r.out[0].data, wi8, 5);
	result_fini(&r);
	const float big[2] = { 9.3e18f, -9.3e18f };
	cast(big, DT_FLOAT, 2, DT_INT64, &r);
	const int64_t wb[2] = { INT64_MAX, INT64_MIN };
	expect_i64(&r.out[0], wb, 2);
	result_fini(&r);
}

static void test_cast_int_paths(void **state)
{
	struct result r;
	/* exact integer paths: int64 -> int32 wraps, int64 -> double is exact below 2^53 */
	const int64_t x[4] = { ((int64_t)1 << 32) + 5, -1, ((int64_t)1 << 53) - 1, 123456789012LL };
	cast(x, DT_INT64, 4, DT_INT32, &r);
	const int32_t w32[4] = { 5, -1, -1, (int32_t)(123456789012LL & 0xffffffff) };
	expect_i32(&r.out[0], w32, 4);
	result_fini(&r);
	cast(x, DT_INT64, 4, DT_DOUBLE, &r);
	const double *d = r.out[0].data;
	assert_true(d[2] == 9007199254740991.0);
	assert_true(d[3] == 123456789012.0);
	result_fini(&r);
	cast(x, DT_INT64, 4, DT_BOOL, &r);
	const uint8_t wb[4] = { 1, 1, 1, 1 };
	expect_b(&r.out[0], wb, 4);
	result_fini(&r);
	const int32_t i[3] = { -1, 0, 70000 };
	cast(i, DT_INT32, 3, DT_INT64, &r);
	const int64_t wi[3] = { -1, 0, 70000 };
	expect_i64(&r.out[0], wi, 3);
	result_fini(&r);
	cast(i, DT_INT32, 3, DT_UINT16, &r);
	const uint16_t wu[3] = { 65535, 0, 4464 };
	assert_memory_equal(r.out[0].data, wu, 6);
	result_fini(&r);
	const uint8_t b[3] = { 0, 1, 1 };
	cast(b, DT_BOOL, 3, DT_FLOAT, &r);
	const float wf[3] = { 0, 1, 1 };
	expect_f(&r.out[0], wf, 3, 0);
	result_fini(&r);
	const float f[3] = { 0, -0.0f, NAN };
	cast(f, DT_FLOAT, 3, DT_BOOL, &r);
	const uint8_t wfb[3] = { 0, 0, 1 };
	expect_b(&r.out[0], wfb, 3);
	result_fini(&r);
	cast(f, DT_FLOAT, 3, DT_FLOAT, &r);
	assert_memory_equal(r.out[0].data, f, 12);
	result_fini(&r);
}

static void test_cast_half(void **state)
{
	struct result r, r2;
	/* values exactly representable in float16 survive a round trip; others round to
	 * nearest even */
	float x[600];
	for (int i = 0; i < 600; i++)
		x[i] = (float)(i - 300) * 0.125f;
	x[0] = 1.0009765625f;	     /* 1 + 2^-10: exact */
	x[1] = 1.00048828125f;	     /* 1 + 2^-11: tie -> even (1.0) */
	x[2] = 65504;		     /* max half */
	x[3] = 1e6f;		     /* overflow -> inf */
	cast(x, DT_FLOAT, 600, DT_FLOAT16, &r);
	struct tnode t;
	tn_init(&t, "Cast");
	tn_int(&t, "to", DT_FLOAT);
	const struct tensor *in[1] = { &r.out[0] };
	run_ok(&t, in, 1, &r2);
	float want[600];
	memcpy(want, x, sizeof want);
	want[1] = 1.0f;
	want[3] = INFINITY;
	expect_f(&r2.out[0], want, 600, 0);
	result_fini(&r2);
	/* float16 -> double and -> int32 go through float */
	tn_init(&t, "Cast");
	tn_int(&t, "to", DT_INT32);
	run_ok(&t, in, 1, &r2);
	assert_int_equal(((int32_t *)r2.out[0].data)[4], (int32_t)x[4]);
	assert_int_equal(((int32_t *)r2.out[0].data)[3], INT32_MAX);
	result_fini(&r2);
	result_fini(&r);

	/* bfloat16 keeps 8 bits of mantissa */
	const float b[4] = { 1.0f, 1.0078125f, 1.001953125f, -3.5f };
	cast(b, DT_FLOAT, 4, DT_BFLOAT16, &r);
	in[0] = &r.out[0];
	run_ok(&t, in, 1, &r2); /* to int32 */
	result_fini(&r2);
	tn_init(&t, "Cast");
	tn_int(&t, "to", DT_DOUBLE);
	run_ok(&t, in, 1, &r2);
	const double *d = r2.out[0].data;
	assert_true(d[0] == 1.0 && d[1] == 1.0078125 && d[2] == 1.0 && d[3] == -3.5);
	result_fini(&r2);
	result_fini(&r);

	/* CastLike takes the type of its second input */
	tn_init(&t, "CastLike");
	const double dv[2] = { 0.1, 2.75 };
	const uint16_t like = 0;
	struct tensor td = ten(DT_DOUBLE, shp(1, 2), dv), tl = ten(DT_FLOAT16, shp(0), &like);
	const struct tensor *cin[2] = { &td, &tl };
	run_ok(&t, cin, 2, &r);
	assert_int_equal(r.out[0].dtype, DT_FLOAT16);
	assert_int_equal(((uint16_t *)r.out[0].data)[1], float_to_half(2.75f));
	assert_int_equal(((uint16_t *)r.out[0].data)[0], float_to_half(0.1f));
	result_fini(&r);
}

static void test_cast_errors(void **state)
{
	struct tnode t;
	tn_init(&t, "Cast");
	tn_int(&t, "to", 8); /* string */
	const float x[1] = { 0 };
	struct tensor tx = ten(DT_FLOAT, shp(1, 1), x);
	const struct tensor *in[1] = { &tx };
	expect_err(&t, 13, in, 1, ERR_UNSUPPORTED, "string");
	tn_init(&t, "Cast");
	tn_int(&t, "to", DT_FLOAT8E4M3FN);
	expect_err(&t, 19, in, 1, ERR_UNSUPPORTED, "float8e4m3fn");
	tn_init(&t, "Cast");
	expect_err(&t, 13, in, 1, ERR_INVALID, "'to' is missing");
	tn_init(&t, "Cast");
	tn_int(&t, "to", 99);
	expect_err(&t, 13, in, 1, ERR_INVALID, "unknown");
}

/* --- through the executor ------------------------------------------------------------ */

static int add_val(struct graph *g, const char *name, enum value_kind kind, enum dtype dt,
		   struct shape s)
{
	struct err e;
	int v = graph_add_value(g, name, kind, &e);
	assert_true(v >= 0);
	g->values[v].dtype = dt;
	g->values[v].shape = s;
	return v;
}

static void add_node(struct graph *g, const char *op, int n_in, const int *ins, int out)
{
	struct err e;
	struct node n = { 0 };
	n.name = graph_strdup(g, op);
	n.op_type = graph_strdup(g, op);
	n.domain = "";
	int *iv = graph_alloc(g, sizeof(int) * (size_t)n_in);
	int *ov = graph_alloc(g, sizeof(int));
	assert_non_null(iv);
	assert_non_null(ov);
	memcpy(iv, ins, sizeof(int) * (size_t)n_in);
	*ov = out;
	n.n_inputs = n_in;
	n.inputs = iv;
	n.n_outputs = 1;
	n.outputs = ov;
	assert_int_equal(graph_add_node(g, &n, &e), OK);
}

/* y = Relu(x * c + Sum(c, c)) with c constant: the Sum folds at plan time. */
static void test_through_plan(void **state)
{
	struct graph *g = graph_new();
	assert_non_null(g);
	g->opset = 17;
	struct err e;
	static const float cdata[3] = { 1, -2, 0.5f };
	int x = add_val(g, "x", VAL_INPUT, DT_FLOAT, shp(2, -1, 3));
	int c = add_val(g, "c", VAL_CONST, DT_FLOAT, shp(1, 3));
	g->values[c].constant = ten(DT_FLOAT, shp(1, 3), cdata);
	int m = add_val(g, "m", VAL_INTERMEDIATE, DT_UNDEFINED, (struct shape){ .rank = -1 });
	int s2 = add_val(g, "s2", VAL_INTERMEDIATE, DT_UNDEFINED, (struct shape){ .rank = -1 });
	int a = add_val(g, "a", VAL_INTERMEDIATE, DT_UNDEFINED, (struct shape){ .rank = -1 });
	int y = add_val(g, "y", VAL_INTERMEDIATE, DT_UNDEFINED, (struct shape){ .rank = -1 });
	add_node(g, "Mul", 2, (int[]){ x, c }, m);
	add_node(g, "Sum", 2, (int[]){ c, c }, s2);
	add_node(g, "Add", 2, (int[]){ m, s2 }, a);
	add_node(g, "Relu", 1, (int[]){ a }, y);
	assert_int_equal(graph_add_input(g, x, &e), OK);
	assert_int_equal(graph_add_output(g, y, &e), OK);
	if (graph_finalize(g, &e))
		fail_msg("finalize: %s", e.msg);
	struct shape in_shape = shp(2, 2, 3);
	struct plan *p = NULL;
	if (plan_new(g, &in_shape, NULL, &p, &e))
		fail_msg("plan: %s", e.msg);
	assert_true(plan_value_is_const(p, s2));
	const float xd[6] = { 1, 1, 1, -1, -1, -1 };
	struct tensor tin = ten(DT_FLOAT, in_shape, xd);
	if (plan_run(p, &tin, NULL, &e))
		fail_msg("run: %s", e.msg);
	const struct tensor *out = plan_value(p, y);
	expect_shape(out, shp(2, 2, 3));
	/* x*c + 2c = (x + 2) * c */
	const float want[6] = { 3, 0, 1.5f, 1, 0, 0.5f };
	expect_f(out, want, 6, 0);
	plan_free(p);
	graph_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bcast_shape),
		cmocka_unit_test(test_bcast_strides),
		cmocka_unit_test(test_bcast_iter_merging),
		cmocka_unit_test(test_add_broadcast_patterns_vs_naive),
		cmocka_unit_test(test_arith_row_broadcast),
		cmocka_unit_test(test_arith_float),
		cmocka_unit_test(test_arith_int),
		cmocka_unit_test(test_arith_errors),
		cmocka_unit_test(test_legacy_axis_broadcast),
		cmocka_unit_test(test_pow),
		cmocka_unit_test(test_mod_prelu),
		cmocka_unit_test(test_variadic),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_unary_math),
		cmocka_unit_test(test_activations),
		cmocka_unit_test(test_vectorised_transcendentals),
		cmocka_unit_test(test_clip),
		cmocka_unit_test(test_reduce_axes),
		cmocka_unit_test(test_reduce_axes_input),
		cmocka_unit_test(test_reduce_types_and_lse),
		cmocka_unit_test(test_extras),
		cmocka_unit_test(test_cast_float_to_int),
		cmocka_unit_test(test_cast_int_paths),
		cmocka_unit_test(test_cast_half),
		cmocka_unit_test(test_cast_errors),
		cmocka_unit_test(test_through_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
