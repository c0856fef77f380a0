/*
 * status.h - error codes and error messages for every fallible function.
 *
 * Fallible functions return an `enum status` and take a `struct err *` as
 * their last argument.  On failure they fill the err with a one-line message
 * (no trailing newline, no "qlens:" prefix) and return the same code.
 * Callers add context on the way up with err_prefix(): the final message
 * reads like "model.onnx: node 'conv3' (Conv): weight has 3 dims, expected 4".
 * `err` may be NULL: the code is still returned.
 *
 * Messages quote names from untrusted files and are printed to terminals, so
 * err_set() and err_prefix() pass the finished message through text_clean():
 * a message never holds a control character or malformed UTF-8.
 */
#ifndef QLENS_STATUS_H
#define QLENS_STATUS_H

#include <stddef.h>

#define STATUS_LIST(X)                                   \
	X(OK, "ok")                                      \
	X(ERR_IO, "I/O error")                           \
	X(ERR_FORMAT, "malformed input")                 \
	X(ERR_UNSUPPORTED, "unsupported")                \
	X(ERR_NOMEM, "out of memory")                    \
	X(ERR_LIMIT, "limit exceeded")                   \
	X(ERR_SHAPE, "shape mismatch")                   \
	X(ERR_INVALID, "invalid argument")               \
	X(ERR_GRAPH, "invalid graph")                    \
	X(ERR_CANCELLED, "cancelled")

/* curses.h defines OK as (0); ours is 0 as well, so either spelling means the same */
#ifdef OK
#undef OK
#endif
#define STATUS_ENUM_(name, text) name,
enum status { STATUS_LIST(STATUS_ENUM_) STATUS_COUNT };
#undef STATUS_ENUM_

#define ERR_MSG_MAX 512

struct err {
	enum status code;
	char msg[ERR_MSG_MAX];
};

/* Human-readable name of a status code; never NULL. */
const char *status_str(enum status s);

/* Set code and message (printf format); returns code.  e may be NULL. */
enum status err_set(struct err *e, enum status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend printf-formatted context plus ": " to the message.  e may be NULL. */
void err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reset to OK with an empty message. */
void err_clear(struct err *e);

/*
 * Make s safe to print, in place: every byte a terminal could act on becomes
 * '?' - ASCII control characters and DEL, C1 controls (U+0080-U+009F), and
 * bytes that are not well-formed UTF-8 (a lone 0x9b is CSI on 8-bit
 * terminals; overlong forms, surrogates, past U+10FFFF, a sequence cut
 * short).  Each bad byte of a sequence becomes one '?', so s never grows.
 * Returns s.
 */
char *text_clean(char *s);

#endif
