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
#include <stddef.h>
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
/* The text of a macro's value, for help strings */
#define CLI_STR(x) CLI_STR_(x)
#define CLI_STR_(x) #x
/* --cache-mb takes 1..CLI_MAX_CACHE_MB */
#define CLI_MAX_CACHE_MB (1 << 20)

/* Data files named on the command line: what a bare MODEL.onnx needs, or
 * overrides of a bundle's own (NULL: as the bundle says).  A command takes
 * them with CLI_DATA_OPTIONS in its getopt_long table (needs <getopt.h>),
 * cli_data_option() (or cli_option()) in its switch and cli_bundle_load() to
 * open. */
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

/* The options several commands share, long options only:
 *   CLI_DATA_OPTIONS      --calib/--eval/--labels FILE.npy (above)
 *   CLI_THREADS_OPTION    --threads N, worker threads (1..64)
 *   CLI_BATCH_OPTION      --batch N, evaluation batch size (1..65536)
 *   CLI_PRECISION_OPTIONS --preset NAME, --granularity G, --calib-method M,
 *                         --calib-samples N, --set NODE=PRESET (repeatable)
 *   CLI_CALIB_OPTIONS     --calib-samples N, --calib-method M
 * A command puts the ones it takes in its getopt_long table (with the help
 * lines below) and hands the codes it does not handle itself to
 * cli_option(), which stores them in a struct cli_args. */
#define CLI_MAX_SETS 256
struct cli_args {
	struct cli_data data;
	int64_t threads;	   /* default: cli_default_threads() */
	int64_t batch;		   /* default 64 */
	const char *preset;	   /* NULL: int8 */
	const char *gran;	   /* NULL: the preset's */
	const char *method;	   /* NULL: minmax */
	int64_t calib_samples;	   /* 0: all */
	const char *sets[CLI_MAX_SETS]; /* NODE=PRESET, in order */
	int n_sets;
};
/* The defaults above. */
void cli_args_init(struct cli_args *a);

#define CLI_OPT_THREADS 0x103
#define CLI_OPT_BATCH 0x104
#define CLI_OPT_PRESET 0x105
#define CLI_OPT_GRAN 0x106
#define CLI_OPT_METHOD 0x107
#define CLI_OPT_SAMPLES 0x108
#define CLI_OPT_SET 0x109
#define CLI_THREADS_OPTION { "threads", required_argument, NULL, CLI_OPT_THREADS }
#define CLI_BATCH_OPTION { "batch", required_argument, NULL, CLI_OPT_BATCH }
#define CLI_CALIB_OPTIONS                                                                     \
	{ "calib-method", required_argument, NULL, CLI_OPT_METHOD },                          \
	{ "calib-samples", required_argument, NULL, CLI_OPT_SAMPLES }
#define CLI_PRECISION_OPTIONS                                                                 \
	{ "preset", required_argument, NULL, CLI_OPT_PRESET },                                \
	{ "granularity", required_argument, NULL, CLI_OPT_GRAN },                             \
	{ "set", required_argument, NULL, CLI_OPT_SET },                                      \
	CLI_CALIB_OPTIONS
#define CLI_THREADS_HELP "  --threads N          worker threads (default: the number of CPUs)\n"
#define CLI_BATCH_HELP "  --batch N            evaluation batch size (default 64)\n"
#define CLI_PRECISION_HELP                                                                    \
	"  --preset NAME        fp32 fp16 bf16 fp8e4m3 fp8e5m2 int8 w8a16 w4a8 w4a16\n"          \
	"                       (default int8: int8 weights, uint8 activations)\n"              \
	"  --granularity G      weights per-tensor | per-channel | per-block (default:\n"       \
	"                       per-channel; per-block (32) for int4 presets)\n"                \
	"  --calib-method M     activations: minmax | percentile[:P] | entropy | mse\n"         \
	"                       (default minmax; percentile defaults to 99.99)\n"               \
	"  --calib-samples N    use the first N calibration samples (default: all)\n"           \
	"  --set NODE=PRESET    run one node at another precision (repeatable)\n"

/* The default case of a command's getopt_long switch: stores a shared option
 * (c, with argument arg) in *a after checking it.  Returns 0; or, for a bad
 * value or a code that is no shared option ("unknown option"), prints the
 * usage error for command cmd and returns EXIT_USAGE. */
int cli_option(const char *cmd, int c, const char *arg, struct cli_args *a);

/* Split a --candidates LIST (comma-separated) into cands (at most max; the
 * strings point into buf, size bytes).  Returns 0, or EXIT_USAGE after
 * printing the usage error for command cmd. */
int cli_candidates(const char *cmd, const char *list, char *buf, size_t size,
		   const char **cands, int max, int *n);

/* Can path be created or replaced (file_write_atomic writes a temporary next
 * to it)?  Checked before the work starts; false with the reason in why. */
bool cli_writable(const char *path, char *why, size_t size);

/* Open the bundle folder or bare model at path, apply d (may be NULL) and load
 * the model.  On success the caller owns *b (bundle_fini) and *g (graph_free);
 * on failure both are released, *g is NULL and e says why, naming the file. */
struct bundle;
struct graph;
struct policy;
enum status cli_bundle_load(const char *path, const struct cli_data *d, struct bundle *b,
			    struct graph **g, struct err *e);

/* A command that calibrates and evaluates checks b names all three data files
 * before it starts work: returns 0, or 1 after printing which is missing and
 * the option that gives it ("model.onnx: no calibration data (give --calib
 * FILE.npy)"). */
int cli_need_data(const struct bundle *b);

/* The precision a's --preset, --granularity and --calib-method give, into
 * *prec (with cspec as its activation calibrator).  Returns 0, or EXIT_USAGE
 * after printing the usage error for command cmd. */
struct precision;
struct calib_spec;
int cli_precision(const char *cmd, const struct cli_args *a, struct precision *prec,
		  struct calib_spec *cspec);

/* Measure policy pol of b's model g: calibrate on a's first calib_samples
 * calibration samples (0: all), simulate and run the evaluation set against
 * FP32 into *s with a's threads and batch size.  Returns 0 and the caller finis *sim and *ev; or 1 after
 * printing the error, with nothing left to free. */
struct evaluator;
struct sim;
struct metrics_summary;
int cli_measure(const struct bundle *b, const struct graph *g, const struct policy *pol,
		const struct cli_args *a, struct evaluator *ev, struct sim *sim,
		struct metrics_summary *s);

/* Wait until session s is idle, drawing as it goes: each time its generation
 * moves, *sn is refreshed (the previous snapshot released when *have_sn; then
 * *have_sn is true) and draw(ctx, sn) is called.  SIGINT and SIGTERM cancel
 * the session's job meanwhile (the old handlers are restored after).  Returns
 * true when that happened.  The caller finis *sn when *have_sn. */
struct session;
struct session_snap;
bool cli_session_wait(struct session *s, struct session_snap *sn, bool *have_sn,
		      void (*draw)(void *ctx, const struct session_snap *sn), void *ctx);

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
