/*
 * cmd_export.c - `qlens export BUNDLE --policy FILE ...`: what real runtimes
 * run, from a policy file.
 *
 * The policy's precisions are simulated again (calibration with the recipe
 * the file records: its sample count; the calibrators are part of each
 * precision), and the parameters the simulation arrives at are compared with
 * the ones the file records: a policy is a contract, so a difference (other
 * calibration data, another qlens) stops the export unless the user accepts
 * it.  The exports are then read off that simulation (analysis/export.h):
 *   --qdq OUT.onnx            ONNX Runtime QDQ model (opset raised as needed)
 *   --ort-overrides OUT.json  quantize_static options: TensorQuantOverrides,
 *                             nodes_to_exclude, op_types_to_quantize; refused
 *                             (nothing written) when the policy has nodes they
 *                             cannot express, unless --ort-partial
 *   --trt-precisions OUT.txt  trtexec --layerPrecisions / --layerOutputTypes
 *   --sim-logits OUT.npy      qlens' simulated outputs on the evaluation set
 *                             (what the ONNX Runtime comparison checks against)
 * Every file is written atomically.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evaluate.h"
#include "export.h"
#include "fileio.h"
#include "npy.h"
#include "policyfile.h"

static const char export_help[] =
	"usage: qlens export [BUNDLE|MODEL.onnx] --policy FILE [--qdq OUT.onnx]\n"
	"                    [--ort-overrides OUT.json] [--trt-precisions OUT.txt]\n"
	"                    [--sim-logits OUT.npy] [--ort-partial] [--accept-model-change]\n"
	"                    [--accept-recalibration]\n"
	"                    [--calib FILE.npy --eval FILE.npy --labels FILE.npy]\n"
	"                    [--threads N] [--batch N]\n\n"
	"Export a policy file (qlens policy) for real runtimes:\n"
	"  --qdq OUT.onnx            the model in ONNX Runtime's QDQ format: Quantize/\n"
	"                            DequantizeLinear on activations, quantized weights,\n"
	"                            int32 biases, Cast pairs for fp16/bf16 (opset raised to\n"
	"                            13, 19 for fp8, 21 for int4/int16)\n"
	"  --ort-overrides OUT.json  onnxruntime.quantization.quantize_static options:\n"
	"                            TensorQuantOverrides, nodes_to_exclude, op types\n"
	"  --ort-partial             write the ONNX Runtime options even when the policy has\n"
	"                            nodes they cannot express (fp16/bf16/fp8e5m2, per-block\n"
	"                            weights): those are excluded (kept in float) and listed\n"
	"                            under \"unsupported\"; without it, export refuses\n"
	"  --trt-precisions OUT.txt  trtexec --layerPrecisions / --layerOutputTypes\n"
	"  --sim-logits OUT.npy      qlens' simulated outputs on the evaluation set\n"
	"  --accept-model-change     use the policy although the model's sha256 changed\n"
	"  --accept-recalibration    export although recalibration gives other scales than\n"
	"                            the file records\n"
	CLI_DATA_HELP
	CLI_THREADS_HELP
	CLI_BATCH_HELP;

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static int calibrate(const struct bundle *b, const struct graph *g, int64_t samples, int threads,
		     int batch, struct calib_data *cal)
{
	struct err e = { 0 };
	struct tensor data;
	if (bundle_load_calib(b, &data, &e))
		return cli_fail(&e);
	if (samples > 0 && samples < data.shape.dim[0]) {
		int64_t row = tensor_numel(&data) / data.shape.dim[0];
		data.shape.dim[0] = samples;
		data.nbytes = (size_t)(samples * row) * sizeof(float);
	}
	enum status st = calib_collect(g, &data, threads, batch, cal, &e);
	tensor_fini(&data);
	if (st) {
		err_prefix(&e, "calibration");
		return cli_fail(&e);
	}
	return 0;
}

static int sim_logits(const struct bundle *b, const struct graph *g, const struct sim *sim,
		      int threads, int batch, const char *out)
{
	struct err e = { 0 };
	struct tensor x, labels, outs[64] = { 0 };
	struct runner *r = NULL;
	int rc = 1;
	if (g->n_outputs > 64)
		return cli_failf("more than 64 outputs");
	if (bundle_load_eval(b, &x, &labels, &e))
		return cli_fail(&e);
	if (runner_new(g, threads, batch, &r, &e) || sim_run(sim, r, &x, outs, &e) ||
	    npy_write(out, &outs[0], &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	char sh[96];
	printf("%s: simulated outputs %s of %lld samples\n", out,
	       shape_str(&outs[0].shape, sh, sizeof sh), (long long)outs[0].shape.dim[0]);
	rc = 0;
done:
	for (int k = 0; k < 64; k++)
		tensor_fini(&outs[k]);
	runner_free(r);
	tensor_fini(&x);
	tensor_fini(&labels);
	return rc;
}

static int write_text(const char *path, const char *text)
{
	struct err e = { 0 };
	return file_write_atomic(path, text, strlen(text), &e) ? cli_fail(&e) : 0;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'P' },
		{ "qdq", required_argument, NULL, 'q' },
		{ "ort-overrides", required_argument, NULL, 'o' },
		{ "trt-precisions", required_argument, NULL, 'r' },
		{ "sim-logits", required_argument, NULL, 'l' },
		{ "ort-partial", no_argument, NULL, 'p' },
		{ "accept-model-change", no_argument, NULL, 'A' },
		{ "accept-recalibration", no_argument, NULL, 'R' },
		CLI_DATA_OPTIONS,
		CLI_THREADS_OPTION,
		CLI_BATCH_OPTION,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *policy_path = NULL, *qdq = NULL, *ort = NULL, *trt = NULL, *logits = NULL;
	struct cli_args a;
	cli_args_init(&a);
	bool accept_model = false, accept_recal = false, ort_partial = false;
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P': policy_path = optarg; break;
		case 'q': qdq = optarg; break;
		case 'o': ort = optarg; break;
		case 'r': trt = optarg; break;
		case 'l': logits = optarg; break;
		case 'p': ort_partial = true; break;
		case 'A': accept_model = true; break;
		case 'R': accept_recal = true; break;
		case 'h': fputs(export_help, stdout); return 0;
		default:
			if ((rc = cli_option("export", c, optarg, &a)))
				return rc;
		}
	}
	if (argc - optind > 1)
		return cli_usage("export", "takes one bundle or model");
	if (!policy_path)
		return cli_usage("export", "--policy FILE is required");
	if (!qdq && !ort && !trt && !logits)
		return cli_usage("export", "nothing to export: give --qdq, --ort-overrides, "
				 "--trt-precisions or --sim-logits");
	const char *path = optind < argc ? argv[optind] : cli_default_bundle();

	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	struct policy pol = { 0 };
	struct policy_doc doc;
	struct calib_data cal = { 0 };
	struct sim sim = { 0 };
	struct export_qdq x = { 0 };
	bool have_doc = false, have_sim = false;
	char *text = NULL, *ort_text = NULL;
	rc = 1;
	policy_doc_init(&doc);
	if (cli_bundle_load(path, &a.data, &b, &g, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	if ((rc = cli_policy_load(policy_path, &b, g, accept_model, &doc, &pol)))
		goto done;
	rc = 1;
	have_doc = true;
	if (doc.calib_sha256 && b.calib_path) {
		char sha[65];
		if (policy_file_sha256(b.calib_path, sha, &e)) {
			rc = cli_fail(&e);
			goto done;
		}
		if (strcmp(sha, doc.calib_sha256) != 0)
			fprintf(stderr, "qlens: warning: %s differs from the calibration data the policy "
				"was made with (sha256 %s)\n", b.calib_path, doc.calib_sha256);
	}
	/* only integer and fp8 activations need calibration data */
	bool need_cal = false;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		enum qfmt af = policy_node(&pol, ni).afmt;
		need_cal |= af != QF_FP32 && af != QF_FP16 && af != QF_BF16;
	}
	if (need_cal && (rc = calibrate(&b, g, doc.calib_samples, (int)a.threads, (int)a.batch, &cal)))
		goto done;
	rc = 1;
	if (sim_prepare(&sim, g, need_cal ? &cal : NULL, &pol, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	have_sim = true;
	char msg[512];
	int diff = policy_doc_compare(&doc, &sim, msg, sizeof msg);
	if (diff) {
		fprintf(stderr, "qlens: %s %d recorded tensor parameter set(s) differ from "
			"recalibration; first: %s\n", accept_recal ? "warning:" : "", diff, msg);
		if (!accept_recal) {
			rc = cli_failf("not exporting: recreate the policy with 'qlens policy', or pass "
				       "--accept-recalibration to export the recalibrated parameters");
			goto done;
		}
	}
	char psha[65];
	if (policy_file_sha256(policy_path, psha, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	struct export_info info = { .qlens_version = QLENS_VERSION,
				    .policy_file = base_name(policy_path), .policy_sha256 = psha,
				    .model_file = base_name(b.model_path),
				    .ort_partial = ort_partial };
	/* the ORT options can be refused: decide before any file is written */
	if (ort && export_ort_overrides_json(&sim, &info, &ort_text, &e)) {
		err_prefix(&e, "%s", ort);
		rc = cli_fail(&e);
		if (e.code == ERR_UNSUPPORTED)
			fprintf(stderr, "qlens: nothing written; use --qdq for an exact export, or pass "
				"--ort-partial to exclude those nodes (kept in float)\n");
		goto done;
	}
	if (qdq) {
		if (export_qdq_plan(&sim, &info, &x, &e) ||
		    onnx_save_edited(b.model_path, &x.edit, qdq, &e)) {
			rc = cli_fail(&e);
			goto done;
		}
		printf("%s: QDQ model, opset %lld: %d QuantizeLinear, %d DequantizeLinear, %d Cast; "
		       "%d weights, %d int32 biases, %d activation pairs\n", qdq,
		       (long long)(x.opset > g->opset ? x.opset : g->opset), x.n_quantize, x.n_dequantize,
		       x.n_cast, x.n_weights, x.n_biases, x.n_act_pairs);
	}
	if (ort) {
		if (write_text(ort, ort_text))
			goto done;
		printf("%s: ONNX Runtime quantize_static options (TensorQuantOverrides)\n", ort);
	}
	if (trt) {
		if (export_trt_text(&sim, &info, &text, &e)) {
			rc = cli_fail(&e);
			goto done;
		}
		if (write_text(trt, text))
			goto done;
		printf("%s: trtexec --layerPrecisions / --layerOutputTypes\n", trt);
	}
	if (logits && sim_logits(&b, g, &sim, (int)a.threads, (int)a.batch, logits))
		goto done;
	rc = 0;
done:
	free(text);
	free(ort_text);
	export_qdq_fini(&x);
	if (have_sim)
		sim_fini(&sim);
	calib_data_fini(&cal);
	if (have_doc)
		policy_fini(&pol);
	policy_doc_fini(&doc);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
