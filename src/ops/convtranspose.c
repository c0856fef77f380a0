/*
 * convtranspose.c - ConvTranspose on float32: 1-D, 2-D and 3-D, groups, strides, pads,
 * dilations, output_padding, output_shape, auto_pad.
 *
 * A transposed convolution scatters each input pixel, weighted by the kernel, onto the output.
 * Per sample and group that is one GEMM and one col2im.  The group's weights are stored
 * [Cg, Mg*kD*kH*kW] and its input is [Cg, P] (P input pixels), so col = W_g^T * X_g is
 * [Mg*kD*kH*kW, P]: row (m, kd, kh, kw) holds what every input pixel contributes through that
 * tap.  col2im adds it at output position i * stride - pad_begin + k * dilation when that lies
 * inside the output (pads can be negative here, see below).  The output starts as the bias.
 *
 * Output size, per the ONNX docs: stride * (in - 1) + output_padding + (k - 1) * dilation + 1
 * - pad_begin - pad_end.  When output_shape is given (or auto_pad is SAME_*, which asks for
 * in * stride) the pads are derived from the total padding that size implies: SAME_UPPER puts
 * the odd pixel at the end, anything else at the beginning (floor division, so a negative
 * total - an output larger than the natural one - extends the end, as ONNX's tests expect).
 */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nn_util.h"

struct convt_params {
	struct nn_window w; /* 3-D; in = input, out = output */
	int64_t n, c, m, group, cg, mg;
	int64_t isp, osp, kk;
};

/* Read the optional ints attribute `name` into v[0..ns) (default def); the attribute may list
 * ns values, or ns + 2 (with N and C first) when allow_nc. */
static enum status convt_ints(const struct node *nd, const char *name, int ns, bool allow_nc,
			      int64_t def, int64_t *v, bool *given, struct err *e)
{
	const int64_t *a;
	int na;
	enum status st = node_attr_ints(nd, name, &a, &na, e);
	if (st)
		return st;
	*given = a != NULL;
	int skip = allow_nc && na == ns + 2 ? 2 : 0;
	if (a && na - skip != ns)
		return err_set(e, ERR_INVALID, "%s has %d values, expected %d", name, na, ns);
	for (int i = 0; i < ns; i++)
		v[i] = a ? a[skip + i] : def;
	return OK;
}

enum status op_convtranspose_prepare(struct step *s, const struct tensor *const *in, int n_in,
				     struct tensor *const *out, int n_out, struct err *e)
{
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
		return err_set(e, ERR_UNSUPPORTED, "input has %d dims; only 1-D to 3-D transposed "
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
	int64_t cw = wt->shape.dim[0], mg = wt->shape.dim[1];
	if (c != cw)
		return err_set(e, ERR_SHAPE, "input has %lld channels but weight expects %lld",
			       (long long)c, (long long)cw);
	if (c % group != 0 || c == 0)
		return err_set(e, ERR_SHAPE, "input has %lld channels, not a positive multiple of "
			       "group %lld", (long long)c, (long long)group);
	if (mg < 1)
		return err_set(e, ERR_SHAPE, "weight has %lld output channels per group, expected "
			       "at least 1", (long long)mg);
	int64_t m;
	if (__builtin_mul_overflow(mg, group, &m) || m > TENSOR_MAX_BYTES)
		return err_set(e, ERR_LIMIT, "%lld output channels per group x group %lld is too "
			       "large", (long long)mg, (long long)group);
	if (b && (b->shape.rank != 1 || b->shape.dim[0] != m)) {
		char buf[96];
		return err_set(e, ERR_SHAPE, "bias has shape %s, expected [%lld]",
			       shape_str(&b->shape, buf, sizeof buf), (long long)m);
	}

	struct nn_window w = { .nsp = rank - 2 };
	int ns = w.nsp;
	for (int i = 0; i < ns; i++) {
		w.in[i] = x->shape.dim[2 + i];
		if (w.in[i] < 1)
			return err_set(e, ERR_SHAPE, "input spatial dim %d is %lld, expected >= 1",
				       i, (long long)w.in[i]);
	}
	if ((st = nn_window_read(s->node, &w, &wt->shape.dim[2], e)))
		return st;
	int64_t opad[NN_MAX_SP], oshape[NN_MAX_SP];
	bool have_opad, have_oshape;
	if ((st = convt_ints(s->node, "output_padding", ns, false, 0, opad, &have_opad, e)) ||
	    (st = convt_ints(s->node, "output_shape", ns, true, 0, oshape, &have_oshape, e)))
		return st;
	for (int i = 0; i < ns; i++) {
		if (opad[i] < 0 || opad[i] > NN_ATTR_MAX)
			return err_set(e, ERR_INVALID, "output_padding[%d] is %lld, out of range", i,
				       (long long)opad[i]);
		if (have_oshape && (oshape[i] < 1 || oshape[i] > TENSOR_MAX_BYTES))
			return err_set(e, ERR_INVALID, "output_shape[%d] is %lld, out of range", i,
				       (long long)oshape[i]);
		int64_t ek = (w.k[i] - 1) * w.dil[i] + 1;
		int64_t natural = w.stride[i] * (w.in[i] - 1) + opad[i] + ek;
		bool same = w.autopad == NN_PAD_SAME_UPPER || w.autopad == NN_PAD_SAME_LOWER;
		if (have_oshape || same) {
			int64_t want = have_oshape ? oshape[i] : w.in[i] * w.stride[i];
			int64_t total = natural - want;
			int64_t half = nn_floordiv(total, 2);
			if (w.autopad == NN_PAD_SAME_UPPER) {
				w.pad0[i] = half;
				w.pad1[i] = total - half;
			} else {
				w.pad0[i] = total - half;
				w.pad1[i] = half;
			}
		} else if (w.autopad == NN_PAD_VALID) {
			w.pad0[i] = w.pad1[i] = 0;
		}
		w.out[i] = natural - w.pad0[i] - w.pad1[i];
		if (w.out[i] < 1)
			return err_set(e, ERR_SHAPE, "output size %lld along spatial dim %d is not "
				       "positive", (long long)w.out[i], i);
	}

	struct convt_params *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->params = p;
	p->w = nn_window_to3d(&w);
	p->n = n;
	p->c = c;
	p->m = m;
	p->group = group;
	p->cg = c / group;
	p->mg = mg;
	p->isp = nn_prod(p->w.in, 3);
	p->osp = nn_prod(p->w.out, 3);
	p->kk = nn_prod(p->w.k, 3);
	if (p->mg * p->kk > INT_MAX / 2 || p->isp > INT_MAX / 2 || p->cg > INT_MAX / 2 ||
	    p->mg * p->kk * p->isp > TENSOR_MAX_BYTES / 4)
		return err_set(e, ERR_LIMIT, "transposed convolution too large");
	s->scratch_bytes = (size_t)(p->mg * p->kk * p->isp) * sizeof(float);

	out[0]->dtype = DT_FLOAT;
	out[0]->shape.rank = rank;
	out[0]->shape.dim[0] = n;
	out[0]->shape.dim[1] = m;
	for (int i = 0; i < ns; i++)
		out[0]->shape.dim[2 + i] = w.out[i];
	int64_t numel;
	return shape_numel_checked(&out[0]->shape, sizeof(float), &numel, e);
}

/* Add col rows (m, kd, kh, kw) x input pixels into the mg output planes at y. */
static void col2im(const float *restrict col, const struct convt_params *p, float *restrict y)
{
	const struct nn_window *w = &p->w;
	const int64_t D = w->in[0], H = w->in[1], W = w->in[2];
	const int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2];
	const int64_t sw = w->stride[2];
	const float *row = col;
	for (int64_t m = 0; m < p->mg; m++) {
		float *yp = y + m * p->osp;
		for (int64_t kd = 0; kd < w->k[0]; kd++)
		for (int64_t kh = 0; kh < w->k[1]; kh++)
		for (int64_t kw = 0; kw < w->k[2]; kw++, row += p->isp) {
			/* input columns iw with 0 <= iw * sw + off < OW */
			int64_t off = kw * w->dil[2] - w->pad0[2];
			int64_t lo = off < 0 ? nn_ceildiv(-off, sw) : 0;
			int64_t hi = nn_ceildiv(OW - off, sw);
			if (hi > W)
				hi = W;
			if (lo > hi)
				lo = hi;
			for (int64_t id = 0; id < D; id++) {
				int64_t od = id * w->stride[0] - w->pad0[0] + kd * w->dil[0];
				if (od < 0 || od >= OD)
					continue;
				for (int64_t ih = 0; ih < H; ih++) {
					int64_t oh = ih * w->stride[1] - w->pad0[1] + kh * w->dil[1];
					if (oh < 0 || oh >= OH)
						continue;
					const float *restrict src = row + (id * H + ih) * W;
					float *restrict dst = yp + (od * OH + oh) * OW;
					if (sw == 1)
						for (int64_t iw = lo; iw < hi; iw++)
							dst[iw + off] += src[iw];
					else
						for (int64_t iw = lo; iw < hi; iw++)
							dst[iw * sw + off] += src[iw];
				}
			}
		}
	}
}

enum status op_convtranspose_run(const struct step *s, const struct tensor *const *in,
				 int n_in, struct tensor *const *out, int n_out, void *scratch,
				 struct err *e)
{
	const struct convt_params *p = s->params;
	const float *x = in[0]->data, *wt = in[1]->data;
	const float *bias = n_in > 2 && in[2] ? in[2]->data : NULL;
	float *y = out[0]->data, *col = scratch;
	const int64_t rows = p->mg * p->kk;
	for (int64_t n = 0; n < p->n; n++)
		for (int64_t g = 0; g < p->group; g++) {
			float *yg = y + (n * p->m + g * p->mg) * p->osp;
			for (int64_t mm = 0; mm < p->mg; mm++) {
				const float bv = bias ? bias[g * p->mg + mm] : 0.0f;
				float *restrict yp = yg + mm * p->osp;
				for (int64_t i = 0; i < p->osp; i++)
					yp[i] = bv;
			}
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows,
				    (int)p->isp, (int)p->cg, 1.0f, wt + g * p->cg * rows,
				    (int)rows, x + (n * p->c + g * p->cg) * p->isp, (int)p->isp,
				    0.0f, col, (int)p->isp);
			col2im(col, p, yg);
		}
	return OK;
}
