/*
 * tui_draw.c - drawing primitives of the explorer.
 *
 * Colours are looked up by role (tui.h's TUI_ROLES table): with colours each
 * role is a colour pair plus attributes; without (a monochrome terminal, or
 * NO_COLOR set) each role falls back to plain attributes chosen so that the
 * screen still reads (selected = reverse, bad = bold underline...).
 *
 * Text from models (node names, op types, tensor names) is untrusted: it may
 * hold terminal escapes, control characters, invalid UTF-8 or bidi
 * overrides.  tui_sanitize turns every such byte or code point into '?';
 * in a non-UTF-8 locale every non-ASCII byte too.  tui_put then measures
 * cells with wcwidth and never draws past its width, so a long or wide name
 * cannot spill into the next column.
 *
 * Glyphs (bars, lines, points) come from one of two tables, UTF-8 block
 * characters or ASCII, chosen once from the locale.
 */
#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "tui.h"

struct role_def {
	short fg, bg;
	int attr, mono;
};

#define TUI_ROLE_DEF_(r, fg, bg, a, m) { fg, bg, a, m },
static const struct role_def role_defs[R_COUNT] = { TUI_ROLES(TUI_ROLE_DEF_) };
#undef TUI_ROLE_DEF_

static int role_attr[R_COUNT];
static bool use_utf8;

static const struct tui_glyphs glyphs_utf8 = {
	.hbar = { " ", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589",
		  "\u2588" },
	.vbar = { " ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587",
		  "\u2588" },
	.vline = "\u2502", .hline = "\u2500", .cross = "\u253c", .tee = "\u2514",
	.dot = "\u00b7", .point = "\u25cf", .cur_point = "\u25c6",
	.search_point = "\u25aa", .front_point = "\u2605",
	.arrow_l = "\u25c2", .arrow_r = "\u25b8", .ellipsis = "\u2026", .delta = "\u0394",
	.pm = "\u00b1", .noise = "\u2248", .up = "\u25b2", .down = "\u25bc",
};

static const struct tui_glyphs glyphs_ascii = {
	.hbar = { " ", " ", " ", "-", "-", "=", "=", "#", "#" },
	.vbar = { " ", ".", ".", "_", "-", "=", "=", "#", "#" },
	.vline = "|", .hline = "-", .cross = "+", .tee = "`",
	.dot = ".", .point = "o", .cur_point = "@", .search_point = "s", .front_point = "*",
	.arrow_l = "<", .arrow_r = ">", .ellipsis = "~", .delta = "d",
	.pm = "+-", .noise = "~", .up = "^", .down = "v",
};

struct tui_glyphs tui_g;

void tui_draw_init(bool color, bool utf8)
{
	use_utf8 = utf8;
	tui_g = utf8 ? glyphs_utf8 : glyphs_ascii;
	if (color) {
		start_color();
		use_default_colors();
	}
	for (int r = 0; r < R_COUNT; r++) {
		if (color && COLOR_PAIRS > r + 1) {
			init_pair((short)(r + 1), role_defs[r].fg, role_defs[r].bg);
			role_attr[r] = (int)COLOR_PAIR(r + 1) | role_defs[r].attr;
		} else {
			role_attr[r] = role_defs[r].mono;
		}
	}
}

bool tui_draw_utf8(void) { return use_utf8; }

int tui_attr(enum tui_role r) { return r >= 0 && r < R_COUNT ? role_attr[r] : 0; }

/* Decode one UTF-8 sequence; returns its length (0 at the end) and the code
 * point in *cp, or -1 for an invalid sequence (one byte to skip). */
static int utf8_next(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0];
	if (!c)
		return 0;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	int n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
	if (!n || (c >= 0xf0 && n != 4))
		return -1;
	unsigned v = c & (0x7f >> n);
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		v = (v << 6) | (s[i] & 0x3f);
	}
	/* overlong, surrogates, out of range */
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*cp = v;
	return n;
}

static bool cp_safe(unsigned cp)
{
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		return false;
	/* bidi controls and other invisible format characters */
	if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff || cp == 0x061c)
		return false;
	int w = wcwidth((wchar_t)cp);
	return w >= 1;
}

char *tui_sanitize(const char *in, char *out, size_t size)
{
	size_t o = 0;
	if (!size)
		return out;
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	while (*s && o + 1 < size) {
		unsigned cp = 0;
		int n = utf8_next(s, &cp);
		if (n < 0 || !cp_safe(cp) || (!use_utf8 && cp >= 0x80)) {
			out[o++] = '?';
			s += n < 0 ? 1 : n;
			continue;
		}
		if (o + (size_t)n >= size)
			break;
		memcpy(out + o, s, (size_t)n);
		o += (size_t)n;
		s += n;
	}
	out[o] = 0;
	return out;
}

int tui_width(const char *s)
{
	int w = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned cp = 0;
		int n = utf8_next(p, &cp);
		if (n <= 0) {
			w++;
			p++;
			continue;
		}
		int cw = cp < 0x80 ? 1 : wcwidth((wchar_t)cp);
		w += cw > 0 ? cw : 0;
		p += n;
	}
	return w;
}

int tui_put(int y, int x, int w, enum tui_role r, const char *s)
{
	if (w <= 0 || y < 0 || y >= LINES || x >= COLS || !s)
		return 0;
	if (x + w > COLS)
		w = COLS - x;
	const unsigned char *p = (const unsigned char *)s;
	int used = 0;
	size_t bytes = 0;
	while (p[bytes]) {
		unsigned cp = 0;
		int n = utf8_next(p + bytes, &cp);
		if (n <= 0)
			break; /* callers pass sanitized text: stop at anything odd */
		int cw = cp < 0x80 ? 1 : wcwidth((wchar_t)cp);
		if (cw < 0)
			break;
		if (used + cw > w)
			break;
		used += cw;
		bytes += (size_t)n;
	}
	attrset(tui_attr(r));
	mvaddnstr(y, x, s, (int)bytes);
	attrset(A_NORMAL);
	return used;
}

int tui_putf(int y, int x, int w, enum tui_role r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return tui_put(y, x, w, r, buf);
}

int tui_put_right(int y, int x, int w, enum tui_role r, const char *s)
{
	int sw = tui_width(s);
	if (sw > w)
		return tui_put(y, x, w, r, s);
	return tui_put(y, x + w - sw, sw, r, s);
}

void tui_fill(int y, int x, int w, enum tui_role r)
{
	if (y < 0 || y >= LINES || w <= 0)
		return;
	if (x + w > COLS)
		w = COLS - x;
	attrset(tui_attr(r));
	mvhline(y, x, ' ', w);
	attrset(A_NORMAL);
}

void tui_hbar(int y, int x, int w, double f, enum tui_role on, enum tui_role off)
{
	if (w <= 0)
		return;
	if (!(f >= 0))
		f = 0;
	if (f > 1)
		f = 1;
	int eighths = (int)lround(f * w * 8);
	for (int i = 0; i < w; i++) {
		int e = eighths - i * 8;
		e = e < 0 ? 0 : e > 8 ? 8 : e;
		if (use_utf8)
			tui_put(y, x + i, 1, e ? on : off, e ? tui_g.hbar[e] : " ");
		else
			tui_put(y, x + i, 1, e >= 4 ? on : off, e >= 4 ? "#" : ".");
	}
}

const char *tui_fmt_count(int64_t v, char *buf, size_t size)
{
	double d = (double)v;
	if (v < 1000)
		snprintf(buf, size, "%lld", (long long)v);
	else if (v < 999500)
		snprintf(buf, size, "%.*fk", d < 9950 ? 1 : 0, d / 1e3);
	else if (v < 999500000)
		snprintf(buf, size, "%.*fM", d < 9.95e6 ? 1 : 0, d / 1e6);
	else
		snprintf(buf, size, "%.1fG", d / 1e9);
	return buf;
}

const char *tui_fmt_bytes(int64_t v, char *buf, size_t size)
{
	double d = (double)v;
	if (v < 1024)
		snprintf(buf, size, "%lld B", (long long)v);
	else if (v < 1024 * 1024)
		snprintf(buf, size, "%.1f KiB", d / 1024);
	else if (v < 1024LL * 1024 * 1024)
		snprintf(buf, size, "%.1f MiB", d / (1024 * 1024));
	else
		snprintf(buf, size, "%.2f GiB", d / (1024.0 * 1024 * 1024));
	return buf;
}

const char *tui_fmt_eta(double s, char *buf, size_t size)
{
	if (!(s >= 0) || s > 360000)
		snprintf(buf, size, "--:--");
	else if (s < 3600)
		snprintf(buf, size, "%d:%02d", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
	return buf;
}

enum tui_role tui_heat_role(const struct tui_iso *iso)
{
	if (!iso->valid)
		return R_DIM;
	double d = -iso->delta * 100; /* points lost */
	if (iso->noise || d <= 0.1)
		return R_HEAT0;
	if (d <= 0.5)
		return R_HEAT1;
	if (d <= 2)
		return R_HEAT2;
	if (d <= 10)
		return R_HEAT3;
	return R_HEAT4;
}

enum tui_role tui_prec_role(const struct precision *p)
{
	if (precision_is_fp32(p))
		return R_PREC_FP32;
	const struct qfmt_info *w = qfmt_info(p->wfmt);
	if (w->bits <= 4)
		return R_PREC_LOW;
	return w->is_float ? R_PREC_FLOAT : R_PREC_INT;
}
