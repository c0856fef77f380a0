/*
 * norm.c - BatchNormalization (inference), LayerNormalization, InstanceNormalization.
 *
 * BatchNormalization uses the stored statistics: per channel it folds scale, bias, mean and
 * variance into y = x * a + b with a = scale / sqrt(var + epsilon), b = bias - mean * a, then
 * streams each [N, C] plane once.  Training mode (training_mode = 1 from opset 14, or the
 * running-statistics outputs of older opsets) is refused with ERR_UNSUPPORTED.  Before opset 9
 * the `spatial` attribute could be 0, meaning per-activation statistics of shape [C, D1, ...];
 * those are applied element by element.  is_test (opset < 7) and consumed_inputs (opset 1) do
 * not change inference and are ignored.
 *
 * LayerNormalization (opset 17) normalises over the trailing dims from `axis` on: for each row
 * it computes mean and variance in two passes (stash_type 1, float32, is the only type the
 * outputs can have) and optionally writes Mean and InvStdDev with the normalised dims set to
 * 1.  Scale and B broadcast to the normalised shape; if they do not already have its size
 * they are expanded once per run into scratch.  Sums run in double, except on CPUs with
 * AVX-512 where rows go 16 floats at a time with float sums (a transformer's rows are short:
 * 48 or so values, so float partial sums lose nothing that matters, and the double loop was
 * a tenth of a small ViT's time).
 *
 * InstanceNormalization normalises each [n, c] plane with per-channel scale and bias.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_util.h"

#if NN_X86 /* GCC pragmas below */
#include <immintrin.h>
#endif

/* --- BatchNormalization -------------------------------------------------- */

struct bn_params {
	float eps;
	int64_t n, c, inner;
	bool per_element; /* spatial = 0: statistics of shape [C, D1, ...] */
};

enum status op_batchnorm_prepare(struct step *s, const struct tensor *const *in, int n_in,
				 struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 5, 5, n_out, 1, e);
	if (st)
		return st;
	static const char *const names[] = { "input", "scale", "B", "mean", "var" };
	for (int i = 0; i < 5; i++)
		if ((st = ops_want_dtype(in[i], names[i], DT_FLOAT, e)))
			return st;
	int64_t training = 0, spatial = 1;
	float eps;
	if ((st = node_attr_int(s->node, "training_mode", 0, &training, e)) ||
	    (st = node_attr_int(s->node, "spatial", 1, &spatial, e)) ||
	    (st = node_attr_float(s->node, "epsilon", 1e-5f, &eps, e)))
		return st;
	if (training)
		return err_set(e, ERR_UNSUPPORTED, "training_mode=1 is not supported (inference "
			       "only)");
	for (int i = 1; i < n_out; i++)
		if (out[i])
			return err_set(e, ERR_UNSUPPORTED, "output %d (running statistics) is only "
				       "produced in training, which is not supported", i);

	const struct shape *xs = &in[0]->shape;
	if (xs->rank < 2)
		return err_set(e, ERR_SHAPE, "input has %d dims, expected at least 2 (N, C, ...)",
			       xs->rank);
	struct bn_params p = { .eps = eps, .n = xs->dim[0], .c = xs->dim[1] };
	p.inner = 1;
	for (int i = 2; i < xs->rank; i++)
		p.inner *= xs->dim[i];
	p.per_element = spatial == 0 && s->opset < 9;
	int64_t want = p.per_element ? p.c * p.inner : p.c;
	for (int i = 1; i < 5; i++) {
		int64_t nel = tensor_numel(in[i]);
		if (nel != want || (!p.per_element && in[i]->shape.rank != 1)) {
			char buf[96];
			if (p.per_element)
				return err_set(e, ERR_SHAPE, "%s has shape %s, expected %lld "
					       "elements (spatial=0)", names[i],
					       shape_str(&in[i]->shape, buf, sizeof buf),
					       (long long)want);
			return err_set(e, ERR_SHAPE, "%s has shape %s, expected [%lld]", names[i],
				       shape_str(&in[i]->shape, buf, sizeof buf), (long long)want);
		}
	}
	struct bn_params *pp = malloc(sizeof *pp);
	if (!pp)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pp = p;
	s->params = pp;
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = *xs;
	return OK;
}

enum status op_batchnorm_run(const struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct bn_params *p = s->params;
	const float *x = in[0]->data, *sc = in[1]->data, *bi = in[2]->data;
	const float *mean = in[3]->data, *var = in[4]->data;
	float *y = out[0]->data;
	const int64_t inner = p->inner;
	for (int64_t n = 0; n < p->n; n++)
		for (int64_t c = 0; c < p->c; c++) {
			const float *restrict xp = x + (n * p->c + c) * inner;
			float *restrict yp = y + (n * p->c + c) * inner;
			if (p->per_element) {
				int64_t o = c * inner;
				for (int64_t i = 0; i < inner; i++) {
					float a = sc[o + i] / sqrtf(var[o + i] + p->eps);
					yp[i] = (xp[i] - mean[o + i]) * a + bi[o + i];
				}
				continue;
			}
			const float a = sc[c] / sqrtf(var[c] + p->eps);
			const float b = bi[c] - mean[c] * a;
			for (int64_t i = 0; i < inner; i++)
				yp[i] = xp[i] * a + b;
		}
	return OK;
}

/* --- LayerNormalization -------------------------------------------------- */

struct ln_params {
	float eps;
	int64_t outer, inner;
	int nrank;			   /* normalised dims */
	int64_t ndim[TENSOR_MAX_RANK];	   /* normalised shape */
	int64_t sstr[2][TENSOR_MAX_RANK]; /* strides of Scale / B over it (0 = broadcast) */
	bool expand[2];			   /* Scale / B need expanding into scratch */
	bool has_b;
};

/* Check that t broadcasts to the normalised shape; fill its strides. */
static enum status ln_param(struct ln_params *p, int which, const struct tensor *t,
			    const char *what, struct err *e)
{
	const struct shape *ts = &t->shape;
	bool ok = ts->rank <= p->nrank;
	int64_t stride = 1;
	for (int i = p->nrank - 1; i >= 0 && ok; i--) {
		int j = i - (p->nrank - ts->rank);
		int64_t d = j >= 0 ? ts->dim[j] : 1;
		if (d != 1 && d != p->ndim[i])
			ok = false;
		p->sstr[which][i] = d == 1 ? 0 : stride;
		stride *= d;
	}
	if (!ok) {
		char a[96], b[96];
		struct shape ns = shape_make(p->nrank, p->ndim);
		return err_set(e, ERR_SHAPE, "%s has shape %s, which does not broadcast to the "
			       "normalized shape %s", what, shape_str(ts, a, sizeof a),
			       shape_str(&ns, b, sizeof b));
	}
	p->expand[which] = tensor_numel(t) != p->inner;
	return OK;
}

enum status op_layernorm_prepare(struct step *s, const struct tensor *const *in, int n_in,
				 struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 2, 3, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *x = in[0], *sc = in[1], *b = n_in > 2 ? in[2] : NULL;
	if ((st = ops_want_dtype(x, "input", DT_FLOAT, e)) ||
	    (st = ops_want_dtype(sc, "Scale", DT_FLOAT, e)) ||
	    (b && (st = ops_want_dtype(b, "B", DT_FLOAT, e))))
		return st;
	int64_t axis_attr, stash;
	float eps;
	if ((st = node_attr_int(s->node, "axis", -1, &axis_attr, e)) ||
	    (st = node_attr_int(s->node, "stash_type", 1, &stash, e)) ||
	    (st = node_attr_float(s->node, "epsilon", 1e-5f, &eps, e)))
		return st;
	if (stash != 1)
		return err_set(e, ERR_UNSUPPORTED, "stash_type %lld is not supported (only 1, "
			       "float32)", (long long)stash);
	const struct shape *xs = &x->shape;
	if (xs->rank < 1)
		return err_set(e, ERR_SHAPE, "input is a scalar; expected at least 1 dim");
	int axis;
	if ((st = nn_axis(axis_attr, xs->rank, &axis, e)))
		return st;

	struct ln_params p = { .eps = eps, .outer = 1, .inner = 1, .has_b = b != NULL };
	for (int i = 0; i < xs->rank; i++) {
		if (i < axis) {
			p.outer *= xs->dim[i];
		} else {
			p.inner *= xs->dim[i];
			p.ndim[p.nrank++] = xs->dim[i];
		}
	}
	if ((st = ln_param(&p, 0, sc, "Scale", e)) || (b && (st = ln_param(&p, 1, b, "B", e))))
		return st;

	struct ln_params *pp = malloc(sizeof *pp);
	if (!pp)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pp = p;
	s->params = pp;
	s->scratch_bytes = (p.expand[0] || p.expand[1]) ? 2 * (size_t)p.inner * sizeof(float) : 0;
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = *xs;
	for (int k = 1; k < 3 && k < n_out; k++) {
		if (!out[k])
			continue;
		out[k]->dtype = DT_FLOAT;
		out[k]->shape = *xs;
		for (int i = axis; i < xs->rank; i++)
			out[k]->shape.dim[i] = 1;
	}
	return OK;
}

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")
/* Rows of n floats: y = (x - mean) * inv * scale (+ bias), mean and inv optionally stored. */
/*
 * R rows of n from row r0: mean, variance and normalisation, each row with the same
 * operations in the same order whatever R (so the same bits); R rows at once let short rows'
 * dependency chains (two horizontal sums, a division and a square root) overlap.
 */
static inline __attribute__((always_inline)) void
ln_rows_r(const float *x, float *y, int64_t n, const float *scale, const float *bias,
	  float eps, float *mean_out, float *inv_out, const int R)
{
	__m512 acc[4], mv[4], iv[4];
	float mean[4], inv[4];
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		acc[r] = _mm512_setzero_ps();
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			acc[r] = _mm512_add_ps(acc[r], _mm512_maskz_loadu_ps(m, x + r * n + i));
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++) {
		mean[r] = _mm512_reduce_add_ps(acc[r]) / (float)n;
		mv[r] = _mm512_set1_ps(mean[r]);
		acc[r] = _mm512_setzero_ps();
	}
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++) {
			__m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + r * n + i), mv[r]);
			acc[r] = _mm512_fmadd_ps(d, d, acc[r]);
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++) {
		inv[r] = 1.0f / sqrtf(_mm512_reduce_add_ps(acc[r]) / (float)n + eps);
		iv[r] = _mm512_set1_ps(inv[r]);
	}
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
		__m512 sc = _mm512_maskz_loadu_ps(m, scale + i);
		__m512 bi = bias ? _mm512_maskz_loadu_ps(m, bias + i) : _mm512_setzero_ps();
#pragma GCC unroll 4
		for (int r = 0; r < R; r++) {
			__m512 v = _mm512_mul_ps(
				_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + r * n + i), mv[r]), iv[r]);
			v = _mm512_mul_ps(v, sc);
			if (bias)
				v = _mm512_add_ps(v, bi);
			_mm512_mask_storeu_ps(y + r * n + i, m, v);
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++) {
		if (mean_out)
			mean_out[r] = mean[r];
		if (inv_out)
			inv_out[r] = inv[r];
	}
}

static void ln_rows_avx512(const float *x, float *y, int64_t rows, int64_t n, const float *scale,
			   const float *bias, float eps, float *mean_out, float *inv_out)
{
	int64_t r = 0;
	for (; r + 4 <= rows; r += 4)
		ln_rows_r(x + r * n, y + r * n, n, scale, bias, eps, mean_out ? mean_out + r : NULL,
			  inv_out ? inv_out + r : NULL, 4);
	for (; r < rows; r++)
		ln_rows_r(x + r * n, y + r * n, n, scale, bias, eps, mean_out ? mean_out + r : NULL,
			  inv_out ? inv_out + r : NULL, 1);
}
#pragma GCC pop_options
#endif

/* Expand a broadcast parameter to the full normalised size. */
static void ln_expand(const struct ln_params *p, const int64_t *str, const float *src,
		      float *dst)
{
	int64_t idx[TENSOR_MAX_RANK] = { 0 }, off = 0;
	for (int64_t j = 0; j < p->inner; j++) {
		dst[j] = src[off];
		for (int i = p->nrank - 1; i >= 0; i--) {
			off += str[i];
			if (++idx[i] < p->ndim[i])
				break;
			off -= str[i] * p->ndim[i];
			idx[i] = 0;
		}
	}
}

enum status op_layernorm_run(const struct step *s, const struct tensor *const *in, int n_in,
			     struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const struct ln_params *p = s->params;
	const float *scale = in[1]->data, *bias = p->has_b ? in[2]->data : NULL;
	if (p->expand[0]) {
		ln_expand(p, p->sstr[0], scale, scratch);
		scale = scratch;
	}
	if (p->has_b && p->expand[1]) {
		float *dst = (float *)scratch + p->inner;
		ln_expand(p, p->sstr[1], bias, dst);
		bias = dst;
	}
	float *mean_out = n_out > 1 && out[1] ? out[1]->data : NULL;
	float *inv_out = n_out > 2 && out[2] ? out[2]->data : NULL;
	const float *x = in[0]->data;
	float *y = out[0]->data;
	const int64_t inner = p->inner;
#if NN_X86
	if (inner > 0 && nn_have_avx512()) {
		ln_rows_avx512(x, y, p->outer, inner, scale, bias, p->eps, mean_out, inv_out);
		return OK;
	}
#endif
	for (int64_t r = 0; r < p->outer; r++) {
		const float *restrict xr = x + r * inner;
		float *restrict yr = y + r * inner;
		double sum = 0.0;
		for (int64_t i = 0; i < inner; i++)
			sum += xr[i];
		double mean = inner ? sum / (double)inner : 0.0;
		double ss = 0.0;
		for (int64_t i = 0; i < inner; i++) {
			double d = xr[i] - mean;
			ss += d * d;
		}
		double var = inner ? ss / (double)inner : 0.0;
		const float inv = (float)(1.0 / sqrt(var + (double)p->eps));
		const float m = (float)mean;
		if (bias)
			for (int64_t i = 0; i < inner; i++)
				yr[i] = (xr[i] - m) * inv * scale[i] + bias[i];
		else
			for (int64_t i = 0; i < inner; i++)
				yr[i] = (xr[i] - m) * inv * scale[i];
		if (mean_out)
			mean_out[r] = m;
		if (inv_out)
			inv_out[r] = inv;
	}
	return OK;
}

/* --- InstanceNormalization ----------------------------------------------- */

enum status op_instancenorm_prepare(struct step *s, const struct tensor *const *in, int n_in,
				    struct tensor *const *out, int n_out, struct err *e)
{
	enum status st = ops_check_arity(in, n_in, 3, 3, n_out, 1, e);
	if (st)
		return st;
	static const char *const names[] = { "input", "scale", "B" };
	for (int i = 0; i < 3; i++)
		if ((st = ops_want_dtype(in[i], names[i], DT_FLOAT, e)))
			return st;
	float eps;
	if ((st = node_attr_float(s->node, "epsilon", 1e-5f, &eps, e)))
		return st;
	const struct shape *xs = &in[0]->shape;
	if (xs->rank < 3)
		return err_set(e, ERR_SHAPE, "input has %d dims, expected at least 3 (N, C, ...)",
			       xs->rank);
	for (int i = 1; i < 3; i++)
		if (in[i]->shape.rank != 1 || in[i]->shape.dim[0] != xs->dim[1]) {
			char buf[96];
			return err_set(e, ERR_SHAPE, "%s has shape %s, expected [%lld]", names[i],
				       shape_str(&in[i]->shape, buf, sizeof buf),
				       (long long)xs->dim[1]);
		}
	float *pe = malloc(sizeof *pe);
	if (!pe)
		return err_set(e, ERR_NOMEM, "out of memory");
	*pe = eps;
	s->params = pe;
	out[0]->dtype = DT_FLOAT;
	out[0]->shape = *xs;
	return OK;
}

enum status op_instancenorm_run(const struct step *s, const struct tensor *const *in, int n_in,
				struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	const float eps = *(const float *)s->params;
	const struct shape *xs = &in[0]->shape;
	const int64_t c_n = xs->dim[1], planes = xs->dim[0] * c_n;
	const int64_t inner = planes ? tensor_numel(in[0]) / planes : 0;
	const float *x = in[0]->data, *sc = in[1]->data, *bi = in[2]->data;
	float *y = out[0]->data;
	for (int64_t pl = 0; pl < planes; pl++) {
		const float *restrict xp = x + pl * inner;
		float *restrict yp = y + pl * inner;
		double sum = 0.0, ss = 0.0;
		for (int64_t i = 0; i < inner; i++)
			sum += xp[i];
		double mean = inner ? sum / (double)inner : 0.0;
		for (int64_t i = 0; i < inner; i++) {
			double d = xp[i] - mean;
			ss += d * d;
		}
		double var = inner ? ss / (double)inner : 0.0;
		int64_t c = pl % c_n;
		const float a = (float)(sc[c] / sqrt(var + (double)eps));
		const float b = (float)(bi[c] - mean * a);
		for (int64_t i = 0; i < inner; i++)
			yp[i] = xp[i] * a + b;
	}
	return OK;
}
