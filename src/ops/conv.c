/*
 * conv.c - Conv on float32: 1-D, 2-D and 3-D, groups, strides, pads, dilations, auto_pad.
 *
 * Convolution is where a CNN spends its time, so this file picks one of three kernels in
 * prepare() and sizes their scratch there; run() only computes.
 *
 *  - GEMM (the general path).  For each group, the output [Mg, P] (P = output pixels) is the
 *    weight [Mg, Cg*kD*kH*kW] times an im2col matrix whose row (c, kd, kh, kw) holds the input
 *    pixel each output pixel sees through that kernel tap (zero in the padding).  OpenBLAS does
 *    the product.  A 1x1, stride-1, unpadded conv needs no im2col: the NCHW input of a sample
 *    already is that matrix.
 *  - Batched GEMM.  On small feature maps (7x7, 14x14) a per-sample product is too narrow for
 *    sgemm to run well, so several samples are laid side by side in the im2col matrix (columns
 *    ordered sample, pixel), multiplied at once into a scratch block and scattered back to NCHW
 *    while the bias is added.
 *  - Depthwise (group == C, a few outputs per channel, 1-D/2-D).  A GEMM per channel would be
 *    a 1-row product; instead each channel plane is copied once into a zero-padded scratch plane
 *    (skipped when there is no padding) and convolved by a direct loop, with unrolled 3x3
 *    stride-1 and stride-2 kernels that gcc vectorises along the output row.
 *
 *  - Direct (conv_direct.c): 1-D/2-D convolutions (strides up to 4, depthwise included) on
 *    CPUs with AVX-512, computed from zero-padded input planes without im2col.  Preferred
 *    over all of the above whenever it applies; they remain for other CPUs and 3-D.
 *
 * All of them run over a 3-D window (nn_window_to3d) so 1-D and 2-D convs share the loops.
 * A fused epilogue (op.h: residual and activation merged in by the planner) is applied in
 * registers by the direct kernel and as one pass over the output by the others.
 */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "conv_direct.h"
#include "nn_util.h"

/* Output columns per GEMM below which samples are batched into one product. */
#define CONV_COLS_TARGET 512
/* Cap on the batched im2col buffer, in floats (16 MiB). */
#define CONV_COL_LIMIT ((int64_t)4 << 20)
/* Largest packed weight set (floats) the direct kernel keeps in the plan; bigger ones are
 * packed per run. */
#define CONV_PREPACK_MAX ((size_t)4 << 20)
/* Depthwise path for at most this many output channels per input channel. */
#define CONV_DW_MAX_MULT 8

struct conv_params {
	struct nn_window w; /* 3-D */
	int64_t n, c, m, group, cg, mg;
	int64_t isp, osp, kk, kdim; /* input / output pixels, kernel taps, GEMM depth (cg * kk) */
	int64_t nb;		    /* samples per GEMM */
	bool depthwise, pointwise, dw_direct;
	int64_t dw_ph, dw_pw;	    /* depthwise padded plane */
	size_t tmp_off;		    /* byte offset of the batched GEMM output in scratch */
	bool direct;		    /* conv_direct.c runs it; d's tables follow this struct */
	struct cdir d;
};

enum status op_conv_prepare(struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, struct err *e)
{
	/* a fused residual comes after the op's own inputs */
	const struct tensor *res = s->epi.residual && n_in > 0 ? in[n_in - 1] : NULL;
	if (s->epi.residual)
		n_in--;
	enum status st = ops_check_arity(in, n_in, 2, 3, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *x = in[0], *wt = in[1], *b = n_in > 2 ? in[2] : NULL;
	if ((st = ops_want_dtype(x, "input", DT_FLOAT, e)) ||
	    (st = ops_want_dtype(wt, "weight", DT_FLOAT, e)) ||
	    (b && (st = ops_want_dtype(b, "bias", DT_FLOAT, e))))
		return st;

	int rank = x->shape.rank;
	if (rank < 3)
		return err_set(e, ERR_SHAPE, "input has %d dims, expected at least 3 (N, C, ...)",
			       rank);
	if (rank > 2 + NN_MAX_SP)
		return err_set(e, ERR_UNSUPPORTED, "input has %d dims; only 1-D to 3-D "
			       "convolutions are supported", rank);
	if (wt->shape.rank != rank)
		return err_set(e, ERR_SHAPE, "weight has %d dims, expected %d", wt->shape.rank,
			       rank);
	int64_t group;
	if ((st = node_attr_int(s->node, "group", 1, &group, e)))
		return st;
	if (group < 1)
		return err_set(e, ERR_INVALID, "group is %lld, must be >= 1", (long long)group);

	int64_t n = x->shape.dim[0], c = x->shape.dim[1];
	int64_t m = wt->shape.dim[0], cw = wt->shape.dim[1];
	int64_t want_c;
	if (__builtin_mul_overflow(cw, group, &want_c))
		return err_set(e, ERR_SHAPE, "input has %lld channels but weight expects %lld x "
			       "group %lld", (long long)c, (long long)cw, (long long)group);
	if (c != want_c)
		return err_set(e, ERR_SHAPE, "input has %lld channels but weight expects %lld "
			       "(group %lld)", (long long)c, (long long)want_c, (long long)group);
	if (cw < 1)
		return err_set(e, ERR_SHAPE, "weight has %lld input channels, expected at least 1",
			       (long long)cw);
	if (m < 1 || m % group != 0)
		return err_set(e, ERR_SHAPE, "weight has %lld output channels, not a positive "
			       "multiple of group %lld", (long long)m, (long long)group);
	if (b && (b->shape.rank != 1 || b->shape.dim[0] != m)) {
		char buf[96];
		return err_set(e, ERR_SHAPE, "bias has shape %s, expected [%lld]",
			       shape_str(&b->shape, buf, sizeof buf), (long long)m);
	}

	struct nn_window w = { .nsp = rank - 2 };
	for (int i = 0; i < w.nsp; i++)
		w.in[i] = x->shape.dim[2 + i];
	if ((st = nn_window_read(s->node, &w, &wt->shape.dim[2], e)) ||
	    (st = nn_window_forward(&w, false, e)))
		return st;

	struct nn_window w3 = nn_window_to3d(&w);
	struct cdir d;
	size_t tables = 0;
	bool depthwise = group > 1 && group == c && m / group <= CONV_DW_MAX_MULT && w.nsp <= 2;
	bool direct = cdir_setup(&d, &w3, n, c, m, group, &tables);
	depthwise = depthwise && !direct;
	/* constant weights are packed for the direct kernel once, here */
	size_t packed = 0;
	if (direct && wt->data && (!b || b->data) && cdir_packed_floats(&d) <= CONV_PREPACK_MAX)
		packed = cdir_packed_floats(&d) * sizeof(float);
	struct conv_params *p = calloc(1, nn_align(sizeof *p) + nn_align(tables) + packed);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	if (direct) {
		p->direct = true;
		p->d = d;
		cdir_tables(&p->d, (char *)p + nn_align(sizeof *p));
		if (packed)
			cdir_pack(&p->d, wt->data, b ? b->data : NULL,
				  (float *)((char *)p + nn_align(sizeof *p) + nn_align(tables)));
	}
	p->w = w3;
	p->n = n;
	p->c = c;
	p->m = m;
	p->group = group;
	p->cg = cw;
	p->mg = m / group;
	p->isp = nn_prod(p->w.in, 3);
	p->osp = nn_prod(p->w.out, 3);
	p->kk = nn_prod(p->w.k, 3);
	p->kdim = p->cg * p->kk;
	if (p->kdim > INT_MAX / 2 || p->osp > INT_MAX / 2 || p->mg > INT_MAX / 2 ||
	    p->kdim * p->osp > TENSOR_MAX_BYTES / 4)
		return err_set(e, ERR_LIMIT, "convolution too large (%lld x %lld x %lld)",
			       (long long)p->mg, (long long)p->kdim, (long long)p->osp);

	out[0]->dtype = DT_FLOAT;
	out[0]->shape.rank = rank;
	out[0]->shape.dim[0] = n;
	out[0]->shape.dim[1] = m;
	for (int i = 0; i < w.nsp; i++)
		out[0]->shape.dim[2 + i] = w.out[i];
	int64_t numel;
	if ((st = shape_numel_checked(&out[0]->shape, sizeof(float), &numel, e)))
		return st;
	if (res && (res->dtype != DT_FLOAT || !shape_equal(&res->shape, &out[0]->shape)))
		return err_set(e, ERR_SHAPE, "fused residual does not match the output");

	p->pointwise = p->kk == 1;
	for (int i = 0; i < 3; i++)
		if (w3.stride[i] != 1 || w3.pad0[i] != 0 || w3.pad1[i] != 0)
			p->pointwise = false;
	p->depthwise = depthwise;
	p->nb = 1;
	if (p->direct) {
		s->scratch_bytes = cdir_scratch_bytes(&p->d);
		return OK;
	}
	if (p->depthwise) {
		p->dw_direct = w3.pad0[1] == 0 && w3.pad0[2] == 0 && w3.pad1[1] == 0 &&
			       w3.pad1[2] == 0;
		p->dw_ph = (w3.out[1] - 1) * w3.stride[1] + (w3.k[1] - 1) * w3.dil[1] + 1;
		p->dw_pw = (w3.out[2] - 1) * w3.stride[2] + (w3.k[2] - 1) * w3.dil[2] + 1;
		s->scratch_bytes = p->dw_direct ? 0 : (size_t)(p->dw_ph * p->dw_pw) * sizeof(float);
		return OK;
	}
	if (p->osp < CONV_COLS_TARGET && n > 1) {
		int64_t nb = (CONV_COLS_TARGET + p->osp - 1) / p->osp;
		int64_t cap = CONV_COL_LIMIT / (p->kdim * p->osp);
		if (nb > cap)
			nb = cap;
		if (nb > n)
			nb = n;
		p->nb = nb > 1 ? nb : 1;
	}
	size_t col = p->pointwise && p->nb == 1 ? 0 : (size_t)(p->kdim * p->nb * p->osp);
	size_t tmp = p->nb > 1 ? (size_t)(p->mg * p->nb * p->osp) : 0;
	p->tmp_off = nn_align(col * sizeof(float));
	s->scratch_bytes = p->tmp_off + tmp * sizeof(float);
	return OK;
}

/*
 * im2col for samples x[0..nbk) (sample stride xstride), channels 0..cg: row (c, kd, kh, kw) of
 * col (row stride ldc) holds, for each sample j at columns j*osp.., the input value under that
 * kernel tap for every output pixel, 0 in the padding.
 *
 * The common "same" stride-1 case (output rows as wide as input rows) copies each tap's whole
 * block of valid rows with one memcpy - it is the input plane shifted by a constant - and then
 * zeroes the few columns that wrapped around from the neighbouring row.  Other cases go row by
 * row.
 */
static void im2col(const float *restrict x, int64_t xstride, int64_t nbk, int64_t cg,
		   const struct nn_window *w, float *restrict col, int64_t ldc)
{
	const int64_t D = w->in[0], H = w->in[1], W = w->in[2];
	const int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2];
	const int64_t isp = D * H * W, osp = OD * OH * OW, sw = w->stride[2], sh = w->stride[1];
	const bool shifted = sw == 1 && sh == 1 && OW == W;
	float *row = col;
	for (int64_t c = 0; c < cg; c++)
	for (int64_t kd = 0; kd < w->k[0]; kd++)
	for (int64_t kh = 0; kh < w->k[1]; kh++)
	for (int64_t kw = 0; kw < w->k[2]; kw++, row += ldc) {
		/* Output columns [lo, hi) read inside the row; the rest is padding. */
		const int64_t off = kw * w->dil[2] - w->pad0[2];
		int64_t lo = off < 0 ? nn_ceildiv(-off, sw) : 0;
		int64_t hi = nn_ceildiv(W - off, sw);
		if (hi > OW)
			hi = OW;
		if (lo > OW)
			lo = OW;
		if (hi < lo)
			hi = lo;
		/* Output rows [rlo, rhi) read inside the plane (stride-1 rows only). */
		const int64_t hoff = kh * w->dil[1] - w->pad0[1];
		int64_t rlo = hoff < 0 ? -hoff : 0, rhi = H - hoff;
		if (rlo > OH)
			rlo = OH;
		if (rhi > OH)
			rhi = OH;
		if (rhi < rlo)
			rhi = rlo;
		for (int64_t j = 0; j < nbk; j++) {
			const float *xc = x + j * xstride + c * isp;
			float *dst = row + j * osp;
			for (int64_t od = 0; od < OD; od++, dst += OH * OW) {
				int64_t id = od * w->stride[0] - w->pad0[0] + kd * w->dil[0];
				if (id < 0 || id >= D) {
					memset(dst, 0, (size_t)(OH * OW) * sizeof(float));
					continue;
				}
				const float *plane = xc + id * H * W;
				if (shifted) {
					/* dst[q] = plane[q + delta] for q in [q0, q1), clamped to the
					 * plane; then the wrapped columns are zeroed */
					const int64_t delta = hoff * W + off;
					const int64_t q0 = rlo * OW, q1 = rhi * OW;
					int64_t qa = q0 > -delta ? q0 : -delta;
					int64_t qb = q1 < H * W - delta ? q1 : H * W - delta;
					if (qb < qa)
						qb = qa = q0;
					memset(dst, 0, (size_t)qa * sizeof(float));
					memcpy(dst + qa, plane + qa + delta,
					       (size_t)(qb - qa) * sizeof(float));
					memset(dst + qb, 0, (size_t)(OH * OW - qb) * sizeof(float));
					if (lo > 0 || hi < OW)
						for (int64_t oh = rlo; oh < rhi; oh++) {
							float *d = dst + oh * OW;
							for (int64_t ow = 0; ow < lo; ow++)
								d[ow] = 0.0f;
							for (int64_t ow = hi; ow < OW; ow++)
								d[ow] = 0.0f;
						}
					continue;
				}
				float *restrict dr = dst;
				for (int64_t oh = 0; oh < OH; oh++, dr += OW) {
					int64_t ih = oh * sh + hoff;
					if (ih < 0 || ih >= H) {
						for (int64_t ow = 0; ow < OW; ow++)
							dr[ow] = 0.0f;
						continue;
					}
					const float *restrict src = plane + ih * W;
					for (int64_t ow = 0; ow < lo; ow++)
						dr[ow] = 0.0f;
					if (sw == 1)
						for (int64_t ow = lo; ow < hi; ow++)
							dr[ow] = src[ow + off];
					else
						for (int64_t ow = lo; ow < hi; ow++)
							dr[ow] = src[ow * sw + off];
					for (int64_t ow = hi; ow < OW; ow++)
						dr[ow] = 0.0f;
				}
			}
		}
	}
}

static void conv_gemm(const struct conv_params *p, const float *x, const float *wt,
		      const float *bias, float *y, float *scratch)
{
	/* scratch is NULL for a single-sample 1x1 conv, which needs none */
	float *col = scratch, *tmp = scratch ? (float *)((char *)scratch + p->tmp_off) : NULL;
	const int64_t osp = p->osp, isp = p->isp;
	for (int64_t n0 = 0; n0 < p->n; n0 += p->nb) {
		int64_t nbk = p->n - n0 < p->nb ? p->n - n0 : p->nb;
		int64_t cols = nbk * osp;
		for (int64_t g = 0; g < p->group; g++) {
			const float *xs = x + (n0 * p->c + g * p->cg) * isp;
			const float *bm = xs;
			int64_t ldb = isp;
			if (!(p->pointwise && nbk == 1)) {
				im2col(xs, p->c * isp, nbk, p->cg, &p->w, col, cols);
				bm = col;
				ldb = cols;
			}
			float *ym = y + (n0 * p->m + g * p->mg) * osp;
			const float *bg = bias ? bias + g * p->mg : NULL;
			float beta = 0.0f;
			if (nbk == 1 && bg) {
				/* start from the bias: sgemm with beta 1 skips its zeroing pass */
				for (int64_t mm = 0; mm < p->mg; mm++) {
					float *restrict yr = ym + mm * osp;
					const float bv = bg[mm];
					for (int64_t i = 0; i < osp; i++)
						yr[i] = bv;
				}
				beta = 1.0f;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p->mg,
				    (int)cols, (int)p->kdim, 1.0f, wt + g * p->mg * p->kdim,
				    (int)p->kdim, bm, (int)ldb, beta, nbk == 1 ? ym : tmp,
				    (int)cols);
			if (nbk == 1)
				continue;
			for (int64_t j = 0; j < nbk; j++)
				for (int64_t mm = 0; mm < p->mg; mm++) {
					float *restrict yr = ym + (j * p->m + mm) * osp;
					const float *restrict tr = tmp + mm * cols + j * osp;
					const float bv = bg ? bg[mm] : 0.0f;
					for (int64_t i = 0; i < osp; i++)
						yr[i] = tr[i] + bv;
				}
		}
	}
}

/* One depthwise output plane from a (padded) input plane src with row stride ld. */
static void dw_plane(const float *restrict src, int64_t ld, const float *restrict k, float bv,
		     float *restrict y, const struct nn_window *w)
{
	const int64_t OH = w->out[1], OW = w->out[2], KH = w->k[1], KW = w->k[2];
	const int64_t sh = w->stride[1], sw = w->stride[2], dh = w->dil[1], dw = w->dil[2];
	if (KH == 3 && KW == 3 && dh == 1 && dw == 1 && sh == sw && (sh == 1 || sh == 2)) {
		const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5];
		const float k6 = k[6], k7 = k[7], k8 = k[8];
		for (int64_t oh = 0; oh < OH; oh++) {
			const float *restrict r0 = src + oh * sh * ld;
			const float *restrict r1 = r0 + ld, *restrict r2 = r1 + ld;
			float *restrict yr = y + oh * OW;
			if (sh == 1) {
				for (int64_t ow = 0; ow < OW; ow++)
					yr[ow] = bv + k0 * r0[ow] + k1 * r0[ow + 1] +
						 k2 * r0[ow + 2] + k3 * r1[ow] +
						 k4 * r1[ow + 1] + k5 * r1[ow + 2] +
						 k6 * r2[ow] + k7 * r2[ow + 1] + k8 * r2[ow + 2];
			} else {
				for (int64_t ow = 0; ow < OW; ow++) {
					int64_t i = 2 * ow;
					yr[ow] = bv + k0 * r0[i] + k1 * r0[i + 1] + k2 * r0[i + 2] +
						 k3 * r1[i] + k4 * r1[i + 1] + k5 * r1[i + 2] +
						 k6 * r2[i] + k7 * r2[i + 1] + k8 * r2[i + 2];
				}
			}
		}
		return;
	}
	for (int64_t oh = 0; oh < OH; oh++) {
		float *restrict yr = y + oh * OW;
		for (int64_t ow = 0; ow < OW; ow++)
			yr[ow] = bv;
		for (int64_t kh = 0; kh < KH; kh++) {
			const float *r = src + (oh * sh + kh * dh) * ld;
			for (int64_t kw = 0; kw < KW; kw++) {
				const float kv = k[kh * KW + kw];
				const float *restrict sr = r + kw * dw;
				if (sw == 1)
					for (int64_t ow = 0; ow < OW; ow++)
						yr[ow] += kv * sr[ow];
				else
					for (int64_t ow = 0; ow < OW; ow++)
						yr[ow] += kv * sr[ow * sw];
			}
		}
	}
}

static void conv_depthwise(const struct conv_params *p, const float *x, const float *wt,
			   const float *bias, float *y, float *scratch)
{
	const struct nn_window *w = &p->w;
	const int64_t H = w->in[1], W = w->in[2], PH = p->dw_ph, PW = p->dw_pw;
	const int64_t pt = w->pad0[1], pl = w->pad0[2];
	/* Columns [lo, hi) of a padded row come from the input row. */
	const int64_t lo = pl < PW ? pl : PW;
	const int64_t hi = pl + W < PW ? pl + W : PW;
	for (int64_t n = 0; n < p->n; n++)
		for (int64_t c = 0; c < p->c; c++) {
			const float *xp = x + (n * p->c + c) * p->isp;
			const float *src = xp;
			int64_t ld = W;
			if (!p->dw_direct) {
				for (int64_t r = 0; r < PH; r++) {
					float *pr = scratch + r * PW;
					int64_t ih = r - pt;
					if (ih < 0 || ih >= H) {
						memset(pr, 0, (size_t)PW * sizeof(float));
						continue;
					}
					memset(pr, 0, (size_t)lo * sizeof(float));
					memcpy(pr + lo, xp + ih * W,
					       (size_t)(hi - lo) * sizeof(float));
					memset(pr + hi, 0, (size_t)(PW - hi) * sizeof(float));
				}
				src = scratch;
				ld = PW;
			}
			for (int64_t mm = 0; mm < p->mg; mm++) {
				int64_t m = c * p->mg + mm;
				dw_plane(src, ld, wt + m * p->kk, bias ? bias[m] : 0.0f,
					 y + (n * p->m + m) * p->osp, w);
			}
		}
}

enum status op_conv_run(const struct step *s, const struct tensor *const *in, int n_in,
			struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct conv_params *p = s->params;
	const float *res = s->epi.residual ? in[n_in - 1]->data : NULL;
	if (s->epi.residual)
		n_in--;
	const float *bias = n_in > 2 && in[2] ? in[2]->data : NULL;
	if (p->direct) {
		cdir_run(&p->d, p->n, in[0]->data, in[1]->data, bias, res, out[0]->data, &s->epi,
			 scratch);
		return OK;
	}
	if (p->depthwise)
		conv_depthwise(p, in[0]->data, in[1]->data, bias, out[0]->data, scratch);
	else
		conv_gemm(p, in[0]->data, in[1]->data, bias, out[0]->data, scratch);
	nn_epilogue(&s->epi, out[0]->data, res, tensor_numel(out[0]));
	return OK;
}
