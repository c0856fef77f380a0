/*
 * sha256.h - SHA-256 (FIPS 180-4) for content keys.
 *
 * The result cache of a sweep is keyed by the bytes of the model and the data
 * files, so a changed file - not a changed timestamp - invalidates results.
 * Streaming interface (init / update / final) plus a helper that hashes a
 * whole file in bounded memory and can be cancelled between blocks.
 *
 * Thread-safety: a struct sha256 is plain caller-owned state; distinct
 * contexts may be used from distinct threads.
 */
#ifndef QLENS_SHA256_H
#define QLENS_SHA256_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define SHA256_BYTES 32
#define SHA256_HEX 65 /* 64 hex digits and a NUL */

struct sha256 {
	uint32_t h[8];
	uint64_t bytes; /* message length so far */
	unsigned char buf[64];
	size_t fill;	/* bytes waiting in buf */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Finish and write the digest; s must be re-initialised before reuse. */
void sha256_final(struct sha256 *s, unsigned char out[SHA256_BYTES]);
/* Lower-case hex of a digest into out[SHA256_HEX]; returns out. */
char *sha256_hex(const unsigned char d[SHA256_BYTES], char out[SHA256_HEX]);
/* One-shot digest of a buffer, as hex. */
void sha256_hex_of(const void *data, size_t len, char out[SHA256_HEX]);

/* Feed the bytes of the file at path into s (1 MiB at a time).  cancel (may
 * be NULL) is polled between blocks: ERR_CANCELLED.  Errors name the path. */
enum status sha256_file(struct sha256 *s, const char *path, const _Atomic bool *cancel,
			struct err *e);

#endif
