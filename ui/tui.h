/*
 * tui.h - the interactive explorer: `qlens [BUNDLE|MODEL.onnx]`.
 *
 * Pieces, one file each:
 *   tui.c          terminal set-up and restore (every exit path), the event
 *                  loop (poll on stdin, the session's notify fd and a signal
 *                  self-pipe; never waits on the worker), key dispatch through
 *                  the binding table, layout, overlays (help, menu, prompt).
 *   tui_draw.c     drawing primitives: colours by role (monochrome and
 *                  NO_COLOR fallbacks), sanitized text clipped to cells,
 *                  UTF-8 block glyphs with ASCII fallbacks, number formats.
 *   tui_model.c    the explorer's state over the session: rows, the policy
 *                  being edited with undo/redo, predicted and measured deltas,
 *                  cost figures, Pareto points, policy files.  The only file
 *                  that talks to the session.
 *   view_layers.c  the layer table (sort, filter, heat map).
 *   view_detail.c  one node: histograms, clip range, grid, error, channels.
 *   view_pareto.c  accuracy against cost of every policy measured.
 * Views are rows of a table of small vtables (draw / action / mouse); actions
 * are rows of an X-macro that also generates the help overlay and the man
 * page's key table (`qlens --keys`).
 *
 * Only the main thread calls curses.  Everything here is the UI layer: it may
 * print and exit; analysis/ below it never does.
 */
#ifndef QLENS_TUI_H
#define QLENS_TUI_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "policy.h"

/* ---- colours by role ----------------------------------------------------------
 * X(ROLE, fg, bg, attributes with colour, attributes without colour) */
#define TUI_ROLES(X)                                                                  \
	X(R_NORMAL, -1, -1, 0, 0)                                                     \
	X(R_TITLE, COLOR_BLACK, COLOR_CYAN, A_BOLD, A_REVERSE)                        \
	X(R_HEADER, COLOR_CYAN, -1, A_BOLD, A_BOLD)                                   \
	X(R_LABEL, COLOR_CYAN, -1, 0, 0)                                              \
	X(R_VALUE, -1, -1, A_BOLD, A_BOLD)                                            \
	X(R_DIM, COLOR_BLUE, -1, A_BOLD, A_DIM)                                       \
	X(R_SELECTED, COLOR_BLACK, COLOR_YELLOW, 0, A_REVERSE)                        \
	X(R_COLHEAD, COLOR_BLACK, COLOR_GREEN, 0, A_UNDERLINE)                        \
	X(R_GOOD, COLOR_GREEN, -1, A_BOLD, 0)                                         \
	X(R_WARN, COLOR_YELLOW, -1, A_BOLD, A_BOLD)                                   \
	X(R_BAD, COLOR_RED, -1, A_BOLD, A_BOLD | A_UNDERLINE)                         \
	X(R_PENDING, COLOR_MAGENTA, -1, A_BOLD, A_BOLD)                               \
	X(R_HEAT0, COLOR_GREEN, -1, 0, 0)                                             \
	X(R_HEAT1, COLOR_YELLOW, -1, 0, 0)                                            \
	X(R_HEAT2, COLOR_BLACK, COLOR_YELLOW, 0, A_BOLD)                              \
	X(R_HEAT3, COLOR_WHITE, COLOR_RED, A_BOLD, A_BOLD | A_UNDERLINE)              \
	X(R_HEAT4, COLOR_YELLOW, COLOR_RED, A_BOLD, A_REVERSE)                        \
	X(R_BAR, COLOR_CYAN, -1, 0, 0)                                                \
	X(R_MARK, COLOR_RED, -1, A_BOLD, A_BOLD)                                      \
	X(R_GRID, COLOR_MAGENTA, -1, 0, 0)                                            \
	X(R_STATUS, COLOR_BLACK, COLOR_WHITE, 0, A_REVERSE)                           \
	X(R_KEY, COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE | A_BOLD)                      \
	X(R_ERROR, COLOR_WHITE, COLOR_RED, A_BOLD, A_REVERSE | A_BOLD)                \
	X(R_PREC_FP32, -1, -1, 0, 0)                                                  \
	X(R_PREC_FLOAT, COLOR_CYAN, -1, A_BOLD, A_BOLD)                               \
	X(R_PREC_INT, COLOR_GREEN, -1, A_BOLD, 0)                                     \
	X(R_PREC_LOW, COLOR_MAGENTA, -1, A_BOLD, A_UNDERLINE)                         \
	X(R_FRAME, COLOR_BLUE, -1, 0, 0)

#define TUI_ROLE_ENUM_(r, fg, bg, a, m) r,
enum tui_role { TUI_ROLES(TUI_ROLE_ENUM_) R_COUNT };
#undef TUI_ROLE_ENUM_

/* ---- actions ------------------------------------------------------------------
 * X(ACTION, group, help text).  Keys are bound in tui.c's binding table; the
 * help overlay lists, per group, each action with every key bound to it. */
#define TUI_ACTIONS(X)                                                                \
	X(A_UP, "Move", "previous row / point")                                       \
	X(A_DOWN, "Move", "next row / point")                                         \
	X(A_PGUP, "Move", "page up")                                                  \
	X(A_PGDN, "Move", "page down")                                                \
	X(A_HOME, "Move", "first row")                                                \
	X(A_END, "Move", "last row")                                                  \
	X(A_FILTER, "Move", "filter rows by name or op (empty: all)")                 \
	X(A_JUMP, "Move", "jump to a node by number or name")                         \
	X(A_SORT, "Move", "sort: graph order, sensitivity, size")                     \
	X(A_PREC_NEXT, "Precision", "selected node: next precision")                  \
	X(A_PREC_PREV, "Precision", "selected node: previous precision")              \
	X(A_PREC_MENU, "Precision", "selected node: choose a precision from a list")  \
	X(A_PREC_FP32, "Precision", "selected node: keep in fp32")                    \
	X(A_SET_OP, "Precision", "all nodes of the selected node's op: its precision") \
	X(A_SET_ALL, "Precision", "all nodes: the selected node's precision")         \
	X(A_CALIB, "Precision", "detail: next activation calibrator")                 \
	X(A_GRAN, "Precision", "detail: next weight granularity")                     \
	X(A_UNDO, "Precision", "undo")                                                \
	X(A_REDO, "Precision", "redo")                                                \
	X(A_DETAIL, "Views", "open / close the detail pane of the selected node")     \
	X(A_PARETO, "Views", "open / close the Pareto view")                          \
	X(A_AXIS, "Views", "Pareto: x axis weight size / BitOps")                     \
	X(A_RESTORE, "Views", "Pareto: restore the selected point's policy")          \
	X(A_BACK, "Views", "stop a search; close a pane, overlay or prompt")          \
	X(A_SAVE, "Policy", "save the policy (JSON)")                                 \
	X(A_LOAD, "Policy", "load a policy file")                                     \
	X(A_EXPORT, "Policy", "export: QDQ model, ONNX Runtime overrides, TensorRT")  \
	X(A_AUTO, "Policy", "automatic search: cheapest policy within a budget")      \
	X(A_HELP, "Other", "this help")                                               \
	X(A_REDRAW, "Other", "redraw the screen")                                     \
	X(A_CANCEL_JOB, "Other", "cancel the running sweep, evaluation or search")    \
	X(A_QUIT, "Other", "quit (asks when the policy is not saved)")

#define TUI_ACTION_ENUM_(a, grp, help) a,
enum tui_action { A_NONE = 0, TUI_ACTIONS(TUI_ACTION_ENUM_) A_COUNT };
#undef TUI_ACTION_ENUM_

/* View bit masks: which views a binding applies in. */
enum tui_view_id { V_LAYERS, V_DETAIL, V_PARETO, V_COUNT };
#define VM_LAYERS (1u << V_LAYERS)
#define VM_DETAIL (1u << V_DETAIL)
#define VM_PARETO (1u << V_PARETO)
#define VM_ALL (VM_LAYERS | VM_DETAIL | VM_PARETO)

struct tui_binding {
	int key;	  /* curses key code or character */
	const char *name; /* as shown in help */
	enum tui_action action;
	unsigned views;	  /* VM_* */
};
extern const struct tui_binding tui_bindings[];
extern const int tui_n_bindings;
const char *tui_action_group(enum tui_action a);
const char *tui_action_help(enum tui_action a);

/* ---- the explorer's state (tui_model.c) ----------------------------------- */
#define TUI_MAX_CANDS 8
#define TUI_NAME_MAX 160

struct tui_iso {		/* isolate result of one node at one candidate */
	bool valid;
	double delta, lo, hi;	/* top-1 fraction */
	bool noise;		/* interval contains 0 */
};

struct tui_row {		/* one sweepable node */
	int node;		/* graph index */
	char name[TUI_NAME_MAX]; /* sanitized */
	char op[32];		/* sanitized */
	int64_t params, macs;	/* per sample */
	bool has_local[TUI_MAX_CANDS];
	double local[TUI_MAX_CANDS]; /* dB, INFINITY when exact */
	struct tui_iso iso[TUI_MAX_CANDS];
};

struct tui_measure {
	bool valid;
	uint64_t policy_gen;	/* which edit of the policy it measured */
	struct metrics_summary s;
	int64_t weight_bytes;
};

struct tui_point {		/* one point of the Pareto view */
	bool from_sweep;	/* a single-layer isolate point */
	bool search;		/* !from_sweep: measured by the last automatic search */
	bool frontier;		/* search: on that search's Pareto frontier */
	bool search_bitops;	/* search: its objective (the frontier's cost) was BitOps */
	int eval_no;		/* search: 1.. its evaluation, 0 measured by the sweep */
	int row, cand;		/* from_sweep: which */
	int prec_set;		/* !from_sweep: index into the model's saved policies */
	double top1, delta, lo, hi;
	double wbytes_rel, bitops_rel; /* fractions of FP32 */
};

struct tui_model;

/* Open the bundle or model (data: the --calib/--eval/--labels files, may be
 * NULL) and start the session (calibration, sweeps) in the background.  Fails
 * only on what is known at once (missing files, a model that does not load).
 * *msg receives the error text. */
struct cli_data;
/* cache_mb: the session's activation cache budget (0: its default) */
struct tui_model *tui_model_open(const char *path, const struct cli_data *data, int64_t cache_mb,
				 char *msg, size_t msg_size);
void tui_model_free(struct tui_model *m);
/* The fds that become readable when the session or the helper thread have
 * news (at most 2); returns how many. */
int tui_model_fds(const struct tui_model *m, int *fds);
/* Copy what changed in the session; true when anything did (redraw). */
bool tui_model_poll(struct tui_model *m);
/* Periodic tick (progress clock); true when the screen should redraw. */
bool tui_model_tick(struct tui_model *m);

const char *tui_model_title(const struct tui_model *m);
const struct graph *tui_model_graph(const struct tui_model *m);
int tui_model_rows(const struct tui_model *m, const struct tui_row **rows);
int tui_model_cands(const struct tui_model *m, const char *const **names);
const struct precision *tui_model_cand(const struct tui_model *m, int c);

struct tui_status {
	bool busy;
	char what[96];		/* e.g. "isolate sweep", "calibrating" */
	int64_t done, total;
	double fraction;	/* 0..1; < 0 unknown */
	double eta_s;		/* < 0 unknown */
	bool ready;		/* FP32 reference and calibration done */
	bool have_fp32;
	double fp32_top1;
	char error[256];	/* last error, "" when none */
	char notice[256];	/* last notice (cache, saved file), "" when none */
	uint64_t notice_seq;
};
const struct tui_status *tui_model_status(const struct tui_model *m);

/* The policy being edited. */
const struct policy *tui_model_policy(const struct tui_model *m);
uint64_t tui_model_policy_gen(const struct tui_model *m);
bool tui_model_dirty(const struct tui_model *m);	/* unsaved changes */
/* Edits (each one undoable; no-op edits are dropped).  Start a measurement. */
void tui_model_set(struct tui_model *m, int node, const struct precision *p);
void tui_model_set_op(struct tui_model *m, const char *op_type, const struct precision *p);
void tui_model_set_all(struct tui_model *m, const struct precision *p);
bool tui_model_undo(struct tui_model *m);
bool tui_model_redo(struct tui_model *m);
/* Restore a Pareto point's policy (an edit). */
void tui_model_restore_point(struct tui_model *m, const struct tui_point *pt);
/* Which candidate a precision equals, -1 none (fp32 is none). */
int tui_model_cand_of(const struct tui_model *m, const struct precision *p);

struct tui_figures {
	/* predicted: sum of isolate deltas of the non-fp32 nodes */
	double pred_delta;
	int pred_known, pred_needed; /* nodes with / needing an isolate result */
	/* measured for the current policy (valid when m.policy_gen matches) */
	struct tui_measure last;	 /* latest complete measurement (any edit) */
	bool measuring;			 /* a measurement of the current edit runs */
	bool current;			 /* last measures the current edit */
	bool partial_valid;		 /* progressive estimate of the running one */
	struct metrics_summary partial;
	int64_t partial_done, partial_total;
	/* cost of the current policy relative to FP32 (instant) */
	double wbytes_rel, bitops_rel;
	int64_t wbytes, wbytes_fp32;
	int n_quant, n_nodes;		 /* non-fp32 sweepable nodes / sweepable */
};
void tui_model_figures(const struct tui_model *m, struct tui_figures *f);
/* Cost of a single-node change from all-fp32 (for sweep points). */
void tui_model_point_cost(const struct tui_model *m, int row, int cand, double *wrel,
			  double *brel);

/* Pareto points: measured policies and sweep points. */
int tui_model_points(const struct tui_model *m, const struct tui_point **pts);
/* Index of the point equal to the current policy, -1 none. */
int tui_model_current_point(const struct tui_model *m);

/* Policy files.  Paths are used as given.  Save and export run in the
 * background (false: refused at once, with the reason in msg); load is
 * immediate. */
bool tui_model_save(struct tui_model *m, const char *path, char *msg, size_t size);
bool tui_model_load(struct tui_model *m, const char *path, char *msg, size_t size);
/* Export kinds: "qdq" (ONNX model), "ort" (overrides JSON), "trt" (trtexec flags). */
bool tui_model_export(struct tui_model *m, const char *kind, const char *path, char *msg,
		      size_t size);
/* A save or export is running. */
bool tui_model_job_busy(const struct tui_model *m);
const char *tui_model_default_path(const struct tui_model *m, const char *kind);
/* Cancel what runs in the background. */
void tui_model_cancel(struct tui_model *m);

/* Automatic search (analysis/search.h through the session): the cheapest
 * policy whose measured top-1 drop is within max_drop (absolute: points;
 * relative: percent of the FP32 top-1).  Runs in the background; false:
 * refused at once (bad budget, a search already runs), with the reason in
 * msg.  On completion the result is applied as one edit (undoable) and every
 * policy the search measured joins the Pareto points. */
struct tui_auto_req {
	double max_drop;
	bool relative, bitops, confidence;
};
bool tui_model_auto_start(struct tui_model *m, const struct tui_auto_req *r, char *msg,
			  size_t size);
struct tui_auto_status {
	bool running;		/* submitted and not finished */
	bool searching;		/* past its sweep: evaluations count */
	char what[160];		/* the step under way */
	int evaluations, max_evals;
	bool has_best;		/* a feasible policy is known */
	double best_rel;	/* its cost, fraction of FP32's by the objective */
	double best_top1;
	bool bitops;		/* objective */
	double elapsed_s;
};
void tui_model_auto_status(const struct tui_model *m, struct tui_auto_status *out);
/* Cancel a running search (the session's other work too); false when none runs. */
bool tui_model_auto_cancel(struct tui_model *m);
/* A search finished since the last call: true, with its outcome (role R_GOOD
 * when a policy was applied, R_WARN when nothing changed, R_ERROR). */
bool tui_model_auto_take(struct tui_model *m, enum tui_role *role, char *msg, size_t size);

/* Node detail: statistics of node `node` at its precision in the current
 * policy (explore.h), computed on the model's helper thread.  NULL while it
 * is being computed (it is then requested); *note receives what runs. */
struct explore_node;
const struct explore_node *tui_model_detail(struct tui_model *m, int node, const char **note);

/* A background save or export finished since the last call: true, with its
 * outcome.  */
bool tui_model_take_result(struct tui_model *m, bool *ok, char *msg, size_t size);

/* ---- drawing (tui_draw.c) ------------------------------------------------------ */
struct tui_glyphs {
	const char *hbar[9];	/* 0..8 eighths of a cell */
	const char *vbar[9];
	const char *vline, *hline, *cross, *tee, *dot, *point, *cur_point, *arrow_l, *arrow_r;
	const char *search_point, *front_point; /* Pareto: measured by the search / its frontier */
	const char *ellipsis, *delta, *pm, *noise, *up, *down;
};
extern struct tui_glyphs tui_g;

void tui_draw_init(bool color, bool utf8);
bool tui_draw_utf8(void);
int tui_attr(enum tui_role r);
/* Sanitize untrusted bytes (control characters, escapes, invalid UTF-8) into
 * out; returns out. */
char *tui_sanitize(const char *in, char *out, size_t size);
/* Draw s (trusted or sanitized) at (y, x) in at most w cells; returns cells used. */
int tui_put(int y, int x, int w, enum tui_role r, const char *s);
int tui_putf(int y, int x, int w, enum tui_role r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Right-aligned within w cells. */
int tui_put_right(int y, int x, int w, enum tui_role r, const char *s);
/* Display width of s in cells. */
int tui_width(const char *s);
/* Fill w cells with spaces in role r. */
void tui_fill(int y, int x, int w, enum tui_role r);
/* A horizontal bar of fraction f in [0,1] over w cells. */
void tui_hbar(int y, int x, int w, double f, enum tui_role on, enum tui_role off);
/* Human numbers: 12.3k, 4.5M. */
const char *tui_fmt_count(int64_t v, char *buf, size_t size);
const char *tui_fmt_bytes(int64_t v, char *buf, size_t size);
const char *tui_fmt_eta(double s, char *buf, size_t size);
/* Heat role for an isolate delta (top-1 fraction). */
enum tui_role tui_heat_role(const struct tui_iso *iso);
enum tui_role tui_prec_role(const struct precision *p);

/* ---- the application (tui.c) ------------------------------------------------- */
struct tui;

struct view_class {
	const char *name;
	void (*draw)(struct tui *t, int y, int x, int h, int w);
	/* true when handled */
	bool (*action)(struct tui *t, enum tui_action a);
	/* mouse press at screen (y, x); wheel: dy = -1 / +1 */
	bool (*mouse)(struct tui *t, int y, int x, int dy, bool dbl);
};
extern const struct view_class view_layers, view_detail, view_pareto;

enum tui_sort { SORT_GRAPH, SORT_SENS, SORT_SIZE, SORT_COUNT };

struct tui {
	struct tui_model *m;
	int rows, cols;
	bool color, utf8;
	enum tui_view_id view;	/* main area: layers (detail may be beside it), pareto */
	bool detail_open;
	bool detail_side;	/* the detail pane is beside the table (wide terminal) */
	/* layer table */
	int sel_node;		/* selected node (graph index), -1 none */
	int top;		/* first visible row of the filtered order */
	int *order;		/* rows in display order (filtered + sorted) */
	int n_order;
	enum tui_sort sort;
	char filter[64];
	int table_y, table_h, table_x, table_w; /* last drawn geometry (mouse) */
	/* pareto */
	int pt_sel;
	bool pt_bitops;
	int pt_y, pt_x, pt_h, pt_w;
	/* detail */
	int detail_y, detail_x, detail_h, detail_w;
	/* status line message */
	char msg[256];
	enum tui_role msg_role;
	double msg_until;
	/* files */
	char policy_path[512];
	uint64_t order_gen;	/* recompute order when the model changes */
};

/* Helpers views use. */
void tui_message(struct tui *t, enum tui_role r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tui_rebuild_order(struct tui *t);
const struct tui_row *tui_sel_row(const struct tui *t, int *row_index);
/* Precision cycle of the selected node: fp32 then the candidates. */
void tui_prec_step(struct tui *t, int dir);
void tui_open_prec_menu(struct tui *t);

/* Entry point: path NULL = the default bundle.  Returns the exit status. */
int tui_main(const char *path);
/* `qlens [BUNDLE|MODEL.onnx] [--calib F --eval F --labels F]`: argv[0] is the
 * program; parses the options and runs the explorer.  Returns the exit status. */
int tui_cmd(int argc, char **argv);
/* The key table as text (for --help and the man page). */
void tui_print_keys(void);

#endif
