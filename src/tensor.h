/*
 * tensor.h - element types, shapes and dense tensors.
 *
 * Element type ids are ONNX's TensorProto.DataType values, so a type read
 * from a model or written to one needs no mapping.  Tensors are dense,
 * row-major (C order).  A tensor either owns its data (`owned`, freed by
 * tensor_fini) or borrows it (views into a plan's arena, an initializer,
 * a caller's buffer).
 *
 * Shapes: rank 0..TENSOR_MAX_RANK.  In a graph a dim may be -1 (unknown,
 * e.g. a symbolic batch); a tensor that holds data always has every dim
 * >= 0.  Element counts and byte sizes are checked against overflow by
 * shape_numel_checked(); all later arithmetic may then assume they fit.
 */
#ifndef QLENS_TENSOR_H
#define QLENS_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define TENSOR_MAX_RANK 8
/* No single tensor may exceed this many bytes (guards hostile shapes). */
#define TENSOR_MAX_BYTES ((int64_t)1 << 34)

/* X(enum, onnx id, name, element bytes) - ids are ONNX TensorProto.DataType. */
#define DTYPE_LIST(X)                          \
	X(DT_FLOAT, 1, "float32", 4)           \
	X(DT_UINT8, 2, "uint8", 1)             \
	X(DT_INT8, 3, "int8", 1)               \
	X(DT_UINT16, 4, "uint16", 2)           \
	X(DT_INT16, 5, "int16", 2)             \
	X(DT_INT32, 6, "int32", 4)             \
	X(DT_INT64, 7, "int64", 8)             \
	X(DT_BOOL, 9, "bool", 1)               \
	X(DT_FLOAT16, 10, "float16", 2)        \
	X(DT_DOUBLE, 11, "float64", 8)         \
	X(DT_UINT32, 12, "uint32", 4)          \
	X(DT_UINT64, 13, "uint64", 8)          \
	X(DT_BFLOAT16, 16, "bfloat16", 2)      \
	X(DT_FLOAT8E4M3FN, 17, "float8e4m3fn", 1) \
	X(DT_FLOAT8E5M2, 19, "float8e5m2", 1)  \
	X(DT_UINT4, 21, "uint4", 1)            \
	X(DT_INT4, 22, "int4", 1)

#define DTYPE_ENUM_(e, id, name, size) e = id,
enum dtype { DT_UNDEFINED = 0, DTYPE_LIST(DTYPE_ENUM_) };
#undef DTYPE_ENUM_

/* True for ids in DTYPE_LIST. */
bool dtype_valid(int id);
/* Bytes per element (int4/uint4 report 1: we store them unpacked); 0 if invalid. */
size_t dtype_size(enum dtype t);
/* "float32", "int64", ...; "undefined" / "unknown" otherwise. */
const char *dtype_name(enum dtype t);

struct shape {
	int rank;
	int64_t dim[TENSOR_MAX_RANK];
};

/* Product of dims (1 for rank 0).  -1 if a dim is negative. */
int64_t shape_numel(const struct shape *s);
/* Like shape_numel but fails (ERR_LIMIT) when numel * elem_size overflows
 * or exceeds TENSOR_MAX_BYTES, and ERR_SHAPE on negative dims. */
enum status shape_numel_checked(const struct shape *s, size_t elem_size,
				int64_t *numel, struct err *e);
bool shape_equal(const struct shape *a, const struct shape *b);
/* Writes "[1,3,28,28]" (unknown dims as "?") into buf; returns buf. */
char *shape_str(const struct shape *s, char *buf, size_t size);
struct shape shape_make(int rank, const int64_t *dims);

struct tensor {
	enum dtype dtype;
	struct shape shape;
	void *data;	/* NULL for a tensor that only carries type and shape */
	size_t nbytes;	/* numel * dtype_size */
	bool owned;	/* data is malloc'ed and freed by tensor_fini */
};

/* Allocate zeroed storage for dtype/shape (owned).  ERR_NOMEM / ERR_LIMIT. */
enum status tensor_alloc(struct tensor *t, enum dtype dtype, const struct shape *s,
			 struct err *e);
/* Deep copy (result owned). */
enum status tensor_copy(struct tensor *dst, const struct tensor *src, struct err *e);
/* Borrowing view of data. */
struct tensor tensor_view(enum dtype dtype, const struct shape *s, void *data);
/* Free owned data; leaves t with data NULL.  Accepts NULL. */
void tensor_fini(struct tensor *t);
static inline int64_t tensor_numel(const struct tensor *t) { return shape_numel(&t->shape); }

/* IEEE half / bfloat16 conversions (round to nearest even). */
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);

/* Convert n elements of src_type at src to float32 / from float32.
 * Integer targets saturate and round half to even; bool -> 0/1. */
enum status convert_to_float(float *dst, const void *src, enum dtype src_type, int64_t n,
			     struct err *e);
enum status convert_from_float(void *dst, enum dtype dst_type, const float *src, int64_t n,
			       struct err *e);

#endif
