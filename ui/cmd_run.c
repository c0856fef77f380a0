/*
 * cmd_run.c - `qlens run MODEL --input [NAME=]FILE.npy ... --output FILE.npy|DIR`.
 *
 * Runs the model in FP32.  Inputs are fed whole unless --batch N is given,
 * in which case their leading dimension is the batch and the runner works
 * through it N samples at a time (in parallel with --threads).  Inputs whose
 * element type differs from the model's float32 input are converted.
 * With a directory as --output, each graph output is written as
 * DIR/<output name>.npy ('/' in names becomes '_').
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "cli.h"
#include "exec.h"
#include "npy.h"

#define MAX_INPUTS 64

static const char run_help[] =
	"usage: qlens run MODEL.onnx|BUNDLE --input [NAME=]FILE.npy ... --output FILE.npy|DIR\n"
	"                 [--batch N] [--threads N]\n\n"
	"Run the model in FP32 on .npy inputs and write its outputs as .npy.\n\n"
	"  --input [NAME=]FILE  an input array; without NAME=, inputs are taken in the\n"
	"                       model's order.  float64/int arrays are converted to float32.\n"
	"  --output PATH        FILE.npy for a single-output model, else a folder that\n"
	"                       receives <output name>.npy for each output\n"
	"  --batch N            treat the leading dimension as the batch; run N samples\n"
	"                       at a time (default: all at once)\n"
	"  --threads N          worker threads (default: the number of CPUs)\n";

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "batch", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *in_specs[MAX_INPUTS];
	int n_specs = 0;
	const char *out_path = NULL;
	int64_t batch = 0, threads = cli_default_threads();
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "i:o:b:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (n_specs == MAX_INPUTS)
				return cli_usage("run", "more than %d inputs", MAX_INPUTS);
			in_specs[n_specs++] = optarg;
			break;
		case 'o': out_path = optarg; break;
		case 'b':
			if (!cli_parse_int(optarg, 1, 1 << 20, &batch))
				return cli_usage("run", "--batch takes a whole number from 1");
			break;
		case 't':
			if (!cli_parse_int(optarg, 1, 64, &threads))
				return cli_usage("run", "--threads takes a whole number from 1 to 64");
			break;
		case 'h': fputs(run_help, stdout); return 0;
		default: return cli_usage("run", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage("run", "takes one model or bundle");
	if (!n_specs)
		return cli_usage("run", "needs --input");
	if (!out_path)
		return cli_usage("run", "needs --output");

	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	struct runner *r = NULL;
	struct tensor inputs[MAX_INPUTS] = { 0 }, outputs[MAX_INPUTS] = { 0 };
	bool given[MAX_INPUTS] = { 0 };
	int rc = 1;
	if (cli_bundle_load(argv[optind], NULL, &b, &g, &e))
		return cli_fail(&e);
	if (g->n_inputs > MAX_INPUTS || g->n_outputs > MAX_INPUTS) {
		rc = cli_failf("%s: more than %d inputs or outputs", b.model_path, MAX_INPUTS);
		goto done;
	}
	for (int s = 0; s < n_specs; s++) {
		const char *spec = in_specs[s], *eq = strchr(spec, '='), *file = spec;
		int idx = -1;
		if (eq) {
			char name[512];
			snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
			for (int i = 0; i < g->n_inputs; i++)
				if (strcmp(g->values[g->inputs[i]].name, name) == 0)
					idx = i;
			if (idx < 0) {
				rc = cli_failf("%s: the model has no input named '%s'", b.model_path,
					       name);
				goto done;
			}
			file = eq + 1;
		} else {
			for (int i = 0; i < g->n_inputs && idx < 0; i++)
				if (!given[i])
					idx = i;
			if (idx < 0) {
				rc = cli_failf("%s: more --input arrays than the model's %d inputs",
					       file, g->n_inputs);
				goto done;
			}
		}
		if (given[idx]) {
			rc = cli_failf("%s: input '%s' given twice", file,
				       g->values[g->inputs[idx]].name);
			goto done;
		}
		given[idx] = true;
		struct tensor t;
		if (npy_read(file, &t, &e)) {
			rc = cli_fail(&e);
			goto done;
		}
		enum dtype want = g->values[g->inputs[idx]].dtype;
		if (want == DT_UNDEFINED)
			want = DT_FLOAT;
		if (t.dtype == want) {
			inputs[idx] = t;
		} else if (want == DT_FLOAT) {
			if (tensor_alloc(&inputs[idx], DT_FLOAT, &t.shape, &e) ||
			    convert_to_float(inputs[idx].data, t.data, t.dtype, tensor_numel(&t), &e)) {
				tensor_fini(&t);
				err_prefix(&e, "%s", file);
				rc = cli_fail(&e);
				goto done;
			}
			tensor_fini(&t);
		} else {
			rc = cli_failf("%s: array has type %s, input '%s' needs %s", file,
				       dtype_name(t.dtype), g->values[g->inputs[idx]].name,
				       dtype_name(want));
			tensor_fini(&t);
			goto done;
		}
	}
	for (int i = 0; i < g->n_inputs; i++)
		if (!given[i]) {
			rc = cli_failf("%s: input '%s' is not given (--input %s=FILE.npy)",
				       b.model_path, g->values[g->inputs[i]].name,
				       g->values[g->inputs[i]].name);
			goto done;
		}
	if (!batch)
		batch = inputs[0].shape.rank > 0 && inputs[0].shape.dim[0] > 0
				? inputs[0].shape.dim[0] : 1;
	if (!batch || inputs[0].shape.rank < 1) {
		rc = cli_failf("%s: scalar inputs cannot be batched", b.model_path);
		goto done;
	}
	if (runner_new(g, (int)threads, (int)batch, &r, &e) || runner_run(r, inputs, outputs, &e)) {
		err_prefix(&e, "%s", b.model_path);
		rc = cli_fail(&e);
		goto done;
	}
	bool single = ends_with(out_path, ".npy");
	if (single && g->n_outputs != 1) {
		rc = cli_failf("%s: the model has %d outputs; give a folder as --output",
			       out_path, g->n_outputs);
		goto done;
	}
	if (single) {
		if (npy_write(out_path, &outputs[0], &e)) {
			rc = cli_fail(&e);
			goto done;
		}
	} else {
		struct stat st;
		if (stat(out_path, &st) != 0 && mkdir(out_path, 0777) != 0) {
			rc = cli_failf("%s: cannot create the folder: %s", out_path, strerror(errno));
			goto done;
		}
		for (int k = 0; k < g->n_outputs; k++) {
			char path[4096], name[1024];
			snprintf(name, sizeof name, "%s", g->values[g->outputs[k]].name);
			for (char *p = name; *p; p++)
				if (*p == '/')
					*p = '_';
			snprintf(path, sizeof path, "%s/%s.npy", out_path, name);
			if (npy_write(path, &outputs[k], &e)) {
				rc = cli_fail(&e);
				goto done;
			}
		}
	}
	rc = 0;
done:
	for (int i = 0; i < MAX_INPUTS; i++) {
		tensor_fini(&inputs[i]);
		tensor_fini(&outputs[i]);
	}
	runner_free(r);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
