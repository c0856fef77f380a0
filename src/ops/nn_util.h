/*
 * nn_util.h - sliding-window geometry shared by Conv, ConvTranspose and the pools.
 * Internal to src/ops; not part of the core's public interface.
 *
 * A window op reads the same attributes everywhere: kernel_shape, strides, dilations, pads
 * ([x1_begin, x2_begin, ..., x1_end, x2_end, ...]) and auto_pad.  nn_window_read() parses and
 * checks them for `nsp` spatial dims; nn_window_forward() then fills the pads (auto_pad) and the
 * output sizes of a forward window op (Conv, pools).  ConvTranspose computes its own output sizes
 * from the parsed window.  Kernels run one 3-D loop nest for 1-D, 2-D and 3-D ops:
 * nn_window_to3d() prepends unit dims (size 1, kernel 1, stride 1, no pad).
 */
#ifndef QLENS_NN_UTIL_H
#define QLENS_NN_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"
#include "ops_util.h"

#define NN_MAX_SP 3 /* spatial dims supported by the window ops */
/* Largest kernel size, stride, dilation or pad accepted; keeps all window arithmetic far from
 * int64 overflow whatever a hostile model says. */
#define NN_ATTR_MAX ((int64_t)1 << 24)

enum nn_autopad { NN_PAD_NOTSET, NN_PAD_SAME_UPPER, NN_PAD_SAME_LOWER, NN_PAD_VALID };

struct nn_window {
	int nsp;			/* spatial dims, 1..NN_MAX_SP */
	enum nn_autopad autopad;
	int64_t in[NN_MAX_SP];		/* input spatial sizes */
	int64_t k[NN_MAX_SP];		/* kernel sizes */
	int64_t stride[NN_MAX_SP];
	int64_t dil[NN_MAX_SP];
	int64_t pad0[NN_MAX_SP];	/* padding before / after (ConvTranspose: may be < 0) */
	int64_t pad1[NN_MAX_SP];
	int64_t out[NN_MAX_SP];		/* output spatial sizes */
};

/* Parse auto_pad, kernel_shape, strides, dilations and pads for w->nsp spatial dims (w->nsp
 * must be set).  kernel: the kernel sizes implied by a weight (NULL for pools); kernel_shape must
 * then agree with it, and pools require kernel_shape. */
enum status nn_window_read(const struct node *n, struct nn_window *w, const int64_t *kernel,
			   struct err *e);

/* Forward op (Conv, pools): resolve auto_pad into pads and compute out[].  ceil_mode rounds
 * the output size up, dropping a last window that would start in the end padding. */
enum status nn_window_forward(struct nn_window *w, bool ceil_mode, struct err *e);

/* Copy of w with 3 spatial dims: leading unit dims are prepended. */
struct nn_window nn_window_to3d(const struct nn_window *w);

/* Product of out[] / in[] / k[]. */
int64_t nn_prod(const int64_t *v, int n);

/* Writes "5x5" style text of n dims into buf; returns buf. */
char *nn_dims_str(const int64_t *v, int n, char *buf, size_t size);

/* floor(a / b) and ceil(a / b) for b > 0 and any sign of a. */
static inline int64_t nn_floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}
static inline int64_t nn_ceildiv(int64_t a, int64_t b) { return -nn_floordiv(-a, b); }

/* Normalise an axis attribute in [-rank, rank) to [0, rank); ERR_INVALID otherwise. */
enum status nn_axis(int64_t axis, int rank, int *out, struct err *e);

/* Apply a fused epilogue (op.h) to n floats in place: y = act(y + res); res may be NULL.
 * Same results as the Add, Relu, Clip, LeakyRelu ops (and the Div, Erf, Add, Mul chain of
 * GELU), NaN included. */
void nn_epilogue(const struct step_epilogue *epi, float *y, const float *res, int64_t n);

/* True when the CPU runs the AVX-512F kernels of this family (conv_direct.c, fused.c, norm.c;
 * built with GCC only).  The environment variable QLENS_NO_AVX512 (set, not "0") turns them
 * off for the whole process, read once: tests and CI use it to run the generic paths. */
bool nn_have_avx512(void);

/*
 * NN_X86: 1 where the AVX-512 kernels are compiled (x86-64 with GCC, whose target pragmas
 * and attributes they use), chosen at run time by nn_have_avx512(); 0 elsewhere.  A file
 * with such kernels includes <immintrin.h> (or vmath.h) under #if NN_X86.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_X86 1
#else
#define NN_X86 0
#endif

/*
 * NN_CLONES on a function: also compile it for AVX-512F and AVX2 and pick one at load time
 * (GNU ifunc).  Same C, same IEEE operations (C11: no contraction into FMAs), so the same
 * bits; unlike the kernels above, QLENS_NO_AVX512 does not reach them.  Empty with clang and
 * under ThreadSanitizer, whose runtime starts after ifunc resolvers run.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__gnu_linux__) && \
	!defined(__SANITIZE_THREAD__)
#define NN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_CLONES
#endif

/* erf of n floats (y may be x): AVX-512 vm_erf (vmath.h, within 7.3e-8 of erf) where
 * nn_have_avx512(), C99 erff otherwise.  The Erf op and every GELU use it, so fused and
 * separate GELUs agree. */
void nn_erf(const float *x, float *y, int64_t n);

/* Softmax of one contiguous row of n floats (y may be x): shifted by the row's maximum,
 * e^x by vm_exp (within 8e-8 relative) where nn_have_avx512(), expf otherwise; the sum is
 * taken in 16 lanes then reduced in a fixed order, so results are deterministic.  The Softmax
 * op and fused attention share it. */
void nn_softmax_row(const float *x, float *y, int64_t n);

/* nn_softmax_row over `rows` contiguous rows of n (y may be x), bit for bit; with AVX-512,
 * four rows at a time so that short rows' dependency chains overlap. */
void nn_softmax_rows(const float *x, float *y, int64_t rows, int64_t n);

/* Round a byte count up to the scratch alignment (64). */
static inline size_t nn_align(size_t n) { return (n + 63) & ~(size_t)63; }

#endif
