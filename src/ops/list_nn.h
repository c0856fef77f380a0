/* Operator rows: convolution, matrix products, pooling, normalization, softmax.
 * X(ENUM, "OnnxName", prefix, min_opset, qkind) - see op.h. */
#define OP_LIST_NN(X)
