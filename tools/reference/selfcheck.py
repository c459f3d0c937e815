#!/usr/bin/env python3
"""Self-check of darknet_ref.py: torch float64 vs onnxruntime float32, head shapes,
a brute-force Darknet maxpool loop, a synthetic cfg exercising every supported
layer option, and the weights-length check.

usage: python3 tools/reference/selfcheck.py [--work DIR] [--skip-yolov3]
Large files (random weights, ONNX, goldens) go to --work (default /tmp/edge-infer-ref).
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import darknet_ref as dr  # noqa: E402

TOL = 1e-4
failures = []


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def cli(*args):
    cmd = [sys.executable, os.path.join(HERE, "darknet_ref.py"), *args]
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def ort_heads(onnx_path, x):
    sess = dr.ort_session(onnx_path, 1)
    names = [o.name for o in sess.get_outputs()]
    return names, sess.run(None, {"input": x})


def model_case(name, cfg, size, seed, work, expect_shapes):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    wts = os.path.join(d, "model.weights")
    cli("random-weights", "--cfg", cfg, "--seed", str(seed), "--out", wts, "--size", size)
    cli("golden", "--cfg", cfg, "--weights", wts, "--size", size, "--seed", str(seed + 1), "--out", d)
    cli("export-onnx", "--cfg", cfg, "--weights", wts, "--size", size, "--out", os.path.join(d, "model.onnx"))
    x = np.load(os.path.join(d, "input.npy"))
    names, outs = ort_heads(os.path.join(d, "model.onnx"), x)
    check(names == [f"head{i}" for i in range(len(expect_shapes))], f"{name}: ONNX output names {names}")
    for i, shp in enumerate(expect_shapes):
        ref = np.load(os.path.join(d, f"head{i}.npy"))
        check(list(ref.shape) == shp, f"{name}: head{i} shape {list(ref.shape)} == {shp}")
        check(ref.dtype == np.float32, f"{name}: head{i} dtype float32")
        r = rel(outs[i], ref)
        print(f"     {name} head{i}: ||ort-ref||/||ref|| = {r:.3e}  max|ort-ref| = "
              f"{np.abs(outs[i] - ref).max():.3e}  ref rms = {np.sqrt((ref.astype(np.float64) ** 2).mean()):.3f}")
        check(r < TOL, f"{name}: head{i} ORT vs torch-f64 rel err {r:.3e} < {TOL}")
    # the `run` subcommand on the golden input must reproduce the golden heads exactly
    d2 = os.path.join(d, "run")
    cli("run", "--cfg", cfg, "--weights", wts, "--size", size, "--input", os.path.join(d, "input.npy"), "--out", d2)
    for i in range(len(expect_shapes)):
        same = np.array_equal(np.load(os.path.join(d2, f"head{i}.npy")), np.load(os.path.join(d, f"head{i}.npy")))
        check(same, f"{name}: run reproduces golden head{i} bit-exactly")


def darknet_maxpool_loop(x, size, stride, padding):
    """Literal transcription of Darknet's maxpool forward semantics (out-of-range = -inf)."""
    c, h, w = x.shape
    oh = (h + padding - size) // stride + 1
    ow = (w + padding - size) // stride + 1
    off = -(padding // 2)
    y = np.empty((c, oh, ow), x.dtype)
    for k in range(c):
        for i in range(oh):
            for j in range(ow):
                m = -np.inf
                for n in range(size):
                    for mm in range(size):
                        ch = off + i * stride + n
                        cw = off + j * stride + mm
                        if 0 <= ch < h and 0 <= cw < w:
                            m = max(m, x[k, ch, cw])
                y[k, i, j] = m
    return y


def maxpool_cases(work):
    rng = np.random.default_rng(7)
    for (h, w, size, stride, padding) in [(13, 13, 2, 1, None), (13, 13, 2, 2, None), (8, 8, 2, 2, None),
                                          (7, 9, 3, 2, None), (10, 10, 3, 1, None), (9, 9, 5, 1, None),
                                          (6, 6, 2, 2, 0), (11, 7, 3, 3, 4), (6, 6, 3, 1, 5)]:
        pad = size - 1 if padding is None else padding
        x = rng.standard_normal((3, h, w))
        cfg = os.path.join(work, "mp.cfg")
        with open(cfg, "w") as f:
            f.write(f"[net]\nwidth={w}\nheight={h}\nchannels=3\n\n[maxpool]\nsize={size}\nstride={stride}\n")
            if padding is not None:
                f.write(f"padding={padding}\n")
            f.write("\n[yolo]\n")
        inp, specs, model = dr.load_model(cfg, None)
        heads, _ = dr.run_reference(model, x[None].astype(np.float32))
        ref = darknet_maxpool_loop(x.astype(np.float32).astype(np.float64), size, stride, pad)
        ok_t = heads[0].shape[1:] == ref.shape and np.array_equal(heads[0][0], ref.astype(np.float32))
        model.double()
        onx = dr.build_onnx(model, inp)
        sess = dr.ort_session(onx.SerializeToString(), 1)
        o = sess.run(None, {"input": x[None].astype(np.float32)})[0]
        ok_o = o.shape[1:] == ref.shape and np.array_equal(o[0], ref.astype(np.float32))
        check(ok_t and ok_o, f"maxpool {h}x{w} size={size} stride={stride} padding={pad}: "
                             f"out {list(ref.shape[1:])}, torch {'==' if ok_t else '!='} loop, ORT {'==' if ok_o else '!='} loop")


SYNTH_CFG = """[net]
width=64
height=48
channels=3

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=mish

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
groups=4
activation=swish

[shortcut]
from=-2
activation=leaky

[route]
layers=-1
groups=2
group_id=1

[convolutional]
filters=8
size=3
stride=1
pad=0
padding=1
activation=relu

[maxpool]
size=3
stride=2

[upsample]
stride=2

[route]
layers=-1,0
groups=2
group_id=0

[convolutional]
batch_normalize=1
filters=12
size=1
stride=1
pad=1
activation=logistic

[convolutional]
size=1
stride=1
pad=1
filters=18
activation=linear

[yolo]
mask=0,1,2
anchors=1,2, 3,4, 5,6
classes=1
num=3

[route]
layers=2,-3

[convolutional]
batch_normalize=1
filters=6
size=3
stride=2
pad=1
activation=linear

[yolo]
classes=1
"""


def synthetic_case(work):
    d = os.path.join(work, "synthetic")
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, "synthetic.cfg")
    with open(cfg, "w") as f:
        f.write(SYNTH_CFG)
    cli("info", "--cfg", cfg)
    # 1) reference model against an independent composition of torch.nn modules
    inp, specs = dr.build_specs(dr.parse_cfg(cfg))
    convs = dr.make_random_weights(specs, inp, 3)
    wts = os.path.join(d, "synthetic.weights")
    dr.write_weights(wts, specs, convs)
    _, _, model = dr.load_model(cfg, wts)
    x = np.random.default_rng(4).random((1, 3, 48, 64), dtype=np.float32)
    heads, _ = dr.run_reference(model, x)

    def nnconv(i, cin, cout, k, s, p, g, bn):
        c = convs[i]
        conv = torch.nn.Conv2d(cin, cout, k, s, p, groups=g, bias=not bn).double()
        conv.weight.data = torch.from_numpy(c["weight"]).double()
        if not bn:
            conv.bias.data = torch.from_numpy(c["bias"]).double()
            return conv
        b = torch.nn.BatchNorm2d(cout, eps=1e-5).double().eval()
        b.weight.data = torch.from_numpy(c["gamma"]).double()
        b.bias.data = torch.from_numpy(c["bias"]).double()
        b.running_mean = torch.from_numpy(c["mean"]).double()
        b.running_var = torch.from_numpy(c["var"]).double()
        return torch.nn.Sequential(conv, b)

    with torch.no_grad():
        t = torch.from_numpy(x).double()
        l0 = torch.nn.Mish()(nnconv(0, 3, 16, 3, 2, 1, 1, True)(t))
        l1 = torch.nn.SiLU()(nnconv(1, 16, 16, 3, 1, 1, 4, True)(l0))
        l2 = torch.nn.LeakyReLU(0.1)(l1 + l0)
        l3 = l2[:, 8:16]
        l4 = torch.relu(nnconv(2, 8, 8, 3, 1, 1, 1, False)(l3))
        l5 = torch.nn.MaxPool2d(3, 2, padding=1)(l4)  # darknet padding=2 -> 1 left/top, 1 right/bottom
        l6 = torch.nn.Upsample(scale_factor=2, mode="nearest")(l5)
        l7 = torch.cat([l6[:, 0:4], l0[:, 0:8]], 1)
        l8 = torch.sigmoid(nnconv(3, 12, 12, 1, 1, 0, 1, True)(l7))
        l9 = nnconv(4, 12, 18, 1, 1, 0, 1, False)(l8)
        l11 = torch.cat([l2, l8], 1)
        l12 = nnconv(5, 28, 6, 3, 2, 1, 1, True)(l11)
        h64 = model.double()(t)  # float64 heads before the float32 cast that run/golden apply
    for i, want in enumerate([l9, l12]):
        r = rel(h64[i].numpy(), want.numpy())
        check(list(heads[i].shape) == list(want.shape) and r < 1e-12,
              f"synthetic head{i} {list(heads[i].shape)}: darknet_ref vs torch.nn composition rel err {r:.2e}")
    # 2) ORT vs torch on the synthetic model
    model.double()
    sess = dr.ort_session(dr.build_onnx(model, inp).SerializeToString(), 1)
    outs = sess.run(None, {"input": x})
    for i in range(2):
        r = rel(outs[i], heads[i])
        check(r < TOL, f"synthetic head{i}: ORT vs torch-f64 rel err {r:.2e}")
    # 3) --bn darknet differs from pytorch only through the eps convention
    _, _, m2 = dr.load_model(cfg, wts, bn_formula="darknet")
    h2, _ = dr.run_reference(m2, x)
    print(f"     synthetic: --bn darknet vs pytorch rel diff head0 {rel(h2[0], heads[0]):.2e}")
    # 4) weights length mismatch is reported with both counts
    bad = os.path.join(d, "short.weights")
    with open(wts, "rb") as f, open(bad, "wb") as g:
        g.write(f.read()[:-8])
    try:
        dr.read_weights(bad, specs)
        check(False, "truncated weights rejected")
    except SystemExit as e:
        check("expected" in str(e) and "found" in str(e), f"truncated weights rejected: {e}")
    # 5) old-format header (major*10+minor < 2 -> 32-bit seen)
    old = os.path.join(d, "old.weights")
    dr.write_weights(old, specs, convs, major=0, minor=1)
    check(os.path.getsize(old) == os.path.getsize(wts) - 4, "v0.1 header uses a 4-byte seen")
    _, c_old = dr.read_weights(old, specs)
    check(all(np.array_equal(a["weight"], b["weight"]) for a, b in zip(c_old, convs)), "v0.1 weights read back")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/edge-infer-ref")
    ap.add_argument("--skip-yolov3", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    maxpool_cases(a.work)
    synthetic_case(a.work)
    tiny = os.path.join(ROOT, "models", "yolov3-tiny.cfg")
    v3 = os.path.join(ROOT, "models", "yolov3.cfg")
    model_case("yolov3-tiny-416", tiny, "416x416", 100, a.work, [[1, 255, 13, 13], [1, 255, 26, 26]])
    model_case("yolov3-tiny-128", tiny, "128x128", 200, a.work, [[1, 255, 4, 4], [1, 255, 8, 8]])
    if not a.skip_yolov3:
        model_case("yolov3-416", v3, "416x416", 300, a.work,
                   [[1, 255, 13, 13], [1, 255, 26, 26], [1, 255, 52, 52]])
    print()
    if failures:
        print(f"{len(failures)} FAILURES:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
