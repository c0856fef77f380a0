/*
 * test_fuse.c - fused plans (plan_opts.fuse): Conv absorbing BatchNormalization, a residual
 * Add and an activation, Linear layers (MatMul, bias, GELU, residual) and attention must give
 * what the unfused plan gives, keep every visible value, and refuse to be observed node by
 * node.
 *
 * Each case builds a small CNN fragment by hand, plans it twice (fused and not) and compares
 * the outputs on pseudo-random data; the fused plan may differ by float rounding only (the
 * BatchNormalization is folded into the weights).  The runner case checks that a plain run
 * (fused plans, sub-batches) and a hooked run (unfused plans) agree.  With QLENS_NO_AVX512
 * set the same cases cover the generic kernels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "graph.h"
#include "ops/nn_util.h"

#include "graph_builder.h"

#define N 3
#define C 5
#define M 6
#define H 7
#define W 9

static float frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static float *fill(int64_t n, unsigned seed, float lo)
{
	float *p = malloc((size_t)n * sizeof *p);
	assert_non_null(p);
	for (int64_t i = 0; i < n; i++) {
		p[i] = frand(&seed);
		if (p[i] < lo)
			p[i] = lo;
	}
	return p;
}

/* Static parameters shared by the cases (weights, bias, batch-norm statistics). */
struct params {
	float *w, *b, *w2, *scale, *bias, *mean, *var, *scale2, *bias2, *mean2, *var2;
};

static void params_init(struct params *p)
{
	p->w = fill(M * C * 9, 1, -2.0f);
	p->b = fill(M, 2, -2.0f);
	p->w2 = fill(M * C, 3, -2.0f);
	p->scale = fill(M, 4, -2.0f);
	p->bias = fill(M, 5, -2.0f);
	p->mean = fill(M, 6, -2.0f);
	p->var = fill(M, 7, 0.1f); /* positive */
	p->scale2 = fill(M, 8, -2.0f);
	p->bias2 = fill(M, 9, -2.0f);
	p->mean2 = fill(M, 10, -2.0f);
	p->var2 = fill(M, 11, 0.2f);
}

static void params_fini(struct params *p)
{
	float **all[] = { &p->w, &p->b, &p->w2, &p->scale, &p->bias, &p->mean, &p->var,
			  &p->scale2, &p->bias2, &p->mean2, &p->var2 };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		free(*all[i]);
}

static const int64_t pads1[] = { 1, 1, 1, 1 };

/* A constant named after its node: "node/what". */
static int param(struct graph *g, const char *node_name, const char *what, int rank,
		 const int64_t *dims, const float *data)
{
	char name[64];
	snprintf(name, sizeof name, "%s/%s", node_name, what);
	return constant(g, name, DT_FLOAT, rank, dims, data);
}

/* Conv 3x3 "same" (bias optional) from x; returns its output value. */
static int conv3(struct graph *g, const char *name, int x, const struct params *p, bool bias)
{
	int w = param(g, name, "w", 4, DIMS(M, C, 3, 3), p->w);
	int y = mid(g, name);
	struct attr a[] = { { .name = "pads", .type = ATTR_INTS, .ints = pads1, .n = 4 } };
	if (bias) {
		int b = param(g, name, "b", 1, DIMS(M), p->b);
		node(g, name, "Conv", IN(x, w, b), y, a, 1);
	} else {
		node(g, name, "Conv", IN(x, w), y, a, 1);
	}
	return y;
}

/* Conv 1x1 without bias. */
static int conv1(struct graph *g, const char *name, int x, const struct params *p)
{
	int w = param(g, name, "w", 4, DIMS(M, C, 1, 1), p->w2);
	int y = mid(g, name);
	node(g, name, "Conv", IN(x, w), y, NULL, 0);
	return y;
}

static int bn(struct graph *g, const char *name, int x, const struct params *p, bool second)
{
	int s = param(g, name, "scale", 1, DIMS(M), second ? p->scale2 : p->scale);
	int b = param(g, name, "B", 1, DIMS(M), second ? p->bias2 : p->bias);
	int m = param(g, name, "mean", 1, DIMS(M), second ? p->mean2 : p->mean);
	int v = param(g, name, "var", 1, DIMS(M), second ? p->var2 : p->var);
	int y = mid(g, name);
	struct attr a[] = { a_float("epsilon", 1e-3f) };
	node(g, name, "BatchNormalization", IN(x, s, b, m, v), y, a, 1);
	return y;
}

static int unary(struct graph *g, const char *name, const char *op, int x,
		 const struct attr *a, int na)
{
	int y = mid(g, name);
	node(g, name, op, IN(x), y, a, na);
	return y;
}

static struct plan *plan_shape(const struct graph *g, const struct shape *s, bool fuse,
			       const bool *keep)
{
	struct err e = { 0 };
	struct plan *p = NULL;
	struct plan_opts o = { .fuse = fuse, .keep = keep };
	if (plan_new(g, s, &o, &p, &e))
		fail_msg("plan_new: %s", e.msg);
	return p;
}

static struct plan *plan_for(const struct graph *g, bool fuse, const bool *keep)
{
	struct shape s = shape_make(4, DIMS(N, C, H, W));
	return plan_shape(g, &s, fuse, keep);
}

/* Run g fused and not on the same input of shape s; outputs must agree to float rounding. */
static void compare_shape(const struct graph *g, const struct shape *s, const float *x)
{
	struct err e = { 0 };
	struct tensor in = tensor_view(DT_FLOAT, s, (void *)x);
	struct plan *pf = plan_shape(g, s, true, NULL), *pu = plan_shape(g, s, false, NULL);
	if (plan_run(pf, &in, NULL, &e) || plan_run(pu, &in, NULL, &e))
		fail_msg("plan_run: %s", e.msg);
	for (int k = 0; k < g->n_outputs; k++) {
		const struct tensor *a = plan_value(pf, g->outputs[k]);
		const struct tensor *b = plan_value(pu, g->outputs[k]);
		assert_true(shape_equal(&a->shape, &b->shape));
		const float *fa = a->data, *fb = b->data;
		for (int64_t i = 0; i < tensor_numel(a); i++) {
			if (isnan(fb[i])) {
				assert_true(isnan(fa[i]));
				continue;
			}
			float tol = 1e-5f * (1.0f + fabsf(fb[i]));
			if (!(fabsf(fa[i] - fb[i]) <= tol))
				fail_msg("output %d element %lld: fused %g, unfused %g", k, (long long)i,
					 (double)fa[i], (double)fb[i]);
		}
	}
	plan_free(pf);
	plan_free(pu);
}

static void compare(const struct graph *g, const float *x)
{
	struct shape s = shape_make(4, DIMS(N, C, H, W));
	compare_shape(g, &s, x);
}

static void test_conv_bn_relu(void **state)
{
	(void)state;
	struct params p;
	params_init(&p);
	float *x = fill(N * C * H * W, 20, -2.0f);
	for (int bias = 0; bias < 2; bias++) {
		struct graph *g = graph_new();
		g->opset = 13;
		int in = input(g, "x", 4, DIMS(-1, C, H, W));
		int y = unary(g, "relu", "Relu", bn(g, "bn", conv3(g, "conv", in, &p, bias), &p, false),
			      NULL, 0);
		output(g, y);
		finalize(g);
		compare(g, x);
		/* the merged values have no storage in the fused plan */
		struct plan *pf = plan_for(g, true, NULL);
		assert_null(plan_value(pf, graph_find_value(g, "conv"))->data);
		assert_null(plan_value(pf, graph_find_value(g, "bn"))->data);
		assert_non_null(plan_value(pf, y)->data);
		plan_free(pf);
		graph_free(g);
	}
	free(x);
	params_fini(&p);
}

/* Two branches meeting at one Add (a ResNet block with a projection shortcut): exactly one
 * Conv takes the Add, the other branch's result becomes its residual. */
static void test_residual_diamond(void **state)
{
	(void)state;
	struct params p;
	params_init(&p);
	float *x = fill(N * C * H * W, 21, -2.0f);
	struct graph *g = graph_new();
	g->opset = 13;
	int in = input(g, "x", 4, DIMS(-1, C, H, W));
	int a = bn(g, "bn_a", conv3(g, "conv_a", in, &p, false), &p, false);
	int b = bn(g, "bn_b", conv1(g, "conv_b", in, &p), &p, true);
	int s = mid(g, "sum");
	node(g, "add", "Add", IN(a, b), s, NULL, 0);
	output(g, unary(g, "relu", "Relu", s, NULL, 0));
	finalize(g);
	compare(g, x);
	graph_free(g);
	free(x);
	params_fini(&p);
}

/* Clip (bounds as inputs, one absent) and LeakyRelu epilogues; NaN inputs propagate the way
 * the separate ops propagate them. */
static void test_clip_leaky_nan(void **state)
{
	(void)state;
	struct params p;
	params_init(&p);
	float *x = fill(N * C * H * W, 22, -2.0f);
	x[7] = NAN;
	static const float lo = -0.5f, hi = 0.75f;
	for (int which = 0; which < 3; which++) {
		struct graph *g = graph_new();
		g->opset = 13;
		int in = input(g, "x", 4, DIMS(-1, C, H, W));
		int c = conv3(g, "conv", in, &p, true);
		int y = mid(g, "act");
		if (which == 0) {
			int l = constant(g, "lo", DT_FLOAT, 0, NULL, &lo);
			int h = constant(g, "hi", DT_FLOAT, 0, NULL, &hi);
			node(g, "clip", "Clip", IN(c, l, h), y, NULL, 0);
		} else if (which == 1) {
			int h = constant(g, "hi", DT_FLOAT, 0, NULL, &hi);
			node(g, "clip", "Clip", IN(c, -1, h), y, NULL, 0);
		} else {
			struct attr a[] = { a_float("alpha", 0.1f) };
			node(g, "leaky", "LeakyRelu", IN(c), y, a, 1);
		}
		output(g, y);
		finalize(g);
		compare(g, x);
		graph_free(g);
	}
	free(x);
	params_fini(&p);
}

/* A value the caller can see (graph output, kept value) is never merged away. */
static void test_visible_values_stay(void **state)
{
	(void)state;
	struct params p;
	params_init(&p);
	float *x = fill(N * C * H * W, 23, -2.0f);
	struct graph *g = graph_new();
	g->opset = 13;
	int in = input(g, "x", 4, DIMS(-1, C, H, W));
	int c = conv3(g, "conv", in, &p, true);
	int b = bn(g, "bn", c, &p, false);
	int y = unary(g, "relu", "Relu", b, NULL, 0);
	output(g, b);
	output(g, y);
	finalize(g);
	compare(g, x);
	bool *keep = calloc((size_t)g->n_values, sizeof *keep);
	assert_non_null(keep);
	keep[c] = true;
	struct err e = { 0 };
	struct shape s = shape_make(4, DIMS(N, C, H, W));
	struct tensor tin = tensor_view(DT_FLOAT, &s, x);
	struct plan *pk = plan_for(g, true, keep), *pu = plan_for(g, false, keep);
	assert_int_equal(plan_run(pk, &tin, NULL, &e), OK);
	assert_int_equal(plan_run(pu, &tin, NULL, &e), OK);
	const float *kf = plan_value(pk, c)->data, *ku = plan_value(pu, c)->data;
	assert_non_null(kf);
	for (int64_t i = 0; i < N * M * H * W; i++)
		assert_true(fabsf(kf[i] - ku[i]) <= 1e-5f * (1.0f + fabsf(ku[i])));
	plan_free(pk);
	plan_free(pu);
	free(keep);
	graph_free(g);
	free(x);
	params_fini(&p);
}

static enum status count_node(void *user, const struct plan *p, int ni,
			      struct tensor *const *out, int n)
{
	(void)p, (void)ni, (void)out, (void)n;
	++*(int *)user;
	return OK;
}

/* A fused plan refuses hooks and reruns; a runner uses fused plans for plain runs and
 * unfused ones for hooked runs, with the same results. */
static void test_observation(void **state)
{
	(void)state;
	struct params p;
	params_init(&p);
	enum { ROWS = 37 };
	float *x = fill(ROWS * C * H * W, 24, -2.0f);
	struct graph *g = graph_new();
	g->opset = 13;
	int in = input(g, "x", 4, DIMS(-1, C, H, W));
	int a = bn(g, "bn_a", conv3(g, "conv_a", in, &p, true), &p, false);
	int s = mid(g, "sum");
	int b = conv1(g, "conv_b", in, &p);
	node(g, "add", "Add", IN(a, b), s, NULL, 0);
	output(g, unary(g, "relu", "Relu", s, NULL, 0));
	finalize(g);

	struct err e = { 0 };
	struct shape s1 = shape_make(4, DIMS(N, C, H, W));
	struct tensor tin = tensor_view(DT_FLOAT, &s1, x);
	int calls = 0;
	struct plan_hooks h = { .after_node = count_node, .user = &calls };
	struct plan *pf = plan_for(g, true, NULL);
	assert_int_equal(plan_run(pf, &tin, &h, &e), ERR_INVALID);
	struct tensor y = { 0 };
	const struct tensor *ins[] = { &tin };
	struct tensor *outs[] = { &y };
	assert_int_equal(plan_rerun_node(pf, 0, ins, outs, &e), ERR_INVALID);
	plan_free(pf);

	struct shape sr = shape_make(4, DIMS(ROWS, C, H, W));
	struct tensor rin = tensor_view(DT_FLOAT, &sr, x);
	for (int threads = 1; threads <= 2; threads++) {
		struct runner *r;
		assert_int_equal(runner_new(g, threads, 16, &r, &e), OK);
		struct tensor plain, hooked;
		struct plan_hooks hk[2] = { h, h };
		calls = 0;
		assert_int_equal(runner_run(r, &rin, &plain, &e), OK);
		assert_int_equal(calls, 0);
		assert_int_equal(runner_run_hooked(r, &rin, &hooked, hk, &e), OK);
		assert_true(calls > 0);
		assert_true(shape_equal(&plain.shape, &hooked.shape));
		const float *fa = plain.data, *fb = hooked.data;
		for (int64_t i = 0; i < tensor_numel(&plain); i++)
			assert_true(fabsf(fa[i] - fb[i]) <= 1e-5f * (1.0f + fabsf(fb[i])));
		tensor_fini(&plain);
		tensor_fini(&hooked);
		runner_free(r);
	}
	graph_free(g);
	free(x);
	params_fini(&p);
}

/* Linear layers on [batch, tokens, features]: MatMul + bias + GELU (torch's five nodes), and
 * MatMul + bias + residual Add; plus a bare MatMul. */
enum { T = 7, K = 20, K2 = 36 };

static void test_linear_chains(void **state)
{
	(void)state;
	float *w1 = fill(K * K2, 30, -2.0f), *b1 = fill(K2, 31, -2.0f);
	float *w2 = fill(K2 * K, 32, -2.0f), *b2 = fill(K, 33, -2.0f);
	float *w3 = fill(K * K2, 34, -2.0f);
	static const float sqrt2 = 1.41421354f, one = 1.0f, half = 0.5f;
	float *x = fill(N * T * K, 35, -3.0f);
	x[5] = NAN;
	struct graph *g = graph_new();
	g->opset = 17;
	int in = input(g, "x", 3, DIMS(-1, T, K));
	int cw1 = constant(g, "w1", DT_FLOAT, 2, DIMS(K, K2), w1);
	int cb1 = constant(g, "b1", DT_FLOAT, 1, DIMS(K2), b1);
	int cw2 = constant(g, "w2", DT_FLOAT, 2, DIMS(K2, K), w2);
	int cb2 = constant(g, "b2", DT_FLOAT, 1, DIMS(K), b2);
	int cw3 = constant(g, "w3", DT_FLOAT, 2, DIMS(K, K2), w3);
	int cs = constant(g, "sqrt2", DT_FLOAT, 0, NULL, &sqrt2);
	int c1 = constant(g, "one", DT_FLOAT, 0, NULL, &one);
	int ch = constant(g, "half", DT_FLOAT, 0, NULL, &half);
	int h = mid(g, "fc1"), hb = mid(g, "fc1b"), d = mid(g, "d"), er = mid(g, "erf");
	int a = mid(g, "a"), m1 = mid(g, "m1"), ge = mid(g, "gelu");
	node(g, "fc1", "MatMul", IN(in, cw1), h, NULL, 0);
	node(g, "fc1b", "Add", IN(cb1, h), hb, NULL, 0);
	node(g, "div", "Div", IN(hb, cs), d, NULL, 0);
	node(g, "erf", "Erf", IN(d), er, NULL, 0);
	node(g, "add1", "Add", IN(er, c1), a, NULL, 0);
	node(g, "mul1", "Mul", IN(hb, a), m1, NULL, 0);
	node(g, "mul2", "Mul", IN(m1, ch), ge, NULL, 0);
	int f2 = mid(g, "fc2"), f2b = mid(g, "fc2b"), out = mid(g, "out");
	node(g, "fc2", "MatMul", IN(ge, cw2), f2, NULL, 0);
	node(g, "fc2b", "Add", IN(f2, cb2), f2b, NULL, 0);
	node(g, "res", "Add", IN(in, f2b), out, NULL, 0);
	int bare = mid(g, "bare");
	node(g, "bare", "MatMul", IN(out, cw3), bare, NULL, 0);
	output(g, out);
	output(g, bare);
	finalize(g);
	struct shape s = shape_make(3, DIMS(N, T, K));
	compare_shape(g, &s, x);
	struct plan *pf = plan_shape(g, &s, true, NULL);
	/* merged away: fc1's bias and the GELU's inside, fc2's bias */
	const int gone[] = { h, hb, d, er, a, m1, f2, f2b };
	for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
		assert_null(plan_value(pf, gone[i])->data);
	assert_non_null(plan_value(pf, ge)->data);
	plan_free(pf);
	graph_free(g);
	free(x);
	free(w1);
	free(b1);
	free(w2);
	free(b2);
	free(w3);
}

/* softmax(Q KT * s) V with Q = V = x [batch, heads, tokens, dim], KT its transpose; and the
 * same with Div. */
static void test_attention(void **state)
{
	(void)state;
	enum { HEADS = 3, TOK = 21, DIM = 5 };
	float *x = fill(N * HEADS * TOK * DIM, 40, -3.0f);
	static const float scale = 0.4472136f;
	static const int64_t perm[] = { 0, 1, 3, 2 };
	for (int div = 0; div < 2; div++) {
		struct graph *g = graph_new();
		g->opset = 17;
		int in = input(g, "x", 4, DIMS(-1, HEADS, TOK, DIM));
		int sc = constant(g, "scale", DT_FLOAT, 0, NULL, &scale);
		int kt = mid(g, "kt"), s = mid(g, "s"), s2 = mid(g, "s2"), pr = mid(g, "p");
		int o = mid(g, "o");
		struct attr ap[] = { { .name = "perm", .type = ATTR_INTS, .ints = perm, .n = 4 } };
		node(g, "t", "Transpose", IN(in), kt, ap, 1);
		node(g, "qk", "MatMul", IN(in, kt), s, NULL, 0);
		node(g, "scale", div ? "Div" : "Mul", IN(s, sc), s2, NULL, 0);
		struct attr ax[] = { a_int("axis", -1) };
		node(g, "softmax", "Softmax", IN(s2), pr, ax, 1);
		node(g, "pv", "MatMul", IN(pr, in), o, NULL, 0);
		output(g, o);
		finalize(g);
		struct shape sh = shape_make(4, DIMS(N, HEADS, TOK, DIM));
		compare_shape(g, &sh, x);
		/* merged where the fused kernel exists (without AVX-512 the nodes are faster) */
		struct plan *pf = plan_shape(g, &sh, true, NULL);
		if (nn_have_avx512())
			assert_null(plan_value(pf, pr)->data);
		plan_free(pf);
		graph_free(g);
	}
	free(x);
}

/* Depthwise 3x3 "same" + residual Add + Clip (MobileNet's block) on maps of several widths -
 * rows of two channels per vector on narrow maps, odd channel counts - against a naive loop. */
static void test_depthwise_chain(void **state)
{
	(void)state;
	static const struct { int c, h, w; } cases[] = { { 5, 7, 7 }, { 4, 12, 10 }, { 3, 5, 3 },
							 { 6, 16, 16 }, { 2, 9, 17 } };
	static const float lo = -0.5f, hi = 0.75f;
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		const int cc = cases[ci].c, hh = cases[ci].h, ww = cases[ci].w;
		float *x = fill(N * cc * hh * ww, 50 + (unsigned)ci, -3.0f);
		float *wt = fill(cc * 9, 60 + (unsigned)ci, -2.0f), *b = fill(cc, 70, -2.0f);
		struct graph *g = graph_new();
		g->opset = 13;
		int in = input(g, "x", 4, DIMS(-1, cc, hh, ww));
		int cw = constant(g, "w", DT_FLOAT, 4, DIMS(cc, 1, 3, 3), wt);
		int cb = constant(g, "b", DT_FLOAT, 1, DIMS(cc), b);
		int cl = constant(g, "lo", DT_FLOAT, 0, NULL, &lo);
		int ch = constant(g, "hi", DT_FLOAT, 0, NULL, &hi);
		int y = mid(g, "dw"), s = mid(g, "sum"), o = mid(g, "clip");
		struct attr a[] = { { .name = "pads", .type = ATTR_INTS, .ints = pads1, .n = 4 },
				    a_int("group", cc) };
		node(g, "dw", "Conv", IN(in, cw, cb), y, a, 2);
		node(g, "add", "Add", IN(y, in), s, NULL, 0);
		node(g, "clip", "Clip", IN(s, cl, ch), o, NULL, 0);
		output(g, o);
		finalize(g);
		struct shape sh = shape_make(4, DIMS(N, cc, hh, ww));
		struct err e = { 0 };
		struct tensor tin = tensor_view(DT_FLOAT, &sh, x);
		struct plan *pf = plan_shape(g, &sh, true, NULL);
		assert_int_equal(plan_run(pf, &tin, NULL, &e), OK);
		const float *got = plan_value(pf, o)->data;
		for (int n = 0; n < N; n++)
			for (int c = 0; c < cc; c++)
				for (int i = 0; i < hh; i++)
					for (int j = 0; j < ww; j++) {
						const float *xp = x + (n * cc + c) * hh * ww;
						double acc = b[c];
						for (int ki = 0; ki < 3; ki++)
							for (int kj = 0; kj < 3; kj++) {
								int ii = i + ki - 1, jj = j + kj - 1;
								if (ii >= 0 && ii < hh && jj >= 0 && jj < ww)
									acc += (double)wt[c * 9 + ki * 3 + kj] *
									       xp[ii * ww + jj];
							}
						acc += xp[i * ww + j];
						float want = (float)(acc < lo ? lo : acc > hi ? hi : acc);
						float v = got[((n * cc + c) * hh + i) * ww + j];
						if (!(fabsf(v - want) <= 1e-5f))
							fail_msg("case %zu n%d c%d (%d,%d): %g, want %g", ci, n,
								 c, i, j, (double)v, (double)want);
					}
		plan_free(pf);
		graph_free(g);
		free(x);
		free(wt);
		free(b);
	}
}

/* Pointwise Conv + residual Add + Clip (MobileNet's projection with its shortcut) fused, on
 * maps whose last vector is partly filled: bit for bit the bias, one fused multiply-add per
 * input channel in order, the residual, the clip - the separate nodes' result. */
static void test_pointwise_residual(void **state)
{
	(void)state;
	if (!nn_have_avx512())
		skip(); /* the generic path multiplies through OpenBLAS, in its own order */
	static const struct { int n, c, h, w; } cases[] = { { 3, 6, 7, 7 }, { 5, 9, 14, 14 },
							    { 4, 5, 6, 6 }, { 7, 4, 2, 2 },
							    { 2, 8, 5, 5 } };
	static const float lo = -0.5f, hi = 0.75f;
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		const int nn = cases[ci].n, cc = cases[ci].c, sp = cases[ci].h * cases[ci].w;
		float *x = fill(nn * cc * sp, 80 + (unsigned)ci, -3.0f);
		float *wt = fill(cc * cc, 90 + (unsigned)ci, -2.0f), *b = fill(cc, 95, -2.0f);
		struct graph *g = graph_new();
		g->opset = 13;
		int in = input(g, "x", 4, DIMS(-1, cc, cases[ci].h, cases[ci].w));
		int cw = constant(g, "w", DT_FLOAT, 4, DIMS(cc, cc, 1, 1), wt);
		int cb = constant(g, "b", DT_FLOAT, 1, DIMS(cc), b);
		int cl = constant(g, "lo", DT_FLOAT, 0, NULL, &lo);
		int ch = constant(g, "hi", DT_FLOAT, 0, NULL, &hi);
		int y = mid(g, "pw"), s = mid(g, "sum"), o = mid(g, "clip");
		node(g, "pw", "Conv", IN(in, cw, cb), y, NULL, 0);
		node(g, "add", "Add", IN(y, in), s, NULL, 0);
		node(g, "clip", "Clip", IN(s, cl, ch), o, NULL, 0);
		output(g, o);
		finalize(g);
		struct shape sh = shape_make(4, DIMS(nn, cc, cases[ci].h, cases[ci].w));
		struct err e = { 0 };
		struct tensor tin = tensor_view(DT_FLOAT, &sh, x);
		struct plan *pf = plan_shape(g, &sh, true, NULL);
		assert_int_equal(plan_run(pf, &tin, NULL, &e), OK);
		const float *got = plan_value(pf, o)->data;
		for (int n = 0; n < nn; n++)
			for (int m = 0; m < cc; m++)
				for (int q = 0; q < sp; q++) {
					float acc = b[m];
					for (int c = 0; c < cc; c++)
						acc = fmaf(wt[m * cc + c], x[(n * cc + c) * sp + q], acc);
					acc += x[(n * cc + m) * sp + q];
					float want = acc < lo ? lo : acc > hi ? hi : acc;
					float v = got[(n * cc + m) * sp + q];
					if (memcmp(&v, &want, sizeof v))
						fail_msg("case %zu n%d m%d q%d: %a, want %a", ci, n, m, q,
							 (double)v, (double)want);
				}
		plan_free(pf);
		graph_free(g);
		free(x);
		free(wt);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv_bn_relu),
		cmocka_unit_test(test_residual_diamond),
		cmocka_unit_test(test_pointwise_residual),
		cmocka_unit_test(test_clip_leaky_nan),
		cmocka_unit_test(test_visible_values_stay),
		cmocka_unit_test(test_observation),
		cmocka_unit_test(test_linear_chains),
		cmocka_unit_test(test_attention),
		cmocka_unit_test(test_depthwise_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
