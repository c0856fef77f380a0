/* Operator rows: shape and data movement.
 * X(ENUM, "OnnxName", prefix, min_opset, qkind) - see op.h. */
#define OP_LIST_SHAPE(X) \
	X(IDENTITY, "Identity", identity, 1, QK_NONE)
