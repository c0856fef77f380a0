#!/usr/bin/python3
"""Regenerate the qlens sample-model bundles.

    /usr/bin/python3 sample-models/train/train.py data              # shared calib/eval arrays
    /usr/bin/python3 sample-models/train/train.py fashion-resnet
    /usr/bin/python3 sample-models/train/train.py fashion-mobilenet
    /usr/bin/python3 sample-models/train/train.py fashion-vit
    /usr/bin/python3 sample-models/train/train.py verify [NAME...]  # re-check bundles

Each model command (re)writes the shared data first, trains on the 60k
training set, exports sample-models/NAME/model.onnx, reference-logits.npy and
bundle.json, then verifies the bundle. Options: --epochs N overrides the
configured number of epochs (the bundle records the value used).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import models  # noqa: E402

MODELS = {
    "fashion-resnet": dict(
        build=lambda: models.FashionResNet(c1=24, c2=64),
        opset=13, keep_bn=True,
        threads=2,   # the committed bundle was trained with 2 threads
        description="Small residual CNN (Conv/BatchNormalization/Relu/MaxPool/Add/"
                    "GlobalAveragePool/Gemm) with BatchNormalization kept as separate nodes",
        architecture="conv3x3(1->24)+BN+ReLU @28, maxpool, basic residual block(24) @14, "
                     "maxpool, basic residual block(24->64, 1x1 conv+BN shortcut) @7, "
                     "global average pool, linear(64->10); BN not folded",
        train=dict(epochs=10, batch=128, optimizer="sgd", lr=0.1, weight_decay=5e-4,
                   augment=True, channels_last=True, pct_start=0.2),
        expect_ops=["Conv", "BatchNormalization", "Relu", "MaxPool", "Add",
                    "GlobalAveragePool", "Flatten", "Gemm"],
        forbid_ops=[]),
    "fashion-mobilenet": dict(
        build=lambda: models.FashionMobileNet(),
        opset=13, keep_bn=False,
        threads=1,
        description="MobileNetV2-style CNN: inverted residual blocks with depthwise "
                    "convolutions and ReLU6 (Clip), BatchNorm folded into the convolutions",
        architecture="conv3x3 stride 2 (1->16)+ReLU6 -> 14x14; inverted residual blocks "
                     "(t,c,n,s) = (1,16,1,1) (4,24,1,1) (4,32,1,2) (4,32,1,1) (4,48,1,1): 1x1 expand, 3x3 depthwise, "
                     "1x1 linear project, Add when shapes match; conv1x1(48->128)+ReLU6 @7, "
                     "global average pool, linear(128->10); BN folded by the exporter",
        train=dict(epochs=8, batch=256, optimizer="adamw", lr=4e-3, weight_decay=0.01,
                   augment=True, channels_last=True, pct_start=0.2),
        expect_ops=["Conv", "Clip", "Add", "GlobalAveragePool", "Gemm"],
        forbid_ops=["BatchNormalization"]),
    "fashion-vit": dict(
        build=lambda: models.FashionViT(dim=48, depth=4, heads=3, mlp_ratio=2),
        opset=17, keep_bn=False,
        threads=1,
        description="Small vision transformer: 4x4 patch-embedding Conv, explicit "
                    "multi-head self-attention (MatMul/Softmax), LayerNormalization, erf GELU",
        architecture="conv4x4 stride 4 patch embedding (49 tokens, dim 48) + learned "
                     "position embedding; 4 pre-norm blocks (LayerNorm, 3-head self-attention "
                     "with separate q/k/v/proj linears, LayerNorm, MLP 48->96->48 with "
                     "exact GELU); final LayerNorm, mean over tokens, linear(48->10)",
        train=dict(epochs=8, batch=128, optimizer="adamw", lr=2e-3, weight_decay=0.05,
                   augment=False, channels_last=False, pct_start=0.1,
                   label_smoothing=0.0),
        expect_ops=["Conv", "MatMul", "Softmax", "LayerNormalization", "Erf",
                    "Add", "Mul", "Div", "Transpose", "Reshape", "Gemm"],
        forbid_ops=["BatchNormalization"]),
}


def run_model(name, epochs=None, threads=None):
    spec = MODELS[name]
    common.THREADS = threads or spec["threads"]
    common.seed_everything()
    common.make_shared_data()
    common.seed_everything()
    model = spec["build"]()
    cfg = dict(spec["train"])
    if epochs is not None:
        cfg["epochs"] = epochs
    print(f"== {name}: {cfg}, threads {common.THREADS}", flush=True)
    info = common.train(model, cfg, log=lambda s: print(s, flush=True))
    bundle, binfo = common.write_bundle(
        name, model, spec["opset"], spec["keep_bn"], spec["description"],
        spec["architecture"], cfg["epochs"], info, spec["expect_ops"],
        spec["forbid_ops"])
    print(json.dumps(bundle["provenance"], indent=2))
    print(json.dumps(binfo, indent=2), flush=True)
    verify(name)


def verify(name):
    import numpy as np
    import onnx
    import onnx_ref
    spec = MODELS[name]
    bdir = os.path.join(common.SAMPLE_DIR, name)
    with open(os.path.join(bdir, "bundle.json")) as f:
        bundle = json.load(f)
    path = os.path.join(bdir, bundle["model"])
    counts = common.check_onnx(path, spec["expect_ops"], spec["forbid_ops"],
                               spec["opset"])
    ev = np.load(os.path.join(bdir, bundle["evaluation"]["data"]))
    labels = np.load(os.path.join(bdir, bundle["evaluation"]["labels"]))
    calib = np.load(os.path.join(bdir, bundle["calibration"]["data"]))
    ref = np.load(os.path.join(bdir, bundle["reference_logits"]))
    assert ev.dtype == np.dtype("<f4") and ev.shape == (2000, 1, 28, 28)
    assert calib.dtype == np.dtype("<f4") and calib.shape == (512, 1, 28, 28)
    assert labels.dtype == np.dtype("<i8") and labels.shape == (2000,)
    assert ref.dtype == np.dtype("<f4") and ref.shape == (2000, 10)
    acc = round(float((ref.argmax(1) == labels).sum()) / labels.shape[0], 4)
    assert acc == bundle["provenance"]["fp32_top1_eval"], (acc, bundle["provenance"])
    macs, _ = common.count_macs_onnx(path)
    assert macs == bundle["provenance"]["macs_per_image"]
    # independent pure-numpy execution of the ONNX graph
    t = time.time()
    out = onnx_ref.run(onnx.load(path), {"input": ev})["logits"]
    diff = np.abs(out - ref).max()
    agree = float((out.argmax(1) == ref.argmax(1)).mean())
    print(f"{name}: ops {counts}")
    print(f"{name}: numpy-ONNX vs reference logits: max|diff| {diff:.3g}, "
          f"argmax agreement {agree:.4f} ({time.time() - t:.0f} s); "
          f"eval top1 {acc}, MACs {macs}, onnx {os.path.getsize(path)} bytes")
    assert diff < 1e-3 and agree >= 0.999, "ONNX graph disagrees with torch"
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["data", "verify"] + list(MODELS))
    ap.add_argument("names", nargs="*", help="bundles to verify (default: all)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default: the count the committed "
                         "bundle was trained with; results depend on it in the last bits)")
    args = ap.parse_args()
    if args.command == "data":
        common.make_shared_data()
    elif args.command == "verify":
        for n in args.names or list(MODELS):
            verify(n)
    else:
        run_model(args.command, args.epochs, args.threads)


if __name__ == "__main__":
    main()
