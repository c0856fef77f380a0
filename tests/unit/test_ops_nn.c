/*
 * test_ops_nn.c - the "nn" kernel family: Conv, ConvTranspose, Gemm, MatMul, pooling,
 * normalization and softmax.
 *
 * Each op is driven through its op_defs row exactly as the executor does: prepare() on a
 * hand-built node and input tensors, outputs allocated at the prepared shapes, scratch of the
 * prepared size (64-byte aligned), then run().  Small cases assert known numbers; the
 * optimised Conv / ConvTranspose paths are cross-checked against naive loops written here.
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

#include "graph.h"
#include "op.h"
#include "ops/nn_util.h"
#include "tensor.h"

/* --- building nodes and running ops ------------------------------------- */

#define MAX_ATTRS 12

struct tnode {
	struct node node;
	struct attr attrs[MAX_ATTRS];
	int64_t ints[MAX_ATTRS][16];
};

static void tn_init(struct tnode *t, const char *op_type)
{
	memset(t, 0, sizeof *t);
	t->node.name = "n0";
	t->node.op_type = op_type;
	t->node.domain = "";
	t->node.op = op_lookup(op_type);
	t->node.attrs = t->attrs;
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

/* tn_ints(t, "pads", 4, 1, 1, 1, 1) */
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

static struct tensor ften(struct shape s, const float *data)
{
	return tensor_view(DT_FLOAT, &s, (void *)data);
}

struct result {
	int n_out;
	struct tensor out[4];
};

static void result_fini(struct result *r)
{
	for (int i = 0; i < r->n_out; i++)
		tensor_fini(&r->out[i]);
}

/* prepare + run; outputs allocated in r (free with result_fini).  Returns the first error. */
static enum status run_op_opset(const struct tnode *t, int64_t opset,
				const struct tensor *const *in, int n_in, struct result *r, int n_out,
				struct err *e)
{
	memset(r, 0, sizeof *r);
	r->n_out = n_out;
	assert_true(t->node.op < OP_COUNT);
	const struct op_def *d = &op_defs[t->node.op];
	struct step s = { .node = &t->node, .opset = opset };
	struct tensor *outp[4];
	for (int i = 0; i < n_out; i++)
		outp[i] = &r->out[i];
	err_clear(e);
	enum status st = d->prepare(&s, in, n_in, outp, n_out, e);
	if (st) {
		free(s.params);
		return st;
	}
	for (int i = 0; i < n_out; i++) {
		struct shape sh = r->out[i].shape;
		assert_int_equal(tensor_alloc(&r->out[i], r->out[i].dtype, &sh, e), OK);
	}
	void *scratch = NULL;
	if (s.scratch_bytes) {
		scratch = aligned_alloc(64, (s.scratch_bytes + 63) & ~(size_t)63);
		assert_non_null(scratch);
		/* poison: kernels must not rely on zeroed scratch */
		memset(scratch, 0x7f, s.scratch_bytes);
	}
	st = d->run(&s, in, n_in, outp, n_out, scratch, e);
	free(scratch);
	free(s.params);
	return st;
}

static enum status run_op(const struct tnode *t, const struct tensor *const *in, int n_in,
			  struct result *r, int n_out, struct err *e)
{
	return run_op_opset(t, 17, in, n_in, r, n_out, e);
}

static void expect_shape(const struct tensor *t, struct shape want)
{
	char a[96], b[96];
	if (!shape_equal(&t->shape, &want))
		fail_msg("shape %s, expected %s", shape_str(&t->shape, a, sizeof a),
			 shape_str(&want, b, sizeof b));
}

static void expect_floats(const struct tensor *t, const float *want, int64_t n, float tol)
{
	assert_int_equal(t->dtype, DT_FLOAT);
	assert_int_equal(tensor_numel(t), n);
	const float *got = t->data;
	for (int64_t i = 0; i < n; i++)
		if (!(fabsf(got[i] - want[i]) <= tol))
			fail_msg("element %lld: got %.7g, expected %.7g", (long long)i,
				 (double)got[i], (double)want[i]);
}

static void expect_error(const struct tnode *t, const struct tensor *const *in, int n_in,
			 int n_out, enum status code, const char *substr)
{
	struct err e;
	struct result r;
	enum status st = run_op(t, in, n_in, &r, n_out, &e);
	result_fini(&r);
	if (st != code || !strstr(e.msg, substr))
		fail_msg("got %s '%s', expected %s containing '%s'", status_str(st), e.msg,
			 status_str(code), substr);
}

static uint32_t rng_state = 12345;
static float frand(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *frand_buf(int64_t n)
{
	float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
	assert_non_null(p);
	for (int64_t i = 0; i < n; i++)
		p[i] = frand();
	return p;
}

/* --- Conv ---------------------------------------------------------------- */

static void test_conv_3x3_on_4x4(void **state)
{
	float x[16], w[9], b[1] = { 1.0f };
	for (int i = 0; i < 16; i++)
		x[i] = (float)i;
	for (int i = 0; i < 9; i++)
		w[i] = 1.0f;
	struct tnode t;
	tn_init(&t, "Conv");
	struct tensor tx = ften(shp(4, 1, 1, 4, 4), x), tw = ften(shp(4, 1, 1, 3, 3), w);
	struct tensor tb = ften(shp(1, 1), b);
	const struct tensor *in[] = { &tx, &tw, &tb };
	struct result r;
	struct err e;
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 1, 2, 2));
	const float want[] = { 46, 55, 82, 91 };
	expect_floats(&r.out[0], want, 4, 1e-5f);
	result_fini(&r);

	/* pads 1 all round: 4x4 output; the corner sees 0+1+4+5 */
	tn_ints(&t, "pads", 4, 1, 1, 1, 1);
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 1, 4, 4));
	const float want_p[] = { 10, 18, 24, 18, 27, 45, 54, 39, 51, 81, 90, 63, 42, 66, 72, 50 };
	expect_floats(&r.out[0], want_p, 16, 1e-5f);
	result_fini(&r);
}

static void test_conv_depthwise_stride2_pad(void **state)
{
	/* 2 channels, 4x4, depthwise 3x3, stride 2, pads 1: output 2x2 per channel. */
	float x[32], w[18], b[2] = { 0.5f, -1.0f };
	for (int i = 0; i < 32; i++)
		x[i] = (float)i;
	for (int i = 0; i < 9; i++) {
		w[i] = 1.0f;		    /* channel 0: box sum */
		w[9 + i] = i == 4 ? 2.0f : 0.0f; /* channel 1: 2 * centre */
	}
	struct tnode t;
	tn_init(&t, "Conv");
	tn_int(&t, "group", 2);
	tn_ints(&t, "strides", 2, 2, 2);
	tn_ints(&t, "pads", 4, 1, 1, 1, 1);
	struct tensor tx = ften(shp(4, 1, 2, 4, 4), x), tw = ften(shp(4, 2, 1, 3, 3), w);
	struct tensor tb = ften(shp(1, 2), b);
	const struct tensor *in[] = { &tx, &tw, &tb };
	struct result r;
	struct err e;
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 2, 2, 2));
	/* ch0 windows centred at (0,0),(0,2),(2,0),(2,2): 10, 24, 51, 90 (+0.5)
	 * ch1 centre values 16, 18, 24, 26 doubled (-1) */
	const float want[] = { 10.5f, 24.5f, 51.5f, 90.5f, 31, 35, 47, 51 };
	expect_floats(&r.out[0], want, 8, 1e-5f);
	result_fini(&r);
}

static void test_conv_grouped(void **state)
{
	/* 4 input channels, 2 groups, 2 outputs per group, 1x1 kernel on a 1x2 image. */
	const float x[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	/* out m reads channels of its group: weights [M=4, Cg=2] */
	const float w[] = { 1, 0, 0, 1, 1, 1, 1, -1 };
	struct tnode t;
	tn_init(&t, "Conv");
	tn_int(&t, "group", 2);
	struct tensor tx = ften(shp(4, 1, 4, 1, 2), x), tw = ften(shp(4, 4, 2, 1, 1), w);
	const struct tensor *in[] = { &tx, &tw };
	struct result r;
	struct err e;
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 4, 1, 2));
	/* g0: ch0=[1,2], ch1=[3,4]; g1: ch2=[5,6], ch3=[7,8] */
	const float want[] = { 1, 2, 3, 4, 12, 14, -2, -2 };
	expect_floats(&r.out[0], want, 8, 1e-5f);
	result_fini(&r);
}

static void test_conv_autopad(void **state)
{
	/* 1x1x4x4 input of ones, 2x2 kernel of ones, stride 1: SAME pads 1 pixel.
	 * SAME_UPPER pads at the end (bottom/right), SAME_LOWER at the beginning. */
	float x[16], w[4] = { 1, 2, 3, 4 };
	for (int i = 0; i < 16; i++)
		x[i] = 1.0f;
	struct tensor tx = ften(shp(4, 1, 1, 4, 4), x), tw = ften(shp(4, 1, 1, 2, 2), w);
	const struct tensor *in[] = { &tx, &tw };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "Conv");
	tn_str(&t, "auto_pad", "SAME_UPPER");
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 1, 4, 4));
	const float up[] = { 10, 10, 10, 4, 10, 10, 10, 4, 10, 10, 10, 4, 3, 3, 3, 1 };
	expect_floats(&r.out[0], up, 16, 1e-5f);
	result_fini(&r);

	tn_init(&t, "Conv");
	tn_str(&t, "auto_pad", "SAME_LOWER");
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	const float lo[] = { 4, 7, 7, 7, 6, 10, 10, 10, 6, 10, 10, 10, 6, 10, 10, 10 };
	expect_floats(&r.out[0], lo, 16, 1e-5f);
	result_fini(&r);

	/* SAME with stride 2 on 5x5: out 3x3, total pad 2 -> 1 each side (ONNX test case) */
	float x5[25], w9[9];
	for (int i = 0; i < 25; i++)
		x5[i] = (float)i;
	for (int i = 0; i < 9; i++)
		w9[i] = 1.0f;
	struct tensor tx5 = ften(shp(4, 1, 1, 5, 5), x5), tw9 = ften(shp(4, 1, 1, 3, 3), w9);
	const struct tensor *in5[] = { &tx5, &tw9 };
	tn_init(&t, "Conv");
	tn_str(&t, "auto_pad", "SAME_LOWER");
	tn_ints(&t, "strides", 2, 2, 2);
	tn_ints(&t, "kernel_shape", 2, 3, 3);
	assert_int_equal(run_op(&t, in5, 2, &r, 1, &e), OK);
	const float same5[] = { 12, 27, 24, 63, 108, 81, 72, 117, 84 };
	expect_floats(&r.out[0], same5, 9, 1e-5f);
	result_fini(&r);

	tn_init(&t, "Conv");
	tn_str(&t, "auto_pad", "VALID");
	tn_ints(&t, "strides", 2, 2, 2);
	assert_int_equal(run_op(&t, in5, 2, &r, 1, &e), OK);
	const float valid5[] = { 54, 72, 144, 162 };
	expect_floats(&r.out[0], valid5, 4, 1e-5f);
	result_fini(&r);
}

/* Naive Conv over 3-D windows: x [N,C,D,H,W], w [M,C/g,KD,KH,KW]. */
struct cspec {
	int n, c, m, group, nsp;
	int in[3], k[3], s[3], d[3], p0[3], p1[3];
};

static int cs_out(const struct cspec *c, int i)
{
	return (c->in[i] + c->p0[i] + c->p1[i] - ((c->k[i] - 1) * c->d[i] + 1)) / c->s[i] + 1;
}

static void conv_ref(const struct cspec *c, const float *x, const float *w, const float *b,
		     float *y)
{
	int od[3], cg = c->c / c->group, mg = c->m / c->group;
	for (int i = 0; i < 3; i++)
		od[i] = cs_out(c, i);
	int isp = c->in[0] * c->in[1] * c->in[2], osp = od[0] * od[1] * od[2];
	int kk = c->k[0] * c->k[1] * c->k[2];
	for (int n = 0; n < c->n; n++)
	for (int m = 0; m < c->m; m++)
	for (int o0 = 0; o0 < od[0]; o0++)
	for (int o1 = 0; o1 < od[1]; o1++)
	for (int o2 = 0; o2 < od[2]; o2++) {
		double acc = b ? b[m] : 0.0;
		int g = m / mg;
		for (int ci = 0; ci < cg; ci++)
		for (int k0 = 0; k0 < c->k[0]; k0++)
		for (int k1 = 0; k1 < c->k[1]; k1++)
		for (int k2 = 0; k2 < c->k[2]; k2++) {
			int i0 = o0 * c->s[0] - c->p0[0] + k0 * c->d[0];
			int i1 = o1 * c->s[1] - c->p0[1] + k1 * c->d[1];
			int i2 = o2 * c->s[2] - c->p0[2] + k2 * c->d[2];
			if (i0 < 0 || i0 >= c->in[0] || i1 < 0 || i1 >= c->in[1] || i2 < 0 ||
			    i2 >= c->in[2])
				continue;
			int ch = g * cg + ci;
			acc += (double)x[((n * c->c + ch) * c->in[0] + i0) * c->in[1] * c->in[2] +
					 i1 * c->in[2] + i2] *
			       w[(m * cg + ci) * kk + (k0 * c->k[1] + k1) * c->k[2] + k2];
		}
		y[(n * c->m + m) * osp + (o0 * od[1] + o1) * od[2] + o2] = (float)acc;
	}
	(void)isp;
}

/* Run Conv for spec c (dims in the last nsp entries of the 3-D arrays) against conv_ref. */
static void conv_check(const struct cspec *c, bool with_bias)
{
	int lead = 3 - c->nsp, cg = c->c / c->group;
	struct shape xs = { .rank = 2 + c->nsp }, ws = { .rank = 2 + c->nsp };
	xs.dim[0] = c->n;
	xs.dim[1] = c->c;
	ws.dim[0] = c->m;
	ws.dim[1] = cg;
	struct tnode t;
	tn_init(&t, "Conv");
	tn_int(&t, "group", c->group);
	struct attr *as = tn_attr(&t, "strides", ATTR_INTS);
	struct attr *ad = tn_attr(&t, "dilations", ATTR_INTS);
	struct attr *ap = tn_attr(&t, "pads", ATTR_INTS);
	int64_t sv[3], dv[3], pv[6];
	for (int i = 0; i < c->nsp; i++) {
		xs.dim[2 + i] = c->in[lead + i];
		ws.dim[2 + i] = c->k[lead + i];
		sv[i] = c->s[lead + i];
		dv[i] = c->d[lead + i];
		pv[i] = c->p0[lead + i];
		pv[c->nsp + i] = c->p1[lead + i];
	}
	as->ints = sv;
	as->n = c->nsp;
	ad->ints = dv;
	ad->n = c->nsp;
	ap->ints = pv;
	ap->n = 2 * c->nsp;
	int64_t xn = shape_numel(&xs), wn = shape_numel(&ws);
	float *x = frand_buf(xn), *w = frand_buf(wn), *b = frand_buf(c->m);
	struct tensor tx = ften(xs, x), tw = ften(ws, w), tb = ften(shp(1, c->m), b);
	const struct tensor *in[] = { &tx, &tw, &tb };
	struct result r;
	struct err e;
	enum status st = run_op(&t, in, with_bias ? 3 : 2, &r, 1, &e);
	if (st)
		fail_msg("conv failed: %s", e.msg);
	int64_t yn = (int64_t)c->n * c->m;
	for (int i = 0; i < 3; i++)
		yn *= cs_out(c, i);
	assert_int_equal(tensor_numel(&r.out[0]), yn);
	float *want = malloc((size_t)yn * sizeof(float));
	assert_non_null(want);
	conv_ref(c, x, w, with_bias ? b : NULL, want);
	const float *got = r.out[0].data;
	float maxd = 0;
	for (int64_t i = 0; i < yn; i++) {
		float dd = fabsf(got[i] - want[i]);
		if (!(dd <= maxd))
			maxd = dd;
	}
	if (!(maxd <= 1e-4f))
		fail_msg("conv n%d c%d m%d g%d in %dx%dx%d k %dx%dx%d s %d,%d d %d,%d: max diff %g",
			 c->n, c->c, c->m, c->group, c->in[0], c->in[1], c->in[2], c->k[0],
			 c->k[1], c->k[2], c->s[1], c->s[2], c->d[1], c->d[2], (double)maxd);
	free(want);
	free(x);
	free(w);
	free(b);
	result_fini(&r);
}

#define CS2(N, C, M, G, H, W, KH, KW, S, D, P0, P1)                                            \
	{ N, C, M, G, 2, { 1, H, W }, { 1, KH, KW }, { 1, S, S }, { 1, D, D }, { 0, P0, P0 },   \
	  { 0, P1, P1 } }

static void test_conv_random_paths(void **state)
{
	static const struct cspec cases[] = {
		/* pointwise 1x1, single sample (direct sgemm) and batched small maps */
		CS2(1, 8, 6, 1, 20, 30, 1, 1, 1, 1, 0, 0),
		CS2(5, 8, 6, 1, 7, 7, 1, 1, 1, 1, 0, 0),
		CS2(3, 8, 6, 2, 4, 5, 1, 1, 1, 1, 0, 0),
		/* 1x1 with stride / padding goes through im2col */
		CS2(2, 4, 3, 1, 9, 9, 1, 1, 2, 1, 0, 0),
		CS2(2, 4, 3, 1, 6, 6, 1, 1, 1, 1, 1, 1),
		/* depthwise: 3x3 s1, s2, pads, multiplier 2, 5x5, dilation, no pad */
		CS2(2, 6, 6, 6, 9, 11, 3, 3, 1, 1, 1, 1),
		CS2(2, 6, 6, 6, 9, 11, 3, 3, 2, 1, 1, 1),
		CS2(2, 6, 6, 6, 8, 8, 3, 3, 2, 1, 0, 1),
		CS2(1, 4, 8, 4, 7, 9, 3, 3, 1, 1, 1, 1),
		CS2(2, 3, 3, 3, 12, 10, 5, 5, 1, 1, 2, 2),
		CS2(1, 3, 3, 3, 12, 10, 3, 3, 2, 2, 2, 1),
		CS2(1, 3, 3, 3, 6, 6, 3, 3, 1, 1, 0, 0),
		CS2(1, 3, 3, 3, 6, 6, 3, 3, 3, 1, 2, 0),
		/* im2col: large map (per-sample), small maps (batched), strides, dilations */
		CS2(2, 3, 5, 1, 30, 40, 3, 3, 1, 1, 1, 1),
		CS2(7, 5, 4, 1, 6, 6, 3, 3, 1, 1, 1, 1),
		CS2(4, 5, 4, 1, 9, 7, 3, 3, 2, 1, 1, 0),
		CS2(3, 4, 6, 1, 11, 11, 3, 3, 1, 2, 2, 2),
		CS2(3, 4, 6, 1, 11, 11, 2, 4, 3, 1, 0, 3),
		CS2(2, 6, 4, 2, 8, 8, 3, 3, 1, 1, 1, 1),
		CS2(2, 4, 4, 2, 8, 8, 3, 3, 1, 1, 1, 1), /* grouped, not depthwise */
		CS2(2, 3, 4, 1, 9, 8, 2, 2, 1, 1, 1, 0),  /* "same" with the pad at the start */
		CS2(2, 3, 4, 1, 9, 8, 2, 2, 1, 1, 0, 1),  /* ... and at the end */
		CS2(1, 2, 3, 1, 5, 4, 5, 3, 1, 1, 2, 1),  /* kernel taller than the rows it finds */
		CS2(20, 2, 3, 1, 12, 12, 3, 3, 1, 1, 0, 0), /* batch chunks 6,6,6,2 */
		/* 1-D and 3-D */
		{ 2, 3, 4, 1, 1, { 1, 1, 17 }, { 1, 1, 3 }, { 1, 1, 2 }, { 1, 1, 1 }, { 0, 0, 1 },
		  { 0, 0, 0 } },
		{ 2, 4, 4, 4, 1, { 1, 1, 17 }, { 1, 1, 3 }, { 1, 1, 1 }, { 1, 1, 2 }, { 0, 0, 2 },
		  { 0, 0, 2 } },
		{ 2, 2, 3, 1, 3, { 5, 6, 7 }, { 3, 2, 3 }, { 1, 2, 1 }, { 2, 1, 1 }, { 1, 0, 1 },
		  { 1, 1, 0 } },
		{ 1, 4, 4, 4, 3, { 4, 5, 5 }, { 2, 3, 3 }, { 1, 1, 1 }, { 1, 1, 1 }, { 1, 1, 1 },
		  { 0, 1, 1 } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		conv_check(&cases[i], true);
		conv_check(&cases[i], false);
	}
}

/* Pointwise convolutions through the direct kernels: every output is the bias and then one
 * fused multiply-add per input channel in order, whatever lane of which tile carries it.
 * Maps whose last vector holds 1-9 positions or 16, one sample and many (vectors of several
 * samples in one tile); output channels not a multiple of the tile. */
static void test_conv_pointwise_bits(void **state)
{
	(void)state;
	if (!nn_have_avx512())
		skip(); /* the generic path multiplies through OpenBLAS, in its own order */
	static const int cases[][5] = { /* n, c, m, h, w */
		{ 5, 8, 6, 7, 7 }, { 6, 16, 13, 7, 7 }, { 3, 5, 4, 14, 14 }, { 9, 7, 5, 2, 2 },
		{ 4, 3, 9, 6, 6 }, { 2, 6, 6, 4, 4 }, { 4, 6, 5, 3, 3 }, { 1, 8, 6, 7, 7 },
		{ 40, 12, 7, 7, 7 },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const int n = cases[k][0], c = cases[k][1], m = cases[k][2];
		const int sp = cases[k][3] * cases[k][4];
		float *x = frand_buf((int64_t)n * c * sp), *w = frand_buf((int64_t)m * c);
		float *b = frand_buf(m);
		struct tensor tx = ften(shp(4, n, c, cases[k][3], cases[k][4]), x);
		struct tensor tw = ften(shp(4, m, c, 1, 1), w), tb = ften(shp(1, m), b);
		const struct tensor *in[] = { &tx, &tw, &tb };
		struct tnode t;
		tn_init(&t, "Conv");
		struct result r;
		struct err e;
		assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
		const float *y = r.out[0].data;
		for (int i = 0; i < n; i++)
			for (int o = 0; o < m; o++)
				for (int q = 0; q < sp; q++) {
					float acc = b[o];
					for (int ci = 0; ci < c; ci++)
						acc = fmaf(w[o * c + ci], x[((int64_t)i * c + ci) * sp + q], acc);
					const float *got = &y[((int64_t)i * m + o) * sp + q];
					if (memcmp(got, &acc, sizeof acc))
						fail_msg("case %zu: sample %d channel %d position %d: %a, want %a",
							 k, i, o, q, (double)*got, (double)acc);
				}
		result_fini(&r);
		free(x);
		free(w);
		free(b);
	}
}

static void test_conv_errors(void **state)
{
	float buf[4096] = { 0 };
	struct tnode t;
	tn_init(&t, "Conv");
	struct tensor tx = ften(shp(4, 1, 8, 5, 5), buf), tw3 = ften(shp(3, 2, 3, 3), buf);
	struct tensor tw = ften(shp(4, 2, 3, 3, 3), buf), tw5 = ften(shp(4, 2, 8, 5, 5), buf);
	struct tensor tb = ften(shp(1, 3), buf);
	const struct tensor *a[] = { &tx, &tw3 };
	expect_error(&t, a, 2, 1, ERR_SHAPE, "weight has 3 dims, expected 4");
	const struct tensor *b[] = { &tx, &tw };
	expect_error(&t, b, 2, 1, ERR_SHAPE, "input has 8 channels but weight expects 3 (group 1)");
	struct tensor tx3 = ften(shp(4, 1, 8, 3, 3), buf);
	const struct tensor *c[] = { &tx3, &tw5 };
	expect_error(&t, c, 2, 1, ERR_SHAPE, "kernel 5x5 larger than padded input 3x3");
	struct tensor tw8 = ften(shp(4, 2, 8, 3, 3), buf);
	const struct tensor *d[] = { &tx, &tw8, &tb };
	expect_error(&t, d, 3, 1, ERR_SHAPE, "bias has shape [3], expected [2]");
	tn_ints(&t, "pads", 2, 1, 1);
	const struct tensor *f[] = { &tx, &tw8 };
	expect_error(&t, f, 2, 1, ERR_INVALID, "pads has 2 values, expected 4");
	tn_init(&t, "Conv");
	tn_ints(&t, "kernel_shape", 2, 2, 2);
	expect_error(&t, f, 2, 1, ERR_SHAPE, "kernel_shape 2x2 does not match weight 3x3");
	tn_init(&t, "Conv");
	tn_str(&t, "auto_pad", "SAME");
	expect_error(&t, f, 2, 1, ERR_INVALID, "auto_pad 'SAME'");
	tn_init(&t, "Conv");
	tn_ints(&t, "dilations", 2, 1, 1 << 30);
	expect_error(&t, f, 2, 1, ERR_INVALID, "dilations[1] is 1073741824, larger than the limit");
	tn_init(&t, "Conv");
	int32_t ibuf[200] = { 0 };
	struct shape xs = shp(4, 1, 8, 5, 5);
	struct tensor ti = tensor_view(DT_INT32, &xs, ibuf);
	const struct tensor *g[] = { &ti, &tw8 };
	expect_error(&t, g, 2, 1, ERR_UNSUPPORTED, "input has type int32");
}

/* --- Gemm ---------------------------------------------------------------- */

static void test_gemm_attributes(void **state)
{
	/* op(A) = [[1,2],[3,4]] stored transposed; op(B) = [[1,0,2],[0,1,3]] stored transposed.
	 * op(A) op(B) = [[1,2,8],[3,4,18]] */
	const float a[] = { 1, 3, 2, 4 }, b[] = { 1, 0, 0, 1, 2, 3 };
	const float c_row[] = { 10, 20, 30 }, c_col[] = { 1, 2 }, c_s[] = { 5 };
	const float c_full[] = { 1, 2, 3, 4, 5, 6 };
	struct tensor ta = ften(shp(2, 2, 2), a), tb = ften(shp(2, 3, 2), b);
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "Gemm");
	tn_int(&t, "transA", 1);
	tn_int(&t, "transB", 1);
	tn_float(&t, "alpha", 0.5f);
	tn_float(&t, "beta", 0.1f);

	struct tensor tc = ften(shp(2, 1, 3), c_row);
	const struct tensor *in[] = { &ta, &tb, &tc };
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(2, 2, 3));
	const float w1[] = { 1.5f, 3, 7, 2.5f, 4, 12 };
	expect_floats(&r.out[0], w1, 6, 1e-5f);
	result_fini(&r);

	/* [N] vector bias broadcasts over rows the same way */
	tc = ften(shp(1, 3), c_row);
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	expect_floats(&r.out[0], w1, 6, 1e-5f);
	result_fini(&r);

	/* [M,1] column bias */
	tc = ften(shp(2, 2, 1), c_col);
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	const float w2[] = { 0.6f, 1.1f, 4.1f, 1.7f, 2.2f, 9.2f };
	expect_floats(&r.out[0], w2, 6, 1e-5f);
	result_fini(&r);

	/* scalar and full [M,N] */
	tc = ften(shp(0), c_s);
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	const float w3[] = { 1, 1.5f, 4.5f, 2, 2.5f, 9.5f };
	expect_floats(&r.out[0], w3, 6, 1e-5f);
	result_fini(&r);
	tc = ften(shp(2, 2, 3), c_full);
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	const float w4[] = { 0.6f, 1.2f, 4.3f, 1.9f, 2.5f, 9.6f };
	expect_floats(&r.out[0], w4, 6, 1e-5f);
	result_fini(&r);

	/* no C (opset 11+), default attributes, untransposed inputs */
	const float a2[] = { 1, 2, 3, 4 }, b2[] = { 1, 0, 2, 0, 1, 3 };
	struct tensor ta2 = ften(shp(2, 2, 2), a2), tb2 = ften(shp(2, 2, 3), b2);
	const struct tensor *in2[] = { &ta2, &tb2 };
	tn_init(&t, "Gemm");
	assert_int_equal(run_op(&t, in2, 2, &r, 1, &e), OK);
	const float w5[] = { 1, 2, 8, 3, 4, 18 };
	expect_floats(&r.out[0], w5, 6, 1e-5f);
	result_fini(&r);

	/* errors */
	const struct tensor *bad[] = { &ta2, &tb };
	expect_error(&t, bad, 2, 1, ERR_SHAPE, "different inner dims (2 and 3)");
	struct tensor tc_bad = ften(shp(1, 2), c_col);
	const struct tensor *bad2[] = { &ta2, &tb2, &tc_bad };
	expect_error(&t, bad2, 3, 1, ERR_SHAPE, "C has shape [2], which does not broadcast to "
		     "[2,3]");
}

/* --- MatMul -------------------------------------------------------------- */

static void test_matmul_small(void **state)
{
	const float a[] = { 1, 2, 3, 4 }, b[] = { 5, 6, 7, 8 }, v[] = { 1, 2, 3 },
		    u[] = { 4, 5, 6 }, ones[] = { 1, 1 };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "MatMul");
	struct tensor ta = ften(shp(2, 2, 2), a), tb = ften(shp(2, 2, 2), b);
	const struct tensor *in[] = { &ta, &tb };
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(2, 2, 2));
	const float w1[] = { 19, 22, 43, 50 };
	expect_floats(&r.out[0], w1, 4, 1e-5f);
	result_fini(&r);

	/* 1-D . 1-D -> scalar */
	struct tensor tv = ften(shp(1, 3), v), tu = ften(shp(1, 3), u);
	const struct tensor *in2[] = { &tv, &tu };
	assert_int_equal(run_op(&t, in2, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(0));
	const float w2[] = { 32 };
	expect_floats(&r.out[0], w2, 1, 1e-5f);
	result_fini(&r);

	/* 1-D x 2-D -> [N];  2-D x 1-D -> [M] */
	struct tensor ta1 = ften(shp(1, 2), a);
	const struct tensor *in3[] = { &ta1, &tb };
	assert_int_equal(run_op(&t, in3, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(1, 2));
	expect_floats(&r.out[0], w1, 2, 1e-5f);
	result_fini(&r);
	struct tensor to = ften(shp(1, 2), ones);
	const struct tensor *in4[] = { &ta, &to };
	assert_int_equal(run_op(&t, in4, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(1, 2));
	const float w4[] = { 3, 7 };
	expect_floats(&r.out[0], w4, 2, 1e-5f);
	result_fini(&r);

	const struct tensor *bad[] = { &tv, &tb };
	expect_error(&t, bad, 2, 1, ERR_SHAPE, "different inner dims (3 and 2)");
	float z[64] = { 0 };
	struct tensor tz1 = ften(shp(3, 2, 2, 2), z), tz2 = ften(shp(3, 3, 2, 2), z);
	const struct tensor *bad2[] = { &tz1, &tz2 };
	expect_error(&t, bad2, 2, 1, ERR_SHAPE, "do not broadcast");
}

/* Reference for broadcast MatMul of A [..., M, K] and B [..., K, N] with equal ranks >= 2. */
static void matmul_check(struct shape as, struct shape bs)
{
	int rank = as.rank, nbd = rank - 2;
	int64_t m = as.dim[rank - 2], k = as.dim[rank - 1], n = bs.dim[rank - 1];
	struct shape os = { .rank = rank };
	int64_t nbatch = 1;
	for (int i = 0; i < nbd; i++) {
		os.dim[i] = as.dim[i] > bs.dim[i] ? as.dim[i] : bs.dim[i];
		nbatch *= os.dim[i];
	}
	os.dim[rank - 2] = m;
	os.dim[rank - 1] = n;
	float *a = frand_buf(shape_numel(&as)), *b = frand_buf(shape_numel(&bs));
	struct tensor ta = ften(as, a), tb = ften(bs, b);
	const struct tensor *in[] = { &ta, &tb };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "MatMul");
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], os);
	const float *y = r.out[0].data;
	for (int64_t bi = 0; bi < nbatch; bi++) {
		/* unravel bi over the output batch dims, map to A and B */
		int64_t rem = bi, ia = 0, ib = 0, mula = 1, mulb = 1;
		for (int i = nbd - 1; i >= 0; i--) {
			int64_t idx = rem % os.dim[i];
			rem /= os.dim[i];
			ia += (as.dim[i] == 1 ? 0 : idx) * mula;
			ib += (bs.dim[i] == 1 ? 0 : idx) * mulb;
			mula *= as.dim[i];
			mulb *= bs.dim[i];
		}
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++) {
				double acc = 0;
				for (int64_t q = 0; q < k; q++)
					acc += (double)a[ia * m * k + i * k + q] *
					       b[ib * k * n + q * n + j];
				float got = y[(bi * m + i) * n + j];
				if (!(fabs(got - acc) <= 1e-4))
					fail_msg("batch %lld (%lld,%lld): %g vs %g", (long long)bi,
						 (long long)i, (long long)j, (double)got, acc);
			}
	}
	result_fini(&r);
	free(a);
	free(b);
}

static void test_matmul_broadcast(void **state)
{
	matmul_check(shp(4, 2, 1, 3, 4), shp(4, 1, 3, 4, 5));
	matmul_check(shp(3, 2, 3, 4), shp(3, 1, 4, 2));	/* shared B: folded */
	matmul_check(shp(3, 1, 3, 4), shp(3, 3, 4, 2));	/* shared A */
	matmul_check(shp(3, 5, 7, 8), shp(3, 5, 8, 6));
	/* attention-sized products take the small kernel: each width class (1 to 4 vectors of
	 * columns, the last one partial) with a row count that leaves a remainder after the
	 * kernel's row blocks */
	matmul_check(shp(4, 2, 3, 49, 16), shp(4, 2, 3, 16, 49));
	matmul_check(shp(4, 2, 3, 49, 49), shp(4, 2, 3, 49, 16));
	matmul_check(shp(3, 2, 13, 9), shp(3, 2, 9, 20));
	matmul_check(shp(3, 2, 11, 7), shp(3, 2, 7, 40));
	matmul_check(shp(3, 2, 3, 5), shp(3, 2, 5, 64));
	/* B 2-D, A 3-D: rank differs, checked by hand against the folded path */
	const float a[] = { 1, 2, 3, 4, 5, 6, 7, 8 }, b[] = { 1, 0, 0, 1 };
	struct tensor ta = ften(shp(3, 2, 2, 2), a), tb = ften(shp(2, 2, 2), b);
	const struct tensor *in[] = { &ta, &tb };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "MatMul");
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(3, 2, 2, 2));
	expect_floats(&r.out[0], a, 8, 1e-6f);
	result_fini(&r);
	/* A 2-D, B 3-D */
	const struct tensor *in2[] = { &tb, &ta };
	assert_int_equal(run_op(&t, in2, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(3, 2, 2, 2));
	expect_floats(&r.out[0], a, 8, 1e-6f);
	result_fini(&r);
}

/* --- pooling ------------------------------------------------------------- */

static void test_maxpool(void **state)
{
	float x[16];
	for (int i = 0; i < 16; i++)
		x[i] = (float)i;
	struct tensor tx = ften(shp(4, 1, 1, 4, 4), x);
	const struct tensor *in[] = { &tx };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "MaxPool");
	tn_ints(&t, "kernel_shape", 2, 2, 2);
	tn_ints(&t, "strides", 2, 2, 2);
	assert_int_equal(run_op(&t, in, 1, &r, 2, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 1, 2, 2));
	const float w1[] = { 5, 7, 13, 15 };
	expect_floats(&r.out[0], w1, 4, 0);
	assert_int_equal(r.out[1].dtype, DT_INT64);
	const int64_t *ind = r.out[1].data;
	assert_int_equal(ind[0], 5);
	assert_int_equal(ind[1], 7);
	assert_int_equal(ind[2], 13);
	assert_int_equal(ind[3], 15);
	result_fini(&r);

	/* column-major indices: (h, w) -> w * H + h */
	tn_int(&t, "storage_order", 1);
	assert_int_equal(run_op(&t, in, 1, &r, 2, &e), OK);
	ind = r.out[1].data;
	assert_int_equal(ind[0], 5);
	assert_int_equal(ind[1], 13);
	assert_int_equal(ind[2], 7);
	assert_int_equal(ind[3], 15);
	result_fini(&r);

	/* ceil_mode: 4x4, kernel 3, stride 2 -> 2x2 with partial windows */
	tn_init(&t, "MaxPool");
	tn_ints(&t, "kernel_shape", 2, 3, 3);
	tn_ints(&t, "strides", 2, 2, 2);
	tn_int(&t, "ceil_mode", 1);
	assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 1, 2, 2));
	const float w2[] = { 10, 11, 14, 15 };
	expect_floats(&r.out[0], w2, 4, 0);
	result_fini(&r);
	/* the same without ceil_mode: one window */
	tn_init(&t, "MaxPool");
	tn_ints(&t, "kernel_shape", 2, 3, 3);
	tn_ints(&t, "strides", 2, 2, 2);
	assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 1, 1, 1));
	result_fini(&r);
	/* ceil_mode drops a window that would start in the end padding: 5 wide, k2 s2 pad 1:
	 * floor gives 3, ceil 4 -> (4-1)*2 = 6 >= 5 + 1 -> 3 */
	float x5[5] = { 1, 5, 2, 4, 3 };
	struct tensor t5 = ften(shp(3, 1, 1, 5), x5);
	const struct tensor *in5[] = { &t5 };
	tn_init(&t, "MaxPool");
	tn_ints(&t, "kernel_shape", 1, 2);
	tn_ints(&t, "strides", 1, 2);
	tn_ints(&t, "pads", 2, 1, 1);
	tn_int(&t, "ceil_mode", 1);
	assert_int_equal(run_op(&t, in5, 1, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(3, 1, 1, 3));
	const float w5[] = { 1, 5, 4 };
	expect_floats(&r.out[0], w5, 3, 0);
	result_fini(&r);

	/* 1-D with dilation 2 */
	tn_init(&t, "MaxPool");
	tn_ints(&t, "kernel_shape", 1, 2);
	tn_ints(&t, "dilations", 1, 2);
	assert_int_equal(run_op(&t, in5, 1, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(3, 1, 1, 3));
	const float w3[] = { 2, 5, 3 };
	expect_floats(&r.out[0], w3, 3, 0);
	result_fini(&r);

	/* uint8, padding never wins */
	uint8_t u[4] = { 0, 1, 0, 3 };
	struct shape us = shp(4, 1, 1, 2, 2);
	struct tensor tu = tensor_view(DT_UINT8, &us, u);
	const struct tensor *inu[] = { &tu };
	tn_init(&t, "MaxPool");
	tn_ints(&t, "kernel_shape", 2, 2, 2);
	tn_ints(&t, "pads", 4, 1, 1, 0, 0);
	assert_int_equal(run_op(&t, inu, 1, &r, 1, &e), OK);
	assert_int_equal(r.out[0].dtype, DT_UINT8);
	const uint8_t *yu = r.out[0].data;
	assert_int_equal(yu[0], 0);
	assert_int_equal(yu[1], 1);
	assert_int_equal(yu[2], 0);
	assert_int_equal(yu[3], 3);
	result_fini(&r);

	/* errors */
	tn_init(&t, "MaxPool");
	expect_error(&t, in, 1, 1, ERR_INVALID, "kernel_shape is required");
	tn_ints(&t, "kernel_shape", 2, 5, 5);
	expect_error(&t, in, 1, 1, ERR_SHAPE, "kernel 5x5 larger than padded input 4x4");
	tn_init(&t, "MaxPool");
	tn_ints(&t, "kernel_shape", 3, 2, 2, 2);
	expect_error(&t, in, 1, 1, ERR_INVALID, "kernel_shape has 3 values, expected 2");
}

static void test_avgpool(void **state)
{
	float x[16];
	for (int i = 0; i < 16; i++)
		x[i] = (float)i;
	struct tensor tx = ften(shp(4, 1, 1, 4, 4), x);
	const struct tensor *in[] = { &tx };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "AveragePool");
	tn_ints(&t, "kernel_shape", 2, 3, 3);
	tn_ints(&t, "strides", 2, 2, 2);
	tn_int(&t, "ceil_mode", 1);
	assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
	const float w1[] = { 5, 6.5f, 11, 12.5f };
	expect_floats(&r.out[0], w1, 4, 1e-6f);
	result_fini(&r);

	/* 3x3 of 1..9, kernel 3, pads 1: corners average 4 or 9 values */
	float x9[9];
	for (int i = 0; i < 9; i++)
		x9[i] = (float)(i + 1);
	struct tensor t9 = ften(shp(4, 1, 1, 3, 3), x9);
	const struct tensor *in9[] = { &t9 };
	tn_init(&t, "AveragePool");
	tn_ints(&t, "kernel_shape", 2, 3, 3);
	tn_ints(&t, "pads", 4, 1, 1, 1, 1);
	assert_int_equal(run_op(&t, in9, 1, &r, 1, &e), OK);
	const float w2[] = { 3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7 };
	expect_floats(&r.out[0], w2, 9, 1e-6f);
	result_fini(&r);
	tn_int(&t, "count_include_pad", 1);
	assert_int_equal(run_op(&t, in9, 1, &r, 1, &e), OK);
	const float w3[] = { 12 / 9.f, 21 / 9.f, 16 / 9.f, 27 / 9.f, 5, 33 / 9.f,
			     24 / 9.f, 39 / 9.f, 28 / 9.f };
	expect_floats(&r.out[0], w3, 9, 1e-6f);
	result_fini(&r);

	/* SAME_UPPER 2x2 on 3x3: the pad goes to the end */
	tn_init(&t, "AveragePool");
	tn_ints(&t, "kernel_shape", 2, 2, 2);
	tn_str(&t, "auto_pad", "SAME_UPPER");
	assert_int_equal(run_op(&t, in9, 1, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 1, 3, 3));
	const float w4[] = { 3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9 };
	expect_floats(&r.out[0], w4, 9, 1e-6f);
	result_fini(&r);

	/* Indices are MaxPool only */
	expect_error(&t, in, 1, 2, ERR_INVALID, "has 2 outputs, expected 1");
}

static void test_global_pools(void **state)
{
	const float x[] = { 1, 2, 3, 6, -1, -2, -3, -6 };
	struct tensor tx = ften(shp(4, 1, 2, 2, 2), x);
	const struct tensor *in[] = { &tx };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "GlobalAveragePool");
	assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 2, 1, 1));
	const float w1[] = { 3, -3 };
	expect_floats(&r.out[0], w1, 2, 1e-6f);
	result_fini(&r);
	tn_init(&t, "GlobalMaxPool");
	assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 2, 1, 1));
	const float w2[] = { 6, -1 };
	expect_floats(&r.out[0], w2, 2, 0);
	result_fini(&r);
}

/* GlobalAveragePool runs several planes at a time; each plane's mean keeps the bits of
 * four partial sums over i mod 4 (the tail into the first), added as (0+1)+(2+3). */
static void test_global_avgpool_bits(void **state)
{
	(void)state;
	const int64_t cases[][3] = { { 3, 11, 49 }, { 2, 8, 196 }, { 1, 9, 15 }, { 4, 17, 3 },
				     { 1, 16, 1 }, { 2, 5, 64 } };
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const int64_t n = cases[k][0], c = cases[k][1], sp = cases[k][2];
		float *x = frand_buf(n * c * sp);
		for (int64_t i = 0; i < n * c * sp; i++)
			x[i] *= (float)(1 + i % 7) * 1e3f; /* magnitudes whose sums round */
		struct tensor tx = ften(shp(3, n, c, sp), x);
		const struct tensor *in[] = { &tx };
		struct result r;
		struct err e;
		struct tnode t;
		tn_init(&t, "GlobalAveragePool");
		assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
		expect_shape(&r.out[0], shp(3, n, c, 1));
		const float *y = r.out[0].data;
		for (int64_t pl = 0; pl < n * c; pl++) {
			const float *xp = x + pl * sp;
			float s[4] = { 0, 0, 0, 0 };
			int64_t i = 0;
			for (; i + 4 <= sp; i += 4)
				for (int l = 0; l < 4; l++)
					s[l] += xp[i + l];
			for (; i < sp; i++)
				s[0] += xp[i];
			float want = ((s[0] + s[1]) + (s[2] + s[3])) / (float)sp;
			assert_memory_equal(&y[pl], &want, sizeof want);
		}
		result_fini(&r);
		free(x);
	}
}

/* --- normalization ------------------------------------------------------- */

static void test_batchnorm(void **state)
{
	const float x[] = { 1, 2, 3, 4 }, sc[] = { 1, 2 }, b[] = { 0, 1 }, mean[] = { 1, 3 },
		    var[] = { 4, 0.25f };
	struct tensor tx = ften(shp(4, 1, 2, 1, 2), x), ts = ften(shp(1, 2), sc),
		      tb = ften(shp(1, 2), b), tm = ften(shp(1, 2), mean), tv = ften(shp(1, 2), var);
	const struct tensor *in[] = { &tx, &ts, &tb, &tm, &tv };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "BatchNormalization");
	tn_float(&t, "epsilon", 0.0f);
	assert_int_equal(run_op(&t, in, 5, &r, 1, &e), OK);
	const float w1[] = { 0, 0.5f, 1, 5 };
	expect_floats(&r.out[0], w1, 4, 1e-6f);
	result_fini(&r);

	/* opset 7, spatial = 0: per-activation statistics [C, W] */
	const float sc2[] = { 1, 1, 2, 2 }, b2[] = { 0, 0, 1, 1 }, m2[] = { 1, 0, 3, 3 },
		    v2[] = { 4, 1, 0.25f, 0.25f };
	struct tensor ts2 = ften(shp(2, 2, 2), sc2), tb2 = ften(shp(2, 2, 2), b2),
		      tm2 = ften(shp(2, 2, 2), m2), tv2 = ften(shp(2, 2, 2), v2);
	const struct tensor *in2[] = { &tx, &ts2, &tb2, &tm2, &tv2 };
	tn_int(&t, "spatial", 0);
	assert_int_equal(run_op_opset(&t, 7, in2, 5, &r, 1, &e), OK);
	const float w2[] = { 0, 2, 1, 5 };
	expect_floats(&r.out[0], w2, 4, 1e-6f);
	result_fini(&r);
	/* the same statistics are refused at opset 9, where spatial no longer exists */
	expect_error(&t, in2, 5, 1, ERR_SHAPE, "scale has shape [2,2], expected [2]");

	tn_init(&t, "BatchNormalization");
	tn_int(&t, "training_mode", 1);
	expect_error(&t, in, 5, 1, ERR_UNSUPPORTED, "training_mode=1 is not supported");
}

static void test_layernorm(void **state)
{
	const float x[] = { 1, 2, 3, 2, 4, 6 }, ones[] = { 1, 1, 1 }, zeros[] = { 0, 0, 0 };
	const float sc[] = { 2, 1, 0 }, bi[] = { 1, 1, 1 }, sc3[] = { 1, 2, 3 };
	struct tensor tx = ften(shp(2, 2, 3), x), t1 = ften(shp(1, 3), ones),
		      t0 = ften(shp(1, 3), zeros);
	const struct tensor *in[] = { &tx, &t1, &t0 };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "LayerNormalization");
	tn_float(&t, "epsilon", 0.0f);
	assert_int_equal(run_op(&t, in, 3, &r, 3, &e), OK);
	const float k = 1.2247449f;
	const float w1[] = { -k, 0, k, -k, 0, k };
	expect_floats(&r.out[0], w1, 6, 1e-5f);
	expect_shape(&r.out[1], shp(2, 2, 1));
	expect_shape(&r.out[2], shp(2, 2, 1));
	const float wm[] = { 2, 4 }, wi[] = { 1.2247449f, 0.6123724f };
	expect_floats(&r.out[1], wm, 2, 1e-6f);
	expect_floats(&r.out[2], wi, 2, 1e-6f);
	result_fini(&r);

	struct tensor tsc = ften(shp(1, 3), sc), tbi = ften(shp(1, 3), bi);
	const struct tensor *in2[] = { &tx, &tsc, &tbi };
	assert_int_equal(run_op(&t, in2, 3, &r, 1, &e), OK);
	const float w2[] = { 1 - 2 * k, 1, 1, 1 - 2 * k, 1, 1 };
	expect_floats(&r.out[0], w2, 6, 1e-5f);
	result_fini(&r);

	/* axis 0: the whole tensor; Scale [3] broadcasts over [2,3]; no B */
	tn_int(&t, "axis", 0);
	struct tensor ts3 = ften(shp(1, 3), sc3);
	const struct tensor *in3[] = { &tx, &ts3 };
	assert_int_equal(run_op(&t, in3, 2, &r, 2, &e), OK);
	const float i0 = 0.6123724f;
	const float w3[] = { -2 * i0, -2 * i0, 0, -i0, 2 * i0, 9 * i0 };
	expect_floats(&r.out[0], w3, 6, 1e-5f);
	expect_shape(&r.out[1], shp(2, 1, 1));
	const float wm3[] = { 3 };
	expect_floats(&r.out[1], wm3, 1, 1e-6f);
	result_fini(&r);

	struct tensor tbad = ften(shp(1, 2), sc);
	const struct tensor *bad[] = { &tx, &tbad };
	tn_init(&t, "LayerNormalization");
	expect_error(&t, bad, 2, 1, ERR_SHAPE, "Scale has shape [2], which does not broadcast to "
		     "the normalized shape [3]");
	tn_int(&t, "axis", 2);
	expect_error(&t, in, 3, 1, ERR_INVALID, "axis 2 is out of range for rank 2");
}

/* LayerNormalization over many rows (with AVX-512, four at a time): every row, its mean and
 * its inverse deviation bit for bit what the row gives alone, with and without B. */
static void test_layernorm_rows(void **state)
{
	static const int64_t lens[] = { 5, 16, 48, 50 };
	static const int64_t counts[] = { 1, 4, 7, 9 };
	for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
		for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++)
			for (int with_b = 0; with_b < 2; with_b++) {
				int64_t n = lens[li], rows = counts[ci];
				float *x = frand_buf(rows * n), *sc = frand_buf(n), *bi = frand_buf(n);
				struct tensor tx = ften(shp(2, rows, n), x), ts = ften(shp(1, n), sc),
					      tb = ften(shp(1, n), bi);
				const struct tensor *in[] = { &tx, &ts, &tb };
				struct result all, one;
				struct err e;
				struct tnode t;
				tn_init(&t, "LayerNormalization");
				assert_int_equal(run_op(&t, in, 2 + with_b, &all, 3, &e), OK);
				for (int64_t row = 0; row < rows; row++) {
					struct tensor tr = ften(shp(2, 1, n), x + row * n);
					const struct tensor *in1[] = { &tr, &ts, &tb };
					assert_int_equal(run_op(&t, in1, 2 + with_b, &one, 3, &e), OK);
					const float *ya = all.out[0].data, *y1 = one.out[0].data;
					if (memcmp(ya + row * n, y1, (size_t)n * sizeof *y1) != 0 ||
					    memcmp((const float *)all.out[1].data + row,
						   one.out[1].data, sizeof(float)) != 0 ||
					    memcmp((const float *)all.out[2].data + row,
						   one.out[2].data, sizeof(float)) != 0)
						fail_msg("n %lld, %lld rows%s: row %lld differs from "
							 "the row alone", (long long)n, (long long)rows,
							 with_b ? ", with B" : "", (long long)row);
					result_fini(&one);
				}
				result_fini(&all);
				free(x);
				free(sc);
				free(bi);
			}
}

static void test_instancenorm(void **state)
{
	const float x[] = { 1, 2, 3, 4 }, sc[] = { 2 }, b[] = { 1 };
	struct tensor tx = ften(shp(4, 1, 1, 1, 4), x), ts = ften(shp(1, 1), sc),
		      tb = ften(shp(1, 1), b);
	const struct tensor *in[] = { &tx, &ts, &tb };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "InstanceNormalization");
	tn_float(&t, "epsilon", 0.0f);
	assert_int_equal(run_op(&t, in, 3, &r, 1, &e), OK);
	const float w[] = { -1.6832816f, 0.1055728f, 1.8944272f, 3.6832816f };
	expect_floats(&r.out[0], w, 4, 1e-5f);
	result_fini(&r);
}

/* --- softmax ------------------------------------------------------------- */

static void test_softmax_axis(void **state)
{
	const float l3 = logf(3.0f);
	const float x[] = { 0, l3, 0, 0 };
	struct tensor tx = ften(shp(3, 1, 2, 2), x);
	const struct tensor *in[] = { &tx };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "Softmax");
	/* opset 13: default axis -1, each row of 2 */
	assert_int_equal(run_op_opset(&t, 13, in, 1, &r, 1, &e), OK);
	const float w13[] = { 0.25f, 0.75f, 0.5f, 0.5f };
	expect_floats(&r.out[0], w13, 4, 1e-6f);
	result_fini(&r);
	/* opset 11: default axis 1, coerced to [1, 4] */
	assert_int_equal(run_op_opset(&t, 11, in, 1, &r, 1, &e), OK);
	const float w11[] = { 1 / 6.f, 0.5f, 1 / 6.f, 1 / 6.f };
	expect_floats(&r.out[0], w11, 4, 1e-6f);
	result_fini(&r);
	/* opset 13, axis 1: down the middle dim (inner stride 2) */
	tn_int(&t, "axis", 1);
	assert_int_equal(run_op_opset(&t, 13, in, 1, &r, 1, &e), OK);
	const float wa1[] = { 0.5f, 0.75f, 0.5f, 0.25f };
	expect_floats(&r.out[0], wa1, 4, 1e-6f);
	result_fini(&r);
	/* LogSoftmax, same axis */
	tn_init(&t, "LogSoftmax");
	tn_int(&t, "axis", 1);
	assert_int_equal(run_op_opset(&t, 13, in, 1, &r, 1, &e), OK);
	const float wl[] = { logf(0.5f), logf(0.75f), logf(0.5f), logf(0.25f) };
	expect_floats(&r.out[0], wl, 4, 1e-6f);
	result_fini(&r);
	tn_init(&t, "LogSoftmax");
	tn_int(&t, "axis", 3);
	expect_error(&t, in, 1, 1, ERR_INVALID, "axis 3 is out of range for rank 3");
}

static void test_softmax_large(void **state)
{
	const float x[] = { 1000, 1001, 1002 };
	struct tensor tx = ften(shp(2, 1, 3), x);
	const struct tensor *in[] = { &tx };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "Softmax");
	assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
	const float w[] = { 0.09003057f, 0.24472847f, 0.66524096f };
	expect_floats(&r.out[0], w, 3, 1e-6f);
	result_fini(&r);
	tn_init(&t, "LogSoftmax");
	assert_int_equal(run_op(&t, in, 1, &r, 1, &e), OK);
	const float wl[] = { -2.40760596f, -1.40760596f, -0.40760596f };
	expect_floats(&r.out[0], wl, 3, 1e-5f);
	result_fini(&r);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include "ops/vmath.h"
#pragma GCC push_options
#pragma GCC target("avx512f")
/* Softmax's exponential (vm_exp_nonpos) is vm_exp bit for bit on x <= 0 and quiet NaN:
 * every 7th non-positive float pattern, and -0, -inf and NaN. */
static void test_exp_nonpos(void **state)
{
	(void)state;
	if (!nn_have_avx512())
		skip();
	uint64_t checked = 0;
	float xs[16], a[16], b[16];
	for (uint64_t u = 0x80000000u; u <= 0xffffffffu; u += 16 * 7) {
		for (int i = 0; i < 16; i++) {
			uint32_t v = (uint32_t)(u + (uint64_t)i * 7);
			v = v < 0x80000000u ? 0xff800000u : v;
			memcpy(&xs[i], &v, 4);
			if (isnan(xs[i]))
				xs[i] = -NAN; /* quiet: Softmax's x - max never gives a signalling one */
		}
		xs[0] = u == 0x80000000u ? -INFINITY : xs[0];
		xs[1] = u == 0x80000000u ? NAN : xs[1];
		__m512 x = _mm512_loadu_ps(xs);
		_mm512_storeu_ps(a, vm_exp(x));
		_mm512_storeu_ps(b, vm_exp_nonpos(x));
		for (int i = 0; i < 16; i++)
			if (memcmp(&a[i], &b[i], 4) != 0)
				fail_msg("exp(%a): %a, vm_exp %a", (double)xs[i], (double)b[i], (double)a[i]);
		checked += 16;
	}
	assert_true(checked > 300000000);
}
#pragma GCC pop_options
#else
static void test_exp_nonpos(void **state)
{
	(void)state;
	skip();
}
#endif

/* Softmax over many contiguous rows (the op hands them to nn_softmax_rows, four at a time
 * with AVX-512): every row bit for bit what nn_softmax_row gives it alone, and a softmax. */
static void test_softmax_rows(void **state)
{
	static const int64_t lens[] = { 1, 5, 16, 17, 49, 64, 100 };
	static const int64_t counts[] = { 1, 3, 4, 5, 8, 9 };
	for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
		for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
			int64_t n = lens[li], rows = counts[ci];
			float *x = frand_buf(rows * n), *one = malloc((size_t)n * sizeof *one);
			assert_non_null(one);
			for (int64_t i = 0; i < rows * n; i++)
				x[i] *= 20.0f;
			x[0] = 1000.0f;
			if (n > 7)
				x[7] = -INFINITY; /* in row 0, beside the 1000 */
			struct tensor tx = ften(shp(2, rows, n), x);
			const struct tensor *in[] = { &tx };
			struct result r;
			struct err e;
			struct tnode t;
			tn_init(&t, "Softmax");
			assert_int_equal(run_op_opset(&t, 13, in, 1, &r, 1, &e), OK);
			const float *y = r.out[0].data;
			for (int64_t row = 0; row < rows; row++) {
				const float *xr = x + row * n;
				nn_softmax_row(xr, one, n);
				double mx = -INFINITY, sum = 0;
				for (int64_t i = 0; i < n; i++)
					mx = fmax(mx, xr[i]);
				for (int64_t i = 0; i < n; i++)
					sum += exp((double)xr[i] - mx);
				for (int64_t i = 0; i < n; i++) {
					if (memcmp(&y[row * n + i], &one[i], sizeof one[i]) != 0)
						fail_msg("n %lld rows %lld: row %lld [%lld] %a alone, %a "
							 "in the op", (long long)n, (long long)rows,
							 (long long)row, (long long)i, (double)one[i],
							 (double)y[row * n + i]);
					double want = exp((double)xr[i] - mx) / sum;
					if (!(fabs(y[row * n + i] - want) <= 1e-6))
						fail_msg("n %lld row %lld [%lld]: %g, want %g",
							 (long long)n, (long long)row, (long long)i,
							 (double)y[row * n + i], want);
				}
			}
			result_fini(&r);
			free(x);
			free(one);
		}
}

/* --- ConvTranspose -------------------------------------------------------- */

static void test_convtranspose_basic(void **state)
{
	float x[9], w[18];
	for (int i = 0; i < 9; i++)
		x[i] = (float)i;
	for (int i = 0; i < 18; i++)
		w[i] = 1.0f;
	struct tensor tx = ften(shp(4, 1, 1, 3, 3), x), tw = ften(shp(4, 1, 2, 3, 3), w);
	const struct tensor *in[] = { &tx, &tw };
	struct result r;
	struct err e;
	struct tnode t;
	tn_init(&t, "ConvTranspose");
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 2, 5, 5));
	const float plane[] = { 0, 1,  3,  3,  2,  3, 8,  15, 12, 7,  9, 21, 36,
				27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8 };
	float want[50];
	memcpy(want, plane, sizeof plane);
	memcpy(want + 25, plane, sizeof plane);
	expect_floats(&r.out[0], want, 50, 1e-5f);
	result_fini(&r);

	/* output_shape [10, 8] with strides [3, 2]: natural size 9x7, the extra row and column
	 * at the end stay zero */
	tn_ints(&t, "strides", 2, 3, 2);
	tn_ints(&t, "output_shape", 2, 10, 8);
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 2, 10, 8));
	const float *y = r.out[0].data;
	for (int i = 0; i < 8; i++)
		assert_true(y[9 * 8 + i] == 0.0f);
	assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 1.0f);
	result_fini(&r);

	/* SAME_UPPER, stride 2: output 6x6 = natural 7x7 minus the last row and column */
	tn_init(&t, "ConvTranspose");
	tn_ints(&t, "strides", 2, 2, 2);
	tn_str(&t, "auto_pad", "SAME_UPPER");
	assert_int_equal(run_op(&t, in, 2, &r, 1, &e), OK);
	expect_shape(&r.out[0], shp(4, 1, 2, 6, 6));
	y = r.out[0].data;
	/* row 0: x00 at cols 0-2, x01 at 2-4, x02 at 4-6 */
	const float row0[] = { 0, 0, 1, 1, 3, 2 };
	for (int i = 0; i < 6; i++)
		assert_true(y[i] == row0[i]);
	result_fini(&r);

	tn_init(&t, "ConvTranspose");
	struct tensor tw2 = ften(shp(4, 2, 1, 3, 3), w);
	const struct tensor *bad[] = { &tx, &tw2 };
	expect_error(&t, bad, 2, 1, ERR_SHAPE, "input has 1 channels but weight expects 2");
}

struct ctspec {
	int n, c, m, group;
	int in[2], k[2], s[2], d[2], p0[2], p1[2], op[2];
};

static void convt_check(const struct ctspec *c)
{
	int cg = c->c / c->group, mg = c->m / c->group, od[2];
	for (int i = 0; i < 2; i++)
		od[i] = c->s[i] * (c->in[i] - 1) + c->op[i] + (c->k[i] - 1) * c->d[i] + 1 -
			c->p0[i] - c->p1[i];
	struct tnode t;
	tn_init(&t, "ConvTranspose");
	tn_int(&t, "group", c->group);
	tn_ints(&t, "strides", 2, c->s[0], c->s[1]);
	tn_ints(&t, "dilations", 2, c->d[0], c->d[1]);
	tn_ints(&t, "pads", 4, c->p0[0], c->p0[1], c->p1[0], c->p1[1]);
	tn_ints(&t, "output_padding", 2, c->op[0], c->op[1]);
	struct shape xs = shp(4, c->n, c->c, c->in[0], c->in[1]);
	struct shape ws = shp(4, c->c, mg, c->k[0], c->k[1]);
	float *x = frand_buf(shape_numel(&xs)), *w = frand_buf(shape_numel(&ws));
	float *b = frand_buf(c->m);
	struct tensor tx = ften(xs, x), tw = ften(ws, w), tb = ften(shp(1, c->m), b);
	const struct tensor *in[] = { &tx, &tw, &tb };
	struct result r;
	struct err e;
	if (run_op(&t, in, 3, &r, 1, &e))
		fail_msg("convtranspose: %s", e.msg);
	expect_shape(&r.out[0], shp(4, c->n, c->m, od[0], od[1]));
	int64_t yn = (int64_t)c->n * c->m * od[0] * od[1];
	double *ref = calloc((size_t)yn, sizeof(double));
	assert_non_null(ref);
	for (int n = 0; n < c->n; n++)
		for (int m = 0; m < c->m; m++)
			for (int i = 0; i < od[0] * od[1]; i++)
				ref[(n * c->m + m) * od[0] * od[1] + i] = b[m];
	for (int n = 0; n < c->n; n++)
	for (int ch = 0; ch < c->c; ch++)
	for (int ih = 0; ih < c->in[0]; ih++)
	for (int iw = 0; iw < c->in[1]; iw++)
	for (int mm = 0; mm < mg; mm++)
	for (int kh = 0; kh < c->k[0]; kh++)
	for (int kw = 0; kw < c->k[1]; kw++) {
		int oh = ih * c->s[0] - c->p0[0] + kh * c->d[0];
		int ow = iw * c->s[1] - c->p0[1] + kw * c->d[1];
		if (oh < 0 || oh >= od[0] || ow < 0 || ow >= od[1])
			continue;
		int m = (ch / cg) * mg + mm;
		ref[((n * c->m + m) * od[0] + oh) * od[1] + ow] +=
			(double)x[((n * c->c + ch) * c->in[0] + ih) * c->in[1] + iw] *
			w[((ch * mg + mm) * c->k[0] + kh) * c->k[1] + kw];
	}
	const float *y = r.out[0].data;
	for (int64_t i = 0; i < yn; i++)
		if (!(fabs(y[i] - ref[i]) <= 1e-4))
			fail_msg("convtranspose element %lld: %g vs %g", (long long)i, (double)y[i],
				 ref[i]);
	free(ref);
	free(x);
	free(w);
	free(b);
	result_fini(&r);
}

static void test_convtranspose_random(void **state)
{
	static const struct ctspec cases[] = {
		{ 2, 3, 4, 1, { 5, 6 }, { 3, 3 }, { 1, 1 }, { 1, 1 }, { 0, 0 }, { 0, 0 }, { 0, 0 } },
		{ 2, 4, 6, 2, { 4, 5 }, { 3, 2 }, { 2, 3 }, { 1, 1 }, { 1, 0 }, { 0, 1 }, { 1, 2 } },
		{ 1, 3, 3, 3, { 6, 6 }, { 4, 4 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 0, 0 } },
		{ 1, 2, 2, 1, { 4, 4 }, { 3, 3 }, { 1, 2 }, { 2, 2 }, { 2, 1 }, { 0, 2 }, { 0, 1 } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		convt_check(&cases[i]);
}

/* Naive pooling over 3-D windows with explicit pads; out sizes given (ceil_mode decided by the
 * caller).  Max ignores padding; average divides by valid taps or, with count_pad, by the taps
 * inside [-p0, in + p1). */
struct pspec {
	int n, c, nsp, ceil, count_pad, is_max;
	int in[3], k[3], s[3], d[3], p0[3], p1[3];
};

static int ps_out(const struct pspec *c, int i)
{
	int span = c->in[i] + c->p0[i] + c->p1[i] - ((c->k[i] - 1) * c->d[i] + 1);
	int o = (c->ceil ? (span + c->s[i] - 1) / c->s[i] : span / c->s[i]) + 1;
	if (c->ceil && (o - 1) * c->s[i] >= c->in[i] + c->p0[i])
		o--;
	return o;
}

static void pool_check(const struct pspec *c)
{
	int lead = 3 - c->nsp, od[3];
	for (int i = 0; i < 3; i++)
		od[i] = ps_out(c, i);
	struct tnode t;
	tn_init(&t, c->is_max ? "MaxPool" : "AveragePool");
	struct attr *ak = tn_attr(&t, "kernel_shape", ATTR_INTS);
	struct attr *as = tn_attr(&t, "strides", ATTR_INTS);
	struct attr *ad = tn_attr(&t, "dilations", ATTR_INTS);
	struct attr *ap = tn_attr(&t, "pads", ATTR_INTS);
	tn_int(&t, "ceil_mode", c->ceil);
	tn_int(&t, "count_include_pad", c->count_pad);
	int64_t kv[3], sv[3], dv[3], pv[6];
	struct shape xs = { .rank = 2 + c->nsp }, ys = { .rank = 2 + c->nsp };
	xs.dim[0] = ys.dim[0] = c->n;
	xs.dim[1] = ys.dim[1] = c->c;
	for (int i = 0; i < c->nsp; i++) {
		kv[i] = c->k[lead + i];
		sv[i] = c->s[lead + i];
		dv[i] = c->d[lead + i];
		pv[i] = c->p0[lead + i];
		pv[c->nsp + i] = c->p1[lead + i];
		xs.dim[2 + i] = c->in[lead + i];
		ys.dim[2 + i] = od[lead + i];
	}
	ak->ints = kv;
	ak->n = as->n = ad->n = c->nsp;
	as->ints = sv;
	ad->ints = dv;
	ap->ints = pv;
	ap->n = 2 * c->nsp;
	float *x = frand_buf(shape_numel(&xs));
	struct tensor tx = ften(xs, x);
	const struct tensor *in[] = { &tx };
	struct result r;
	struct err e;
	/* MaxPool twice: without and with Indices (two kernels) */
	for (int pass = 0; pass < (c->is_max ? 2 : 1); pass++) {
		if (run_op(&t, in, 1, &r, 1 + pass, &e))
			fail_msg("pool: %s", e.msg);
		expect_shape(&r.out[0], ys);
		const float *y = r.out[0].data;
		const int64_t *ind = pass ? r.out[1].data : NULL;
		int64_t q = 0;
		for (int pl = 0; pl < c->n * c->c; pl++)
		for (int o0 = 0; o0 < od[0]; o0++)
		for (int o1 = 0; o1 < od[1]; o1++)
		for (int o2 = 0; o2 < od[2]; o2++, q++) {
			double acc = c->is_max ? -FLT_MAX : 0.0; /* a window all in padding */
			int cnt = 0, cntp = 0;
			int64_t at = -1;
			for (int k0 = 0; k0 < c->k[0]; k0++)
			for (int k1 = 0; k1 < c->k[1]; k1++)
			for (int k2 = 0; k2 < c->k[2]; k2++) {
				int i0 = o0 * c->s[0] - c->p0[0] + k0 * c->d[0];
				int i1 = o1 * c->s[1] - c->p0[1] + k1 * c->d[1];
				int i2 = o2 * c->s[2] - c->p0[2] + k2 * c->d[2];
				if (i0 < c->in[0] + c->p1[0] && i1 < c->in[1] + c->p1[1] &&
				    i2 < c->in[2] + c->p1[2])
					cntp++;
				if (i0 < 0 || i0 >= c->in[0] || i1 < 0 || i1 >= c->in[1] || i2 < 0 ||
				    i2 >= c->in[2])
					continue;
				int64_t sp = ((int64_t)i0 * c->in[1] + i1) * c->in[2] + i2;
				float v = x[(int64_t)pl * c->in[0] * c->in[1] * c->in[2] + sp];
				cnt++;
				if (!c->is_max)
					acc += v;
				else if (v > acc) {
					acc = v;
					at = (int64_t)pl * c->in[0] * c->in[1] * c->in[2] + sp;
				}
			}
			double want = c->is_max ? acc : acc / (c->count_pad ? cntp : cnt);
			if (!(fabs(y[q] - want) <= 1e-5))
				fail_msg("pool element %lld: %g vs %g", (long long)q, (double)y[q],
					 want);
			if (ind && ind[q] != at)
				fail_msg("pool index %lld: %lld vs %lld", (long long)q,
					 (long long)ind[q], (long long)at);
		}
		result_fini(&r);
	}
	free(x);
}

static void test_pool_random(void **state)
{
	static const struct pspec cases[] = {
		/* n c nsp ceil cpad max  in          k          s          d          p0 p1 */
		{ 2, 3, 2, 0, 0, 1, { 1, 28, 28 }, { 1, 2, 2 }, { 1, 2, 2 }, { 1, 1, 1 }, { 0, 0, 0 },
		  { 0, 0, 0 } },
		{ 1, 2, 2, 1, 0, 1, { 1, 9, 11 }, { 1, 3, 3 }, { 1, 2, 2 }, { 1, 1, 1 }, { 0, 1, 1 },
		  { 0, 1, 0 } },
		{ 1, 2, 2, 0, 0, 1, { 1, 10, 9 }, { 1, 3, 2 }, { 1, 1, 3 }, { 1, 2, 2 }, { 0, 2, 1 },
		  { 0, 1, 2 } },
		{ 1, 2, 2, 0, 0, 0, { 1, 9, 11 }, { 1, 3, 3 }, { 1, 2, 2 }, { 1, 1, 1 }, { 0, 1, 1 },
		  { 0, 1, 1 } },
		{ 1, 2, 2, 1, 1, 0, { 1, 9, 11 }, { 1, 3, 3 }, { 1, 2, 2 }, { 1, 1, 1 }, { 0, 1, 1 },
		  { 0, 1, 1 } },
		{ 1, 2, 2, 1, 0, 0, { 1, 8, 8 }, { 1, 3, 3 }, { 1, 2, 3 }, { 1, 1, 2 }, { 0, 0, 1 },
		  { 0, 2, 0 } },
		{ 2, 2, 1, 0, 0, 1, { 1, 1, 20 }, { 1, 1, 4 }, { 1, 1, 3 }, { 1, 1, 1 }, { 0, 0, 2 },
		  { 0, 0, 2 } },
		{ 1, 2, 3, 0, 0, 1, { 5, 6, 7 }, { 2, 3, 2 }, { 2, 1, 2 }, { 1, 1, 1 }, { 1, 1, 0 },
		  { 0, 1, 1 } },
		{ 1, 2, 3, 1, 1, 0, { 5, 6, 7 }, { 2, 3, 2 }, { 2, 1, 2 }, { 1, 1, 1 }, { 1, 1, 0 },
		  { 0, 1, 1 } },
		/* 2x2 stride 2 with a padded top row, odd sizes, ceil */
		{ 2, 2, 2, 1, 0, 1, { 1, 7, 9 }, { 1, 2, 2 }, { 1, 2, 2 }, { 1, 1, 1 }, { 0, 1, 0 },
		  { 0, 0, 0 } },
		/* depth kernel 1 with depth padding: first and last windows see only padding */
		{ 1, 2, 3, 0, 0, 1, { 3, 6, 6 }, { 1, 2, 2 }, { 1, 2, 2 }, { 1, 1, 1 }, { 1, 0, 0 },
		  { 1, 0, 0 } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		pool_check(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv_3x3_on_4x4),
		cmocka_unit_test(test_conv_depthwise_stride2_pad),
		cmocka_unit_test(test_conv_grouped),
		cmocka_unit_test(test_conv_autopad),
		cmocka_unit_test(test_conv_random_paths),
		cmocka_unit_test(test_conv_pointwise_bits),
		cmocka_unit_test(test_conv_errors),
		cmocka_unit_test(test_convtranspose_basic),
		cmocka_unit_test(test_convtranspose_random),
		cmocka_unit_test(test_gemm_attributes),
		cmocka_unit_test(test_matmul_small),
		cmocka_unit_test(test_matmul_broadcast),
		cmocka_unit_test(test_maxpool),
		cmocka_unit_test(test_avgpool),
		cmocka_unit_test(test_pool_random),
		cmocka_unit_test(test_global_pools),
		cmocka_unit_test(test_global_avgpool_bits),
		cmocka_unit_test(test_batchnorm),
		cmocka_unit_test(test_layernorm),
		cmocka_unit_test(test_layernorm_rows),
		cmocka_unit_test(test_instancenorm),
		cmocka_unit_test(test_softmax_axis),
		cmocka_unit_test(test_softmax_large),
		cmocka_unit_test(test_softmax_rows),
		cmocka_unit_test(test_exp_nonpos),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
