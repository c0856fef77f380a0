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
	"                  [--calib FILE.npy --eval FILE.npy --labels FILE.npy]\n"
	"                  [--threads N] [--batch N] [--json]\n\n"
	"Measure the model under one quantization policy against FP32 on the same samples.\n\n"
	"  --preset NAME        fp32 fp16 bf16 fp8e4m3 fp8e5m2 int8 w8a16 w4a8 w4a16\n"
	"                       (default int8: int8 weights, uint8 activations)\n"
	"  --granularity G      weights per-tensor | per-channel | per-block (default:\n"
	"                       per-channel; per-block (32) for int4 presets)\n"
	"  --calib-method M     activations: minmax | percentile[:P] | entropy | mse\n"
	"                       (default minmax; percentile defaults to 99.99)\n"
	"  --calib-samples N    use the first N calibration samples (default: all)\n"
	"  --set NODE=PRESET    run one node at another precision (repeatable)\n"
	"  --policy FILE        measure a policy file (qlens policy) instead of a preset;\n"
	"                       its calibration sample count applies unless given\n"
	"  --accept-model-change  use the policy although the model's sha256 changed\n"
	"  --json               one JSON object (accuracies as fractions 0..1)\n";

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "preset", required_argument, NULL, 'p' },
		{ "granularity", required_argument, NULL, 'g' },
		{ "calib-method", required_argument, NULL, 'm' },
		{ "calib-samples", required_argument, NULL, 'n' },
		{ "set", required_argument, NULL, 's' },
		{ "calib", required_argument, NULL, 'C' },
		{ "eval", required_argument, NULL, 'E' },
		{ "labels", required_argument, NULL, 'L' },
		{ "threads", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "policy", required_argument, NULL, 'P' },
		{ "accept-model-change", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *preset = "int8", *gran_name = NULL, *method = "minmax";
	const char *calib = NULL, *evalf = NULL, *labels = NULL;
	const char *sets[256];
	int n_sets = 0;
	int64_t calib_samples = 0, threads = cli_default_threads(), batch = 64;
	bool json = false, accept_model = false;
	const char *policy_path = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': preset = optarg; break;
		case 'g': gran_name = optarg; break;
		case 'm': method = optarg; break;
		case 'n':
			if (!cli_parse_int(optarg, 1, INT32_MAX, &calib_samples))
				return cli_usage("eval", "--calib-samples takes a whole number from 1");
			break;
		case 's':
			if (n_sets == 256)
				return cli_usage("eval", "too many --set");
			sets[n_sets++] = optarg;
			break;
		case 'C': calib = optarg; break;
		case 'E': evalf = optarg; break;
		case 'L': labels = optarg; break;
		case 't':
			if (!cli_parse_int(optarg, 1, 64, &threads))
				return cli_usage("eval", "--threads takes a whole number from 1 to 64");
			break;
		case 'b':
			if (!cli_parse_int(optarg, 1, 65536, &batch))
				return cli_usage("eval", "--batch takes a whole number from 1");
			break;
		case 'j': json = true; break;
		case 'P': policy_path = optarg; break;
		case 'A': accept_model = true; break;
		case 'h': fputs(eval_help, stdout); return 0;
		default: return cli_usage("eval", "unknown option");
		}
	}
	if (argc - optind > 1)
		return cli_usage("eval", "takes one bundle or model");
	const char *path = optind < argc ? argv[optind] : cli_default_bundle();

	struct err e = { 0 };
	struct precision prec;
	struct calib_spec cspec;
	if (precision_preset(preset, &prec, &e))
		return cli_usage("eval", "%s", e.msg);
	if (calib_spec_parse(method, &cspec, &e))
		return cli_usage("eval", "%s", e.msg);
	prec.acalib = cspec;
	if (gran_name) {
		enum qgran gr = qgran_lookup(gran_name);
		if (gr == QG_COUNT)
			return cli_usage("eval", "unknown granularity '%s' (per-tensor, per-channel, "
					 "per-block)", gran_name);
		prec.wgran = gr;
	}

	struct bundle b;
	struct graph *g = NULL;
	struct evaluator ev = { 0 };
	struct policy pol = { 0 };
	struct policy_doc doc;
	policy_doc_init(&doc);
	struct sim sim = { 0 };
	bool have_ev = false, have_sim = false;
	int rc = 1;
	if (bundle_open(path, &b, &e))
		return cli_fail(&e);
	if (bundle_set_data(&b, calib, evalf, labels, &e) || bundle_load_model(&b, &g, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	if (policy_path) {
		if ((rc = cli_policy_load(policy_path, &b, g, accept_model, &doc, &pol)))
			goto done;
		rc = 1;
		prec = doc.defaults;
		cspec = prec.acalib;
		if (!calib_samples)
			calib_samples = doc.calib_samples;
	} else if (policy_init(&pol, g, &prec, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	for (int i = 0; i < n_sets; i++)
		if (policy_set_spec(&pol, sets[i], &e)) {
			rc = cli_usage("eval", "%s", e.msg);
			goto done;
		}
	if (evaluator_init(&ev, &b, g, (int)threads, (int)batch, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	have_ev = true;
	if (evaluator_calibrate(&ev, &b, calib_samples, &e) ||
	    sim_prepare(&sim, g, &ev.cal, &pol, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	have_sim = true;
	struct metrics_summary s;
	if (evaluator_run(&ev, &sim, &s, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
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
		       label, n_sets ? " with overrides" : "", qfmt_info(prec.wfmt)->name,
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
	if (have_sim)
		sim_fini(&sim);
	if (have_ev)
		evaluator_fini(&ev);
	policy_fini(&pol);
	policy_doc_fini(&doc);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
