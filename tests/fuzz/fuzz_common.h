/*
 * fuzz_common.h - checks shared by the libFuzzer harnesses.
 *
 * Besides "does not crash, leak or hang", every harness checks the error
 * contract of status.h on each refusal: a non-OK status comes with the same
 * code in the err and a non-empty message.  A parser's messages quote names
 * taken from the input and are printed to a terminal, so they must not carry
 * ASCII control characters (escape sequences) either.  A broken contract
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
	for (const char *p = e->msg; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f,
			   "control character 0x%02x at %d in '%s'", (unsigned char)*p,
			   (int)(p - e->msg), e->msg);
}

#endif
