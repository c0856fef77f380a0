/*
 * vmath.h - exp, erf and the fused activations on 16 floats at once (AVX-512), for the
 * direct and fused kernels.
 * Internal to src/ops.  Include only from x86-64 code compiled with GCC (the functions carry
 * their own target("avx512f") pragma, which clang does not take) and run them only where
 * nn_have_avx512() says AVX-512F is there.
 *
 * vm_exp: e^x = 2^n * e^r with n = round(x / ln 2) and |r| <= ln 2 / 2 (ln 2 split in two
 * for an exact first reduction step); e^r by its degree-7 Taylor polynomial (truncation
 * below 2^-25), within 8e-8 relative.  The reduction is done on arguments clamped to
 * [-87, 88] so 2^n stays a normal float; below -87.5 the result is 0 (e^-87.5 is 1e-38, and
 * the denormal range is not worth a slower path), above 88.72 it is infinity.  NaN stays
 * NaN.
 *
 * vm_erf: erf is odd; |x| >= 4 gives +-1 (erfc(4) = 1.5e-8).  Below 4, |x| falls in one of
 * eight intervals of width 1/2, where erf is a degree-7 polynomial in the distance t from the
 * interval's centre.  The coefficients are Chebyshev interpolants of erf on each interval
 * (60 Chebyshev nodes, converted to powers of t, computed in double and rounded to float);
 * evaluated in float the result is within 7.3e-8 of erf (about one ulp of erf near 1).  A
 * lane picks its interval's coefficients with one permute per coefficient.  NaN stays NaN.
 */
#ifndef QLENS_VMATH_H
#define QLENS_VMATH_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "op.h"

#pragma GCC push_options
#pragma GCC target("avx512f")

/* e^c = 2^n p for c already clamped to [-87, 88]: n = round(c / ln 2) into *n, and p = e^r
 * by the Taylor polynomial at r = c - n ln 2 (ln 2 in two parts). */
static inline __m512 vm_exp_poly(__m512 c, __m512 *n_out)
{
	const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504f)),
					      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), c);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.0f / 5040.0f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	*n_out = n;
	return _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
}

static inline __m512 vm_exp(__m512 x)
{
	const __m512 c = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)),
				       _mm512_set1_ps(88.0f));
	__m512 n;
	const __m512 p = vm_exp_poly(c, &n);
	/* 2^n: n in [-126, 127] after the clamp */
	__m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)),
				      23);
	__m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
	y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.5f), _CMP_LT_OQ), y,
				 _mm512_setzero_ps());
	y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72f), _CMP_GT_OQ), y,
				 _mm512_set1_ps(INFINITY));
	/* NaN lanes: min/max turned them into a bound; give the NaN back */
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
}

/*
 * vm_exp for arguments <= 0 (or NaN), as Softmax's x - max are: the same bits as vm_exp
 * there, in 15 operations instead of 22.  No upper clamp or infinity; the lower clamp keeps
 * NaN (max_ps returns its second operand when one is NaN), which then runs through as NaN;
 * 2^n by scalef, which multiplies by exactly the power of two vm_exp builds (n >= -126).
 */
static inline __m512 vm_exp_nonpos(__m512 x)
{
	__m512 n;
	const __m512 p = vm_exp_poly(_mm512_max_ps(_mm512_set1_ps(-87.0f), x), &n);
	__m512 y = _mm512_scalef_ps(p, n);
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.5f), _CMP_LT_OQ), y,
				    _mm512_setzero_ps());
}

static inline __m512 vm_erf(__m512 x)
{
	/* [j][i]: coefficient of t^j on interval i = [i/2, i/2 + 1/2), t = |x| - (i/2 + 1/4) */
	static const float coef[8][16] __attribute__((aligned(64))) = {
		{ 2.763263890e-01f, 7.111556334e-01f, 9.229001289e-01f, 9.866716711e-01f,
		  9.985372833e-01f, 9.998993781e-01f, 9.999956972e-01f, 9.999998863e-01f },
		{ 1.060014128e+00f, 6.429310713e-01f, 2.365211220e-01f, 5.277499545e-02f,
		  7.142319215e-03f, 5.862772866e-04f, 2.918901172e-05f, 8.814288512e-07f },
		{ -2.650029553e-01f, -4.821981600e-01f, -2.956517445e-01f, -9.235620183e-02f,
		  -1.607015690e-02f, -1.612267421e-03f, -9.486933320e-05f, -3.306070941e-06f },
		{ -3.091704952e-01f, 2.678835053e-02f, 1.675358903e-01f, 9.015738693e-02f,
		  2.172451249e-02f, 2.760380299e-03f, 1.958126299e-04f, 7.970327773e-06f },
		{ 1.269345625e-01f, 1.506756288e-01f, -6.132034983e-03f, -4.810552455e-02f,
		  -1.908825631e-02f, -3.257710447e-03f, -2.861694293e-04f, -1.378540899e-05f },
		{ 8.003626587e-02f, -5.321708911e-02f, -4.718655397e-02f, 6.618473110e-03f,
		  1.066005949e-02f, 2.756290990e-03f, 3.136288463e-04f, 1.833006070e-05f },
		{ -3.934079511e-02f, -2.658282999e-02f, 2.059773655e-02f, 9.049494660e-03f,
		  -2.779565173e-03f, -1.667850585e-03f, -2.737584380e-04f, -2.069242326e-05f },
		{ -1.580337046e-02f, 1.788549521e-02f, 3.745110580e-03f, -5.933099313e-03f,
		  -7.215270181e-04f, 6.358154272e-04f, 1.735965577e-04f, 1.714470697e-05f },
	};
	/* (float bit operations as integer ones: and/or on floats need AVX-512DQ) */
	const __m512i sign = _mm512_set1_epi32((int32_t)0x80000000u), xi = _mm512_castps_si512(x);
	const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, xi));
	/* interval index, 0..7 (NaN and |x| >= 4 are fixed up below) */
	__m512 fi = _mm512_min_ps(_mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(2.0f)),
						       _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC),
				  _mm512_set1_ps(7.0f));
	__m512i idx = _mm512_cvttps_epi32(fi);
	__m512 t = _mm512_sub_ps(a, _mm512_fmadd_ps(fi, _mm512_set1_ps(0.5f),
						    _mm512_set1_ps(0.25f)));
	__m512 p = _mm512_permutexvar_ps(idx, _mm512_load_ps(coef[7]));
	for (int j = 6; j >= 0; j--)
		p = _mm512_fmadd_ps(p, t, _mm512_permutexvar_ps(idx, _mm512_load_ps(coef[j])));
	p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(4.0f), _CMP_GE_OQ), p,
				 _mm512_set1_ps(1.0f));
	/* erf(-x) = -erf(x) */
	__m512 y = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(p),
						       _mm512_and_si512(sign, xi)));
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
}

/* The erf form of GELU in the order torch exports it: (x * (erf(x / c) + 1)) * 0.5, c = the
 * model's sqrt(2) constant. */
static inline __m512 vm_gelu(__m512 x, float c)
{
	__m512 e = vm_erf(_mm512_div_ps(x, _mm512_set1_ps(c)));
	return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f))),
			     _mm512_set1_ps(0.5f));
}

/* A fused epilogue's activation (op.h) with the same results as the separate ops. */
static inline __attribute__((always_inline)) __m512 vm_act(__m512 a, const struct step_epilogue *epi)
{
	switch (epi->act) {
	case EPI_RELU:
		/* max returns its second operand for NaN: Relu(NaN) = 0 like the Relu op */
		return _mm512_max_ps(a, _mm512_setzero_ps());
	case EPI_CLIP:
		/* lo > a ? lo : a, then hi < a ? hi : a; NaN passes through */
		a = _mm512_max_ps(_mm512_set1_ps(epi->lo), a);
		return _mm512_min_ps(_mm512_set1_ps(epi->hi), a);
	case EPI_LEAKY_RELU: {
		__mmask16 neg = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_LT_OQ);
		return _mm512_mask_mul_ps(a, neg, a, _mm512_set1_ps(epi->alpha));
	}
	case EPI_GELU:
		return vm_gelu(a, epi->alpha);
	case EPI_NONE:
	default:
		return a;
	}
}

#pragma GCC pop_options

#endif
