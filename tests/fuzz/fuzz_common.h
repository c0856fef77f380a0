/*
 * fuzz_common.h - checks shared by the libFuzzer harnesses.
 *
 * Besides "does not crash, leak or hang", every harness checks the error
 * contract of status.h on each refusal: a non-OK status comes with the same
 * code in the err and a non-empty message.  A parser's messages quote names
 * taken from the input and are printed to a terminal, so they must be
 * printable text: no control characters (escape sequences), no C1 controls,
 * no malformed UTF-8 - exactly what text_clean() leaves unchanged.  A broken contract
 * aborts, which libFuzzer reports as a crash with the input that caused it.
 */
#ifndef QLENS_FUZZ_COMMON_H
#define QLENS_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

/* Abort (a finding) with a message naming the broken property. */
#define FUZZ_CHECK(cond, ...)                                                      \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz check failed: %s: ", #cond);         \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

/* A refusal: status and err agree, and there is a message. */
static inline void fuzz_check_status(enum status st, const struct err *e)
{
	FUZZ_CHECK(st > OK && st < STATUS_COUNT, "status %d", (int)st);
	FUZZ_CHECK(e->code == st, "err code %d, returned %d (%s)", (int)e->code, (int)st, e->msg);
	FUZZ_CHECK(e->msg[0] != '\0', "empty message for %s", status_str(st));
}

/* A parser's refusal: as above, and the message is printable text. */
static inline void fuzz_check_refusal(enum status st, const struct err *e)
{
	fuzz_check_status(st, e);
	char copy[sizeof e->msg];
	memcpy(copy, e->msg, sizeof copy);
	text_clean(copy);
	for (size_t i = 0; e->msg[i]; i++)
		FUZZ_CHECK(copy[i] == e->msg[i], "unprintable byte 0x%02x at %zu in '%s'",
			   (unsigned char)e->msg[i], i, copy);
}

#endif
