/*
 * pool.c - MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool.
 *
 * The windowed pools share nn_util's geometry (kernel_shape, strides, pads, auto_pad,
 * dilations, ceil_mode) and run one 3-D loop nest for 1-D, 2-D and 3-D inputs.  Instead of
 * testing every tap against the borders, run() first tabulates, for each output coordinate of
 * each spatial dim, the range of kernel taps [lo, hi) that land inside the input (and, for
 * count_include_pad, how many land inside the padded extent); that table lives in scratch.
 * The inner loops then touch only valid input.  Float pooling without Indices, the hot case,
 * folds whole output rows tap by tap (pool_rows_f32) so the compiler can vectorise it.
 *
 * MaxPool takes float32, int8 and uint8 (opset 12) and can also produce Indices: the flat
 * position of each maximum in the whole input tensor, row-major (storage_order 0) or with the
 * spatial part column-major (storage_order 1).  A window entirely in the padding yields the
 * lowest value of the type.  AveragePool divides by the number of valid taps, or with
 * count_include_pad by the taps inside the padded input (a ceil_mode window reaching past the
 * end padding does not count the overhang).
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "nn_util.h"

#if NN_X86 /* GCC pragmas below */
#include <immintrin.h>
#endif

struct pool_params {
	struct nn_window w; /* 3-D */
	int64_t planes;	    /* N * C */
	bool count_pad;	    /* AveragePool count_include_pad */
	bool col_major;	    /* MaxPool storage_order 1 */
};

/* Per output coordinate of one dim: input start, valid taps [lo, hi), taps inside padding. */
struct tap_range {
	int64_t start, lo, hi, npad;
};

static enum status pool_prepare(struct step *s, const struct tensor *const *in, int n_in,
				struct tensor *const *out, int n_out, bool is_max, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	if (st)
		return st;
	if (!is_max && n_out > 1)
		return err_set(e, ERR_INVALID, "has %d outputs, expected 1", n_out);
	const struct tensor *x = in[0];
	if (!is_max || (x->dtype != DT_UINT8 && x->dtype != DT_INT8))
		if ((st = ops_want_dtype(x, "input", DT_FLOAT, e)))
			return st;
	int rank = x->shape.rank;
	if (rank < 3)
		return err_set(e, ERR_SHAPE, "input has %d dims, expected at least 3 (N, C, ...)",
			       rank);
	if (rank > 2 + NN_MAX_SP)
		return err_set(e, ERR_UNSUPPORTED, "input has %d dims; only 1-D to 3-D pooling is "
			       "supported", rank);
	int64_t ceil_mode = 0, count_pad = 0, order = 0;
	if ((st = node_attr_int(s->node, "ceil_mode", 0, &ceil_mode, e)) ||
	    (st = node_attr_int(s->node, "count_include_pad", 0, &count_pad, e)) ||
	    (st = node_attr_int(s->node, "storage_order", 0, &order, e)))
		return st;
	if (order != 0 && order != 1)
		return err_set(e, ERR_INVALID, "storage_order is %lld, expected 0 or 1",
			       (long long)order);

	struct nn_window w = { .nsp = rank - 2 };
	for (int i = 0; i < w.nsp; i++)
		w.in[i] = x->shape.dim[2 + i];
	if ((st = nn_window_read(s->node, &w, NULL, e)) ||
	    (st = nn_window_forward(&w, ceil_mode != 0, e)))
		return st;

	struct pool_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	p->w = nn_window_to3d(&w);
	p->planes = x->shape.dim[0] * x->shape.dim[1];
	p->count_pad = count_pad != 0;
	p->col_major = order == 1;
	s->scratch_bytes = (size_t)(p->w.out[0] + p->w.out[1] + p->w.out[2]) *
			   sizeof(struct tap_range);

	out[0]->dtype = x->dtype;
	out[0]->shape = x->shape;
	for (int i = 0; i < w.nsp; i++)
		out[0]->shape.dim[2 + i] = w.out[i];
	int64_t numel;
	if ((st = shape_numel_checked(&out[0]->shape, sizeof(int64_t), &numel, e)))
		return st;
	if (n_out > 1 && out[1]) {
		out[1]->dtype = DT_INT64;
		out[1]->shape = out[0]->shape;
	}
	return OK;
}

/* Tabulate tap ranges for the three dims into r (out[0] + out[1] + out[2] entries). */
static void tap_ranges(const struct nn_window *w, struct tap_range *r)
{
	for (int d = 0; d < 3; d++) {
		const int64_t in = w->in[d], k = w->k[d], s = w->stride[d], dl = w->dil[d];
		const int64_t pend = in + w->pad1[d];
		for (int64_t o = 0; o < w->out[d]; o++, r++) {
			int64_t start = o * s - w->pad0[d];
			int64_t lo = start < 0 ? nn_ceildiv(-start, dl) : 0;
			int64_t hi = nn_ceildiv(in - start, dl);
			if (hi > k)
				hi = k;
			if (lo > hi)
				lo = hi;
			/* taps inside [-pad0, in + pad1) */
			int64_t phi = nn_ceildiv(pend - start, dl);
			if (phi > k)
				phi = k;
			r->start = start;
			r->lo = lo;
			r->hi = hi;
			r->npad = phi > 0 ? phi : 0;
		}
	}
}

/* Fold input row r into output row yr over the interior columns [a, b): column ow reads taps
 * r[ow * sw + off0 + kw * dw], kw < KW.  Max or sum. */
static inline void fold_interior(const float *restrict r, float *restrict yr, int64_t a,
				 int64_t b, int64_t KW, int64_t sw, int64_t dw, int64_t off0,
				 bool is_max)
{
	if (is_max && KW == 2) {
		/* the ubiquitous 2-wide max window: both taps in one pass */
		for (int64_t ow = a; ow < b; ow++) {
			const float *t = r + ow * sw + off0;
			float v = t[dw] > t[0] ? t[dw] : t[0];
			yr[ow] = v > yr[ow] ? v : yr[ow];
		}
		return;
	}
	for (int64_t kw = 0; kw < KW; kw++) {
		const int64_t off = kw * dw + off0;
		if (is_max && sw == 1) {
			for (int64_t ow = a; ow < b; ow++) {
				float v = r[ow + off];
				yr[ow] = v > yr[ow] ? v : yr[ow];
			}
		} else if (is_max) {
			for (int64_t ow = a; ow < b; ow++) {
				float v = r[ow * sw + off];
				yr[ow] = v > yr[ow] ? v : yr[ow];
			}
		} else if (sw == 1) {
			for (int64_t ow = a; ow < b; ow++)
				yr[ow] += r[ow + off];
		} else {
			for (int64_t ow = a; ow < b; ow++)
				yr[ow] += r[ow * sw + off];
		}
	}
}

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")
/* One output row of a 2x2 stride-2 max pool from input rows r0, r1 (ow <= 16 outputs, so the
 * 2 ow inputs of a row fit two vectors): each row's column pairs by two permutes, then the
 * rows - max(b1, b0) and max(a1, a0), then max(mb, ma), the order of the scalar loop, so NaN
 * comes out where it does there. */
static inline void max22_row_avx512(const float *r0, const float *r1, float *yr, int64_t ow)
{
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
					      2, 0);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
	const int64_t n = 2 * ow;
	const __mmask16 lo = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
	const __mmask16 hi = n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : 0;
	__m512 a_lo = _mm512_maskz_loadu_ps(lo, r0), a_hi = _mm512_maskz_loadu_ps(hi, r0 + 16);
	__m512 b_lo = _mm512_maskz_loadu_ps(lo, r1), b_hi = _mm512_maskz_loadu_ps(hi, r1 + 16);
	__m512 ma = _mm512_max_ps(_mm512_permutex2var_ps(a_lo, odd, a_hi),
				  _mm512_permutex2var_ps(a_lo, even, a_hi));
	__m512 mb = _mm512_max_ps(_mm512_permutex2var_ps(b_lo, odd, b_hi),
				  _mm512_permutex2var_ps(b_lo, even, b_hi));
	_mm512_mask_storeu_ps(yr, (__mmask16)((1u << ow) - 1u), _mm512_max_ps(mb, ma));
}
#pragma GCC pop_options
#endif

/*
 * Float max / average pooling without indices, one output row at a time: the row starts at
 * the identity, then every valid (kd, kh) input row is folded in tap by tap.  Output columns
 * whose whole kernel row lies inside the input (the interior, a contiguous range) take each
 * tap in one branch-free loop that gcc vectorises; the few border columns use their ranges.
 */
static void pool_rows_f32(const struct pool_params *p, const float *x, float *y,
			  const struct tap_range *rd, const struct tap_range *rh,
			  const struct tap_range *rw, bool is_max)
{
	const struct nn_window *w = &p->w;
	const int64_t D = w->in[0], H = w->in[1], W = w->in[2], OW = w->out[2];
	const int64_t KW = w->k[2], sw = w->stride[2], dw = w->dil[2];
	const int64_t dd = w->dil[0], dh = w->dil[1], isp = D * H * W;
	int64_t a = 0, b;
	while (a < OW && !(rw[a].lo == 0 && rw[a].hi == KW))
		a++;
	for (b = a; b < OW && rw[b].lo == 0 && rw[b].hi == KW; b++)
		;
	const float init = is_max ? -FLT_MAX : 0.0f;
	/* 2x2 max windows with stride 2 and no column padding (the classic CNN downsampler):
	 * full rows take a direct two-row kernel */
	const bool max22 = is_max && KW == 2 && w->k[1] == 2 && w->k[0] == 1 && sw == 2 &&
			   dw == 1 && a == 0 && b == OW;
	const bool max22v = NN_X86 && max22 && OW <= 16 && nn_have_avx512();
	(void)max22v; /* read only where NN_X86 (GCC on x86-64) */
	for (int64_t pl = 0; pl < p->planes; pl++) {
		const float *xp = x + pl * isp;
		for (int64_t od = 0; od < w->out[0]; od++)
		for (int64_t oh = 0; oh < w->out[1]; oh++, y += OW) {
			const struct tap_range *A = &rd[od], *B = &rh[oh];
			float *restrict yr = y;
			if (max22 && B->lo == 0 && B->hi == 2 && A->lo == 0 && A->hi == 1) {
				const float *restrict r0 =
					xp + (A->start * H + B->start) * W - w->pad0[2];
				const float *restrict r1 = r0 + dh * W;
#if NN_X86
				if (max22v) {
					max22_row_avx512(r0, r1, yr, OW);
					continue;
				}
#endif
				for (int64_t ow = 0; ow < OW; ow++) {
					float a0 = r0[2 * ow], a1 = r0[2 * ow + 1];
					float b0 = r1[2 * ow], b1 = r1[2 * ow + 1];
					float ma = a1 > a0 ? a1 : a0, mb = b1 > b0 ? b1 : b0;
					yr[ow] = mb > ma ? mb : ma;
				}
				continue;
			}
			for (int64_t ow = 0; ow < OW; ow++)
				yr[ow] = init;
			for (int64_t kd = A->lo; kd < A->hi; kd++)
			for (int64_t kh = B->lo; kh < B->hi; kh++) {
				const float *restrict r =
					xp + ((A->start + kd * dd) * H + B->start + kh * dh) * W;
				fold_interior(r, yr, a, b, KW, sw, dw, -w->pad0[2], is_max);
				for (int64_t ow = 0; ow < OW; ow++) {
					if (ow == a)
						ow = b;
					if (ow >= OW)
						break;
					const struct tap_range *C = &rw[ow];
					for (int64_t kw = C->lo; kw < C->hi; kw++) {
						float v = r[C->start + kw * dw];
						if (is_max)
							yr[ow] = v > yr[ow] ? v : yr[ow];
						else
							yr[ow] += v;
					}
				}
			}
			if (is_max)
				continue;
			for (int64_t ow = 0; ow < OW; ow++) {
				const struct tap_range *C = &rw[ow];
				int64_t cnt = p->count_pad ? A->npad * B->npad * C->npad
							   : (A->hi - A->lo) * (B->hi - B->lo) *
								     (C->hi - C->lo);
				yr[ow] = cnt > 0 ? yr[ow] / (float)cnt : 0.0f;
			}
		}
	}
}

/* Max pooling over one element type, optionally recording flat indices. */
#define DEFINE_MAXPOOL(NAME, T, LOWEST)                                                         \
	static void NAME(const struct pool_params *p, const T *x, T *y, int64_t *ind,           \
			 const struct tap_range *rd, const struct tap_range *rh,                 \
			 const struct tap_range *rw)                                             \
	{                                                                                        \
		const struct nn_window *w = &p->w;                                               \
		const int64_t D = w->in[0], H = w->in[1], W = w->in[2];                          \
		const int64_t dd = w->dil[0], dh = w->dil[1], dw = w->dil[2];                    \
		const int64_t isp = D * H * W;                                                   \
		for (int64_t pl = 0; pl < p->planes; pl++) {                                     \
			const T *xp = x + pl * isp;                                              \
			for (int64_t od = 0; od < w->out[0]; od++)                               \
			for (int64_t oh = 0; oh < w->out[1]; oh++)                               \
			for (int64_t ow = 0; ow < w->out[2]; ow++) {                             \
				const struct tap_range *a = &rd[od], *b = &rh[oh], *c = &rw[ow]; \
				T best = LOWEST;                                                 \
				int64_t at = -1;                                                 \
				for (int64_t kd = a->lo; kd < a->hi; kd++) {                     \
					int64_t id = a->start + kd * dd;                         \
					for (int64_t kh = b->lo; kh < b->hi; kh++) {             \
						int64_t ih = b->start + kh * dh;                 \
						const T *row = xp + (id * H + ih) * W;           \
						for (int64_t kw = c->lo; kw < c->hi; kw++) {     \
							int64_t iw = c->start + kw * dw;         \
							if (row[iw] > best || at < 0) {          \
								best = row[iw];                  \
								at = (id * H + ih) * W + iw;     \
							}                                        \
						}                                                \
					}                                                        \
				}                                                                \
				*y++ = best;                                                     \
				if (ind) {                                                       \
					int64_t v = at;                                          \
					if (at >= 0 && p->col_major) {                           \
						int64_t iw = at % W, ih = at / W % H;            \
						int64_t id = at / (W * H);                       \
						v = (iw * H + ih) * D + id;                      \
					}                                                        \
					*ind++ = at >= 0 ? pl * isp + v : -1;                    \
				}                                                                \
			}                                                                        \
		}                                                                                \
	}

DEFINE_MAXPOOL(maxpool_f32, float, -FLT_MAX)
DEFINE_MAXPOOL(maxpool_u8, uint8_t, 0)
DEFINE_MAXPOOL(maxpool_i8, int8_t, INT8_MIN)

enum status op_maxpool_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	return pool_prepare(s, in, n_in, out, n_out, true, e);
}

enum status op_maxpool_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct pool_params *p = s->params;
	struct tap_range *rd = scratch, *rh = rd + p->w.out[0], *rw = rh + p->w.out[1];
	tap_ranges(&p->w, rd);
	int64_t *ind = n_out > 1 && out[1] ? out[1]->data : NULL;
	switch (in[0]->dtype) {
	case DT_UINT8:
		maxpool_u8(p, in[0]->data, out[0]->data, ind, rd, rh, rw);
		break;
	case DT_INT8:
		maxpool_i8(p, in[0]->data, out[0]->data, ind, rd, rh, rw);
		break;
	default:
		if (ind)
			maxpool_f32(p, in[0]->data, out[0]->data, ind, rd, rh, rw);
		else
			pool_rows_f32(p, in[0]->data, out[0]->data, rd, rh, rw, true);
		break;
	}
	return OK;
}

enum status op_avgpool_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	return pool_prepare(s, in, n_in, out, n_out, false, e);
}

enum status op_avgpool_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct pool_params *p = s->params;
	struct tap_range *rd = scratch, *rh = rd + p->w.out[0], *rw = rh + p->w.out[1];
	tap_ranges(&p->w, rd);
	pool_rows_f32(p, in[0]->data, out[0]->data, rd, rh, rw, false);
	return OK;
}

/* --- global pools --------------------------------------------------------- */

static enum status global_prepare(struct step *s, const struct tensor *const *in, int n_in,
				  struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	if (!st)
		st = ops_want_dtype(in[0], "input", DT_FLOAT, e);
	if (st)
		return st;
	int rank = in[0]->shape.rank;
	if (rank < 3)
		return err_set(e, ERR_SHAPE, "input has %d dims, expected at least 3 (N, C, ...)",
			       rank);
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = in[0]->shape;
	for (int i = 2; i < rank; i++)
		out[0]->shape.dim[i] = 1;
	return OK;
}

enum status op_globalavgpool_prepare(struct step *s, const struct tensor *const *in, int n_in,
				     struct tensor *const *out, int n_out, struct err *e)
{
	return global_prepare(s, in, n_in, out, n_out, e);
}

enum status op_globalmaxpool_prepare(struct step *s, const struct tensor *const *in, int n_in,
				     struct tensor *const *out, int n_out, struct err *e)
{
	return global_prepare(s, in, n_in, out, n_out, e);
}

/* The mean of each of `planes` planes of sp floats: four partial sums over the
 * positions i = 0, 1, 2, 3 mod 4 (the tail into the first), added as (0+1)+(2+3).
 * GAP_WAY planes at a time, so that their sums form independent chains, each plane's
 * bits as when it comes alone. */
#define GAP_WAY 8
static float gap_one(const float *restrict xp, int64_t sp)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int64_t i = 0;
	for (; i + 4 <= sp; i += 4) {
		s0 += xp[i];
		s1 += xp[i + 1];
		s2 += xp[i + 2];
		s3 += xp[i + 3];
	}
	for (; i < sp; i++)
		s0 += xp[i];
	return ((s0 + s1) + (s2 + s3)) / (float)sp;
}

static void gap_mean(const float *restrict x, int64_t sp, int64_t planes, float *restrict y)
{
	int64_t pl = 0;
#if NN_X86
	/* SSE lanes add exactly as the scalar partial sums do */
	for (; pl + GAP_WAY <= planes; pl += GAP_WAY) {
		const float *restrict xp = x + pl * sp;
		__m128 a[GAP_WAY];
		for (int p = 0; p < GAP_WAY; p++)
			a[p] = _mm_setzero_ps();
		int64_t i = 0;
		for (; i + 4 <= sp; i += 4)
			for (int p = 0; p < GAP_WAY; p++)
				a[p] = _mm_add_ps(a[p], _mm_loadu_ps(xp + p * sp + i));
		for (int p = 0; p < GAP_WAY; p++) {
			float l[4];
			_mm_storeu_ps(l, a[p]);
			for (int64_t k = i; k < sp; k++)
				l[0] += xp[p * sp + k];
			y[pl + p] = ((l[0] + l[1]) + (l[2] + l[3])) / (float)sp;
		}
	}
#endif
	for (; pl < planes; pl++)
		y[pl] = gap_one(x + pl * sp, sp);
}

enum status op_globalavgpool_run(const struct step *s, const struct tensor *const *in, int n_in,
				 struct tensor *const *out, int n_out, void *scratch,
				 struct err *e)
{
	const struct shape *sh = &in[0]->shape;
	const int64_t planes = sh->dim[0] * sh->dim[1];
	const int64_t sp = planes ? tensor_numel(in[0]) / planes : 0;
	if (!sp) {
		for (int64_t pl = 0; pl < planes; pl++)
			((float *)out[0]->data)[pl] = 0.0f;
		return OK;
	}
	gap_mean(in[0]->data, sp, planes, out[0]->data);
	return OK;
}

enum status op_globalmaxpool_run(const struct step *s, const struct tensor *const *in, int n_in,
				 struct tensor *const *out, int n_out, void *scratch,
				 struct err *e)
{
	const struct shape *sh = &in[0]->shape;
	const int64_t planes = sh->dim[0] * sh->dim[1];
	const int64_t sp = planes ? tensor_numel(in[0]) / planes : 0;
	const float *restrict x = in[0]->data;
	float *restrict y = out[0]->data;
	for (int64_t pl = 0; pl < planes; pl++) {
		const float *restrict xp = x + pl * sp;
		float m = -FLT_MAX;
		for (int64_t i = 0; i < sp; i++)
			m = xp[i] > m ? xp[i] : m;
		y[pl] = m;
	}
	return OK;
}
