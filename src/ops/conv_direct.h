/*
 * conv_direct.h - the direct (im2col-free) convolution kernels behind Conv, AVX-512.
 * Internal to src/ops; conv.c decides when to use them.
 *
 * Usage: cdir_setup() at prepare time says whether the kernels apply to a convolution and
 * how many bytes of lookup tables they need; the caller reserves them inside its params block
 * and calls cdir_tables() to fill them; cdir_scratch_bytes() sizes the scratch run() needs.
 * cdir_run() then computes only.  Everything needs AVX-512F at run time (cdir_supported()).
 */
#ifndef QLENS_CONV_DIRECT_H
#define QLENS_CONV_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn_util.h"

struct cdir {
	int64_t c, m, group, cg, mg; /* channels: input, output, groups, per group */
	int64_t h, w;		     /* input plane */
	int64_t hp, wp, pt, pl;	     /* zero-padded plane; top / left padding */
	int64_t sh, sw;		     /* strides */
	int64_t ph, pw;		     /* planes as read: split (padded, one per stride phase) or
					the input itself (h x w); pw = flat row */
	int64_t oh, ow;		     /* output plane */
	int64_t kh, kw, dh, dw;	     /* kernel and dilation */
	int64_t plane;		     /* floats between input channels as the kernels read them */
	bool split;		     /* inputs are first copied into padded phase planes (strided
					convolutions); else read in place with masked loads */
	bool compact;		     /* pw == ow: output vectors need no compaction */
	bool depthwise;		     /* one input channel per group: the per-channel kernel */
	bool dw_reg;		     /* depthwise 3x3 on a small map: taps by register shuffles */
	bool dw_rows;		     /* depthwise 3x3 "same" on rows of up to 16: row by row */
	bool dw_s2;		     /* depthwise 3x3 stride 2 on a small map: row by row */
	int64_t qv, nvec;	     /* valid flat output positions, 16-lane vectors over them */
	int ntap;		     /* kernel taps (kh * kw) */
	int mr, v;		     /* tile: output channels x 16-lane vectors */
	int64_t mblocks;	     /* tiles of mr channels (per group; depthwise: in all) */
	int64_t nb;		     /* samples the tiles run through together */
	size_t wpk_off, bias_off, in_off, row_off; /* scratch layout, bytes */
	/* tables (inside the caller's params block) */
	int32_t *off;	 /* [ntap] offset of each tap from an output position, in floats */
	int32_t *dst;	 /* [nvec] output index of the first real pixel of each vector */
	uint16_t *valid; /* [nvec] lanes holding real output pixels */
	uint16_t *mask;	 /* [ntap][nvec] lanes each tap reads (the rest is padding: zero) */
	/* weights packed at prepare time (cdir_pack), used while run() gets the same ones */
	float *pre;
	const float *pre_w, *pre_b;
};

/* True when the CPU runs the kernels (AVX-512F). */
bool cdir_supported(void);

/* Fill the geometry of a 1-D or 2-D convolution of n samples from its 3-D window
 * (nn_window_to3d) and choose the kernel and tile shape.  False when the kernels do not
 * apply; else *table_bytes is the size of the tables to hand to cdir_tables(). */
bool cdir_setup(struct cdir *d, const struct nn_window *w3, int64_t n, int64_t c, int64_t m,
		int64_t group, size_t *table_bytes);
/* Point the tables into mem (table_bytes bytes, 8-byte aligned) and fill them. */
void cdir_tables(struct cdir *d, void *mem);
/* Scratch bytes cdir_run needs; also fixes the scratch layout. */
size_t cdir_scratch_bytes(struct cdir *d);

/* Floats cdir_pack() writes (valid after cdir_setup). */
size_t cdir_packed_floats(const struct cdir *d);
/* Pack constant weights (and bias, may be NULL) into dst (64-byte aligned,
 * cdir_packed_floats() floats) for the tiles; cdir_run() uses them whenever it is handed
 * the same w and bias pointers, and packs into scratch otherwise. */
void cdir_pack(struct cdir *d, const float *w, const float *bias, float *dst);

/* y[n, m, oh, ow] = epilogue(conv(x, w) + bias) for n samples (NCHW, weights [m, cg, kh, kw]).
 * bias may be NULL; res (the fused residual, y's shape) may be NULL; scratch:
 * cdir_scratch_bytes() bytes, 64-byte aligned. */
void cdir_run(const struct cdir *d, int64_t n, const float *x, const float *w, const float *bias,
	      const float *res, float *y, const struct step_epilogue *epi, void *scratch);

#endif
