/*
 * main.c - the qlens program: dispatches to a headless command.
 *
 * Commands are rows of one table, so --help, the dispatcher and the man page
 * list the same set.
 */
#include <cJSON.h>
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "session.h"
#include "tui.h"
#include "version.h"

int cmd_auto(int argc, char **argv); /* cmd_auto.c */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "inspect", cmd_inspect, "list nodes with shapes, parameters, MACs, quantizability" },
	{ "run", cmd_run, "run a model in FP32 on .npy inputs and write .npy outputs" },
	{ "eval", cmd_eval, "measure one quantization policy against FP32 (delta with 95% CI)" },
	{ "policy", cmd_policy, "calibrate, evaluate and write a complete policy file" },
	{ "export", cmd_export, "export a policy: QDQ model, ORT overrides, TensorRT precisions" },
	{ "sweep", cmd_sweep, "per-layer sensitivity: local SQNR, isolate and remove deltas" },
	{ "auto", cmd_auto, "cheapest mixed-precision policy within an accuracy budget" },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
	fprintf(f, "usage: qlens [BUNDLE|MODEL.onnx] [--calib F.npy --eval F.npy --labels F.npy]\n"
		   "             [--cache-mb N]\n"
		   "       qlens COMMAND [ARGS...]\n"
		   "       qlens --help | --version | --keys\n\n"
		   "qlens explores how quantization affects each layer of an ONNX model.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nWith no command, qlens opens the interactive explorer on the bundle or model\n"
		   "(default: the bundle below): a layer table with each node's sensitivity per\n"
		   "precision, live accuracy as you change precisions, node details, a Pareto\n"
		   "view, and policy save/export.  Press ? inside for the keys ('qlens --keys'\n"
		   "lists them).  --cache-mb N bounds the memory for cached activations\n"
		   "(default " CLI_STR(SESSION_DEFAULT_CACHE_MB) ").\n");
	fprintf(f, "\n'qlens COMMAND --help' describes a command.  A BUNDLE is a folder with\n"
		   "bundle.json (model, calibration and evaluation data); with no argument\n"
		   "qlens uses %s.\n", cli_default_bundle());
}

static void version(void)
{
	printf("qlens %s\n", QLENS_VERSION);
	printf("  protobuf-c %s (ONNX schema %s)\n", core_protobuf_c_version(), core_onnx_schema());
	printf("  %s\n", core_blas_config());
	printf("  cJSON %s\n", cJSON_Version());
	printf("  %s\n", curses_version());
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return tui_main(NULL);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--keys") == 0) {
		tui_print_keys();
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		version();
		return 0;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	/* the explorer: [BUNDLE|MODEL.onnx] [--calib F --eval F --labels F] [--cache-mb N] */
	return tui_cmd(argc, argv);
}
