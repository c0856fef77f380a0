#!/usr/bin/python3
"""Generate the bundle corpus (tests/hostile/bundle/): one valid bundle and many bad ones.

Run with Debian's interpreter (it has python3-onnx and numpy):
    /usr/bin/python3 tests/hostile/bundle/make_bundle_corpus.py [OUTDIR]

ok/ is a valid bundle with a tiny model, used by tests/unit/test_bundle.c for the
positive tests; its numbers are part of the test:
    model.onnx   x float32 [N,4] -> Gemm(W [3,4] = rows (1,0,0,0), (0,1,0,0), (0,0,1,0),
                 transB=1, bias (0.5,-0.5,0)) -> logits float32 [N,3]; opset 13
    calib.npy    float32 [8,4], element i = i / 10
    eval.npy     float32 [6,4], element i = i
    labels.npy   int64 [6] = 2,0,1,2,2,1 (the model gets 3 of 6 right: fp32_top1_eval 0.5)
Every other folder is one case: a bundle.json (plus whatever files it needs),
listed in expected.txt as
    folder<TAB>STATUS<TAB>substring of the message
STATUS is the status name bundle_open must return (ERR_FORMAT, ERR_IO, ...);
OK marks bundles that must open (substring '-').  Data files of hostile cases
point into ../ok/, which doubles as the check that '..' is allowed: bundles
may share data folders (the sample bundles use ../data/), so bundle paths are
not confined to the bundle folder.  Cases git cannot hold or that would be big
(2 MB bundle.json, 100000-deep nesting, FIFO, symlink to /dev/zero) are made at
test time by test_bundle.c.
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
expected = []

OK_JSON = """{
  "format": "qlens-bundle",
  "version": 1,
  "name": "tiny",
  "description": "three-class linear model on four features",
  "model": "model.onnx",
  "input": "x",
  "calibration": { "data": "calib.npy" },
  "evaluation": { "data": "eval.npy", "labels": "labels.npy" },
  "task": { "type": "classification", "metric": "top1", "classes": ["a", "b", "c"] },
  "preprocessing": "none",
  "provenance": { "fp32_top1_eval": 0.5, "fp32_top1_test": 0.25, "seed": 1 }
}
"""


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def tiny_model():
    w = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
    b = np.array([0.5, -0.5, 0], dtype=np.float32)
    node = helper.make_node("Gemm", ["x", "W", "B"], ["logits"], name="fc", transB=1)
    g = helper.make_graph([node], "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
                          initializer=[helper.make_tensor("W", TensorProto.FLOAT, [3, 4], w.flatten()),
                                       helper.make_tensor("B", TensorProto.FLOAT, [3], b)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="qlens-corpus")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def npy(arr):
    import io
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def case(folder, status, msg, text, files=()):
    """text: bundle.json content (str or bytes), None for no bundle.json."""
    if text is not None:
        write(os.path.join(folder, "bundle.json"), text)
    for rel, data in files:
        write(os.path.join(folder, rel), data)
    expected.append((folder, status, msg))


def bundle(**over):
    """A bundle.json text: the ok bundle's keys pointing into ../ok/, with changes.
    A value of None drops the key; keys are written in a fixed order."""
    d = {
        "format": '"qlens-bundle"',
        "version": "1",
        "model": '"../ok/model.onnx"',
        "calibration": '{ "data": "../ok/calib.npy" }',
        "evaluation": '{ "data": "../ok/eval.npy", "labels": "../ok/labels.npy" }',
        "task": '{ "type": "classification", "metric": "top1" }',
    }
    d.update(over)
    body = ",\n".join('  "%s": %s' % (k, v) for k, v in d.items() if v is not None)
    return "{\n" + body + "\n}\n"


def main():
    if os.path.isdir(OUT):
        for name in os.listdir(OUT):
            p = os.path.join(OUT, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
    model = tiny_model()
    write("ok/model.onnx", model)
    write("ok/calib.npy", npy((np.arange(32, dtype=np.float32) / 10).reshape(8, 4)))
    write("ok/eval.npy", npy(np.arange(24, dtype=np.float32).reshape(6, 4)))
    write("ok/labels.npy", npy(np.array([2, 0, 1, 2, 2, 1], dtype=np.int64)))
    write("ok/bundle.json", OK_JSON)
    expected.append(("ok", "OK", "-"))

    # --- must open -------------------------------------------------------------
    case("ok_minimal", "OK", "-", '{"format": "qlens-bundle", "version": 1, "model": "../ok/model.onnx"}')
    case("ok_dotdot", "OK", "-", bundle(reference_logits='"../ok/../ok/eval.npy"'))
    # unknown keys are ignored, even deep ones: 999 levels is within cJSON's limit
    case("ok_nested_999", "OK", "-",
         bundle(extra="[" * 998 + "]" * 998))
    # non-ASCII folder, file and bundle names; the model path spelled with a \u escape
    case("ok_unicode_\u00e9\u6a21\u578b", "OK", "-",
         bundle(name='"\u30d5\u30a1\u30c3\u30b7\u30e7\u30f3 \U0001F9EA"', model='"mod\\u00e8le.onnx"'),
         files=[("mod\u00e8le.onnx", model)])
    case("ok_version_float", "OK", "-", bundle(version="1.0"))
    # an escaped backslash followed by "u0000" is text, not an escaped NUL
    case("ok_escaped_backslash", "OK", "-", bundle(description='"C:\\\\u0000"'))

    # --- not a JSON object -----------------------------------------------------
    case("empty", "ERR_FORMAT", "invalid JSON near line 1", "")
    case("not_json", "ERR_FORMAT", "invalid JSON near line 1", "model = model.onnx\n")
    case("truncated", "ERR_FORMAT", "invalid JSON near line 4",
         '{\n  "format": "qlens-bundle",\n  "version": 1,\n  "model": "../ok/mod')
    case("trailing_garbage", "ERR_FORMAT", "invalid JSON near line 9", bundle() + "}\n")
    case("two_objects", "ERR_FORMAT", "invalid JSON near line 9", bundle() + bundle())
    case("top_array", "ERR_FORMAT", "the top level must be an object", "[" + bundle() + "]")
    case("top_string", "ERR_FORMAT", "the top level must be an object", '"qlens-bundle"')
    case("nul_byte", "ERR_FORMAT", "contains a NUL byte",
         bundle().replace("../ok/model.onnx", "../ok/model.onnx\0.txt").encode())
    case("nul_escape", "ERR_FORMAT", "\\u0000",
         bundle(model='"../ok/model.onnx\\u0000.txt"'))
    case("lone_surrogate", "ERR_FORMAT", "invalid JSON near line 4", bundle(model='"\\ud800.onnx"'))
    # one level over cJSON's nesting limit (1000)
    case("nested_1001", "ERR_FORMAT", "invalid JSON near line 8",
         bundle(extra="[" * 1000 + "]" * 1000))
    case("no_bundle_json", "ERR_IO", "bundle.json: No such file or directory", None,
         files=[("README", "a folder without bundle.json\n")])
    case("bundle_json_is_dir", "ERR_IO", "bundle.json: not a regular file", None,
         files=[("bundle.json/README", "bundle.json is a folder here\n")])

    # --- header ----------------------------------------------------------------
    case("format_wrong", "ERR_FORMAT", "'format' must be \"qlens-bundle\"", bundle(format='"qlens-bundel"'))
    case("format_missing", "ERR_FORMAT", "'format' must be \"qlens-bundle\"", bundle(format=None))
    case("format_number", "ERR_FORMAT", "'format' must be a string", bundle(format="1"))
    case("version_2", "ERR_FORMAT", "'version' must be 1", bundle(version="2"))
    case("version_string", "ERR_FORMAT", "'version' must be 1", bundle(version='"1"'))
    case("version_missing", "ERR_FORMAT", "'version' must be 1", bundle(version=None))
    case("version_huge", "ERR_FORMAT", "'version' must be 1", bundle(version="1e999"))

    # --- model -----------------------------------------------------------------
    case("model_missing", "ERR_FORMAT", "'model' is missing", bundle(model=None))
    case("model_number", "ERR_FORMAT", "'model' must be a string", bundle(model="42"))
    case("model_null", "ERR_FORMAT", "'model' must be a string", bundle(model="null"))
    case("model_empty", "ERR_FORMAT", "'model' is empty", bundle(model='""'))
    case("model_absent", "ERR_IO", "nothere.onnx': No such file or directory",
         bundle(model='"nothere.onnx"'))
    case("model_absolute_absent", "ERR_IO",
         "model '/nonexistent/qlens/model.onnx': No such file or directory",
         bundle(model='"/nonexistent/qlens/model.onnx"'))
    case("model_is_dir", "ERR_FORMAT", "is not a regular file", bundle(model='"."'))
    case("model_escapes_absent", "ERR_IO", "No such file or directory",
         bundle(model='"../../../../../../../../../../nonexistent/model.onnx"'))

    # --- other strings ---------------------------------------------------------
    case("name_object", "ERR_FORMAT", "'name' must be a string", bundle(name="{}"))
    case("input_number", "ERR_FORMAT", "'input' must be a string", bundle(input="0"))
    case("description_array", "ERR_FORMAT", "'description' must be a string",
         bundle(description='["a"]'))

    # --- data files ------------------------------------------------------------
    case("calibration_not_object", "ERR_FORMAT", "'calibration' must be an object",
         bundle(calibration='"../ok/calib.npy"'))
    case("calibration_data_absent", "ERR_IO",
         "calibration.data '", bundle(calibration='{ "data": "calib.npy" }'))
    case("calibration_data_number", "ERR_FORMAT", "'calibration.data' must be a string",
         bundle(calibration='{ "data": 3 }'))
    case("evaluation_array", "ERR_FORMAT", "'evaluation' must be an object", bundle(evaluation="[]"))
    case("evaluation_labels_absent", "ERR_IO", "evaluation.labels '",
         bundle(evaluation='{ "data": "../ok/eval.npy", "labels": "labels.npy" }'))
    case("evaluation_data_empty", "ERR_FORMAT", "'evaluation.data' is empty",
         bundle(evaluation='{ "data": "", "labels": "../ok/labels.npy" }'))
    case("reference_logits_absent", "ERR_IO", "reference_logits '",
         bundle(reference_logits='"ref.npy"'))
    case("reference_logits_is_dir", "ERR_FORMAT", "is not a regular file",
         bundle(reference_logits='"../ok"'))

    # --- task and provenance ---------------------------------------------------
    case("task_detection", "ERR_UNSUPPORTED", "task type 'detection' is not supported",
         bundle(task='{ "type": "detection", "metric": "top1" }'))
    case("metric_map", "ERR_UNSUPPORTED", "metric 'map' is not supported",
         bundle(task='{ "type": "classification", "metric": "map" }'))
    case("task_string", "ERR_FORMAT", "'task' must be an object", bundle(task='"classification"'))
    case("task_type_number", "ERR_FORMAT", "'type' must be a string", bundle(task='{ "type": 1 }'))
    case("provenance_eval_string", "ERR_FORMAT",
         "'provenance.fp32_top1_eval' must be a finite number",
         bundle(provenance='{ "fp32_top1_eval": "0.92" }'))
    case("provenance_test_bool", "ERR_FORMAT", "'provenance.fp32_top1_test' must be a finite number",
         bundle(provenance='{ "fp32_top1_test": true }'))
    # a literal past the double range parses as inf
    case("provenance_eval_overflow", "ERR_FORMAT",
         "'provenance.fp32_top1_eval' must be a finite number",
         bundle(provenance='{ "fp32_top1_eval": 1e999 }'))
    case("provenance_array", "ERR_FORMAT", "'provenance' must be an object",
         bundle(provenance='[0.9]'))

    # --- messages quote bundle.json: control characters become '?' (found by fuzzing) ---
    case("escape_in_path", "ERR_IO", "/?[31mred.onnx': No such file or directory",
         bundle(model='"\\u001b[31mred.onnx"'))
    case("escape_in_task", "ERR_UNSUPPORTED", "task type '?]0;title?' is not supported",
         bundle(task='{ "type": "\\u001b]0;title\\u0007", "metric": "top1" }'))

    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("# Generated by tests/hostile/bundle/make_bundle_corpus.py - do not edit.\n")
        f.write("# folder<TAB>status bundle_open returns<TAB>substring of the message ('-': none)\n")
        for folder, status, msg in expected:
            f.write("%s\t%s\t%s\n" % (folder, status, msg))


main()
