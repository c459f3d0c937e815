#!/usr/bin/env python3
"""Independent PyTorch (CPU) reference for Darknet .cfg/.weights YOLO models.

Written from the Darknet file-format description only; it is the reference
that the Rust engine (edge-infer) is checked against.  See README.md.

Subcommands: info, run, golden, export-onnx, bench, random-weights, gpu-bench.
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
        # gpu-bench's fast variants: F.interpolate keeps channels_last (repeat_interleave does not);
        # for an integer stride nearest upsampling is an exact copy either way (checked by fold_check)
        self.fast_upsample = False

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
                if self.fast_upsample:
                    y = F.interpolate(prev, scale_factor=float(st), mode="nearest")
                else:
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


# --------------------------------------------------------------------------
# gpu-bench: PyTorch batch-1 latency on a GPU (eager, CUDA graph, torch.compile)
# --------------------------------------------------------------------------

GPU_BENCH_MODES = {
    # name: (dtype, BN folded + channels_last + fast upsample, CUDA graph, torch.compile)
    "eager-fp32": ("float32", False, False, False),
    "eager-fp16": ("float16", False, False, False),
    "eager-fp16-folded": ("float16", True, False, False),
    "graph-fp32": ("float32", True, True, False),
    "graph-fp16": ("float16", True, True, False),
    "compile-fp16": ("float16", True, False, True),
    "matmul-ceiling": None,
}
F64_FOLD_TOL = 1e-9  # BN folding in float64 must be exact to rounding
GPU_BENCH_DEFAULT_MODES = "eager-fp32,eager-fp16,graph-fp32,graph-fp16,compile-fp16,matmul-ceiling"


def say(msg):
    print(msg, flush=True)


def conv_flops(specs) -> int:
    """2 * multiply-accumulates of all convolutions at batch 1 (bias, BN, activations,
    pooling, upsampling and routes not counted; the convention of Darknet's BFLOPs)."""
    n = 0
    for s in specs:
        if s.kind == "convolutional":
            p = s.p
            oc, oh, ow = s.out_shape
            n += 2 * oc * oh * ow * (p["in_c"] // p["groups"]) * p["size"] * p["size"]
    return n


def max_rel_diff(outs, refs):
    """max over heads of max|out-ref| / max|ref| (computed in float64 on the CPU)."""
    worst_rel, worst_abs = 0.0, 0.0
    for o, r in zip(outs, refs):
        o = o.detach().to("cpu", torch.float64)
        r = r.detach().to("cpu", torch.float64)
        d = float((o - r).abs().max())
        if not math.isfinite(d):
            return float("inf"), float("inf")
        worst_abs = max(worst_abs, d)
        worst_rel = max(worst_rel, d / max(float(r.abs().max()), 1e-30))
    return worst_rel, worst_abs


def _stats(ts, prefix=""):
    ts = np.asarray(ts, np.float64)
    return {f"{prefix}median_ms": float(np.median(ts)), f"{prefix}p99_ms": float(np.percentile(ts, 99)),
            f"{prefix}mean_ms": float(ts.mean()), f"{prefix}min_ms": float(ts.min()),
            f"{prefix}max_ms": float(ts.max())}


def time_device(fn, iterations, warmup, device):
    """Batch-1 latency of fn(): per iteration, synchronize, then time fn() to the end of its
    GPU work.  Host wall time (perf_counter, synchronize to synchronize) gives median_ms etc.;
    on CUDA a torch.cuda.Event pair around the same call gives gpu_median_ms etc."""
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    wall, events = [], []
    for _ in range(iterations):
        sync()
        if cuda:
            e0 = torch.cuda.Event(enable_timing=True)
            e1 = torch.cuda.Event(enable_timing=True)
            t0 = time.perf_counter()
            e0.record()
            fn()
            e1.record()
            e1.synchronize()
            t1 = time.perf_counter()
            events.append((e0, e1))
        else:
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
        wall.append((t1 - t0) * 1e3)
    res = _stats(wall)
    if cuda:
        res.update(_stats([e0.elapsed_time(e1) for e0, e1 in events], "gpu_"))
    return res


def bench_weights(spec, specs, inp):
    """A Darknet .weights file, or random:SEED (this script's random-weights generator)."""
    if spec.startswith("random:") and not os.path.exists(spec):
        try:
            seed = int(spec.split(":", 1)[1])
        except ValueError:
            raise SystemExit(f"--weights {spec!r}: expected a file or random:SEED (an integer)")
        say(f"generating random weights (darknet_ref random-weights, seed {seed}) ...")
        return make_random_weights(specs, inp, seed), f"random:{seed} (darknet_ref.py generator)"
    _, convs = read_weights(spec, specs)
    return convs, os.path.abspath(spec)


def cmd_gpu_bench(a):
    import copy
    import platform

    t_start = time.perf_counter()
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for m in modes:
        if m not in GPU_BENCH_MODES:
            raise SystemExit(f"--modes: unknown mode {m!r}; known: {', '.join(GPU_BENCH_MODES)}")
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but torch.cuda.is_available() is False "
                         f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    if a.threads:
        torch.set_num_threads(a.threads)
    # FP32 means FP32: no TF32 in cuBLAS or cuDNN (FP16 modes are unaffected).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = not a.no_cudnn_benchmark
    grad_ctx = torch.inference_mode if a.grad_mode == "inference" else torch.no_grad

    size = parse_size(a.size)
    inp, specs = build_specs(parse_cfg(a.cfg), size)
    c, h, w = inp
    flops = conv_flops(specs)
    convs, wsrc = bench_weights(a.weights, specs, inp)
    master = DarknetModel(specs, a.bn)
    master.load_convs(convs)
    master = master.double().eval()  # BN is folded from float64 master copies
    x_cpu = torch.from_numpy(np.random.default_rng(a.seed).random((1, c, h, w), dtype=np.float32))
    iterations = a.iterations
    warmup = a.warmup if a.warmup is not None else max(10, iterations // 10)

    dev_info = dict(type=device.type, torch=torch.__version__, python=platform.python_version())
    if cuda:
        idx = device.index if device.index is not None else torch.cuda.current_device()
        prop = torch.cuda.get_device_properties(idx)
        dev_info.update(name=prop.name, capability=list(torch.cuda.get_device_capability(idx)),
                        memory_gib=round(prop.total_memory / 2 ** 30, 1), sms=prop.multi_processor_count,
                        cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
        device = torch.device("cuda", idx)
        torch.cuda.set_device(device)
    else:
        dev_info.update(name=platform.processor() or platform.machine(), threads=torch.get_num_threads())

    result = dict(
        tool="darknet_ref.py gpu-bench", model=os.path.basename(a.cfg), cfg=a.cfg, weights=wsrc,
        input=[1, c, h, w], batch=1, bn=a.bn, conv_layers=len(master.conv_idx),
        flops=flops, gflops=flops / 1e9, device=dev_info,
        settings=dict(iterations=iterations, warmup=warmup, input_seed=a.seed,
                      cudnn_benchmark=torch.backends.cudnn.benchmark, fp32_tf32=False,
                      grad_mode=a.grad_mode, compile_mode=a.compile_mode,
                      timing="per iteration: synchronize, then host wall time of one forward to the end of "
                             "its GPU work (median_ms...); CUDA events around the same call (gpu_median_ms...); "
                             "input already on the device, outputs left on the device"),
        fold_check=None, modes={})

    def write_json():
        if a.json:
            tmp = a.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(result, f, indent=1)
                f.write("\n")
            os.replace(tmp, a.json)

    say(f"gpu-bench {result['model']} input {result['input']} on {dev_info['name']} ({device}), "
        f"torch {torch.__version__}; conv FLOPs {flops / 1e9:.3f} G; weights {wsrc}")
    say(f"modes: {', '.join(modes)}; {iterations} iterations (+{warmup} warm-up) each")

    def make_model(dtype, fast):
        m = copy.deepcopy(master)
        if fast:
            m.fuse_()  # in float64
            m.fast_upsample = True
        m = m.to(device=device, dtype=getattr(torch, dtype))
        if fast:
            m = m.to(memory_format=torch.channels_last)
        return m.eval()

    def make_input(dtype, fast):
        x = x_cpu.to(device=device, dtype=getattr(torch, dtype))
        return x.contiguous(memory_format=torch.channels_last) if fast else x.contiguous()

    # Reference for every mode: the plain (unfolded, NCHW) model in fp32 on the same device.
    say("reference: unfolded fp32 model ...")
    with grad_ctx():
        ref_model = make_model("float32", False)
        ref_out = [t.float().cpu() for t in ref_model(make_input("float32", False))]
        del ref_model

    # BN-fold check.
    #  fp32 (the gate asked for, on the bench device): folded channels_last model (what graph-* and
    #    compile-* run) vs the unfolded NCHW one.  Both carry fp32 rounding, which grows through a deep
    #    net (YOLOv3 with random weights: ~2-4e-5 vs float64 on the CPU), so the printed fp32 noise
    #    baseline (unfolded fp32 vs unfolded float64) tells a folding bug from rounding.
    #  float64 (on the CPU, NCHW): folded vs unfolded, where folding must be exact to ~1e-12; this one
    #    decides whether the folded modes run at all.
    fc = dict(definition="max over heads of max|a-b| / max|b|", tolerance=a.fold_tolerance,
              f64_tolerance=F64_FOLD_TOL)
    result["fold_check"] = fc
    fold_exact = False
    try:
        say("fold check: float64 on the CPU ...")
        with torch.inference_mode():
            xd = x_cpu.double()
            u64 = [t.clone() for t in master(xd)]
            f64m = copy.deepcopy(master).fuse_()
            f64m.fast_upsample = True
            f64 = [t.clone() for t in f64m(xd)]
            del f64m
        fc["f64_max_rel_diff"], _ = max_rel_diff(f64, u64)
        fold_exact = fc["f64_max_rel_diff"] <= F64_FOLD_TOL
        say(f"fold check (float64, CPU, BN folded vs unfolded): max rel diff {fc['f64_max_rel_diff']:.3e} "
            f"{'<=' if fold_exact else '>'} {F64_FOLD_TOL:g}: {'ok' if fold_exact else 'FAILED'}")
        fc["fp32_noise_max_rel_diff"], _ = max_rel_diff(ref_out, u64)
        del u64, f64
        with grad_ctx():
            fm = make_model("float32", True)
            fout = [t.float().cpu() for t in fm(make_input("float32", True))]
            del fm
        rel, ab = max_rel_diff(fout, ref_out)
        fc.update(dtype="float32", device=str(device), max_rel_diff=rel, max_abs_diff=ab,
                  ref_max_abs=max(float(r.abs().max()) for r in ref_out), passed=rel <= a.fold_tolerance)
        say(f"fold check (fp32 on {device}, BN folded + channels_last vs unfolded NCHW): max rel diff {rel:.3e} "
            f"(max abs {ab:.3e}) {'<=' if fc['passed'] else '>'} {a.fold_tolerance:g}: "
            f"{'ok' if fc['passed'] else 'FAILED'}; fp32 noise baseline (unfolded fp32 on {device} vs "
            f"float64): {fc['fp32_noise_max_rel_diff']:.3e}")
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        fc.update(passed=False, error=f"{type(e).__name__}: {e}")
        say(f"fold check FAILED with an error: {type(e).__name__}: {e}")
    fc["passed"] = bool(fc.get("passed")) and fold_exact
    write_json()

    def run_model_mode(name, dtype, fast, graph, compiled):
        parts = [dtype + (" (TF32 off)" if dtype == "float32" and cuda else ""),
                 "BN folded, channels_last" if fast else "BN unfolded (separate ops), NCHW"]
        info = dict(dtype=dtype, bn_folded=fast, channels_last=fast, cuda_graph=graph and cuda,
                    compiled=compiled)
        t0 = time.perf_counter()
        with grad_ctx():
            model = make_model(dtype, fast)
            x = make_input(dtype, fast)
            if graph and cuda:
                parts.append("CUDA graph")
                s = torch.cuda.Stream(device)
                s.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(s):
                    for _ in range(3):  # cuDNN autotuning happens here, before capture
                        model(x)
                torch.cuda.current_stream(device).wait_stream(s)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    static_out = model(x)
                fn = g.replay

                def outputs():
                    g.replay()
                    return static_out
            elif compiled:
                parts.append(f'torch.compile(mode="{a.compile_mode}")')
                cm = torch.compile(model, mode=a.compile_mode, dynamic=False)
                mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

                def fn():
                    if mark is not None:
                        mark()
                    return cm(x)

                say(f"  {name}: compiling (mode={a.compile_mode}; YOLOv3 can take several minutes) ...")
                tc = time.perf_counter()
                fn()
                if cuda:
                    torch.cuda.synchronize(device)
                info["compile_s"] = round(time.perf_counter() - tc, 2)
                say(f"  {name}: first call (compile + autotune) took {info['compile_s']:.1f} s")
                for _ in range(3):  # cudagraph trees record on the first calls after compilation
                    fn()

                def outputs():
                    return [t.clone() for t in fn()]
            else:
                if graph:
                    parts.append("no CUDA graph on CPU (folded model timed eagerly)")
                fn = lambda: model(x)  # noqa: E731
                outputs = fn
            info["setup_s"] = round(time.perf_counter() - t0, 2)
            say(f"  {name}: timing ...")
            info.update(time_device(fn, iterations, warmup, device))
            out = [t.float().cpu() for t in outputs()]
        rel, ab = max_rel_diff(out, ref_out)
        info["max_rel_diff_vs_fp32"] = rel
        info["max_abs_diff_vs_fp32"] = ab
        info["tflops"] = flops / (info["median_ms"] * 1e-3) / 1e12
        if "gpu_median_ms" in info:
            info["gpu_tflops"] = flops / (info["gpu_median_ms"] * 1e-3) / 1e12
        info["description"] = ", ".join(parts)
        return info

    def run_matmul():
        n = a.matmul_size
        A = torch.randn(n, n, device=device, dtype=torch.float16)
        B = torch.randn(n, n, device=device, dtype=torch.float16)
        C = torch.empty(n, n, device=device, dtype=torch.float16)
        fn = lambda: torch.matmul(A, B, out=C)  # noqa: E731
        say(f"  matmul-ceiling: timing fp16 {n}x{n}x{n} torch.matmul ...")
        info = dict(n=n, dtype="float16", flops=2 * n ** 3,
                    fp16_reduced_precision_reduction=torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction)
        info.update(time_device(fn, a.matmul_iterations, 10, device))
        info["tflops"] = 2 * n ** 3 / (info["median_ms"] * 1e-3) / 1e12
        info["gpu_tflops"] = 2 * n ** 3 / (info["gpu_median_ms"] * 1e-3) / 1e12
        info["gpu_tflops_best"] = 2 * n ** 3 / (info["gpu_min_ms"] * 1e-3) / 1e12
        info["description"] = f"fp16 dense {n}^3 torch.matmul (cuBLAS), the measured fp16 TFLOP/s ceiling"
        del A, B, C
        return info

    failed = []
    for name in modes:
        spec = GPU_BENCH_MODES[name]
        if not cuda and (spec is None or spec[0] == "float16" or spec[3]):
            reason = ("CUDA-only mode (fp16, torch.compile and the matmul ceiling are only timed on a GPU); "
                      f"--device is {device}")
            say(f"{name}: skipped: {reason}")
            result["modes"][name] = dict(status="skipped", reason=reason)
            write_json()
            continue
        if spec is not None and spec[1] and not fold_exact and not a.ignore_fold_check:
            reason = ("the float64 BN-fold check failed, so the folded model is not trusted "
                      "(--ignore-fold-check to run anyway)")
            say(f"{name}: skipped: {reason}")
            result["modes"][name] = dict(status="skipped", reason=reason)
            write_json()
            continue
        say(f"{name}: ...")
        try:
            info = run_matmul() if spec is None else run_model_mode(name, *spec)
            info = dict(status="ok", **info)
            if spec is None:
                say(f"{name}: median {info['median_ms']:.3f} ms, {info['tflops']:.1f} TFLOP/s wall "
                    f"({info['gpu_tflops']:.1f} GPU-event, best {info['gpu_tflops_best']:.1f})")
            else:
                gpu = f", GPU events median {info['gpu_median_ms']:.3f} ms" if "gpu_median_ms" in info else ""
                say(f"{name}: median {info['median_ms']:.3f} ms  p99 {info['p99_ms']:.3f} ms  "
                    f"mean {info['mean_ms']:.3f} ms{gpu}; {info['tflops']:.2f} TFLOP/s; "
                    f"max rel diff vs fp32 {info['max_rel_diff_vs_fp32']:.2e}  [{info['description']}]")
        except Exception as e:  # noqa: BLE001 -- every mode is independently skippable
            import traceback
            traceback.print_exc()
            say(f"{name}: FAILED: {type(e).__name__}: {e} (continuing with the other modes)")
            info = dict(status="failed", error=f"{type(e).__name__}: {e}"[:4000])
            failed.append(name)
        result["modes"][name] = info
        if cuda:
            torch.cuda.empty_cache()
        write_json()

    result["total_s"] = round(time.perf_counter() - t_start, 1)
    write_json()
    say("")
    say(f"{result['model']} {w}x{h} batch 1 on {dev_info['name']}: conv {flops / 1e9:.2f} GFLOP")
    say(f"  {'mode':18s} {'median ms':>10s} {'p99 ms':>9s} {'mean ms':>9s} {'TFLOP/s':>8s}")
    for name, r in result["modes"].items():
        if r.get("status") == "ok":
            say(f"  {name:18s} {r['median_ms']:10.3f} {r['p99_ms']:9.3f} {r['mean_ms']:9.3f} {r['tflops']:8.2f}")
        else:
            say(f"  {name:18s} {r['status']}")
    if a.json:
        say(f"wrote {a.json}")
    if not fc["passed"]:
        say("BN-fold check FAILED (see fold_check above): exit 1")
        raise SystemExit(1)
    if failed and a.strict:
        raise SystemExit(2)


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

    p = sub.add_parser("gpu-bench", help="time PyTorch at batch 1 on a GPU: eager, CUDA graph, torch.compile",
                       description="Batch-1 latency of PyTorch on the model, mode by mode; see README.md.")
    common(p)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    p.add_argument("--modes", default=GPU_BENCH_DEFAULT_MODES,
                   help=f"comma list, run in this order, of: {', '.join(GPU_BENCH_MODES)} "
                        f"(default {GPU_BENCH_DEFAULT_MODES})")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--warmup", type=int, default=None, help="default max(10, iterations/10)")
    p.add_argument("--seed", type=int, default=0, help="input seed: np.random.default_rng(seed).random(...)")
    p.add_argument("--json", metavar="OUT", help="write the results to this JSON file (rewritten after each mode)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--compile-mode", default="max-autotune", help='torch.compile mode (default "max-autotune")')
    p.add_argument("--grad-mode", choices=("inference", "no_grad"), default="inference")
    p.add_argument("--matmul-size", type=int, default=8192)
    p.add_argument("--matmul-iterations", type=int, default=50)
    p.add_argument("--fold-tolerance", type=float, default=1e-4,
                   help="fp32 fold check: max rel diff above this fails (exit 1 after the timings)")
    p.add_argument("--ignore-fold-check", action="store_true",
                   help="run the folded modes even if the float64 fold check fails")
    p.add_argument("--no-cudnn-benchmark", action="store_true", help="leave torch.backends.cudnn.benchmark off")
    p.add_argument("--strict", action="store_true", help="exit 2 if any mode failed (default: exit 0)")
    p.set_defaults(fn=cmd_gpu_bench)

    a = ap.parse_args(argv)
    try:
        a.fn(a)
    except CfgError as e:
        raise SystemExit(f"cfg error: {e}")


if __name__ == "__main__":
    main()
