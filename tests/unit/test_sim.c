/*
 * test_sim.c - simulated quantization places Q/DQ where ONNX Runtime does.
 *
 * A 1x1 convolution whose weight is the identity makes the arithmetic easy to
 * follow: weights 1.0 survive symmetric int8 per-channel exactly (127 * 1/127),
 * so the output is the input's fake-quantized value, and output Q/DQ with the
 * same parameters changes nothing.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph_builder.h"
#include "sim.h"

#define C 3
#define N 40

static float W[C * C], B[C], Z[C], Wspread[C * C];

/* x[N,C,1,1] -> Conv(W, B) -> y */
static struct graph *conv_graph(const float *w, const float *b)
{
	struct graph *g = graph_new();
	assert_non_null(g);
	int x = input(g, "x", 4, DIMS(-1, C, 1, 1));
	int wv = constant(g, "W", DT_FLOAT, 4, DIMS(C, C, 1, 1), w);
	int bv = constant(g, "B", DT_FLOAT, 1, DIMS(C), b);
	int y = mid(g, "y");
	node(g, "conv", "Conv", IN(x, wv, bv), y, NULL, 0);
	output(g, y);
	finalize(g);
	return g;
}

static void make_data(struct tensor *t)
{
	struct err e = { 0 };
	struct shape s = shape_make(4, DIMS(N, C, 1, 1));
	assert_int_equal(tensor_alloc(t, DT_FLOAT, &s, &e), OK);
	float *x = t->data;
	srand(7);
	for (int i = 0; i < N * C; i++)
		x[i] = (float)rand() / (float)RAND_MAX * 6.0f - 1.5f; /* [-1.5, 4.5] */
}

static void run(const struct graph *g, const struct sim *s, const struct tensor *x,
		struct tensor *y)
{
	struct err e = { 0 };
	struct runner *r;
	assert_int_equal(runner_new(g, 2, 16, &r, &e), OK);
	if (s)
		assert_int_equal(sim_run(s, r, x, y, &e), OK);
	else
		assert_int_equal(runner_run(r, x, y, &e), OK);
	runner_free(r);
}

static void prepare(const struct graph *g, const char *preset, const struct tensor *x,
		    struct calib_data *cal, struct sim *s)
{
	struct err e = { 0 };
	struct precision p;
	struct policy pol;
	assert_int_equal(precision_preset(preset, &p, &e), OK);
	assert_int_equal(calib_collect(g, x, 2, 16, cal, &e), OK);
	assert_int_equal(policy_init(&pol, g, &p, &e), OK);
	if (sim_prepare(s, g, cal, &pol, &e))
		fail_msg("%s", e.msg);
	policy_fini(&pol);
}

static void test_fp32_policy_is_exact(void **state)
{
	(void)state;
	struct graph *g = conv_graph(Wspread, B);
	struct tensor x, y0[1] = { 0 }, y1[1] = { 0 };
	struct calib_data cal;
	struct sim s;
	make_data(&x);
	prepare(g, "fp32", &x, &cal, &s);
	run(g, NULL, &x, y0);
	run(g, &s, &x, y1);
	assert_memory_equal(y0[0].data, y1[0].data, y0[0].nbytes);
	assert_int_equal(s.weight_bytes, s.fp32_weight_bytes);
	tensor_fini(&y0[0]);
	tensor_fini(&y1[0]);
	tensor_fini(&x);
	sim_fini(&s);
	calib_data_fini(&cal);
	graph_free(g);
}

static void test_int8_identity_conv(void **state)
{
	(void)state;
	struct graph *g = conv_graph(W, Z);
	struct tensor x, y[1] = { 0 };
	struct calib_data cal;
	struct sim s;
	make_data(&x);
	prepare(g, "int8", &x, &cal, &s);
	run(g, &s, &x, y);
	/* the input's calibrated range is its min/max; uint8 asymmetric */
	float lo = 0, hi = 0;
	const float *xv = x.data;
	for (int i = 0; i < N * C; i++) {
		lo = xv[i] < lo ? xv[i] : lo;
		hi = xv[i] > hi ? xv[i] : hi;
	}
	struct qparams p = qfmt_params_from_range(QF_UINT8, lo, hi, false);
	float *want = malloc(sizeof(float) * N * C);
	qfmt_fake_quant(QF_UINT8, xv, want, N * C, p);
	const float *got = y[0].data;
	for (int i = 0; i < N * C; i++)
		assert_float_equal(got[i], want[i], 1e-6);
	/* weights: C*C int8 values, plus one float scale and one int8 zero point per channel */
	int64_t bias_bytes = 4 * C;
	assert_int_equal(s.weight_bytes, C * C + C * (4 + 1) + bias_bytes);
	assert_int_equal(s.fp32_weight_bytes, 4 * (C * C + C));
	free(want);
	tensor_fini(&y[0]);
	tensor_fini(&x);
	sim_fini(&s);
	calib_data_fini(&cal);
	graph_free(g);
}

static void test_per_channel_weights(void **state)
{
	(void)state;
	struct graph *g = conv_graph(Wspread, B);
	struct tensor x;
	struct calib_data cal;
	struct sim s;
	make_data(&x);
	prepare(g, "int8", &x, &cal, &s);
	const struct sim_node *sn = &s.nodes[0];
	assert_true(sn->quant);
	assert_int_equal(sn->weight_input, 1);
	assert_int_equal(sn->n_wparams, C);
	const float *wq = sn->wq.data;
	for (int c = 0; c < C; c++) {
		float amax = 0;
		for (int k = 0; k < C; k++)
			amax = fmaxf(amax, fabsf(Wspread[c * C + k]));
		/* symmetric int8: scale = max|w| / 127, zero point 0 */
		assert_float_equal(sn->wparams[c].scale, amax / 127.0f, 1e-9);
		assert_int_equal(sn->wparams[c].zero_point, 0);
		for (int k = 0; k < C; k++) {
			float q = nearbyintf(Wspread[c * C + k] / sn->wparams[c].scale);
			assert_float_equal(wq[c * C + k], q * sn->wparams[c].scale, 1e-9);
		}
	}
	/* the bias is int32 with scale s_input * s_weight[c] */
	const float *bq = sn->bq.data;
	float s_in = s.in_q[s.in_q_base[0]].p.scale;
	for (int c = 0; c < C; c++) {
		double sc = (double)s_in * sn->wparams[c].scale;
		assert_float_equal(bq[c], (float)(nearbyint(B[c] / sc) * sc), 1e-6);
	}
	tensor_fini(&x);
	sim_fini(&s);
	calib_data_fini(&cal);
	graph_free(g);
}

/* x[N,C] -> MatMul(A) -> h -> Softmax -> p -> MatMul(A) -> y: Softmax runs in
 * float (not quantizable); the second MatMul quantizes its input p. */
static struct graph *attention_graph(void)
{
	struct graph *g = graph_new();
	assert_non_null(g);
	int x = input(g, "x", 2, DIMS(-1, C));
	int a = constant(g, "A", DT_FLOAT, 2, DIMS(C, C), Wspread);
	int h = mid(g, "h"), pv = mid(g, "p"), y = mid(g, "y");
	node(g, "mm1", "MatMul", IN(x, a), h, NULL, 0);
	struct attr axis = a_int("axis", -1);
	node(g, "softmax", "Softmax", IN(h), pv, &axis, 1);
	node(g, "mm2", "MatMul", IN(pv, a), y, NULL, 0);
	output(g, y);
	finalize(g);
	return g;
}

/* Prepare the attention graph with preset `preset`, activation format afmt and
 * symmetry sym; check that the softmax output p gets exactly `want` (or is
 * calibrated when fixed is false) and that h is calibrated either way. */
static void softmax_case(const char *preset, enum qfmt afmt, bool sym, bool fixed,
			 struct qparams want)
{
	struct err e = { 0 };
	struct graph *g = attention_graph();
	struct tensor x;
	struct shape sh = shape_make(2, DIMS(N, C));
	assert_int_equal(tensor_alloc(&x, DT_FLOAT, &sh, &e), OK);
	float *xv = x.data;
	srand(11);
	for (int i = 0; i < N * C; i++)
		xv[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
	struct precision pr;
	struct policy pol;
	struct calib_data cal;
	struct sim s;
	assert_int_equal(precision_preset(preset, &pr, &e), OK);
	pr.afmt = afmt;
	pr.act_symmetric = sym;
	assert_int_equal(calib_collect(g, &x, 2, 16, &cal, &e), OK);
	assert_int_equal(policy_init(&pol, g, &pr, &e), OK);
	if (sim_prepare(&s, g, &cal, &pol, &e))
		fail_msg("%s", e.msg);
	policy_fini(&pol);
	assert_true(s.nodes[0].quant);
	assert_false(s.nodes[1].quant); /* Softmax stays float */
	assert_true(s.nodes[2].quant);

	int h = g->nodes[0].outputs[0], pv = g->nodes[1].outputs[0];
	/* the calibrated parameters a tensor would get */
	float lo, hi;
	calib_range(cal.stats[pv], &pr.acalib, afmt, sym, &lo, &hi);
	struct qparams cal_p = qfmt_params_from_range(afmt, lo, hi, sym);
	const struct act_q *qp = &s.in_q[s.in_q_base[2] + 0];
	assert_int_equal(qp->fmt, afmt);
	if (fixed) {
		assert_true(qp->p.scale == want.scale);
		assert_int_equal(qp->p.zero_point, want.zero_point);
		/* the data alone would have given other parameters */
		assert_true(cal_p.scale != want.scale || cal_p.zero_point != want.zero_point);
	} else {
		assert_true(qp->p.scale == cal_p.scale);
		assert_int_equal(qp->p.zero_point, cal_p.zero_point);
	}
	/* h, the Softmax input (mm1's output), is calibrated as before */
	calib_range(cal.stats[h], &pr.acalib, afmt, sym, &lo, &hi);
	struct qparams hp = qfmt_params_from_range(afmt, lo, hi, sym);
	assert_int_equal(s.out_q[h].fmt, afmt);
	assert_true(s.out_q[h].p.scale == hp.scale);
	assert_int_equal(s.out_q[h].p.zero_point, hp.zero_point);
	assert_true(lo < 0); /* h is not in [0, 1]: a fixed 1/256 would be wrong */

	tensor_fini(&x);
	sim_fini(&s);
	calib_data_fini(&cal);
	graph_free(g);
}

static void test_softmax_output_fixed(void **state)
{
	(void)state;
	/* ONNX Runtime's QDQSoftmax: uint8 1/256 z 0 (symmetric too); int8 asymmetric
	 * 1/256 z -128; int8 symmetric 1/127 z 0 */
	softmax_case("int8", QF_UINT8, false, true, (struct qparams){ 0.00390625f, 0 });
	softmax_case("int8", QF_UINT8, true, true, (struct qparams){ 0.00390625f, 0 });
	softmax_case("int8", QF_INT8, false, true, (struct qparams){ 0.00390625f, -128 });
	softmax_case("int8", QF_INT8, true, true, (struct qparams){ 1.0f / 127, 0 });
	/* no fixed parameters in ONNX Runtime: calibrated */
	softmax_case("w8a16", QF_INT16, true, false, (struct qparams){ 0 });
}

static void test_presets_and_specs(void **state)
{
	(void)state;
	struct err e = { 0 };
	struct precision p;
	for (int i = 0; precision_preset_names[i]; i++)
		assert_int_equal(precision_preset(precision_preset_names[i], &p, &e), OK);
	assert_int_equal(precision_preset("int7", &p, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "unknown precision 'int7'"));
	assert_int_equal(precision_preset("w4a8", &p, &e), OK);
	assert_int_equal(p.wfmt, QF_INT4);
	assert_int_equal(p.wgran, QG_BLOCK);
	struct graph *g = conv_graph(W, B);
	struct policy pol;
	assert_int_equal(policy_init(&pol, g, &p, &e), OK);
	assert_int_equal(policy_set_spec(&pol, "nope=fp16", &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "no node named 'nope'"));
	assert_int_equal(policy_set_spec(&pol, "conv", &e), ERR_INVALID);
	assert_int_equal(policy_set_spec(&pol, "conv=fp16", &e), OK);
	struct precision got = policy_node(&pol, 0);
	assert_int_equal(got.wfmt, QF_FP16);
	char buf[64];
	assert_string_equal(precision_label(&got, buf, sizeof buf), "fp16");
	policy_fini(&pol);
	graph_free(g);
}

/* x[N,C,1,1] -> Conv -> Flatten -> the ops named in `between` (one input each; a
 * Transpose swaps the two axes) -> Gemm -> z: nodes conv 0, flat 1, then `between`, then
 * the Gemm. */
static struct graph *conv_to_gemm(const char *const *between, int n_between)
{
	static const int64_t perm[2] = { 1, 0 };
	struct graph *g = graph_new();
	assert_non_null(g);
	int x = input(g, "x", 4, DIMS(-1, C, 1, 1));
	int wv = constant(g, "W", DT_FLOAT, 4, DIMS(C, C, 1, 1), Wspread);
	int bv = constant(g, "B", DT_FLOAT, 1, DIMS(C), B);
	int gw = constant(g, "GW", DT_FLOAT, 2, DIMS(C, C), Wspread);
	int y = mid(g, "y"), v = mid(g, "f"), z = mid(g, "z");
	node(g, "conv", "Conv", IN(x, wv, bv), y, NULL, 0);
	node(g, "flat", "Flatten", IN(y), v, NULL, 0);
	struct attr tp = { .name = "perm", .type = ATTR_INTS, .ints = perm, .n = 2 };
	for (int i = 0; i < n_between; i++) {
		char name[16];
		snprintf(name, sizeof name, "m%d", i);
		int next = mid(g, name);
		bool tr = strcmp(between[i], "Transpose") == 0;
		node(g, name, between[i], IN(v), next, tr ? &tp : NULL, tr ? 1 : 0);
		v = next;
	}
	node(g, "gemm", "Gemm", IN(v, gw, bv), z, NULL, 0);
	output(g, z);
	finalize(g);
	return g;
}

/* x -> Conv -> Flatten -> Transpose -> Gemm: the Gemm's input is the Conv's output,
 * rearranged.  Calibrated on the same values, it gets the Conv output's parameters, so
 * the Gemm's input Q/DQ is skipped (in_src), which must leave every bit as it is: the
 * run without the skip gives the same output, in every preset. */
static void test_requantize_through_moves(void **state)
{
	(void)state;
	static const char *const moves[] = { "Transpose", "Transpose" };
	struct graph *g = conv_to_gemm(moves, 2);
	struct tensor xt;
	make_data(&xt);
	const char *presets[] = { "int8", "w4a8", "w8a16", "fp8e4m3", "fp16", "bf16" };
	for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
		struct calib_data cal;
		struct sim s;
		struct tensor z1[1] = { 0 }, z2[1] = { 0 };
		prepare(g, presets[i], &xt, &cal, &s);
		int gemm = 4, edge = s.in_q_base[gemm];
		assert_int_not_equal(s.in_q[edge].fmt, QF_FP32);
		if (s.in_src[edge] != 0)
			fail_msg("%s: the Gemm's input Q/DQ is not recognised as the Conv's",
				 presets[i]);
		run(g, &s, &xt, z1);
		s.in_src[edge] = -1; /* quantize it again */
		run(g, &s, &xt, z2);
		if (memcmp(z1[0].data, z2[0].data, z1[0].nbytes) != 0)
			fail_msg("%s: skipping the repeated Q/DQ changed the output", presets[i]);
		tensor_fini(&z1[0]);
		tensor_fini(&z2[0]);
		sim_fini(&s);
		calib_data_fini(&cal);
	}
	tensor_fini(&xt);
	graph_free(g);
}

/* Not through a node that computes: Conv -> Relu -> Gemm quantizes the Gemm's input. */
static void test_requantize_after_compute(void **state)
{
	(void)state;
	static const char *const neg[] = { "Neg" };
	struct graph *g = conv_to_gemm(neg, 1);
	struct tensor xt;
	struct calib_data cal;
	struct sim s;
	make_data(&xt);
	prepare(g, "int8", &xt, &cal, &s);
	assert_int_equal(s.in_src[s.in_q_base[3]], -1);
	assert_int_equal(s.in_src[s.in_q_base[0]], -1); /* the graph input: no producer */
	tensor_fini(&xt);
	sim_fini(&s);
	calib_data_fini(&cal);
	graph_free(g);
}

static void assert_same_node(const struct sim *a, const struct sim *b, int ni)
{
	const struct sim_node *x = &a->nodes[ni], *y = &b->nodes[ni];
	assert_int_equal(x->quant, y->quant);
	assert_true(precision_equal(&x->prec, &y->prec));
	assert_int_equal(x->weight_input, y->weight_input);
	assert_int_equal(x->bias_input, y->bias_input);
	assert_int_equal(x->n_wparams, y->n_wparams);
	assert_int_equal(x->wq.nbytes, y->wq.nbytes);
	if (x->wq.nbytes)
		assert_memory_equal(x->wq.data, y->wq.data, x->wq.nbytes);
	assert_int_equal(x->bq.nbytes, y->bq.nbytes);
	if (x->bq.nbytes)
		assert_memory_equal(x->bq.data, y->bq.data, x->bq.nbytes);
	if (x->n_wparams)
		assert_memory_equal(x->wparams, y->wparams, sizeof *x->wparams * (size_t)x->n_wparams);
}

/* Preparing from the previous sim (an edit) gives what preparing afresh gives: the
 * unchanged node's state is taken over, the changed one computed. */
static void test_prepare_from_previous(void **state)
{
	(void)state;
	struct err e = { 0 };
	struct graph *g = conv_to_gemm(NULL, 0);
	struct tensor xt;
	struct calib_data cal;
	make_data(&xt);
	assert_int_equal(calib_collect(g, &xt, 2, 16, &cal, &e), OK);
	struct precision i8, w4;
	assert_int_equal(precision_preset("int8", &i8, &e), OK);
	assert_int_equal(precision_preset("w4a8", &w4, &e), OK);
	struct policy p1, p2;
	assert_int_equal(policy_init(&p1, g, &i8, &e), OK);
	assert_int_equal(policy_init(&p2, g, &i8, &e), OK);
	policy_set(&p2, 0, &w4); /* the edit: conv to w4a8 */
	struct sim prev, from, fresh;
	assert_int_equal(sim_prepare(&prev, g, &cal, &p1, &e), OK);
	const struct tensor *kept = &prev.nodes[2].wq;
	const void *kept_data = kept->data;
	assert_int_equal(sim_prepare_from(&from, g, &cal, &p2, &prev, &e), OK);
	assert_int_equal(sim_prepare(&fresh, g, &cal, &p2, &e), OK);
	assert_ptr_equal(from.nodes[2].wq.data, kept_data); /* taken over, not recomputed */
	assert_ptr_equal(prev.nodes[2].wq.data, NULL);
	assert_ptr_not_equal(from.nodes[0].wq.data, prev.nodes[0].wq.data);
	for (int ni = 0; ni < g->n_nodes; ni++)
		assert_same_node(&from, &fresh, ni);
	assert_memory_equal(from.out_q, fresh.out_q, sizeof *from.out_q * (size_t)g->n_values);
	assert_memory_equal(from.in_q, fresh.in_q, sizeof *from.in_q * 7);
	assert_memory_equal(from.in_src, fresh.in_src, sizeof *from.in_src * 7);
	assert_int_equal(from.weight_bytes, fresh.weight_bytes);
	assert_true(from.weight_bytes != prev.weight_bytes);
	struct tensor z1[1] = { 0 }, z2[1] = { 0 };
	run(g, &from, &xt, z1);
	run(g, &fresh, &xt, z2);
	assert_memory_equal(z1[0].data, z2[0].data, z1[0].nbytes);
	tensor_fini(&z1[0]);
	tensor_fini(&z2[0]);
	sim_fini(&prev);
	sim_fini(&from);
	sim_fini(&fresh);
	policy_fini(&p1);
	policy_fini(&p2);
	calib_data_fini(&cal);
	tensor_fini(&xt);
	graph_free(g);
}

int main(void)
{
	for (int i = 0; i < C; i++) {
		W[i * C + i] = 1.0f;
		B[i] = 0.1f * (float)(i + 1);
		for (int k = 0; k < C; k++)
			Wspread[i * C + k] = (float)(k - 1) * powf(10.0f, (float)i - 1) / 3.0f;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fp32_policy_is_exact),
		cmocka_unit_test(test_int8_identity_conv),
		cmocka_unit_test(test_per_channel_weights),
		cmocka_unit_test(test_softmax_output_fixed),
		cmocka_unit_test(test_requantize_through_moves),
		cmocka_unit_test(test_requantize_after_compute),
		cmocka_unit_test(test_prepare_from_previous),
		cmocka_unit_test(test_presets_and_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
