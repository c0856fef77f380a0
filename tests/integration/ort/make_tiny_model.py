#!/usr/bin/python3
"""Writes tiny.onnx next to this script: a small opset-17 model with the
pieces whose export needs care (run with Debian's /usr/bin/python3 and
python3-onnx; the committed file is what the tests use):

  input [N,1,28,28] -> Reshape [N,28,28] -> MatMul (constant B [28,64]) -> Add
  -> LayerNormalization -> ReduceMean(axes=[1], keepdims=0, an attribute until
  opset 18) -> Gemm (transB=1, bias) -> logits [N,10]

Raising it to opset 21 (int4 / int16 exports) must turn ReduceMean's axes
attribute into an input; the MatMul weight has 64 output columns and 28 rows,
so per-block int4 (block 32) has one partial block along K.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(1234)
w1 = (rng.standard_normal((28, 64)) * 0.2).astype(np.float32)
b1 = (rng.standard_normal(64) * 0.1).astype(np.float32)
gamma = (1 + rng.standard_normal(64) * 0.1).astype(np.float32)
beta = (rng.standard_normal(64) * 0.1).astype(np.float32)
w2 = (rng.standard_normal((10, 64)) * 0.3).astype(np.float32)
b2 = (rng.standard_normal(10) * 0.1).astype(np.float32)
shape = np.array([-1, 28, 28], dtype=np.int64)

inits = [numpy_helper.from_array(a, n) for a, n in
         [(w1, "w1"), (b1, "b1"), (gamma, "ln_gamma"), (beta, "ln_beta"), (w2, "w2"),
          (b2, "b2"), (shape, "shape")]]
nodes = [
    helper.make_node("Reshape", ["input", "shape"], ["tokens"], name="reshape"),
    helper.make_node("MatMul", ["tokens", "w1"], ["mm"], name="proj/MatMul"),
    helper.make_node("Add", ["mm", "b1"], ["mm_bias"], name="proj/Add"),
    helper.make_node("LayerNormalization", ["mm_bias", "ln_gamma", "ln_beta"], ["ln"],
                     name="norm", axis=-1, epsilon=1e-5),
    helper.make_node("ReduceMean", ["ln"], ["pooled"], name="pool", axes=[1], keepdims=0),
    helper.make_node("Gemm", ["pooled", "w2", "b2"], ["logits"], name="head", transB=1),
]
graph = helper.make_graph(
    nodes, "tiny",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="qlens-tests")
model.ir_version = 8
model.metadata_props.append(onnx.StringStringEntryProto(key="purpose", value="export tests"))
onnx.checker.check_model(model, full_check=True)
onnx.save(model, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny.onnx"))
