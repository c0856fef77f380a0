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

enum status err_set(struct err *e, enum status code, const char *fmt, ...)
{
	if (!e)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
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
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = OK;
	e->msg[0] = '\0';
}
