/*
 * test_bundles.c - every sample bundle runs in qlens as it ran in torch.
 *
 * For each bundle folder given on the command line: qlens' FP32 logits on the
 * evaluation set match the bundle's reference-logits.npy (torch's) within
 * 1e-3 with the same top-1 on >= 99.9% of samples, and qlens' top-1 against
 * the labels equals the fp32_top1_eval recorded in bundle.json.  Runs with one
 * and with two threads, and with a batch that does not divide the sample count,
 * so chunking and threading cannot change results.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bundle.h"
#include "exec.h"
#include "npy.h"

static char **bundle_dirs;
static int n_bundles;

static void check_bundle(const char *dir, int threads, int batch)
{
	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	struct runner *r = NULL;
	struct tensor x, labels, ref, out[4] = { 0 };
	assert_int_equal(bundle_open(dir, &b, &e), OK);
	assert_int_equal(bundle_load_model(&b, &g, &e), OK);
	assert_int_equal(bundle_load_eval(&b, &x, &labels, &e), OK);
	assert_non_null(b.ref_logits_path);
	assert_int_equal(npy_read(b.ref_logits_path, &ref, &e), OK);
	assert_int_equal(runner_new(g, threads, batch, &r, &e), OK);
	if (runner_run(r, &x, out, &e))
		fail_msg("%s: %s", dir, e.msg);
	assert_true(shape_equal(&out[0].shape, &ref.shape));
	int64_t n = ref.shape.dim[0], k = ref.shape.dim[1];
	const float *a = out[0].data, *want = ref.data;
	const int64_t *lab = labels.data;
	double maxdiff = 0;
	int64_t same = 0, correct = 0;
	for (int64_t i = 0; i < n; i++) {
		int64_t ia = 0, ib = 0;
		for (int64_t j = 0; j < k; j++) {
			double d = fabs((double)a[i * k + j] - want[i * k + j]);
			maxdiff = d > maxdiff ? d : maxdiff;
			if (a[i * k + j] > a[i * k + ia])
				ia = j;
			if (want[i * k + j] > want[i * k + ib])
				ib = j;
		}
		same += ia == ib;
		correct += ia == lab[i];
	}
	double top1 = (double)correct / (double)n;
	print_message("%s threads=%d batch=%d: max |logit diff| %.3g, same top-1 %.4f, "
		      "top-1 %.4f (bundle.json %.4f)\n", b.name, threads, batch, maxdiff,
		      (double)same / (double)n, top1, b.fp32_top1_eval);
	assert_true(maxdiff <= 1e-3);
	assert_true((double)same / (double)n >= 0.999);
	assert_true(b.fp32_top1_eval >= 0);
	assert_true(fabs(top1 - b.fp32_top1_eval) < 0.5 / (double)n);
	for (int i = 0; i < 4; i++)
		tensor_fini(&out[i]);
	tensor_fini(&x);
	tensor_fini(&labels);
	tensor_fini(&ref);
	runner_free(r);
	graph_free(g);
	bundle_fini(&b);
}

static void test_bundles_match_torch(void **state)
{
	(void)state;
	assert_true(n_bundles > 0);
	for (int i = 0; i < n_bundles; i++) {
		check_bundle(bundle_dirs[i], 1, 64);
		check_bundle(bundle_dirs[i], 2, 100);
		check_bundle(bundle_dirs[i], 2, 333);
	}
}

int main(int argc, char **argv)
{
	bundle_dirs = argv + 1;
	n_bundles = argc - 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundles_match_torch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
