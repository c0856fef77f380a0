/*
 * fused.c - the Linear and attention steps of fused plans (see fused.h).
 *
 * Why: a small transformer at batch 64 spends its time in many small products and in the
 * elementwise ops between them - bias Adds, the five-node GELU, residual Adds, the attention
 * scale, Softmax - each one more pass over memory, some (Erf, Softmax) scalar libm loops.  The
 * planner merges each chain into one of these steps (exec.c, fuse.c), so the data is touched
 * once while it is in registers.
 *
 * fused_linear (AVX-512): the output is tiled in R rows x V vectors of 16 columns; for each
 * k the tile loads V vectors of W's row k and broadcasts R values of X's column k (R x V = 24
 * accumulators or fewer: 8 x 3 for N = 48, 4 x 6 for N = 96).  W is packed into rows padded to
 * whole vectors (at prepare when constant).  The bias starts the sums; residual and
 * activation are applied as a tile is stored.  Without AVX-512 it is one sgemm followed by a
 * pass for bias, residual and activation.
 *
 * fused_attention (AVX-512): per (batch, head) matrix and per group of rows, the scores
 * S = Q KT are computed a tile at a time (rows x up to 4 vectors of keys), scaled, and
 * turned into probabilities in place (max, e^(s - max) by vm_exp, sum, times 1 / sum - the
 * Softmax op's arithmetic); then O = P V with one accumulator chain per row.  The rows' scores
 * stay in a scratch block of a few KB.  Without AVX-512 the same runs as plain loops.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fused.h"
#include "nn_util.h"

#if NN_X86 /* GCC pragmas below */
#include "vmath.h"
#endif

/* --- Linear -------------------------------------------------------------- */

/* Largest packed weight (floats) the AVX-512 path takes, kept in the plan when constant. */
#define LIN_PREPACK_MAX ((size_t)4 << 20)

struct lin_params {
	int64_t m, k, n;   /* rows of X, inner, columns of W */
	int64_t nv;	   /* 16-lane vectors per packed row of W */
	bool avx512;
	/* packed W ([k][nv * 16], zero columns past n) and bias ([nv * 16]): at prepare when
	 * constant (pre; used while run() gets pre_w and pre_b), else in scratch */
	float *pre;
	const float *pre_w, *pre_b;
};

static size_t lin_packed_floats(const struct lin_params *p)
{
	return (size_t)((p->k + 1) * p->nv * 16);
}

static void lin_pack(const struct lin_params *p, const float *w, const float *b, float *dst)
{
	const int64_t ld = p->nv * 16;
	for (int64_t k = 0; k < p->k; k++) {
		memcpy(dst + k * ld, w + k * p->n, (size_t)p->n * sizeof(float));
		memset(dst + k * ld + p->n, 0, (size_t)(ld - p->n) * sizeof(float));
	}
	float *bias = dst + p->k * ld;
	for (int64_t j = 0; j < ld; j++)
		bias[j] = b && j < p->n ? b[j] : 0.0f;
}

static enum status lin_prepare(struct step *s, const struct tensor *const *in, int n_in,
			       struct tensor *const *out, int n_out, struct err *e)
{
	const struct tensor *res = s->epi.residual && n_in > 0 ? in[n_in - 1] : NULL;
	if (s->epi.residual)
		n_in--;
	enum status st = ops_check_arity(in, n_in, 2, 3, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
	if ((st = ops_want_dtype(x, "A", DT_FLOAT, e)) ||
	    (st = ops_want_dtype(w, "B", DT_FLOAT, e)) ||
	    (b && (st = ops_want_dtype(b, "bias", DT_FLOAT, e))))
		return st;
	if (x->shape.rank < 2 || w->shape.rank != 2 ||
	    x->shape.dim[x->shape.rank - 1] != w->shape.dim[0])
		return err_set(e, ERR_SHAPE, "fused Linear: A and B do not multiply");
	struct lin_params p = { .k = w->shape.dim[0], .n = w->shape.dim[1] };
	if (b && tensor_numel(b) != p.n)
		return err_set(e, ERR_SHAPE, "fused Linear: bias is not [N]");
	if (p.k < 1 || p.n < 1 || p.k > INT_MAX || p.n > INT_MAX)
		return err_set(e, ERR_LIMIT, "fused Linear: matrix dims out of range");
	p.m = tensor_numel(x) / p.k;
	if (p.m > INT_MAX)
		return err_set(e, ERR_LIMIT, "fused Linear: too many rows");
	p.nv = (p.n + 15) / 16;
	p.avx512 = NN_X86 && nn_have_avx512();
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = x->shape;
	out[0]->shape.dim[x->shape.rank - 1] = p.n;
	if (res && (res->dtype != DT_FLOAT || !shape_equal(&res->shape, &out[0]->shape)))
		return err_set(e, ERR_SHAPE, "fused residual does not match the output");
	size_t packed = lin_packed_floats(&p);
	if (packed > LIN_PREPACK_MAX)
		p.avx512 = false; /* no weight copy that big: one sgemm does it */
	bool pre = p.avx512 && w->data && (!b || b->data);
	struct lin_params *pp = calloc(1, nn_align(sizeof *pp) + (pre ? packed * sizeof(float) : 0));
	if (!pp)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pp = p;
	s->params = pp;
	if (pre) {
		pp->pre = (float *)((char *)pp + nn_align(sizeof *pp));
		pp->pre_w = w->data;
		pp->pre_b = b ? b->data : NULL;
		lin_pack(pp, pp->pre_w, pp->pre_b, pp->pre);
	}
	s->scratch_bytes = p.avx512 ? packed * sizeof(float) : 0;
	return OK;
}

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")

static inline __mmask16 lanes16(int64_t n)
{
	return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* R rows x V vectors starting at row r0 (rows of them real) and packed column vector c0. */
static inline __attribute__((always_inline)) void
lin_tile(const struct lin_params *p, const float *x, const float *wpk, const float *bias,
	 const float *res, float *y, int64_t r0, int rows, int64_t c0, int nvc,
	 const struct step_epilogue *epi, const int R, const int V)
{
	const int64_t ld = p->nv * 16, k_n = p->k;
	const float *xr[8];
	__m512 acc[8][6];
#pragma GCC unroll 8
	for (int i = 0; i < R; i++)
		xr[i] = x + (r0 + (i < rows ? i : rows - 1)) * k_n;
#pragma GCC unroll 6
	for (int j = 0; j < V; j++) {
		__m512 bv = _mm512_loadu_ps(bias + (c0 + j) * 16);
#pragma GCC unroll 8
		for (int i = 0; i < R; i++)
			acc[i][j] = bv;
	}
	const float *wk = wpk + c0 * 16;
	for (int64_t k = 0; k < k_n; k++, wk += ld) {
		__m512 wv[6];
#pragma GCC unroll 6
		for (int j = 0; j < V; j++)
			wv[j] = _mm512_loadu_ps(wk + 16 * j);
#pragma GCC unroll 8
		for (int i = 0; i < R; i++) {
			__m512 xv = _mm512_set1_ps(xr[i][k]);
#pragma GCC unroll 6
			for (int j = 0; j < V; j++)
				acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < R; i++) {
		if (i >= rows)
			break;
#pragma GCC unroll 6
		for (int j = 0; j < V; j++) {
			if (j >= nvc)
				break;
			int64_t col = (c0 + j) * 16, at = (r0 + i) * p->n + col;
			__mmask16 m = lanes16(p->n - col);
			__m512 v = acc[i][j];
			if (res)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + at));
			_mm512_mask_storeu_ps(y + at, m, vm_act(v, epi));
		}
	}
}

#define LIN_TILE(R, V)                                                                            \
	static void lin_tile_##V(const struct lin_params *p, const float *x, const float *wpk,  \
				 const float *bias, const float *res, float *y, int64_t r0,       \
				 int rows, int64_t c0, int nvc, const struct step_epilogue *epi) \
	{                                                                                         \
		lin_tile(p, x, wpk, bias, res, y, r0, rows, c0, nvc, epi, R, V);                  \
	}
/* rows per tile for V vectors: 24 accumulators at most, 8 rows at most */
LIN_TILE(8, 1) LIN_TILE(8, 2) LIN_TILE(8, 3) LIN_TILE(6, 4) LIN_TILE(4, 5) LIN_TILE(4, 6)
#undef LIN_TILE

static void lin_avx512(const struct lin_params *p, const float *x, const float *wpk,
		       const float *res, float *y, const struct step_epilogue *epi)
{
	typedef void (*fn)(const struct lin_params *, const float *, const float *, const float *,
			   const float *, float *, int64_t, int, int64_t, int,
			   const struct step_epilogue *);
	static const fn tiles[6] = { lin_tile_1, lin_tile_2, lin_tile_3,
				     lin_tile_4, lin_tile_5, lin_tile_6 };
	static const int rows_for[6] = { 8, 8, 8, 6, 4, 4 };
	const float *bias = wpk + p->k * p->nv * 16;
	/* column blocks of up to 6 vectors, as even as possible */
	const int64_t nblk = (p->nv + 5) / 6;
	for (int64_t cb = 0, c0 = 0; cb < nblk; cb++) {
		int nvc = (int)((p->nv - c0 + (nblk - cb) - 1) / (nblk - cb));
		const int r = rows_for[nvc - 1];
		for (int64_t r0 = 0; r0 < p->m; r0 += r) {
			int rows = p->m - r0 < r ? (int)(p->m - r0) : r;
			tiles[nvc - 1](p, x, wpk, bias, res, y, r0, rows, c0, nvc, epi);
		}
		c0 += nvc;
	}
}

#pragma GCC pop_options
#endif

static enum status lin_run(const struct step *s, const struct tensor *const *in, int n_in,
			   struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct lin_params *p = s->params;
	const float *res = s->epi.residual ? in[n_in - 1]->data : NULL;
	if (s->epi.residual)
		n_in--;
	const float *x = in[0]->data, *w = in[1]->data;
	const float *b = n_in > 2 && in[2] ? in[2]->data : NULL;
	float *y = out[0]->data;
#if NN_X86
	if (p->avx512) {
		const float *wpk = p->pre;
		if (!wpk || w != p->pre_w || b != p->pre_b) {
			lin_pack(p, w, b, scratch);
			wpk = scratch;
		}
		lin_avx512(p, x, wpk, res, y, &s->epi);
		return OK;
	}
#endif
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p->m, (int)p->n, (int)p->k,
		    1.0f, x, (int)p->k, w, (int)p->n, 0.0f, y, (int)p->n);
	if (b)
		for (int64_t r = 0; r < p->m; r++)
			for (int64_t j = 0; j < p->n; j++)
				y[r * p->n + j] += b[j];
	nn_epilogue(&s->epi, y, res, p->m * p->n);
	return OK;
}

const struct op_def fused_linear = { "MatMul", 1, QK_NONE, lin_prepare, lin_run };

/* --- attention ----------------------------------------------------------- */

struct attn_params {
	int64_t batch;	   /* (batch, head) matrices */
	int64_t n, d, m, e; /* Q [n, d], KT [d, m], V [m, e] */
	int64_t ms;	   /* score row stride in scratch: m rounded up to 16 */
	bool div;	   /* scores / s rather than * s */
	bool avx512;
};

static enum status attn_prepare(struct step *s, const struct tensor *const *in, int n_in,
				struct tensor *const *out, int n_out, bool div, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 4, 4, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *q = in[0], *kt = in[1], *sc = in[2], *v = in[3];
	static const char *const names[] = { "Q", "KT", "scale", "V" };
	for (int i = 0; i < 4; i++)
		if ((st = ops_want_dtype(in[i], names[i], DT_FLOAT, e)))
			return st;
	int r = q->shape.rank;
	if (r < 2 || kt->shape.rank != r || v->shape.rank != r || tensor_numel(sc) != 1)
		return err_set(e, ERR_SHAPE, "fused attention: inputs do not match");
	struct attn_params p = { .n = q->shape.dim[r - 2], .d = q->shape.dim[r - 1],
				 .m = kt->shape.dim[r - 1], .e = v->shape.dim[r - 1], .div = div,
				 .batch = 1 };
	if (kt->shape.dim[r - 2] != p.d || v->shape.dim[r - 2] != p.m)
		return err_set(e, ERR_SHAPE, "fused attention: inner dims do not match");
	for (int i = 0; i < r - 2; i++) {
		if (kt->shape.dim[i] != q->shape.dim[i] || v->shape.dim[i] != q->shape.dim[i])
			return err_set(e, ERR_SHAPE, "fused attention: leading dims differ");
		p.batch *= q->shape.dim[i];
	}
	if (p.m < 1 || p.n < 1 || p.m > (int64_t)1 << 20)
		return err_set(e, ERR_LIMIT, "fused attention: sizes out of range");
	p.ms = (p.m + 15) / 16 * 16;
	p.avx512 = NN_X86 && nn_have_avx512();
	struct attn_params *pp = malloc(sizeof *pp);
	if (!pp)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pp = p;
	s->params = pp;
	/* scores of 8 rows */
	s->scratch_bytes = (size_t)(8 * p.ms) * sizeof(float);
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = q->shape;
	out[0]->shape.dim[r - 1] = p.e;
	return OK;
}

/* Softmax of one row of scores in place, as the Softmax op does it. */
static void attn_softmax_row(float *row, int64_t m) { nn_softmax_row(row, row, m); }

static void attn_generic(const struct attn_params *p, const float *q, const float *kt, float s,
			 const float *v, float *y, float *sc)
{
	for (int64_t b = 0; b < p->batch; b++) {
		const float *qb = q + b * p->n * p->d, *kb = kt + b * p->d * p->m;
		const float *vb = v + b * p->m * p->e;
		float *yb = y + b * p->n * p->e;
		for (int64_t i = 0; i < p->n; i++) {
			for (int64_t j = 0; j < p->m; j++) {
				float acc = 0.0f;
				for (int64_t k = 0; k < p->d; k++)
					acc += qb[i * p->d + k] * kb[k * p->m + j];
				sc[j] = p->div ? acc / s : acc * s;
			}
			attn_softmax_row(sc, p->m);
			for (int64_t c = 0; c < p->e; c++) {
				float acc = 0.0f;
				for (int64_t j = 0; j < p->m; j++)
					acc += sc[j] * vb[j * p->e + c];
				yb[i * p->e + c] = acc;
			}
		}
	}
}

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")

/* Scores of rows [i0, i0 + rows) of one matrix into sc (row stride ms), softmaxed. */
static void attn_scores(const struct attn_params *p, const float *qb, const float *kb, float s,
			float *sc, int64_t i0, int rows)
{
	const int64_t mv = p->ms / 16;
	const __m512 sv = _mm512_set1_ps(s);
	/* tiles of 6 rows x 4 vectors of keys */
	const float *qr[6];
#pragma GCC unroll 6
	for (int i = 0; i < 6; i++)
		qr[i] = qb + (i0 + (i < rows ? i : rows - 1)) * p->d;
	for (int64_t c0 = 0; c0 < mv; c0 += 4) {
		__m512 acc[6][4];
		__mmask16 lm[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			lm[j] = lanes16(p->m - (c0 + j) * 16);
#pragma GCC unroll 6
			for (int i = 0; i < 6; i++)
				acc[i][j] = _mm512_setzero_ps();
		}
		for (int64_t k = 0; k < p->d; k++) {
			__m512 kv[4];
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++)
				kv[j] = _mm512_maskz_loadu_ps(lm[j], kb + k * p->m + (c0 + j) * 16);
#pragma GCC unroll 6
			for (int i = 0; i < 6; i++) {
				__m512 qv = _mm512_set1_ps(qr[i][k]);
#pragma GCC unroll 4
				for (int j = 0; j < 4; j++)
					acc[i][j] = _mm512_fmadd_ps(qv, kv[j], acc[i][j]);
			}
		}
#pragma GCC unroll 6
		for (int i = 0; i < 6; i++)
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++)
				acc[i][j] = p->div ? _mm512_div_ps(acc[i][j], sv) :
						     _mm512_mul_ps(acc[i][j], sv);
#pragma GCC unroll 6
		for (int i = 0; i < 6; i++) {
			if (i >= rows)
				break;
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++) {
				if (c0 + j >= mv)
					break;
				_mm512_store_ps(sc + i * p->ms + (c0 + j) * 16, acc[i][j]);
			}
		}
	}
	for (int i = 0; i < rows; i++) {
		float *row = sc + i * p->ms;
		__m512 mx = _mm512_set1_ps(-INFINITY);
		for (int64_t j = 0; j < mv; j++)
			mx = _mm512_mask_max_ps(mx, lanes16(p->m - 16 * j), _mm512_load_ps(row + 16 * j),
						mx);
		const __m512 mb = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
		__m512 sum = _mm512_setzero_ps();
		for (int64_t j = 0; j < mv; j++) {
			__mmask16 m = lanes16(p->m - 16 * j);
			__m512 ev = _mm512_maskz_mov_ps(m, vm_exp_nonpos(_mm512_sub_ps(
							   _mm512_load_ps(row + 16 * j), mb)));
			_mm512_store_ps(row + 16 * j, ev);
			sum = _mm512_add_ps(sum, ev);
		}
		const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
		for (int64_t j = 0; j < mv; j++)
			_mm512_store_ps(row + 16 * j, _mm512_mul_ps(_mm512_load_ps(row + 16 * j), inv));
	}
}

/* Output rows [i0, i0 + rows) = P V over the vectors [c0, c0 + VB) of V's rows: per row one
 * accumulator chain per vector. */
static inline __attribute__((always_inline)) void
attn_values_block(const struct attn_params *p, const float *const *pr, const float *vb, float *yb,
		  int64_t i0, int rows, int64_t c0, const int VB)
{
	__m512 acc[8][2];
	__mmask16 lm[2];
#pragma GCC unroll 2
	for (int j = 0; j < VB; j++) {
		lm[j] = lanes16(p->e - (c0 + j) * 16);
#pragma GCC unroll 8
		for (int i = 0; i < 8; i++)
			acc[i][j] = _mm512_setzero_ps();
	}
	for (int64_t k = 0; k < p->m; k++) {
		__m512 vv[2];
#pragma GCC unroll 2
		for (int j = 0; j < VB; j++)
			vv[j] = _mm512_maskz_loadu_ps(lm[j], vb + k * p->e + (c0 + j) * 16);
#pragma GCC unroll 8
		for (int i = 0; i < 8; i++) {
			__m512 pv = _mm512_set1_ps(pr[i][k]);
#pragma GCC unroll 2
			for (int j = 0; j < VB; j++)
				acc[i][j] = _mm512_fmadd_ps(pv, vv[j], acc[i][j]);
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < 8; i++) {
		if (i >= rows)
			break;
#pragma GCC unroll 2
		for (int j = 0; j < VB; j++)
			_mm512_mask_storeu_ps(yb + (i0 + i) * p->e + (c0 + j) * 16, lm[j], acc[i][j]);
	}
}

/* Output rows [i0, i0 + rows) = P V, two vectors of V at a time (one for the last odd one:
 * a 16-wide head is one vector). */
static void attn_values(const struct attn_params *p, const float *sc, const float *vb, float *yb,
			int64_t i0, int rows)
{
	const int64_t ev = (p->e + 15) / 16;
	const float *pr[8];
#pragma GCC unroll 8
	for (int i = 0; i < 8; i++)
		pr[i] = sc + (i < rows ? i : rows - 1) * p->ms;
	for (int64_t c0 = 0; c0 < ev; c0 += 2) {
		if (ev - c0 >= 2)
			attn_values_block(p, pr, vb, yb, i0, rows, c0, 2);
		else
			attn_values_block(p, pr, vb, yb, i0, rows, c0, 1);
	}
}

static void attn_avx512(const struct attn_params *p, const float *q, const float *kt, float s,
			const float *v, float *y, float *sc)
{
	for (int64_t b = 0; b < p->batch; b++) {
		const float *qb = q + b * p->n * p->d, *kb = kt + b * p->d * p->m;
		const float *vb = v + b * p->m * p->e;
		float *yb = y + b * p->n * p->e;
		for (int64_t i0 = 0; i0 < p->n; i0 += 8) {
			int rows = p->n - i0 < 8 ? (int)(p->n - i0) : 8;
			/* the score tiles are 6 rows high */
			for (int r = 0; r < rows; r += 6)
				attn_scores(p, qb, kb, s, sc + r * p->ms, i0 + r,
					    rows - r < 6 ? rows - r : 6);
			attn_values(p, sc, vb, yb, i0, rows);
		}
	}
}

#pragma GCC pop_options
#endif

static enum status attn_run(const struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct attn_params *p = s->params;
	const float sv = *(const float *)in[2]->data;
#if NN_X86
	if (p->avx512) {
		attn_avx512(p, in[0]->data, in[1]->data, sv, in[3]->data, out[0]->data, scratch);
		return OK;
	}
#endif
	attn_generic(p, in[0]->data, in[1]->data, sv, in[3]->data, out[0]->data, scratch);
	return OK;
}

static enum status attn_prepare_mul(struct step *s, const struct tensor *const *in, int n_in,
				    struct tensor *const *out, int n_out, struct err *e)
{
	return attn_prepare(s, in, n_in, out, n_out, false, e);
}

static enum status attn_prepare_div(struct step *s, const struct tensor *const *in, int n_in,
				    struct tensor *const *out, int n_out, struct err *e)
{
	return attn_prepare(s, in, n_in, out, n_out, true, e);
}

const struct op_def fused_attention_mul = { "MatMul", 1, QK_NONE, attn_prepare_mul, attn_run };
const struct op_def fused_attention_div = { "MatMul", 1, QK_NONE, attn_prepare_div, attn_run };
