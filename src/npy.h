/*
 * npy.h - NumPy .npy arrays (format versions 1.0, 2.0, 3.0).
 *
 * Reading accepts little- and big-endian float32, float64, float16, int64,
 * int32, int8, uint8 and bool in C order (fortran_order True is transposed to
 * C order on read); object, structured and unicode arrays, headers over
 * NPY_MAX_HEADER bytes and data that does not match the shape are refused
 * with a message naming the problem.  The result keeps the file's element
 * type (converted to native endianness).
 *
 * Writing produces version 1.0 (2.0 when the header needs it), C order,
 * little-endian, atomically (see fileio.h).
 */
#ifndef QLENS_NPY_H
#define QLENS_NPY_H

#include <stddef.h>

#include "status.h"
#include "tensor.h"

#define NPY_MAX_HEADER 10000

/* out receives an owned tensor.  Errors are prefixed with the path. */
enum status npy_read(const char *path, struct tensor *out, struct err *e);
/* Same from memory; `label` names the source in errors. */
enum status npy_read_buffer(const void *buf, size_t len, const char *label, struct tensor *out,
			    struct err *e);
enum status npy_write(const char *path, const struct tensor *t, struct err *e);
/* Serialize into a malloc'ed buffer (*buf, *len); caller frees. */
enum status npy_encode(const struct tensor *t, void **buf, size_t *len, struct err *e);

#endif
