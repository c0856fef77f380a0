/*
 * onnx_tensor.c - a single serialized TensorProto file into a tensor.
 *
 * ONNX's node tests store each input and expected output as one TensorProto
 * message.  This reads one such file (size-limited), unpacks it with
 * protobuf-c, converts it into an owned struct tensor and frees the message.
 * Sequence and optional values are stored differently by ONNX but protobuf-c
 * will happily read them as (empty) tensors, so callers filter by the model's
 * declared input types first.
 */
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "onnx.pb-c.h"
#include "onnx_load.h"

#define TENSOR_FILE_MAX ((size_t)1 << 30)

static enum status fill_typed(struct tensor *t, const Onnx__TensorProto *tp, int64_t numel,
			      struct err *e)
{
	size_t n = (size_t)numel;
	switch (t->dtype) {
	case DT_FLOAT:
		if (tp->n_float_data != n)
			goto count;
		if (n) /* the field is NULL when empty */
			memcpy(t->data, tp->float_data, n * 4);
		return OK;
	case DT_DOUBLE:
		if (tp->n_double_data != n)
			goto count;
		if (n) /* the field is NULL when empty */
			memcpy(t->data, tp->double_data, n * 8);
		return OK;
	case DT_INT64:
		if (tp->n_int64_data != n)
			goto count;
		if (n) /* the field is NULL when empty */
			memcpy(t->data, tp->int64_data, n * 8);
		return OK;
	case DT_UINT32:
	case DT_UINT64:
		if (tp->n_uint64_data != n)
			goto count;
		for (size_t i = 0; i < n; i++) {
			if (t->dtype == DT_UINT32)
				((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
			else
				((uint64_t *)t->data)[i] = tp->uint64_data[i];
		}
		return OK;
	case DT_INT32:
	case DT_INT16:
	case DT_INT8:
	case DT_UINT16:
	case DT_UINT8:
	case DT_BOOL:
	case DT_FLOAT16:
	case DT_BFLOAT16:
		if (tp->n_int32_data != n)
			goto count;
		for (size_t i = 0; i < n; i++) {
			int32_t v = tp->int32_data[i];
			switch (dtype_size(t->dtype)) {
			case 4: ((int32_t *)t->data)[i] = v; break;
			case 2: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
			default: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
			}
		}
		return OK;
	default:
		return err_set(e, ERR_UNSUPPORTED, "element type %s is not supported",
			       dtype_name(t->dtype));
	}
count:
	return err_set(e, ERR_FORMAT, "tensor holds the wrong number of values for its shape");
}

enum status onnx_load_tensor_file(const char *path, struct tensor *out, struct err *e)
{
	void *buf = NULL;
	size_t len = 0;
	enum status st = file_read_all(path, TENSOR_FILE_MAX, &buf, &len, e);
	if (st)
		return st;
	Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
	free(buf);
	if (!tp)
		return err_set(e, ERR_FORMAT, "%s: not a valid TensorProto", path);
	struct shape s = { .rank = (int)tp->n_dims };
	if (tp->n_dims > TENSOR_MAX_RANK) {
		st = err_set(e, ERR_LIMIT, "rank %zu exceeds %d", tp->n_dims, TENSOR_MAX_RANK);
		goto done;
	}
	for (size_t i = 0; i < tp->n_dims; i++)
		s.dim[i] = tp->dims[i];
	if (!tp->has_data_type || !dtype_valid(tp->data_type)) {
		st = err_set(e, ERR_UNSUPPORTED, "element type %d is not supported", tp->data_type);
		goto done;
	}
	/* every stored element takes at least one byte, whatever the field: a
	 * shape larger than the file is refused before anything is allocated */
	int64_t numel = 0;
	size_t es = dtype_size((enum dtype)tp->data_type);
	if (es && shape_numel_checked(&s, es, &numel, NULL) == OK && (uint64_t)numel > len) {
		char sb[160];
		st = err_set(e, ERR_FORMAT, "shape %s needs more values than the %zu-byte file holds",
			     shape_str(&s, sb, sizeof sb), len);
		goto done;
	}
	st = tensor_alloc(out, (enum dtype)tp->data_type, &s, e);
	if (st)
		goto done;
	if (tp->has_raw_data) {
		if (tp->raw_data.len != out->nbytes) {
			st = err_set(e, ERR_FORMAT, "raw_data holds %zu bytes, shape needs %zu",
				     tp->raw_data.len, out->nbytes);
			tensor_fini(out);
			goto done;
		}
		if (out->nbytes)
			memcpy(out->data, tp->raw_data.data, out->nbytes);
	} else {
		st = fill_typed(out, tp, tensor_numel(out), e);
		if (st)
			tensor_fini(out);
	}
done:
	onnx__tensor_proto__free_unpacked(tp, NULL);
	if (st)
		err_prefix(e, "%s", path);
	return st;
}
