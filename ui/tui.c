/*
 * tui.c - the explorer's terminal, event loop, key table and overlays.
 *
 * The loop: poll() waits on stdin, the model's notify fd (the session's
 * worker writes a byte there when it published something) and a self-pipe
 * fed by the signal handlers, with a short timeout while work runs (so the
 * progress clock moves) and a long one otherwise.  Keys are read without
 * blocking and dispatched at once; model news are copied under the session's
 * lock by tui_model_poll, which never waits for the worker.  The UI therefore
 * answers a key within one poll wake-up whatever runs in the background.
 *
 * Keys map to actions through one table (tui_bindings): a key applies in the
 * views its row names; an overlay (help, a menu, a prompt) takes every key
 * while open.  The help overlay and `qlens --keys` are generated from the same
 * table, so the documentation cannot drift from the bindings.
 *
 * The terminal is restored on every way out: q and Ctrl-C go through the quit
 * path; SIGINT, SIGTERM, SIGHUP and SIGQUIT set a flag the loop sees through
 * the self-pipe, and it leaves normally; a crash signal (SEGV, BUS, FPE, ILL,
 * ABRT, TRAP, SYS) restores the saved termios and writes a prepared sequence
 * (cancel a half-written escape, mouse and keypad modes off, cursor on, leave
 * the alternate screen) with async-signal-safe calls only, then re-raises the
 * signal; on this thread it runs on an alternate stack, so a stack overflow
 * here restores the terminal too.  The worker threads are
 * started with the asynchronous signals blocked, so those reach this thread;
 * the synchronous crash signals stay unblocked there, because a fault in a
 * thread that blocks them kills the process without running any handler - and
 * the worker is where the heavy code runs.  SIGWINCH is ncurses' (it turns it
 * into KEY_RESIZE); a handler chained in front of it also writes to the
 * self-pipe so that a resize redraws at once, not at the next poll timeout.
 *
 * QLENS_TEST_CRASH (test-only, for tests/ui/tui_test.sh): "segv" or "abrt"
 * raise that signal on the UI thread, "segv-thread" makes a thread started
 * like the worker fault for real, "exit" calls exit(3) from the loop; each
 * half a second after the explorer has drawn.  Nothing else reads it.
 */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <term.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"
#include "tui.h"

#undef CTRL
#define CTRL(c) ((c) & 0x1f)
#define KEY_ESC 27

/* ---- actions and key bindings ------------------------------------------------ */

#define TUI_ACTION_GROUP_(a, grp, help) grp,
#define TUI_ACTION_HELP_(a, grp, help) help,
static const char *const action_group[A_COUNT] = { "", TUI_ACTIONS(TUI_ACTION_GROUP_) };
static const char *const action_help[A_COUNT] = { "", TUI_ACTIONS(TUI_ACTION_HELP_) };
#undef TUI_ACTION_GROUP_
#undef TUI_ACTION_HELP_

const char *tui_action_group(enum tui_action a) { return a > 0 && a < A_COUNT ? action_group[a] : ""; }
const char *tui_action_help(enum tui_action a) { return a > 0 && a < A_COUNT ? action_help[a] : ""; }

#define VM_TABLE (VM_LAYERS | VM_DETAIL)
const struct tui_binding tui_bindings[] = {
	{ KEY_UP, "Up", A_UP, VM_ALL },
	{ 'k', "k", A_UP, VM_ALL },
	{ KEY_DOWN, "Down", A_DOWN, VM_ALL },
	{ 'j', "j", A_DOWN, VM_ALL },
	{ KEY_PPAGE, "PgUp", A_PGUP, VM_ALL },
	{ CTRL('b'), "C-b", A_PGUP, VM_ALL },
	{ KEY_NPAGE, "PgDn", A_PGDN, VM_ALL },
	{ CTRL('f'), "C-f", A_PGDN, VM_ALL },
	{ KEY_HOME, "Home", A_HOME, VM_ALL },
	{ 'g', "g", A_HOME, VM_TABLE },
	{ KEY_END, "End", A_END, VM_ALL },
	{ 'G', "G", A_END, VM_TABLE },
	{ '/', "/", A_FILTER, VM_TABLE },
	{ ':', ":", A_JUMP, VM_TABLE },
	{ 's', "s", A_SORT, VM_TABLE },
	{ KEY_RIGHT, "Right", A_PREC_NEXT, VM_TABLE },
	{ 'l', "l", A_PREC_NEXT, VM_TABLE },
	{ KEY_LEFT, "Left", A_PREC_PREV, VM_TABLE },
	{ 'h', "h", A_PREC_PREV, VM_TABLE },
	{ ' ', "Space", A_PREC_MENU, VM_TABLE },
	{ 'f', "f", A_PREC_FP32, VM_TABLE },
	{ 'O', "O", A_SET_OP, VM_TABLE },
	{ 'A', "A", A_SET_ALL, VM_TABLE },
	{ 'c', "c", A_CALIB, VM_DETAIL },
	{ 't', "t", A_GRAN, VM_DETAIL },
	{ 'u', "u", A_UNDO, VM_ALL },
	{ CTRL('r'), "C-r", A_REDO, VM_ALL },
	{ 'U', "U", A_REDO, VM_ALL },
	{ '\n', "Enter", A_DETAIL, VM_TABLE },
	{ KEY_ENTER, "Enter", A_DETAIL, VM_TABLE },
	{ 'd', "d", A_DETAIL, VM_TABLE },
	{ 'P', "P", A_PARETO, VM_ALL },
	{ '\t', "Tab", A_PARETO, VM_ALL },
	{ 'x', "x", A_AXIS, VM_PARETO },
	{ KEY_LEFT, "Left", A_UP, VM_PARETO },
	{ 'h', "h", A_UP, VM_PARETO },
	{ KEY_RIGHT, "Right", A_DOWN, VM_PARETO },
	{ 'l', "l", A_DOWN, VM_PARETO },
	{ '\n', "Enter", A_RESTORE, VM_PARETO },
	{ KEY_ENTER, "Enter", A_RESTORE, VM_PARETO },
	{ 'r', "r", A_RESTORE, VM_PARETO },
	{ KEY_ESC, "Esc", A_BACK, VM_ALL },
	{ 'w', "w", A_SAVE, VM_ALL },
	{ CTRL('s'), "C-s", A_SAVE, VM_ALL },
	{ 'L', "L", A_LOAD, VM_ALL },
	{ CTRL('o'), "C-o", A_LOAD, VM_ALL },
	{ 'e', "e", A_EXPORT, VM_ALL },
	{ 'a', "a", A_AUTO, VM_ALL },
	{ '?', "?", A_HELP, VM_ALL },
	{ KEY_F(1), "F1", A_HELP, VM_ALL },
	{ CTRL('l'), "C-l", A_REDRAW, VM_ALL },
	{ 'X', "X", A_CANCEL_JOB, VM_ALL },
	{ 'q', "q", A_QUIT, VM_ALL },
	{ CTRL('c'), "C-c", A_QUIT, VM_ALL },
	{ KEY_F(10), "F10", A_QUIT, VM_ALL },
};
const int tui_n_bindings = (int)(sizeof tui_bindings / sizeof tui_bindings[0]);

static const char *const view_names[V_COUNT] = { "layers", "detail", "pareto" };

/* Keys of action a (in views `mask`), joined with '/'; returns buf. */
static const char *keys_of(enum tui_action a, unsigned mask, char *buf, size_t size)
{
	buf[0] = 0;
	for (int i = 0; i < tui_n_bindings; i++) {
		const struct tui_binding *b = &tui_bindings[i];
		if (b->action != a || !(b->views & mask))
			continue;
		bool dup = false;
		for (int j = 0; j < i; j++)
			if (tui_bindings[j].action == a && (tui_bindings[j].views & mask) &&
			    strcmp(tui_bindings[j].name, b->name) == 0)
				dup = true;
		if (dup)
			continue;
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? " " : "", b->name);
	}
	return buf;
}

static const char *views_of(enum tui_action a, char *buf, size_t size)
{
	unsigned m = 0;
	for (int i = 0; i < tui_n_bindings; i++)
		if (tui_bindings[i].action == a)
			m |= tui_bindings[i].views;
	if (m == VM_ALL)
		snprintf(buf, size, "all");
	else {
		buf[0] = 0;
		for (int v = 0; v < V_COUNT; v++)
			if (m & (1u << v))
				snprintf(buf + strlen(buf), size - strlen(buf), "%s%s",
					 buf[0] ? "," : "", view_names[v]);
	}
	return buf;
}

void tui_print_keys(void)
{
	const char *group = "";
	for (int a = 1; a < A_COUNT; a++) {
		char k[128], v[64];
		if (strcmp(group, action_group[a]) != 0) {
			group = action_group[a];
			printf("%s%s:\n", a > 1 ? "\n" : "", group);
		}
		keys_of((enum tui_action)a, VM_ALL, k, sizeof k);
		printf("  %-22s %-52s [%s]\n", k, action_help[a], views_of((enum tui_action)a, v, sizeof v));
	}
	printf("\nMouse:\n  %-22s %-52s [%s]\n  %-22s %-52s [%s]\n", "click", "select a row or point",
	       "all", "double-click", "open the detail pane / restore the point", "layers,pareto");
	printf("  %-22s %-52s [%s]\n", "wheel", "move the selection (3 rows in the table)", "all");
}

/* ---- terminal state and signals ------------------------------------------------- */

static struct termios saved_tio;
static bool have_saved_tio;
static bool curses_on;
static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t got_signal;
static char crash_seq[256];
static size_t crash_len;

static void on_signal(int sig)
{
	int saved = errno;
	got_signal = sig;
	if (sig_pipe[1] >= 0) {
		char c = 1;
		ssize_t r = write(sig_pipe[1], &c, 1);
		(void)r;
	}
	errno = saved;
}

static void on_crash(int sig)
{
	/* async-signal-safe only: termios, write, signal, raise */
	if (have_saved_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	if (crash_len) {
		ssize_t r = write(STDOUT_FILENO, crash_seq, crash_len);
		(void)r;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ncurses' SIGWINCH handler (it sets the flag that becomes KEY_RESIZE); ours
 * runs it, then wakes the loop. */
static struct sigaction curses_winch;

static void on_winch(int sig, siginfo_t *info, void *ctx)
{
	int saved = errno;
	if ((curses_winch.sa_flags & SA_SIGINFO) && curses_winch.sa_sigaction)
		curses_winch.sa_sigaction(sig, info, ctx);
	else if (!(curses_winch.sa_flags & SA_SIGINFO) && curses_winch.sa_handler != SIG_DFL &&
		 curses_winch.sa_handler != SIG_IGN && curses_winch.sa_handler)
		curses_winch.sa_handler(sig);
	if (sig_pipe[1] >= 0) {
		char c = 2;
		ssize_t r = write(sig_pipe[1], &c, 1);
		(void)r;
	}
	errno = saved;
}

static void chain_winch(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	if (sigaction(SIGWINCH, NULL, &curses_winch) != 0)
		return;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_winch;
	sa.sa_flags = SA_SIGINFO | (curses_winch.sa_flags & SA_RESTART);
	sigaction(SIGWINCH, &sa, NULL);
}

static void add_crash_seq(const char *s)
{
	if (!s || s == (char *)-1)
		return;
	size_t n = strlen(s);
	if (crash_len + n < sizeof crash_seq) {
		memcpy(crash_seq + crash_len, s, n);
		crash_len += n;
	}
}

/* The crash signals: handled on every thread, blocked on none. */
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS };
#define N_CRASH_SIGNALS ((int)(sizeof crash_signals / sizeof crash_signals[0]))

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	/* a stack overflow must still restore the terminal: an alternate stack */
	static char *alt;
	if (!alt && (alt = malloc(1 << 16))) {
		stack_t ss = { .ss_sp = alt, .ss_size = 1 << 16, .ss_flags = 0 };
		if (sigaltstack(&ss, NULL) != 0) {
			free(alt);
			alt = NULL;
		}
	}
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND | (alt ? SA_ONSTACK : 0);
	for (int i = 0; i < N_CRASH_SIGNALS; i++)
		sigaction(crash_signals[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The mask worker threads start with: every signal but the crash signals. */
static void worker_sigmask(sigset_t *set)
{
	sigfillset(set);
	for (int i = 0; i < N_CRASH_SIGNALS; i++)
		sigdelset(set, crash_signals[i]);
}

/* ---- the test-only crash switch (QLENS_TEST_CRASH, see the top) ------------ */

enum test_crash { TC_NONE, TC_SEGV, TC_ABRT, TC_SEGV_THREAD, TC_EXIT };

static enum test_crash test_crash_mode(void)
{
	const char *v = getenv("QLENS_TEST_CRASH");
	if (!v || !*v)
		return TC_NONE;
	return strcmp(v, "segv") == 0	       ? TC_SEGV
	       : strcmp(v, "abrt") == 0	       ? TC_ABRT
	       : strcmp(v, "segv-thread") == 0 ? TC_SEGV_THREAD
	       : strcmp(v, "exit") == 0	       ? TC_EXIT
					       : TC_NONE;
}

static _Atomic bool test_crash_go;

static void *test_crash_thread(void *arg)
{
	(void)arg;
	while (!test_crash_go) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* a real fault, not raise(): the kernel forces a synchronous signal
	 * on this thread whatever its mask.  A store to a page mapped without
	 * access, not through NULL: UBSan would stop a null store first. */
	volatile int *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort();
	*p = 1;
	return NULL;
}

static void test_crash_fire(enum test_crash mode)
{
	switch (mode) {
	case TC_SEGV: raise(SIGSEGV); break;
	case TC_ABRT: abort();
	case TC_SEGV_THREAD:
		test_crash_go = true;
		/* the thread takes the process down; if it does not, fail visibly */
		for (int i = 0; i < 250; i++) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		exit(99);
	case TC_EXIT: exit(3);
	case TC_NONE: break;
	}
}

/* Anything a library writes to stderr while curses owns the screen would
 * scramble it: stderr goes to /dev/null meanwhile and comes back after. */
static int saved_stderr = -1;

static void stderr_quiet(void)
{
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul < 0)
		return;
	saved_stderr = dup(STDERR_FILENO);
	dup2(nul, STDERR_FILENO);
	close(nul);
}

static void stderr_restore(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static void term_restore(void)
{
	stderr_restore();
	if (curses_on) {
		printf("\033[?1000l\033[?1002l\033[?1006l");
		fflush(stdout);
		endwin();
		curses_on = false;
	}
}

static bool env_set(const char *name)
{
	const char *v = getenv(name);
	return v && *v;
}

static void term_start(struct tui *t)
{
	if (tcgetattr(STDIN_FILENO, &saved_tio) == 0)
		have_saved_tio = true;
	set_escdelay(25);
	stderr_quiet();
	initscr();
	curses_on = true;
	atexit(term_restore);
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	t->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0 && !env_set("QLENS_ASCII");
	t->color = has_colors() && !env_set("NO_COLOR");
	tui_draw_init(t->color, t->utf8);
	mousemask(BUTTON1_PRESSED | BUTTON1_RELEASED | BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED |
			  BUTTON4_PRESSED | BUTTON5_PRESSED,
		  NULL);
	mouseinterval(0);
	/* what the crash handler writes: CAN ends an escape sequence the UI may
	 * have been writing, then mouse and keypad modes off, attributes off,
	 * cursor on, leave the alternate screen */
	add_crash_seq("\030\033[?1000l\033[?1002l\033[?1006l");
	add_crash_seq(tigetstr("rmkx"));
	add_crash_seq(tigetstr("sgr0"));
	add_crash_seq(tigetstr("cnorm"));
	add_crash_seq(tigetstr("rmcup"));
	add_crash_seq("\r\n");
	chain_winch();
	getmaxyx(stdscr, t->rows, t->cols);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- overlays ------------------------------------------------------------------- */

enum modal { MODAL_NONE, MODAL_HELP, MODAL_MENU, MODAL_PROMPT };
enum menu_kind { MENU_PREC, MENU_EXPORT, MENU_QUIT, MENU_LOAD_RECENT };
enum prompt_kind { PROMPT_FILTER, PROMPT_JUMP, PROMPT_SAVE, PROMPT_SAVE_QUIT, PROMPT_LOAD,
		   PROMPT_EXPORT, PROMPT_AUTO };

/* The automatic search's prompt: the budget first, then any of the words
 * below in any order; Enter alone takes the text shown (the last accepted). */
#define AUTO_PROMPT_TITLE "search: max drop (points) [abs|rel] [size|bitops] [ci]"
static char auto_text[128] = "1 abs size";

#define MENU_MAX 24
static struct {
	enum modal kind;
	/* help */
	int help_top;
	/* menu */
	enum menu_kind menu;
	char title[96];
	int n;
	char item[MENU_MAX][80];
	int sel;
	int arg;
	/* prompt */
	enum prompt_kind prompt;
	char ptitle[96];
	char text[512];
	char before[64]; /* filter before the prompt (Esc restores) */
	int parg;
} ov;

static bool quit_now;
static bool quit_after_save; /* quit once the running save succeeds */

static void open_menu(enum menu_kind k, const char *title, int arg)
{
	ov.kind = MODAL_MENU;
	ov.menu = k;
	snprintf(ov.title, sizeof ov.title, "%s", title);
	ov.n = 0;
	ov.sel = 0;
	ov.arg = arg;
}

static void menu_add(const char *item)
{
	if (ov.n < MENU_MAX)
		snprintf(ov.item[ov.n++], sizeof ov.item[0], "%s", item);
}

static void open_prompt(enum prompt_kind k, const char *title, const char *init, int arg)
{
	ov.kind = MODAL_PROMPT;
	ov.prompt = k;
	snprintf(ov.ptitle, sizeof ov.ptitle, "%s", title);
	snprintf(ov.text, sizeof ov.text, "%s", init ? init : "");
	ov.parg = arg;
}

void tui_message(struct tui *t, enum tui_role r, const char *fmt, ...)
{
	char raw[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	tui_sanitize(raw, t->msg, sizeof t->msg);
	t->msg_role = r;
	t->msg_until = now_s() + (r == R_ERROR ? 8 : r == R_PENDING ? 60 : 4);
}

/* ---- selection helpers shared by the views ------------------------------------ */

static int cmp_dbl(double a, double b) { return a < b ? -1 : a > b ? 1 : 0; }

static const struct tui_row *sort_rows;
static enum tui_sort sort_key;

static double row_sens(const struct tui_row *r)
{
	/* the first candidate's isolate delta; unknown rows go last */
	return r->iso[0].valid ? r->iso[0].delta : INFINITY;
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct tui_row *a = &sort_rows[*(const int *)pa], *b = &sort_rows[*(const int *)pb];
	int c = 0;
	if (sort_key == SORT_SENS) {
		c = cmp_dbl(row_sens(a), row_sens(b));
		if (!c && a->has_local[0] && b->has_local[0])
			c = cmp_dbl(a->local[0], b->local[0]);
	} else if (sort_key == SORT_SIZE) {
		c = -cmp_dbl((double)a->params, (double)b->params);
		if (!c)
			c = -cmp_dbl((double)a->macs, (double)b->macs);
	}
	return c ? c : (a->node > b->node) - (a->node < b->node);
}

static bool ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	if (!n)
		return true;
	for (const char *p = hay; *p; p++)
		if (strncasecmp(p, needle, n) == 0)
			return true;
	return false;
}

void tui_rebuild_order(struct tui *t)
{
	const struct tui_row *rows;
	int n = tui_model_rows(t->m, &rows);
	free(t->order);
	t->order = malloc(((size_t)n + 1) * sizeof *t->order);
	t->n_order = 0;
	if (!t->order)
		return;
	for (int i = 0; i < n; i++)
		if (ci_contains(rows[i].name, t->filter) || ci_contains(rows[i].op, t->filter))
			t->order[t->n_order++] = i;
	sort_rows = rows;
	sort_key = t->sort;
	qsort(t->order, (size_t)t->n_order, sizeof *t->order, cmp_rows);
	/* keep the selected node when it is still listed, else the first row */
	bool found = false;
	for (int i = 0; i < t->n_order; i++)
		if (rows[t->order[i]].node == t->sel_node)
			found = true;
	if (!found)
		t->sel_node = t->n_order ? rows[t->order[0]].node : -1;
}

const struct tui_row *tui_sel_row(const struct tui *t, int *row_index)
{
	const struct tui_row *rows;
	int n = tui_model_rows(t->m, &rows);
	for (int i = 0; i < n; i++)
		if (rows[i].node == t->sel_node) {
			if (row_index)
				*row_index = i;
			return &rows[i];
		}
	return NULL;
}

/* The precision list: fp32, then each candidate. */
static int prec_choices(struct tui *t, struct precision *out, int max)
{
	int n = 0;
	precision_preset("fp32", &out[n++], NULL);
	const char *const *names;
	int nc = tui_model_cands(t->m, &names);
	for (int c = 0; c < nc && n < max; c++)
		out[n++] = *tui_model_cand(t->m, c);
	return n;
}

void tui_prec_step(struct tui *t, int dir)
{
	const struct tui_row *r = tui_sel_row(t, NULL);
	if (!r)
		return;
	struct precision ch[TUI_MAX_CANDS + 1];
	int n = prec_choices(t, ch, TUI_MAX_CANDS + 1);
	struct precision cur = policy_node(tui_model_policy(t->m), r->node);
	int at = -1;
	for (int i = 0; i < n && at < 0; i++)
		if (precision_equal(&cur, &ch[i]))
			at = i;
	/* a custom precision (other calibrator...) steps from its format's candidate */
	if (at < 0) {
		for (int i = 0; i < n && at < 0; i++)
			if (ch[i].wfmt == cur.wfmt && ch[i].afmt == cur.afmt)
				at = i;
		if (at < 0)
			at = 0;
	}
	int next = ((at + dir) % n + n) % n;
	tui_model_set(t->m, r->node, &ch[next]);
}

void tui_open_prec_menu(struct tui *t)
{
	const struct tui_row *r = tui_sel_row(t, NULL);
	if (!r)
		return;
	char title[96];
	snprintf(title, sizeof title, "precision of %s", r->name);
	open_menu(MENU_PREC, title, r->node);
	struct precision ch[TUI_MAX_CANDS + 1];
	int n = prec_choices(t, ch, TUI_MAX_CANDS + 1);
	struct precision cur = policy_node(tui_model_policy(t->m), r->node);
	const char *const *names;
	tui_model_cands(t->m, &names);
	for (int i = 0; i < n; i++) {
		char item[80], lab[48];
		const struct tui_iso *iso = i ? &r->iso[i - 1] : NULL;
		if (iso && iso->valid)
			snprintf(item, sizeof item, "%-12s isolate %s %+.2f [%+.2f, %+.2f]%s",
				 i ? names[i - 1] : "fp32", tui_g.delta, 100 * iso->delta,
				 100 * iso->lo, 100 * iso->hi, iso->noise ? " noise" : "");
		else
			snprintf(item, sizeof item, "%-12s %s", i ? names[i - 1] : "fp32",
				 i ? "(not measured yet)" : "(reference)");
		(void)lab;
		menu_add(item);
		if (precision_equal(&cur, &ch[i]))
			ov.sel = i;
	}
}

/* ---- layout --------------------------------------------------------------------- */

#define HEAD_H 4 /* title, two figure lines, progress */

static void draw_header(struct tui *t)
{
	struct tui_model *m = t->m;
	const struct tui_status *st = tui_model_status(m);
	struct tui_figures f;
	tui_model_figures(m, &f);
	int W = t->cols;
	char b1[64], b2[64];

	/* line 0: title */
	tui_fill(0, 0, W, R_TITLE);
	int x = tui_putf(0, 0, W, R_TITLE, " qlens %s %s", tui_g.vline, tui_model_title(m));
	x += tui_putf(0, x, W - x, R_TITLE, "  %s  %d/%d nodes quantized%s", tui_g.vline,
		      f.n_quant, f.n_nodes, tui_model_dirty(m) ? "  [modified]" : "");
	char right[64];
	snprintf(right, sizeof right, "%s  ?:help ", t->view == V_PARETO ? "pareto"
						     : t->detail_open ? "detail" : "layers");
	if (x + tui_width(right) + 2 <= W)
		tui_put_right(0, 0, W, R_TITLE, right);

	/* line 1: accuracies */
	x = 0;
	x += tui_put(1, x, W - x, R_LABEL, "FP32 ");
	if (st->have_fp32)
		x += tui_putf(1, x, W - x, R_VALUE, "%.2f%%", 100 * st->fp32_top1);
	else
		x += tui_put(1, x, W - x, R_DIM, "--.--%");
	x += tui_put(1, x, W - x, R_LABEL, "  policy ");
	const struct metrics_summary *ms = NULL;
	bool stale = false, partial = false;
	if (f.last.valid && f.current)
		ms = &f.last.s;
	else if (f.partial_valid) {
		ms = &f.partial;
		partial = true;
	} else if (f.last.valid) {
		ms = &f.last.s;
		stale = true;
	}
	if (ms) {
		enum tui_role vr = stale || partial ? R_DIM : R_VALUE;
		x += tui_putf(1, x, W - x, vr, "%.2f%%", 100 * ms->top1);
		if (W >= 96 || !partial)
			x += tui_putf(1, x, W - x, R_DIM, " [%.2f,%.2f]", 100 * (ms->fp32_top1 + ms->ci_lo),
				      100 * (ms->fp32_top1 + ms->ci_hi));
		x += tui_putf(1, x, W - x, R_LABEL, "  %s ", tui_g.delta);
		struct tui_iso iso = { true, ms->delta, ms->ci_lo, ms->ci_hi, ms->within_noise };
		x += tui_putf(1, x, W - x, stale || partial ? R_DIM : tui_heat_role(&iso), "%+.2f",
			      100 * ms->delta);
		if (ms->within_noise && !partial)
			x += tui_putf(1, x, W - x, R_DIM, " %snoise", tui_g.noise);
		if (stale)
			x += tui_put(1, x, W - x, R_PENDING, f.measuring ? "  measuring" : "  changed");
		else if (partial)
			x += tui_putf(1, x, W - x, R_PENDING, "  measuring %lld/%lld",
				      (long long)f.partial_done, (long long)f.partial_total);
		else
			x += tui_put(1, x, W - x, R_GOOD, "  measured");
	} else {
		x += tui_put(1, x, W - x, R_DIM, f.measuring ? "measuring..." : "not measured");
	}
	if (ms && !stale && !partial && W - x > 16)
		x += tui_putf(1, x, W - x, R_LABEL, "  agree %s%.1f%%", "", 100 * ms->agreement);

	/* line 2: prediction and cost */
	x = 0;
	x += tui_putf(2, x, W - x, R_LABEL, "predicted %s ", tui_g.delta);
	if (f.pred_needed == 0)
		x += tui_put(2, x, W - x, R_VALUE, "+0.00");
	else if (f.pred_known == 0)
		x += tui_put(2, x, W - x, R_DIM, "?");
	else {
		struct tui_iso iso = { true, f.pred_delta, f.pred_delta, f.pred_delta, false };
		x += tui_putf(2, x, W - x, tui_heat_role(&iso), "%+.2f", 100 * f.pred_delta);
		if (f.pred_known < f.pred_needed)
			x += tui_putf(2, x, W - x, R_DIM, " (%d/%d)", f.pred_known, f.pred_needed);
	}
	x += tui_put(2, x, W - x, R_LABEL, "  weights ");
	x += tui_putf(2, x, W - x, R_VALUE, "%s", tui_fmt_bytes(f.wbytes, b1, sizeof b1));
	x += tui_putf(2, x, W - x, R_DIM, " %.1f%%", 100 * f.wbytes_rel);
	x += tui_put(2, x, W - x, R_LABEL, "  BitOps ");
	x += tui_putf(2, x, W - x, R_VALUE, "%.1f%%", 100 * f.bitops_rel);
	x += tui_put(2, x, W - x, R_DIM, " of FP32");
	(void)b2;

	/* line 3: progress */
	tui_fill(3, 0, W, R_NORMAL);
	if (st->error[0]) {
		tui_fill(3, 0, W, R_ERROR);
		tui_putf(3, 0, W, R_ERROR, " %s", st->error);
	} else if (st->busy) {
		struct tui_auto_status as;
		tui_model_auto_status(m, &as);
		x = tui_putf(3, 0, W, R_PENDING, " %s ", tui_g.arrow_r);
		int bw = W / 5 > 30 ? 30 : W / 5;
		if (as.running && as.searching) {
			/* the search's own figures first: they must fit 80 columns */
			double fr = as.max_evals > 0 ? (double)as.evaluations / as.max_evals : 0;
			if (bw >= 6) {
				tui_hbar(3, x, bw, fr > 1 ? 1 : fr, R_BAR, R_DIM);
				x += bw;
			}
			x += tui_putf(3, x, W - x, R_PENDING, " search: %d/%d evaluations",
				      as.evaluations, as.max_evals);
			if (as.has_best && as.best_rel < 0.9999) /* FP32 is always feasible */
				x += tui_putf(3, x, W - x, R_GOOD, "  best %s %.1f%%, top-1 %.2f%%",
					      as.bitops ? "BitOps" : "size", 100 * as.best_rel,
					      100 * as.best_top1);
			else
				x += tui_put(3, x, W - x, R_DIM, "  none within budget yet");
			x += tui_put(3, x, W - x, R_DIM, "  Esc/X cancels  ");
			x += tui_put(3, x, W - x, R_PENDING, as.what);
		} else {
			if (st->fraction >= 0 || st->total > 0) {
				char eta[32];
				double fr = st->fraction >= 0 ? st->fraction
							      : (double)st->done / (double)st->total;
				fr = fr < 0 ? 0 : fr > 1 ? 1 : fr;
				if (bw >= 6) {
					tui_hbar(3, x, bw, fr, R_BAR, R_DIM);
					x += bw;
				}
				x += tui_putf(3, x, W - x, R_VALUE, " %3d%%", (int)(100 * fr));
				if (st->total > 0 && st->done <= st->total)
					x += tui_putf(3, x, W - x, R_NORMAL, " %lld/%lld",
						      (long long)st->done, (long long)st->total);
				x += tui_putf(3, x, W - x, R_DIM, " ETA %s ",
					      tui_fmt_eta(st->eta_s, eta, sizeof eta));
			}
			/* a search still sweeping (or waiting) says so, and how to stop it */
			x += tui_putf(3, x, W - x, R_PENDING, " %s%s", as.running ? "search: " : "",
				      st->what);
			if (as.running)
				x += tui_put(3, x, W - x, R_DIM, "  Esc/X cancels");
		}
	} else {
		tui_putf(3, 0, W, R_DIM, " %s%s%s", st->ready ? "ready" : "starting",
			 st->notice[0] ? " - " : "", st->notice);
	}
}

static void draw_status(struct tui *t)
{
	int y = t->rows - 1, W = t->cols;
	tui_fill(y, 0, W, R_STATUS);
	if (t->msg[0] && now_s() < t->msg_until) {
		tui_putf(y, 0, W, t->msg_role == R_ERROR ? R_ERROR : R_STATUS, " %s", t->msg);
		return;
	}
	t->msg[0] = 0;
	static const struct { enum tui_action a; const char *label; unsigned views; } hints[] = {
		{ A_HELP, "help", VM_ALL },
		{ A_PREC_NEXT, "precision", VM_LAYERS | VM_DETAIL },
		{ A_DETAIL, "detail", VM_LAYERS },
		{ A_CALIB, "calibrator", VM_DETAIL },
		{ A_GRAN, "granularity", VM_DETAIL },
		{ A_RESTORE, "restore", VM_PARETO },
		{ A_AXIS, "axis", VM_PARETO },
		{ A_FILTER, "filter", VM_LAYERS },
		{ A_SORT, "sort", VM_LAYERS },
		{ A_UNDO, "undo", VM_ALL },
		{ A_PARETO, "pareto", VM_ALL },
		{ A_SAVE, "save", VM_ALL },
		{ A_QUIT, "quit", VM_ALL },
	};
	unsigned vm = t->view == V_PARETO ? VM_PARETO : t->detail_open ? VM_DETAIL : VM_LAYERS;
	int x = 0;
	for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
		if (!(hints[i].views & vm))
			continue;
		char k[64];
		keys_of(hints[i].a, vm, k, sizeof k);
		char *sp = strchr(k, ' ');
		if (sp && hints[i].a != A_PREC_NEXT)
			*sp = 0;
		if (hints[i].a == A_PREC_NEXT)
			snprintf(k, sizeof k, "%s%s", tui_g.arrow_l, tui_g.arrow_r);
		int need = tui_width(k) + tui_width(hints[i].label) + 2;
		if (x + need > W)
			break;
		x += tui_putf(y, x, W - x, R_KEY, "%s", k);
		x += tui_putf(y, x, W - x, R_STATUS, " %s ", hints[i].label);
	}
	if (t->filter[0] && x + 12 < W)
		tui_putf(y, x, W - x, R_STATUS, " filter: %s", t->filter);
}

static void draw_box(int y, int x, int h, int w, const char *title)
{
	for (int i = 0; i < h; i++)
		tui_fill(y + i, x, w, R_NORMAL);
	attrset(tui_attr(R_FRAME));
	if (tui_draw_utf8()) {
		for (int i = 1; i < w - 1; i++) {
			mvaddstr(y, x + i, "\u2500");
			mvaddstr(y + h - 1, x + i, "\u2500");
		}
		for (int i = 1; i < h - 1; i++) {
			mvaddstr(y + i, x, "\u2502");
			mvaddstr(y + i, x + w - 1, "\u2502");
		}
		mvaddstr(y, x, "\u250c");
		mvaddstr(y, x + w - 1, "\u2510");
		mvaddstr(y + h - 1, x, "\u2514");
		mvaddstr(y + h - 1, x + w - 1, "\u2518");
	} else {
		mvhline(y, x + 1, '-', w - 2);
		mvhline(y + h - 1, x + 1, '-', w - 2);
		mvvline(y + 1, x, '|', h - 2);
		mvvline(y + 1, x + w - 1, '|', h - 2);
		mvaddch(y, x, '+');
		mvaddch(y, x + w - 1, '+');
		mvaddch(y + h - 1, x, '+');
		mvaddch(y + h - 1, x + w - 1, '+');
	}
	attrset(A_NORMAL);
	if (title)
		tui_putf(y, x + 2, w - 4, R_HEADER, " %s ", title);
}

/* Help lines: group headings and "keys  text" rows. */
static int help_lines(char hl[][160], enum tui_role *roles, int max)
{
	int n = 0;
	const char *group = "";
	for (int a = 1; a < A_COUNT && n < max - 2; a++) {
		if (strcmp(group, action_group[a]) != 0) {
			group = action_group[a];
			if (n)
				roles[n] = R_NORMAL, hl[n++][0] = 0;
			roles[n] = R_HEADER;
			snprintf(hl[n++], 160, "%s", group);
		}
		char k[96];
		keys_of((enum tui_action)a, VM_ALL, k, sizeof k);
		roles[n] = R_NORMAL;
		snprintf(hl[n++], 160, "  %-18s %s", k, action_help[a]);
	}
	if (n < max - 4) {
		roles[n] = R_NORMAL, hl[n++][0] = 0;
		roles[n] = R_HEADER;
		snprintf(hl[n++], 160, "Mouse");
		roles[n] = R_NORMAL;
		snprintf(hl[n++], 160, "  click selects a row or point; double-click opens it; wheel scrolls");
	}
	return n;
}

static void draw_overlay(struct tui *t)
{
	int W = t->cols, H = t->rows;
	if (ov.kind == MODAL_HELP) {
		static char hl[128][160];
		static enum tui_role roles[128];
		int n = help_lines(hl, roles, 128);
		int w = W - 4 < 86 ? W - 4 : 86, h = H - 2;
		if (w < 20 || h < 5)
			return;
		int y0 = 1, x0 = (W - w) / 2;
		draw_box(y0, x0, h, w, "keys  (Esc or ? closes, arrows scroll)");
		int body = h - 2;
		if (ov.help_top > n - body)
			ov.help_top = n - body;
		if (ov.help_top < 0)
			ov.help_top = 0;
		for (int i = 0; i < body && ov.help_top + i < n; i++)
			tui_put(y0 + 1 + i, x0 + 2, w - 4, roles[ov.help_top + i], hl[ov.help_top + i]);
		if (ov.help_top + body < n)
			tui_put(y0 + h - 1, x0 + w - 8, 6, R_HEADER, tui_g.down);
	} else if (ov.kind == MODAL_MENU) {
		int w = 0;
		for (int i = 0; i < ov.n; i++)
			if (tui_width(ov.item[i]) > w)
				w = tui_width(ov.item[i]);
		if (tui_width(ov.title) > w)
			w = tui_width(ov.title);
		w += 6;
		if (w > W - 2)
			w = W - 2;
		int h = ov.n + 2;
		if (h > H - 2)
			h = H - 2;
		int y0 = (H - h) / 2, x0 = (W - w) / 2;
		draw_box(y0, x0, h, w, ov.title);
		int body = h - 2, top = ov.sel >= body ? ov.sel - body + 1 : 0;
		for (int i = 0; i < body && top + i < ov.n; i++) {
			bool s = top + i == ov.sel;
			tui_fill(y0 + 1 + i, x0 + 1, w - 2, s ? R_SELECTED : R_NORMAL);
			tui_putf(y0 + 1 + i, x0 + 2, w - 4, s ? R_SELECTED : R_NORMAL, "%s",
				 ov.item[top + i]);
		}
	} else if (ov.kind == MODAL_PROMPT) {
		int y = H - 1;
		tui_fill(y, 0, W, R_STATUS);
		int x = tui_putf(y, 0, W, R_KEY, " %s ", ov.ptitle);
		x += tui_put(y, x, 1, R_STATUS, " ");
		/* show the end of a long text */
		const char *s = ov.text;
		int avail = W - x - 1;
		while (tui_width(s) > avail && *s) {
			s++;
			while ((*s & 0xc0) == 0x80)
				s++;
		}
		x += tui_put(y, x, avail, R_STATUS, s);
		curs_set(1);
		move(y, x < W ? x : W - 1);
	}
}

static void layout(struct tui *t)
{
	int main_y = HEAD_H, main_h = t->rows - HEAD_H - 1;
	if (t->view == V_PARETO) {
		view_pareto.draw(t, main_y, 0, main_h, t->cols);
		return;
	}
	t->detail_side = t->detail_open && t->cols >= 150;
	if (!t->detail_open) {
		view_layers.draw(t, main_y, 0, main_h, t->cols);
	} else if (t->detail_side) {
		int tw = t->cols * 45 / 100;
		view_layers.draw(t, main_y, 0, main_h, tw);
		attrset(tui_attr(R_FRAME));
		for (int i = 0; i < main_h; i++)
			tui_put(main_y + i, tw, 1, R_FRAME, tui_g.vline);
		attrset(A_NORMAL);
		view_detail.draw(t, main_y, tw + 1, main_h, t->cols - tw - 1);
	} else {
		view_detail.draw(t, main_y, 0, main_h, t->cols);
	}
}

static void draw(struct tui *t)
{
	curs_set(0);
	erase();
	getmaxyx(stdscr, t->rows, t->cols);
	if (t->rows < 10 || t->cols < 40) {
		tui_put(0, 0, t->cols, R_WARN, "qlens: terminal too small");
		tui_putf(1, 0, t->cols, R_NORMAL, "%dx%d, need 40x10 (80x24 for all columns)",
			 t->cols, t->rows);
		refresh();
		return;
	}
	draw_header(t);
	layout(t);
	draw_status(t);
	draw_overlay(t);
	refresh();
}

/* ---- actions ----------------------------------------------------------------------- */

static void start_quit(struct tui *t)
{
	if (!tui_model_dirty(t->m)) {
		quit_now = true;
		return;
	}
	open_menu(MENU_QUIT, "the policy has unsaved changes", 0);
	menu_add("save, then quit");
	menu_add("quit without saving");
	menu_add("cancel");
}

static void global_action(struct tui *t, enum tui_action a)
{
	char msg[512];
	switch (a) {
	case A_QUIT:
		start_quit(t);
		break;
	case A_HELP:
		ov.kind = MODAL_HELP;
		ov.help_top = 0;
		break;
	case A_REDRAW:
		clearok(curscr, TRUE);
		break;
	case A_PARETO:
		t->view = t->view == V_PARETO ? V_LAYERS : V_PARETO;
		if (t->view == V_PARETO) {
			int cur = tui_model_current_point(t->m);
			if (cur >= 0)
				t->pt_sel = cur;
		}
		break;
	case A_BACK:
		if (t->view == V_PARETO)
			t->view = V_LAYERS;
		else if (t->detail_open)
			t->detail_open = false;
		else if (t->filter[0]) {
			t->filter[0] = 0;
			tui_rebuild_order(t);
		}
		break;
	case A_UNDO:
		if (!tui_model_undo(t->m))
			tui_message(t, R_STATUS, "nothing to undo");
		break;
	case A_REDO:
		if (!tui_model_redo(t->m))
			tui_message(t, R_STATUS, "nothing to redo");
		break;
	case A_SAVE:
		open_prompt(PROMPT_SAVE, "save policy to", t->policy_path[0] ? t->policy_path
					   : tui_model_default_path(t->m, "policy"), 0);
		break;
	case A_LOAD:
		open_prompt(PROMPT_LOAD, "load policy from", t->policy_path[0] ? t->policy_path
					   : tui_model_default_path(t->m, "policy"), 0);
		break;
	case A_EXPORT:
		open_menu(MENU_EXPORT, "export the policy as", 0);
		menu_add("QDQ model (.onnx) for ONNX Runtime");
		menu_add("ONNX Runtime quantizer overrides (.json)");
		menu_add("TensorRT trtexec flags (.txt)");
		break;
	case A_CANCEL_JOB:
		tui_model_cancel(t->m);
		tui_message(t, R_STATUS, "cancelled the background work");
		break;
	case A_AUTO: {
		struct tui_auto_status as;
		tui_model_auto_status(t->m, &as);
		if (as.running)
			tui_message(t, R_WARN, "a search is already running (Esc or X cancels it)");
		else
			open_prompt(PROMPT_AUTO, AUTO_PROMPT_TITLE, auto_text, 0);
		break;
	}
	default:
		break;
	}
	(void)msg;
}

static void dispatch(struct tui *t, enum tui_action a)
{
	const struct view_class *v = t->view == V_PARETO ? &view_pareto
				     : t->detail_open && !t->detail_side ? &view_detail : &view_layers;
	if (v->action && v->action(t, a))
		return;
	/* the detail pane beside the table takes its own keys */
	if (t->detail_side && view_detail.action && (a == A_CALIB || a == A_GRAN) &&
	    view_detail.action(t, a))
		return;
	global_action(t, a);
}

static enum tui_action lookup(struct tui *t, int key)
{
	unsigned vm = t->view == V_PARETO ? VM_PARETO : t->detail_open ? VM_DETAIL : VM_LAYERS;
	for (int i = 0; i < tui_n_bindings; i++)
		if (tui_bindings[i].key == key && (tui_bindings[i].views & vm))
			return tui_bindings[i].action;
	return A_NONE;
}

/* ---- overlays' keys --------------------------------------------------------------- */

static const char *const export_kinds[] = { "qdq", "ort", "trt" };

static void menu_accept(struct tui *t)
{
	enum menu_kind k = ov.menu;
	int sel = ov.sel, arg = ov.arg;
	ov.kind = MODAL_NONE;
	if (k == MENU_PREC) {
		struct precision ch[TUI_MAX_CANDS + 1];
		int n = prec_choices(t, ch, TUI_MAX_CANDS + 1);
		if (sel < n)
			tui_model_set(t->m, arg, &ch[sel]);
	} else if (k == MENU_EXPORT) {
		open_prompt(PROMPT_EXPORT, "export to", tui_model_default_path(t->m, export_kinds[sel]),
			    sel);
	} else if (k == MENU_QUIT) {
		if (sel == 0)
			open_prompt(PROMPT_SAVE_QUIT, "save policy to", t->policy_path[0]
				    ? t->policy_path : tui_model_default_path(t->m, "policy"), 0);
		else if (sel == 1)
			quit_now = true;
	}
}

/* "0.5", "2 rel bitops ci", "1% ci": the budget and the search's options.
 * false with the reason in msg. */
static bool parse_auto(const char *text, struct tui_auto_req *r, char *msg, size_t size)
{
	char buf[sizeof auto_text];
	bool have = false;
	*r = (struct tui_auto_req){ 0 };
	snprintf(buf, sizeof buf, "%s", text);
	for (char *save = NULL, *w = strtok_r(buf, " \t,", &save); w;
	     w = strtok_r(NULL, " \t,", &save)) {
		char *end;
		double v = strtod(w, &end);
		if (end != w && (!*end || strcmp(end, "%") == 0)) {
			if (have) {
				snprintf(msg, size, "search: one budget, not '%s' too", w);
				return false;
			}
			if (!isfinite(v) || v < 0 || v > 100) {
				snprintf(msg, size, "search: the budget '%s' must be from 0 to 100", w);
				return false;
			}
			r->max_drop = v;
			if (*end == '%')
				r->relative = true;
			have = true;
		} else if (!strcasecmp(w, "abs") || !strcasecmp(w, "absolute") ||
			   !strcasecmp(w, "points")) {
			r->relative = false;
		} else if (!strcasecmp(w, "rel") || !strcasecmp(w, "relative")) {
			r->relative = true;
		} else if (!strcasecmp(w, "size")) {
			r->bitops = false;
		} else if (!strcasecmp(w, "bitops")) {
			r->bitops = true;
		} else if (!strcasecmp(w, "ci") || !strcasecmp(w, "confidence")) {
			r->confidence = true;
		} else {
			snprintf(msg, size, "search: '%s' is not a budget or one of abs, rel, size, "
				 "bitops, ci", w);
			return false;
		}
	}
	if (!have) {
		snprintf(msg, size, "search: give the budget, the largest top-1 drop allowed "
			 "(e.g. 1 for one point)");
		return false;
	}
	return true;
}

static void prompt_accept(struct tui *t)
{
	char msg[512];
	enum prompt_kind k = ov.prompt;
	ov.kind = MODAL_NONE;
	switch (k) {
	case PROMPT_FILTER:
		break;
	case PROMPT_JUMP: {
		const struct tui_row *rows;
		int n = tui_model_rows(t->m, &rows);
		int64_t num;
		int found = -1;
		if (cli_parse_int(ov.text, 0, INT32_MAX, &num)) {
			for (int i = 0; i < n && found < 0; i++)
				if (rows[i].node == num)
					found = i;
		}
		for (int i = 0; i < n && found < 0; i++)
			if (strcasecmp(rows[i].name, ov.text) == 0)
				found = i;
		for (int i = 0; i < n && found < 0; i++)
			if (ci_contains(rows[i].name, ov.text))
				found = i;
		if (found < 0) {
			tui_message(t, R_ERROR, "no node matches '%s'", ov.text);
			break;
		}
		if (t->filter[0]) {
			t->filter[0] = 0;
			tui_rebuild_order(t);
		}
		t->sel_node = rows[found].node;
		break;
	}
	case PROMPT_SAVE:
	case PROMPT_SAVE_QUIT:
		if (!ov.text[0])
			break;
		if (tui_model_save(t->m, ov.text, msg, sizeof msg)) {
			snprintf(t->policy_path, sizeof t->policy_path, "%s", ov.text);
			tui_message(t, R_PENDING, "%s", msg);
			quit_after_save = k == PROMPT_SAVE_QUIT;
		} else {
			tui_message(t, R_ERROR, "%s", msg);
		}
		break;
	case PROMPT_LOAD:
		if (!ov.text[0])
			break;
		if (tui_model_load(t->m, ov.text, msg, sizeof msg)) {
			snprintf(t->policy_path, sizeof t->policy_path, "%s", ov.text);
			tui_message(t, R_GOOD, "%s", msg);
		} else {
			tui_message(t, R_ERROR, "%s", msg);
		}
		break;
	case PROMPT_EXPORT:
		if (!ov.text[0])
			break;
		if (tui_model_export(t->m, export_kinds[ov.parg], ov.text, msg, sizeof msg))
			tui_message(t, R_PENDING, "%s", msg);
		else
			tui_message(t, R_ERROR, "%s", msg);
		break;
	case PROMPT_AUTO: {
		struct tui_auto_req r;
		if (!parse_auto(ov.text[0] ? ov.text : auto_text, &r, msg, sizeof msg)) {
			tui_message(t, R_ERROR, "%s", msg);
			break;
		}
		if (ov.text[0])
			snprintf(auto_text, sizeof auto_text, "%s", ov.text);
		if (tui_model_auto_start(t->m, &r, msg, sizeof msg))
			tui_message(t, R_PENDING, "%s", msg);
		else
			tui_message(t, R_ERROR, "%s", msg);
		break;
	}
	}
}

static void prompt_changed(struct tui *t)
{
	if (ov.prompt == PROMPT_FILTER) {
		snprintf(t->filter, sizeof t->filter, "%s", ov.text);
		tui_rebuild_order(t);
	}
}

static void modal_key(struct tui *t, int key, bool is_char, wint_t wc)
{
	if (ov.kind == MODAL_HELP) {
		int page = t->rows - 4;
		if (key == KEY_UP || key == 'k')
			ov.help_top--;
		else if (key == KEY_DOWN || key == 'j')
			ov.help_top++;
		else if (key == KEY_PPAGE || key == CTRL('b'))
			ov.help_top -= page;
		else if (key == KEY_NPAGE || key == CTRL('f') || key == ' ')
			ov.help_top += page;
		else if (key == KEY_HOME || key == 'g')
			ov.help_top = 0;
		else if (key == KEY_END || key == 'G')
			ov.help_top = 1000;
		else if (key == CTRL('c'))
			start_quit(t);
		else if (key != KEY_RESIZE && key != KEY_MOUSE)
			ov.kind = MODAL_NONE;
		return;
	}
	if (ov.kind == MODAL_MENU) {
		if (key == KEY_UP || key == 'k')
			ov.sel = ov.sel > 0 ? ov.sel - 1 : ov.n - 1;
		else if (key == KEY_DOWN || key == 'j')
			ov.sel = ov.sel + 1 < ov.n ? ov.sel + 1 : 0;
		else if (key == KEY_HOME || key == 'g')
			ov.sel = 0;
		else if (key == KEY_END || key == 'G')
			ov.sel = ov.n - 1;
		else if (key == '\n' || key == '\r' || key == KEY_ENTER || key == ' ')
			menu_accept(t);
		else if (key == KEY_ESC || key == 'q' || key == CTRL('c'))
			ov.kind = MODAL_NONE;
		else if (ov.menu == MENU_QUIT && (key == 'y' || key == 's')) {
			ov.sel = 0;
			menu_accept(t);
		} else if (ov.menu == MENU_QUIT && key == 'n') {
			ov.sel = 1;
			menu_accept(t);
		} else if (key >= '1' && key <= '9' && key - '1' < ov.n) {
			ov.sel = key - '1';
			menu_accept(t);
		}
		return;
	}
	/* prompt */
	size_t len = strlen(ov.text);
	if (key == '\n' || key == '\r' || key == KEY_ENTER) {
		prompt_accept(t);
	} else if (key == KEY_ESC || key == CTRL('c') || key == CTRL('g')) {
		if (ov.prompt == PROMPT_FILTER) {
			snprintf(t->filter, sizeof t->filter, "%s", ov.before);
			tui_rebuild_order(t);
		}
		ov.kind = MODAL_NONE;
	} else if (key == KEY_BACKSPACE || key == 127 || key == CTRL('h')) {
		while (len > 0) {
			len--;
			if ((ov.text[len] & 0xc0) != 0x80)
				break;
		}
		ov.text[len] = 0;
		prompt_changed(t);
	} else if (key == CTRL('u')) {
		ov.text[0] = 0;
		prompt_changed(t);
	} else if (key == CTRL('w')) {
		while (len > 0 && ov.text[len - 1] == ' ')
			len--;
		while (len > 0 && ov.text[len - 1] != ' ' && ov.text[len - 1] != '/')
			len--;
		ov.text[len] = 0;
		prompt_changed(t);
	} else if (is_char && wc >= 0x20 && wc != 0x7f) {
		char mb[MB_LEN_MAX + 1];
		mbstate_t ps;
		memset(&ps, 0, sizeof ps);
		size_t n = wcrtomb(mb, (wchar_t)wc, &ps);
		if (n != (size_t)-1 && len + n < sizeof ov.text - 1 &&
		    (ov.prompt != PROMPT_FILTER || len + n < sizeof t->filter - 1)) {
			memcpy(ov.text + len, mb, n);
			ov.text[len + n] = 0;
			prompt_changed(t);
		}
	}
}

/* ---- mouse ------------------------------------------------------------------------- */

static double last_click_t;
static int last_click_y = -1, last_click_x = -1;

static void mouse_event(struct tui *t)
{
	MEVENT me;
	if (getmouse(&me) != OK)
		return;
	if (ov.kind == MODAL_HELP) {
		if (me.bstate & BUTTON4_PRESSED)
			ov.help_top -= 3;
		else if (me.bstate & BUTTON5_PRESSED)
			ov.help_top += 3;
		else if (me.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))
			ov.kind = MODAL_NONE;
		return;
	}
	if (ov.kind != MODAL_NONE)
		return;
	int dy = (me.bstate & BUTTON4_PRESSED) ? -1 : (me.bstate & BUTTON5_PRESSED) ? 1 : 0;
	bool press = me.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED);
	if (!dy && !press)
		return;
	bool dbl = false;
	if (press) {
		double tn = now_s();
		dbl = (me.bstate & BUTTON1_DOUBLE_CLICKED) ||
		      (tn - last_click_t < 0.4 && me.y == last_click_y && me.x == last_click_x);
		last_click_t = dbl ? 0 : tn;
		last_click_y = me.y;
		last_click_x = me.x;
	}
	if (t->view == V_PARETO) {
		view_pareto.mouse(t, me.y, me.x, dy, dbl);
		return;
	}
	if (t->detail_open && (t->detail_side ? me.x > t->table_x + t->table_w : true)) {
		view_detail.mouse(t, me.y, me.x, dy, dbl);
		return;
	}
	view_layers.mouse(t, me.y, me.x, dy, dbl);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void handle_key(struct tui *t, int key, bool is_char, wint_t wc)
{
	if (key == KEY_RESIZE) {
		getmaxyx(stdscr, t->rows, t->cols);
		return;
	}
	if (key == KEY_MOUSE) {
		mouse_event(t);
		return;
	}
	if (ov.kind != MODAL_NONE) {
		modal_key(t, key, is_char, wc);
		return;
	}
	if (key == '\r')
		key = '\n';
	enum tui_action a = lookup(t, key);
	if (a == A_FILTER) {
		snprintf(ov.before, sizeof ov.before, "%s", t->filter);
		open_prompt(PROMPT_FILTER, "filter", t->filter, 0);
		return;
	}
	if (a == A_JUMP) {
		open_prompt(PROMPT_JUMP, "jump to node (number or name)", "", 0);
		return;
	}
	/* Esc stops a running search before it closes anything */
	if (a == A_BACK && tui_model_auto_cancel(t->m)) {
		tui_message(t, R_STATUS, "cancelling the search");
		return;
	}
	if (a != A_NONE)
		dispatch(t, a);
}

static int tui_run(const char *path, const struct cli_data *data, int64_t cache_mb)
{
	if (!path)
		path = cli_default_bundle();
	setlocale(LC_ALL, "");
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "qlens: the explorer needs a terminal (see 'qlens --help' for the "
				"headless commands)\n");
		return 1;
	}
	if (pipe(sig_pipe) != 0) {
		perror("qlens: pipe");
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	install_signals();
	enum test_crash crash = test_crash_mode();
	/* the session's worker and the helper thread inherit this mask */
	sigset_t wmask, old;
	worker_sigmask(&wmask);
	pthread_sigmask(SIG_BLOCK, &wmask, &old);
	char err[512];
	struct tui_model *m = tui_model_open(path, data, cache_mb, err, sizeof err);
	if (m && crash == TC_SEGV_THREAD) {
		pthread_t th;
		if (pthread_create(&th, NULL, test_crash_thread, NULL) == 0)
			pthread_detach(th);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m) {
		fprintf(stderr, "qlens: %s\n", err);
		return 1;
	}
	struct tui t;
	memset(&t, 0, sizeof t);
	t.m = m;
	t.sel_node = -1;
	t.sort = SORT_GRAPH;
	term_start(&t);
	tui_rebuild_order(&t);
	draw(&t);
	double crash_at = crash != TC_NONE ? now_s() + 0.5 : 0;

	int rc = 0;
	while (!quit_now) {
		const struct tui_status *st = tui_model_status(m);
		struct pollfd pfd[4] = {
			{ STDIN_FILENO, POLLIN, 0 },
			{ sig_pipe[0], POLLIN, 0 },
		};
		int mfd[2];
		int nm = tui_model_fds(m, mfd);
		for (int i = 0; i < nm; i++)
			pfd[2 + i] = (struct pollfd){ mfd[i], POLLIN, 0 };
		int nfd = 2 + nm;
		int timeout = st->busy ? 200 : 1000;
		int pr = poll(pfd, (nfds_t)nfd, timeout);
		bool dirty = false;
		if (pr < 0 && errno != EINTR) {
			rc = 1;
			break;
		}
		if (crash_at && now_s() >= crash_at)
			test_crash_fire(crash);
		if (got_signal) {
			rc = 128 + got_signal;
			break;
		}
		if (pr > 0 && (pfd[1].revents & POLLIN)) {
			char buf[64];
			while (read(sig_pipe[0], buf, sizeof buf) > 0)
				;
		}
		if (pr > 0 && (pfd[0].revents & (POLLHUP | POLLERR)) && !(pfd[0].revents & POLLIN)) {
			rc = 1; /* the terminal went away */
			break;
		}
		/* keys first: they must never wait behind model news */
		for (int guard = 0; guard < 256; guard++) {
			wint_t wc;
			int r = get_wch(&wc);
			if (r == ERR)
				break;
			int key = r == KEY_CODE_YES ? (int)wc : (wc < 0x80 ? (int)wc : 0x10000);
			handle_key(&t, key, r == OK, wc);
			dirty = true;
			if (quit_now)
				break;
		}
		if (tui_model_poll(m)) {
			tui_rebuild_order(&t);
			dirty = true;
		}
		bool job_ok;
		char job_msg[512];
		if (tui_model_take_result(m, &job_ok, job_msg, sizeof job_msg)) {
			tui_message(&t, job_ok ? R_GOOD : R_ERROR, "%s", job_msg);
			if (quit_after_save && job_ok)
				quit_now = true;
			quit_after_save = false;
			dirty = true;
		}
		enum tui_role auto_role;
		char auto_msg[512];
		if (tui_model_auto_take(m, &auto_role, auto_msg, sizeof auto_msg)) {
			tui_message(&t, auto_role, "%s", auto_msg);
			t.msg_until = now_s() + 30; /* the outcome stays until read */
			dirty = true;
		}
		if (tui_model_tick(m))
			dirty = true;
		if (t.msg[0] && now_s() >= t.msg_until)
			dirty = true;
		if (dirty || pr == 0)
			draw(&t);
	}
	term_restore();
	tui_model_free(m);
	free(t.order);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
	if (rc > 128)
		fprintf(stderr, "qlens: stopped by signal %d\n", rc - 128);
	return rc;
}

int tui_main(const char *path)
{
	return tui_run(path, NULL, 0);
}

int tui_cmd(int argc, char **argv)
{
	static const struct option opts[] = { CLI_DATA_OPTIONS,
					      { "cache-mb", required_argument, NULL, 'm' },
					      { 0 } };
	struct cli_data data = { 0 };
	int64_t cache_mb = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == 'm') {
			if (!cli_parse_int(optarg, 1, CLI_MAX_CACHE_MB, &cache_mb)) {
				fprintf(stderr, "qlens: --cache-mb takes a whole number of MiB from 1 "
						"(see 'qlens --help')\n");
				return EXIT_USAGE;
			}
			continue;
		}
		if (!cli_data_option(c, optarg, &data)) {
			fprintf(stderr, "qlens: %s '%s' (see 'qlens --help')\n",
				c == ':' ? "missing the file after" : "unknown command or option",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "qlens: the explorer takes one bundle or model, not '%s' (see 'qlens "
				"--help')\n", argv[optind + 1]);
		return EXIT_USAGE;
	}
	return tui_run(optind < argc ? argv[optind] : NULL, &data, cache_mb);
}
