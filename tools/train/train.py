#!/usr/bin/env python3
"""Train edge-infer's demo detector (a reduced YOLOv3-tiny) on synthetic shape scenes and
export it as Darknet cfg + weights + names.

Subcommands:
  prepare  decode `edge-infer dataset synth` directories into one uint8 cache, each image
           letterboxed into the network input exactly as the engine does it
  train    k-means anchors, build the network from the Darknet cfg it writes, train it with a
           YOLOv3 loss, export Darknet files and check the export against
           tools/reference/darknet_ref.py
  compare  compare two directories of head<i>.npy files (e.g. the engine's --dump-raw output
           with the reference's)

See tools/train/README.md for the commands that made models/shapes/.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import darknet_ref as dr  # noqa: E402  (cfg parser, weights writer/reader, reference model)


def log(msg, **kv):
    if kv:
        msg = msg + " " + json.dumps(kv, sort_keys=False)
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------
# letterbox, exactly as the engine does it (engine/src/yolo/letterbox.rs, daemon/src/convert.rs)
# --------------------------------------------------------------------------


def letterbox_geom(sw, sh, nw, nh):
    """(inner_w, inner_h, pad_x, pad_y) of Letterbox::new(src_w, src_h, net_w, net_h, true)."""
    if nw * sh <= nh * sw:
        iw, ih = nw, min(max((sh * nw + sw // 2) // sw, 1), nh)
    else:
        iw, ih = min(max((sw * nh + sh // 2) // sh, 1), nw), nh
    return iw, ih, (nw - iw) // 2, (nh - ih) // 2


def _taps(inner, src):
    # pos = ((j + 0.5) * src / inner - 0.5).max(0), in f32 like the engine
    j = np.arange(inner, dtype=np.float32)
    pos = np.maximum((j + np.float32(0.5)) * np.float32(src) / np.float32(inner) - np.float32(0.5), np.float32(0))
    lo = np.minimum(pos.astype(np.int64), src - 1)
    hi = np.minimum(lo + 1, src - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def letterbox_rgb(img, net):
    """uint8 HxWx3 -> (float32 net x net x 3 in 0..255 with the bars at 127.5, geometry)."""
    sh, sw = img.shape[:2]
    iw, ih, px, py = letterbox_geom(sw, sh, net, net)
    out = np.full((net, net, 3), 127.5, dtype=np.float32)
    if (iw, ih) == (sw, sh):
        out[py:py + ih, px:px + iw] = img
    else:
        f = img.astype(np.float32)
        lo, hi, w = _taps(iw, sw)
        top_bottom = f[:, lo] + (f[:, hi] - f[:, lo]) * w[None, :, None]  # columns first (tx)
        lo, hi, w = _taps(ih, sh)
        out[py:py + ih, px:px + iw] = top_bottom[lo] + (top_bottom[hi] - top_bottom[lo]) * w[:, None, None]
    return out, (iw, ih, px, py)


def read_labels(path, sw, sh, geom):
    """YOLO label file -> list of (class, x1, y1, x2, y2) in network-input pixels."""
    iw, ih, px, py = geom
    out = []
    with open(path) as f:
        for line in f:
            v = line.split()
            if len(v) != 5:
                continue
            c, cx, cy, w, h = int(float(v[0])), *map(float, v[1:])
            x1, y1, x2, y2 = (cx - w / 2) * sw, (cy - h / 2) * sh, (cx + w / 2) * sw, (cy + h / 2) * sh
            out.append((c, x1 * iw / sw + px, y1 * ih / sh + py, x2 * iw / sw + px, y2 * ih / sh + py))
    return out


def list_dataset(d):
    imgs = sorted(glob.glob(os.path.join(d, "images", "*.png")))
    return [(p, os.path.join(d, "labels", os.path.splitext(os.path.basename(p))[0] + ".txt")) for p in imgs]


def load_image(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# --------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------

_W = {}


def _prep_init(cache, n, net):
    _W["imgs"] = np.lib.format.open_memmap(os.path.join(cache, "images.npy"), mode="r+")
    _W["net"] = net


def _prep_one(job):
    i, img_path, lab_path = job
    img = load_image(img_path)
    sh, sw = img.shape[:2]
    lb, geom = letterbox_rgb(img, _W["net"])
    _W["imgs"][i] = np.clip(np.rint(lb), 0, 255).astype(np.uint8)
    return i, geom, read_labels(lab_path, sw, sh, geom)


def cmd_prepare(a):
    from multiprocessing import Pool
    t0 = time.time()
    files = []
    for d in a.data:
        files += list_dataset(d)
    if not files:
        raise SystemExit("no images under " + " ".join(a.data))
    n, net = len(files), a.size
    os.makedirs(a.cache, exist_ok=True)
    mm = np.lib.format.open_memmap(os.path.join(a.cache, "images.npy"), mode="w+", dtype=np.uint8, shape=(n, net, net, 3))
    del mm
    geoms = np.zeros((n, 4), np.int32)
    labels = [None] * n
    jobs = [(i, p, l) for i, (p, l) in enumerate(files)]
    with Pool(a.workers or os.cpu_count(), initializer=_prep_init, initargs=(a.cache, n, net)) as pool:
        for k, (i, geom, lab) in enumerate(pool.imap_unordered(_prep_one, jobs, chunksize=32)):
            geoms[i] = geom
            labels[i] = lab
            if (k + 1) % 5000 == 0:
                log(f"prepare: {k + 1}/{n}")
    m = max(1, max(len(l) for l in labels))
    lab = np.full((n, m, 5), -1.0, np.float32)
    for i, l in enumerate(labels):
        if l:
            lab[i, :len(l)] = np.asarray(l, np.float32)
    np.save(os.path.join(a.cache, "labels.npy"), lab)
    np.save(os.path.join(a.cache, "geoms.npy"), geoms)
    names = open(os.path.join(a.data[0], "classes.names")).read().split()
    meta = dict(size=net, images=n, objects=int((lab[..., 0] >= 0).sum()), classes=names, sources=a.data,
                square=int(((geoms[:, 0] == net) & (geoms[:, 1] == net)).sum()))
    json.dump(meta, open(os.path.join(a.cache, "meta.json"), "w"), indent=1)
    log(f"prepare: {n} images, {meta['objects']} objects in {time.time() - t0:.1f}s", **{k: meta[k] for k in ("square", "classes")})


# --------------------------------------------------------------------------
# network: built from the Darknet cfg it will be exported as
# --------------------------------------------------------------------------


def kmeans_anchors(wh, k, seed, iters=300):
    """k-means with 1 - IoU(wh) distance (boxes share a corner); sorted by area."""
    rng = np.random.default_rng(seed)
    wh = wh.astype(np.float64)
    c = wh[rng.choice(len(wh), k, replace=False)]
    for _ in range(iters):
        inter = np.minimum(wh[:, None, 0], c[None, :, 0]) * np.minimum(wh[:, None, 1], c[None, :, 1])
        iou = inter / (wh[:, None].prod(2) + c[None].prod(2) - inter)
        assign = iou.argmax(1)
        new = np.array([np.median(wh[assign == j], 0) if (assign == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    inter = np.minimum(wh[:, None, 0], c[None, :, 0]) * np.minimum(wh[:, None, 1], c[None, :, 1])
    iou = inter / (wh[:, None].prod(2) + c[None].prod(2) - inter)
    c = c[np.argsort(c.prod(1))]
    return c, float(iou.max(1).mean())


def make_cfg(size, widths, anchors, classes, comment=""):
    """yolov3-tiny's structure with the given 11 widths (7 backbone convs, 2+1 after, 1 before
    the upsample... see README)."""
    w = widths
    assert len(w) == 11, "--widths needs 11 numbers"
    out_f = 3 * (classes + 5)
    anc = ",  ".join(f"{int(round(x))},{int(round(y))}" for x, y in anchors)

    def conv(f, k, act="leaky", bn=True):
        s = "[convolutional]\n"
        if bn:
            s += "batch_normalize=1\n"
        return s + f"filters={f}\nsize={k}\nstride=1\npad=1\nactivation={act}\n\n"

    def yolo(mask):
        return (f"[yolo]\nmask = {mask}\nanchors = {anc}\nclasses={classes}\nnum=6\n"
                "jitter=0\nignore_thresh = .7\ntruth_thresh = 1\nrandom=0\n\n")

    mp = "[maxpool]\nsize=2\nstride=2\n\n"
    s = "".join(f"# {line}\n" for line in comment.splitlines())
    s += f"[net]\nbatch=1\nsubdivisions=1\nwidth={size}\nheight={size}\nchannels=3\n\n"
    s += conv(w[0], 3) + mp + conv(w[1], 3) + mp + conv(w[2], 3) + mp + conv(w[3], 3) + mp
    s += conv(w[4], 3) + mp + conv(w[5], 3) + "[maxpool]\nsize=2\nstride=1\n\n" + conv(w[6], 3)
    s += "###########\n\n" + conv(w[7], 1) + conv(w[8], 3) + conv(out_f, 1, "linear", False) + yolo("3,4,5")
    s += "[route]\nlayers = -4\n\n" + conv(w[9], 1) + "[upsample]\nstride=2\n\n" + "[route]\nlayers = -1, 8\n\n"
    s += conv(w[10], 3) + conv(out_f, 1, "linear", False) + yolo("0,1,2")
    return s


class Net(nn.Module):
    """The cfg's layers as trainable PyTorch modules, same semantics as darknet_ref.DarknetModel."""

    def __init__(self, specs):
        super().__init__()
        self.specs = specs
        self.convs = nn.ModuleDict()
        self.bns = nn.ModuleDict()
        for s in specs:
            if s.kind == "convolutional":
                p = s.p
                self.convs[str(s.index)] = nn.Conv2d(p["in_c"], p["filters"], p["size"], p["stride"], p["padding"],
                                                     groups=p["groups"], bias=not p["bn"])
                if p["bn"]:
                    self.bns[str(s.index)] = nn.BatchNorm2d(p["filters"], eps=dr.BN_EPS, momentum=0.03)
                assert p["act"] in ("leaky", "linear")
        self.keep = set()
        for s in specs:
            if s.kind == "route":
                self.keep.update(s.p["src"])
        self.head_convs = [s.index - 1 for s in specs if s.kind == "yolo"]

    def forward(self, x):
        outs, heads, prev = {}, [], x
        for s in self.specs:
            k, p = s.kind, s.p
            if k == "convolutional":
                y = self.convs[str(s.index)](prev)
                if p["bn"]:
                    y = self.bns[str(s.index)](y)
                if p["act"] == "leaky":
                    y = F.leaky_relu(y, 0.1)
            elif k == "maxpool":
                lo = p["padding"] // 2
                hi = p["padding"] - lo
                y = F.pad(prev, (lo, hi, lo, hi), value=float("-inf")) if p["padding"] else prev
                y = F.max_pool2d(y, p["size"], p["stride"])
            elif k == "upsample":
                y = F.interpolate(prev, scale_factor=p["stride"], mode="nearest")
            elif k == "route":
                parts = [outs[j] for j in p["src"]]
                y = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
            elif k == "yolo":
                heads.append(prev)
                y = prev
            else:
                raise ValueError(k)
            if s.index in self.keep:
                outs[s.index] = y
            prev = y
        return heads

    def darknet_convs(self):
        """Per-conv dicts in cfg order, as darknet_ref.write_weights takes them."""
        convs = []
        for s in self.specs:
            if s.kind != "convolutional":
                continue
            c = self.convs[str(s.index)]
            d = {"weight": c.weight.detach().float().contiguous().cpu().numpy()}
            if s.p["bn"]:
                b = self.bns[str(s.index)]
                d["bias"] = b.bias.detach().float().cpu().numpy()
                d["gamma"] = b.weight.detach().float().cpu().numpy()
                d["mean"] = b.running_mean.detach().float().cpu().numpy()
                d["var"] = b.running_var.detach().float().cpu().numpy()
            else:
                d["bias"] = c.bias.detach().float().cpu().numpy()
            convs.append(d)
        return convs


class EMA:
    """Exponential moving average of every floating-point parameter and buffer."""

    def __init__(self, model, decay, tau):
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0
        self.dst = [v for v in self.model.state_dict().values() if v.dtype.is_floating_point]

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        src = [v for v in model.state_dict().values() if v.dtype.is_floating_point]
        torch._foreach_mul_(self.dst, d)
        torch._foreach_add_(self.dst, src, alpha=1 - d)


# --------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------


def box_iou_xyxy(a, b, eps=1e-9):
    """Broadcasting IoU of [..., 4] boxes."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    ua = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return inter / (ua + eps)


def ciou_xyxy(a, b, eps=1e-7):
    iou = box_iou_xyxy(a, b, eps)
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((a[:, 0] + a[:, 2] - b[:, 0] - b[:, 2]) ** 2 + (a[:, 1] + a[:, 3] - b[:, 1] - b[:, 3]) ** 2) / 4
    wa, ha = a[:, 2] - a[:, 0], (a[:, 3] - a[:, 1]).clamp(min=eps)
    wb, hb = b[:, 2] - b[:, 0], (b[:, 3] - b[:, 1]).clamp(min=eps)
    v = (4 / math.pi ** 2) * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class YoloLoss:
    """YOLOv3 loss with Darknet's decode: x = (i + sigmoid(tx)) * stride, w = exp(tw) * anchor.
    Each truth goes to its centre cell, to its best anchor and to every other anchor whose
    shape IoU is above `anchor_t` (YOLOv4's iou_thresh); box loss 1 - CIoU; objectness BCE with
    the (detached) IoU as target at positives and Darknet's ignore_thresh for negatives that
    already cover a truth; class BCE at positives."""

    def __init__(self, anchors, masks, size, classes, hyp, device):
        self.anchors = torch.tensor(anchors, dtype=torch.float32, device=device)
        self.masks = masks
        self.size = size
        self.nc = classes
        self.h = hyp

    def __call__(self, heads, lab):
        dev = lab.device
        nc, h = self.nc, self.h
        B = lab.shape[0]
        valid = lab[..., 0] >= 0
        bi_all, mi_all = valid.nonzero(as_tuple=True)
        g = lab[bi_all, mi_all]
        gcls = g[:, 0].long()
        gbox = g[:, 1:5]
        gw, gh = gbox[:, 2] - gbox[:, 0], gbox[:, 3] - gbox[:, 1]
        gcx, gcy = (gbox[:, 0] + gbox[:, 2]) / 2, (gbox[:, 1] + gbox[:, 3]) / 2
        aw, ah = self.anchors[:, 0], self.anchors[:, 1]
        inter = torch.minimum(gw[:, None], aw) * torch.minimum(gh[:, None], ah)
        iou_wh = inter / (gw[:, None] * gh[:, None] + aw * ah - inter)
        pos = iou_wh > h["anchor_t"]
        pos[torch.arange(len(g), device=dev), iou_wh.argmax(1)] = True
        tb = lab[..., 1:5]
        lbox = torch.zeros((), device=dev)
        lobj = torch.zeros((), device=dev)
        lcls = torch.zeros((), device=dev)
        npos = 0
        for hi, (head, mask) in enumerate(zip(heads, self.masks)):
            _, C, G, G2 = head.shape
            stride = self.size / G
            p = head.float().view(B, 3, nc + 5, G, G2).permute(0, 1, 3, 4, 2)
            anc = self.anchors[mask]
            gy, gx = torch.meshgrid(torch.arange(G, device=dev), torch.arange(G2, device=dev), indexing="ij")
            cx = (gx + torch.sigmoid(p[..., 0])) * stride
            cy = (gy + torch.sigmoid(p[..., 1])) * stride
            pw = torch.exp(p[..., 2].clamp(max=6)) * anc[:, 0].view(1, 3, 1, 1)
            ph = torch.exp(p[..., 3].clamp(max=6)) * anc[:, 1].view(1, 3, 1, 1)
            pbox = torch.stack((cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2), -1)
            with torch.no_grad():
                ious = box_iou_xyxy(pbox.view(B, -1, 1, 4), tb.view(B, 1, -1, 4))
                ious = ious.masked_fill(~valid.view(B, 1, -1), 0).amax(2).view(B, 3, G, G2)
            tobj = torch.zeros((B, 3, G, G2), device=dev)
            posm = torch.zeros((B, 3, G, G2), dtype=torch.bool, device=dev)
            k, a = pos[:, mask].nonzero(as_tuple=True)
            if len(k):
                b = bi_all[k]
                i = (gcx[k] / stride).long().clamp(0, G2 - 1)
                j = (gcy[k] / stride).long().clamp(0, G - 1)
                ci = ciou_xyxy(pbox[b, a, j, i], gbox[k])
                lbox = lbox + (1 - ci).mean()
                tobj[b, a, j, i] = (1 - h["gr"]) + h["gr"] * ci.detach().clamp(0)
                posm[b, a, j, i] = True
                tcls = F.one_hot(gcls[k], nc).float()
                lcls = lcls + F.binary_cross_entropy_with_logits(p[b, a, j, i][:, 5:], tcls)
                npos += len(k)
            w = torch.where((ious > h["ignore_t"]) & ~posm, 0.0, 1.0)
            lobj = lobj + h["balance"][hi] * (F.binary_cross_entropy_with_logits(p[..., 4], tobj, reduction="none") * w).mean()
        nl = len(heads)
        lbox = lbox / nl * h["box"]
        lcls = lcls / nl * h["cls"]
        lobj = lobj * h["obj"]
        return lbox + lobj + lcls, torch.stack((lbox, lobj, lcls)).detach(), npos


# --------------------------------------------------------------------------
# batches: uint8 cache on the GPU, augmentation on the GPU
# --------------------------------------------------------------------------

PERMS = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]


class Batches:
    def __init__(self, imgs, labels, geoms, size, batch, gen, augment=True):
        self.imgs, self.labels, self.geoms = imgs, labels, geoms
        self.size, self.batch, self.gen, self.augment = size, batch, gen, augment
        self.n = imgs.shape[0]
        dev = imgs.device
        self.square = (geoms[:, 0] == size) & (geoms[:, 1] == size)
        self.perms = torch.tensor(PERMS, device=dev)
        self.ar = torch.arange(size, device=dev)
        self.order = torch.empty(0, dtype=torch.long, device=dev)
        self.pos = 0
        self.epoch = 0

    def next(self):
        if self.pos + self.batch > len(self.order):
            self.order = torch.randperm(self.n, generator=self.gen, device=self.gen.device).to(self.imgs.device)
            self.pos = 0
            self.epoch += 1
        idx = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return self.make(idx)

    def make(self, idx):
        S, dev = self.size, self.imgs.device
        B = len(idx)
        x = self.imgs[idx].permute(0, 3, 1, 2).float().div_(255.0)
        geo = self.geoms[idx].long()
        iw, ih, px, py = (geo[:, k].view(B, 1, 1) for k in range(4))
        ar = self.ar
        inside = ((ar.view(1, 1, S) >= px) & (ar.view(1, 1, S) < px + iw) &
                  (ar.view(1, S, 1) >= py) & (ar.view(1, S, 1) < py + ih))
        x = torch.where(inside[:, None], x, torch.full((), 0.5, device=dev))  # Darknet's grey bars
        lab = self.labels[idx].clone()
        if self.augment:
            r = torch.rand((B, 4), generator=self.gen, device=self.gen.device).to(dev)
            perm = self.perms[torch.randint(0, 6, (B,), generator=self.gen, device=self.gen.device).to(dev)]
            x = torch.gather(x, 1, perm.view(B, 3, 1, 1).expand(B, 3, S, S))
            hf, vf = r[:, 0] < 0.5, r[:, 1] < 0.5
            tr = (r[:, 2] < 0.5) & self.square[idx]
            x = torch.where(hf.view(B, 1, 1, 1), x.flip(3), x)
            x = torch.where(vf.view(B, 1, 1, 1), x.flip(2), x)
            x = torch.where(tr.view(B, 1, 1, 1), x.transpose(2, 3), x)
            x1, y1, x2, y2 = lab[..., 1], lab[..., 2], lab[..., 3], lab[..., 4]
            hfm, vfm, trm = hf.view(B, 1), vf.view(B, 1), tr.view(B, 1)
            x1, x2 = torch.where(hfm, S - x2, x1), torch.where(hfm, S - x1, x2)
            y1, y2 = torch.where(vfm, S - y2, y1), torch.where(vfm, S - y1, y2)
            x1, y1 = torch.where(trm, y1, x1), torch.where(trm, x1, y1)
            x2, y2 = torch.where(trm, y2, x2), torch.where(trm, x2, y2)
            lab = torch.stack((lab[..., 0], x1, y1, x2, y2), -1)
        return x.contiguous(memory_format=torch.channels_last), lab


# --------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------


def lr_at(step, total, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    t = (step - a.warmup) / max(1, total - a.warmup)
    return a.lr * (a.lr_final + (1 - a.lr_final) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def cmd_train(a):
    t_start = time.time()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    dev = torch.device(a.device if a.device else ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    if a.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    else:
        torch.backends.cudnn.benchmark = True
    meta = json.load(open(os.path.join(a.cache, "meta.json")))
    size, names = meta["size"], meta["classes"]
    nc = len(names)
    labels_np = np.load(os.path.join(a.cache, "labels.npy"))
    geoms_np = np.load(os.path.join(a.cache, "geoms.npy"))
    valid = labels_np[..., 0] >= 0
    wh = np.stack((labels_np[..., 3] - labels_np[..., 1], labels_np[..., 4] - labels_np[..., 2]), -1)[valid]
    anchors, fit = kmeans_anchors(wh, 6, a.seed)
    widths = [int(w) for w in a.widths.split(",")]
    comment = (f"edge-infer demo detector: {nc} synthetic shape classes ({', '.join(names)}), {size}x{size}.\n"
               f"Trained by tools/train/train.py (seed {a.seed}, widths {a.widths}); see tools/train/README.md.")
    cfg_text = make_cfg(size, widths, anchors, nc, comment)
    os.makedirs(a.out, exist_ok=True)
    work = a.work or a.out
    os.makedirs(work, exist_ok=True)
    cfg_path = os.path.join(a.out, f"{a.name}.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg_text)
    _, specs = dr.build_specs(dr.parse_cfg(cfg_path))
    n_floats = dr.expected_weight_floats(specs)
    log("model", widths=widths, params=n_floats, weights_bytes=20 + 4 * n_floats,
        anchors=[[round(float(x), 1), round(float(y), 1)] for x, y in anchors], anchor_fit_mean_iou=round(fit, 4),
        device=str(dev), gpu=torch.cuda.get_device_name(0) if cuda else None)

    model = Net(specs).to(dev)
    # Output-layer priors (YOLOv5's): few objects per cell, uniform classes.
    for hi, ci in enumerate(model.head_convs):
        conv = model.convs[str(ci)]
        G = specs[ci].out_shape[1]
        with torch.no_grad():
            b = conv.bias.view(3, nc + 5)
            b[:, 4] = math.log(3.0 / (3 * G * G))
            b[:, 5:] = math.log(0.6 / (nc - 0.99))
    model = model.to(memory_format=torch.channels_last)

    # data onto the device
    imgs_np = np.load(os.path.join(a.cache, "images.npy"), mmap_mode="r")
    n = imgs_np.shape[0]
    imgs = torch.empty((n, size, size, 3), dtype=torch.uint8, device=dev)
    for s in range(0, n, 4096):
        imgs[s:s + 4096] = torch.from_numpy(np.array(imgs_np[s:s + 4096])).to(dev)
    labels = torch.from_numpy(labels_np).to(dev)
    geoms = torch.from_numpy(geoms_np).to(dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed)
    batches = Batches(imgs, labels, geoms, size, a.batch, gen)
    log("data", images=n, objects=int(valid.sum()), square=int(batches.square.sum()), load_s=round(time.time() - t_start, 1))

    masks = [[3, 4, 5], [0, 1, 2]]
    hyp = dict(box=a.box, obj=a.obj, cls=a.cls, balance=[0.4, 1.0], anchor_t=a.anchor_t, ignore_t=0.7, gr=1.0)
    crit = YoloLoss(anchors, masks, size, nc, hyp, dev)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim == 4 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999))
    ema = EMA(model, a.ema, a.ema_tau)
    amp = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    if a.calib_steps >= a.warmup:
        raise SystemExit("--calib-steps must be below --warmup (the schedule is fixed during warm-up)")
    total = a.steps
    step_times = []
    t_train = time.time()
    t_last = t_train
    run = torch.zeros(3, device=dev)
    run_n = 0
    step = 0
    while True:
        if total and step >= total:
            break
        if not total and step == a.calib_steps:
            # Fix the schedule now (still in warm-up, so nothing before depends on it).
            per = float(np.median(step_times[a.calib_steps // 3:]))
            left = a.time_budget - (time.time() - t_train)
            total = max(a.calib_steps + 1, int(left * a.budget_fill / per) + step)
            total = (total // 100) * 100 or total
            log(f"schedule: {per * 1000:.1f} ms/step -> {total} steps (pass --steps {total} to reproduce)")
        t0 = time.time()
        for gp in opt.param_groups:
            gp["lr"] = lr_at(step, total or a.warmup * 10, a)
        x, lab = batches.next()
        with amp:
            heads = model(x)
        loss, parts, npos = crit(heads, lab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        run += parts
        run_n += 1
        step += 1
        if not total or step <= a.calib_steps:
            if cuda:
                torch.cuda.synchronize()
            step_times.append(time.time() - t0)
        if step % a.log_every == 0 or step == total:
            r = (run / run_n).tolist()
            now = time.time()
            log(f"step {step}/{total} ep {batches.epoch}", lr=round(opt.param_groups[0]["lr"], 6),
                box=round(r[0], 4), obj=round(r[1], 4), cls=round(r[2], 4),
                img_s=round(a.log_every * a.batch / max(1e-9, now - t_last)), elapsed=round(now - t_train, 1))
            t_last = now
            run.zero_()
            run_n = 0
    train_s = time.time() - t_train
    log(f"trained {step} steps x {a.batch} = {step * a.batch} images ({step * a.batch / n:.1f} epochs) in {train_s:.1f}s")

    # export the EMA model
    final = ema.model.float().eval()
    w_path = os.path.join(a.out, f"{a.name}.weights")
    dr.write_weights(w_path, specs, final.darknet_convs(), 0, 2, 0, seen=step * a.batch)
    with open(os.path.join(a.out, f"{a.name}.names"), "w") as f:
        f.write("".join(f"{c}\n" for c in names))
    torch.save({"state_dict": final.state_dict(), "cfg": cfg_text, "args": vars(a), "steps": step},
               os.path.join(work, f"{a.name}.pt"))
    log("exported", cfg=cfg_path, weights=w_path, weights_bytes=os.path.getsize(w_path))

    summary = dict(steps=step, batch=a.batch, images_seen=step * a.batch, train_s=round(train_s, 1),
                   widths=widths, size=size, anchors=[[int(round(x)), int(round(y))] for x, y in anchors],
                   params=n_floats, weights_bytes=os.path.getsize(w_path), seed=a.seed)
    if a.check_data:
        summary["export_check"] = export_check(final, cfg_path, w_path, a.check_data, size, a.check_n, work)
    json.dump(summary, open(os.path.join(work, "summary.json"), "w"), indent=1)
    log("done", total_s=round(time.time() - t_start, 1))


def export_check(model, cfg_path, w_path, data_dir, size, count, work):
    """The exported Darknet files, loaded by darknet_ref.py (float64), against the trained
    PyTorch model (float64 on the CPU and float32 on the training device) on held-out scenes."""
    files = list_dataset(data_dir)[:count]
    xs = []
    for p, _ in files:
        lb, _ = letterbox_rgb(load_image(p), size)
        xs.append((lb / 255.0).transpose(2, 0, 1)[None].astype(np.float32))
    _, _, ref = dr.load_model(cfg_path, w_path)
    m64 = copy.deepcopy(model).cpu().double().eval()
    dev = next(model.parameters()).device
    prev_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    worst64 = worst32 = rel32 = 0.0
    for x in xs:
        heads_ref, _ = dr.run_reference(ref, x)
        with torch.no_grad():
            h64 = [h.numpy() for h in m64(torch.from_numpy(x).double())]
            h32 = [h.float().cpu().numpy() for h in model(torch.from_numpy(x).to(dev))]
        for r, a64, a32 in zip(heads_ref, h64, h32):
            worst64 = max(worst64, float(np.abs(r - a64.astype(np.float32)).max()))
            worst32 = max(worst32, float(np.abs(r - a32).max()))
            rel32 = max(rel32, float(np.linalg.norm(r - a32) / np.linalg.norm(r)))
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev_tf32
    # one input + the reference heads on disk, for the engine (edge-infer infer --dump-raw)
    cdir = os.path.join(work, "check")
    os.makedirs(cdir, exist_ok=True)
    np.save(os.path.join(cdir, "input.npy"), xs[0])
    heads_ref, _ = dr.run_reference(ref, xs[0])
    for i, h in enumerate(heads_ref):
        np.save(os.path.join(cdir, f"head{i}.npy"), h)
    res = dict(images=len(xs), max_abs_ref_vs_torch_f64=worst64, max_abs_ref_vs_torch_f32=worst32,
               rel_l2_ref_vs_torch_f32=rel32, head_abs_max=float(max(np.abs(h).max() for h in heads_ref)))
    log("export check (darknet_ref.py on the exported files vs the trained model)", **res)
    return res


def cmd_compare(a):
    worst = rel = 0.0
    for i in range(a.heads):
        x = np.load(os.path.join(a.a, f"head{i}.npy")).astype(np.float64)
        y = np.load(os.path.join(a.b, f"head{i}.npy")).astype(np.float64)
        if x.shape != y.shape:
            raise SystemExit(f"head{i}: shapes {x.shape} vs {y.shape}")
        worst = max(worst, float(np.abs(x - y).max()))
        rel = max(rel, float(np.linalg.norm(x - y) / np.linalg.norm(y)))
    print(json.dumps(dict(a=a.a, b=a.b, max_abs=worst, rel_l2=rel)))
    if rel > a.tol:
        raise SystemExit(f"relative difference {rel:.3g} > {a.tol}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("prepare", help="decode datasets into a letterboxed uint8 cache")
    p.add_argument("--data", nargs="+", required=True, help="dataset dirs written by `edge-infer dataset synth`")
    p.add_argument("--size", type=int, default=320, help="network input size (square)")
    p.add_argument("--cache", required=True)
    p.add_argument("--workers", type=int, default=0)

    p = sub.add_parser("train", help="train, export Darknet files, check the export")
    p.add_argument("--cache", required=True)
    p.add_argument("--out", default="models/shapes", help="where NAME.cfg/.weights/.names go")
    p.add_argument("--name", default="shapes")
    p.add_argument("--work", default=None, help="checkpoint, summary and check files (default: --out)")
    p.add_argument("--widths", default="16,32,64,64,128,128,256,128,256,64,128",
                   help="11 conv widths: 7 backbone, 1x1 and 3x3 before head 0, 1x1 before the upsample, 3x3 before head 1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=0, help="0: choose from --time-budget after --calib-steps steps")
    p.add_argument("--time-budget", type=float, default=300.0, help="seconds of training when --steps is 0")
    p.add_argument("--budget-fill", type=float, default=0.92)
    p.add_argument("--calib-steps", type=int, default=90)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-final", type=float, default=0.01, help="final lr as a fraction of --lr (cosine)")
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--box", type=float, default=0.05)
    p.add_argument("--obj", type=float, default=0.5)
    p.add_argument("--cls", type=float, default=0.05)
    p.add_argument("--anchor-t", type=float, default=0.213)
    p.add_argument("--ema", type=float, default=0.9995)
    p.add_argument("--ema-tau", type=float, default=1000.0)
    p.add_argument("--log-every", type=int, default=200)
    p.add_argument("--device", default=None)
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower)")
    p.add_argument("--check-data", default=None, help="held-out dataset dir for the export check")
    p.add_argument("--check-n", type=int, default=8)

    p = sub.add_parser("compare", help="compare head<i>.npy files in two directories")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--tol", type=float, default=1e-3)

    a = ap.parse_args(argv)
    {"prepare": cmd_prepare, "train": cmd_train, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main()
