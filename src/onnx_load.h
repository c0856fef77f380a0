/*
 * onnx_load.h - read an ONNX model into qlens' graph IR.
 *
 * This is the only module that sees protobuf types: it checks the wire format
 * first (nesting depth, with an iterative scan, so protobuf-c's recursion
 * cannot overflow the stack), unpacks through an allocator with a byte budget,
 * converts the message into a struct graph and frees the message at once.
 * Constant nodes become constants; initializers become constants; external
 * data is read only from regular files inside the model's folder.
 * The result has been through graph_finalize().
 *
 * Errors name the file first: "model.onnx: node 'conv3' (Conv): ...".
 */
#ifndef QLENS_ONNX_LOAD_H
#define QLENS_ONNX_LOAD_H

#include <stddef.h>

#include "graph.h"
#include "status.h"

#define ONNX_MAX_FILE_BYTES ((size_t)2 << 30)	/* 2 GiB model file */
#define ONNX_MAX_DEPTH 64			/* message nesting on the wire */
#define ONNX_ALLOC_BUDGET_FACTOR 16		/* unpack may use this x file size ... */
#define ONNX_ALLOC_BUDGET_MIN ((size_t)64 << 20) /* ... but at least this */

enum status onnx_load_file(const char *path, struct graph **out, struct err *e);

/* Load from memory.  `label` names the source in errors; `base_dir` is the
 * folder external data must live in (NULL: external data is refused). */
enum status onnx_load_buffer(const void *buf, size_t len, const char *label,
			     const char *base_dir, struct graph **out, struct err *e);

/* Read one serialized TensorProto (the input_K.pb / output_K.pb files of ONNX's
 * node tests) into an owned tensor of its own element type.  Only this module
 * sees protobuf types, so test-data reading lives here too (onnx_tensor.c). */
enum status onnx_load_tensor_file(const char *path, struct tensor *out, struct err *e);

#endif
