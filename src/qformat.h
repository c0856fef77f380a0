/*
 * qformat.h - number formats for simulated quantization.
 *
 * One row per format in an append-only table (saved policies refer to
 * formats by name, and enum values never change meaning).  Each row knows its
 * bits, whether it is a float or an integer format, its integer code range,
 * the granularities it allows, its ONNX element type and the opset that
 * QuantizeLinear/DequantizeLinear need for it.
 *
 * Semantics follow ONNX QuantizeLinear / DequantizeLinear exactly:
 *   integer:  q = saturate(round_half_even(x / scale) + zero_point)
 *             x' = (q - zero_point) * scale
 *   float8:   q = cast_to_fp8(x / scale) with round-to-nearest-even,
 *             saturating to the largest finite value (saturate=1)
 *             x' = fp8_to_float(q) * scale
 *   fp16/bf16: x' = round_to_nearest_even(x) (scale is not used)
 *   fp32:     x' = x
 * Fake-quant = quantize then dequantize, computed in float32.
 * NaN inputs: integer formats give qmin, as ONNX Runtime's CPU kernel (MLAS)
 * does; fp8/fp16/bf16 keep NaN.  +-inf: integer formats give qmax/qmin, fp8
 * +-max_finite (saturate=1), fp16/bf16 keep inf.
 *
 * Division by scale is done in float32 as x / scale (not x * (1/scale)) so that
 * results match ONNX Runtime bit for bit.
 */
#ifndef QLENS_QFORMAT_H
#define QLENS_QFORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* Granularities, as bit flags for the allowed-set of a format. */
enum qgran {
	QG_TENSOR = 0,	/* one scale (and zero point) for the whole tensor */
	QG_CHANNEL = 1, /* one per slice along an axis (weights: output channel) */
	QG_BLOCK = 2,	/* one per block of `block` elements along an axis */
	QG_COUNT
};
#define QG_BIT(g) (1u << (g))

/* X(enum, name, bits, is_float, is_signed, qmin, qmax, onnx dtype, min opset, granularities) */
#define QFMT_LIST(X)                                                                          \
	X(QF_FP32, "fp32", 32, true, true, 0, 0, DT_FLOAT, 1, QG_BIT(QG_TENSOR))              \
	X(QF_FP16, "fp16", 16, true, true, 0, 0, DT_FLOAT16, 1, QG_BIT(QG_TENSOR))            \
	X(QF_BF16, "bf16", 16, true, true, 0, 0, DT_BFLOAT16, 13, QG_BIT(QG_TENSOR))          \
	X(QF_FP8E4M3, "fp8e4m3", 8, true, true, 0, 0, DT_FLOAT8E4M3FN, 19,                     \
	  QG_BIT(QG_TENSOR) | QG_BIT(QG_CHANNEL))                                              \
	X(QF_FP8E5M2, "fp8e5m2", 8, true, true, 0, 0, DT_FLOAT8E5M2, 19,                       \
	  QG_BIT(QG_TENSOR) | QG_BIT(QG_CHANNEL))                                              \
	X(QF_INT16, "int16", 16, false, true, -32768, 32767, DT_INT16, 21,                     \
	  QG_BIT(QG_TENSOR) | QG_BIT(QG_CHANNEL))                                              \
	X(QF_INT8, "int8", 8, false, true, -128, 127, DT_INT8, 13,                             \
	  QG_BIT(QG_TENSOR) | QG_BIT(QG_CHANNEL))                                              \
	X(QF_UINT8, "uint8", 8, false, false, 0, 255, DT_UINT8, 13,                            \
	  QG_BIT(QG_TENSOR) | QG_BIT(QG_CHANNEL))                                              \
	X(QF_INT4, "int4", 4, false, true, -8, 7, DT_INT4, 21,                                 \
	  QG_BIT(QG_TENSOR) | QG_BIT(QG_CHANNEL) | QG_BIT(QG_BLOCK))                           \
	X(QF_UINT4, "uint4", 4, false, false, 0, 15, DT_UINT4, 21,                             \
	  QG_BIT(QG_TENSOR) | QG_BIT(QG_CHANNEL) | QG_BIT(QG_BLOCK))

#define QFMT_ENUM_(e, name, bits, isf, iss, qmin, qmax, dt, opset, gran) e,
enum qfmt { QFMT_LIST(QFMT_ENUM_) QF_COUNT };
#undef QFMT_ENUM_

struct qfmt_info {
	const char *name;
	int bits;
	bool is_float;
	bool is_signed;
	int32_t qmin, qmax;	/* integer code range (0, 0 for floats) */
	enum dtype onnx_dtype;	/* element type of the quantized tensor in ONNX */
	int min_opset;		/* QuantizeLinear/DequantizeLinear opset needed */
	unsigned gran_mask;	/* QG_BIT(...) of allowed granularities */
	double max_finite;	/* largest finite value (floats), qmax otherwise */
};

const struct qfmt_info *qfmt_info(enum qfmt f);
/* QF_COUNT when unknown. */
enum qfmt qfmt_lookup(const char *name);
const char *qgran_name(enum qgran g);	/* "per-tensor", "per-channel", "per-block" */
enum qgran qgran_lookup(const char *name); /* QG_COUNT when unknown */

/* Affine parameters of one slice. */
struct qparams {
	float scale;
	int32_t zero_point;
};

/*
 * Parameters from a calibrated range, per ONNX Runtime's rules
 * (quant_utils.py compute_scale_zp / get_qmin_qmax_for_qType): the range is
 * first widened to include 0; symmetric integer formats map [-a, a] with
 * a = max(|rmin|, |rmax|) onto ORT's symmetric code range [qlo, qhi]
 * ([-127, 127] int8, [-32767, 32767] int16, [0, 254] uint8; int4 and uint4
 * have none in ORT and use their full range): s = 2a / (qhi - qlo),
 * z = round_half_even((qlo + qhi) / 2), i.e. 0 for int8/int16/int4, 127 for
 * uint8, 8 for uint4; asymmetric: s = (rmax - rmin) / (qmax - qmin),
 * z = round_half_even(qmin - rmin / s) clamped to [qmin, qmax].
 * Float8 formats: z = 0 and s = max(|rmin|, |rmax|) / max_finite (symmetric
 * only).  fp32/fp16/bf16: s = 1, z = 0.
 * A zero range gives s = 1 (so that a constant-zero tensor stays exact).
 */
struct qparams qfmt_params_from_range(enum qfmt f, float rmin, float rmax, bool symmetric);

/* Fake-quant n values with one parameter set: y may equal x. */
void qfmt_fake_quant(enum qfmt f, const float *x, float *y, int64_t n, struct qparams p);

/*
 * Fake-quant with one parameter set per slice along `axis` of a tensor of
 * shape s (QG_CHANNEL: params has s->dim[axis] entries), or per block of
 * `block` consecutive elements along `axis` (QG_BLOCK: params has
 * s->dim[axis] / block (rounded up) entries per position of the other axes,
 * laid out as ONNX's blocked DequantizeLinear scale tensor: the scale
 * tensor has the input's shape with dim[axis] replaced by ceil(dim/block)).
 */
void qfmt_fake_quant_axis(enum qfmt f, const float *x, float *y, const struct shape *s, int axis,
			  const struct qparams *params);
void qfmt_fake_quant_block(enum qfmt f, const float *x, float *y, const struct shape *s, int axis,
			   int block, const struct qparams *params);

/* Integer codes (for exporting quantized weights): q for integer formats,
 * the fp8 bit pattern for float8, the fp16/bf16 bit pattern for those. */
int32_t qfmt_quantize_one(enum qfmt f, float x, struct qparams p);
float qfmt_dequantize_one(enum qfmt f, int32_t q, struct qparams p);

/* FP8 conversions (saturate: clamp to max finite instead of inf/NaN). */
float fp8e4m3_to_float(uint8_t v);
uint8_t float_to_fp8e4m3(float f, bool saturate);
float fp8e5m2_to_float(uint8_t v);
uint8_t float_to_fp8e5m2(float f, bool saturate);

/* Bytes to store n values in format f (int4/uint4 pack two per byte). */
int64_t qfmt_storage_bytes(enum qfmt f, int64_t n);

#endif
