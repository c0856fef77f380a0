/*
 * transpose.c - Transpose (perm attribute, default: reverse the axes).
 *
 * A transpose is only as hard as its permutation after simplification, so
 * prepare() first drops size-1 axes (they do not move any element) and merges
 * input axes that stay adjacent and in order in the output.  The attention
 * blocks of a transformer then reduce to three shapes of work:
 *  - nothing left (rank <= 1 or identity): one memcpy;
 *  - the innermost axis stays innermost, e.g. [0,2,1,3] on [B,S,H,D]: copy
 *    contiguous rows of D elements while an odometer walks the outer axes;
 *  - otherwise, e.g. [0,1,3,2] or [0,2,3,1] (which become [0,2,1]): a batch of
 *    2-D transposes between the output's innermost axis and the input's
 *    innermost axis, done in square tiles so that both the strided reads and
 *    the contiguous writes stay in L1.
 * The kernels only move elements, instantiated per element size (1, 2, 4, 8
 * bytes), so any dtype works, including the int64 shape tensors of folding.
 */
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "shape_util.h"

enum tr_mode { TR_COPY, TR_ROWS, TR_TILE };

struct tr_params {
	enum tr_mode mode;
	size_t es;
	int64_t numel;
	int n_outer;				  /* axes walked by the odometer */
	int64_t odim[TENSOR_MAX_RANK];		  /* their sizes */
	int64_t istr[TENSOR_MAX_RANK], ostr[TENSOR_MAX_RANK]; /* their strides, elements */
	int64_t row;				  /* TR_ROWS: contiguous run length */
	int64_t ni, nj, sa, so;			  /* TR_TILE: see tile kernels */
};

enum status op_transpose_prepare(struct step *s, const struct tensor *const *in, int n_in,
				 struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 1, 1, n_out, 1, e);
	const int64_t *pa;
	int np;
	size_t es;
	if (st || (st = su_elem_size(in[0], "input", &es, e)) ||
	    (st = node_attr_ints(s->node, "perm", &pa, &np, e)))
		return st;
	const struct shape *is = &in[0]->shape;
	int r = is->rank, perm[TENSOR_MAX_RANK];
	if (pa && np != r)
		return err_set(e, ERR_INVALID, "perm has %d entries for an input of rank %d", np, r);
	bool seen[TENSOR_MAX_RANK] = { false };
	for (int k = 0; k < r; k++) {
		int64_t p = pa ? pa[k] : r - 1 - k;
		if (p < 0 || p >= r || seen[p])
			return err_set(e, ERR_INVALID, "perm is not a permutation of 0..%d", r - 1);
		seen[p] = true;
		perm[k] = (int)p;
	}
	struct shape os = { .rank = r };
	for (int k = 0; k < r; k++)
		os.dim[k] = is->dim[perm[k]];
	out[0]->dtype = in[0]->dtype;
	out[0]->shape = os;

	struct tr_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	p->es = es;
	p->numel = shape_numel(is);

	/* drop size-1 axes: renumber the kept input axes 0..m-1 */
	int newid[TENSOR_MAX_RANK], m = 0, cp[TENSOR_MAX_RANK], c = 0;
	int64_t cd[TENSOR_MAX_RANK];
	for (int a = 0; a < r; a++)
		newid[a] = is->dim[a] == 1 ? -1 : m++;
	for (int k = 0; k < r; k++)
		if (newid[perm[k]] >= 0)
			cp[c++] = newid[perm[k]];
	/* merge input axes that follow each other in the output too */
	int grp[TENSOR_MAX_RANK]; /* kept input axis -> merged axis */
	int64_t md[TENSOR_MAX_RANK];
	int g = 0, mp[TENSOR_MAX_RANK], nm = 0;
	{
		/* an input axis a starts a new group unless output has a-1 right before a */
		bool starts[TENSOR_MAX_RANK];
		for (int a = 0; a < m; a++)
			starts[a] = true;
		for (int k = 1; k < c; k++)
			if (cp[k] == cp[k - 1] + 1)
				starts[cp[k]] = false;
		for (int a = 0, d = 0; a < r; a++)
			if (newid[a] >= 0)
				cd[d++] = is->dim[a];
		for (int a = 0; a < m; a++) {
			if (starts[a])
				md[g++] = 1;
			grp[a] = g - 1;
			md[g - 1] *= cd[a];
		}
		for (int k = 0; k < c; k++)
			if (starts[cp[k]])
				mp[nm++] = grp[cp[k]];
	}
	int rr = g; /* reduced rank; md[] input dims, mp[] perm */
	if (rr <= 1 || p->numel == 0) {
		p->mode = TR_COPY;
		return OK;
	}
	int64_t istride[TENSOR_MAX_RANK], odims[TENSOR_MAX_RANK], ostride[TENSOR_MAX_RANK];
	istride[rr - 1] = 1;
	for (int a = rr - 2; a >= 0; a--)
		istride[a] = istride[a + 1] * md[a + 1];
	for (int k = 0; k < rr; k++)
		odims[k] = md[mp[k]];
	ostride[rr - 1] = 1;
	for (int k = rr - 2; k >= 0; k--)
		ostride[k] = ostride[k + 1] * odims[k + 1];

	int q = 0;
	while (mp[q] != rr - 1)
		q++;
	p->mode = q == rr - 1 ? TR_ROWS : TR_TILE;
	if (p->mode == TR_ROWS) {
		p->row = md[rr - 1];
	} else {
		p->nj = md[mp[rr - 1]];
		p->sa = istride[mp[rr - 1]];
		p->ni = md[rr - 1];
		p->so = ostride[q];
	}
	for (int k = 0; k < rr - 1; k++) {
		if (p->mode == TR_TILE && k == q)
			continue;
		p->odim[p->n_outer] = odims[k];
		p->istr[p->n_outer] = istride[mp[k]];
		p->ostr[p->n_outer] = ostride[k];
		p->n_outer++;
	}
	return OK;
}

#define TILE 16

/* out[i*so + j] = in[j*sa + i] for i < ni, j < nj, in TILE x TILE blocks. */
#define TILE_FN(T, name)                                                                        \
	static void name(const void *inv, void *outv, int64_t ni, int64_t nj, int64_t sa,       \
			 int64_t so)                                                            \
	{                                                                                       \
		const T *restrict x = inv;                                                      \
		T *restrict y = outv;                                                           \
		for (int64_t i0 = 0; i0 < ni; i0 += TILE) {                                     \
			int64_t ie = i0 + TILE < ni ? i0 + TILE : ni;                            \
			for (int64_t j0 = 0; j0 < nj; j0 += TILE) {                             \
				int64_t je = j0 + TILE < nj ? j0 + TILE : nj;                    \
				for (int64_t i = i0; i < ie; i++) {                             \
					T *restrict yr = y + i * so;                             \
					const T *restrict xc = x + i;                            \
					for (int64_t j = j0; j < je; j++)                        \
						yr[j] = xc[j * sa];                              \
				}                                                               \
			}                                                                       \
		}                                                                               \
	}
TILE_FN(uint8_t, tile8)
TILE_FN(uint16_t, tile16)
TILE_FN(uint64_t, tile64)
#if defined(__SSE__)
TILE_FN(uint32_t, tile32_scalar)
#else
TILE_FN(uint32_t, tile32)
#endif
#undef TILE_FN

#if defined(__SSE__)
/* 4-byte elements (float32, the hot case): 4x4 register transposes inside each
 * tile, so every load and store moves four elements; edges go element-wise. */
static void tile32(const void *inv, void *outv, int64_t ni, int64_t nj, int64_t sa, int64_t so)
{
	const float *restrict x = inv;
	float *restrict y = outv;
	int64_t ni4 = ni & ~(int64_t)3, nj4 = nj & ~(int64_t)3;
	for (int64_t i0 = 0; i0 < ni4; i0 += TILE) {
		int64_t ie = i0 + TILE < ni4 ? i0 + TILE : ni4;
		for (int64_t j0 = 0; j0 < nj4; j0 += TILE) {
			int64_t je = j0 + TILE < nj4 ? j0 + TILE : nj4;
			for (int64_t i = i0; i < ie; i += 4) {
				for (int64_t j = j0; j < je; j += 4) {
					const float *s = x + j * sa + i;
					__m128 r0 = _mm_loadu_ps(s);
					__m128 r1 = _mm_loadu_ps(s + sa);
					__m128 r2 = _mm_loadu_ps(s + 2 * sa);
					__m128 r3 = _mm_loadu_ps(s + 3 * sa);
					_MM_TRANSPOSE4_PS(r0, r1, r2, r3);
					float *d = y + i * so + j;
					_mm_storeu_ps(d, r0);
					_mm_storeu_ps(d + so, r1);
					_mm_storeu_ps(d + 2 * so, r2);
					_mm_storeu_ps(d + 3 * so, r3);
				}
			}
		}
	}
	/* right strip (j >= nj4) for the vectorised rows, then the bottom rows */
	if (nj4 < nj)
		tile32_scalar(x + nj4 * sa, y + nj4, ni4, nj - nj4, sa, so);
	if (ni4 < ni)
		tile32_scalar(x + ni4, y + ni4 * so, ni - ni4, nj, sa, so);
}
#endif

/*
 * n runs of `bytes` from x to y, the k-th at x + k * xs and y + k * ys.  Short runs (a
 * head's 16 floats, say) in 16-byte pieces the compiler inlines: a memcpy call per run
 * costs more than the copy.
 */
static void copy_runs(unsigned char *restrict y, const unsigned char *restrict x, size_t bytes,
		      int64_t n, int64_t xs, int64_t ys)
{
	if (bytes == 64) { /* an attention head's 16 floats: one constant-size copy */
		for (int64_t k = 0; k < n; k++)
			memcpy(y + k * ys, x + k * xs, 64);
	} else if (bytes % 16 == 0 && bytes <= 256) {
		for (int64_t k = 0; k < n; k++)
			for (size_t o = 0; o < bytes; o += 16)
				memcpy(y + k * ys + o, x + k * xs + o, 16);
	} else {
		for (int64_t k = 0; k < n; k++)
			memcpy(y + k * ys, x + k * xs, bytes);
	}
}

enum status op_transpose_run(const struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct tr_params *p = s->params;
	const unsigned char *x = in[0]->data;
	unsigned char *y = out[0]->data;
	size_t es = p->es;
	if (p->numel == 0)
		return OK;
	if (p->mode == TR_COPY) {
		memcpy(y, x, (size_t)p->numel * es);
		return OK;
	}
	int64_t n_iter = 1;
	for (int k = 0; k < p->n_outer; k++)
		n_iter *= p->odim[k];
	void (*tile)(const void *, void *, int64_t, int64_t, int64_t, int64_t) =
		es == 1 ? tile8 : es == 2 ? tile16 : es == 4 ? tile32 : tile64;
	size_t row_bytes = (size_t)p->row * es;
	int64_t idx[TENSOR_MAX_RANK] = { 0 }, ioff = 0, ooff = 0;
	/* rows: the innermost outer axis in one call */
	int n_walk = p->n_outer;
	int64_t runs = 1, run_is = 0, run_os = 0;
	if (p->mode == TR_ROWS && n_walk > 0) {
		runs = p->odim[--n_walk];
		run_is = p->istr[n_walk] * (int64_t)es;
		run_os = p->ostr[n_walk] * (int64_t)es;
		n_iter /= runs;
	}
	for (int64_t it = 0; it < n_iter; it++) {
		if (p->mode == TR_ROWS)
			copy_runs(y + (size_t)ooff * es, x + (size_t)ioff * es, row_bytes, runs,
				  run_is, run_os);
		else
			tile(x + (size_t)ioff * es, y + (size_t)ooff * es, p->ni, p->nj, p->sa,
			     p->so);
		for (int k = n_walk - 1; k >= 0; k--) {
			ioff += p->istr[k];
			ooff += p->ostr[k];
			if (++idx[k] < p->odim[k])
				break;
			ioff -= p->istr[k] * p->odim[k];
			ooff -= p->ostr[k] * p->odim[k];
			idx[k] = 0;
		}
	}
	return OK;
}
