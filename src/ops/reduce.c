/*
 * reduce.c - ReduceSum / Mean / Max / Min / Prod / SumSquare / L1 / L2 / LogSum /
 * LogSumExp.
 *
 * A reduction is walked as a broadcast in reverse: the output, seen with its
 * reduced dims kept as 1 ("keep shape"), is broadcast against the input, and the
 * input is walked in memory order with broadcast.h's merged-dims iterator.  Each
 * run of the walk is contiguous in the input and either
 *   - maps to a single output element (the run lies along reduced dims): it is
 *     folded into that element with 8 independent accumulators, which keeps
 *     float sums accurate and lets gcc vectorise them, or
 *   - maps to a contiguous run of outputs (the run lies along kept dims): it is
 *     combined elementwise into them, again a vectorisable loop.
 * So reducing the last axis, the first axis, a middle axis or everything all
 * read the input once, sequentially, with no transposition.
 *
 * Outputs start at the reduction's identity (0, 1, -inf, +inf); a reduction over
 * an empty axis therefore yields the identity.  Mean divides by the count, L2 takes
 * the square root, LogSum the log; LogSumExp makes a second pass, subtracting the
 * per-output max before exponentiating (the partial sums live in scratch).
 *
 * Axes: an attribute up to opset 17 (ReduceSum: up to 12), an optional input after
 * that, which must be constant at plan time unless it is empty.  Empty axes mean
 * "all axes", or "none" (a copy) with noop_with_empty_axes=1.
 * Types: float32 and float64 for every op; int32 and int64 for Sum, Prod, Max, Min.
 *
 * ArgMax / ArgMin (one axis, int64 output) view the input as [outer, n, inner]: for
 * inner == 1 each row is scanned contiguously; otherwise the n slices of length inner
 * are compared elementwise against the current best, whose index is kept in the
 * output itself.  Ties go to the first index, or the last with select_last_index.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "ops_util.h"

enum red_op { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_SUMSQ, R_L1, R_L2, R_LOGSUM, R_LSE };

struct red_params {
	enum red_op op;
	bool noop;			 /* copy the input */
	bool reduce[TENSOR_MAX_RANK];	 /* per input dim */
};

/* --- kernels ----------------------------------------------------------------- */

/*
 * One walk over x accumulating into y (already holding the identity).
 * MAP turns an input element into the accumulated quantity, COMB combines.
 */
#define RED_KERNEL(name, T, MAP, COMB, IDENT)                                                     \
	static void name(struct bcast_iter *it, const T *restrict x, T *restrict y)               \
	{                                                                                         \
		const int64_t run = it->run;                                                      \
		for (int64_t r = 0; r < it->n_runs; r++) {                                        \
			if (r)                                                                    \
				bcast_iter_next(it);                                              \
			const T *restrict xr = x + it->off[0];                                    \
			if (it->run_stride[1] == 0) {                                             \
				T acc[8];                                                         \
				for (int j = 0; j < 8; j++)                                       \
					acc[j] = (IDENT);                                         \
				int64_t i = 0;                                                    \
				for (; i + 8 <= run; i += 8)                                      \
					for (int j = 0; j < 8; j++) {                             \
						T v = MAP(xr[i + j]);                             \
						acc[j] = COMB(acc[j], v);                         \
					}                                                         \
				T tot = y[it->off[1]];                                            \
				for (; i < run; i++) {                                            \
					T v = MAP(xr[i]);                                         \
					tot = COMB(tot, v);                                       \
				}                                                                 \
				for (int j = 0; j < 8; j++)                                       \
					tot = COMB(tot, acc[j]);                                  \
				y[it->off[1]] = tot;                                              \
			} else {                                                                  \
				T *restrict yr = y + it->off[1];                                  \
				for (int64_t i = 0; i < run; i++) {                               \
					T v = MAP(xr[i]);                                         \
					yr[i] = COMB(yr[i], v);                                   \
				}                                                                 \
			}                                                                         \
		}                                                                                 \
	}

#define M_ID(v) (v)
#define M_SQ(v) ((v) * (v))
#define M_ABS(v) ((v) < 0 ? -(v) : (v))
#define C_ADD(a, b) ((a) + (b))
#define C_MUL(a, b) ((a) * (b))
/* Branch-free selects (gcc keeps some float ternaries as branches, which blocks
 * vectorisation); picked by type with _Generic. */
static inline float sel_f32(int c, float a, float b)
{
	union { float f; uint32_t u; } ua = { a }, ub = { b }, r;
	uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
	r.u = (ua.u & m) | (ub.u & ~m);
	return r.f;
}
static inline double sel_f64(int c, double a, double b)
{
	union { double f; uint64_t u; } ua = { a }, ub = { b }, r;
	uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
	r.u = (ua.u & m) | (ub.u & ~m);
	return r.f;
}
static inline int32_t sel_i32(int c, int32_t a, int32_t b) { return c ? a : b; }
static inline int64_t sel_i64(int c, int64_t a, int64_t b) { return c ? a : b; }
#define SEL(c, a, b)                                                                              \
	_Generic((a), float: sel_f32, double: sel_f64, int32_t: sel_i32, int64_t: sel_i64)(      \
		c, a, b)
/* NaN-propagating */
#define C_MAX(a, b) SEL(((a) > (b)) | ((a) != (a)), (a), (b))
#define C_MIN(a, b) SEL(((a) < (b)) | ((a) != (a)), (a), (b))
/* integers wrap */
#define C_IADD32(a, b) ((int32_t)((uint32_t)(a) + (uint32_t)(b)))
#define C_IMUL32(a, b) ((int32_t)((uint32_t)(a) * (uint32_t)(b)))
#define C_IADD64(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define C_IMUL64(a, b) ((int64_t)((uint64_t)(a) * (uint64_t)(b)))

#define RED_FLOAT_KERNELS(T, sfx)                                                                 \
	RED_KERNEL(rsum_##sfx, T, M_ID, C_ADD, 0)                                                 \
	RED_KERNEL(rsumsq_##sfx, T, M_SQ, C_ADD, 0)                                               \
	RED_KERNEL(rl1_##sfx, T, M_ABS, C_ADD, 0)                                                 \
	RED_KERNEL(rprod_##sfx, T, M_ID, C_MUL, 1)                                                \
	RED_KERNEL(rmax_##sfx, T, M_ID, C_MAX, -INFINITY)                                         \
	RED_KERNEL(rmin_##sfx, T, M_ID, C_MIN, INFINITY)
RED_FLOAT_KERNELS(float, f32)
RED_FLOAT_KERNELS(double, f64)
RED_KERNEL(rsum_i32, int32_t, M_ID, C_IADD32, 0)
RED_KERNEL(rprod_i32, int32_t, M_ID, C_IMUL32, 1)
RED_KERNEL(rmax_i32, int32_t, M_ID, C_MAX, INT32_MIN)
RED_KERNEL(rmin_i32, int32_t, M_ID, C_MIN, INT32_MAX)
RED_KERNEL(rsum_i64, int64_t, M_ID, C_IADD64, 0)
RED_KERNEL(rprod_i64, int64_t, M_ID, C_IMUL64, 1)
RED_KERNEL(rmax_i64, int64_t, M_ID, C_MAX, INT64_MIN)
RED_KERNEL(rmin_i64, int64_t, M_ID, C_MIN, INT64_MAX)

/* LogSumExp second pass: s += exp(x - m) with m the per-output max. */
#define LSE_KERNEL(name, T, EXP)                                                                  \
	static void name(struct bcast_iter *it, const T *restrict x, const T *restrict m,         \
			 T *restrict s)                                                           \
	{                                                                                         \
		const int64_t run = it->run;                                                      \
		for (int64_t r = 0; r < it->n_runs; r++) {                                        \
			if (r)                                                                    \
				bcast_iter_next(it);                                              \
			const T *restrict xr = x + it->off[0];                                    \
			int64_t o = it->off[1];                                                   \
			if (it->run_stride[1] == 0) {                                             \
				T mv = m[o], acc = 0;                                             \
				for (int64_t i = 0; i < run; i++)                                 \
					acc += EXP(xr[i] - mv);                                   \
				s[o] += acc;                                                      \
			} else {                                                                  \
				for (int64_t i = 0; i < run; i++)                                 \
					s[o + i] += EXP(xr[i] - m[o + i]);                        \
			}                                                                         \
		}                                                                                 \
	}
LSE_KERNEL(lse_f32, float, expf)
LSE_KERNEL(lse_f64, double, exp)

/* --- planning ------------------------------------------------------------------ */

static bool red_type_ok(enum red_op op, enum dtype t)
{
	if (t == DT_FLOAT || t == DT_DOUBLE)
		return true;
	if (t == DT_INT32 || t == DT_INT64)
		return op == R_SUM || op == R_PROD || op == R_MAX || op == R_MIN;
	return false;
}

static enum status red_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, enum red_op op, struct err *e)
{
	int axes_input_from = op == R_SUM ? 13 : 18;
	bool axes_as_input = s->opset >= axes_input_from;
	enum status st = ops_check_arity(in, n_in, 1, axes_as_input ? 2 : 1, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *x = in[0];
	if (!red_type_ok(op, x->dtype))
		return err_set(e, ERR_UNSUPPORTED, "input type %s is not supported",
			       dtype_name(x->dtype));
	int64_t keepdims, noop_empty;
	if ((st = node_attr_int(s->node, "keepdims", 1, &keepdims, e)) ||
	    (st = node_attr_int(s->node, "noop_with_empty_axes", 0, &noop_empty, e)))
		return st;

	/* collect axes */
	const int64_t *axes = NULL;
	int n_axes = 0;
	if (axes_as_input) {
		const struct tensor *ta = n_in > 1 ? in[1] : NULL;
		if (ta) {
			if (ta->dtype != DT_INT64)
				return err_set(e, ERR_INVALID, "axes has type %s, expected int64",
					       dtype_name(ta->dtype));
			if (ta->shape.rank > 1)
				return err_set(e, ERR_INVALID, "axes must be 1-D");
			int64_t na = tensor_numel(ta);
			if (na > 0 && !ta->data)
				return err_set(e, ERR_UNSUPPORTED,
					       "axes must be constant at plan time");
			if (na > TENSOR_MAX_RANK)
				return err_set(e, ERR_INVALID, "%lld axes for rank %d",
					       (long long)na, x->shape.rank);
			axes = ta->data;
			n_axes = (int)na;
		}
	} else if ((st = node_attr_ints(s->node, "axes", &axes, &n_axes, e))) {
		return st;
	}

	struct red_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->op = op;
	int r = x->shape.rank;
	if (n_axes == 0) {
		if (noop_empty)
			p->noop = true;
		else
			for (int i = 0; i < r; i++)
				p->reduce[i] = true;
	}
	for (int k = 0; k < n_axes; k++) {
		int64_t a = axes[k];
		if (a < -r || a >= r) {
			free(p);
			return err_set(e, ERR_INVALID, "axis %lld is out of range for rank %d",
				       (long long)a, r);
		}
		p->reduce[a < 0 ? a + r : a] = true;
	}

	struct shape so = { .rank = 0 };
	for (int i = 0; i < r; i++) {
		if (!p->reduce[i])
			so.dim[so.rank++] = x->shape.dim[i];
		else if (keepdims)
			so.dim[so.rank++] = 1;
	}
	if (op == R_LSE && !p->noop) {
		int64_t n = shape_numel(&so);
		s->scratch_bytes = (size_t)n * dtype_size(x->dtype);
	}
	s->params = p;
	out[0]->dtype = x->dtype;
	out[0]->shape = p->noop ? x->shape : so;
	return OK;
}

/* --- running -------------------------------------------------------------------- */

#define FILL(T, y, n, v)                                                                          \
	do {                                                                                      \
		T *restrict fp_ = (y);                                                            \
		for (int64_t i_ = 0; i_ < (n); i_++)                                              \
			fp_[i_] = (v);                                                            \
	} while (0)

/* y = f(y) for the finishing step of Mean / L2 / LogSum; c = count for Mean */
#define FINISH(T, y, n, op, c, SQRT, LOG)                                                         \
	do {                                                                                      \
		T *restrict fy_ = (y);                                                            \
		if ((op) == R_MEAN) {                                                             \
			T cc_ = (T)(c);                                                           \
			for (int64_t i_ = 0; i_ < (n); i_++)                                      \
				fy_[i_] /= cc_;                                                   \
		} else if ((op) == R_L2) {                                                        \
			for (int64_t i_ = 0; i_ < (n); i_++)                                      \
				fy_[i_] = SQRT(fy_[i_]);                                          \
		} else if ((op) == R_LOGSUM) {                                                    \
			for (int64_t i_ = 0; i_ < (n); i_++)                                      \
				fy_[i_] = LOG(fy_[i_]);                                           \
		}                                                                                 \
	} while (0)

#define RED_RUN_FLOAT(T, sfx, SQRT, LOG, EXP, INF)                                                \
	static void red_run_##sfx(const struct red_params *p, struct bcast_iter *it,              \
				  const struct bcast_iter *it0, const T *x, T *y, int64_t ny,     \
				  int64_t count, T *scratch)                                      \
	{                                                                                         \
		switch (p->op) {                                                                  \
		case R_SUM: case R_MEAN: case R_LOGSUM:                                           \
			FILL(T, y, ny, 0);                                                        \
			rsum_##sfx(it, x, y);                                                     \
			break;                                                                    \
		case R_SUMSQ: case R_L2:                                                          \
			FILL(T, y, ny, 0);                                                        \
			rsumsq_##sfx(it, x, y);                                                   \
			break;                                                                    \
		case R_L1:                                                                        \
			FILL(T, y, ny, 0);                                                        \
			rl1_##sfx(it, x, y);                                                      \
			break;                                                                    \
		case R_PROD:                                                                      \
			FILL(T, y, ny, 1);                                                        \
			rprod_##sfx(it, x, y);                                                    \
			break;                                                                    \
		case R_MAX:                                                                       \
			FILL(T, y, ny, -INF);                                                     \
			rmax_##sfx(it, x, y);                                                     \
			break;                                                                    \
		case R_MIN:                                                                       \
			FILL(T, y, ny, INF);                                                      \
			rmin_##sfx(it, x, y);                                                     \
			break;                                                                    \
		case R_LSE: {                                                                     \
			FILL(T, y, ny, -INF);                                                     \
			rmax_##sfx(it, x, y);                                                     \
			/* an all -inf (or empty) slice or an inf max: shift by 0 instead */      \
			for (int64_t i = 0; i < ny; i++)                                          \
				y[i] = SEL(isinf(y[i]), (T)0, y[i]);                              \
			FILL(T, scratch, ny, 0);                                                  \
			*it = *it0;                                                               \
			lse_##sfx(it, x, y, scratch);                                             \
			for (int64_t i = 0; i < ny; i++)                                          \
				y[i] += LOG(scratch[i]);                                          \
			break;                                                                    \
		}                                                                                 \
		}                                                                                 \
		FINISH(T, y, ny, p->op, count, SQRT, LOG);                                        \
	}
RED_RUN_FLOAT(float, f32, sqrtf, logf, expf, INFINITY)
RED_RUN_FLOAT(double, f64, sqrt, log, exp, INFINITY)

#define RED_RUN_INT(T, sfx, LO, HI)                                                               \
	static void red_run_##sfx(const struct red_params *p, struct bcast_iter *it, const T *x,  \
				  T *y, int64_t ny)                                               \
	{                                                                                         \
		switch (p->op) {                                                                  \
		case R_SUM: FILL(T, y, ny, 0); rsum_##sfx(it, x, y); break;                       \
		case R_PROD: FILL(T, y, ny, 1); rprod_##sfx(it, x, y); break;                     \
		case R_MAX: FILL(T, y, ny, LO); rmax_##sfx(it, x, y); break;                      \
		case R_MIN: FILL(T, y, ny, HI); rmin_##sfx(it, x, y); break;                      \
		default: break;                                                                   \
		}                                                                                 \
	}
RED_RUN_INT(int32_t, i32, INT32_MIN, INT32_MAX)
RED_RUN_INT(int64_t, i64, INT64_MIN, INT64_MAX)

static enum status red_run(const struct step *s, const struct tensor *const *in,
			   struct tensor *const *out, void *scratch)
{
	const struct red_params *p = s->params;
	const struct tensor *x = in[0];
	struct tensor *y = out[0];
	if (p->noop) {
		if (x->nbytes) /* data may be NULL when empty */
			memcpy(y->data, x->data, x->nbytes);
		return OK;
	}
	struct shape keep = x->shape;
	for (int i = 0; i < keep.rank; i++)
		if (p->reduce[i])
			keep.dim[i] = 1;
	const struct shape *sh[2] = { &x->shape, &keep };
	struct bcast_iter it, it0;
	bcast_iter_init(&it, &x->shape, sh, 2);
	it0 = it;
	int64_t ny = tensor_numel(y), nx = tensor_numel(x);
	int64_t count = ny ? nx / ny : 0;
	if (ny && !nx) { /* reducing over an empty axis: count is 0 */
		count = 0;
		it.n_runs = 0;
	}
	switch (x->dtype) {
	case DT_FLOAT: red_run_f32(p, &it, &it0, x->data, y->data, ny, count, scratch); break;
	case DT_DOUBLE: red_run_f64(p, &it, &it0, x->data, y->data, ny, count, scratch); break;
	case DT_INT32: red_run_i32(p, &it, x->data, y->data, ny); break;
	case DT_INT64: red_run_i64(p, &it, x->data, y->data, ny); break;
	default: break;
	}
	return OK;
}

#define RED_OP(prefix, OPID)                                                                      \
	enum status op_##prefix##_prepare(struct step *s, const struct tensor *const *in,         \
					  int n_in, struct tensor *const *out, int n_out,          \
					  struct err *e)                                           \
	{                                                                                         \
		return red_prepare(s, in, n_in, out, n_out, OPID, e);                             \
	}                                                                                         \
	enum status op_##prefix##_run(const struct step *s, const struct tensor *const *in,       \
				      int n_in, struct tensor *const *out, int n_out,              \
				      void *scratch, struct err *e)                                \
	{                                                                                         \
		return red_run(s, in, out, scratch);                                              \
	}

RED_OP(reducesum, R_SUM)
RED_OP(reducemean, R_MEAN)
RED_OP(reducemax, R_MAX)
RED_OP(reducemin, R_MIN)
RED_OP(reduceprod, R_PROD)
RED_OP(reducesumsquare, R_SUMSQ)
RED_OP(reducel1, R_L1)
RED_OP(reducel2, R_L2)
RED_OP(reducelogsum, R_LOGSUM)
RED_OP(reducelogsumexp, R_LSE)

/* --- ArgMax / ArgMin ---------------------------------------------------------------- */

struct arg_params {
	bool is_max, last;
	int axis;
};

/* BETTER(v, best): v replaces best.  With `last`, equal values replace too. */
#define ARG_KERNEL(T, sfx)                                                                        \
	static void arg_##sfx(const struct arg_params *p, const T *restrict x,                   \
			      int64_t *restrict y, int64_t outer, int64_t n, int64_t inner)       \
	{                                                                                         \
		for (int64_t o = 0; o < outer; o++) {                                             \
			const T *xo = x + o * n * inner;                                          \
			int64_t *yo = y + o * inner;                                              \
			for (int64_t i = 0; i < inner; i++)                                       \
				yo[i] = 0;                                                        \
			if (n == 0)                                                               \
				continue;                                                         \
			for (int64_t k = 1; k < n; k++) {                                         \
				const T *xk = xo + k * inner;                                     \
				for (int64_t i = 0; i < inner; i++) {                             \
					T v = xk[i], b = xo[yo[i] * inner + i];                   \
					bool take = p->is_max ? (p->last ? v >= b : v > b)        \
							      : (p->last ? v <= b : v < b);       \
					if (take)                                                 \
						yo[i] = k;                                        \
				}                                                                 \
			}                                                                         \
		}                                                                                 \
	}
ARG_KERNEL(float, f32)
ARG_KERNEL(double, f64)
ARG_KERNEL(int8_t, i8)
ARG_KERNEL(uint8_t, u8)
ARG_KERNEL(int32_t, i32)
ARG_KERNEL(int64_t, i64)

static enum status arg_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, bool is_max, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *x = in[0];
	switch (x->dtype) {
	case DT_FLOAT: case DT_DOUBLE: case DT_INT8: case DT_UINT8: case DT_INT32: case DT_INT64:
		break;
	default:
		return err_set(e, ERR_UNSUPPORTED, "input type %s is not supported",
			       dtype_name(x->dtype));
	}
	int64_t axis, keepdims, last;
	if ((st = node_attr_int(s->node, "axis", 0, &axis, e)) ||
	    (st = node_attr_int(s->node, "keepdims", 1, &keepdims, e)) ||
	    (st = node_attr_int(s->node, "select_last_index", 0, &last, e)))
		return st;
	int r = x->shape.rank;
	if (axis < -r || axis >= r || r == 0)
		return err_set(e, ERR_INVALID, "axis %lld is out of range for rank %d",
			       (long long)axis, r);
	if (axis < 0)
		axis += r;
	if (x->shape.dim[axis] == 0)
		return err_set(e, ERR_INVALID, "cannot take the arg%s of an empty axis",
			       is_max ? "max" : "min");
	struct arg_params *p = malloc(sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->is_max = is_max;
	p->last = last != 0;
	p->axis = (int)axis;
	s->params = p;
	struct shape so = { .rank = 0 };
	for (int i = 0; i < r; i++) {
		if (i != axis)
			so.dim[so.rank++] = x->shape.dim[i];
		else if (keepdims)
			so.dim[so.rank++] = 1;
	}
	out[0]->dtype = DT_INT64;
	out[0]->shape = so;
	return OK;
}

static enum status arg_run(const struct step *s, const struct tensor *const *in,
			   struct tensor *const *out)
{
	const struct arg_params *p = s->params;
	const struct tensor *x = in[0];
	int64_t outer = 1, inner = 1, n = x->shape.dim[p->axis];
	for (int i = 0; i < p->axis; i++)
		outer *= x->shape.dim[i];
	for (int i = p->axis + 1; i < x->shape.rank; i++)
		inner *= x->shape.dim[i];
	int64_t *y = out[0]->data;
	switch (x->dtype) {
	case DT_FLOAT: arg_f32(p, x->data, y, outer, n, inner); break;
	case DT_DOUBLE: arg_f64(p, x->data, y, outer, n, inner); break;
	case DT_INT8: arg_i8(p, x->data, y, outer, n, inner); break;
	case DT_UINT8: arg_u8(p, x->data, y, outer, n, inner); break;
	case DT_INT32: arg_i32(p, x->data, y, outer, n, inner); break;
	case DT_INT64: arg_i64(p, x->data, y, outer, n, inner); break;
	default: break;
	}
	return OK;
}

enum status op_argmax_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, struct err *e)
{
	return arg_prepare(s, in, n_in, out, n_out, true, e);
}

enum status op_argmax_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	return arg_run(s, in, out);
}

enum status op_argmin_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, struct err *e)
{
	return arg_prepare(s, in, n_in, out, n_out, false, e);
}

enum status op_argmin_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	return arg_run(s, in, out);
}
