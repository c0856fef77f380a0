/*
 * shape_util.h - helpers shared by the shape and data-movement operators.
 * Internal to src/ops; not part of the core's public interface.
 *
 * Two kinds of helper live here:
 *  - reading the small integer tensors that steer shape ops (Reshape's shape,
 *    Slice's starts, Pad's pads ...), which must be constant at plan time,
 *    and normalising (possibly negative) axes;
 *  - the "axis map" gather engine.  Many data-movement ops are, per output
 *    axis, a function from output index to input index: Slice (start + o*step),
 *    Tile (o mod dim), Pad (o - pad_begin, reflected / clamped / wrapped, or
 *    "fill" for constant padding), Expand (0 on broadcast axes), nearest-
 *    neighbour Resize.  prepare() builds one index table per output axis in a
 *    single params block and run() walks the output once, copying whole
 *    contiguous stretches of the innermost axis with memcpy.  The engine only
 *    moves bytes, so it works for every element size (1, 2, 4, 8).
 */
#ifndef QLENS_SHAPE_UTIL_H
#define QLENS_SHAPE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops_util.h"

/* Element i of an int32 or int64 tensor as int64 (caller checked the dtype). */
static inline int64_t su_int_at(const struct tensor *t, int64_t i)
{
	if (t->dtype == DT_INT32)
		return ((const int32_t *)t->data)[i];
	return ((const int64_t *)t->data)[i];
}

/*
 * Read a constant int32/int64 tensor of rank 0 or 1 with at most `max` elements
 * into out[]; *n receives the count.  `what` names the input in messages.
 * ERR_UNSUPPORTED when the tensor is not constant at plan time (data NULL),
 * ERR_INVALID for a wrong dtype, rank or count.  If allow_int32 is false only
 * int64 is accepted.
 */
enum status su_read_ints(const struct tensor *t, const char *what, bool allow_int32,
			 int64_t *out, int max, int *n, struct err *e);

/* Normalise axis (may be negative, range [-rank, rank-1]) into *out. */
enum status su_norm_axis(int64_t axis, int rank, const char *what, int *out, struct err *e);

/* Set out's shape, checking that it is non-negative and below the tensor limit. */
enum status su_set_shape(struct tensor *out, enum dtype dt, const struct shape *s, struct err *e);

/* Bytes per element of t's dtype that the generic copies accept (1, 2, 4 or 8),
 * or ERR_UNSUPPORTED. */
enum status su_elem_size(const struct tensor *t, const char *what, size_t *size, struct err *e);

/* --- axis-map gather engine ---------------------------------------------- */

/* Map value meaning "no input element: write the fill value". */
#define AMAP_FILL (-1)

struct amap {
	int rank;			       /* >= 1 */
	size_t esize;			       /* 1, 2, 4 or 8 */
	int64_t out_dim[TENSOR_MAX_RANK];
	int64_t in_stride[TENSOR_MAX_RANK];    /* in elements */
	int64_t map_off[TENSOR_MAX_RANK];      /* start of each axis' table in maps[] */
	int64_t run_lo, run_hi;		       /* innermost axis: longest consecutive maps[lo..hi) */
	unsigned char fill[8];		       /* fill element (esize bytes) */
	int64_t maps[];			       /* sum(out_dim) entries */
};

/*
 * Allocate an axis map for an output of shape out_dim (rank out_rank >= 0; a
 * rank-0 output is treated as [1]) gathering from an input of shape in_dim
 * with the same rank.  Tables are zeroed; fill with amap_table(), then call
 * amap_finish().  Free the result with free() (it is a single block, usable
 * directly as step params).
 */
enum status amap_new(int rank, const int64_t *out_dim, const int64_t *in_dim, size_t esize,
		     struct amap **out, struct err *e);
/* The same with `prefix` zeroed bytes in front of the map in the same block (for ops
 * whose params are a header plus a map): *block is what to free, *out the map at
 * block + AMAP_PREFIX_ROUND(prefix). */
#define AMAP_PREFIX_ROUND(n) (((n) + 63) / 64 * 64)
enum status amap_new_prefixed(size_t prefix, int rank, const int64_t *out_dim,
			      const int64_t *in_dim, size_t esize, void **block, struct amap **out,
			      struct err *e);
static inline int64_t *amap_table(struct amap *m, int axis) { return m->maps + m->map_off[axis]; }
void amap_finish(struct amap *m);
/* Gather: out = in through the maps.  Never allocates. */
void amap_run(const struct amap *m, const void *in, void *out);
/* The same with a fill element given at run time (esize bytes) instead of m->fill. */
void amap_run_fill(const struct amap *m, const void *in, void *out, const void *fill);

#endif
