/*
 * matmul.c - MatMul on float32 with numpy semantics.
 *
 * A 1-D A is a row [1, K] and a 1-D B a column [K, 1]; the added dim is dropped from the
 * output.  Leading (batch) dims broadcast numpy-style.  prepare() works out the output shape
 * and, for each output batch dim, the element strides of A's and B's matrices (0 when that
 * input is broadcast along it).  run() then does one cblas_sgemm per output matrix, except in
 * the common case of a shared 2-D B (a Linear layer on [batch, seq, features]): A's batch is
 * folded into M and the whole product is a single sgemm.
 *
 * Many small products (attention: scores and their weighted sums, one per sample and head,
 * tens of rows and columns) cost OpenBLAS more in packing and dispatch than in arithmetic.
 * With AVX-512, products with at most 64 columns run in small_avx512 instead: blocks of rows
 * whose accumulators fit in registers, B's rows streamed from L1, each output element
 * accumulated over k in order with FMAs (deterministic, like any sgemm here, but rounded
 * differently from OpenBLAS).
 */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nn_util.h"

#if NN_X86 /* GCC pragmas below */
#include <immintrin.h>
#endif

/* Products the small kernel takes: at most 64 columns (four vectors) and not much work. */
#define MM_SMALL_N 64
#define MM_SMALL_MK 16384

#define MM_MAX_BATCH (TENSOR_MAX_RANK - 2)

struct matmul_params {
	int64_t m, k, n;
	int nbd;			/* output batch dims */
	int64_t bdim[MM_MAX_BATCH];	/* their sizes */
	int64_t astr[MM_MAX_BATCH];	/* A's matrix stride per batch dim, 0 = broadcast */
	int64_t bstr[MM_MAX_BATCH];
	int64_t nbatch;			/* product of bdim */
	bool fold;			/* B shared by all batches and A contiguous: one sgemm */
	bool small;			/* per-batch products through small_avx512 */
};

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")
/*
 * Rows [i, i + R) of y = a b with NV vectors of columns (the last one masked).  R and NV are
 * constants where this is inlined, so the R x NV accumulators stay in registers: with a
 * run-time NV, gcc keeps them on the stack and every FMA waits for a store and a load.
 */
static inline __attribute__((always_inline)) void
small_rows(const float *a, const float *b, float *y, int64_t k, int64_t n, int R, int NV,
	   const __mmask16 *mk)
{
	__m512 acc[8][4];
#pragma GCC unroll 8
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			acc[r][v] = _mm512_setzero_ps();
	for (int64_t kk = 0; kk < k; kk++) {
		const float *br = b + kk * n;
		__m512 bv[4];
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			bv[v] = _mm512_maskz_loadu_ps(mk[v], br + 16 * v);
#pragma GCC unroll 8
		for (int r = 0; r < R; r++) {
			__m512 av = _mm512_set1_ps(a[r * k + kk]);
#pragma GCC unroll 4
			for (int v = 0; v < NV; v++)
				acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
		}
	}
#pragma GCC unroll 8
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			_mm512_mask_storeu_ps(y + r * n + 16 * v, mk[v], acc[r][v]);
}

/* All rows with NV vectors of columns: blocks of R rows (R x NV accumulators, at most 24 of
 * the 32 registers), then one row at a time. */
static inline __attribute__((always_inline)) void
small_nv(const float *a, const float *b, float *y, int64_t m, int64_t k, int64_t n, int R,
	 int NV, const __mmask16 *mk)
{
	int64_t i = 0;
	for (; i + R <= m; i += R)
		small_rows(a + i * k, b, y + i * n, k, n, R, NV, mk);
	for (; i < m; i++)
		small_rows(a + i * k, b, y + i * n, k, n, 1, NV, mk);
}

/* y[m, n] = a[m, k] b[k, n], all row-major and contiguous, n <= 64.  Each output element is
 * a sum over k in order, one FMA per term from zero, whatever the blocking. */
static void small_avx512(const float *a, const float *b, float *y, int64_t m, int64_t k,
			 int64_t n)
{
	__mmask16 mk[4];
	for (int v = 0; v < 4; v++) {
		int64_t left = n - 16 * v;
		mk[v] = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
	}
	switch ((n + 15) / 16) {
	case 1:
		small_nv(a, b, y, m, k, n, 8, 1, mk);
		break;
	case 2:
		small_nv(a, b, y, m, k, n, 8, 2, mk);
		break;
	case 3:
		small_nv(a, b, y, m, k, n, 6, 3, mk);
		break;
	default:
		small_nv(a, b, y, m, k, n, 4, 4, mk);
		break;
	}
}
#pragma GCC pop_options
#endif

enum status op_matmul_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 2, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *a = in[0], *b = in[1];
	if ((st = ops_want_dtype(a, "A", DT_FLOAT, e)) ||
	    (st = ops_want_dtype(b, "B", DT_FLOAT, e)))
		return st;
	const struct shape *as = &a->shape, *bs = &b->shape;
	if (as->rank < 1 || bs->rank < 1)
		return err_set(e, ERR_SHAPE, "%s is a scalar; MatMul needs at least 1 dim",
			       as->rank < 1 ? "A" : "B");

	struct matmul_params p = { 0 };
	bool a_vec = as->rank == 1, b_vec = bs->rank == 1;
	p.m = a_vec ? 1 : as->dim[as->rank - 2];
	p.k = as->dim[as->rank - 1];
	int64_t kb = b_vec ? bs->dim[0] : bs->dim[bs->rank - 2];
	p.n = b_vec ? 1 : bs->dim[bs->rank - 1];
	if (p.k != kb) {
		char sa[96], sb[96];
		return err_set(e, ERR_SHAPE, "A %s and B %s have different inner dims (%lld and "
			       "%lld)", shape_str(as, sa, sizeof sa), shape_str(bs, sb, sizeof sb),
			       (long long)p.k, (long long)kb);
	}
	if (p.m > INT_MAX || p.n > INT_MAX || p.k > INT_MAX)
		return err_set(e, ERR_LIMIT, "matrix dims exceed the BLAS limit");

	int abd = a_vec ? 0 : as->rank - 2, bbd = b_vec ? 0 : bs->rank - 2;
	p.nbd = abd > bbd ? abd : bbd;
	/* Matrix strides: a batch dim's stride is the product of the dims after it. */
	int64_t sa = p.m * p.k, sb = p.k * p.n;
	int64_t nb_a = 1, nb_b = 1;
	p.nbatch = 1;
	for (int i = p.nbd - 1; i >= 0; i--) {
		int ia = i - (p.nbd - abd), ib = i - (p.nbd - bbd);
		int64_t da = ia >= 0 ? as->dim[ia] : 1, db = ib >= 0 ? bs->dim[ib] : 1;
		if (da != db && da != 1 && db != 1) {
			char s1[96], s2[96];
			return err_set(e, ERR_SHAPE, "batch dims of A %s and B %s do not broadcast",
				       shape_str(as, s1, sizeof s1), shape_str(bs, s2, sizeof s2));
		}
		p.bdim[i] = da > db ? da : db;
		if (da == 0 || db == 0)
			p.bdim[i] = 0;
		p.astr[i] = da == 1 ? 0 : sa;
		p.bstr[i] = db == 1 ? 0 : sb;
		sa *= da;
		sb *= db;
		nb_a *= da;
		nb_b *= db;
		p.nbatch *= p.bdim[i];
	}
	p.fold = nb_b == 1 && nb_a == p.nbatch;

	struct shape os = { .rank = 0 };
	for (int i = 0; i < p.nbd; i++)
		os.dim[os.rank++] = p.bdim[i];
	if (!a_vec)
		os.dim[os.rank++] = p.m;
	if (!b_vec)
		os.dim[os.rank++] = p.n;
	int64_t numel;
	if ((st = shape_numel_checked(&os, sizeof(float), &numel, e)))
		return st;
	if (p.fold && p.nbatch * p.m > INT_MAX)
		p.fold = false;
	p.small = NN_X86 && !p.fold && p.n <= MM_SMALL_N && p.m * p.k <= MM_SMALL_MK &&
		  nn_have_avx512();

	struct matmul_params *pp = malloc(sizeof *pp);
	if (!pp)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pp = p;
	s->params = pp;
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = os;
	return OK;
}

enum status op_matmul_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct matmul_params *p = s->params;
	const float *a = in[0]->data, *b = in[1]->data;
	float *y = out[0]->data;
	const int64_t m = p->m, k = p->k, n = p->n;
	if (p->nbatch == 0 || m == 0 || n == 0)
		return OK;
	if (k == 0) {
		memset(y, 0, (size_t)(p->nbatch * m * n) * sizeof(float));
		return OK;
	}
	if (p->fold) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(p->nbatch * m),
			    (int)n, (int)k, 1.0f, a, (int)k, b, (int)n, 0.0f, y, (int)n);
		return OK;
	}
	int64_t idx[MM_MAX_BATCH] = { 0 };
	int64_t offa = 0, offb = 0;
	for (int64_t t = 0; t < p->nbatch; t++) {
#if NN_X86
		if (p->small)
			small_avx512(a + offa, b + offb, y + t * m * n, m, k, n);
		else
#endif
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n,
				    (int)k, 1.0f, a + offa, (int)k, b + offb, (int)n, 0.0f,
				    y + t * m * n, (int)n);
		/* odometer over the output batch index, keeping the input offsets in step */
		for (int i = p->nbd - 1; i >= 0; i--) {
			offa += p->astr[i];
			offb += p->bstr[i];
			if (++idx[i] < p->bdim[i])
				break;
			offa -= p->astr[i] * p->bdim[i];
			offb -= p->bstr[i] * p->bdim[i];
			idx[i] = 0;
		}
	}
	return OK;
}
