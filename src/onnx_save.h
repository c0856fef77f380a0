/*
 * onnx_save.h - write a modified copy of an ONNX model, and describe a model
 * file briefly, without exposing protobuf types.
 *
 * qlens never builds a model from its own IR: an export reads the original
 * ModelProto again and applies an edit list to it, so everything the IR does
 * not model (names, doc strings, metadata, value_info, other domains, fields
 * of newer ONNX versions that protobuf-c keeps as unknown fields) survives
 * byte for byte.  An edit list says:
 *  - which initializers to add (quantized weights, scales, zero points);
 *  - which nodes to add (QuantizeLinear, DequantizeLinear, Cast) with integer
 *    attributes and where they belong (after the producer of a value, or
 *    just before a node);
 *  - which node inputs to re-point, and which node outputs to rename (a
 *    graph output keeps its name: the node that now produces it is new);
 *  - which initializers to drop once nothing reads them any more;
 *  - the default-domain opset and IR version the result needs at least.
 *    Raising the opset converts the nodes whose interface changed on the way
 *    (axes / split attributes that became inputs at opsets 13 and 18);
 *    models older than opset 11 are refused.
 * Nodes are identified by the name of their first non-empty output, which is
 * unique in a valid model (node names need not be).
 *
 * The result is topologically sorted (stable: untouched nodes keep their
 * order) and written with file_write_atomic.  Errors name the file.
 */
#ifndef QLENS_ONNX_SAVE_H
#define QLENS_ONNX_SAVE_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* A new initializer.  data holds numel elements of dtype in host (little
 * endian) layout; DT_INT4 / DT_UINT4 hold one element per byte and are packed
 * two per byte (low nibble first) when written.  Rank-0 shapes are scalars. */
struct onnx_new_init {
	const char *name;
	enum dtype dtype;
	struct shape shape;
	const void *data;
};

#define ONNX_NEW_NODE_MAX_IN 3
#define ONNX_NEW_NODE_MAX_ATTR 3

struct onnx_int_attr {
	const char *name;
	int64_t value;
};

/* A new default-domain node with one output.  Placement: right after the
 * node producing after_value (at the start of the graph when that value is
 * a graph input or initializer), or right before the node whose first output
 * is before_node; exactly one of the two is set.  The final order is then
 * made topological, so a placement is a wish, never a source of error. */
struct onnx_new_node {
	const char *name;
	const char *op_type;
	int n_inputs;
	const char *inputs[ONNX_NEW_NODE_MAX_IN]; /* "" = omitted optional input */
	const char *output;
	int n_attrs;
	struct onnx_int_attr attrs[ONNX_NEW_NODE_MAX_ATTR];
	const char *after_value;
	const char *before_node;
};

/* Input `input` of the node whose first output is node_output now reads `value`. */
struct onnx_input_edit {
	const char *node_output;
	int input;
	const char *value;
};

/* The node output `value` is renamed to new_name (the graph output `value`
 * is then produced by a new node). */
struct onnx_output_rename {
	const char *value;
	const char *new_name;
};

struct onnx_meta {
	const char *key, *value; /* added, or replacing the value of an existing key */
};

struct onnx_edit {
	int64_t min_opset;	/* default domain; 0 = leave */
	int64_t min_ir_version; /* 0 = leave */
	int n_inits;
	const struct onnx_new_init *inits;
	int n_nodes;
	const struct onnx_new_node *nodes;
	int n_input_edits;
	const struct onnx_input_edit *input_edits;
	int n_renames;
	const struct onnx_output_rename *renames;
	int n_drops; /* initializers (or Constant node outputs) removed when unreferenced */
	const char *const *drops;
	int n_meta;
	const struct onnx_meta *meta;
};

/* Read src, apply ed, write dst atomically.  External data is kept only when
 * dst is in the same folder as src (its locations are relative to it). */
enum status onnx_save_edited(const char *src, const struct onnx_edit *ed, const char *dst,
			     struct err *e);

/* ---- a brief description of a model file (tests, reports) ------------------- */

struct onnx_brief_node {
	char *name, *op_type, *domain;
	int n_inputs, n_outputs;
	char **inputs, **outputs;
	bool has_axis, has_block_size, has_to;
	int64_t axis, block_size, to; /* integer attributes Q/DQ/Cast use */
};

struct onnx_brief_init {
	char *name;
	int dtype; /* ONNX element type id */
	struct shape shape;
	bool external;
};

struct onnx_brief {
	int64_t ir_version, opset; /* opset of the default domain */
	char *producer_name, *graph_name;
	int n_nodes, n_inits, n_inputs, n_outputs, n_meta;
	struct onnx_brief_node *nodes;
	struct onnx_brief_init *inits;
	char **inputs, **outputs;
	char **meta_keys, **meta_values;
};

enum status onnx_brief_file(const char *path, struct onnx_brief *out, struct err *e);
void onnx_brief_fini(struct onnx_brief *b);
/* Index of the node producing `output`, or -1. */
int onnx_brief_find_producer(const struct onnx_brief *b, const char *output);
const struct onnx_brief_init *onnx_brief_find_init(const struct onnx_brief *b, const char *name);
int onnx_brief_count_op(const struct onnx_brief *b, const char *op_type);

#endif
