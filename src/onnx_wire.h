/*
 * onnx_wire.h - internal to the loader: a pre-flight scan of an ONNX
 * ModelProto's protobuf wire format.
 *
 * onnx_wire_check() walks the bytes iteratively (explicit stack, no
 * recursion) and refuses what protobuf-c would either choke on or recurse
 * into without a bound: malformed or overlong varints, fields that run past
 * their enclosing message, wire types other than 0, 1, 2 and 5, and
 * sub-messages nested deeper than max_depth (the ModelProto itself is depth 1).
 * It knows which field numbers of which ONNX message hold sub-messages (taken
 * from onnx.proto, the same file protobuf-c's code is generated from); every
 * other length-delimited field is opaque bytes, exactly as protobuf-c treats
 * it.  Errors are plain text ("byte 1234: ..."), without the file label.
 */
#ifndef QLENS_ONNX_WIRE_H
#define QLENS_ONNX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* ERR_FORMAT for malformed wire data, ERR_LIMIT for nesting deeper than
 * max_depth (which must be <= ONNX_WIRE_DEPTH_CAP). */
#define ONNX_WIRE_DEPTH_CAP 1024
enum status onnx_wire_check(const uint8_t *buf, size_t len, int max_depth, struct err *e);

#endif
