/*
 * conv_direct.c - convolution computed straight from the input planes (AVX-512).
 *
 * Why: the GEMM path (conv.c) first copies every kernel tap's view of the input into an
 * im2col matrix and, on small feature maps, copies the product back to NCHW; for the small
 * CNNs qlens targets those copies cost a quarter of the convolution, OpenBLAS' Haswell kernel
 * (the one this machine class is pinned to) uses half of an AVX-512 core, and the depthwise
 * loop in conv.c runs one short row at a time.
 *
 * The flat view.  A channel plane read as one flat row makes every kernel tap a constant
 * shift: output position q = oh * pw + ow reads input position q + (tap row) * pw + (tap
 * column).  The output of one channel is then a sum over (input channel, tap) of shifted flat
 * planes, which vectorises along q with plain unaligned loads.  Where the output rows are
 * narrower than pw, the flat view also computes pw - ow junk columns per row, which the
 * epilogue drops (2 of 16 on a 14x14 map with "same" padding).  The planes are either
 *  - the input itself (stride 1, no padding, e.g. 1x1 convolutions: nothing is copied), or
 *  - depthwise: the input itself even with padding; every load is masked by a per-(tap,
 *    vector) table that zeroes the lanes falling into the padding or wrapping around a row, or
 *  - otherwise zero-padded copies made per sample (split_planes); a strided convolution is
 *    split by stride phase (padded position (r, c) goes to phase (r % sh, c % sw)), after
 *    which it is a stride-1 convolution over the phase planes.
 *
 * General kernel.  A tile is 4 output channels x v vectors of 16 positions held in registers;
 * for each (input channel, tap) it loads v input vectors and broadcasts 4 weights.  The
 * vectors of consecutive samples form one sequence, so a 7x7 map (4 vectors) still fills the
 * tiles.  Loop order per group: vectors outer, channel blocks inner, so one stretch of input
 * stays in L1 while every block of weights streams over it.  Weights are packed into
 * [group][block][channel][tap][4] (at prepare time when constant, else per run, which keeps
 * weights substituted by simulation hooks working).
 *
 * Depthwise kernels.  Each output channel reads one input plane, so there is no reuse across
 * channels: a tile is as many vectors as give 8 independent accumulators.  Small maps with
 * 3x3 kernels, the MobileNet case, have their own loops that load each input row or vector
 * once and build the taps with lane permutes: "same" stride 1 on rows up to 16 row by row
 * (dw_rows, two channels per vector on rows up to 8), other stride-1 cases on the flat view
 * (dw_reg_plane), stride 2 on rows up to 32 (dw_s2).
 *
 * Every tile is finished in registers: the bias is where the sums start, the junk lanes are
 * squeezed out with a lane compress, the fused residual is added and the fused activation
 * applied (op.h, struct step_epilogue), and the result goes to NCHW with a masked store.
 */
#include "conv_direct.h"

#include <string.h>

#include "nn_util.h"

#if NN_X86 /* GCC pragmas below */
#include <immintrin.h>

#include "vmath.h"
#endif

/* Limits that keep the tables small and the flat offsets in int32. */
#define CDIR_MAX_TAPS 1024
#define CDIR_MAX_STRIDE 4
#define CDIR_MAX_INPUT ((int64_t)1 << 24) /* floats of one sample's planes */
/* Samples whose vectors the tiles run through together: as many as keep their input within
 * this many floats (so it stays in L2 while every block of weights passes over it). */
#define CDIR_PASS_FLOATS ((int64_t)64 << 10)
/* Floats after the split planes that junk lanes may read. */
#define CDIR_SLACK 64

bool cdir_supported(void) { return NN_X86 && nn_have_avx512(); }

/*
 * Tiles are 4 output channels x v vectors (v <= CDIR_VMAX).  Measured on Zen 5 (the machine
 * class qlens is tuned on): a broadcast weight costs about as much as an unaligned vector
 * load, so few channels and many vectors per tile keep loads from bounding the loop; 4 x 6 is
 * the largest tile whose accumulators, loaded vectors and broadcast fit the 32 registers
 * (4 x 7 spills), and 6 x 4 or 8 x 3 were no faster.  Below 20 accumulators FMA latency and
 * loop overhead dominate, so a short tile costs like a 20-accumulator one.
 */
#define CDIR_MR 4
#define CDIR_VMAX 6

static double tile_cost(int nv, int64_t k)
{
	int acc = CDIR_MR * nv;
	return (double)k * (acc > 20 ? acc : 20) + 6.0 * acc;
}

static void choose_tile(struct cdir *d)
{
	const int64_t total = d->nb * d->nvec; /* vectors the tiles run through */
	if (d->depthwise) {
		/* one weight per (channel, tap): no reuse across channels, so a tile is as many
		 * vectors as give 8 independent accumulators, taken from 1, 2, 4 or 8 channels */
		d->v = total >= 8 ? 8 : total >= 4 ? 4 : total >= 2 ? 2 : 1;
		d->mr = 8 / d->v;
		d->mblocks = (d->m + d->mr - 1) / d->mr;
		return;
	}
	const int64_t k = d->cg * d->ntap;
	double best = -1.0;
	d->mr = CDIR_MR;
	for (int v = 1; v <= CDIR_VMAX; v++) {
		double cost = 0.0;
		for (int64_t v0 = 0; v0 < total; v0 += v)
			cost += tile_cost(total - v0 < v ? (int)(total - v0) : v, k);
		if (best < 0.0 || cost < best) {
			best = cost;
			d->v = v;
		}
	}
	d->mblocks = (d->mg + d->mr - 1) / d->mr;
}

/* Depthwise 3x3 read in place whose taps are all within 16 positions of the output: each
 * tap's input vector is a lane shift of two neighbouring plane vectors (dw_reg_plane). */
static bool dw_reg_ok(const struct cdir *d)
{
	if (!d->depthwise || d->split || d->sh != 1 || d->sw != 1 || d->kh != 3 || d->kw != 3)
		return false;
	int64_t last = INT64_MIN;
	for (int64_t i = 0; i < 3; i++)
		for (int64_t j = 0; j < 3; j++) {
			int64_t o = (i * d->dh - d->pt) * d->w + (j * d->dw - d->pl);
			if (o < -16 || o > 16 || o < last) /* negative offsets must come first */
				return false;
			last = o;
		}
	return true;
}

bool cdir_setup(struct cdir *d, const struct nn_window *w3, int64_t n, int64_t c, int64_t m,
		int64_t group, size_t *table_bytes)
{
	memset(d, 0, sizeof *d);
	if (!cdir_supported())
		return false;
	if (w3->in[0] != 1 || w3->k[0] != 1 || w3->out[0] != 1 || w3->stride[1] > CDIR_MAX_STRIDE ||
	    w3->stride[2] > CDIR_MAX_STRIDE)
		return false;
	d->c = c;
	d->m = m;
	d->group = group;
	d->cg = c / group;
	d->mg = m / group;
	d->h = w3->in[1];
	d->w = w3->in[2];
	d->pt = w3->pad0[1];
	d->pl = w3->pad0[2];
	d->hp = d->h + d->pt + w3->pad1[1];
	d->wp = d->w + d->pl + w3->pad1[2];
	d->sh = w3->stride[1];
	d->sw = w3->stride[2];
	d->ph = (d->hp + d->sh - 1) / d->sh;
	d->pw = (d->wp + d->sw - 1) / d->sw;
	d->oh = w3->out[1];
	d->ow = w3->out[2];
	d->kh = w3->k[1];
	d->kw = w3->k[2];
	d->dh = w3->dil[1];
	d->dw = w3->dil[2];
	d->depthwise = d->cg == 1 && group > 1;
	/* depthwise 3x3 stride 2 on rows of up to 32 (outputs up to 16): dw_s2_run */
	d->dw_s2 = d->depthwise && d->sh == 2 && d->sw == 2 && d->kh == 3 && d->kw == 3 &&
		   d->dh == 1 && d->dw == 1 && d->w <= 32 && d->ow <= 16 && d->pl <= 2;
	/* Without stride and padding the input is read in place (rows of w).  Depthwise
	 * convolutions read it in place with padding too, masking the loads that fall into
	 * it: a copy would cost as much as their arithmetic.  Everything else first copies
	 * the sample into zero-padded planes, so the inner loops load without masks. */
	bool pad = d->hp != d->h || d->wp != d->w;
	d->split = !d->dw_s2 && (d->sh > 1 || d->sw > 1 || d->ow > d->w || (pad && !d->depthwise));
	if (!d->split) {
		d->ph = d->h;
		d->pw = d->w;
	}
	int64_t taps = d->kh * d->kw;
	d->plane = d->split ? d->sh * d->sw * d->ph * d->pw : d->h * d->w;
	int64_t copied = d->depthwise ? d->c : d->cg;
	if (taps > CDIR_MAX_TAPS || d->oh < 1 || d->ow < 1 ||
	    copied * d->plane > CDIR_MAX_INPUT || d->oh * d->pw > CDIR_MAX_INPUT ||
	    d->hp * d->wp > CDIR_MAX_INPUT)
		return false;
	/* the last output row and column must read inside the padded plane (true of every
	 * window nn_window_forward accepts; checked so the tables can rely on it) */
	if ((d->oh - 1) * d->sh + (d->kh - 1) * d->dh >= d->hp ||
	    (d->ow - 1) * d->sw + (d->kw - 1) * d->dw >= d->wp)
		return false;
	d->ntap = (int)taps;
	d->compact = d->pw == d->ow;
	d->qv = (d->oh - 1) * d->pw + d->ow;
	d->nvec = (d->qv + 15) / 16;
	if (d->nvec * taps > CDIR_MAX_INPUT)
		return false;
	d->dw_reg = dw_reg_ok(d);
	/* depthwise 3x3 "same" (stride 1, pads 1), one input channel per output, rows of up to
	 * 16: dw_rows_run */
	d->dw_rows = d->depthwise && d->mg == 1 && d->sh == 1 && d->sw == 1 && d->kh == 3 &&
		     d->kw == 3 && d->dh == 1 && d->dw == 1 && d->pt == 1 && d->pl == 1 &&
		     d->oh == d->h && d->ow == d->w && d->w <= 16;
	int64_t per = copied * (d->split ? d->plane : d->h * d->w);
	d->nb = per > 0 ? CDIR_PASS_FLOATS / per : 1;
	d->nb = d->nb < 1 ? 1 : d->nb > n ? (n > 0 ? n : 1) : d->nb;
	choose_tile(d);
	*table_bytes = nn_align((size_t)d->ntap * sizeof(int32_t)) +
		       nn_align((size_t)d->nvec * sizeof(int32_t)) +
		       nn_align((size_t)d->nvec * sizeof(uint16_t)) +
		       nn_align((size_t)(d->nvec * taps) * sizeof(uint16_t));
	return true;
}

void cdir_tables(struct cdir *d, void *mem)
{
	unsigned char *p = mem;
	d->off = (int32_t *)p;
	p += nn_align((size_t)d->ntap * sizeof(int32_t));
	d->dst = (int32_t *)p;
	p += nn_align((size_t)d->nvec * sizeof(int32_t));
	d->valid = (uint16_t *)p;
	p += nn_align((size_t)d->nvec * sizeof(uint16_t));
	d->mask = (uint16_t *)p;
	for (int64_t v = 0; v < d->nvec; v++) {
		int64_t q0 = 16 * v, r = q0 % d->pw;
		unsigned mask = 0;
		for (int k = 0; k < 16; k++) {
			int64_t q = q0 + k;
			if (q < d->qv && q % d->pw < d->ow)
				mask |= 1u << k;
		}
		d->valid[v] = (uint16_t)mask;
		d->dst[v] = (int32_t)(q0 / d->pw * d->ow + (r < d->ow ? r : d->ow));
	}
	if (d->split) {
		/* tap (i, j) reads padded row oh * sh + i * dh: phase row (i * dh) % sh, (i * dh) /
		 * sh rows down from oh in that phase plane; the same along the width.  Every
		 * position below qv reads inside the planes: only the last vector is cut. */
		const int64_t phase = d->ph * d->pw;
		for (int64_t i = 0; i < d->kh; i++)
			for (int64_t j = 0; j < d->kw; j++) {
				int64_t y = i * d->dh, x = j * d->dw;
				int64_t t = i * d->kw + j, a = y % d->sh, b = x % d->sw;
				d->off[t] = (int32_t)((a * d->sw + b) * phase + (y / d->sh) * d->pw +
						      x / d->sw);
				for (int64_t v = 0; v < d->nvec; v++)
					d->mask[t * d->nvec + v] = v + 1 < d->nvec ? 0xFFFF :
						(uint16_t)((1u << (d->qv - 16 * v)) - 1u);
			}
		return;
	}
	/* in place: tap (i, j) of output (oh, ow) reads input row oh + i * dh - pt, column
	 * ow + j * dw - pl, a fixed shift of the flat position; lanes whose row or column
	 * falls in the padding (or that are junk) are masked off and read as zero */
	for (int64_t i = 0; i < d->kh; i++)
		for (int64_t j = 0; j < d->kw; j++) {
			int64_t t = i * d->kw + j, dy = i * d->dh - d->pt, dx = j * d->dw - d->pl;
			d->off[t] = (int32_t)(dy * d->w + dx);
			for (int64_t v = 0; v < d->nvec; v++) {
				unsigned mask = 0;
				for (int k = 0; k < 16; k++) {
					int64_t q = 16 * v + k, oh = q / d->w, ow = q % d->w;
					int64_t iy = oh + dy, ix = ow + dx;
					if (q < d->qv && ow < d->ow && iy >= 0 && iy < d->h && ix >= 0 &&
					    ix < d->w)
						mask |= 1u << k;
				}
				d->mask[t * d->nvec + v] = (uint16_t)mask;
			}
		}
}

/* Floats of packed weights and of packed bias. */
static void packed_sizes(const struct cdir *d, size_t *wf, size_t *bf)
{
	size_t blocks = (size_t)(d->depthwise ? d->mblocks : d->group * d->mblocks) * (size_t)d->mr;
	*wf = blocks * (size_t)(d->depthwise ? 1 : d->cg) * (size_t)d->ntap;
	*bf = blocks;
}

size_t cdir_scratch_bytes(struct cdir *d)
{
	size_t wpk, blocks;
	packed_sizes(d, &wpk, &blocks);
	size_t in = d->split ? (size_t)(d->nb * (d->depthwise ? d->c : d->cg) * d->plane) +
				       CDIR_SLACK : 0;
	size_t row = d->split && d->sw > 1 ? (size_t)(d->sw * d->pw + 64) : 0;
	d->wpk_off = 0;
	d->bias_off = nn_align(wpk * sizeof(float));
	d->in_off = d->bias_off + nn_align(blocks * sizeof(float));
	d->row_off = d->in_off + nn_align(in * sizeof(float));
	return d->row_off + row * sizeof(float);
}

/* Pack for the tiles.  General kernel: weights [group][block][cg][ntap][mr], bias
 * [group][block][mr]; depthwise: weights [block][mr][ntap], bias [block][mr].  Missing channels
 * get zeros. */
static void pack_weights(const struct cdir *d, const float *w, const float *bias, float *wpk,
			 float *bpk)
{
	const int mr = d->mr, ntap = d->ntap;
	if (d->depthwise) {
		for (int64_t mm = 0; mm < d->mblocks * mr; mm++) {
			bool real = mm < d->m;
			bpk[mm] = real && bias ? bias[mm] : 0.0f;
			for (int k = 0; k < ntap; k++)
				wpk[mm * ntap + k] = real ? w[mm * ntap + k] : 0.0f;
		}
		return;
	}
	for (int64_t g = 0; g < d->group; g++)
		for (int64_t mb = 0; mb < d->mblocks; mb++) {
			float *blk = wpk + (g * d->mblocks + mb) * mr * d->cg * ntap;
			float *bb = bpk + (g * d->mblocks + mb) * mr;
			for (int i = 0; i < mr; i++) {
				int64_t mm = mb * mr + i;
				bb[i] = mm < d->mg && bias ? bias[g * d->mg + mm] : 0.0f;
			}
			for (int64_t c = 0; c < d->cg; c++)
				for (int k = 0; k < ntap; k++)
					for (int i = 0; i < mr; i++) {
						int64_t mm = mb * mr + i;
						*blk++ = mm < d->mg ?
							 w[((g * d->mg + mm) * d->cg + c) * ntap + k] :
							 0.0f;
					}
		}
}

size_t cdir_packed_floats(const struct cdir *d)
{
	size_t wf, bf;
	packed_sizes(d, &wf, &bf);
	return nn_align(wf * sizeof(float)) / sizeof(float) + bf;
}

void cdir_pack(struct cdir *d, const float *w, const float *bias, float *dst)
{
	size_t wf, bf;
	packed_sizes(d, &wf, &bf);
	pack_weights(d, w, bias, dst, dst + nn_align(wf * sizeof(float)) / sizeof(float));
	d->pre = dst;
	d->pre_w = w;
	d->pre_b = bias;
}

#if NN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")

struct tile_args {
	/* per vector of the tile (vectors may belong to different samples) */
	const float *x[8];	 /* input at the vector's first position, channel 0 */
	int64_t yo[8];		 /* output offset of its first real pixel, channel 0 */
	uint16_t valid[8];	 /* lanes holding real pixels */
	const uint16_t *mask[8]; /* depthwise: its load masks, one per tap (stride nvec) */
	__mmask16 lm[8];	 /* general, masked variant: per vector, the lanes it may load */
	int64_t plane;		 /* floats between input channels */
	int64_t cg;		 /* general: input channels of the group */
	int64_t mg, m0;		 /* depthwise: outputs per input channel, first output */
	int64_t nvec;
	const int32_t *off;
	int ntap;
	const float *w;		 /* packed weights of the block */
	const float *b;		 /* packed bias of the block: [mr] */
	float *y;		 /* output of the block's first channel */
	const float *res;	 /* residual at the same place, or NULL */
	int64_t osp;		 /* output plane, floats */
	int rows;		 /* real channels in the block */
	bool compact;
	const struct step_epilogue *epi;
};

/* Lanes [0, n) of a 16-lane mask, n clamped to 0..16. */
static inline __mmask16 lanes(int64_t n)
{
	return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* What a tile's stores need, copied out of the tile arguments: the stores go through
 * may-alias pointers, after which the compiler would reload every field from memory. */
struct tile_out {
	float *y;
	const float *res;
	int64_t osp;
	int64_t yo[8];
	__mmask16 valid[8];
	bool compact;
	struct step_epilogue epi;
};

static inline __attribute__((always_inline)) void tile_out_init(struct tile_out *o,
								 const struct tile_args *t, int v)
{
	o->y = t->y;
	o->res = t->res;
	o->osp = t->osp;
	o->compact = t->compact;
	o->epi = *t->epi;
	for (int j = 0; j < v; j++) {
		o->yo[j] = t->yo[j];
		o->valid[j] = t->valid[j];
	}
}

/* Finish vector j of output row i: drop the junk lanes, add the residual, activate, store. */
static inline __attribute__((always_inline)) void store_vec(__m512 a, const struct tile_out *o,
							    int i, int j)
{
	__mmask16 cm = o->valid[j];
	if (!o->compact) {
		a = _mm512_maskz_compress_ps(cm, a);
		cm = (__mmask16)((1u << __builtin_popcount(cm)) - 1u);
	}
	int64_t at = i * o->osp + o->yo[j];
	if (o->res)
		a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(cm, o->res + at));
	a = vm_act(a, &o->epi);
	_mm512_mask_storeu_ps(o->y + at, cm, a);
}

/* General tile: MR output channels x V vectors; weights packed [cg][ntap][MR].  MASK: the
 * tile reads in place near the end of the input, so vectors load only lm[j] (the lanes of
 * real positions): 1, the last vector only; 2, every vector.  PW: a 1x1 kernel (one tap,
 * offset 0), whose loop over taps disappears. */
static inline __attribute__((always_inline)) void tile_body(const struct tile_args *t,
							    const int MR, const int V,
							    const int MASK, const bool PW)
{
	__m512 acc[CDIR_MR][CDIR_VMAX];
	const float *xj[CDIR_VMAX];
#pragma GCC unroll 6
	for (int j = 0; j < V; j++)
		xj[j] = t->x[j];
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++) {
		__m512 bv = _mm512_set1_ps(t->b[i]);
#pragma GCC unroll 6
		for (int j = 0; j < V; j++)
			acc[i][j] = bv;
	}
	const float *w = t->w;
	const int32_t *off = t->off;
	const int ntap = PW ? 1 : t->ntap;
	__mmask16 lm[CDIR_VMAX];
#pragma GCC unroll 6
	for (int j = 0; j < V; j++)
		lm[j] = MASK ? t->lm[j] : (__mmask16)0xFFFF;
	for (int64_t c = 0; c < t->cg; c++) {
		const int64_t co = c * t->plane;
		for (int k = 0; k < ntap; k++, w += MR) {
			const int64_t o = PW ? co : co + off[k];
			__m512 xv[CDIR_VMAX];
#pragma GCC unroll 6
			for (int j = 0; j < V; j++)
				xv[j] = MASK == 2 || (MASK == 1 && j == V - 1) ?
						_mm512_maskz_loadu_ps(lm[j], xj[j] + o) :
						_mm512_loadu_ps(xj[j] + o);
#pragma GCC unroll 8
			for (int i = 0; i < MR; i++) {
				__m512 wv = _mm512_set1_ps(w[i]);
#pragma GCC unroll 6
				for (int j = 0; j < V; j++)
					acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
			}
		}
	}
	struct tile_out out;
	tile_out_init(&out, t, V);
	const int rows = t->rows;
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++) {
		if (i >= rows)
			break;
#pragma GCC unroll 6
		for (int j = 0; j < V; j++)
			store_vec(acc[i][j], &out, i, j);
	}
}

/* Depthwise tile: CH output channels x V vectors, each channel reading its own input plane;
 * weights packed [channel][ntap]; every load masked (the masks hold the padding). */
static inline __attribute__((always_inline)) void dw_body(const struct tile_args *t,
							  const int CH, const int V)
{
	__m512 acc[8][8];
	int64_t co[8];
#pragma GCC unroll 8
	for (int i = 0; i < CH; i++) {
		/* channels past the last real one read the last real one's plane; not stored */
		int64_t m = t->m0 + (i < t->rows ? i : t->rows - 1);
		co[i] = m / t->mg * t->plane;
		__m512 bv = _mm512_set1_ps(t->b[i]);
#pragma GCC unroll 8
		for (int j = 0; j < V; j++)
			acc[i][j] = bv;
	}
	const int ntap = t->ntap;
	const int64_t nvec = t->nvec;
	for (int k = 0; k < ntap; k++) {
		const int64_t o = t->off[k];
		__mmask16 m[8];
#pragma GCC unroll 8
		for (int j = 0; j < V; j++)
			m[j] = t->mask[j][k * nvec];
#pragma GCC unroll 8
		for (int i = 0; i < CH; i++) {
			__m512 wv = _mm512_set1_ps(t->w[i * ntap + k]);
#pragma GCC unroll 8
			for (int j = 0; j < V; j++)
				acc[i][j] = _mm512_fmadd_ps(
					wv, _mm512_maskz_loadu_ps(m[j], t->x[j] + co[i] + o), acc[i][j]);
		}
	}
	struct tile_out out;
	tile_out_init(&out, t, V);
	const int rows = t->rows;
#pragma GCC unroll 8
	for (int i = 0; i < CH; i++) {
		if (i >= rows)
			break;
#pragma GCC unroll 8
		for (int j = 0; j < V; j++)
			store_vec(acc[i][j], &out, i, j);
	}
}

/*
 * Depthwise 3x3 on a small map: CH (sample, channel) planes at once.  A plane is read once,
 * vector by vector, and every tap's input is built from the previous, current and next plane
 * vectors by a two-source lane permute (offsets within +-16 positions) that also zeroes the
 * lanes falling into the padding or wrapping around a row - what the masked loads of dw_body
 * do with nine loads per vector, this does with one.  Planes share the permute indices and
 * the per-tap masks, which is why several go together.  xp / yp / rp: input, output and
 * residual (or NULL) planes; wk: each plane's 9 weights; NNEG: taps with a negative offset
 * (they come first).
 */
static inline __attribute__((always_inline)) void
dw_reg_plane(const struct cdir *d, const float *const *xp, const float *const *wk,
	     const float *bias, float *const *yp, const float *const *rp, const __m512i *idx,
	     const struct step_epilogue *epi, const int NNEG, const int CH)
{
	const int64_t nvec = d->nvec, isp = d->h * d->w;
	const __m512 z = _mm512_setzero_ps();
	__m512 prev[2], cur[2];
#pragma GCC unroll 2
	for (int c = 0; c < CH; c++) {
		prev[c] = z;
		cur[c] = _mm512_maskz_loadu_ps(lanes(isp), xp[c]);
	}
	for (int64_t j = 0; j < nvec; j++) {
		const int64_t at = 16 * (j + 1);
		const uint16_t *mk = d->mask + j;
		__m512 next[2], a0[2], a1[2];
#pragma GCC unroll 2
		for (int c = 0; c < CH; c++) {
			next[c] = at + 16 <= isp ? _mm512_loadu_ps(xp[c] + at) :
				  at < isp	 ? _mm512_maskz_loadu_ps(lanes(isp - at), xp[c] + at) :
						   z;
			a0[c] = _mm512_set1_ps(bias[c]);
			a1[c] = z;
		}
#pragma GCC unroll 9
		for (int k = 0; k < 9; k++) {
			const __mmask16 m = mk[k * nvec];
#pragma GCC unroll 2
			for (int c = 0; c < CH; c++) {
				__m512 src = k < NNEG ?
					_mm512_maskz_permutex2var_ps(m, prev[c], idx[k], cur[c]) :
					_mm512_maskz_permutex2var_ps(m, cur[c], idx[k], next[c]);
				/* the weight as an FMA memory operand; two chains halve the FMA
				 * latency a vector waits for */
				if (k & 1)
					a1[c] = _mm512_fmadd_ps(_mm512_set1_ps(wk[c][k]), src, a1[c]);
				else
					a0[c] = _mm512_fmadd_ps(_mm512_set1_ps(wk[c][k]), src, a0[c]);
			}
		}
		__mmask16 cm = d->valid[j];
		const int32_t at_y = d->dst[j];
		if (!d->compact)
			cm = (__mmask16)((1u << __builtin_popcount(cm)) - 1u);
#pragma GCC unroll 2
		for (int c = 0; c < CH; c++) {
			__m512 a = _mm512_add_ps(a0[c], a1[c]);
			if (!d->compact)
				a = _mm512_maskz_compress_ps(d->valid[j], a);
			if (rp[c])
				a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(cm, rp[c] + at_y));
			_mm512_mask_storeu_ps(yp[c] + at_y, cm, vm_act(a, epi));
			prev[c] = cur[c];
			cur[c] = next[c];
		}
	}
}

/* All planes, two at a time. */
static inline __attribute__((always_inline)) void
dw_reg_planes(const struct cdir *d, int64_t n, const float *x, const float *wpk, const float *bpk,
	      const float *res, float *y, const __m512i *idx, const struct step_epilogue *epi,
	      const int NNEG)
{
	const int64_t isp = d->h * d->w, osp = d->oh * d->ow;
	for (int64_t s = 0; s < n; s++)
		for (int64_t m = 0; m < d->m; m += 2) {
			const float *xp[2], *wk[2], *rp[2];
			float *yp[2];
			int ch = d->m - m >= 2 ? 2 : 1;
			for (int c = 0; c < ch; c++) {
				int64_t o = (s * d->m + m + c) * osp;
				xp[c] = x + (s * d->c + (m + c) / d->mg) * isp;
				wk[c] = wpk + (m + c) * 9;
				yp[c] = y + o;
				rp[c] = res ? res + o : NULL;
			}
			if (ch == 2)
				dw_reg_plane(d, xp, wk, bpk + m, yp, rp, idx, epi, NNEG, 2);
			else
				dw_reg_plane(d, xp, wk, bpk + m, yp, rp, idx, epi, NNEG, 1);
		}
}

#define CDIR_DWREG(N)                                                                             \
	static void dw_reg_##N(const struct cdir *d, int64_t n, const float *x, const float *wpk, \
			       const float *bpk, const float *res, float *y, const __m512i *idx,  \
			       const struct step_epilogue *epi)                                   \
	{                                                                                         \
		dw_reg_planes(d, n, x, wpk, bpk, res, y, idx, epi, N);                            \
	}
CDIR_DWREG(0) CDIR_DWREG(1) CDIR_DWREG(2) CDIR_DWREG(3) CDIR_DWREG(4) CDIR_DWREG(5)
CDIR_DWREG(6) CDIR_DWREG(7) CDIR_DWREG(8) CDIR_DWREG(9)
#undef CDIR_DWREG

static void dw_reg_run(const struct cdir *d, int64_t n, const float *x, const float *wpk,
		       const float *bpk, const float *res, float *y, const struct step_epilogue *epi)
{
	typedef void (*fn)(const struct cdir *, int64_t, const float *, const float *,
			   const float *, const float *, float *, const __m512i *,
			   const struct step_epilogue *);
	static const fn by_neg[10] = { dw_reg_0, dw_reg_1, dw_reg_2, dw_reg_3, dw_reg_4,
				       dw_reg_5, dw_reg_6, dw_reg_7, dw_reg_8, dw_reg_9 };
	__m512i idx[9];
	int nneg = 0;
	for (int k = 0; k < 9; k++) {
		int32_t ix[16];
		bool neg = d->off[k] < 0;
		nneg += neg;
		for (int l = 0; l < 16; l++) /* source lane in (prev:cur) or (cur:next) */
			ix[l] = (int32_t)(l + d->off[k] + (neg ? 16 : 0));
		idx[k] = _mm512_loadu_si512(ix);
	}
	by_neg[nneg](d, n, x, wpk, bpk, res, y, idx, epi);
}

/*
 * Depthwise 3x3, stride 2, rows of up to 32: one output row (up to 16 values) per vector.
 * Each input row the row reads is loaded once (two masked loads) and its three taps picked
 * by a two-source permute with indices 2 ow + kw - pl, masked where that falls into the
 * padding.  No copy of the input, at the price of lanes past the output width.
 */
static void dw_s2_run(const struct cdir *d, int64_t n, const float *x, const float *wpk,
		      const float *bpk, const float *res, float *y, const struct step_epilogue *epi)
{
	__m512i idx[3];
	__mmask16 km[3];
	for (int kw = 0; kw < 3; kw++) {
		int32_t ix[16];
		unsigned m = 0;
		for (int l = 0; l < 16; l++) {
			int64_t col = 2 * l + kw - d->pl;
			ix[l] = (int32_t)(col >= 0 && col < 32 ? col : 0);
			if (l < d->ow && col >= 0 && col < d->w)
				m |= 1u << l;
		}
		idx[kw] = _mm512_loadu_si512(ix);
		km[kw] = (__mmask16)m;
	}
	const __mmask16 lo_m = lanes(d->w), hi_m = lanes(d->w - 16), out_m = lanes(d->ow);
	const int64_t isp = d->h * d->w, osp = d->oh * d->ow;
	for (int64_t s = 0; s < n; s++)
		for (int64_t m = 0; m < d->m; m++) {
			const float *xp = x + (s * d->c + m / d->mg) * isp, *wk = wpk + m * 9;
			const int64_t o = (s * d->m + m) * osp;
			const __m512 bias = _mm512_set1_ps(bpk[m]);
			for (int64_t oh = 0; oh < d->oh; oh++) {
				__m512 a0 = bias, a1 = _mm512_setzero_ps();
				for (int kh = 0; kh < 3; kh++) {
					int64_t ih = 2 * oh + kh - d->pt;
					if (ih < 0 || ih >= d->h)
						continue;
					const float *row = xp + ih * d->w;
					__m512 lo = _mm512_maskz_loadu_ps(lo_m, row);
					__m512 hi = d->w > 16 ? _mm512_maskz_loadu_ps(hi_m, row + 16) :
								_mm512_setzero_ps();
#pragma GCC unroll 3
					for (int kw = 0; kw < 3; kw++) {
						__m512 v = _mm512_maskz_permutex2var_ps(km[kw], lo, idx[kw],
											hi);
						__m512 w = _mm512_set1_ps(wk[kh * 3 + kw]);
						if (kw & 1)
							a1 = _mm512_fmadd_ps(w, v, a1);
						else
							a0 = _mm512_fmadd_ps(w, v, a0);
					}
				}
				__m512 a = _mm512_add_ps(a0, a1);
				if (res)
					a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(out_m,
										   res + o + oh * d->ow));
				_mm512_mask_storeu_ps(y + o + oh * d->ow, out_m, vm_act(a, epi));
			}
		}
}

/*
 * Depthwise 3x3 "same" on rows of up to 16 (dw_rows): a vector is one row of one channel - or,
 * on rows of up to 8, one row of each of two channels, in lanes 0-7 and 8-15.  Within a
 * vector, columns never wrap into another row, so a tap's column shift is one permute with a
 * fixed mask (the column it brings in from outside the row is zero padding).  Each input row
 * is loaded once and shifted twice; the three rows around an output row stay in registers
 * while the output rows advance.  That is one load and two permutes per 9 FMAs, where the
 * flat view (dw_reg_plane) needs nine permutes and nine masks.
 */
static inline __attribute__((always_inline)) void
dw_rows_planes(const struct cdir *d, int64_t n, const float *x, const float *wpk, const float *bpk,
	       const float *res, float *y, const struct step_epilogue *epi, const bool PAIR)
{
	const int64_t w = d->w, h = d->h, pl = d->h * d->w;
	/* lanes of a row: one slot of w columns, or two slots of 8 lanes */
	__mmask16 row_m = lanes(w);
	if (PAIR)
		row_m = (__mmask16)(row_m | (row_m << 8));
	int32_t il[16], ir[16];
	unsigned lm = 0, rm = 0;
	for (int l = 0; l < 16; l++) {
		int col = PAIR ? l & 7 : l, base = l - col;
		il[l] = col >= 1 ? l - 1 : base; /* kw = 0 reads column col - 1 */
		ir[l] = col + 1 < w ? l + 1 : base; /* kw = 2 reads column col + 1 */
		if (((row_m >> l) & 1) && col >= 1)
			lm |= 1u << l;
		if (((row_m >> l) & 1) && col + 1 < w)
			rm |= 1u << l;
	}
	const __m512i idx_l = _mm512_loadu_si512(il), idx_r = _mm512_loadu_si512(ir);
	const __mmask16 ml = (__mmask16)lm, mr = (__mmask16)rm, in_m = lanes(w);
	const int cpv = PAIR ? 2 : 1;
	const __m512 z = _mm512_setzero_ps();
	for (int64_t s = 0; s < n; s++)
		for (int64_t m = 0; m < d->m; m += cpv) {
			const bool two = PAIR && m + 1 < d->m;
			const float *xa = x + (s * d->c + m) * pl, *xb = two ? xa + pl : xa;
			float *ya = y + (s * d->m + m) * pl, *yb = ya + pl;
			const float *ra = res ? res + (s * d->m + m) * pl : NULL, *rb = ra ? ra + pl : NULL;
			/* weights and bias with each slot holding its channel's */
			__m512 wv[9], bias;
			{
				const float *wa = wpk + m * 9, *wb = two ? wa + 9 : wa;
				const __mmask16 hi = (__mmask16)0xFF00;
				for (int k = 0; k < 9; k++)
					wv[k] = PAIR ? _mm512_mask_blend_ps(hi, _mm512_set1_ps(wa[k]),
									    _mm512_set1_ps(wb[k])) :
						       _mm512_set1_ps(wa[k]);
				bias = PAIR ? _mm512_mask_blend_ps(hi, _mm512_set1_ps(bpk[m]),
								   _mm512_set1_ps(bpk[two ? m + 1 : m])) :
					      _mm512_set1_ps(bpk[m]);
			}
			/* input row r as (shifted for kw = 0, centre, shifted for kw = 2) */
			__m512 r0[3], r1[3], r2[3];
#define DW_ROW(dst, ih)                                                                           \
	do {                                                                                      \
		__m512 c_ = z;                                                                    \
		if ((ih) >= 0 && (ih) < h) {                                                      \
			c_ = _mm512_maskz_loadu_ps(in_m, xa + (ih) * w);                          \
			if (PAIR)                                                                 \
				c_ = _mm512_shuffle_f32x4(                                        \
					c_, _mm512_maskz_loadu_ps(in_m, xb + (ih) * w), 0x44);    \
		}                                                                                 \
		(dst)[0] = _mm512_maskz_permutexvar_ps(ml, idx_l, c_);                           \
		(dst)[1] = c_;                                                                    \
		(dst)[2] = _mm512_maskz_permutexvar_ps(mr, idx_r, c_);                           \
	} while (0)
			DW_ROW(r0, (int64_t)-1);
			DW_ROW(r1, (int64_t)0);
			for (int64_t oh = 0; oh < h; oh++) {
				DW_ROW(r2, oh + 1);
				__m512 a0 = bias, a1 = z, a2 = z;
#pragma GCC unroll 3
				for (int kw = 0; kw < 3; kw++) {
					a0 = _mm512_fmadd_ps(wv[kw], r0[kw], a0);
					a1 = _mm512_fmadd_ps(wv[3 + kw], r1[kw], a1);
					a2 = _mm512_fmadd_ps(wv[6 + kw], r2[kw], a2);
				}
				__m512 a = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
				if (ra) {
					__m512 rv = _mm512_maskz_loadu_ps(in_m, ra + oh * w);
					if (PAIR)
						rv = _mm512_shuffle_f32x4(
							rv, _mm512_maskz_loadu_ps(in_m, rb + oh * w), 0x44);
					a = _mm512_add_ps(a, rv);
				}
				a = vm_act(a, epi);
				_mm512_mask_storeu_ps(ya + oh * w, in_m, a);
				if (two)
					_mm512_mask_storeu_ps(yb + oh * w, in_m,
							      _mm512_shuffle_f32x4(a, a, 0xEE));
#pragma GCC unroll 3
				for (int k = 0; k < 3; k++) {
					r0[k] = r1[k];
					r1[k] = r2[k];
				}
			}
#undef DW_ROW
		}
}

static void dw_rows_run(const struct cdir *d, int64_t n, const float *x, const float *wpk,
			const float *bpk, const float *res, float *y, const struct step_epilogue *epi)
{
	if (d->w <= 8)
		dw_rows_planes(d, n, x, wpk, bpk, res, y, epi, true);
	else
		dw_rows_planes(d, n, x, wpk, bpk, res, y, epi, false);
}

typedef void (*tile_fn)(const struct tile_args *t);

#define CDIR_TILE(MR, V)                                                                          \
	static void tile_##MR##x##V(const struct tile_args *t) { tile_body(t, MR, V, 0, false); }   \
	static void tile_##MR##x##V##l(const struct tile_args *t) { tile_body(t, MR, V, 1, false); } \
	static void tile_##MR##x##V##m(const struct tile_args *t) { tile_body(t, MR, V, 2, false); } \
	static void tile_##MR##x##V##p(const struct tile_args *t) { tile_body(t, MR, V, 0, true); }  \
	static void tile_##MR##x##V##pl(const struct tile_args *t) { tile_body(t, MR, V, 1, true); } \
	static void tile_##MR##x##V##pm(const struct tile_args *t) { tile_body(t, MR, V, 2, true); }
CDIR_TILE(4, 1) CDIR_TILE(4, 2) CDIR_TILE(4, 3) CDIR_TILE(4, 4) CDIR_TILE(4, 5) CDIR_TILE(4, 6)
#undef CDIR_TILE
#define CDIR_DW(CH, V)                                                                            \
	static void dw_##CH##x##V(const struct tile_args *t) { dw_body(t, CH, V); }
CDIR_DW(1, 1) CDIR_DW(1, 2) CDIR_DW(1, 3) CDIR_DW(1, 4) CDIR_DW(1, 5) CDIR_DW(1, 6) CDIR_DW(1, 7)
CDIR_DW(1, 8) CDIR_DW(2, 1) CDIR_DW(2, 2) CDIR_DW(2, 3) CDIR_DW(2, 4) CDIR_DW(4, 1) CDIR_DW(4, 2)
CDIR_DW(8, 1)
#undef CDIR_DW

/* The tile function for v vectors; masked (general tiles read in place near the input's
 * end): 1, the last vector loads masked; 2, all of them. */
static tile_fn tile_for(const struct cdir *d, int v, int masked)
{
	static const tile_fn t[2][3][CDIR_VMAX] = {
		{ { tile_4x1, tile_4x2, tile_4x3, tile_4x4, tile_4x5, tile_4x6 },
		  { tile_4x1l, tile_4x2l, tile_4x3l, tile_4x4l, tile_4x5l, tile_4x6l },
		  { tile_4x1m, tile_4x2m, tile_4x3m, tile_4x4m, tile_4x5m, tile_4x6m } },
		{ { tile_4x1p, tile_4x2p, tile_4x3p, tile_4x4p, tile_4x5p, tile_4x6p },
		  { tile_4x1pl, tile_4x2pl, tile_4x3pl, tile_4x4pl, tile_4x5pl, tile_4x6pl },
		  { tile_4x1pm, tile_4x2pm, tile_4x3pm, tile_4x4pm, tile_4x5pm, tile_4x6pm } },
	};
	static const tile_fn d1[] = { dw_1x1, dw_1x2, dw_1x3, dw_1x4, dw_1x5, dw_1x6, dw_1x7, dw_1x8 };
	static const tile_fn d2[] = { dw_2x1, dw_2x2, dw_2x3, dw_2x4 };
	static const tile_fn d4[] = { dw_4x1, dw_4x2 };
	if (d->depthwise)
		return d->mr == 1 ? d1[v - 1] : d->mr == 2 ? d2[v - 1] : d->mr == 4 ? d4[v - 1] : dw_8x1;
	return t[d->ntap == 1 && d->off[0] == 0][masked][v - 1];
}

/* Zero n floats at p. */
static inline void zero_run(float *p, int64_t n)
{
	const __m512 z = _mm512_setzero_ps();
	for (int64_t j = 0; j < n; j += 16)
		_mm512_mask_storeu_ps(p + j, lanes(n - j), z);
}

/* dst[0, n) = 0, dst[pl, pl + w) = src[0, w), dst[pl + w, n) = 0. */
static inline void pad_row(float *dst, const float *src, int64_t pl, int64_t w, int64_t n)
{
	zero_run(dst, pl);
	for (int64_t j = 0; j < w; j += 16) {
		__mmask16 m = lanes(w - j);
		_mm512_mask_storeu_ps(dst + pl + j, m, _mm512_maskz_loadu_ps(m, src + j));
	}
	zero_run(dst + pl + w, n - pl - w);
}

/* Copy n floats from src to dst (n small: a row). */
static inline void copy_run(float *dst, const float *src, int64_t n)
{
	for (int64_t j = 0; j < n; j += 16) {
		__mmask16 m = lanes(n - j);
		_mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
	}
}

/* src[start + k] for lanes k, 0 where start + k is outside [0, w).  Only ever addresses
 * src[0, w), so a padding column never forms a pointer outside the row. */
static inline __m512 load_padded(const float *src, int64_t w, int64_t start)
{
	if (start >= w || start <= -16)
		return _mm512_setzero_ps();
	if (start >= 0)
		return _mm512_maskz_loadu_ps(lanes(w - start), src + start);
	int64_t n = -start; /* leading zero lanes */
	__m512 v = _mm512_maskz_loadu_ps(lanes(w < 16 - n ? w : 16 - n), src);
	return _mm512_maskz_expand_ps((__mmask16)~lanes(n), v);
}

/* split_planes without stride: one zero-padded plane per channel.  Row by row, the right
 * padding of a row and the left padding of the next are one gap, zeroed with one store. */
static void pad_planes(const struct cdir *d, const float *x, int64_t nch, float *dst)
{
	const int64_t h = d->h, w = d->w, wp = d->wp, pt = d->pt, pl = d->pl;
	const int64_t gap = wp - w, top = pt * wp + pl, bottom = (d->hp - pt - h) * wp;
	for (int64_t ch = 0; ch < nch; ch++) {
		const float *src = x + ch * h * w;
		float *p = dst + ch * d->plane;
		zero_run(p, top);
		float *q = p + top; /* row pt, column pl */
		for (int64_t ih = 0; ih < h; ih++, q += wp, src += w) {
			if (w <= 16) {
				__mmask16 m = lanes(w);
				_mm512_mask_storeu_ps(q, m, _mm512_maskz_loadu_ps(m, src));
			} else {
				copy_run(q, src, w);
			}
			/* the last row's gap would run into the bottom padding (zeroed below) or
			 * past the plane; it only needs its right padding */
			zero_run(q + w, ih + 1 < h ? gap : gap - pl);
		}
		zero_run(p + (pt + h) * wp, bottom);
	}
}

/*
 * Copy nch channel planes (h x w each, from x) into zero-padded phase planes at dst: padded
 * position (r, col) lands in phase (r % sh, col % sw), row r / sh, column col / sw.  Without
 * stride that is just the padded plane.  row: a scratch row of sw * pw + 64 floats.
 */
static void split_planes(const struct cdir *d, const float *x, int64_t nch, float *dst,
			 float *row)
{
	const int64_t h = d->h, w = d->w, sh = d->sh, sw = d->sw, pw = d->pw;
	const int64_t phase = d->ph * pw;
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
					      2, 0);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
	if (sh == 1 && sw == 1) {
		pad_planes(d, x, nch, dst);
		return;
	}
	/* Stride-2 rows of small maps (the common case: one vector per phase row): two masked
	 * loads of the input row and one two-source permute per phase, whose indices include
	 * the left padding (lanes reading the padding are zeroed by the permute's mask). */
	const bool short_rows = sw == 2 && pw <= 16 && w <= 32 && d->pl < 16;
	__m512i idx[2];
	__mmask16 pm[2], lo_m = lanes(w), hi_m = lanes(w - 16), out_m = lanes(pw);
	for (int b = 0; b < 2; b++) {
		int32_t ix[16];
		unsigned m = 0;
		for (int j = 0; j < 16; j++) {
			int64_t col = 2 * j + b - d->pl; /* input column of phase column j */
			ix[j] = (int32_t)(col >= 0 && col < 32 ? col : 0);
			if (j < pw && col >= 0 && col < w)
				m |= 1u << j;
		}
		idx[b] = _mm512_loadu_si512(ix);
		pm[b] = (__mmask16)m;
	}
	for (int64_t ch = 0; ch < nch; ch++) {
		const float *src = x + ch * h * w;
		float *pl0 = dst + ch * d->plane;
		for (int64_t a = 0; a < sh; a++)
			for (int64_t i = 0; i < d->ph; i++) {
				int64_t r = i * sh + a, ih = r - d->pt;
				float *prow = pl0 + a * sw * phase + i * pw; /* phase (a, 0) */
				if (r >= d->hp || ih < 0 || ih >= h) {
					for (int64_t b = 0; b < sw; b++)
						zero_run(prow + b * phase, pw);
					continue;
				}
				if (sw == 1) {
					pad_row(prow, src + ih * w, d->pl, w, pw);
					continue;
				}
				if (short_rows) {
					const float *srow = src + ih * w;
					__m512 lo = _mm512_maskz_loadu_ps(lo_m, srow);
					__m512 hi = w > 16 ? _mm512_maskz_loadu_ps(hi_m, srow + 16) :
							     _mm512_setzero_ps();
					for (int b = 0; b < 2; b++)
						_mm512_mask_storeu_ps(prow + b * phase, out_m,
							_mm512_maskz_permutex2var_ps(pm[b], lo, idx[b], hi));
					continue;
				}
				if (sw == 2) {
					/* straight from the input row: a row copied just before would
					 * be read back through failing store-to-load forwarding */
					const float *srow = src + ih * w;
					for (int64_t j = 0; j < pw; j += 16) {
						__m512 lo = load_padded(srow, w, 2 * j - d->pl);
						__m512 hi = load_padded(srow, w, 2 * j + 16 - d->pl);
						__mmask16 m = lanes(pw - j);
						_mm512_mask_storeu_ps(prow + j, m,
								      _mm512_permutex2var_ps(lo, even, hi));
						_mm512_mask_storeu_ps(prow + phase + j, m,
								      _mm512_permutex2var_ps(lo, odd, hi));
					}
					continue;
				}
				pad_row(row, src + ih * w, d->pl, w, sw * pw + 64);
				for (int64_t b = 0; b < sw; b++)
					for (int64_t j = 0; j < pw; j++)
						prow[b * phase + j] = row[j * sw + b];
			}
	}
}

/*
 * All tiles over nimg samples of one group (general) or all channels (depthwise).  The
 * vectors of consecutive samples form one sequence, so tiles stay full on small maps (a
 * 7x7 map is 4 vectors per sample).  xs: input of sample 0 at channel 0, xstride floats
 * between samples; ys / rs: output / residual of sample 0 at the group's channel 0;
 * end: the end of the input when it is read in place (general kernel), else NULL.  Junk
 * lanes read past their sample's positions; in place, a tile whose loads could run past the
 * end of the input masks them.
 */
static void run_tiles(const struct cdir *d, struct tile_args *t, int64_t nimg, const float *xs,
		      int64_t xstride, float *ys, const float *rs, const float *wpk,
		      const float *bpk, const float *end)
{
	const int64_t wblk = (int64_t)d->mr * (d->depthwise ? 1 : d->cg) * d->ntap;
	const int64_t chans = d->depthwise ? d->m : d->mg, ystride = d->m * t->osp;
	const int64_t total = nimg * d->nvec;
	const __mmask16 last = lanes(d->qv - 16 * (d->nvec - 1));
	/* the farthest a vector's loads reach past its first position */
	const int64_t reach = (d->cg - 1) * d->plane + d->off[d->ntap - 1] + 16;
	for (int64_t u0 = 0; u0 < total; u0 += d->v) {
		int nv = total - u0 < d->v ? (int)(total - u0) : d->v;
		int unsafe = 0; /* vectors whose loads could pass the end; they come last */
		for (int j = 0; j < nv; j++) {
			int64_t u = u0 + j, img = u / d->nvec, v = u % d->nvec;
			t->x[j] = xs + img * xstride + 16 * v;
			t->yo[j] = img * ystride + d->dst[v];
			t->valid[j] = d->valid[v];
			t->mask[j] = d->mask + v;
			t->lm[j] = v + 1 < d->nvec ? (__mmask16)0xFFFF : last;
			if (end && end - t->x[j] < reach)
				unsafe++;
		}
		tile_fn fn = tile_for(d, nv, unsafe == 0 ? 0 : unsafe == 1 ? 1 : 2);
		for (int64_t mb = 0; mb < d->mblocks; mb++) {
			int64_t m0 = mb * d->mr;
			t->m0 = m0;
			t->w = wpk + mb * wblk;
			t->b = bpk + mb * d->mr;
			t->y = ys + m0 * t->osp;
			t->res = rs ? rs + m0 * t->osp : NULL;
			t->rows = chans - m0 < d->mr ? (int)(chans - m0) : d->mr;
			fn(t);
		}
	}
}

void cdir_run(const struct cdir *d, int64_t n, const float *x, const float *w, const float *bias,
	      const float *res, float *y, const struct step_epilogue *epi, void *scratch)
{
	unsigned char *sc = scratch;
	float *wpk = (float *)(sc + d->wpk_off), *bpk = (float *)(sc + d->bias_off);
	float *in = (float *)(sc + d->in_off), *row = (float *)(sc + d->row_off);
	if (d->pre && w == d->pre_w && bias == d->pre_b) {
		wpk = d->pre;
		bpk = (float *)((char *)d->pre + d->bias_off);
	} else {
		pack_weights(d, w, bias, wpk, bpk);
	}
	const int64_t isp = d->h * d->w, osp = d->oh * d->ow;
	const int64_t chans = d->depthwise ? d->c : d->cg; /* input channels copied per sample */
	const int64_t groups = d->depthwise ? 1 : d->group;
	struct tile_args t = { .plane = d->plane, .cg = d->cg, .mg = d->mg, .off = d->off,
			       .ntap = d->ntap, .nvec = d->nvec, .osp = osp, .compact = d->compact,
			       .epi = epi };
	if (d->dw_rows) {
		dw_rows_run(d, n, x, wpk, bpk, res, y, epi);
		return;
	}
	if (d->dw_reg) {
		dw_reg_run(d, n, x, wpk, bpk, res, y, epi);
		return;
	}
	if (d->dw_s2) {
		dw_s2_run(d, n, x, wpk, bpk, res, y, epi);
		return;
	}
	if (d->split) /* the tiles' junk lanes may read just past the last plane */
		zero_run(in + d->nb * chans * d->plane, CDIR_SLACK);
	for (int64_t s0 = 0; s0 < n; s0 += d->nb) {
		const int64_t nimg = n - s0 < d->nb ? n - s0 : d->nb;
		for (int64_t g = 0; g < groups; g++) {
			const float *xs = x + (s0 * d->c + g * chans) * isp;
			int64_t xstride = d->c * isp;
			if (d->split) {
				for (int64_t i = 0; i < nimg; i++)
					split_planes(d, xs + i * xstride, chans,
						     in + i * chans * d->plane, row);
				xs = in;
				xstride = chans * d->plane;
			}
			int64_t o = (s0 * d->m + g * d->mg) * osp;
			int64_t gw = g * d->mblocks;
			run_tiles(d, &t, nimg, xs, xstride, y + o, res ? res + o : NULL,
				  wpk + gw * d->mr * (d->depthwise ? 1 : d->cg) * d->ntap,
				  bpk + gw * d->mr,
				  d->split || d->depthwise ? NULL : x + n * d->c * isp);
		}
	}
}

#pragma GCC pop_options
#else
void cdir_run(const struct cdir *d, int64_t n, const float *x, const float *w, const float *bias,
	      const float *res, float *y, const struct step_epilogue *epi, void *scratch)
{
	(void)d, (void)n, (void)x, (void)w, (void)bias, (void)res, (void)y, (void)epi;
	(void)scratch; /* cdir_setup never accepts a convolution here */
}
#endif
