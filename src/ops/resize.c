/*
 * resize.c - Resize (opsets 10 to 19) and the deprecated Upsample.
 *
 * Resizing is separable: along each axis, output index o maps to a real input
 * coordinate x(o) given by coordinate_transformation_mode (half_pixel,
 * half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric,
 * tf_half_pixel_for_nn, tf_crop_and_resize), and the interpolation mode turns
 * x into a few taps (input index, weight): one for nearest (rounded per
 * nearest_mode), two for linear, four for cubic (Keys' kernel with
 * cubic_coeff_a, optionally renormalised without the taps outside the input
 * when exclude_outside is set).  Taps beyond the border clamp to the edge;
 * with tf_crop_and_resize a coordinate outside the input yields
 * extrapolation_value instead.  All of this is computed once in prepare(),
 * in double precision as ONNX's reference does, and stored per axis.
 *
 * Nearest only moves elements, so it becomes an axis map (shape_util.h) and
 * works for any element type.  Linear and cubic (float32) walk the output row
 * by row: the taps of the outer axes combine into a short list of
 * (input row offset, weight) "corners" - two for bilinear over NCHW, since N
 * and C pass through - and the innermost axis is interpolated along the row
 * from each corner.  An axis whose coordinates are exactly 0..n-1 is marked
 * pass-through and costs nothing.
 *
 * Opset differences: 10 has (X, scales) and behaves like Upsample (asymmetric
 * coordinates; nearest rounds down, or up when shrinking, as ONNX Runtime
 * does); 11 adds roi and sizes; 13 makes roi/scales optional; 18 adds axes,
 * keep_aspect_ratio_policy and antialias (refused); 19 adds
 * half_pixel_symmetric.  Output sizes from scales are floor(in * scale); the
 * coordinate formulas use the given scale (not out/in), and align_corners uses
 * in * scale as the output length, both exactly as the ONNX reference does.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shape_util.h"

enum rs_mode { RS_NEAREST, RS_LINEAR, RS_CUBIC };
enum rs_ctm {
	CTM_HALF_PIXEL,
	CTM_HALF_PIXEL_SYMMETRIC,
	CTM_PYTORCH_HALF_PIXEL,
	CTM_ALIGN_CORNERS,
	CTM_ASYMMETRIC,
	CTM_TF_HALF_PIXEL_FOR_NN,
	CTM_TF_CROP_AND_RESIZE,
};
enum rs_round { RND_PREFER_FLOOR, RND_PREFER_CEIL, RND_FLOOR, RND_CEIL, RND_LEGACY };

#define MAX_CORNERS 256
#define MAX_TAPS 4

struct rs_cfg {
	enum rs_mode mode;
	enum rs_ctm ctm;
	enum rs_round round;
	double cubic_a;
	bool exclude_outside;
	float extrapolation;
	int rank;
	int64_t in[TENSOR_MAX_RANK], out[TENSOR_MAX_RANK];
	double scale[TENSOR_MAX_RANK];
	double roi_lo[TENSOR_MAX_RANK], roi_hi[TENSOR_MAX_RANK];
};

/* Per-axis tap tables of the interpolating modes, inside one params block. */
struct rs_axis {
	int taps;	    /* 1 (pass-through) or 2 / 4 */
	size_t idx_off;	    /* int64_t[out * taps] input indices */
	size_t w_off;	    /* float[out * taps] weights */
	size_t flag_off;    /* uint8_t[out]: 1 = outside, write the extrapolation value */
};

struct rs_params {
	bool nearest; /* then an axis map follows at AMAP_PREFIX_ROUND(sizeof rs_params) */
	int rank;
	int64_t in_stride[TENSOR_MAX_RANK];
	int64_t out_dim[TENSOR_MAX_RANK];
	float extrapolation;
	struct rs_axis ax[TENSOR_MAX_RANK];
	size_t bytes;
	unsigned char data[]; /* tables, 8-byte aligned */
};

/* Real input coordinate of output index o along an axis; *outside for a point
 * beyond the input in tf_crop_and_resize. */
static double rs_coord(const struct rs_cfg *c, int d, int64_t o, bool *outside)
{
	double s = c->scale[d], in = (double)c->in[d], x = (double)o;
	double out_f = s * in; /* the reference's output length: may be fractional */
	*outside = false;
	switch (c->ctm) {
	case CTM_HALF_PIXEL:
		return (x + 0.5) / s - 0.5;
	case CTM_HALF_PIXEL_SYMMETRIC: {
		double adj = (double)c->out[d] / out_f, center = in / 2;
		return center * (1 - adj) + (x + 0.5) / s - 0.5;
	}
	case CTM_PYTORCH_HALF_PIXEL:
		return c->out[d] > 1 ? (x + 0.5) / s - 0.5 : 0;
	case CTM_ALIGN_CORNERS:
		return out_f == 1 ? 0 : x * (in - 1) / (out_f - 1);
	case CTM_ASYMMETRIC:
		return x / s;
	case CTM_TF_HALF_PIXEL_FOR_NN:
		return (x + 0.5) / s;
	case CTM_TF_CROP_AND_RESIZE: {
		double lo = c->roi_lo[d], hi = c->roi_hi[d], r;
		if (out_f == 1)
			r = (hi - lo) * (in - 1) / 2;
		else
			r = x * (hi - lo) * (in - 1) / (out_f - 1);
		r += lo * (in - 1);
		*outside = r < 0 || r > in - 1;
		return r;
	}
	}
	return x;
}

static int64_t clamp_idx(int64_t i, int64_t n)
{
	return i < 0 ? 0 : i >= n ? n - 1 : i;
}

static int64_t rs_nearest(const struct rs_cfg *c, int d, double x)
{
	double f = floor(x), frac = x - f;
	int64_t i = (int64_t)f;
	if (frac == 0)
		return clamp_idx(i, c->in[d]);
	switch (c->round) {
	case RND_PREFER_FLOOR: i += frac > 0.5; break;
	case RND_PREFER_CEIL: i += frac >= 0.5; break;
	case RND_FLOOR: break;
	case RND_CEIL: i += 1; break;
	case RND_LEGACY: i += c->scale[d] < 1; break; /* ONNX Runtime's opset-10 "simple" */
	}
	return clamp_idx(i, c->in[d]);
}

static double cubic_w(double a, double t)
{
	t = fabs(t);
	if (t <= 1)
		return ((a + 2) * t - (a + 3)) * t * t + 1;
	if (t < 2)
		return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
	return 0;
}

/* Taps of an interpolating mode at coordinate x: indices (clamped) and weights. */
static void rs_taps(const struct rs_cfg *c, int d, double x, int64_t *idx, float *w)
{
	double f = floor(x), r = x - f;
	int64_t i0 = (int64_t)f, n = c->in[d];
	if (c->mode == RS_LINEAR) {
		idx[0] = clamp_idx(i0, n);
		idx[1] = clamp_idx(i0 + 1, n);
		w[0] = (float)(1 - r);
		w[1] = (float)r;
		return;
	}
	double ww[4], sum = 0;
	for (int t = 0; t < 4; t++) {
		int64_t i = i0 - 1 + t;
		ww[t] = cubic_w(c->cubic_a, r - (t - 1));
		if (c->exclude_outside && (i < 0 || i >= n))
			ww[t] = 0;
		sum += ww[t];
		idx[t] = clamp_idx(i, n);
	}
	for (int t = 0; t < 4; t++)
		w[t] = (float)(c->exclude_outside && sum != 0 ? ww[t] / sum : ww[t]);
}

/* --- attribute and input parsing -------------------------------------------- */

static enum status parse_enum(const struct node *n, const char *attr, const char *def,
			      const char *const *names, int count, int *out, struct err *e)
{
	const char *v;
	enum status st = node_attr_string(n, attr, def, &v, e);
	if (st)
		return st;
	for (int i = 0; i < count; i++)
		if (names[i] && strcmp(v, names[i]) == 0) {
			*out = i;
			return OK;
		}
	return err_set(e, ERR_UNSUPPORTED, "%s '%s' is not supported", attr, v);
}

/* Read a constant float tensor (float32 or double) into out[max]. */
static enum status read_floats(const struct tensor *t, const char *what, double *out, int max,
			       int *n, struct err *e)
{
	if (t->dtype != DT_FLOAT && t->dtype != DT_DOUBLE)
		return err_set(e, ERR_UNSUPPORTED, "%s of type %s is not supported", what,
			       dtype_name(t->dtype));
	if (!t->data)
		return err_set(e, ERR_UNSUPPORTED, "%s input is not constant", what);
	int64_t cnt = tensor_numel(t);
	if (t->shape.rank > 1 || cnt > max)
		return err_set(e, ERR_INVALID, "%s has %" PRId64 " elements, expected at most %d",
			       what, cnt, max);
	for (int64_t i = 0; i < cnt; i++)
		out[i] = t->dtype == DT_FLOAT ? ((const float *)t->data)[i]
					      : ((const double *)t->data)[i];
	*n = (int)cnt;
	return OK;
}

/* Fill cfg from the node: attributes, scales or sizes, roi.  `legacy` is Resize-10
 * and Upsample; legacy_scales non-NULL is Upsample-7's attribute. */
static enum status rs_config(struct step *s, const struct tensor *const *in, int n_in,
			     bool legacy, const struct tensor *scales_t, const float *attr_scales,
			     int n_attr_scales, struct rs_cfg *c, struct err *e)
{
	static const char *const modes[] = { "nearest", "linear", "cubic", "bilinear" };
	static const char *const ctms[] = { "half_pixel", "half_pixel_symmetric",
					    "pytorch_half_pixel", "align_corners", "asymmetric",
					    "tf_half_pixel_for_nn", "tf_crop_and_resize" };
	static const char *const rounds[] = { "round_prefer_floor", "round_prefer_ceil", "floor",
					      "ceil" };
	static const char *const policies[] = { "stretch", "not_larger", "not_smaller" };
	const struct node *n = s->node;
	const struct shape *xs = &in[0]->shape;
	int mode = 0, ctm = CTM_ASYMMETRIC, rnd = RND_LEGACY, policy = 0;
	int64_t exclude = 0, antialias = 0;
	float a = -0.75f;
	enum status st = parse_enum(n, "mode", "nearest", modes, legacy ? 4 : 3, &mode, e);
	if (st)
		return st;
	c->mode = mode == 3 ? RS_LINEAR : (enum rs_mode)mode;
	if (!legacy) {
		if ((st = parse_enum(n, "coordinate_transformation_mode", "half_pixel", ctms, 7,
				     &ctm, e)) ||
		    (st = parse_enum(n, "nearest_mode", "round_prefer_floor", rounds, 4, &rnd, e)) ||
		    (st = node_attr_float(n, "cubic_coeff_a", -0.75f, &a, e)) ||
		    (st = node_attr_int(n, "exclude_outside", 0, &exclude, e)) ||
		    (st = node_attr_float(n, "extrapolation_value", 0.0f, &c->extrapolation, e)))
			return st;
		if (ctm == CTM_HALF_PIXEL_SYMMETRIC && s->opset < 19)
			return err_set(e, ERR_INVALID, "half_pixel_symmetric needs opset 19");
		if (s->opset >= 18 &&
		    ((st = node_attr_int(n, "antialias", 0, &antialias, e)) ||
		     (st = parse_enum(n, "keep_aspect_ratio_policy", "stretch", policies, 3,
				      &policy, e))))
			return st;
		if (antialias)
			return err_set(e, ERR_UNSUPPORTED, "antialias is not supported");
	}
	c->ctm = (enum rs_ctm)ctm;
	c->round = (enum rs_round)rnd;
	c->cubic_a = a;
	c->exclude_outside = exclude != 0;
	int r = xs->rank;
	c->rank = r;

	/* axes (opset 18): which axes scales/sizes/roi refer to */
	int axes[TENSOR_MAX_RANK], na = r;
	for (int d = 0; d < r; d++)
		axes[d] = d;
	if (!legacy && s->opset >= 18) {
		const int64_t *av;
		int nav;
		if ((st = node_attr_ints(n, "axes", &av, &nav, e)))
			return st;
		if (av) {
			bool seen[TENSOR_MAX_RANK] = { false };
			if (nav > r)
				return err_set(e, ERR_INVALID, "%d axes for rank %d", nav, r);
			for (int i = 0; i < nav; i++) {
				if ((st = su_norm_axis(av[i], r, "axis", &axes[i], e)))
					return st;
				if (seen[axes[i]])
					return err_set(e, ERR_INVALID, "axis %d is given twice",
						       axes[i]);
				seen[axes[i]] = true;
			}
			na = nav;
		}
	}
	for (int d = 0; d < r; d++) {
		c->in[d] = xs->dim[d];
		c->scale[d] = 1;
		c->roi_lo[d] = 0;
		c->roi_hi[d] = 1;
	}

	/* roi, only used by tf_crop_and_resize */
	if (c->ctm == CTM_TF_CROP_AND_RESIZE) {
		const struct tensor *roi = n_in >= 2 ? in[1] : NULL;
		double rv[2 * TENSOR_MAX_RANK];
		int nr;
		if (!roi || tensor_numel(roi) == 0)
			return err_set(e, ERR_INVALID, "tf_crop_and_resize needs a roi input");
		if ((st = read_floats(roi, "roi", rv, 2 * TENSOR_MAX_RANK, &nr, e)))
			return st;
		if (nr != 2 * na)
			return err_set(e, ERR_INVALID, "roi has %d entries, expected %d", nr, 2 * na);
		for (int i = 0; i < na; i++) {
			c->roi_lo[axes[i]] = rv[i];
			c->roi_hi[axes[i]] = rv[na + i];
		}
	}

	double sc[TENSOR_MAX_RANK];
	int64_t sz[TENSOR_MAX_RANK];
	int nsc = 0, nsz = 0;
	const struct tensor *sizes_t = !legacy && n_in >= 4 ? in[3] : NULL;
	if (attr_scales) {
		if (n_attr_scales > TENSOR_MAX_RANK)
			return err_set(e, ERR_INVALID, "too many scales");
		for (int i = 0; i < n_attr_scales; i++)
			sc[i] = attr_scales[i];
		nsc = n_attr_scales;
	} else if (scales_t && tensor_numel(scales_t) > 0) {
		if ((st = read_floats(scales_t, "scales", sc, TENSOR_MAX_RANK, &nsc, e)))
			return st;
	}
	if (sizes_t && tensor_numel(sizes_t) > 0) {
		if (nsc)
			return err_set(e, ERR_INVALID, "both scales and sizes are given");
		if ((st = su_read_ints(sizes_t, "sizes", false, sz, TENSOR_MAX_RANK, &nsz, e)))
			return st;
		if (nsz != na)
			return err_set(e, ERR_INVALID, "sizes has %d entries, expected %d", nsz, na);
	} else if (nsc != na) {
		return err_set(e, ERR_INVALID, "scales has %d entries, expected %d", nsc, na);
	}

	for (int d = 0; d < r; d++)
		c->out[d] = c->in[d];
	if (nsz) {
		double keep = policy == 1 ? INFINITY : 0;
		for (int i = 0; i < na; i++) {
			int d = axes[i];
			if (sz[i] < 0)
				return err_set(e, ERR_INVALID, "sizes[%d] is negative", i);
			if (c->in[d] == 0)
				return err_set(e, ERR_INVALID, "cannot resize the empty axis %d", d);
			double sd = (double)sz[i] / (double)c->in[d];
			c->scale[d] = sd;
			c->out[d] = sz[i];
			if (policy == 1 && sd < keep)
				keep = sd;
			if (policy == 2 && sd > keep)
				keep = sd;
		}
		if (policy) {
			for (int i = 0; i < na; i++) {
				int d = axes[i];
				c->scale[d] = keep;
				c->out[d] = (int64_t)nearbyint(keep * (double)c->in[d]);
			}
		}
	} else {
		for (int i = 0; i < na; i++) {
			int d = axes[i];
			if (!(sc[i] > 0) || !isfinite(sc[i]))
				return err_set(e, ERR_INVALID, "scale %g for axis %d is not positive",
					       sc[i], d);
			double len = (double)c->in[d] * sc[i];
			if (c->ctm == CTM_TF_CROP_AND_RESIZE)
				len *= c->roi_hi[d] - c->roi_lo[d];
			if (!(len < (double)TENSOR_MAX_BYTES))
				return err_set(e, ERR_LIMIT, "resized axis %d is too large", d);
			c->scale[d] = sc[i];
			c->out[d] = len > 0 ? (int64_t)floor(len) : 0;
		}
	}
	for (int d = 0; d < r; d++)
		if (c->in[d] == 0 && c->out[d] > 0)
			return err_set(e, ERR_INVALID, "cannot resize the empty axis %d", d);
	return OK;
}

/* --- prepare ------------------------------------------------------------------ */

static enum status rs_prepare_nearest(struct step *s, const struct tensor *x,
				      const struct rs_cfg *c, struct err *e)
{
	size_t es;
	void *block;
	struct amap *m = NULL;
	enum status st = su_elem_size(x, "input", &es, e);
	if (st || (st = amap_new_prefixed(sizeof(struct rs_params), c->rank, c->out, c->in, es,
					  &block, &m, e)))
		return st;
	struct rs_params *p = block;
	s->params = block;
	p->nearest = true;
	for (int d = 0; d < c->rank; d++) {
		int64_t *t = amap_table(m, d);
		for (int64_t o = 0; o < c->out[d]; o++) {
			bool outside;
			double xc = rs_coord(c, d, o, &outside);
			t[o] = outside ? AMAP_FILL : rs_nearest(c, d, xc);
		}
	}
	amap_finish(m);
	if (c->ctm != CTM_TF_CROP_AND_RESIZE)
		return OK;
	return convert_from_float(m->fill, x->dtype, &c->extrapolation, 1, e);
}

static enum status rs_prepare_interp(struct step *s, const struct tensor *x,
				     const struct rs_cfg *c, struct err *e)
{
	if (x->dtype != DT_FLOAT)
		return err_set(e, ERR_UNSUPPORTED, "%s resize of %s is not supported (float32 only)",
			       c->mode == RS_LINEAR ? "linear" : "cubic", dtype_name(x->dtype));
	int r = c->rank, nt = c->mode == RS_LINEAR ? 2 : 4;
	int taps[TENSOR_MAX_RANK];
	/* pass-through axes: every coordinate is exactly its own index */
	for (int d = 0; d < r; d++) {
		bool same = c->out[d] == c->in[d];
		for (int64_t o = 0; same && o < c->out[d]; o++) {
			bool outside;
			same = rs_coord(c, d, o, &outside) == (double)o && !outside;
		}
		taps[d] = same ? 1 : nt;
	}
	int corners = 1;
	for (int d = 0; d + 1 < r; d++) {
		corners *= taps[d];
		if (corners > MAX_CORNERS)
			return err_set(e, ERR_UNSUPPORTED, "resizing this many axes at once is not "
				       "supported");
	}
	size_t bytes = 0, off[TENSOR_MAX_RANK][3];
	for (int d = 0; d < r; d++) {
		size_t n = (size_t)c->out[d];
		off[d][0] = bytes;
		bytes += n * (size_t)taps[d] * sizeof(int64_t);
		off[d][1] = bytes;
		bytes += (n * (size_t)taps[d] * sizeof(float) + 7) / 8 * 8;
		off[d][2] = bytes;
		bytes += (n + 7) / 8 * 8;
	}
	struct rs_params *p = calloc(1, sizeof *p + bytes);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory for resize tables");
	s->params = p;
	p->rank = r;
	p->extrapolation = c->extrapolation;
	p->bytes = bytes;
	int64_t stride = 1;
	for (int d = r - 1; d >= 0; d--) {
		p->in_stride[d] = stride;
		stride *= c->in[d];
		p->out_dim[d] = c->out[d];
		p->ax[d] = (struct rs_axis){ taps[d], off[d][0], off[d][1], off[d][2] };
		int64_t *idx = (int64_t *)(p->data + off[d][0]);
		float *w = (float *)(p->data + off[d][1]);
		uint8_t *flag = p->data + off[d][2];
		for (int64_t o = 0; o < c->out[d]; o++) {
			bool outside;
			double xc = rs_coord(c, d, o, &outside);
			flag[o] = outside;
			if (taps[d] == 1) {
				idx[o] = o;
				w[o] = 1;
			} else {
				rs_taps(c, d, xc, idx + o * taps[d], w + o * taps[d]);
			}
		}
	}
	return OK;
}

static enum status rs_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, bool legacy, const struct tensor *scales_t,
			      const float *attr_scales, int n_attr_scales, struct err *e)
{
	struct rs_cfg c = { 0 };
	enum status st = rs_config(s, in, n_in, legacy, scales_t, attr_scales, n_attr_scales, &c,
				   e);
	if (st)
		return st;
	struct shape os = { .rank = c.rank };
	for (int d = 0; d < c.rank; d++)
		os.dim[d] = c.out[d];
	if ((st = su_set_shape(out[0], in[0]->dtype, &os, e)))
		return st;
	return c.mode == RS_NEAREST ? rs_prepare_nearest(s, in[0], &c, e)
				    : rs_prepare_interp(s, in[0], &c, e);
}

/* --- run ---------------------------------------------------------------------- */

static void rs_run_interp(const struct rs_params *p, const float *x, float *y)
{
	int r = p->rank > 0 ? p->rank : 1;
	if (p->rank == 0) {
		y[0] = x[0];
		return;
	}
	int64_t n = p->out_dim[r - 1], rows = 1;
	for (int d = 0; d < r - 1; d++)
		rows *= p->out_dim[d];
	if (n == 0 || rows == 0)
		return;
	const struct rs_axis *ia = &p->ax[r - 1];
	const int64_t *restrict iidx = (const int64_t *)(p->data + ia->idx_off);
	const float *restrict iw = (const float *)(p->data + ia->w_off);
	const uint8_t *restrict iflag = p->data + ia->flag_off;
	int it = ia->taps;
	int64_t idx[TENSOR_MAX_RANK] = { 0 };
	int64_t cb[MAX_CORNERS];
	float cw[MAX_CORNERS];
	for (int64_t rw = 0; rw < rows; rw++, y += n) {
		int nc = 1;
		bool outside = false;
		cb[0] = 0;
		cw[0] = 1;
		for (int d = 0; d < r - 1 && !outside; d++) {
			const struct rs_axis *a = &p->ax[d];
			int64_t o = idx[d];
			outside = p->data[a->flag_off + (size_t)o];
			const int64_t *ti = (const int64_t *)(p->data + a->idx_off) + o * a->taps;
			const float *tw = (const float *)(p->data + a->w_off) + o * a->taps;
			if (a->taps == 1) {
				for (int k = 0; k < nc; k++)
					cb[k] += ti[0] * p->in_stride[d];
				continue;
			}
			/* each corner splits into one per tap (taps-major keeps them in place) */
			for (int t = a->taps - 1; t >= 0; t--)
				for (int k = 0; k < nc; k++) {
					cb[t * nc + k] = cb[k] + ti[t] * p->in_stride[d];
					cw[t * nc + k] = cw[k] * tw[t];
				}
			nc *= a->taps;
		}
		if (outside) {
			for (int64_t j = 0; j < n; j++)
				y[j] = p->extrapolation;
			continue;
		}
		memset(y, 0, (size_t)n * sizeof *y);
		for (int k = 0; k < nc; k++) {
			const float *restrict src = x + cb[k];
			float wk = cw[k];
			if (wk == 0)
				continue;
			if (it == 1) {
				for (int64_t j = 0; j < n; j++)
					y[j] += wk * src[j];
			} else if (it == 2) {
				for (int64_t j = 0; j < n; j++)
					y[j] += wk * (iw[2 * j] * src[iidx[2 * j]] +
						      iw[2 * j + 1] * src[iidx[2 * j + 1]]);
			} else {
				for (int64_t j = 0; j < n; j++) {
					const int64_t *q = iidx + 4 * j;
					const float *v = iw + 4 * j;
					y[j] += wk * (v[0] * src[q[0]] + v[1] * src[q[1]] +
						      v[2] * src[q[2]] + v[3] * src[q[3]]);
				}
			}
		}
		for (int64_t j = 0; j < n; j++)
			if (iflag[j])
				y[j] = p->extrapolation;
		for (int d = r - 2; d >= 0; d--) {
			if (++idx[d] < p->out_dim[d])
				break;
			idx[d] = 0;
		}
	}
}

static void rs_run(const struct step *s, const struct tensor *x, struct tensor *y)
{
	const struct rs_params *p = s->params;
	if (p->nearest) {
		const struct amap *m = (const struct amap *)((const unsigned char *)p +
							     AMAP_PREFIX_ROUND(sizeof *p));
		amap_run(m, x->data, y->data);
	} else {
		rs_run_interp(p, x->data, y->data);
	}
}

/* --- the two operators ---------------------------------------------------------- */

enum status op_resize_prepare(struct step *s, const struct tensor *const *in, int n_in,
			      struct tensor *const *out, int n_out, struct err *e)
{
	bool legacy = s->opset < 11;
	enum status st = legacy ? ops_check_arity(in, n_in, 2, 2, n_out, 1, e)
				: ops_check_arity(in, n_in, 1, 4, n_out, 1, e);
	if (st)
		return st;
	const struct tensor *scales = legacy ? in[1] : n_in >= 3 ? in[2] : NULL;
	return rs_prepare(s, in, n_in, out, legacy, scales, NULL, 0, e);
}

enum status op_resize_run(const struct step *s, const struct tensor *const *in, int n_in,
			  struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	rs_run(s, in[0], out[0]);
	return OK;
}

enum status op_upsample_prepare(struct step *s, const struct tensor *const *in, int n_in,
				struct tensor *const *out, int n_out, struct err *e)
{
	bool attr_form = s->opset < 9;
	enum status st = ops_check_arity(in, n_in, attr_form ? 1 : 2, attr_form ? 1 : 2, n_out, 1,
					 e);
	if (st)
		return st;
	const float *sc = NULL;
	int nsc = 0;
	if (attr_form) {
		if ((st = node_attr_floats(s->node, "scales", &sc, &nsc, e)))
			return st;
		if (!sc)
			return err_set(e, ERR_INVALID, "attribute 'scales' is missing");
	}
	return rs_prepare(s, in, n_in, out, true, attr_form ? NULL : in[1], sc, nsc, e);
}

enum status op_upsample_run(const struct step *s, const struct tensor *const *in, int n_in,
			    struct tensor *const *out, int n_out, void *scratch, struct err *e)
{
	rs_run(s, in[0], out[0]);
	return OK;
}
