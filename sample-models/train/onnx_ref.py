"""A small pure-numpy ONNX interpreter, used only to cross-check the exported
sample models against torch (onnxruntime is not available as a Python
package here). Covers exactly the operators the three sample models use;
float tensors are evaluated in float64.

    out = run(onnx.load("model.onnx"), {"input": x})["logits"]
"""

import math

import numpy as np
from onnx import helper, numpy_helper

_erf = np.frompyfunc(math.erf, 1, 1)


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pads2d(a, kh, kw):
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("auto_pad")
    p = list(a.get("pads", [0, 0, 0, 0]))
    return p[0], p[1], p[2], p[3]          # top, left, bottom, right


def _windows(x, kh, kw, sh, sw, dh, dw):
    """x: N x C x H x W (already padded) -> N x C x OH x OW x kh x kw view."""
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kh, kw),
        (s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw), writeable=False)


def conv(x, w, b, a):
    m, cg, kh, kw = w.shape
    g = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    t, l, bt, r = _pads2d(a, kh, kw)
    x = np.pad(x, ((0, 0), (0, 0), (t, bt), (l, r)))
    win = _windows(x, kh, kw, sh, sw, dh, dw)            # N C OH OW kh kw
    n, c, oh, ow = win.shape[:4]
    win = win.reshape(n, g, c // g, oh, ow, kh, kw)
    wg = w.reshape(g, m // g, cg, kh, kw)
    y = np.einsum("ngcpqij,gmcij->ngmpq", win, wg, optimize=True)
    y = y.reshape(n, m, oh, ow)
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def maxpool(x, a):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    if a.get("ceil_mode", 0):
        raise NotImplementedError("ceil_mode")
    t, l, bt, r = _pads2d(a, kh, kw)
    x = np.pad(x, ((0, 0), (0, 0), (t, bt), (l, r)), constant_values=-np.inf)
    return _windows(x, kh, kw, sh, sw, dh, dw).max(axis=(4, 5))


def _reshape(x, shape, allowzero=0):
    shape = [int(s) for s in shape]
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def run(model, feeds):
    g = model.graph
    env = {}
    for init in g.initializer:
        v = numpy_helper.to_array(init)
        env[init.name] = v.astype(np.float64) if v.dtype == np.float32 else v
    for k, v in feeds.items():
        env[k] = np.asarray(v, dtype=np.float64)
    env[""] = None
    for node in g.node:
        a = _attrs(node)
        ins = [env[i] for i in node.input]
        op = node.op_type
        if op == "Constant":
            v = numpy_helper.to_array(a["value"])
            y = v.astype(np.float64) if v.dtype == np.float32 else v
        elif op == "Identity":
            y = ins[0]
        elif op == "Conv":
            y = conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "BatchNormalization":
            if a.get("training_mode", 0):
                raise NotImplementedError("training_mode")
            x, s, bias, mean, var = ins
            sh = (1, -1) + (1,) * (x.ndim - 2)
            y = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + a.get("epsilon", 1e-5))
            y = y * s.reshape(sh) + bias.reshape(sh)
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "Clip":
            y = ins[0]
            if len(ins) > 1 and ins[1] is not None:
                y = np.maximum(y, ins[1])
            if len(ins) > 2 and ins[2] is not None:
                y = np.minimum(y, ins[2])
        elif op == "MaxPool":
            y = maxpool(ins[0], a)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=tuple(range(2, ins[0].ndim)), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = np.matmul(ins[0], ins[1])
        elif op in ("Add", "Sub", "Mul", "Div", "Pow"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
                 "Div": np.divide, "Pow": np.power}[op]
            y = f(ins[0], ins[1])
        elif op == "Sqrt":
            y = np.sqrt(ins[0])
        elif op == "Erf":
            y = _erf(ins[0]).astype(np.float64)
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        elif op == "LayerNormalization":
            ax = a.get("axis", -1)
            x = ins[0]
            axes = tuple(range(ax % x.ndim, x.ndim))
            mu = x.mean(axis=axes, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
            y = (x - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * ins[1]
            if len(ins) > 2 and ins[2] is not None:
                y = y + ins[2]
            if len(node.output) > 1:
                raise NotImplementedError("LayerNormalization extra outputs")
        elif op == "ReduceMean":
            axes = a.get("axes")
            if axes is None and len(ins) > 1 and ins[1] is not None:
                axes = ins[1]
            axes = None if axes is None else tuple(int(i) for i in axes)
            y = ins[0].mean(axis=axes, keepdims=bool(a.get("keepdims", 1)))
        elif op == "Reshape":
            y = _reshape(ins[0], ins[1], a.get("allowzero", 0))
        elif op == "Transpose":
            y = np.transpose(ins[0], a.get("perm"))
        elif op == "Shape":
            y = np.array(ins[0].shape, dtype=np.int64)
        elif op == "Gather":
            y = np.take(ins[0], ins[1], axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            axes = a.get("axes") if "axes" in a else ins[1]
            y = ins[0]
            for ax in sorted(int(i) % (y.ndim + len(axes)) for i in axes):
                y = np.expand_dims(y, ax)
        elif op == "Concat":
            y = np.concatenate(ins, axis=a["axis"])
        else:
            raise NotImplementedError(op)
        assert len(node.output) == 1 or op == "BatchNormalization", node
        env[node.output[0]] = y
    return {o.name: np.asarray(env[o.name], dtype=np.float32) for o in g.output}
