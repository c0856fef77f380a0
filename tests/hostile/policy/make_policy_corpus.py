#!/usr/bin/python3
"""Generate the policy-file hostile corpus (tests/hostile/policy/): policy files
that policy_doc_load must refuse for sample-models/fashion-mobilenet.

Run with Debian's interpreter (standard library only), from a valid int8
policy of fashion-mobilenet:
    build/ui/qlens policy sample-models/fashion-mobilenet --preset int8 --out /tmp/ok.json
    /usr/bin/python3 tests/hostile/policy/make_policy_corpus.py /tmp/ok.json [OUTDIR]

To keep the files small, the base keeps only the first node of "nodes" (a
policy need not list every node; the others use "defaults").  Every other
file is that base with one defect, listed in cases.txt as
    file<TAB>substring of the error message
The files are committed; this script is only for regenerating them.  The test
(tests/hostile/cli.sh) loads each one with `qlens export
sample-models/fashion-mobilenet --policy FILE --trt-precisions OUT`, which
reads the policy right after the model, and checks for one error line naming
the file and holding the substring, a non-zero exit, no stdout and no OUT.

Not cases, because the loader accepts them by design: a policy without
"model" (it is optional), without "nodes", or listing only some nodes.  A
"model" sha256 that is valid hex but not the model's gives a warning plus an
error (two lines), and is tested elsewhere (tests/integration).
"""
import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus import write_cases  # noqa: E402

NODE0 = "/features/features.0/Conv"
CLIP = "/features/features.2/Clip"


def dump(doc):
    return json.dumps(doc, indent="\t", ensure_ascii=False) + "\n"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_policy_corpus.py OK_POLICY.json [OUTDIR]")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    full = json.load(open(sys.argv[1]))
    base = copy.deepcopy(full)
    base["nodes"] = {NODE0: full["nodes"][NODE0]}
    text = dump(base)
    cases = []

    def sub(old, new):
        assert old in text, old
        return text.replace(old, new, 1)

    def raw(name, data, msg):
        cases.append((name, data if isinstance(data, bytes) else data.encode(), msg))

    def mut(name, fn, msg):
        d = copy.deepcopy(base)
        fn(d)
        raw(name, dump(d), msg)

    def t0(d):
        return d["nodes"][NODE0]["tensors"]

    def in0(d):
        return t0(d)["inputs"][0]

    def setk(obj, k, v):
        obj[k] = v

    # not JSON, or not an object
    raw("empty.json", b"", "not valid JSON")
    raw("not_json.json", "format = qlens-policy\nversion = 1\n", "not valid JSON (line 1, column 1)")
    raw("truncated.json", text[: len(text) // 2], "not valid JSON")
    raw("binary.json", b"\x00\xff\xfe\x93NUMPY\x01\x00", "not valid JSON (line 1, column")
    raw("trailing_garbage.json", text + "}\n", "not valid JSON (line %d, column 1)" % (text.count("\n") + 1))
    raw("scale_nan.json", sub('"scale": %r' % in0(base)["scale"], '"scale": NaN'),
        "not valid JSON")
    raw("nesting_2000.json", sub('"label": "int8"', '"label": ' + "[" * 2000 + "]" * 2000),
        "not valid JSON")
    # the recorded evaluation: a literal past the double range parses as inf
    # (fuzz finding: it was written back as null and the saved file did not load)
    ci = json.dumps(base["evaluation"]["ci95"][0])
    raw("ci95_overflow.json", sub(ci, "-1e999"),
        "evaluation: 'ci95' must be [low, high]: two finite numbers, low <= high")
    mut("ci95_reversed.json", lambda d: setk(d["evaluation"], "ci95", [0.01, -0.01]),
        "evaluation: 'ci95' must be [low, high]: two finite numbers, low <= high")
    sq = json.dumps(base["evaluation"]["sqnr_db"])
    raw("sqnr_overflow.json", sub(sq, "1e999"),
        "evaluation: 'sqnr_db' must be a finite number or null (exact)")
    raw("top_array.json", "[" + text + "]\n", "top level: expected an object")
    raw("top_string.json", '"qlens-policy"\n', "top level: expected an object")
    # top level
    mut("format_wrong.json", lambda d: setk(d, "format", "qlens-bundle"),
        "'format' must be \"qlens-policy\" (is this a qlens policy?)")
    mut("format_missing.json", lambda d: d.pop("format"), "missing 'format'")
    mut("format_number.json", lambda d: setk(d, "format", 1), "'format' must be a string")
    mut("version_2.json", lambda d: setk(d, "version", 2), "version 2 is not supported")
    mut("version_string.json", lambda d: setk(d, "version", "1"), "'version' must be a number")
    mut("version_fraction.json", lambda d: setk(d, "version", 1.5), "'version' must be a whole number")
    mut("defaults_missing.json", lambda d: d.pop("defaults"), "missing 'defaults'")
    mut("unknown_top_key.json", lambda d: setk(d, "comment", "hi"), "unknown key 'comment'")
    # a key that would clear the screen and set the window title when printed
    mut("unknown_key_escape.json", lambda d: setk(d, "\x1b[2J\x1b]0;owned\x07\u009b1m", "hi"),
        "unknown key '?[2J?]0;owned???1m'")
    raw("duplicate_top_key.json", sub('"version": 1,', '"version": 1,\n\t"version": 1,'),
        "key 'version' appears twice")
    mut("model_sha256_not_hex.json", lambda d: setk(d["model"], "sha256", "xyz"),
        "'sha256' must be 64 lower-case hex digits")
    mut("model_array.json", lambda d: setk(d, "model", ["model.onnx"]), "model: expected an object")
    # defaults
    mut("weight_format_unknown.json", lambda d: setk(d["defaults"], "weight_format", "int7"),
        "unknown format 'int7' in 'weight_format'")
    mut("activation_format_number.json", lambda d: setk(d["defaults"], "activation_format", 8),
        "'activation_format' must be a string")
    mut("granularity_unknown.json", lambda d: setk(d["defaults"], "granularity", "per-row"), "per-row")
    mut("granularity_wrong_for_format.json",
        lambda d: (setk(d["defaults"], "weight_format", "fp16"),
                   setk(d["defaults"], "activation_format", "fp16")),
        "granularity 'per-channel' is not available for fp16 weights")
    mut("block_size_not_per_block.json", lambda d: setk(d["defaults"], "block_size", 32),
        "'block_size' is only meaningful with granularity 'per-block'")
    mut("percentile_with_minmax.json", lambda d: setk(d["defaults"]["calibrator"], "percentile", 99.9),
        "'percentile' is only meaningful with method 'percentile'")
    mut("symmetric_string.json", lambda d: setk(d["defaults"], "activation_symmetric", "yes"),
        "'activation_symmetric' must be true or false")
    mut("defaults_unknown_key.json", lambda d: setk(d["defaults"], "bits", 8), "unknown key 'bits'")
    # nodes
    mut("nodes_array.json", lambda d: setk(d, "nodes", []), "nodes: expected an object keyed by node name")
    mut("unknown_node.json", lambda d: setk(d["nodes"], "/features/nope/Conv", d["nodes"][NODE0]),
        "the model has no node named '/features/nope/Conv'")
    mut("node_wrong_op_type.json", lambda d: setk(d["nodes"][NODE0], "op_type", "Gemm"),
        "node '%s' is a Conv in the model, not a Gemm" % NODE0)
    mut("node_not_quantizable.json",
        lambda d: setk(d["nodes"], CLIP, {"op_type": "Clip", "precision": dict(d["defaults"])}),
        "node '%s' (Clip) is not quantizable" % CLIP)
    raw("node_twice.json", sub('\t"nodes": {\n', '\t"nodes": {\n\t\t"%s": {"op_type": "Conv"},\n' % NODE0),
        "node listed twice")
    mut("node_unknown_key.json", lambda d: setk(d["nodes"][NODE0], "comment", "x"), "unknown key 'comment'")
    # recorded tensors
    mut("tensor_unknown.json", lambda d: setk(in0(d), "name", "nope"), "the model has no tensor 'nope'")
    mut("tensor_format_unknown.json", lambda d: setk(in0(d), "format", "uint9"), "unknown format 'uint9'")
    mut("scale_negative.json", lambda d: setk(in0(d), "scale", -0.5), "'scale' must be positive")
    mut("scale_zero.json", lambda d: setk(in0(d), "scale", 0), "'scale' must be positive")
    mut("scale_below_float.json", lambda d: setk(in0(d), "scale", 1e-50), "'scale' must be positive")
    mut("scale_over_float.json", lambda d: setk(in0(d), "scale", 1e39),
        "'scale' value 1e+39 is out of the 32-bit float range")
    mut("scale_string.json", lambda d: setk(in0(d), "scale", "0.01"), "'scale' must be a number")
    mut("scale_without_zero_point.json", lambda d: in0(d).pop("zero_point"),
        "give both 'scale' and 'zero_point' or neither")
    mut("zero_point_over.json", lambda d: setk(in0(d), "zero_point", 256),
        "'zero_point' must be a whole number from 0 to 255")
    mut("zero_point_fraction.json", lambda d: setk(in0(d), "zero_point", 7.5),
        "'zero_point' must be a whole number from 0 to 255")
    mut("range_reversed.json", lambda d: setk(in0(d), "range", [2.0, -1.0]), "'range' must have rmin <= rmax")
    mut("range_three.json", lambda d: setk(in0(d), "range", [0, 1, 2]), "'range' must be [rmin, rmax]")
    mut("weight_scales_count.json", lambda d: t0(d)["weight"]["scales"].pop(),
        "'scales' has 15 entries, 'zero_points' 16")
    mut("weight_scales_negative.json", lambda d: t0(d)["weight"]["scales"].__setitem__(3, -1.0),
        "'scales' must be positive")
    mut("weight_zero_points_range.json", lambda d: t0(d)["weight"]["zero_points"].__setitem__(0, 128),
        "'zero_points' must hold whole numbers from -128 to 127 for int8")
    mut("weight_axis_per_tensor.json", lambda d: setk(t0(d)["weight"], "granularity", "per-tensor"),
        "'axis' is given exactly when the granularity is not per-tensor")
    mut("bias_int8.json", lambda d: setk(t0(d)["bias"], "format", "int8"), "a bias is stored as 'int32'")
    mut("bias_scales_empty.json", lambda d: setk(t0(d)["bias"], "scales", []), "'scales' must not be empty")

    write_cases(out, ["Generated by tests/hostile/policy/make_policy_corpus.py - do not edit.",
                      "file<TAB>substring of the error message (the model: sample-models/fashion-mobilenet)"],
                cases, "policy")


if __name__ == "__main__":
    main()
