/*
 * registry.c - the operator vtable, generated from OP_LIST.
 */
#include <string.h>

#include "op.h"

#define OP_ROW_(e, name, prefix, opset, qk) \
	[OP_##e] = { name, opset, qk, op_##prefix##_prepare, op_##prefix##_run },
const struct op_def op_defs[OP_COUNT] = { OP_LIST(OP_ROW_) };
#undef OP_ROW_

enum op_kind op_lookup(const char *onnx_name)
{
	for (int k = 0; k < OP_COUNT; k++)
		if (strcmp(op_defs[k].onnx_name, onnx_name) == 0)
			return (enum op_kind)k;
	return OP_COUNT;
}

const char *op_name(enum op_kind k)
{
	if ((unsigned)k >= OP_COUNT)
		return "?";
	return op_defs[k].onnx_name;
}
