/* onnx_load.c - being written */
