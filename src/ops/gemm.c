/*
 * gemm.c - Gemm on float32: Y = alpha * op(A) * op(B) + beta * C.
 *
 * op(X) is X or its transpose (transA / transB).  C is optional (required before opset 11;
 * accepted as omitted at any opset) and broadcasts unidirectionally to [M, N]: a scalar, [N],
 * [1, N], [M, 1] or [M, N].  prepare() reduces C's shape to a row and a column stride (0 along a
 * broadcast dim); run() writes beta * C into Y and lets one cblas_sgemm accumulate onto it.
 */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>

#include "nn_util.h"

struct gemm_params {
	int64_t m, n, k;
	bool ta, tb;
	float alpha, beta;
	bool has_c;
	int64_t c_rs, c_cs; /* strides of C over Y's rows and columns */
};

enum status op_gemm_prepare(struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 3, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *a = in[0], *b = in[1], *c = n_in > 2 ? in[2] : NULL;
	if ((st = ops_want_dtype(a, "A", DT_FLOAT, e)) ||
	    (st = ops_want_dtype(b, "B", DT_FLOAT, e)) ||
	    (c && (st = ops_want_dtype(c, "C", DT_FLOAT, e))))
		return st;
	if (a->shape.rank != 2)
		return err_set(e, ERR_SHAPE, "A has %d dims, expected 2", a->shape.rank);
	if (b->shape.rank != 2)
		return err_set(e, ERR_SHAPE, "B has %d dims, expected 2", b->shape.rank);
	int64_t ta, tb;
	float alpha, beta;
	if ((st = node_attr_int(s->node, "transA", 0, &ta, e)) ||
	    (st = node_attr_int(s->node, "transB", 0, &tb, e)) ||
	    (st = node_attr_float(s->node, "alpha", 1.0f, &alpha, e)) ||
	    (st = node_attr_float(s->node, "beta", 1.0f, &beta, e)))
		return st;

	struct gemm_params p = { .ta = ta != 0, .tb = tb != 0, .alpha = alpha, .beta = beta };
	p.m = a->shape.dim[p.ta ? 1 : 0];
	p.k = a->shape.dim[p.ta ? 0 : 1];
	int64_t kb = b->shape.dim[p.tb ? 1 : 0];
	p.n = b->shape.dim[p.tb ? 0 : 1];
	if (p.k != kb) {
		char sa[64], sb[64];
		return err_set(e, ERR_SHAPE, "A %s%s and B %s%s have different inner dims (%lld "
			       "and %lld)", shape_str(&a->shape, sa, sizeof sa),
			       p.ta ? " (transposed)" : "", shape_str(&b->shape, sb, sizeof sb),
			       p.tb ? " (transposed)" : "", (long long)p.k, (long long)kb);
	}
	if (p.m > INT_MAX || p.n > INT_MAX || p.k > INT_MAX)
		return err_set(e, ERR_LIMIT, "matrix dims exceed the BLAS limit");
	struct shape ys = { .rank = 2, .dim = { p.m, p.n } };
	int64_t numel;
	if ((st = shape_numel_checked(&ys, sizeof(float), &numel, e)))
		return st;

	if (c) {
		const struct shape *cs = &c->shape;
		int64_t cm = cs->rank == 2 ? cs->dim[0] : 1;
		int64_t cn = cs->rank >= 1 ? cs->dim[cs->rank - 1] : 1;
		if (cs->rank > 2 || (cm != 1 && cm != p.m) || (cn != 1 && cn != p.n)) {
			char buf[96];
			return err_set(e, ERR_SHAPE, "C has shape %s, which does not broadcast "
				       "to [%lld,%lld]", shape_str(cs, buf, sizeof buf),
				       (long long)p.m, (long long)p.n);
		}
		p.has_c = true;
		p.c_cs = cn == 1 ? 0 : 1;
		p.c_rs = cm == 1 ? 0 : cn;
	}

	struct gemm_params *pp = malloc(sizeof *pp);
	if (!pp)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pp = p;
	s->params = pp;
	out[0]->dtype = DT_FLOAT;
	out[0]->shape.rank = 2;
	out[0]->shape.dim[0] = p.m;
	out[0]->shape.dim[1] = p.n;
	return OK;
}

enum status op_gemm_run(const struct step *s, const struct tensor *const *in, int n_in,
			struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct gemm_params *p = s->params;
	float *restrict y = out[0]->data;
	const int64_t m = p->m, n = p->n;
	if (m == 0 || n == 0)
		return OK;
	float blas_beta = 0.0f;
	if (p->has_c && p->beta != 0.0f) {
		const float *restrict c = in[2]->data;
		const int64_t rs = p->c_rs, cs = p->c_cs;
		const float beta = p->beta;
		for (int64_t i = 0; i < m; i++) {
			float *restrict yr = y + i * n;
			const float *restrict cr = c + i * rs;
			if (cs)
				for (int64_t j = 0; j < n; j++)
					yr[j] = beta * cr[j];
			else
				for (int64_t j = 0; j < n; j++)
					yr[j] = beta * cr[0];
		}
		blas_beta = 1.0f;
	}
	if (p->k == 0) {
		if (blas_beta == 0.0f)
			for (int64_t i = 0; i < m * n; i++)
				y[i] = 0.0f;
		return OK;
	}
	const struct shape *as = &in[0]->shape, *bs = &in[1]->shape;
	cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans,
		    p->tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)p->k, p->alpha,
		    in[0]->data, (int)as->dim[1], in[1]->data, (int)bs->dim[1], blas_beta, y,
		    (int)n);
	return OK;
}
