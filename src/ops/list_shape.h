/* Operator rows: shape and data movement.
 * X(ENUM, "OnnxName", prefix, min_opset, qkind) - see op.h. */
#define OP_LIST_SHAPE(X) \
	X(IDENTITY, "Identity", identity, 1, QK_NONE) \
	X(RESHAPE, "Reshape", reshape, 1, QK_NONE) \
	X(FLATTEN, "Flatten", flatten, 1, QK_NONE) \
	X(SQUEEZE, "Squeeze", squeeze, 1, QK_NONE) \
	X(UNSQUEEZE, "Unsqueeze", unsqueeze, 1, QK_NONE) \
	X(SHAPE, "Shape", shape, 1, QK_NONE) \
	X(SIZE, "Size", size, 1, QK_NONE) \
	X(DROPOUT, "Dropout", dropout, 1, QK_NONE) \
	X(EXPAND, "Expand", expand, 8, QK_NONE) \
	X(CONSTANT_OF_SHAPE, "ConstantOfShape", constantofshape, 9, QK_NONE) \
	X(RANGE, "Range", range, 11, QK_NONE) \
	X(TRANSPOSE, "Transpose", transpose, 1, QK_NONE) \
	X(CONCAT, "Concat", concat, 1, QK_ACT) \
	X(SPLIT, "Split", split, 1, QK_NONE) \
	X(SLICE, "Slice", slice, 1, QK_NONE) \
	X(GATHER, "Gather", gather, 1, QK_NONE) \
	X(GATHER_ELEMENTS, "GatherElements", gatherelements, 11, QK_NONE) \
	X(TILE, "Tile", tile, 6, QK_NONE) \
	X(PAD, "Pad", pad, 1, QK_NONE) \
	X(RESIZE, "Resize", resize, 10, QK_NONE) \
	X(UPSAMPLE, "Upsample", upsample, 7, QK_NONE)
