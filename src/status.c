/*
 * status.c - status names and the err message helpers.
 *
 * Messages are bounded (ERR_MSG_MAX); context added by err_prefix() is kept
 * and the tail of an over-long message is truncated rather than the head,
 * because the head names the file and node, which matter most.
 */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STATUS_STR_(name, text) text,
static const char *const status_names[] = { STATUS_LIST(STATUS_STR_) };
#undef STATUS_STR_
_Static_assert(sizeof status_names / sizeof status_names[0] == STATUS_COUNT,
	       "status name table out of step with STATUS_LIST");

const char *status_str(enum status s)
{
	if ((unsigned)s >= STATUS_COUNT)
		return "unknown status";
	return status_names[s];
}

/* Length of the well-formed, printable UTF-8 sequence at s, or 0. */
static int utf8_ok(const unsigned char *s)
{
	unsigned c = s[0];
	if (c < 0x80)
		return c >= 0x20 && c != 0x7f;
	int n = c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the terminating NUL */
	if (n == 2 && c == 0xc2 && s[1] < 0xa0)
		return 0; /* C1 control */
	if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
		return 0; /* overlong, surrogate */
	if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
		return 0; /* overlong, past U+10FFFF */
	return n;
}

char *text_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		int n = utf8_ok(p);
		if (n) {
			p += n;
		} else {
			*p++ = '?';
		}
	}
	return s;
}

enum status err_set(struct err *e, enum status code, const char *fmt, ...)
{
	if (!e)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	text_clean(e->msg);
	e->code = code;
	return code;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	if (!e)
		return;
	char head[ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* build "head: msg" by hand: truncation here is expected and harmless */
	char joined[ERR_MSG_MAX];
	size_t hl = strlen(head), ml = strlen(e->msg), cap = sizeof joined - 1;
	if (hl > cap)
		hl = cap;
	memcpy(joined, head, hl);
	size_t used = hl;
	for (const char *sep = ": "; *sep && used < cap; sep++)
		joined[used++] = *sep;
	if (ml > cap - used)
		ml = cap - used;
	memcpy(joined + used, e->msg, ml);
	joined[used + ml] = '\0';
	memcpy(e->msg, joined, sizeof joined);
	text_clean(e->msg);
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = OK;
	e->msg[0] = '\0';
}
