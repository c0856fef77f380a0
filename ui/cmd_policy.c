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
	CLI_PRECISION_HELP
	CLI_DATA_HELP
	CLI_THREADS_HELP
	CLI_BATCH_HELP;

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
		CLI_PRECISION_OPTIONS,
		CLI_DATA_OPTIONS,
		CLI_THREADS_OPTION,
		CLI_BATCH_OPTION,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL;
	struct cli_args a;
	cli_args_init(&a);
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': fputs(policy_help, stdout); return 0;
		default:
			if ((rc = cli_option("policy", c, optarg, &a)))
				return rc;
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
	if ((rc = cli_precision("policy", &a, &prec, &cspec)))
		return rc;

	struct bundle b;
	struct graph *g = NULL;
	struct evaluator ev = { 0 };
	struct policy pol = { 0 };
	struct sim sim = { 0 };
	struct policy_doc doc;
	bool measured = false;
	rc = 1;
	policy_doc_init(&doc);
	if (cli_bundle_load(path, &a.data, &b, &g, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	if (policy_init(&pol, g, &prec, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	for (int i = 0; i < a.n_sets; i++)
		if (policy_set_spec(&pol, a.sets[i], &e)) {
			rc = cli_usage("policy", "%s", e.msg);
			goto done;
		}
	char sha_model[65], sha_calib[65], sha_eval[65], sha_labels[65];
	if ((rc = hash_or_fail(b.model_path, sha_model)) || (rc = hash_or_fail(b.calib_path, sha_calib)) ||
	    (rc = hash_or_fail(b.eval_path, sha_eval)) || (rc = hash_or_fail(b.labels_path, sha_labels)))
		goto done;
	rc = 1;
	struct metrics_summary s;
	if (cli_measure(&b, g, &pol, &a, &ev, &sim, &s))
		goto done;
	measured = true;
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
	       out, precision_label(&prec, label, sizeof label), a.n_sets ? " with overrides" : "",
	       b.name, 100 * s.top1, 100 * s.fp32_top1, 100 * s.delta, 100 * s.ci_lo, 100 * s.ci_hi,
	       100 * s.agreement, 100.0 * doc.weight_bytes / doc.fp32_weight_bytes);
	rc = 0;
done:
	policy_doc_fini(&doc);
	if (measured) {
		sim_fini(&sim);
		evaluator_fini(&ev);
	}
	policy_fini(&pol);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
