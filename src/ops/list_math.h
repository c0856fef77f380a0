/* Operator rows: elementwise arithmetic, activations, comparisons, reductions, Cast.
 * X(ENUM, "OnnxName", prefix, min_opset, qkind) - see op.h. */
#define OP_LIST_MATH(X) \
	X(RELU, "Relu", relu, 1, QK_NONE)
