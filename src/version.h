/*
 * version.h - versions of the libraries the core runs on, for --version and
 * for the tool-chain record of a policy.
 */
#ifndef QLENS_VERSION_H
#define QLENS_VERSION_H

const char *core_protobuf_c_version(void);
/* OpenBLAS' configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell MAX_THREADS=64". */
const char *core_blas_config(void);
/* The ONNX schema (onnx.proto) the loader was compiled from. */
const char *core_onnx_schema(void);

#endif
