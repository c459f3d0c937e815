#!/usr/bin/env python3
"""Independent PyTorch (CPU) reference for Darknet .cfg/.weights YOLO models.

Written from the Darknet file-format description only; it is the reference
that the Rust engine (edge-infer) is checked against.  See README.md.

Subcommands: info, run, golden, export-onnx, bench, random-weights.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------
# cfg parsing
# --------------------------------------------------------------------------

SECTION_ALIASES = {
    "net": "net",
    "network": "net",
    "convolutional": "convolutional",
    "conv": "convolutional",
    "shortcut": "shortcut",
    "route": "route",
    "upsample": "upsample",
    "maxpool": "maxpool",
    "max": "maxpool",
    "yolo": "yolo",
}

ACTIVATIONS = ("linear", "leaky", "relu", "logistic", "mish", "swish")


class CfgError(Exception):
    pass


@dataclass
class Section:
    kind: str
    opts: dict
    line: int
    used: set = field(default_factory=set)

    def _get(self, key, default, conv):
        if key in self.opts:
            self.used.add(key)
            try:
                return conv(self.opts[key])
            except ValueError as e:
                raise CfgError(f"line {self.line} [{self.kind}]: bad value for {key}={self.opts[key]!r}") from e
        return default

    def int(self, key, default=None):
        v = self._get(key, default, lambda s: int(s.strip()))
        if v is None:
            raise CfgError(f"line {self.line} [{self.kind}]: missing required key '{key}'")
        return v

    def float(self, key, default=None):
        v = self._get(key, default, lambda s: float(s.strip()))
        if v is None:
            raise CfgError(f"line {self.line} [{self.kind}]: missing required key '{key}'")
        return v

    def str(self, key, default=None):
        v = self._get(key, default, lambda s: s.strip())
        if v is None:
            raise CfgError(f"line {self.line} [{self.kind}]: missing required key '{key}'")
        return v

    def ints(self, key):
        raw = self.str(key)
        return [int(t) for t in raw.split(",") if t.strip() != ""]


def parse_cfg(path: str) -> list[Section]:
    sections: list[Section] = []
    with open(path, "r", encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise CfgError(f"{path}:{lineno}: malformed section header {line!r}")
                name = line[1:-1].strip().lower()
                if name not in SECTION_ALIASES:
                    raise CfgError(f"{path}:{lineno}: unsupported section [{name}]")
                sections.append(Section(SECTION_ALIASES[name], {}, lineno))
                continue
            if "=" not in line:
                raise CfgError(f"{path}:{lineno}: expected key=value, got {line!r}")
            if not sections:
                raise CfgError(f"{path}:{lineno}: option before any section")
            key, val = line.split("=", 1)
            sections[-1].opts[key.strip()] = val.strip()
    if not sections or sections[0].kind != "net":
        raise CfgError(f"{path}: first section must be [net]")
    return sections


# --------------------------------------------------------------------------
# network description (shape inference)
# --------------------------------------------------------------------------


@dataclass
class LayerSpec:
    index: int
    kind: str
    in_shape: tuple  # (c, h, w) of the primary input
    out_shape: tuple  # (c, h, w)
    p: dict  # layer parameters
    line: int


def parse_size(s: str | None):
    if s is None:
        return None
    try:
        w, h = s.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise SystemExit(f"--size must look like WxH (e.g. 416x416), got {s!r}")


def build_specs(sections: list[Section], size=None):
    net = sections[0]
    width = net.int("width", 416)
    height = net.int("height", 416)
    channels = net.int("channels", 3)
    if size is not None:
        width, height = size
    specs: list[LayerSpec] = []
    shape = (channels, height, width)

    def resolve(idx: int, here: int, sec: Section) -> int:
        j = here + idx if idx < 0 else idx
        if not (0 <= j < here):
            raise CfgError(f"line {sec.line}: layer index {idx} resolves to {j}, outside [0, {here})")
        if specs[j].kind == "yolo":
            raise CfgError(f"line {sec.line}: referencing a [yolo] layer output is not supported")
        return j

    for i, sec in enumerate(sections[1:]):
        c, h, w = shape
        k = sec.kind
        if k == "net":
            raise CfgError(f"line {sec.line}: [net] may only appear first")
        if k == "convolutional":
            filters = sec.int("filters", 1)
            ksize = sec.int("size", 1)
            stride = sec.int("stride", 1)
            if sec.int("stride_x", stride) != stride or sec.int("stride_y", stride) != stride:
                raise CfgError(f"line {sec.line}: stride_x/stride_y != stride unsupported")
            padflag = sec.int("pad", 0)
            padding = ksize // 2 if padflag else sec.int("padding", 0)
            groups = sec.int("groups", 1)
            bn = sec.int("batch_normalize", 0)
            act = sec.str("activation", "logistic").lower()
            if act not in ACTIVATIONS:
                raise CfgError(f"line {sec.line}: unsupported activation {act!r}")
            for key, dflt in (("dilation", 1), ("binary", 0), ("xnor", 0), ("antialiasing", 0), ("flipped", 0)):
                if sec.int(key, dflt) != dflt:
                    raise CfgError(f"line {sec.line}: convolutional {key}={sec.opts[key]} unsupported")
            if "share_index" in sec.opts:
                raise CfgError(f"line {sec.line}: share_index unsupported")
            if c % groups or filters % groups:
                raise CfgError(f"line {sec.line}: channels {c} / filters {filters} not divisible by groups {groups}")
            oh = (h + 2 * padding - ksize) // stride + 1
            ow = (w + 2 * padding - ksize) // stride + 1
            p = dict(filters=filters, size=ksize, stride=stride, padding=padding, groups=groups,
                     bn=bool(bn), act=act, in_c=c)
            out = (filters, oh, ow)
        elif k == "maxpool":
            ksize = sec.int("size", 1)
            stride = sec.int("stride", 1)
            if sec.int("stride_x", stride) != stride or sec.int("stride_y", stride) != stride:
                raise CfgError(f"line {sec.line}: maxpool stride_x/stride_y != stride unsupported")
            padding = sec.int("padding", ksize - 1)
            for key in ("maxpool_depth", "antialiasing"):
                if sec.int(key, 0) != 0:
                    raise CfgError(f"line {sec.line}: maxpool {key} unsupported")
            oh = (h + padding - ksize) // stride + 1
            ow = (w + padding - ksize) // stride + 1
            p = dict(size=ksize, stride=stride, padding=padding)
            out = (c, oh, ow)
        elif k == "upsample":
            stride = sec.int("stride", 2)
            scale = sec.float("scale", 1.0)
            if stride < 1:
                raise CfgError(f"line {sec.line}: upsample stride {stride} (<1, i.e. downsampling) unsupported")
            p = dict(stride=stride, scale=scale)
            out = (c, h * stride, w * stride)
        elif k == "shortcut":
            frm = sec.ints("from")
            if len(frm) != 1:
                raise CfgError(f"line {sec.line}: shortcut with several 'from' layers unsupported")
            j = resolve(frm[0], i, sec)
            act = sec.str("activation", "linear").lower()
            if act not in ACTIVATIONS:
                raise CfgError(f"line {sec.line}: unsupported activation {act!r}")
            if sec.float("alpha", 1.0) != 1.0 or sec.float("beta", 1.0) != 1.0:
                raise CfgError(f"line {sec.line}: shortcut alpha/beta unsupported")
            if sec.str("weights_type", "none") != "none":
                raise CfgError(f"line {sec.line}: weighted shortcut unsupported")
            if specs[j].out_shape != shape:
                raise CfgError(f"line {sec.line}: shortcut shapes differ {specs[j].out_shape} vs {shape} (unsupported)")
            p = dict(src=j, act=act)
            out = shape
        elif k == "route":
            idxs = [resolve(t, i, sec) for t in sec.ints("layers")]
            groups = sec.int("groups", 1)
            gid = sec.int("group_id", 0)
            if not (0 <= gid < groups):
                raise CfgError(f"line {sec.line}: group_id {gid} outside [0,{groups})")
            hw = None
            oc = 0
            for j in idxs:
                cj, hj, wj = specs[j].out_shape
                if hw is None:
                    hw = (hj, wj)
                elif hw != (hj, wj):
                    raise CfgError(f"line {sec.line}: route inputs have different spatial sizes")
                if cj % groups:
                    raise CfgError(f"line {sec.line}: route input channels {cj} not divisible by groups {groups}")
                oc += cj // groups
            p = dict(src=idxs, groups=groups, group_id=gid)
            out = (oc, hw[0], hw[1])
        elif k == "yolo":
            for key in list(sec.opts):
                sec.used.add(key)
            p = dict(mask=sec.opts.get("mask"), anchors=sec.opts.get("anchors"), classes=sec.opts.get("classes"))
            out = shape
        else:  # pragma: no cover
            raise CfgError(f"line {sec.line}: unsupported [{k}]")
        if out[1] <= 0 or out[2] <= 0:
            raise CfgError(f"line {sec.line}: layer {i} [{k}] produces empty output {out} from {shape}")
        specs.append(LayerSpec(i, k, shape, out, p, sec.line))
        shape = out
    return (channels, height, width), specs


def expected_weight_floats(specs) -> int:
    n = 0
    for s in specs:
        if s.kind == "convolutional":
            p = s.p
            n += p["filters"] * (4 if p["bn"] else 1)
            n += p["filters"] * (p["in_c"] // p["groups"]) * p["size"] * p["size"]
    return n


# --------------------------------------------------------------------------
# weights file
# --------------------------------------------------------------------------


def read_weights(path: str, specs):
    """Return (header dict, list of per-conv dicts of float32 numpy arrays)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 12:
        raise SystemExit(f"{path}: too short for a Darknet header ({len(data)} bytes)")
    major, minor, revision = struct.unpack_from("<iii", data, 0)
    off = 12
    if major * 10 + minor >= 2:
        (seen,) = struct.unpack_from("<Q", data, off)
        off += 8
    else:
        (seen,) = struct.unpack_from("<I", data, off)
        off += 4
    payload = len(data) - off
    expected = expected_weight_floats(specs)
    if payload % 4 != 0:
        raise SystemExit(f"{path}: weight payload of {payload} bytes is not a whole number of float32 "
                         f"(expected {expected} floats = {expected * 4} bytes after a {off}-byte header)")
    found = payload // 4
    if found != expected:
        raise SystemExit(f"{path}: weights length mismatch for this cfg: expected {expected} floats, found {found} "
                         f"(header {off} bytes, version {major}.{minor}.{revision})")
    arr = np.frombuffer(data, dtype="<f4", offset=off, count=found)
    pos = 0

    def take(n):
        nonlocal pos
        a = arr[pos:pos + n]
        pos += n
        return a.astype(np.float32)

    convs = []
    for s in specs:
        if s.kind != "convolutional":
            continue
        p = s.p
        n = p["filters"]
        d = {}
        d["bias"] = take(n)  # beta when batch-normalized
        if p["bn"]:
            d["gamma"] = take(n)
            d["mean"] = take(n)
            d["var"] = take(n)
        d["weight"] = take(n * (p["in_c"] // p["groups"]) * p["size"] * p["size"]).reshape(
            n, p["in_c"] // p["groups"], p["size"], p["size"])
        convs.append(d)
    assert pos == found
    return dict(major=major, minor=minor, revision=revision, seen=seen), convs


def write_weights(path: str, specs, convs, major=0, minor=2, revision=0, seen=0):
    with open(path, "wb") as f:
        f.write(struct.pack("<iii", major, minor, revision))
        if major * 10 + minor >= 2:
            f.write(struct.pack("<Q", seen))
        else:
            f.write(struct.pack("<I", seen))
        ci = 0
        for s in specs:
            if s.kind != "convolutional":
                continue
            d = convs[ci]
            ci += 1
            parts = [d["bias"]]
            if s.p["bn"]:
                parts += [d["gamma"], d["mean"], d["var"]]
            parts.append(d["weight"].reshape(-1))
            for a in parts:
                f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------

BN_EPS = 1e-5


def bn_denominator(var: torch.Tensor, formula: str) -> torch.Tensor:
    if formula == "pytorch":  # sqrt(var + 1e-5), the PyTorch BatchNorm2d convention (default)
        return torch.sqrt(var + BN_EPS)
    if formula == "darknet":  # what Darknet's normalize_cpu does: sqrt(var) + 1e-6
        return torch.sqrt(var) + 1e-6
    raise ValueError(formula)


def activate(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "linear":
        return x
    if act == "leaky":
        return F.leaky_relu(x, 0.1)
    if act == "relu":
        return F.relu(x)
    if act == "logistic":
        return torch.sigmoid(x)
    if act == "mish":
        return x * torch.tanh(F.softplus(x))
    if act == "swish":
        return x * torch.sigmoid(x)
    raise ValueError(act)


class DarknetModel(torch.nn.Module):
    def __init__(self, specs, bn_formula="pytorch"):
        super().__init__()
        self.specs = specs
        self.bn_formula = bn_formula
        self.conv_idx = [s.index for s in specs if s.kind == "convolutional"]
        self.fused = False
        for s in specs:
            if s.kind == "convolutional":
                p = s.p
                n = p["filters"]
                self.register_buffer(f"w{s.index}", torch.zeros(n, p["in_c"] // p["groups"], p["size"], p["size"]))
                self.register_buffer(f"b{s.index}", torch.zeros(n))
                if p["bn"]:
                    self.register_buffer(f"g{s.index}", torch.ones(n))
                    self.register_buffer(f"m{s.index}", torch.zeros(n))
                    self.register_buffer(f"v{s.index}", torch.ones(n))
        # outputs that must be kept because a later route/shortcut reads them
        self.keep = set()
        for s in specs:
            if s.kind == "shortcut":
                self.keep.add(s.p["src"])
            elif s.kind == "route":
                self.keep.update(s.p["src"])
        self.calibrate = None  # set to a callback during random-weight calibration

    def load_convs(self, convs):
        assert len(convs) == len(self.conv_idx)
        for i, d in zip(self.conv_idx, convs):
            getattr(self, f"w{i}").copy_(torch.from_numpy(d["weight"]))
            getattr(self, f"b{i}").copy_(torch.from_numpy(d["bias"]))
            if f"g{i}" in self._buffers:
                getattr(self, f"g{i}").copy_(torch.from_numpy(d["gamma"]))
                getattr(self, f"m{i}").copy_(torch.from_numpy(d["mean"]))
                getattr(self, f"v{i}").copy_(torch.from_numpy(d["var"]))

    def folded_params(self, i):
        """(weight, bias) of conv layer i with batch-norm folded in, in the model's dtype."""
        w = getattr(self, f"w{i}")
        b = getattr(self, f"b{i}")
        if f"g{i}" in self._buffers and not self.fused:
            g, m, v = (getattr(self, f"{t}{i}") for t in "gmv")
            scale = g / bn_denominator(v, self.bn_formula)
            return w * scale.reshape(-1, 1, 1, 1), b - m * scale
        return w, b

    def fuse_(self):
        """Fold batch-norm into the conv weights in place (used for benchmarking)."""
        for i in self.conv_idx:
            w, b = self.folded_params(i)
            getattr(self, f"w{i}").copy_(w)
            getattr(self, f"b{i}").copy_(b)
        self.fused = True
        return self

    def forward_conv(self, s, x):
        p = s.p
        i = s.index
        w = getattr(self, f"w{i}")
        if p["bn"] and not self.fused:
            y = F.conv2d(x, w, None, p["stride"], p["padding"], 1, p["groups"])
            if self.calibrate is not None:
                self.calibrate(self, i, y)
            g, m, v = (getattr(self, f"{t}{i}") for t in "gmv")
            y = (y - m.reshape(1, -1, 1, 1)) / bn_denominator(v, self.bn_formula).reshape(1, -1, 1, 1)
            y = y * g.reshape(1, -1, 1, 1) + getattr(self, f"b{i}").reshape(1, -1, 1, 1)
        else:
            y = F.conv2d(x, w, getattr(self, f"b{i}"), p["stride"], p["padding"], 1, p["groups"])
        return activate(y, p["act"])

    def forward(self, x, return_all=False):
        outs = {}
        heads = []
        all_outs = [] if return_all else None
        prev = x
        for s in self.specs:
            k = s.kind
            if k == "convolutional":
                y = self.forward_conv(s, prev)
            elif k == "maxpool":
                p = s.p
                pad = p["padding"]
                lo = pad // 2
                hi = pad - lo
                y = F.pad(prev, (lo, hi, lo, hi), value=float("-inf")) if pad else prev
                y = F.max_pool2d(y, p["size"], p["stride"])
            elif k == "upsample":
                st = s.p["stride"]
                y = prev.repeat_interleave(st, dim=2).repeat_interleave(st, dim=3)
                if s.p["scale"] != 1.0:
                    y = y * s.p["scale"]
            elif k == "shortcut":
                y = activate(prev + outs[s.p["src"]], s.p["act"])
            elif k == "route":
                gr, gid = s.p["groups"], s.p["group_id"]
                parts = []
                for j in s.p["src"]:
                    t = outs[j]
                    if gr > 1:
                        cg = t.shape[1] // gr
                        t = t[:, gid * cg:(gid + 1) * cg]
                    parts.append(t)
                y = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            elif k == "yolo":
                heads.append(prev)
                y = prev
            else:  # pragma: no cover
                raise ValueError(k)
            if s.index in self.keep:
                outs[s.index] = y
            if return_all:
                all_outs.append(y)
            prev = y
        if return_all:
            return heads, all_outs
        return tuple(heads)


def load_model(cfg, weights, size=None, bn_formula="pytorch"):
    sections = parse_cfg(cfg)
    inp, specs = build_specs(sections, size)
    model = DarknetModel(specs, bn_formula)
    if weights is not None:
        _, convs = read_weights(weights, specs)
        model.load_convs(convs)
    model.eval()
    return inp, specs, model


# --------------------------------------------------------------------------
# ONNX export (graph written directly with onnx.helper, BN folded)
# --------------------------------------------------------------------------


def build_onnx(model: DarknetModel, inp_shape, opset=13):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c, h, w = inp_shape
    nodes, inits = [], []
    counter = [0]

    def uniq(base):
        counter[0] += 1
        return f"{base}_{counter[0]}"

    def const(name, arr):
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def act_nodes(x, act, base):
        if act == "linear":
            return x
        y = uniq(base + "_" + act)
        if act == "leaky":
            nodes.append(helper.make_node("LeakyRelu", [x], [y], alpha=0.1))
        elif act == "relu":
            nodes.append(helper.make_node("Relu", [x], [y]))
        elif act == "logistic":
            nodes.append(helper.make_node("Sigmoid", [x], [y]))
        elif act == "swish":
            sg = uniq(base + "_sig")
            nodes.append(helper.make_node("Sigmoid", [x], [sg]))
            nodes.append(helper.make_node("Mul", [x, sg], [y]))
        elif act == "mish":
            sp, th = uniq(base + "_softplus"), uniq(base + "_tanh")
            nodes.append(helper.make_node("Softplus", [x], [sp]))
            nodes.append(helper.make_node("Tanh", [sp], [th]))
            nodes.append(helper.make_node("Mul", [x, th], [y]))
        else:
            raise ValueError(act)
        return y

    names = {}
    prev = "input"
    heads = []
    with torch.no_grad():
        for s in model.specs:
            k, p, i = s.kind, s.p, s.index
            base = f"l{i:03d}_{k[:4]}"
            if k == "convolutional":
                wt, bs = model.folded_params(i)
                wn = const(f"{base}_W", wt.double().cpu().numpy().astype(np.float32))
                bn = const(f"{base}_B", bs.double().cpu().numpy().astype(np.float32))
                y = uniq(base)
                pd = p["padding"]
                nodes.append(helper.make_node("Conv", [prev, wn, bn], [y], kernel_shape=[p["size"]] * 2,
                                              strides=[p["stride"]] * 2, pads=[pd, pd, pd, pd],
                                              group=p["groups"], dilations=[1, 1]))
                y = act_nodes(y, p["act"], base)
            elif k == "maxpool":
                pad = p["padding"]
                lo, hi = pad // 2, pad - pad // 2
                y = uniq(base)
                if hi < p["size"]:
                    nodes.append(helper.make_node("MaxPool", [prev], [y], kernel_shape=[p["size"]] * 2,
                                                  strides=[p["stride"]] * 2, pads=[lo, lo, hi, hi]))
                else:  # ONNX/ORT require pads < kernel: pad explicitly with -inf
                    padded = uniq(base + "_pad")
                    pads = const(uniq(base + "_pads"), np.array([0, 0, lo, lo, 0, 0, hi, hi], np.int64))
                    val = const(uniq(base + "_padval"), np.array(-np.inf, np.float32))
                    nodes.append(helper.make_node("Pad", [prev, pads, val], [padded], mode="constant"))
                    nodes.append(helper.make_node("MaxPool", [padded], [y], kernel_shape=[p["size"]] * 2,
                                                  strides=[p["stride"]] * 2))
            elif k == "upsample":
                st = p["stride"]
                scales = const(uniq(base + "_scales"), np.array([1, 1, st, st], np.float32))
                y = uniq(base)
                nodes.append(helper.make_node("Resize", [prev, "", scales], [y], mode="nearest",
                                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
                if p["scale"] != 1.0:
                    sc = const(uniq(base + "_scale"), np.array(p["scale"], np.float32))
                    y2 = uniq(base + "_mul")
                    nodes.append(helper.make_node("Mul", [y, sc], [y2]))
                    y = y2
            elif k == "shortcut":
                y = uniq(base)
                nodes.append(helper.make_node("Add", [prev, names[p["src"]]], [y]))
                y = act_nodes(y, p["act"], base)
            elif k == "route":
                parts = []
                for j in p["src"]:
                    t = names[j]
                    if p["groups"] > 1:
                        cj = model.specs[j].out_shape[0]
                        cg = cj // p["groups"]
                        st = const(uniq(base + "_st"), np.array([p["group_id"] * cg], np.int64))
                        en = const(uniq(base + "_en"), np.array([(p["group_id"] + 1) * cg], np.int64))
                        ax = const(uniq(base + "_ax"), np.array([1], np.int64))
                        t2 = uniq(base + "_slice")
                        nodes.append(helper.make_node("Slice", [t, st, en, ax], [t2]))
                        t = t2
                    parts.append(t)
                if len(parts) == 1:
                    y = parts[0]
                else:
                    y = uniq(base)
                    nodes.append(helper.make_node("Concat", parts, [y], axis=1))
            elif k == "yolo":
                hn = f"head{len(heads)}"
                nodes.append(helper.make_node("Identity", [prev], [hn]))
                heads.append((hn, s.in_shape))
                y = prev
            names[i] = y
            prev = y

    graph = helper.make_graph(
        nodes, "darknet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, *shp]) for n, shp in heads],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="edge-infer darknet_ref")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


# --------------------------------------------------------------------------
# random weights (for self-tests only)
# --------------------------------------------------------------------------


def make_random_weights(specs, inp_shape, seed):
    """He-initialised convs; BN running stats calibrated on a random input so activations stay O(1)."""
    rng = np.random.default_rng(seed)
    convs = []
    for s in specs:
        if s.kind != "convolutional":
            continue
        p = s.p
        n, cin, k = p["filters"], p["in_c"] // p["groups"], p["size"]
        fan_in = cin * k * k
        d = {"weight": (rng.standard_normal((n, cin, k, k)) * math.sqrt(2.0 / fan_in)).astype(np.float32)}
        if p["bn"]:
            d["bias"] = (rng.standard_normal(n) * 0.1).astype(np.float32)
            d["gamma"] = rng.uniform(0.7, 1.3, n).astype(np.float32)
            d["mean"] = np.zeros(n, np.float32)
            d["var"] = np.ones(n, np.float32)
        else:
            d["bias"] = (rng.standard_normal(n) * 0.1).astype(np.float32)
        convs.append(d)

    model = DarknetModel(specs)
    model.load_convs(convs)
    model.double().eval()
    by_index = {}
    ci = 0
    for s in specs:
        if s.kind == "convolutional":
            by_index[s.index] = convs[ci]
            ci += 1

    def calib(mod, i, y):
        m = y.mean(dim=(0, 2, 3))
        v = y.var(dim=(0, 2, 3), unbiased=False)
        n = m.numel()
        m_np = m.numpy() + rng.standard_normal(n) * 0.05 * np.sqrt(v.numpy())
        v_np = v.numpy() * rng.uniform(0.8, 1.25, n) + 1e-3
        by_index[i]["mean"] = m_np.astype(np.float32)
        by_index[i]["var"] = v_np.astype(np.float32)
        getattr(mod, f"m{i}").copy_(torch.from_numpy(by_index[i]["mean"]))
        getattr(mod, f"v{i}").copy_(torch.from_numpy(by_index[i]["var"]))

    c, h, w = inp_shape
    x = torch.from_numpy(rng.random((1, c, h, w))).double()
    model.calibrate = calib
    with torch.no_grad():
        model(x)
    model.calibrate = None
    return convs


# --------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------


def run_reference(model, x: np.ndarray, return_all=False):
    model = model.double()
    with torch.inference_mode():
        t = torch.from_numpy(np.ascontiguousarray(x)).double()
        if return_all:
            heads, alls = model(t, return_all=True)
            return ([hd.numpy().astype(np.float32) for hd in heads],
                    [a.numpy().astype(np.float32) for a in alls])
        heads = model(t)
    return [hd.numpy().astype(np.float32) for hd in heads], None


def save_outputs(out_dir, heads, alls=None):
    os.makedirs(out_dir, exist_ok=True)
    for n, hd in enumerate(heads):
        np.save(os.path.join(out_dir, f"head{n}.npy"), hd)
        print(f"{os.path.join(out_dir, f'head{n}.npy')}: {list(hd.shape)}")
    if alls is not None:
        for n, a in enumerate(alls):
            np.save(os.path.join(out_dir, f"layer{n:03d}.npy"), a)
        print(f"wrote {len(alls)} per-layer outputs layerNNN.npy")


def check_input(x, inp_shape, path):
    c, h, w = inp_shape
    if x.dtype != np.float32:
        raise SystemExit(f"{path}: input dtype must be float32, got {x.dtype}")
    if tuple(x.shape) != (1, c, h, w):
        raise SystemExit(f"{path}: input shape {list(x.shape)} != expected [1, {c}, {h}, {w}] (use --size WxH?)")


def cmd_info(a):
    inp, specs = build_specs(parse_cfg(a.cfg), parse_size(a.size))
    print(f"input [1, {inp[0]}, {inp[1]}, {inp[2]}]")
    for s in specs:
        extra = {k: v for k, v in s.p.items() if k not in ("in_c", "anchors")}
        print(f"{s.index:4d} {s.kind:14s} {str(list(s.in_shape)):>18s} -> {str(list(s.out_shape)):<18s} {extra}")
    n = expected_weight_floats(specs)
    print(f"expected weight floats: {n} (file size with v0.2 header: {20 + 4 * n} bytes)")


def cmd_run(a):
    inp, specs, model = load_model(a.cfg, a.weights, parse_size(a.size), a.bn)
    x = np.load(a.input)
    check_input(x, inp, a.input)
    heads, alls = run_reference(model, x, a.all_layers)
    save_outputs(a.out, heads, alls)


def cmd_golden(a):
    size = parse_size(a.size)
    inp, specs, model = load_model(a.cfg, a.weights, size, a.bn)
    c, h, w = inp
    x = np.random.default_rng(a.seed).random((1, c, h, w), dtype=np.float32)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "input.npy"), x)
    heads, alls = run_reference(model, x, a.all_layers)
    save_outputs(a.out, heads, alls)
    meta = dict(cfg=a.cfg, weights=a.weights, size=[w, h], seed=a.seed, bn=a.bn,
                input=[1, c, h, w], heads=[list(hd.shape) for hd in heads])
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


def cmd_export(a):
    import onnx
    inp, specs, model = load_model(a.cfg, a.weights, parse_size(a.size), a.bn)
    model.double()
    m = build_onnx(model, inp, a.opset)
    onnx.save(m, a.out)
    print(f"wrote {a.out}: input [1, {inp[0]}, {inp[1]}, {inp[2]}], outputs "
          + ", ".join(f"{o.name}{[d.dim_value for d in o.type.tensor_type.shape.dim]}" for o in m.graph.output))


def ort_session(path_or_bytes, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def _time(fn, iterations, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts = np.array(ts)
    return dict(median_ms=float(np.median(ts)), p99_ms=float(np.percentile(ts, 99)),
                mean_ms=float(ts.mean()), min_ms=float(ts.min()), max_ms=float(ts.max()))


def cmd_bench(a):
    import onnxruntime as ort
    size = parse_size(a.size)
    inp, specs, model = load_model(a.cfg, a.weights, size, a.bn)
    c, h, w = inp
    x = np.random.default_rng(0).random((1, c, h, w), dtype=np.float32)
    warmup = a.warmup if a.warmup is not None else max(3, a.iterations // 10)

    model.double()
    onnx_model = build_onnx(model, inp)
    sess = ort_session(onnx_model.SerializeToString(), a.threads)
    feed = {"input": x}
    res_ort = _time(lambda: sess.run(None, feed), a.iterations, warmup)

    torch.set_num_threads(a.threads)
    fused = model.fuse_().float().eval()
    xt = torch.from_numpy(x)

    def torch_fn():
        with torch.inference_mode():
            fused(xt)

    res_torch = _time(torch_fn, a.iterations, warmup)

    result = dict(model=os.path.basename(a.cfg), size=[w, h], batch=1, threads=a.threads,
                  iterations=a.iterations, warmup=warmup,
                  onnxruntime=dict(version=ort.__version__, **res_ort),
                  torch=dict(version=torch.__version__, **res_torch))
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{result['model']} {w}x{h} batch 1, threads {a.threads}, {a.iterations} iterations "
              f"(+{warmup} warm-up)")
        for name in ("onnxruntime", "torch"):
            r = result[name]
            print(f"  {name:12s} {r['version']:>16s}  median {r['median_ms']:9.2f} ms   p99 {r['p99_ms']:9.2f} ms")


def cmd_random_weights(a):
    sections = parse_cfg(a.cfg)
    inp, specs = build_specs(sections, parse_size(a.size))
    convs = make_random_weights(specs, inp, a.seed)
    write_weights(a.out, specs, convs, seen=12345)
    print(f"wrote {a.out}: {expected_weight_floats(specs)} floats, {os.path.getsize(a.out)} bytes")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, weights=True, size_required=False):
        p.add_argument("--cfg", required=True)
        if weights:
            p.add_argument("--weights", required=True)
        p.add_argument("--size", required=size_required, help="WxH, overrides [net] width/height")
        p.add_argument("--bn", choices=("pytorch", "darknet"), default="pytorch",
                       help="BN inference formula: pytorch = gamma*(x-mean)/sqrt(var+1e-5)+beta (default); "
                            "darknet = gamma*(x-mean)/(sqrt(var)+1e-6)+beta as in Darknet's normalize_cpu")

    p = sub.add_parser("info", help="print the layer table and expected weight size")
    p.add_argument("--cfg", required=True)
    p.add_argument("--size")
    p.set_defaults(fn=cmd_info)

    p = sub.add_parser("run", help="run the float64 reference on an input .npy")
    common(p)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--all-layers", action="store_true", help="also write every layer output as layerNNN.npy")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("golden", help="make a seeded random input and its reference heads")
    common(p, size_required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--all-layers", action="store_true")
    p.set_defaults(fn=cmd_golden)

    p = sub.add_parser("export-onnx", help="export a BN-folded static-shape ONNX model")
    common(p)
    p.add_argument("--out", required=True)
    p.add_argument("--opset", type=int, default=13)
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("bench", help="time onnxruntime and PyTorch CPU on the model")
    common(p, size_required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--warmup", type=int, default=None, help="default max(3, iterations/10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("random-weights", help="write random Darknet weights (testing only)")
    p.add_argument("--cfg", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", help="calibration input size WxH (default: cfg)")
    p.set_defaults(fn=cmd_random_weights)

    a = ap.parse_args(argv)
    try:
        a.fn(a)
    except CfgError as e:
        raise SystemExit(f"cfg error: {e}")


if __name__ == "__main__":
    main()
