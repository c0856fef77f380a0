/*
 * keylat.c - how fast the explorer answers a cursor key while a sweep runs.
 *
 * usage: keylat QLENS BUNDLE [-n KEYS] [-p P95_BOUND_MS]
 *
 * Runs the real program in a pseudo-terminal (forkpty, 100x24, TERM
 * xterm-256color, a fresh result cache so the sweep really runs), and keeps a
 * small terminal emulator of its screen: enough of the xterm sequences
 * ncurses sends (cursor addressing, erases, scroll regions, insert/delete,
 * repeat) to know each cell's text.  Once the progress line shows the sweep
 * (local SQNR or isolate), it sends KEYS cursor keys (Down, Up at the end of
 * the table) with irregular gaps, and times each from the write to the moment
 * the screen shows the moved selection: the table's column head reads
 * "node I/N" when the table is longer than the screen, so the key has been
 * handled and drawn when I changed.  It prints p50/p95/max and fails when a
 * key is not answered within 5 s, when the p95 exceeds the bound (default
 * 250 ms: generous, so a loaded CI machine does not make it flaky; the target
 * is 50 ms), or when fewer than half the keys fell inside the sweep.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROWS 24
#define COLS 100

/* ---- a minimal terminal: cells of UTF-8 text ----------------------------------- */

struct vt {
	char cell[ROWS][COLS][5];
	int cy, cx, top, bot; /* cursor, scroll region (inclusive) */
	int sy, sx;	      /* saved cursor */
	bool wrap;	      /* a character was written in the last column */
	char last[5];	      /* last printed character (REP) */
	/* parser */
	int state; /* 0 ground, 1 ESC, 2 CSI, 3 ESC + one more byte, 4 OSC */
	char csi[64];
	int csi_n;
	char utf[5];
	int utf_n, utf_need;
};

static void vt_clear_cells(struct vt *v, int y, int x0, int x1)
{
	for (int x = x0; x < x1 && x < COLS; x++)
		strcpy(v->cell[y][x], " ");
}

static void vt_reset(struct vt *v)
{
	memset(v, 0, sizeof *v);
	for (int y = 0; y < ROWS; y++)
		vt_clear_cells(v, y, 0, COLS);
	v->bot = ROWS - 1;
	strcpy(v->last, " ");
}

static void vt_scroll_up(struct vt *v, int top, int bot, int n)
{
	for (int i = 0; i < n; i++) {
		for (int y = top; y < bot; y++)
			memcpy(v->cell[y], v->cell[y + 1], sizeof v->cell[y]);
		vt_clear_cells(v, bot, 0, COLS);
	}
}

static void vt_scroll_down(struct vt *v, int top, int bot, int n)
{
	for (int i = 0; i < n; i++) {
		for (int y = bot; y > top; y--)
			memcpy(v->cell[y], v->cell[y - 1], sizeof v->cell[y]);
		vt_clear_cells(v, top, 0, COLS);
	}
}

static void vt_linefeed(struct vt *v)
{
	if (v->cy == v->bot)
		vt_scroll_up(v, v->top, v->bot, 1);
	else if (v->cy < ROWS - 1)
		v->cy++;
}

static int clampi(int a, int lo, int hi) { return a < lo ? lo : a > hi ? hi : a; }

static void vt_put(struct vt *v, const char *in)
{
	char ch[5]; /* in may be v->last (REP) */
	snprintf(ch, sizeof ch, "%s", in);
	if (v->wrap) {
		v->cx = 0;
		vt_linefeed(v);
		v->wrap = false;
	}
	snprintf(v->cell[v->cy][v->cx], 5, "%s", ch);
	snprintf(v->last, sizeof v->last, "%s", ch);
	if (v->cx == COLS - 1)
		v->wrap = true;
	else
		v->cx++;
}

static void vt_csi(struct vt *v, char final)
{
	int p[8] = { 0 }, np = 0;
	bool priv = v->csi[0] == '?' || v->csi[0] == '>' || v->csi[0] == '=';
	for (const char *s = v->csi + (priv ? 1 : 0); *s && np < 8;) {
		p[np] = atoi(s);
		np++;
		while (*s && *s != ';')
			s++;
		if (*s == ';')
			s++;
	}
	if (priv)
		return; /* modes: nothing to draw */
	int n = p[0] ? p[0] : 1;
	v->wrap = false;
	switch (final) {
	case 'H':
	case 'f':
		v->cy = clampi((np > 0 && p[0] ? p[0] : 1) - 1, 0, ROWS - 1);
		v->cx = clampi((np > 1 && p[1] ? p[1] : 1) - 1, 0, COLS - 1);
		break;
	case 'A': v->cy = clampi(v->cy - n, 0, ROWS - 1); break;
	case 'B': v->cy = clampi(v->cy + n, 0, ROWS - 1); break;
	case 'C': v->cx = clampi(v->cx + n, 0, COLS - 1); break;
	case 'D': v->cx = clampi(v->cx - n, 0, COLS - 1); break;
	case 'G':
	case '`': v->cx = clampi(n - 1, 0, COLS - 1); break;
	case 'd': v->cy = clampi(n - 1, 0, ROWS - 1); break;
	case 'K':
		if (p[0] == 0)
			vt_clear_cells(v, v->cy, v->cx, COLS);
		else if (p[0] == 1)
			vt_clear_cells(v, v->cy, 0, v->cx + 1);
		else
			vt_clear_cells(v, v->cy, 0, COLS);
		break;
	case 'J':
		if (p[0] == 0) {
			vt_clear_cells(v, v->cy, v->cx, COLS);
			for (int y = v->cy + 1; y < ROWS; y++)
				vt_clear_cells(v, y, 0, COLS);
		} else if (p[0] == 1) {
			for (int y = 0; y < v->cy; y++)
				vt_clear_cells(v, y, 0, COLS);
			vt_clear_cells(v, v->cy, 0, v->cx + 1);
		} else {
			for (int y = 0; y < ROWS; y++)
				vt_clear_cells(v, y, 0, COLS);
		}
		break;
	case 'X': vt_clear_cells(v, v->cy, v->cx, v->cx + n); break;
	case '@':
		for (int x = COLS - 1; x >= v->cx + n; x--)
			memcpy(v->cell[v->cy][x], v->cell[v->cy][x - n], 5);
		vt_clear_cells(v, v->cy, v->cx, v->cx + n);
		break;
	case 'P':
		for (int x = v->cx; x < COLS; x++) {
			if (x + n < COLS)
				memcpy(v->cell[v->cy][x], v->cell[v->cy][x + n], 5);
			else
				strcpy(v->cell[v->cy][x], " ");
		}
		break;
	case 'L':
		if (v->cy >= v->top && v->cy <= v->bot)
			vt_scroll_down(v, v->cy, v->bot, n);
		break;
	case 'M':
		if (v->cy >= v->top && v->cy <= v->bot)
			vt_scroll_up(v, v->cy, v->bot, n);
		break;
	case 'S': vt_scroll_up(v, v->top, v->bot, n); break;
	case 'T': vt_scroll_down(v, v->top, v->bot, n); break;
	case 'b':
		for (int i = 0; i < n; i++)
			vt_put(v, v->last);
		break;
	case 'r':
		v->top = clampi((np > 0 && p[0] ? p[0] : 1) - 1, 0, ROWS - 1);
		v->bot = clampi((np > 1 && p[1] ? p[1] : ROWS) - 1, 0, ROWS - 1);
		if (v->top >= v->bot) {
			v->top = 0;
			v->bot = ROWS - 1;
		}
		v->cy = v->cx = 0;
		break;
	default: break; /* SGR and the rest change no text */
	}
}

static void vt_feed(struct vt *v, const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = buf[i];
		if (v->state == 1) {
			v->state = 0;
			if (c == '[') {
				v->state = 2;
				v->csi_n = 0;
			} else if (c == ']') {
				v->state = 4;
			} else if (c == '(' || c == ')' || c == '*' || c == '+' || c == '#') {
				v->state = 3;
			} else if (c == '7') {
				v->sy = v->cy;
				v->sx = v->cx;
			} else if (c == '8') {
				v->cy = v->sy;
				v->cx = v->sx;
			} else if (c == 'M') {
				if (v->cy == v->top)
					vt_scroll_down(v, v->top, v->bot, 1);
				else if (v->cy > 0)
					v->cy--;
			} else if (c == 'D') {
				vt_linefeed(v);
			} else if (c == 'E') {
				v->cx = 0;
				vt_linefeed(v);
			} else if (c == 'c') {
				vt_reset(v);
			}
			continue;
		}
		if (v->state == 3) {
			v->state = 0;
			continue;
		}
		if (v->state == 4) { /* OSC: up to BEL or ST */
			if (c == 7 || c == '\\')
				v->state = 0;
			continue;
		}
		if (v->state == 2) {
			if (c >= 0x40 && c <= 0x7e) {
				v->csi[v->csi_n] = 0;
				vt_csi(v, (char)c);
				v->state = 0;
			} else if (v->csi_n < (int)sizeof v->csi - 1) {
				v->csi[v->csi_n++] = (char)c;
			}
			continue;
		}
		if (v->utf_need) {
			if ((c & 0xc0) == 0x80) {
				v->utf[v->utf_n++] = (char)c;
				if (--v->utf_need == 0) {
					v->utf[v->utf_n] = 0;
					vt_put(v, v->utf);
				}
				continue;
			}
			v->utf_need = 0;
		}
		if (c == 27) {
			v->state = 1;
		} else if (c == '\r') {
			v->cx = 0;
			v->wrap = false;
		} else if (c == '\n' || c == 11 || c == 12) {
			v->wrap = false;
			vt_linefeed(v);
		} else if (c == '\b') {
			if (v->cx > 0)
				v->cx--;
			v->wrap = false;
		} else if (c == '\t') {
			v->cx = clampi((v->cx / 8 + 1) * 8, 0, COLS - 1);
		} else if (c < 0x20 || c == 0x7f) {
			/* BEL, SO, SI, CAN...: no text */
		} else if (c < 0x80) {
			char s[2] = { (char)c, 0 };
			vt_put(v, s);
		} else if ((c & 0xe0) == 0xc0 || (c & 0xf0) == 0xe0 || (c & 0xf8) == 0xf0) {
			v->utf[0] = (char)c;
			v->utf_n = 1;
			v->utf_need = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : 3;
		}
	}
}

static void vt_line(const struct vt *v, int y, char *out, size_t size)
{
	size_t o = 0;
	for (int x = 0; x < COLS; x++) {
		size_t n = strlen(v->cell[y][x]);
		if (o + n + 1 > size)
			break;
		memcpy(out + o, v->cell[y][x], n);
		o += n;
	}
	out[o] = 0;
}

/* ---- the program in a pseudo-terminal --------------------------------------------- */

static struct vt vt;
static int master = -1;
static pid_t child = -1;
static bool child_gone;
static int child_status;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Read what the program wrote for up to ms (less when it ends); true when
 * anything arrived. */
static bool pump(double ms)
{
	bool got = false;
	double end = now_ms() + ms;
	for (;;) {
		double left = end - now_ms();
		if (left < 0)
			left = 0;
		struct pollfd pfd = { master, POLLIN, 0 };
		int r = poll(&pfd, 1, (int)(left + 0.999));
		if (r > 0 && (pfd.revents & POLLIN)) {
			unsigned char buf[65536];
			ssize_t n = read(master, buf, sizeof buf);
			if (n > 0) {
				vt_feed(&vt, buf, (size_t)n);
				got = true;
				continue; /* drain without waiting */
			}
		}
		if (r > 0 && (pfd.revents & (POLLHUP | POLLERR))) {
			child_gone = true;
			return got;
		}
		if (r < 0 && errno != EINTR)
			return got;
		if (r == 0 || left <= 0)
			return got;
	}
}

static bool line_has(int y, const char *needle)
{
	char l[COLS * 5 + 1];
	vt_line(&vt, y, l, sizeof l);
	return strstr(l, needle) != NULL;
}

static bool screen_has(const char *needle)
{
	for (int y = 0; y < ROWS; y++)
		if (line_has(y, needle))
			return true;
	return false;
}

/* The selection shown in the column head: "node I/N"; false when absent. */
static bool selection(int *i, int *n)
{
	char l[COLS * 5 + 1];
	vt_line(&vt, 4, l, sizeof l);
	const char *s = strstr(l, "node ");
	return s && sscanf(s, "node %d/%d", i, n) == 2;
}

static bool sweep_running(void)
{
	return line_has(3, "local SQNR") || line_has(3, "isolate ");
}

static bool wait_until(bool (*pred)(void), double ms)
{
	double end = now_ms() + ms;
	while (now_ms() < end && !child_gone) {
		if (pred())
			return true;
		pump(20);
	}
	return pred();
}

static bool drawn(void) { return screen_has("qlens") && screen_has("FP32") && screen_has("node"); }

static void dump_screen(void)
{
	char l[COLS * 5 + 1];
	fprintf(stderr, "---- screen ----\n");
	for (int y = 0; y < ROWS; y++) {
		vt_line(&vt, y, l, sizeof l);
		fprintf(stderr, "%s\n", l);
	}
	fprintf(stderr, "----------------\n");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *s, int n, double p)
{
	int k = (int)(p * (n - 1) + 0.5);
	return s[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void finish_child(void)
{
	if (child <= 0)
		return;
	for (int i = 0; i < 500; i++) {
		pid_t w = waitpid(child, &child_status, WNOHANG);
		if (w < 0 && errno != EINTR) {
			perror("keylat: waitpid");
			break;
		}
		if (w == child) {
			child = -1;
			return;
		}
		if (child_gone) { /* the terminal closed: the process is ending */
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		} else {
			pump(20);
		}
	}
	kill(child, SIGKILL);
	waitpid(child, &child_status, 0);
	child = -1;
	child_status = -1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: keylat QLENS BUNDLE [-n KEYS] [-p P95_BOUND_MS]\n");
		return 2;
	}
	int n_keys = 40;
	double bound = 250;
	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-n") == 0)
			n_keys = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-p") == 0)
			bound = atof(argv[i + 1]);
	}
	if (n_keys < 1 || n_keys > 10000 || bound <= 0) {
		fprintf(stderr, "keylat: bad -n or -p\n");
		return 2;
	}
	char cache[] = "/tmp/qlens-keylat.XXXXXX";
	if (!mkdtemp(cache)) {
		perror("keylat: mkdtemp");
		return 1;
	}
	vt_reset(&vt);
	struct winsize ws = { .ws_row = ROWS, .ws_col = COLS };
	child = forkpty(&master, NULL, NULL, &ws);
	if (child < 0) {
		perror("keylat: forkpty");
		return 1;
	}
	if (child == 0) {
		setenv("TERM", "xterm-256color", 1);
		setenv("LANG", "C.UTF-8", 1);
		unsetenv("LC_ALL");
		setenv("XDG_CACHE_HOME", cache, 1);
		unsetenv("QLENS_TEST_CRASH");
		execl(argv[1], argv[1], argv[2], (char *)NULL);
		_exit(127);
	}
	int rc = 1;
	double *lat = calloc((size_t)n_keys, sizeof *lat);
	int answered = 0, in_sweep = 0;
	if (!lat)
		goto out;
	if (!wait_until(drawn, 10000)) {
		fprintf(stderr, "keylat: the explorer did not draw within 10 s\n");
		dump_screen();
		goto out;
	}
	if (!wait_until(sweep_running, 120000)) {
		fprintf(stderr, "keylat: no sweep seen on the progress line within 120 s\n");
		dump_screen();
		goto out;
	}
	int dir = 1;
	for (int k = 0; k < n_keys; k++) {
		pump(40 + (k * 37) % 90); /* irregular gaps: sample every phase */
		int cur, total;
		if (!selection(&cur, &total)) {
			fprintf(stderr, "keylat: no 'node I/N' in the column head\n");
			dump_screen();
			goto out;
		}
		if (cur >= total)
			dir = -1;
		else if (cur <= 1)
			dir = 1;
		int want = cur + dir;
		bool sweeping = sweep_running();
		const char *key = dir > 0 ? "\033OB" : "\033OA"; /* keypad mode arrows */
		double t0 = now_ms();
		if (write(master, key, strlen(key)) != (ssize_t)strlen(key)) {
			perror("keylat: write");
			goto out;
		}
		int i = cur;
		while (now_ms() - t0 < 5000 && !child_gone) {
			pump(2);
			if (selection(&i, &total) && i == want)
				break;
		}
		if (i != want) {
			fprintf(stderr, "keylat: key %d not answered within 5 s (selection %d, want %d)\n",
				k, i, want);
			dump_screen();
			goto out;
		}
		lat[answered++] = now_ms() - t0;
		in_sweep += sweeping;
	}
	if (write(master, "q", 1) != 1)
		perror("keylat: write");
	double tq = now_ms();
	finish_child();
	printf("keylat: the explorer exited %.0f ms after q\n", now_ms() - tq);
	qsort(lat, (size_t)answered, sizeof *lat, cmp_dbl);
	double p50 = pct(lat, answered, 0.5), p95 = pct(lat, answered, 0.95);
	printf("keylat: %d cursor keys, %d during the sweep: p50 %.1f ms, p95 %.1f ms, max %.1f ms "
	       "(bound on p95: %.0f ms)\n", answered, in_sweep, p50, p95, lat[answered - 1], bound);
	rc = 0;
	if (p95 > bound) {
		printf("keylat: FAIL p95 %.1f ms exceeds %.0f ms\n", p95, bound);
		rc = 1;
	}
	if (in_sweep * 2 < answered) {
		printf("keylat: FAIL only %d of %d keys fell inside the sweep\n", in_sweep, answered);
		rc = 1;
	}
	if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0) {
		printf("keylat: FAIL the explorer did not quit cleanly on q (status %d)\n", child_status);
		rc = 1;
	}
out:
	if (child > 0) {
		kill(child, SIGTERM);
		finish_child();
	}
	free(lat);
	nftw(cache, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
