/* onnx_wire.c - being written */
