/*
 * shape_util.c - constant-input readers and the axis-map gather engine used by
 * the shape and data-movement operators (see shape_util.h).
 *
 * The engine walks the output row by row: a row is one run of the innermost
 * output axis.  For the outer axes it adds up each axis' table entry times the
 * input stride (a fill entry makes the whole row fill); along the row it copies
 * the one stretch of consecutive input indices found at finish time with
 * memcpy and handles the rest element by element.  That covers the common
 * cases at memcpy speed (Slice with step 1, the middle of a Pad, a Tile of an
 * outer axis) while staying exact for everything else.  The element loops are
 * instantiated per element size so that they compile to plain loads/stores.
 */
#include "shape_util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum status su_read_ints(const struct tensor *t, const char *what, bool allow_int32,
			 int64_t *out, int max, int *n, struct err *e)
{
	if (t->dtype != DT_INT64 && !(allow_int32 && t->dtype == DT_INT32))
		return err_set(e, ERR_INVALID, "%s has type %s, expected int64%s", what,
			       dtype_name(t->dtype), allow_int32 ? " or int32" : "");
	if (t->shape.rank > 1)
		return err_set(e, ERR_INVALID, "%s has rank %d, expected a 1-D tensor", what,
			       t->shape.rank);
	if (!t->data)
		return err_set(e, ERR_UNSUPPORTED, "%s input is not constant", what);
	int64_t cnt = tensor_numel(t);
	if (cnt < 0 || cnt > max)
		return err_set(e, ERR_INVALID, "%s has %" PRId64 " elements, at most %d allowed",
			       what, cnt, max);
	for (int64_t i = 0; i < cnt; i++)
		out[i] = su_int_at(t, i);
	*n = (int)cnt;
	return OK;
}

enum status su_norm_axis(int64_t axis, int rank, const char *what, int *out, struct err *e)
{
	if (axis < -rank || axis >= rank)
		return err_set(e, ERR_INVALID, "%s %" PRId64 " is out of range for rank %d", what,
			       axis, rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return OK;
}

enum status su_set_shape(struct tensor *out, enum dtype dt, const struct shape *s, struct err *e)
{
	int64_t n;
	size_t es = dtype_size(dt);
	enum status st = shape_numel_checked(s, es ? es : 1, &n, e);
	if (st)
		return st;
	out->dtype = dt;
	out->shape = *s;
	return OK;
}

enum status su_elem_size(const struct tensor *t, const char *what, size_t *size, struct err *e)
{
	size_t es = dtype_size(t->dtype);
	if (es != 1 && es != 2 && es != 4 && es != 8)
		return err_set(e, ERR_UNSUPPORTED, "%s has unsupported type %s", what,
			       dtype_name(t->dtype));
	*size = es;
	return OK;
}

enum status amap_new(int rank, const int64_t *out_dim, const int64_t *in_dim, size_t esize,
		     struct amap **out, struct err *e)
{
	void *block;
	return amap_new_prefixed(0, rank, out_dim, in_dim, esize, &block, out, e);
}

enum status amap_new_prefixed(size_t prefix, int rank, const int64_t *out_dim,
			      const int64_t *in_dim, size_t esize, void **block, struct amap **out,
			      struct err *e)
{
	int r = rank > 0 ? rank : 1;
	int64_t total = 0;
	for (int d = 0; d < rank; d++)
		total += out_dim[d];
	if (rank == 0)
		total = 1;
	if (total > TENSOR_MAX_BYTES / (int64_t)sizeof(int64_t))
		return err_set(e, ERR_LIMIT, "index tables of %" PRId64 " entries are too large",
			       total);
	size_t pre = prefix ? AMAP_PREFIX_ROUND(prefix) : 0;
	unsigned char *b = calloc(1, pre + sizeof(struct amap) + (size_t)total * sizeof(int64_t));
	if (!b)
		return err_set(e, ERR_NOMEM, "out of memory for index tables");
	struct amap *m = (struct amap *)(b + pre);
	*block = b;
	m->rank = r;
	m->esize = esize;
	int64_t off = 0, stride = 1;
	for (int d = r - 1; d >= 0; d--) {
		m->out_dim[d] = rank > 0 ? out_dim[d] : 1;
		m->in_stride[d] = stride;
		stride *= rank > 0 ? in_dim[d] : 1;
	}
	for (int d = 0; d < r; d++) {
		m->map_off[d] = off;
		off += m->out_dim[d];
	}
	*out = m;
	return OK;
}

void amap_finish(struct amap *m)
{
	/* the longest stretch of consecutive input indices along the innermost axis */
	const int64_t *t = amap_table(m, m->rank - 1);
	int64_t n = m->out_dim[m->rank - 1], best_lo = 0, best_len = 0;
	for (int64_t j = 0; j < n;) {
		if (t[j] < 0) {
			j++;
			continue;
		}
		int64_t k = j + 1;
		while (k < n && t[k] == t[k - 1] + 1)
			k++;
		if (k - j > best_len) {
			best_lo = j;
			best_len = k - j;
		}
		j = k;
	}
	m->run_lo = best_lo;
	m->run_hi = best_lo + best_len;
}

#define AMAP_ROW_FN(T, name)                                                                    \
	static void name(const struct amap *m, const int64_t *restrict map,                     \
			 const unsigned char *restrict src, unsigned char *restrict dstb,       \
			 int64_t n, const void *fill)                                           \
	{                                                                                       \
		const T *restrict s = (const T *)src;                                            \
		T *restrict d = (T *)dstb;                                                       \
		T fv;                                                                           \
		memcpy(&fv, fill, sizeof fv);                                                    \
		int64_t lo = m->run_lo, hi = m->run_hi;                                          \
		for (int64_t j = 0; j < lo; j++)                                                 \
			d[j] = map[j] < 0 ? fv : s[map[j]];                                      \
		if (hi > lo)                                                                    \
			memcpy(d + lo, s + map[lo], (size_t)(hi - lo) * sizeof(T));              \
		for (int64_t j = hi; j < n; j++)                                                 \
			d[j] = map[j] < 0 ? fv : s[map[j]];                                      \
	}
AMAP_ROW_FN(uint8_t, row8)
AMAP_ROW_FN(uint16_t, row16)
AMAP_ROW_FN(uint32_t, row32)
AMAP_ROW_FN(uint64_t, row64)
#undef AMAP_ROW_FN

void amap_run(const struct amap *m, const void *in, void *out)
{
	amap_run_fill(m, in, out, m->fill);
}

void amap_run_fill(const struct amap *m, const void *in, void *out, const void *fill)
{
	int r = m->rank;
	int64_t n = m->out_dim[r - 1];
	int64_t rows = 1;
	for (int d = 0; d < r; d++)
		rows *= m->out_dim[d];
	if (rows == 0)
		return;
	rows /= n;
	size_t es = m->esize, row_bytes = (size_t)n * es;
	const int64_t *inner = m->maps + m->map_off[r - 1];
	void (*row)(const struct amap *, const int64_t *, const unsigned char *, unsigned char *,
		    int64_t, const void *) =
		es == 1 ? row8 : es == 2 ? row16 : es == 4 ? row32 : row64;
	int64_t idx[TENSOR_MAX_RANK] = { 0 };
	unsigned char *dst = out;
	for (int64_t rw = 0; rw < rows; rw++, dst += row_bytes) {
		int64_t base = 0;
		bool fill_row = false;
		for (int d = 0; d < r - 1; d++) {
			int64_t k = m->maps[m->map_off[d] + idx[d]];
			if (k < 0) {
				fill_row = true;
				break;
			}
			base += k * m->in_stride[d];
		}
		if (fill_row) {
			for (int64_t j = 0; j < n; j++)
				memcpy(dst + (size_t)j * es, fill, es);
		} else {
			row(m, inner, (const unsigned char *)in + (size_t)base * es, dst, n, fill);
		}
		for (int d = r - 2; d >= 0; d--) {
			if (++idx[d] < m->out_dim[d])
				break;
			idx[d] = 0;
		}
	}
}
