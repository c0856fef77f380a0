/*
 * nn_util.c - parsing and checking the window attributes of Conv, ConvTranspose and pooling.
 *
 * Every window op shares the same attribute family, so the checks (counts match the spatial
 * rank, strides and dilations positive, pads non-negative) and the output-size arithmetic live
 * here once.  Output sizes follow the ONNX operator docs: for explicit pads
 *     out = floor((in + pad0 + pad1 - ((k - 1) * dil + 1)) / stride) + 1
 * (ceil instead of floor with ceil_mode, minus a last window that would start inside the end
 * padding, as PyTorch and ONNX's reference do); for SAME_UPPER / SAME_LOWER out = ceil(in /
 * stride) and the needed padding is split with the odd pixel at the end / the beginning.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_util.h"

#if NN_X86 /* GCC pragmas in vmath.h */
#include "vmath.h"
#endif

int64_t nn_prod(const int64_t *v, int n)
{
	int64_t p = 1;
	for (int i = 0; i < n; i++)
		p *= v[i];
	return p;
}

char *nn_dims_str(const int64_t *v, int n, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && len < size; i++) {
		int w = snprintf(buf + len, size - len, i ? "x%lld" : "%lld", (long long)v[i]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
	return buf;
}

bool nn_have_avx512(void)
{
#if NN_X86
	/* 0 unknown, 1 no, 2 yes; racing first calls compute the same answer */
	static _Atomic int have;
	int h = atomic_load_explicit(&have, memory_order_relaxed);
	if (!h) {
		const char *off = getenv("QLENS_NO_AVX512");
		bool no = off && off[0] && strcmp(off, "0") != 0;
		h = !no && __builtin_cpu_supports("avx512f") ? 2 : 1;
		atomic_store_explicit(&have, h, memory_order_relaxed);
	}
	return h == 2;
#else
	return false;
#endif
}

enum status nn_axis(int64_t axis, int rank, int *out, struct err *e)
{
	if (axis < -rank || axis >= rank)
		return err_set(e, ERR_INVALID, "axis %lld is out of range for rank %d",
			       (long long)axis, rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return OK;
}

static enum status read_autopad(const struct node *n, enum nn_autopad *ap, struct err *e)
{
	const char *s;
	enum status st = node_attr_string(n, "auto_pad", "NOTSET", &s, e);
	if (st)
		return st;
	if (strcmp(s, "NOTSET") == 0 || s[0] == '\0')
		*ap = NN_PAD_NOTSET;
	else if (strcmp(s, "SAME_UPPER") == 0)
		*ap = NN_PAD_SAME_UPPER;
	else if (strcmp(s, "SAME_LOWER") == 0)
		*ap = NN_PAD_SAME_LOWER;
	else if (strcmp(s, "VALID") == 0)
		*ap = NN_PAD_VALID;
	else
		return err_set(e, ERR_INVALID, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, "
			       "SAME_LOWER, VALID", s);
	return OK;
}

/* An ints attribute with exactly `want` entries, each in [min, NN_ATTR_MAX]; def fills absent
 * ones. */
static enum status read_ints(const struct node *n, const char *name, int want, int64_t min,
			     int64_t def, int64_t *out, struct err *e)
{
	const int64_t *v;
	int nv;
	enum status st = node_attr_ints(n, name, &v, &nv, e);
	if (st)
		return st;
	if (!v) {
		for (int i = 0; i < want; i++)
			out[i] = def;
		return OK;
	}
	if (nv != want)
		return err_set(e, ERR_INVALID, "%s has %d values, expected %d", name, nv, want);
	for (int i = 0; i < want; i++) {
		if (v[i] < min)
			return err_set(e, ERR_INVALID, "%s[%d] is %lld, must be >= %lld", name, i,
				       (long long)v[i], (long long)min);
		if (v[i] > NN_ATTR_MAX)
			return err_set(e, ERR_INVALID, "%s[%d] is %lld, larger than the limit %lld",
				       name, i, (long long)v[i], (long long)NN_ATTR_MAX);
		out[i] = v[i];
	}
	return OK;
}

enum status nn_window_read(const struct node *n, struct nn_window *w, const int64_t *kernel,
			   struct err *e)
{
	int ns = w->nsp;
	int64_t pads[2 * NN_MAX_SP];
	enum status st = read_autopad(n, &w->autopad, e);
	if (!st)
		st = read_ints(n, "strides", ns, 1, 1, w->stride, e);
	if (!st)
		st = read_ints(n, "dilations", ns, 1, 1, w->dil, e);
	if (!st)
		st = read_ints(n, "pads", 2 * ns, 0, 0, pads, e);
	if (st)
		return st;
	for (int i = 0; i < ns; i++) {
		w->pad0[i] = pads[i];
		w->pad1[i] = pads[ns + i];
	}

	const int64_t *ks;
	int nk;
	st = node_attr_ints(n, "kernel_shape", &ks, &nk, e);
	if (st)
		return st;
	if (!ks && !kernel)
		return err_set(e, ERR_INVALID, "attribute kernel_shape is required");
	if (ks && nk != ns)
		return err_set(e, ERR_INVALID, "kernel_shape has %d values, expected %d", nk, ns);
	for (int i = 0; i < ns; i++) {
		int64_t k = ks ? ks[i] : kernel[i];
		if (k < 1 || k > NN_ATTR_MAX)
			return err_set(e, ERR_INVALID, "kernel_shape[%d] is %lld, must be in 1..%lld",
				       i, (long long)k, (long long)NN_ATTR_MAX);
		if (kernel && k != kernel[i]) {
			char a[64], b[64];
			return err_set(e, ERR_SHAPE, "kernel_shape %s does not match weight %s",
				       nn_dims_str(ks, ns, a, sizeof a),
				       nn_dims_str(kernel, ns, b, sizeof b));
		}
		w->k[i] = k;
	}
	return OK;
}

enum status nn_window_forward(struct nn_window *w, bool ceil_mode, struct err *e)
{
	int64_t ek[NN_MAX_SP], padded[NN_MAX_SP];
	bool too_big = false;
	for (int i = 0; i < w->nsp; i++) {
		ek[i] = (w->k[i] - 1) * w->dil[i] + 1;
		if (w->autopad == NN_PAD_SAME_UPPER || w->autopad == NN_PAD_SAME_LOWER) {
			int64_t out = nn_ceildiv(w->in[i], w->stride[i]);
			int64_t total = (out - 1) * w->stride[i] + ek[i] - w->in[i];
			if (total < 0)
				total = 0;
			int64_t half = total / 2;
			w->pad0[i] = w->autopad == NN_PAD_SAME_UPPER ? half : total - half;
			w->pad1[i] = total - w->pad0[i];
		} else if (w->autopad == NN_PAD_VALID) {
			w->pad0[i] = w->pad1[i] = 0;
		}
		padded[i] = w->in[i] + w->pad0[i] + w->pad1[i];
		if (padded[i] < ek[i]) {
			too_big = true;
			continue;
		}
		int64_t span = padded[i] - ek[i];
		int64_t s = w->stride[i];
		int64_t out = (ceil_mode ? nn_ceildiv(span, s) : span / s) + 1;
		if (ceil_mode && (out - 1) * s >= w->in[i] + w->pad0[i])
			out--;
		w->out[i] = out;
	}
	if (too_big) {
		char a[64], b[64];
		return err_set(e, ERR_SHAPE, "kernel %s larger than padded input %s",
			       nn_dims_str(ek, w->nsp, a, sizeof a),
			       nn_dims_str(padded, w->nsp, b, sizeof b));
	}
	return OK;
}

struct nn_window nn_window_to3d(const struct nn_window *w)
{
	struct nn_window r;
	int lead = NN_MAX_SP - w->nsp;
	r.nsp = NN_MAX_SP;
	r.autopad = w->autopad;
	for (int i = 0; i < NN_MAX_SP; i++) {
		int j = i - lead;
		bool real = j >= 0;
		r.in[i] = real ? w->in[j] : 1;
		r.k[i] = real ? w->k[j] : 1;
		r.stride[i] = real ? w->stride[j] : 1;
		r.dil[i] = real ? w->dil[j] : 1;
		r.pad0[i] = real ? w->pad0[j] : 0;
		r.pad1[i] = real ? w->pad1[j] : 0;
		r.out[i] = real ? w->out[j] : 1;
	}
	return r;
}

/* Branch-free select through integer masks: gcc vectorises it where a float ternary would
 * stay scalar (it will not if-convert under -ftrapping-math). */
static inline float sel(int c, float a, float b)
{
	union { float f; uint32_t u; } ua = { a }, ub = { b }, r;
	uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
	r.u = (ua.u & m) | (ub.u & ~m);
	return r.f;
}

void nn_epilogue(const struct step_epilogue *epi, float *y, const float *res, int64_t n)
{
	if (res)
		for (int64_t i = 0; i < n; i++)
			y[i] += res[i];
	const float lo = epi->lo, hi = epi->hi, a = epi->alpha;
	switch (epi->act) {
	case EPI_RELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = sel(y[i] > 0.0f, y[i], 0.0f);
		break;
	case EPI_CLIP:
		for (int64_t i = 0; i < n; i++) {
			float v = sel(y[i] < lo, lo, y[i]);
			y[i] = sel(v > hi, hi, v);
		}
		break;
	case EPI_LEAKY_RELU:
		for (int64_t i = 0; i < n; i++)
			y[i] = sel(y[i] < 0.0f, a * y[i], y[i]);
		break;
	case EPI_GELU: {
		/* the Div, Erf, Add, Mul chain, with nn_erf as the Erf op has it */
		float t[256];
		for (int64_t i0 = 0; i0 < n; i0 += 256) {
			int64_t m = n - i0 < 256 ? n - i0 : 256;
			float *yi = y + i0;
			for (int64_t i = 0; i < m; i++)
				t[i] = yi[i] / a;
			nn_erf(t, t, m);
			for (int64_t i = 0; i < m; i++)
				yi[i] = (yi[i] * (t[i] + 1.0f)) * 0.5f;
		}
		break;
	}
	case EPI_NONE:
		break;
	}
}

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")
static void erf_avx512(const float *x, float *y, int64_t n)
{
	int64_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i, vm_erf(_mm512_loadu_ps(x + i)));
	if (i < n) {
		__mmask16 k = (__mmask16)((1u << (n - i)) - 1);
		_mm512_mask_storeu_ps(y + i, k, vm_erf(_mm512_maskz_loadu_ps(k, x + i)));
	}
}

static void softmax_row_avx512(const float *x, float *y, int64_t n)
{
	/* max ignores NaN the way the scalar `x > mx ? x : mx` does (max_ps returns its second
	 * operand when one is NaN) */
	__m512 vm = _mm512_set1_ps(-INFINITY);
	int64_t i = 0;
	for (; i + 16 <= n; i += 16)
		vm = _mm512_max_ps(_mm512_loadu_ps(x + i), vm);
	__mmask16 k = (__mmask16)((1u << (n - i)) - 1);
	if (i < n)
		vm = _mm512_mask_max_ps(vm, k, _mm512_maskz_loadu_ps(k, x + i), vm);
	const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
	__m512 acc = _mm512_setzero_ps();
	for (i = 0; i + 16 <= n; i += 16) {
		__m512 e = vm_exp_nonpos(_mm512_sub_ps(_mm512_loadu_ps(x + i), mx));
		_mm512_storeu_ps(y + i, e);
		acc = _mm512_add_ps(acc, e);
	}
	if (i < n) {
		__m512 e = vm_exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mx));
		_mm512_mask_storeu_ps(y + i, k, e);
		acc = _mm512_mask_add_ps(acc, k, acc, e);
	}
	const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
	for (i = 0; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
	if (i < n)
		_mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + i), inv));
}

/* Four rows of n at once, each with exactly softmax_row_avx512's operations in its order (so
 * the same bits): the rows' reductions and exps are independent chains that overlap, where a
 * short row alone waits on its own horizontal max, then its sum. */
static void softmax_rows4_avx512(const float *x, float *y, int64_t n)
{
	__m512 vm[4], acc[4], mx[4], inv[4];
	const __mmask16 k = (__mmask16)((1u << (n & 15)) - 1);
	const int64_t full = n & ~(int64_t)15;
#pragma GCC unroll 4
	for (int r = 0; r < 4; r++)
		vm[r] = _mm512_set1_ps(-INFINITY);
	for (int64_t i = 0; i < full; i += 16) {
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++)
			vm[r] = _mm512_max_ps(_mm512_loadu_ps(x + r * n + i), vm[r]);
	}
	if (full < n) {
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++)
			vm[r] = _mm512_mask_max_ps(vm[r], k, _mm512_maskz_loadu_ps(k, x + r * n + full),
						   vm[r]);
	}
#pragma GCC unroll 4
	for (int r = 0; r < 4; r++) {
		mx[r] = _mm512_set1_ps(_mm512_reduce_max_ps(vm[r]));
		acc[r] = _mm512_setzero_ps();
	}
	for (int64_t i = 0; i < full; i += 16) {
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++) {
			__m512 e = vm_exp_nonpos(_mm512_sub_ps(_mm512_loadu_ps(x + r * n + i), mx[r]));
			_mm512_storeu_ps(y + r * n + i, e);
			acc[r] = _mm512_add_ps(acc[r], e);
		}
	}
	if (full < n) {
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++) {
			__m512 e = vm_exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + r * n + full),
							mx[r]));
			_mm512_mask_storeu_ps(y + r * n + full, k, e);
			acc[r] = _mm512_mask_add_ps(acc[r], k, acc[r], e);
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < 4; r++)
		inv[r] = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc[r]));
	for (int64_t i = 0; i < full; i += 16) {
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++)
			_mm512_storeu_ps(y + r * n + i,
					 _mm512_mul_ps(_mm512_loadu_ps(y + r * n + i), inv[r]));
	}
	if (full < n) {
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++)
			_mm512_mask_storeu_ps(y + r * n + full, k,
					      _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + r * n + full),
							    inv[r]));
	}
}
#pragma GCC pop_options
#endif

void nn_erf(const float *x, float *y, int64_t n)
{
#if NN_X86
	if (nn_have_avx512()) {
		erf_avx512(x, y, n);
		return;
	}
#endif
	for (int64_t i = 0; i < n; i++)
		y[i] = erff(x[i]);
}

void nn_softmax_rows(const float *x, float *y, int64_t rows, int64_t n)
{
	int64_t r = 0;
#if NN_X86
	if (n > 0 && nn_have_avx512())
		for (; r + 4 <= rows; r += 4)
			softmax_rows4_avx512(x + r * n, y + r * n, n);
#endif
	for (; r < rows; r++)
		nn_softmax_row(x + r * n, y + r * n, n);
}

void nn_softmax_row(const float *x, float *y, int64_t n)
{
	if (n <= 0)
		return;
#if NN_X86
	if (nn_have_avx512()) {
		softmax_row_avx512(x, y, n);
		return;
	}
#endif
	float mx = -INFINITY;
	for (int64_t i = 0; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	float sum = 0.0f;
	for (int64_t i = 0; i < n; i++) {
		y[i] = expf(x[i] - mx);
		sum += y[i];
	}
	const float inv = 1.0f / sum;
	for (int64_t i = 0; i < n; i++)
		y[i] *= inv;
}
