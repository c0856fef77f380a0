/*
 * fileio.h - whole-file reads with a size limit, and atomic writes.
 *
 * file_write_atomic writes to a temporary file in the target's folder, fsyncs
 * it, renames it over the target and fsyncs the folder: a crash at any moment
 * leaves either the old file or the new one, never a torn file.  On any error
 * the temporary is removed and the old file is untouched.
 */
#ifndef QLENS_FILEIO_H
#define QLENS_FILEIO_H

#include <stddef.h>

#include "status.h"

/* Read a regular file of at most max_bytes into a malloc'ed buffer (NUL
 * terminated one past *len, for text parsers).  Errors prefixed with path. */
enum status file_read_all(const char *path, size_t max_bytes, void **buf, size_t *len,
			  struct err *e);

/* Atomically replace path with len bytes of data (mode 0644 for a new file,
 * the old mode otherwise).  Errors prefixed with path. */
enum status file_write_atomic(const char *path, const void *data, size_t len, struct err *e);

/* Streaming variant for large outputs: open a temporary, write pieces, then
 * commit (fsync + rename + fsync dir) or abort (unlink). */
struct atomic_file;
enum status atomic_file_open(const char *path, struct atomic_file **out, struct err *e);
enum status atomic_file_write(struct atomic_file *f, const void *data, size_t len, struct err *e);
enum status atomic_file_commit(struct atomic_file *f, struct err *e); /* frees f */
void atomic_file_abort(struct atomic_file *f);			    /* frees f; accepts NULL */

#endif
