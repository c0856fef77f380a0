#!/usr/bin/python3
"""Generate the hostile ONNX corpus (tests/hostile/onnx/) and a few valid models.

Run with Debian's interpreter (it has python3-onnx):
    /usr/bin/python3 tests/hostile/make_onnx_corpus.py [OUTDIR]

Every hostile case is a small file plus one line of onnx/expected.txt:
    file<TAB>substring of the expected error message[<TAB>tag]
where the optional tag says the case needs more than a plain load:
    plan   the loader accepts the file; the error comes when the executor plans it
    setup  the unit test must first create a symlink, hard link or FIFO next to
           the model (git cannot store FIFOs or hard links), see test_onnx_load.c
Cases that would be big (10 MB of empty nodes or initializers) are built at
test time by tests/unit/test_onnx_load.c, not committed.

Files that must load are written to onnx/valid/; the unit test checks their
contents value by value, so the values here are part of the test.

Wire-level cases are written byte by byte with the small protobuf encoder
below, because onnx's helpers refuse to build malformed messages.
"""
import os
import random
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx")
VALID = os.path.join(OUT, "valid")
expected = []


# ---- raw protobuf encoding ----------------------------------------------------

def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    """A length-delimited field."""
    return tag(field, 2) + varint(len(payload)) + payload


def vi(field, value):
    return tag(field, 0) + varint(value)


# ---- helpers ------------------------------------------------------------------

def write(name, data):
    path = os.path.join(OUT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def save(name, model):
    write(name, model.SerializeToString())


def hostile(name, data_or_model, msg, tag_=None):
    if isinstance(data_or_model, (bytes, bytearray)):
        write(name, data_or_model)
    else:
        save(name, data_or_model)
    expected.append((name, msg, tag_))


def model_of(nodes, inputs, outputs, inits=(), opset=13, value_info=(), sparse=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits),
                          value_info=list(value_info), sparse_initializer=list(sparse))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="qlens-corpus")
    m.ir_version = 8
    return m


def fin(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def relu_model(inits=(), inputs=None, extra_nodes=(), outputs=None):
    """x -> Relu -> y, plus whatever the case adds."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")] + list(extra_nodes)
    return model_of(nodes, inputs if inputs is not None else [fin("x", [2, 3])],
                    outputs if outputs is not None else [fin("y", [2, 3])], inits)


def raw_tensor(name, dtype, dims, raw):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def loose_tensor(name, dtype, dims, vals):
    """Like helper.make_tensor but without its count check (float or int64 data)."""
    t = TensorProto()
    t.name, t.data_type = name, dtype
    t.dims.extend(dims)
    if dtype == TensorProto.FLOAT:
        t.float_data.extend(vals)
    else:
        t.int64_data.extend(vals)
    return t


def ext_tensor(name, dims, entries, dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in entries:
        e = t.external_data.add()
        e.key = k
        e.value = v
    return t


def ext_model(entries, dims=(2, 3)):
    """Relu model plus an Identity of initializer 'w' (float [2,3], 24 bytes), whose
    data is external."""
    ident = helper.make_node("Identity", ["w"], ["z"], name="ident")
    return model_of([helper.make_node("Relu", ["x"], ["y"], name="relu"), ident],
                    [fin("x", [2, 3])], [fin("y", [2, 3]), fin("z", [2, 3])],
                    [ext_tensor("w", list(dims), entries)])


# ---- valid models ---------------------------------------------------------------

# One [2,3] initializer per element type, with values chosen to exercise each
# type's range (negative numbers, top bit set, non-trivial fractions).
VALUES = {
    TensorProto.FLOAT: ("f32", np.float32, [0.5, -1.25, 3.0, 1e-3, -0.0, 65504.0]),
    TensorProto.DOUBLE: ("f64", np.float64, [0.1, -2.5, 1e300, -1e-300, 7.0, 8.0]),
    TensorProto.FLOAT16: ("f16", np.float16, [1.0, -2.0, 0.5, 65504.0, -0.25, 3.0]),
    TensorProto.INT64: ("i64", np.int64, [1, -2, 2**62, -(2**62), 0, 7]),
    TensorProto.INT32: ("i32", np.int32, [1, -2, 2**31 - 1, -(2**31), 0, 7]),
    TensorProto.INT16: ("i16", np.int16, [1, -2, 32767, -32768, 0, 7]),
    TensorProto.INT8: ("i8", np.int8, [1, -2, 127, -128, 0, 7]),
    TensorProto.UINT8: ("u8", np.uint8, [1, 2, 255, 128, 0, 7]),
    TensorProto.UINT16: ("u16", np.uint16, [1, 2, 65535, 32768, 0, 7]),
    TensorProto.UINT32: ("u32", np.uint32, [1, 2, 2**32 - 1, 2**31, 0, 7]),
    TensorProto.UINT64: ("u64", np.uint64, [1, 2, 2**64 - 1, 2**63, 0, 7]),
    TensorProto.BOOL: ("bool", np.bool_, [True, False, True, True, False, False]),
}
# bfloat16 bit patterns of 1.0, -2.0, 0.5, 3.0, -0.25, 1e38 (0x7e97)
BF16_BITS = [0x3F80, 0xC000, 0x3F00, 0x4040, 0xBE80, 0x7E97]


def typed_tensor(dtype, name, dims, arr):
    """Fill the typed field the ONNX spec assigns to dtype, by hand (helper.make_tensor
    differs between onnx versions for float16)."""
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    arr = arr.reshape(-1)
    if dtype == TensorProto.FLOAT:
        t.float_data.extend(arr.tolist())
    elif dtype == TensorProto.DOUBLE:
        t.double_data.extend(arr.tolist())
    elif dtype == TensorProto.INT64:
        t.int64_data.extend(arr.tolist())
    elif dtype in (TensorProto.UINT32, TensorProto.UINT64):
        t.uint64_data.extend(int(v) for v in arr.tolist())
    elif dtype == TensorProto.FLOAT16:
        t.int32_data.extend(int(v) for v in arr.view(np.uint16).tolist())
    else:
        t.int32_data.extend(int(v) for v in arr.astype(np.int64).tolist())
    return t


def make_dtypes(raw):
    inits = []
    for dtype, (tag_, npt, vals) in VALUES.items():
        arr = np.array(vals, dtype=npt).reshape(2, 3)
        if raw:
            inits.append(raw_tensor(tag_, dtype, [2, 3], arr.tobytes()))
        else:
            inits.append(typed_tensor(dtype, tag_, [2, 3], arr))
    bf = np.array(BF16_BITS, dtype=np.uint16)
    if raw:
        inits.append(raw_tensor("bf16", TensorProto.BFLOAT16, [2, 3], bf.tobytes()))
        # types newer than onnx 1.12: float8e4m3fn (17), int4 (22), uint4 (21), packed
        inits.append(raw_tensor("f8", 17, [2, 3], bytes([0x38, 0xB8, 0x00, 0x7E, 0x01, 0x40])))
        inits.append(raw_tensor("i4", 22, [5], bytes([0x8F, 0x71, 0x03])))   # -1,-8,1,7,3
        inits.append(raw_tensor("u4", 21, [3], bytes([0xF0, 0x09])))         # 0,15,9
    else:
        t = TensorProto()
        t.name, t.data_type = "bf16", TensorProto.BFLOAT16
        t.dims.extend([2, 3])
        t.int32_data.extend(BF16_BITS)
        inits.append(t)
        t = TensorProto()
        t.name, t.data_type = "i4", 22
        t.dims.extend([5])
        t.int32_data.extend([0x8F, 0x71, 0x03])
        inits.append(t)
    # a scalar and an empty tensor
    inits.append(helper.make_tensor("scalar", TensorProto.FLOAT, [], [42.0]))
    inits.append(raw_tensor("empty", TensorProto.FLOAT, [0, 3], b""))
    return relu_model(inits=inits)


def make_valid():
    save("valid/dtypes_typed.onnx", make_dtypes(raw=False))
    save("valid/dtypes_raw.onnx", make_dtypes(raw=True))

    # Constant nodes of every supported form, consumed by Relu/Identity
    c = helper.make_tensor("cv", TensorProto.FLOAT, [2, 2], [1.0, -2.0, 3.0, -4.0])
    nodes = [
        helper.make_node("Constant", [], ["c_tensor"], name="k0", value=c),
        helper.make_node("Constant", [], ["c_float"], name="k1", value_float=2.5),
        helper.make_node("Constant", [], ["c_floats"], name="k2", value_floats=[1.5, -0.5, 2.0]),
        helper.make_node("Constant", [], ["c_int"], name="k3", value_int=-7),
        helper.make_node("Constant", [], ["c_ints"], name="k4", value_ints=[3, -4, 5, 6]),
        helper.make_node("Relu", ["c_tensor"], ["r"], name="relu"),
        helper.make_node("Identity", ["c_ints"], ["ints_out"], name="ident"),
    ]
    save("valid/constants.onnx", model_of(
        nodes, [], [fin("r", [2, 2]), fin("ints_out", [4], TensorProto.INT64),
                    fin("c_float", [], TensorProto.FLOAT)]))

    # an initializer also listed as a graph input (old exporters do this) and
    # a symbolic batch dim
    w = helper.make_tensor("w", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    save("valid/init_as_input.onnx", model_of(
        [helper.make_node("Relu", ["x"], ["y"], name="relu"),
         helper.make_node("Identity", ["w"], ["w_out"], name="ident")],
        [fin("x", ["N", 3]), fin("w", [3])], [fin("y", ["N", 3]), fin("w_out", [3])], [w]))

    # unnamed and duplicate-named nodes, listed out of topological order
    save("valid/unnamed_unsorted.onnx", model_of(
        [helper.make_node("Relu", ["b"], ["c"]),                  # needs b: runs last
         helper.make_node("Identity", ["a"], ["b"], name="dup"),
         helper.make_node("Relu", ["x"], ["a"], name="dup"),
         helper.make_node("Identity", ["c"], ["d"], name="Relu_0")],  # clashes with invented name
        [fin("x", [1])], [fin("d", [1])],
        value_info=[fin("a", [1]), fin("b", [1])]))

    # every attribute type on one node (Relu ignores them; the loader keeps them)
    sub = helper.make_graph([helper.make_node("Relu", ["p"], ["q"])], "sub",
                            [fin("p", [1])], [fin("q", [1])])
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    node.attribute.extend([
        helper.make_attribute("af", 0.25),
        helper.make_attribute("ai", -3),
        helper.make_attribute("as", b"hello"),
        helper.make_attribute("at", helper.make_tensor("t", TensorProto.INT32, [2], [5, -6])),
        helper.make_attribute("ag", sub),
        helper.make_attribute("afs", [1.0, 2.0]),
        helper.make_attribute("ais", [7, 8, 9]),
        helper.make_attribute("ass", [b"a", b"bc"]),
    ])
    empty_ints = onnx.AttributeProto()
    empty_ints.name, empty_ints.type = "empty_ints", onnx.AttributeProto.INTS
    node.attribute.append(empty_ints)
    save("valid/attrs.onnx", model_of([node], [fin("x", [2, 3])], [fin("y", [2, 3])]))

    # external data inside the model's folder, in a subfolder, at an offset
    data = np.arange(6, dtype=np.float32) - 2.5
    os.makedirs(os.path.join(VALID, "ext", "weights"), exist_ok=True)
    write("valid/ext/weights/w.bin", b"\xde\xad\xbe\xef" * 2 + data.tobytes() + b"tail")
    save("valid/ext/model.onnx", ext_model([("location", "weights/w.bin"), ("offset", "8"),
                                            ("length", "24")]))
    # no length: to the end of the file
    write("valid/ext/whole.bin", data.tobytes())
    save("valid/ext/whole.onnx", ext_model([("location", "./whole.bin")]))


# ---- hostile models ----------------------------------------------------------------

def make_hostile():
    good = relu_model().SerializeToString()

    # --- wire format ---
    hostile("empty.onnx", b"", "the file is empty")
    # cut inside the graph field: its length now runs past the end
    hostile("truncated.onnx", good[: len(good) // 2], "runs past the end of its message")
    rng = random.Random(1234)
    hostile("random_bytes.onnx", bytes(rng.randrange(256) for _ in range(4096)),
            "not a valid ONNX model")
    hostile("text.onnx", b"this is not an onnx model, just some text\n", "not a valid ONNX model")
    hostile("varint_endless.onnx", vi(1, 8) + tag(5, 0) + b"\xff" * 32,
            "malformed or truncated varint")
    hostile("varint_truncated.onnx", vi(1, 8) + tag(5, 0) + b"\xff\xff", "malformed or truncated varint")
    hostile("tag_endless.onnx", vi(1, 8) + b"\x80" * 16, "malformed or truncated field tag")
    hostile("wire_type7.onnx", vi(1, 8) + tag(3, 7) + b"\x00", "invalid wire type 7")
    hostile("wire_type6.onnx", vi(1, 8) + tag(3, 6) + b"\x00", "invalid wire type 6")
    hostile("wire_group.onnx", vi(1, 8) + tag(3, 3) + tag(3, 4), "groups (wire type 3)")
    hostile("field_zero.onnx", vi(1, 8) + tag(0, 0) + b"\x01", "invalid field number")
    hostile("length_past_end.onnx", vi(1, 8) + tag(7, 2) + varint(1000) + b"\x0a\x00",
            "length 1000 runs past the end")
    # a node whose declared length is longer than its graph
    hostile("inner_length_past_end.onnx", vi(1, 8) + ld(7, tag(1, 2) + varint(50) + b"\x0a\x01x"),
            "length 50 runs past the end")
    hostile("fixed64_truncated.onnx", vi(1, 8) + tag(9, 1) + b"\x01\x02", "truncated 8-byte value")
    hostile("no_graph.onnx", vi(1, 8) + ld(2, b"someone"), "the model has no graph")

    # ~3000 levels of graph -> node -> attribute -> graph (about 30 KB)
    inner = b""
    for _ in range(3000):
        attr = ld(1, b"g") + vi(20, 5) + ld(6, inner)
        inner = ld(1, ld(5, attr))          # GraphProto{ node { attribute { ... } } }
    hostile("deep_nesting.onnx", vi(1, 8) + ld(7, inner), "nested more than 64 deep")
    # deep TypeProto nesting through sequence types on an input
    t = ld(1, vi(1, 1))                       # tensor_type { elem_type: FLOAT }
    for _ in range(500):
        t = ld(4, ld(1, t))                    # sequence_type { elem_type: t }
    hostile("deep_type.onnx", vi(1, 8) + ld(7, ld(11, ld(1, b"x") + ld(2, t))),
            "nested more than 64 deep")

    # --- tensors ---
    hostile("init_negative_dim.onnx", relu_model(inits=[raw_tensor("w", 1, [2, -3], b"")]),
            "initializer 'w': dimension 1 is negative (-3)")
    hostile("init_huge_dim.onnx", relu_model(inits=[raw_tensor("w", 1, [2**40], b"")]),
            "initializer 'w': shape [1099511627776] is larger than")
    hostile("init_dims_overflow.onnx",
            relu_model(inits=[raw_tensor("w", 1, [2**31, 2**31, 2**31, 2**31], b"")]),
            "initializer 'w': shape [2147483648,2147483648,2147483648,2147483648] is larger than")
    hostile("init_raw_short.onnx", relu_model(inits=[raw_tensor("w", 1, [2, 3], b"\0" * 8)]),
            "initializer 'w': raw_data has 8 bytes, shape [2,3] of float32 needs 24")
    hostile("init_raw_long.onnx", relu_model(inits=[raw_tensor("w", 1, [2, 3], b"\0" * 28)]),
            "initializer 'w': raw_data has 28 bytes")
    # the largest tensor the limit allows (16 GiB) with almost no data: refused
    # before anything is allocated
    hostile("init_16g_raw.onnx", relu_model(inits=[raw_tensor("w", 1, [2**31, 2], b"\0" * 4)]),
            "initializer 'w': raw_data has 4 bytes, shape [2147483648,2] of float32 needs "
            "17179869184")
    hostile("init_16g_typed.onnx", relu_model(inits=[loose_tensor("w", 1, [2**31, 2], [1.0])]),
            "initializer 'w': float_data holds 1 values, the shape needs 4294967296")
    hostile("ext_16g.onnx", ext_model([("location", "ext_w.bin")], dims=(2**31, 2)),
            "initializer 'w': external data length 24 does not match the tensor's 17179869184 bytes")
    hostile("init_typed_count.onnx",
            relu_model(inits=[loose_tensor("w", 1, [5], [1.0, 2.0])]),
            "initializer 'w': float_data holds 2 values, the shape needs 5")
    hostile("init_no_data.onnx", relu_model(inits=[loose_tensor("w", TensorProto.INT64, [4], [])]),
            "initializer 'w': int64_data holds 0 values, the shape needs 4")
    t = TensorProto()
    t.name, t.data_type = "w", TensorProto.INT8
    t.dims.append(2)
    t.int32_data.extend([5, 300])
    hostile("init_int8_range.onnx", relu_model(inits=[t]),
            "initializer 'w': int32_data[1] = 300 is out of range")
    t = TensorProto()
    t.name, t.data_type = "w", TensorProto.UINT32
    t.dims.append(1)
    t.uint64_data.append(2**40)
    hostile("init_uint32_range.onnx", relu_model(inits=[t]), "is out of range for uint32")
    hostile("init_unknown_dtype.onnx", relu_model(inits=[raw_tensor("w", 99, [1], b"\0")]),
            "initializer 'w': unknown element type 99")
    t = TensorProto()
    t.name = "w"
    t.dims.append(1)
    t.float_data.append(1.0)
    hostile("init_no_dtype.onnx", relu_model(inits=[t]), "initializer 'w': has no data type")
    hostile("init_string.onnx",
            relu_model(inits=[helper.make_tensor("w", TensorProto.STRING, [1], [b"hi"])]),
            "initializer 'w': string tensors are not supported")
    hostile("init_complex.onnx", relu_model(inits=[raw_tensor("w", 14, [1], b"\0" * 8)]),
            "initializer 'w': complex tensors are not supported")
    hostile("init_rank9.onnx", relu_model(inits=[raw_tensor("w", 1, [1] * 9, b"\0" * 4)]),
            "initializer 'w': rank 9 exceeds the limit of 8")
    t = raw_tensor("w", 1, [1], b"\0" * 4)
    t.segment.begin, t.segment.end = 0, 1
    hostile("init_segment.onnx", relu_model(inits=[t]), "segmented tensors are not supported")
    hostile("init_no_name.onnx", relu_model(inits=[raw_tensor("", 1, [1], b"\0" * 4)]),
            "initializer #0 has no name")
    hostile("init_duplicate.onnx",
            relu_model(inits=[raw_tensor("w", 1, [1], b"\0" * 4), raw_tensor("w", 1, [1], b"\0" * 4)]),
            "initializer 'w' is defined more than once")
    sp = onnx.SparseTensorProto()
    sp.dims.append(4)
    sp.values.CopyFrom(helper.make_tensor("sv", 1, [1], [1.0]))
    sp.indices.CopyFrom(helper.make_tensor("si", TensorProto.INT64, [1], [2]))
    m = relu_model()
    m.graph.sparse_initializer.append(sp)
    hostile("sparse_initializer.onnx", m, "sparse initializers are not supported")

    # --- value types ---
    hostile("input_negative_dim.onnx", relu_model(inputs=[fin("x", [2, -5])]),
            "graph input 'x': dimension 1 is negative (-5)")
    hostile("input_huge_dims.onnx", relu_model(inputs=[fin("x", [2**40, 2**40])]),
            "graph input 'x': shape [1099511627776,1099511627776] is larger than")
    hostile("input_rank9.onnx", relu_model(inputs=[fin("x", [1] * 9)]),
            "graph input 'x': rank 9 exceeds the limit of 8")
    hostile("input_unknown_dtype.onnx", relu_model(inputs=[fin("x", [2, 3], 99)]),
            "graph input 'x': unknown element type 99")
    hostile("input_no_elem_type.onnx", relu_model(inputs=[fin("x", [2, 3], 0)]),
            "graph input 'x': has no element type")
    vin = onnx.ValueInfoProto()
    vin.name = "x"
    hostile("input_no_type.onnx", relu_model(inputs=[vin]), "graph input 'x': has no type")
    hostile("input_string.onnx", relu_model(inputs=[fin("x", [2], TensorProto.STRING)]),
            "graph input 'x': string tensors are not supported")
    seq = helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, [2])
    hostile("input_sequence.onnx", relu_model(inputs=[seq]),
            "graph input 'x': is a sequence; only tensors are supported")
    hostile("input_duplicate.onnx", relu_model(inputs=[fin("x", [2, 3]), fin("x", [2, 3])]),
            "graph input 'x' is listed more than once")
    hostile("input_no_name.onnx", relu_model(inputs=[fin("", [2, 3])]), "graph input #0 has no name")
    hostile("output_duplicate.onnx", relu_model(outputs=[fin("y", [2, 3]), fin("y", [2, 3])]),
            "graph output 'y' is listed more than once")
    hostile("output_undefined.onnx", relu_model(outputs=[fin("y", [2, 3]), fin("z", [2, 3])]),
            "graph output 'z' is not produced by any node")

    # --- graph structure ---
    hostile("cycle.onnx", model_of(
        [helper.make_node("Relu", ["c"], ["a"], name="n_a"),
         helper.make_node("Identity", ["a"], ["b"], name="n_b"),
         helper.make_node("Relu", ["b"], ["c"], name="n_c"),
         helper.make_node("Relu", ["x"], ["y"], name="n_y")],
        [fin("x", [1])], [fin("y", [1]), fin("c", [1])]), "the graph has a cycle")
    hostile("cycle_relu.onnx", model_of(
        [helper.make_node("Relu", ["b"], ["a"], name="n_a"),
         helper.make_node("Relu", ["a"], ["b"], name="n_b"),
         helper.make_node("Relu", ["x"], ["y"], name="n_y")],
        [fin("x", [1])], [fin("y", [1]), fin("b", [1])]), "the graph has a cycle")
    hostile("self_loop.onnx", model_of(
        [helper.make_node("Relu", ["x"], ["y"], name="relu"),
         helper.make_node("Relu", ["s"], ["s"], name="selfie")],
        [fin("x", [1])], [fin("y", [1]), fin("s", [1])]),
        "node 'selfie' (Relu): the graph has a cycle")
    hostile("undefined_input.onnx", model_of(
        [helper.make_node("Relu", ["nope"], ["y"], name="relu")], [fin("x", [1])], [fin("y", [1])]),
        "node 'relu' (Relu): input is not defined: 'nope'")
    # error text is printed: control characters from the file must not reach the terminal
    hostile("escape_in_name.onnx", model_of(
        [helper.make_node("Relu", ["\x1b[2J\x07gone"], ["y"], name="\x1b[31mred")],
        [fin("x", [1])], [fin("y", [1])]),
        "node '?[31mred' (Relu): input is not defined: '?[2J?gone'")
    hostile("duplicate_node_output.onnx", model_of(
        [helper.make_node("Relu", ["x"], ["y"], name="r1"),
         helper.make_node("Identity", ["x"], ["y"], name="r2")], [fin("x", [1])], [fin("y", [1])]),
        "node 'r2' (Identity): output 'y' is already defined")
    hostile("node_output_is_input.onnx", model_of(
        [helper.make_node("Relu", ["x"], ["x"], name="r1")], [fin("x", [1])], [fin("x", [1])]),
        "node 'r1' (Relu): output 'x' is already defined")
    hostile("node_output_is_init.onnx", model_of(
        [helper.make_node("Relu", ["x"], ["w"], name="r1")], [fin("x", [1])], [fin("w", [1])],
        [helper.make_tensor("w", 1, [1], [1.0])]),
        "node 'r1' (Relu): output 'w' is already defined")
    hostile("unsupported_op.onnx", model_of(
        [helper.make_node("FooBar", ["x"], ["y"], name="foo")], [fin("x", [1])], [fin("y", [1])]),
        "node 'foo' (FooBar): operator 'FooBar' is not supported")
    hostile("unsupported_domain.onnx", model_of(
        [helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.evil")],
        [fin("x", [1])], [fin("y", [1])]),
        "node 'r' (Relu): operator domain 'com.evil' is not supported")
    hostile("node_no_op_type.onnx", model_of(
        [helper.make_node("", ["x"], ["y"], name="blank")], [fin("x", [1])], [fin("y", [1])]),
        "node 'blank': has no op_type")
    # found by fuzzing: an empty first output reached Relu's prepare() as NULL
    hostile("node_output_empty.onnx", model_of(
        [helper.make_node("Relu", ["x"], [""], name="r"),
         helper.make_node("Relu", ["x"], ["y"], name="r2")], [fin("x", [1])], [fin("y", [1])]),
        "node 'r' (Relu): output 0 has no name")
    n = helper.make_node("Relu", ["x"], ["y"], name="r")
    a = n.attribute.add()
    a.type, a.i = onnx.AttributeProto.INT, 1
    hostile("attr_no_name.onnx", model_of([n], [fin("x", [1])], [fin("y", [1])]),
            "node 'r' (Relu): an attribute has no name")
    n = helper.make_node("Relu", ["x"], ["y"], name="r",
                         bad=loose_tensor("t", 1, [3], [1.0]))
    hostile("attr_bad_tensor.onnx", model_of([n], [fin("x", [1])], [fin("y", [1])]),
            "node 'r' (Relu): attribute 'bad': float_data holds 1 values, the shape needs 3")
    hostile("if_subgraph.onnx", model_of(
        [helper.make_node("If", ["c"], ["y"], name="cond",
                          then_branch=helper.make_graph([], "t", [], [fin("x", [1])]),
                          else_branch=helper.make_graph([], "e", [], [fin("x", [1])]))],
        [fin("x", [1]), fin("c", [], TensorProto.BOOL)], [fin("y", [1])]),
        "node 'cond' (If): operator 'If' is not supported")

    # --- Constant nodes ---
    hostile("constant_no_value.onnx", model_of(
        [helper.make_node("Constant", [], ["k"], name="k")], [], [fin("k", [1])]),
        "node 'k' (Constant): has no value attribute")
    hostile("constant_string.onnx", model_of(
        [helper.make_node("Constant", [], ["k"], name="k", value_string="hi")], [], [fin("k", [])]),
        "node 'k' (Constant): string constants are not supported")
    hostile("constant_two_values.onnx", model_of(
        [helper.make_node("Constant", [], ["k"], name="k", value_int=1, value_float=2.0)], [],
        [fin("k", [])]), "node 'k' (Constant): has more than one value attribute")
    hostile("constant_bad_tensor.onnx", model_of(
        [helper.make_node("Constant", [], ["k"], name="k",
                          value=raw_tensor("v", 1, [4], b"\0" * 3))], [], [fin("k", [4])]),
        "node 'k' (Constant): attribute 'value': raw_data has 3 bytes")
    hostile("constant_duplicate.onnx", model_of(
        [helper.make_node("Constant", [], ["x"], name="k", value_int=1)],
        [fin("x", [1])], [fin("x", [1])]), "node 'k' (Constant): output 'x' is already defined")

    # --- wrong attribute types: the loader keeps them, the op refuses at planning ---
    hostile("conv_strides_float.onnx", model_of(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", strides=1.5)],
        [fin("x", [1, 1, 4, 4])], [fin("y", [1, 1, 4, 4])],
        [helper.make_tensor("w", 1, [1, 1, 1, 1], [1.0])]),
        "node 'conv' (Conv): attribute 'strides' has type float, expected ints", "plan")
    hostile("relu_missing_input.onnx", model_of(
        [helper.make_node("Relu", [], ["y"], name="relu")], [], [fin("y", [1])]),
        "node 'relu' (Relu):", "plan")

    # --- external data (w is float [2,3] = 24 bytes; ext_w.bin holds 24 bytes) ---
    write("ext_w.bin", np.arange(6, dtype=np.float32).tobytes())
    os.makedirs(os.path.join(OUT, "ext_folder"), exist_ok=True)
    write("ext_folder/inner.bin", np.arange(6, dtype=np.float32).tobytes())
    hostile("ext_absolute.onnx", ext_model([("location", "/etc/passwd")]),
            "initializer 'w': external data location '/etc/passwd' is an absolute path")
    hostile("ext_dotdot.onnx", ext_model([("location", "../onnx/ext_w.bin")]),
            "initializer 'w': external data location '../onnx/ext_w.bin' contains '..'")
    hostile("ext_dotdot_inner.onnx", ext_model([("location", "ext_folder/../../x.bin")]),
            "contains '..'")
    hostile("ext_empty_location.onnx", ext_model([("location", "")]),
            "initializer 'w': external data location is empty")
    hostile("ext_no_location.onnx", ext_model([("offset", "0")]),
            "initializer 'w': external data has no location")
    hostile("ext_missing_file.onnx", ext_model([("location", "no_such_file.bin")]),
            "external data file 'no_such_file.bin': No such file or directory")
    hostile("ext_directory.onnx", ext_model([("location", "ext_folder")]),
            "external data file 'ext_folder' is not a regular file")
    hostile("ext_dot.onnx", ext_model([("location", ".")]), "names a folder")
    hostile("ext_negative_offset.onnx", ext_model([("location", "ext_w.bin"), ("offset", "-4")]),
            "initializer 'w': external data offset '-4' is negative")
    hostile("ext_negative_length.onnx", ext_model([("location", "ext_w.bin"), ("length", "-24")]),
            "external data length '-24' is negative")
    hostile("ext_bad_number.onnx", ext_model([("location", "ext_w.bin"), ("offset", "12abc")]),
            "external data offset '12abc' is not a number")
    hostile("ext_huge_offset.onnx",
            ext_model([("location", "ext_w.bin"), ("offset", "99999999999999999999")]),
            "external data offset '99999999999999999999' is too large")
    hostile("ext_offset_past_end.onnx", ext_model([("location", "ext_w.bin"), ("offset", "1000")]),
            "external data offset 1000 is past the end of 'ext_w.bin' (24 bytes)")
    hostile("ext_range_past_end.onnx",
            ext_model([("location", "ext_w.bin"), ("offset", "16"), ("length", "24")]),
            "external data range 16+24 runs past the end of 'ext_w.bin'")
    hostile("ext_length_mismatch.onnx", ext_model([("location", "ext_w.bin"), ("length", "20")]),
            "external data length 20 does not match the tensor's 24 bytes")
    hostile("ext_short_file.onnx", ext_model([("location", "ext_w.bin"), ("offset", "8")]),
            "external data length 16 does not match the tensor's 24 bytes")
    hostile("ext_file_is_parent.onnx", ext_model([("location", "ext_w.bin/x")]),
            "'ext_w.bin' is not a folder")
    # made at test time by test_onnx_load.c next to a copy of the model
    hostile("ext_symlink.onnx", ext_model([("location", "ext_sym.bin")]),
            "external data file 'ext_sym.bin': 'ext_sym.bin' is a symbolic link", "setup")
    hostile("ext_parent_symlink.onnx", ext_model([("location", "ext_linkdir/inner.bin")]),
            "external data file 'ext_linkdir/inner.bin': 'ext_linkdir' is a symbolic link", "setup")
    hostile("ext_hardlink.onnx", ext_model([("location", "ext_hard.bin")]),
            "external data file 'ext_hard.bin' has 2 hard links", "setup")
    hostile("ext_fifo.onnx", ext_model([("location", "ext_fifo.bin")]),
            "external data file 'ext_fifo.bin' is not a regular file", "setup")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(VALID)
    make_valid()
    make_hostile()
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("# Generated by tests/hostile/make_onnx_corpus.py - do not edit.\n"
                "# file<TAB>substring of the expected error message[<TAB>plan|setup]\n"
                "# plan: loads; the executor's planner refuses it.  setup: needs a symlink,\n"
                "# hard link or FIFO created at test time (see tests/unit/test_onnx_load.c).\n")
        for name, msg, t in expected:
            f.write(f"{name}\t{msg}" + (f"\t{t}" if t else "") + "\n")
    total = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(OUT) for x in fs)
    print(f"{len(expected)} hostile cases, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
