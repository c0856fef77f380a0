/*
 * onnx_wire.c - iterative pre-flight scan of an ONNX model's protobuf bytes.
 *
 * Why: protobuf-c's unpacker recurses once per nested message with no limit,
 * so a 30 KB file that nests graph attributes a few thousand levels deep
 * overflows the C stack before we ever see a message.  This scan runs first,
 * walks the same bytes with an explicit stack of (end offset, message type)
 * frames, and refuses the file before protobuf-c touches it.
 *
 * How: a protobuf message is a run of (tag, value) pairs; the tag is a varint
 * holding field number << 3 | wire type.  Wire type 0 is a varint, 1 eight
 * bytes, 5 four bytes, 2 a varint length then that many bytes.  A
 * length-delimited field is a sub-message only when the schema says so, so
 * the table below maps (message, field number) to the child message type for
 * every message field of onnx.proto (ONNX 1.12, the file our protobuf-c code
 * is generated from).  Fields not in the table - strings, bytes, packed
 * numbers, fields from newer ONNX versions - are opaque, which is also how
 * protobuf-c treats them (unknown fields are kept as bytes, never parsed).
 */
#include "onnx_wire.h"

#include <stdbool.h>

enum wmsg {
	W_NONE = -1,
	W_MODEL,
	W_GRAPH,
	W_NODE,
	W_ATTR,
	W_VALUE_INFO,
	W_TRAINING,
	W_STRSTR,
	W_TENSOR_ANNOT,
	W_TENSOR,
	W_SEGMENT,
	W_SPARSE,
	W_SHAPE,
	W_DIM,
	W_TYPE,
	W_TYPE_TENSOR,
	W_TYPE_SEQ,
	W_TYPE_MAP,
	W_TYPE_OPT,
	W_TYPE_SPARSE,
	W_OPSET,
	W_FUNCTION,
};

/* The message type held by field `field` of message `m`, W_NONE if opaque. */
static enum wmsg child_type(enum wmsg m, uint32_t field)
{
	switch (m) {
	case W_MODEL:
		switch (field) {
		case 7: return W_GRAPH;
		case 8: return W_OPSET;
		case 14: return W_STRSTR;
		case 20: return W_TRAINING;
		case 25: return W_FUNCTION;
		}
		break;
	case W_GRAPH:
		switch (field) {
		case 1: return W_NODE;
		case 5: return W_TENSOR;
		case 15: return W_SPARSE;
		case 11: case 12: case 13: return W_VALUE_INFO;
		case 14: return W_TENSOR_ANNOT;
		}
		break;
	case W_NODE:
		if (field == 5)
			return W_ATTR;
		break;
	case W_ATTR:
		switch (field) {
		case 5: case 10: return W_TENSOR;
		case 6: case 11: return W_GRAPH;
		case 22: case 23: return W_SPARSE;
		case 14: case 15: return W_TYPE;
		}
		break;
	case W_VALUE_INFO:
		if (field == 2)
			return W_TYPE;
		break;
	case W_TRAINING:
		switch (field) {
		case 1: case 2: return W_GRAPH;
		case 3: case 4: return W_STRSTR;
		}
		break;
	case W_TENSOR_ANNOT:
		if (field == 2)
			return W_STRSTR;
		break;
	case W_TENSOR:
		if (field == 3)
			return W_SEGMENT;
		if (field == 13)
			return W_STRSTR;
		break;
	case W_SPARSE:
		if (field == 1 || field == 2)
			return W_TENSOR;
		break;
	case W_SHAPE:
		if (field == 1)
			return W_DIM;
		break;
	case W_TYPE:
		switch (field) {
		case 1: return W_TYPE_TENSOR;
		case 4: return W_TYPE_SEQ;
		case 5: return W_TYPE_MAP;
		case 8: return W_TYPE_SPARSE;
		case 9: return W_TYPE_OPT;
		}
		break;
	case W_TYPE_TENSOR:
	case W_TYPE_SPARSE:
		if (field == 2)
			return W_SHAPE;
		break;
	case W_TYPE_SEQ:
	case W_TYPE_OPT:
		if (field == 1)
			return W_TYPE;
		break;
	case W_TYPE_MAP:
		if (field == 2)
			return W_TYPE;
		break;
	case W_FUNCTION:
		if (field == 7)
			return W_NODE;
		if (field == 9)
			return W_OPSET;
		break;
	case W_STRSTR:
	case W_SEGMENT:
	case W_DIM:
	case W_OPSET:
	case W_NONE:
		break;
	}
	return W_NONE;
}

/* Read a varint of at most 10 bytes from [*pos, end); false when it is
 * truncated or does not fit in 64 bits. */
static bool read_varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *out)
{
	uint64_t v = 0;
	size_t p = *pos;
	for (int i = 0; i < 10; i++) {
		if (p >= end)
			return false;
		uint8_t b = buf[p++];
		if (i == 9 && b > 1)
			return false; /* bits beyond 64 */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pos = p;
			*out = v;
			return true;
		}
	}
	return false;
}

struct frame {
	size_t end;
	enum wmsg type;
};

enum status onnx_wire_check(const uint8_t *buf, size_t len, int max_depth, struct err *e)
{
	struct frame stack[ONNX_WIRE_DEPTH_CAP];
	if (max_depth < 1 || max_depth > ONNX_WIRE_DEPTH_CAP)
		return err_set(e, ERR_INVALID, "nesting limit %d out of range", max_depth);
	int top = 0;
	stack[0] = (struct frame){ .end = len, .type = W_MODEL };
	size_t pos = 0;
	for (;;) {
		while (pos == stack[top].end) {
			if (top == 0)
				return OK;
			top--;
		}
		size_t end = stack[top].end;
		size_t at = pos;
		uint64_t tag;
		if (!read_varint(buf, &pos, end, &tag))
			return err_set(e, ERR_FORMAT, "byte %zu: malformed or truncated field tag", at);
		if (tag > UINT32_MAX || (tag >> 3) == 0)
			return err_set(e, ERR_FORMAT, "byte %zu: invalid field number", at);
		uint32_t field = (uint32_t)(tag >> 3);
		unsigned wt = (unsigned)(tag & 7);
		uint64_t v;
		switch (wt) {
		case 0:
			if (!read_varint(buf, &pos, end, &v))
				return err_set(e, ERR_FORMAT,
					       "byte %zu: field %u: malformed or truncated varint",
					       at, field);
			break;
		case 1:
		case 5: {
			size_t n = wt == 1 ? 8 : 4;
			if (end - pos < n)
				return err_set(e, ERR_FORMAT,
					       "byte %zu: field %u: truncated %zu-byte value", at,
					       field, n);
			pos += n;
			break;
		}
		case 2: {
			if (!read_varint(buf, &pos, end, &v))
				return err_set(e, ERR_FORMAT,
					       "byte %zu: field %u: malformed or truncated length",
					       at, field);
			if (v > end - pos)
				return err_set(e, ERR_FORMAT,
					       "byte %zu: field %u: length %llu runs past the end of "
					       "its message", at, field, (unsigned long long)v);
			enum wmsg child = child_type(stack[top].type, field);
			if (child == W_NONE) {
				pos += (size_t)v;
				break;
			}
			if (top + 2 > max_depth)
				return err_set(e, ERR_LIMIT,
					       "byte %zu: messages are nested more than %d deep", at,
					       max_depth);
			stack[++top] = (struct frame){ .end = pos + (size_t)v, .type = child };
			break;
		}
		case 3:
		case 4:
			return err_set(e, ERR_FORMAT,
				       "byte %zu: field %u: protobuf groups (wire type %u) are not "
				       "supported", at, field, wt);
		default:
			return err_set(e, ERR_FORMAT, "byte %zu: field %u: invalid wire type %u", at,
				       field, wt);
		}
	}
}
