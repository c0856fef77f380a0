/* Operator rows: convolution, matrix products, pooling, normalization, softmax.
 * X(ENUM, "OnnxName", prefix, min_opset, qkind) - see op.h. */
#define OP_LIST_NN(X)                                                          \
	X(CONV, "Conv", conv, 1, QK_WEIGHT)                                    \
	X(CONV_TRANSPOSE, "ConvTranspose", convtranspose, 1, QK_WEIGHT)        \
	X(GEMM, "Gemm", gemm, 1, QK_WEIGHT)                                    \
	X(MATMUL, "MatMul", matmul, 1, QK_WEIGHT)                              \
	X(MAXPOOL, "MaxPool", maxpool, 1, QK_ACT)                              \
	X(AVGPOOL, "AveragePool", avgpool, 1, QK_ACT)                          \
	X(GLOBAL_AVGPOOL, "GlobalAveragePool", globalavgpool, 1, QK_ACT)       \
	X(GLOBAL_MAXPOOL, "GlobalMaxPool", globalmaxpool, 1, QK_ACT)           \
	X(BATCHNORM, "BatchNormalization", batchnorm, 1, QK_NONE)              \
	X(LAYERNORM, "LayerNormalization", layernorm, 17, QK_NONE)             \
	X(INSTANCENORM, "InstanceNormalization", instancenorm, 1, QK_NONE)     \
	X(SOFTMAX, "Softmax", softmax, 1, QK_NONE)                             \
	X(LOGSOFTMAX, "LogSoftmax", logsoftmax, 1, QK_NONE)
