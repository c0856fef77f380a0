/*
 * cmd_policy.c - `qlens policy BUNDLE --preset NAME ... --out FILE`: a
 * complete policy file without the TUI.
 *
 * The command does what `qlens eval` does (calibrate on the bundle's
 * calibration set, run the evaluation set in FP32 and under the policy) and
 * then writes everything as a policy document (analysis/policyfile.h): the
 * precisions, the parameters the simulation used, the paired accuracy delta,
 * the cost and the tool chain, with sha256 of the model and of every data
 * file so a later load can tell when something changed.  The file is written
 * atomically.
 *
 * It also holds the helper the other commands use to load a policy file for
 * a bundle (cli_policy_load): model hash check with its warning, strict
 * validation against the model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evaluate.h"
#include "policyfile.h"

static const char policy_help[] =
	"usage: qlens policy [BUNDLE|MODEL.onnx] --out FILE [--preset NAME] [--granularity G]\n"
	"                    [--calib-method M] [--calib-samples N] [--set NODE=PRESET ...]\n"
	"                    [--calib FILE.npy --eval FILE.npy --labels FILE.npy]\n"
	"                    [--threads N] [--batch N]\n\n"
	"Calibrate, evaluate and write a complete policy file (docs/policy.md): precisions,\n"
	"resulting scales and zero points, accuracy against FP32 with a 95% interval,\n"
	"cost and tool chain, with sha256 of the model and data files.\n\n"
	"  --out FILE           the policy file to write (atomically)\n"
	"  --preset NAME        fp32 fp16 bf16 fp8e4m3 fp8e5m2 int8 w8a16 w4a8 w4a16\n"
	"                       (default int8: int8 weights, uint8 activations)\n"
	"  --granularity G      weights per-tensor | per-channel | per-block\n"
	"  --calib-method M     activations: minmax | percentile[:P] | entropy | mse\n"
	"  --calib-samples N    use the first N calibration samples (default: all)\n"
	"  --set NODE=PRESET    run one node at another precision (repeatable)\n"
	CLI_DATA_HELP
	"  --threads N          worker threads (default: the number of CPUs)\n"
	"  --batch N            evaluation batch size (default 64)\n";

/* path relative to dir when it lies inside it (what a bundle records). */
static const char *rel_to(const char *dir, const char *path)
{
	size_t n = dir ? strlen(dir) : 0;
	if (path && n && strncmp(path, dir, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

int cli_policy_load(const char *path, const struct bundle *b, const struct graph *g,
		    bool accept_model_change, struct policy_doc *doc, struct policy *pol)
{
	struct err e = { 0 };
	char sha[65];
	bool changed = false;
	if (policy_file_sha256(b->model_path, sha, &e))
		return cli_fail(&e);
	if (policy_doc_load(path, g, sha, doc, &changed, &e))
		return cli_fail(&e);
	if (changed) {
		fprintf(stderr, "qlens: warning: %s was made for a model with sha256 %s; %s has "
			"sha256 %s\n", path, doc->model_sha256, b->model_path, sha);
		if (!accept_model_change) {
			policy_doc_fini(doc);
			return cli_failf("the model changed since the policy was written; check it and "
					 "pass --accept-model-change to use the policy anyway");
		}
	}
	if (policy_doc_policy(doc, g, pol, &e)) {
		policy_doc_fini(doc);
		return cli_fail(&e);
	}
	return 0;
}

static int hash_or_fail(const char *path, char out[65])
{
	struct err e = { 0 };
	if (!path) {
		out[0] = '\0';
		return 0;
	}
	return policy_file_sha256(path, out, &e) ? cli_fail(&e) : 0;
}

int cmd_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "preset", required_argument, NULL, 'p' },
		{ "granularity", required_argument, NULL, 'g' },
		{ "calib-method", required_argument, NULL, 'm' },
		{ "calib-samples", required_argument, NULL, 'n' },
		{ "set", required_argument, NULL, 's' },
		CLI_DATA_OPTIONS,
		{ "threads", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL, *preset = "int8", *gran_name = NULL, *method = "minmax";
	struct cli_data data = { 0 };
	const char *sets[256];
	int n_sets = 0;
	int64_t calib_samples = 0, threads = cli_default_threads(), batch = 64;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'p': preset = optarg; break;
		case 'g': gran_name = optarg; break;
		case 'm': method = optarg; break;
		case 'n':
			if (!cli_parse_int(optarg, 1, INT32_MAX, &calib_samples))
				return cli_usage("policy", "--calib-samples takes a whole number from 1");
			break;
		case 's':
			if (n_sets == 256)
				return cli_usage("policy", "too many --set");
			sets[n_sets++] = optarg;
			break;
		case 't':
			if (!cli_parse_int(optarg, 1, 64, &threads))
				return cli_usage("policy", "--threads takes a whole number from 1 to 64");
			break;
		case 'b':
			if (!cli_parse_int(optarg, 1, 65536, &batch))
				return cli_usage("policy", "--batch takes a whole number from 1");
			break;
		case 'h': fputs(policy_help, stdout); return 0;
		default:
			if (!cli_data_option(c, optarg, &data))
				return cli_usage("policy", "unknown option");
		}
	}
	if (argc - optind > 1)
		return cli_usage("policy", "takes one bundle or model");
	if (!out)
		return cli_usage("policy", "--out FILE is required");
	const char *path = optind < argc ? argv[optind] : cli_default_bundle();

	struct err e = { 0 };
	struct precision prec;
	struct calib_spec cspec;
	if (precision_preset(preset, &prec, &e))
		return cli_usage("policy", "%s", e.msg);
	if (calib_spec_parse(method, &cspec, &e))
		return cli_usage("policy", "%s", e.msg);
	prec.acalib = cspec;
	if (gran_name) {
		enum qgran gr = qgran_lookup(gran_name);
		if (gr == QG_COUNT)
			return cli_usage("policy", "unknown granularity '%s' (per-tensor, per-channel, "
					 "per-block)", gran_name);
		if (!(qfmt_info(prec.wfmt)->gran_mask & QG_BIT(gr)))
			return cli_usage("policy", "%s weights have no %s parameters", qfmt_info(prec.wfmt)->name,
					 gran_name);
		prec.wgran = gr;
	}

	struct bundle b;
	struct graph *g = NULL;
	struct evaluator ev = { 0 };
	struct policy pol = { 0 };
	struct sim sim = { 0 };
	struct policy_doc doc;
	bool have_ev = false, have_sim = false;
	int rc = 1;
	policy_doc_init(&doc);
	if (cli_bundle_load(path, &data, &b, &g, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	if (policy_init(&pol, g, &prec, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	for (int i = 0; i < n_sets; i++)
		if (policy_set_spec(&pol, sets[i], &e)) {
			rc = cli_usage("policy", "%s", e.msg);
			goto done;
		}
	char sha_model[65], sha_calib[65], sha_eval[65], sha_labels[65];
	if ((rc = hash_or_fail(b.model_path, sha_model)) || (rc = hash_or_fail(b.calib_path, sha_calib)) ||
	    (rc = hash_or_fail(b.eval_path, sha_eval)) || (rc = hash_or_fail(b.labels_path, sha_labels)))
		goto done;
	rc = 1;
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
	struct policy_doc_source src = {
		.model_file = base_name(b.model_path), .model_sha256 = sha_model,
		.calib_data = rel_to(b.dir, b.calib_path), .calib_sha256 = sha_calib,
		.calib_samples = ev.cal.samples,
		.eval = &s, .eval_data = rel_to(b.dir, b.eval_path), .eval_sha256 = sha_eval,
		.labels_data = rel_to(b.dir, b.labels_path), .labels_sha256 = sha_labels,
		.metric = b.metric ? b.metric : "top1", .qlens_version = QLENS_VERSION,
	};
	if (policy_doc_build(&doc, &sim, &src, &e) || policy_doc_save(&doc, out, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	char label[64];
	printf("%s: %s%s on %s: top-1 %.2f%% (FP32 %.2f%%, delta %+.2f points, 95%% CI "
	       "[%+.2f, %+.2f]), agreement %.2f%%, weights %.1f%% of FP32\n",
	       out, precision_label(&prec, label, sizeof label), n_sets ? " with overrides" : "",
	       b.name, 100 * s.top1, 100 * s.fp32_top1, 100 * s.delta, 100 * s.ci_lo, 100 * s.ci_hi,
	       100 * s.agreement, 100.0 * doc.weight_bytes / doc.fp32_weight_bytes);
	rc = 0;
done:
	policy_doc_fini(&doc);
	if (have_sim)
		sim_fini(&sim);
	if (have_ev)
		evaluator_fini(&ev);
	policy_fini(&pol);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
