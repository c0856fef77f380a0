/*
 * cmd_inspect.c - `qlens inspect [MODEL|BUNDLE] [--json]`.
 *
 * Prints one row per node: name, op, input and output shapes for one sample,
 * parameters, MACs and whether the node is quantizable; then totals.  Nodes
 * folded at load (shape arithmetic on constants) are marked and cost nothing.
 *
 * Every string that comes from the file (names, op types, producer, the
 * model's path from bundle.json) goes through clean() first: a hostile model
 * must not send escape sequences to the terminal.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cli.h"
#include "modelinfo.h"

static const char inspect_help[] =
	"usage: qlens inspect [MODEL.onnx|BUNDLE] [--json]\n\n"
	"List every node with its op, input and output shapes (one sample),\n"
	"parameter count, multiply-accumulates and whether it is quantizable.\n\n"
	"  --json   print one JSON object: model, inputs, outputs, nodes[] (name, op,\n"
	"           inputs, outputs, params, macs, quantizable, folded) and totals\n";

/* Copy in to out (size bytes), made safe to print (text_clean, status.h). */
static const char *clean(const char *in, char *out, size_t size)
{
	snprintf(out, size, "%s", in ? in : "");
	return text_clean(out);
}

static void print_shapes(const struct model_info *mi, const int *vals, int n, char *buf,
			 size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int k = 0; k < n && used + 1 < size; k++) {
		char s[96];
		if (vals[k] < 0)
			continue;
		const struct tensor *t = plan_value(mi->plan, vals[k]);
		/* constants (weights) are listed by shape only once, after the data input */
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? " " : "",
					 shape_str(&t->shape, s, sizeof s));
	}
}

static void human(int64_t v, char *buf, size_t n)
{
	if (v >= 10000000000LL)
		snprintf(buf, n, "%.1fG", (double)v / 1e9);
	else if (v >= 10000000)
		snprintf(buf, n, "%.1fM", (double)v / 1e6);
	else if (v >= 100000)
		snprintf(buf, n, "%.1fk", (double)v / 1e3);
	else
		snprintf(buf, n, "%" PRId64, v);
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': fputs(inspect_help, stdout); return 0;
		default: return cli_usage("inspect", "unknown option");
		}
	}
	if (argc - optind > 1)
		return cli_usage("inspect", "takes one model or bundle");
	const char *path = optind < argc ? argv[optind] : cli_default_bundle();

	struct err e = { 0 };
	struct bundle b;
	struct graph *g = NULL;
	struct model_info mi = { 0 };
	int rc = 1;
	if (bundle_open(path, &b, &e))
		return cli_fail(&e);
	if (bundle_load_model(&b, &g, &e)) {
		rc = cli_fail(&e);
		goto done;
	}
	if (model_info_build(g, &mi, &e)) {
		err_prefix(&e, "%s", b.model_path);
		rc = cli_fail(&e);
		goto done;
	}
	if (json) {
		char *s = model_info_json(&mi, b.model_path);
		if (!s) {
			rc = cli_failf("out of memory");
			goto done;
		}
		puts(s);
		free(s);
		rc = 0;
		goto done;
	}
	char c1[1024], c2[256];
	printf("model    %s\n", clean(b.model_path, c1, sizeof c1));
	printf("ir       %" PRId64 ", opset %" PRId64 ", producer %s", g->ir_version, g->opset,
	       clean(g->producer_name, c1, sizeof c1));
	printf(" %s\n", clean(g->producer_version, c1, sizeof c1));
	for (int i = 0; i < g->n_inputs; i++) {
		char s[96];
		const struct value *v = &g->values[g->inputs[i]];
		printf("input    %s %s %s\n", clean(v->name, c1, sizeof c1), dtype_name(v->dtype),
		       shape_str(&v->shape, s, sizeof s));
	}
	for (int i = 0; i < g->n_outputs; i++) {
		char s[96];
		const struct value *v = &g->values[g->outputs[i]];
		printf("output   %s %s %s\n", clean(v->name, c1, sizeof c1), dtype_name(v->dtype),
		       shape_str(&v->shape, s, sizeof s));
	}
	int wname = 4, wop = 2;
	for (int ni = 0; ni < g->n_nodes; ni++) {
		int ln = (int)strlen(clean(g->nodes[ni].name, c1, sizeof c1));
		int lo = (int)strlen(clean(g->nodes[ni].op_type, c2, sizeof c2));
		wname = ln > wname ? ln : wname;
		wop = lo > wop ? lo : wop;
	}
	wname = wname > 48 ? 48 : wname;
	printf("\n%4s  %-*s  %-*s  %-28s  %-16s  %8s  %8s  %s\n", "#", wname, "node", wop, "op",
	       "inputs", "output", "params", "MACs", "quant");
	for (int ni = 0; ni < g->n_nodes; ni++) {
		const struct node *n = &g->nodes[ni];
		const struct node_info *x = &mi.nodes[ni];
		char ins[256], outs[128], p[32], m[32];
		print_shapes(&mi, n->inputs, n->n_inputs, ins, sizeof ins);
		print_shapes(&mi, n->outputs, n->n_outputs, outs, sizeof outs);
		human(x->params, p, sizeof p);
		human(x->macs, m, sizeof m);
		printf("%4d  %-*.*s  %-*s  %-28s  %-16s  %8s  %8s  %s\n", ni, wname, wname,
		       clean(n->name, c1, sizeof c1), wop, clean(n->op_type, c2, sizeof c2), ins, outs,
		       p, m,
		       x->folded ? "folded" : x->quantizable ? "yes" : "no");
	}
	printf("\ntotals   %d nodes, %d quantizable, %" PRId64 " parameters (%.1f KiB FP32), "
	       "%" PRId64 " MACs per sample\n",
	       g->n_nodes, mi.n_quantizable, mi.total_params, (double)mi.weight_bytes_fp32 / 1024,
	       mi.total_macs);
	rc = 0;
done:
	model_info_fini(&mi);
	graph_free(g);
	bundle_fini(&b);
	return rc;
}
