/*
 * cli.h - what every headless command shares: error reporting, option
 * parsing helpers, the default bundle.
 *
 * Commands are `int cmd_x(int argc, char **argv)` returning the process exit
 * status: 0 success, 1 failure (a one-line "qlens: ..." message on stderr),
 * 2 usage error.
 */
#ifndef QLENS_CLI_H
#define QLENS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

#define EXIT_USAGE 2

/* Print "qlens: <message>" for a failed status; returns 1. */
int cli_fail(const struct err *e);
/* printf-style "qlens: ..." on stderr; returns 1. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: "qlens CMD: ..." plus a hint; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a whole decimal integer in [lo, hi]; false otherwise. */
bool cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Data files named on the command line: what a bare MODEL.onnx needs, or
 * overrides of a bundle's own (NULL: as the bundle says).  A command takes
 * them with CLI_DATA_OPTIONS in its getopt_long table (needs <getopt.h>),
 * cli_data_option() in its switch and cli_bundle_load() to open (policy and
 * the explorer do; sweep, eval and export still spell the same steps out). */
struct cli_data {
	const char *calib, *eval, *labels;
};
#define CLI_OPT_CALIB 0x100
#define CLI_OPT_EVAL 0x101
#define CLI_OPT_LABELS 0x102
#define CLI_DATA_OPTIONS                                                                      \
	{ "calib", required_argument, NULL, CLI_OPT_CALIB },                                  \
	{ "eval", required_argument, NULL, CLI_OPT_EVAL },                                    \
	{ "labels", required_argument, NULL, CLI_OPT_LABELS }
#define CLI_DATA_HELP                                                                         \
	"  --calib FILE.npy     calibration inputs (a bare model needs them)\n"                \
	"  --eval FILE.npy      evaluation inputs\n"                                            \
	"  --labels FILE.npy    evaluation labels (int64, one per evaluation input)\n"
/* getopt_long's result c is one of the data options: store arg, true. */
bool cli_data_option(int c, const char *arg, struct cli_data *d);

/* Open the bundle folder or bare model at path, apply d (may be NULL) and load
 * the model.  On success the caller owns *b (bundle_fini) and *g (graph_free);
 * on failure both are released, *g is NULL and e says why, naming the file. */
struct bundle;
struct graph;
enum status cli_bundle_load(const char *path, const struct cli_data *d, struct bundle *b,
			    struct graph **g, struct err *e);

/* The bundle opened when none is named. */
const char *cli_default_bundle(void);
/* Threads to use by default: online CPUs. */
int cli_default_threads(void);

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Load a policy file for bundle b's model g (cmd_policy.c): checks the model's
 * sha256 (a mismatch is a warning; refused unless accept_model_change),
 * validates the file against g, fills *doc and *pol (the caller finis both).
 * Returns 0, or the exit status after printing the error. */
struct bundle;
struct graph;
struct policy;
struct policy_doc;
int cli_policy_load(const char *path, const struct bundle *b, const struct graph *g,
		    bool accept_model_change, struct policy_doc *doc, struct policy *pol);
int cmd_sweep(int argc, char **argv);

#endif
