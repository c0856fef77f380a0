/*
 * version.c - library versions, asked of the libraries themselves at run time.
 */
#include "version.h"

#include <cblas.h>
#include <protobuf-c/protobuf-c.h>

const char *core_protobuf_c_version(void) { return protobuf_c_version(); }
const char *core_blas_config(void) { return openblas_get_config(); }
const char *core_onnx_schema(void) { return QLENS_ONNX_PROTO; }
