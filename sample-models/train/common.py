"""Shared helpers for the qlens sample-model training scripts.

Data loading (Fashion-MNIST IDX files from the Debian package
dataset-fashion-mnist), preprocessing, the shared calibration/evaluation
arrays, a small training loop, ONNX export, MAC counting and bundle writing.

Only needed to regenerate the bundles in sample-models/; qlens itself never
runs Python.
"""

import datetime
import gzip
import json
import os
import random
import struct
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 1234
DATASET_DIR = "/usr/share/datasets/fashion-mnist"
DATASET_PACKAGE = "dataset-fashion-mnist"
MEAN = 0.2860
STD = 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PREPROCESSING = ("x = (pixel / 255 - 0.2860) / 0.3530, "
                 "layout N x 1 x 28 x 28, float32")
N_CALIB = 512
N_EVAL = 2000

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_DIR = os.path.dirname(HERE)                      # sample-models/
DATA_DIR = os.path.join(SAMPLE_DIR, "data", "fashion-mnist")


# --------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------

THREADS = 1


def seed_everything(seed=SEED, threads=None):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads or THREADS)
    torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def _open(path):
    if os.path.exists(path):
        return open(path, "rb")
    if os.path.exists(path + ".gz"):
        return gzip.open(path + ".gz", "rb")
    raise FileNotFoundError(
        f"{path}[.gz] not found: apt-get install {DATASET_PACKAGE}")


def read_idx(path):
    """Read an IDX file (optionally gzipped) into a numpy array."""
    with _open(path) as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: size mismatch")
    return arr.reshape(dims)


def load_split(split):
    """Return (uint8 images N x 28 x 28, int64 labels N) for 'train'/'test'."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(DATASET_DIR, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(DATASET_DIR, f"{prefix}-labels-idx1-ubyte"))
    assert images.shape[0] == labels.shape[0]
    return images, labels.astype(np.int64)


def preprocess(images_u8):
    """uint8 N x 28 x 28 -> float32 N x 1 x 28 x 28, normalized."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)


def dataset_version():
    try:
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", DATASET_PACKAGE],
            capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def _atomic_save(path, arr):
    """np.save via a temporary file + rename (safe with concurrent readers)."""
    tmp = f"{path}.tmp{os.getpid()}.npy"
    np.save(tmp, arr)
    os.replace(tmp, path)


def make_shared_data():
    """Write calib.npy / eval.npy / eval-labels.npy (deterministic)."""
    os.makedirs(DATA_DIR, exist_ok=True)
    train_x, _ = load_split("train")
    test_x, test_y = load_split("test")
    rng = np.random.default_rng(SEED)
    idx = np.sort(rng.choice(train_x.shape[0], size=N_CALIB, replace=False))
    calib = preprocess(train_x[idx]).astype("<f4")
    ev = preprocess(test_x[:N_EVAL]).astype("<f4")
    ev_labels = test_y[:N_EVAL].astype("<i8")
    for fname, arr in (("calib.npy", calib), ("eval.npy", ev),
                       ("eval-labels.npy", ev_labels)):
        _atomic_save(os.path.join(DATA_DIR, fname), arr)
    with open(os.path.join(DATA_DIR, "calib-indices.txt"), "w") as f:
        f.write("# indices into the Fashion-MNIST training set "
                f"(numpy default_rng({SEED}).choice(60000, {N_CALIB}, "
                "replace=False), sorted)\n")
        f.write("\n".join(str(int(i)) for i in idx) + "\n")
    print(f"wrote {DATA_DIR}: calib {calib.shape}, eval {ev.shape}, "
          f"labels {ev_labels.shape}")


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------

def augment(xb, gen, pad=2, flip=True):
    """Random crop with zero padding (in normalized space: the value of a
    black pixel) and random horizontal flip, vectorized over the batch."""
    n, c, h, w = xb.shape
    bg = (0.0 - MEAN) / STD
    padded = F.pad(xb, (pad, pad, pad, pad), value=bg)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = oy[:, None] + torch.arange(h)[None, :]            # n x h
    cols = ox[:, None] + torch.arange(w)[None, :]            # n x w
    bidx = torch.arange(n)[:, None, None]
    out = padded[:, 0][bidx, rows[:, :, None], cols[:, None, :]]
    out = out[:, None]
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        out = torch.where(mask[:, None, None, None], out.flip(-1), out)
    return out.contiguous()


@torch.no_grad()
def predict(model, x, batch=500):
    model.eval()
    outs = []
    for i in range(0, x.shape[0], batch):
        outs.append(model(x[i:i + batch]))
    return torch.cat(outs)


def top1(logits, labels):
    return int((logits.argmax(1) == labels).sum())


def train(model, cfg, log=print):
    """Train on the 60k training set. cfg keys: epochs, batch, lr,
    weight_decay, optimizer ('adamw'|'sgd'), augment (bool),
    label_smoothing, pct_start."""
    train_x, train_y = load_split("train")
    test_x, test_y = load_split("test")
    xtr = torch.from_numpy(preprocess(train_x))
    ytr = torch.from_numpy(train_y)
    xte = torch.from_numpy(preprocess(test_x))
    yte = torch.from_numpy(test_y)

    cl = cfg.get("channels_last", False)
    if cl:   # faster mkldnn convolutions on CPU; weights go back to NCHW before export
        model.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(SEED)
    epochs, bs = cfg["epochs"], cfg["batch"]
    steps = epochs * (xtr.shape[0] // bs)
    if cfg.get("optimizer", "adamw") == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9,
                              nesterov=True, weight_decay=cfg["weight_decay"])
    else:
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim <= 1 or name.endswith("pos_embed")
             else decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg["weight_decay"]},
             {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg["lr"], total_steps=steps,
        pct_start=cfg.get("pct_start", 0.2))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.get("label_smoothing", 0.0))

    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        tot_loss, tot_ok, seen = 0.0, 0, 0
        te = time.time()
        for i in range(0, xtr.shape[0] - bs + 1, bs):
            idx = perm[i:i + bs]
            xb, yb = xtr[idx], ytr[idx]
            if cfg.get("augment", True):
                xb = augment(xb, gen, flip=cfg.get("flip", True))
            if cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss) * bs
            tot_ok += top1(out.detach(), yb)
            seen += bs
            step = i // bs + 1
            if step % 100 == 0:
                log(f"  epoch {ep + 1} step {step}/{xtr.shape[0] // bs}  "
                    f"loss {tot_loss / seen:.4f}  ({time.time() - te:.0f} s)")
        acc = top1(predict(model, xte), yte) / xte.shape[0]
        log(f"epoch {ep + 1}/{epochs}  loss {tot_loss / seen:.4f}  "
            f"train-acc {tot_ok / seen:.4f}  test-acc {acc:.4f}  "
            f"({time.time() - te:.0f} s, total {time.time() - t0:.0f} s)")
    model.to(memory_format=torch.contiguous_format)
    for p in model.parameters():
        p.data = p.data.contiguous()
    for b in model.buffers():
        b.data = b.data.contiguous()
    model.eval()
    return {"train_seconds": time.time() - t0}


# --------------------------------------------------------------------------
# ONNX: export, analysis
# --------------------------------------------------------------------------

def export_onnx(model, path, opset, keep_bn=False):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    kwargs = {}
    if keep_bn:
        kwargs = dict(training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    torch.onnx.export(
        model, dummy, path, opset_version=opset,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        **kwargs)


def op_counts(onnx_model):
    counts = {}
    for n in onnx_model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return dict(sorted(counts.items()))


def count_macs_onnx(path):
    """MACs per image from the exported graph (batch = 1): Conv, Gemm and
    MatMul (including the attention products). Also returns the parameter
    count (elements of all initializers and Constant tensors that feed a
    Conv/Gemm/MatMul/BatchNormalization/LayerNormalization/Add/Mul... i.e.
    every float initializer)."""
    import onnx
    from onnx import shape_inference, numpy_helper
    m = onnx.load(path)
    # fix batch to 1 for shape inference
    for vi in list(m.graph.input) + list(m.graph.output):
        d = vi.type.tensor_type.shape.dim[0]
        d.ClearField("dim_param")
        d.dim_value = 1
    m = shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    macs = {}
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = shapes[n.input[1]]                    # M x C/g x kh x kw
            out = shapes[n.output[0]]
            v = int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            a, out = shapes[n.input[0]], shapes[n.output[0]]
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            k = a[0] if trans_a else a[1]
            v = int(np.prod(out)) * k
        elif n.op_type == "MatMul":
            a, out = shapes[n.input[0]], shapes[n.output[0]]
            v = int(np.prod(out)) * a[-1]
        else:
            continue
        macs[n.op_type] = macs.get(n.op_type, 0) + v
    return sum(macs.values()), macs


def check_onnx(path, expect_ops, forbid_ops=(), opset=None):
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    counts = op_counts(m)
    missing = [o for o in expect_ops if o not in counts]
    present_forbidden = [o for o in forbid_ops if o in counts]
    assert not missing, f"{path}: missing ops {missing}"
    assert not present_forbidden, f"{path}: forbidden ops {present_forbidden}"
    for n in m.graph.node:
        if n.op_type == "BatchNormalization":
            assert len(n.output) == 1, "BatchNormalization has training outputs"
            for a in n.attribute:
                assert not (a.name == "training_mode" and a.i), "training_mode=1"
    if opset is not None:
        got = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
        assert got == [opset], f"opset {got} != {opset}"
    assert [i.name for i in m.graph.input] == ["input"], [i.name for i in m.graph.input]
    assert [o.name for o in m.graph.output] == ["logits"]
    return counts


# --------------------------------------------------------------------------
# bundle
# --------------------------------------------------------------------------

def write_bundle(name, model, opset, keep_bn, description, architecture,
                 epochs, train_info, expect_ops, forbid_ops=()):
    bdir = os.path.join(SAMPLE_DIR, name)
    os.makedirs(bdir, exist_ok=True)
    onnx_path = os.path.join(bdir, "model.onnx")
    model.eval()
    export_onnx(model, onnx_path, opset, keep_bn=keep_bn)
    counts = check_onnx(onnx_path, expect_ops, forbid_ops, opset)

    # reference logits on the shared eval subset, from the exported weights
    ev = np.load(os.path.join(DATA_DIR, "eval.npy"))
    labels = np.load(os.path.join(DATA_DIR, "eval-labels.npy"))
    ref = predict(model, torch.from_numpy(ev)).numpy().astype("<f4")
    np.save(os.path.join(bdir, "reference-logits.npy"), ref)
    eval_correct = int((ref.argmax(1) == labels).sum())

    # top-1 on the full 10k test set (same weights, eval mode)
    test_x, test_y = load_split("test")
    test_logits = predict(model, torch.from_numpy(preprocess(test_x)))
    test_correct = top1(test_logits, torch.from_numpy(test_y))
    test_n = int(test_y.shape[0])

    macs, mac_split = count_macs_onnx(onnx_path)
    params = sum(p.numel() for p in model.parameters())
    bundle = {
        "format": "qlens-bundle",
        "version": 1,
        "name": name,
        "description": description,
        "model": "model.onnx",
        "input": "input",
        "calibration": {"data": "../data/fashion-mnist/calib.npy"},
        "evaluation": {"data": "../data/fashion-mnist/eval.npy",
                       "labels": "../data/fashion-mnist/eval-labels.npy"},
        "reference_logits": "reference-logits.npy",
        "task": {"type": "classification", "metric": "top1",
                 "classes": CLASSES},
        "preprocessing": PREPROCESSING,
        "provenance": {
            "dataset": ("Fashion-MNIST (Zalando Research), Debian package "
                        f"{DATASET_PACKAGE} {dataset_version()}"),
            "script": f"sample-models/train/train.py {name}",
            "seed": SEED,
            "torch_version": torch.__version__,
            "onnx_opset": opset,
            "date": datetime.date.today().isoformat(),
            "architecture": architecture,
            "params": int(params),
            "macs_per_image": int(macs),
            "epochs": epochs,
            "fp32_top1_test": round(test_correct / test_n, 4),
            "fp32_top1_eval": round(eval_correct / labels.shape[0], 4),
        },
    }
    with open(os.path.join(bdir, "bundle.json"), "w") as f:
        json.dump(bundle, f, indent=2)
        f.write("\n")
    torch.save(model.state_dict(), os.path.join("/tmp", f"qlens-{name}.pt"))
    info = {"op_counts": counts, "macs": macs, "mac_split": mac_split,
            "params": params, "onnx_bytes": os.path.getsize(onnx_path),
            "eval_correct": eval_correct, "test_correct": test_correct,
            "train_seconds": round(train_info["train_seconds"], 1)}
    return bundle, info
