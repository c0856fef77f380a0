/*
 * cmd_eval.c - `qlens eval BUNDLE [--preset NAME] ...`: one policy, measured.
 *
 * Calibrates on the bundle's calibration set, runs the evaluation set in FP32
 * and under the policy, and reports top-1 of both, the paired delta with its
 * exact 95% interval, agreement with FP32, logit SQNR, KL and weight size.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evaluate.h"
#include "policyfile.h"

static const char eval_help[] =
	"usage: qlens eval [BUNDLE|MODEL.onnx] [--preset NAME] [--granularity G]\n"
	"                  [--calib-method M] [--calib-samples N] [--set NODE=PRESET ...]\n"
	"                  [--policy FILE [--accept-model-change]]\n"
	"                  [--calib FILE.npy --eval FILE.npy --labels FILE.npy]\n"
	"                  [--threads N] [--batch N] [--json]\n\n"
	"Measure the model under one quantization policy against FP32 on the same samples.\n\n"
	CLI_PRECISION_HELP
	"  --policy FILE        measure a policy file (qlens policy) instead of a preset;\n"
	"                       its calibration sample count applies unless given\n"
	"  --accept-model-change  use the policy although the model's sha256 changed\n"
	CLI_DATA_HELP
	CLI_THREADS_HELP
	CLI_BATCH_HELP
	"  --json               one JSON object (accuracies as fractions 0..1)\n";

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_PRECISION_OPTIONS,
		CLI_DATA_OPTIONS,
		CLI_THREADS_OPTION,
		CLI_BATCH_OPTION,
		{ "json", no_argument, NULL, 'j' },
		{ "policy", required_argument, NULL, 'P' },
		{ "accept-model-change", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_args a;
	cli_args_init(&a);
	bool json = false, accept_model = false;
	const char *policy_path = NULL;
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'P': policy_path = optarg; break;
		case 'A': accept_model = true; break;
		case 'h': fputs(eval_help, stdout); return 0;
		default:
			if ((rc = cli_option("eval", c, optarg, &a)))
				return rc;
		}
	}
	if (argc - optind > 1)
		return cli_usage("eval", "takes one bundle or model");
	const char *path = optind < argc ? argv[optind] : cli_default_bundle();

	struct err e = { 0 };
	struct precision prec;
	struct calib_spec cspec;
	if ((rc = cli_precision("eval", &a, &prec, &cspec)))
		return rc;

	struct bundle b;
	struct graph *g = NULL;
	struct evaluator ev = { 0 };
	struct policy pol = { 0 };
	struct policy_doc doc;
	policy_doc_init(&doc);
	struct sim sim = { 0 };
	bool measured = false;
	rc = 1;
	if (cli_bundle_load(path, &a.data, &b, &g, &e))
		return cli_fail(&e);
	if (policy_path) {
		if ((rc = cli_policy_load(policy_path, &b, g, accept_model, &doc, &pol)))
			goto done;
		rc = 1;
		prec = doc.defaults;
		cspec = prec.acalib;
		if (!a.calib_samples)
			a.calib_samples = doc.calib_samples;
	} else if (policy_init(&pol, g, &prec, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	for (int i = 0; i < a.n_sets; i++)
		if (policy_set_spec(&pol, a.sets[i], &e)) {
			rc = cli_usage("eval", "%s", e.msg);
			goto done;
		}
	struct metrics_summary s;
	if (cli_measure(&b, g, &pol, &a, &ev, &sim, &s))
		goto done;
	measured = true;
	char label[64], cs[64];
	precision_label(&prec, label, sizeof label);
	calib_spec_str(&cspec, cs, sizeof cs);
	if (json) {
		struct eval_recipe r = { b.name, label, qgran_name(prec.wgran), cs, ev.cal.samples };
		char *text = eval_report_json(&s, &sim, &r);
		if (!text) {
			rc = cli_failf("out of memory");
			goto done;
		}
		puts(text);
		free(text);
	} else {
		printf("bundle       %s (%s)\n", b.name, b.model_path);
		printf("policy       %s%s: weights %s %s, activations %s %s, calibration %s on %lld samples\n",
		       label, a.n_sets ? " with overrides" : "", qfmt_info(prec.wfmt)->name,
		       qgran_name(prec.wgran), qfmt_info(prec.afmt)->name,
		       prec.act_symmetric ? "symmetric" : "asymmetric", cs, (long long)ev.cal.samples);
		printf("samples      %lld\n", (long long)s.n);
		printf("FP32 top-1   %.2f%%\n", 100 * s.fp32_top1);
		printf("top-1        %.2f%%   delta %+.2f points, 95%% CI [%+.2f, %+.2f]%s, "
		       "McNemar p = %.3g\n", 100 * s.top1, 100 * s.delta, 100 * s.ci_lo,
		       100 * s.ci_hi, s.within_noise ? " (within noise)" : "", s.p_value);
		printf("agreement    %.2f%% of samples keep the FP32 prediction\n", 100 * s.agreement);
		if (isfinite(s.sqnr_db))
			printf("logit SQNR   %.1f dB\n", s.sqnr_db);
		else
			printf("logit SQNR   exact (no error)\n");
		printf("KL           %.3g nats (mean KL(softmax FP32 || softmax quantized))\n", s.kl);
		printf("weights      %.1f KiB, %.1f%% of FP32 (%.1f KiB)\n",
		       (double)sim.weight_bytes / 1024,
		       100.0 * (double)sim.weight_bytes / (double)sim.fp32_weight_bytes,
		       (double)sim.fp32_weight_bytes / 1024);
	}
	rc = 0;
done:
	if (measured) {
		sim_fini(&sim);
		evaluator_fini(&ev);
	}
	policy_fini(&pol);
	policy_doc_fini(&doc);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
