#!/usr/bin/env python3
"""What NVIDIA's own GEMM library gains from 8-bit tensor cores on YOLOv3's convolutions at batch 1.

Each convolution of the cfg becomes the GEMM an implicit-GEMM conv kernel runs (M = output
pixels, N = filters, K = input channels per group x kernel area; N and K rounded up to 16, which
the 8-bit GEMMs ask for), its operands made once, ahead of time. A is an explicit im2col
matrix, so a 3x3 conv's A holds each activation nine times, in every mode alike. No im2col,
bias, activation or residual is timed, only the 75 matrix products one after the other,
captured as one CUDA graph and replayed. Modes, through PyTorch (cuBLASLt):
  fp16       torch.mm, fp16 in and out, fp32 accumulation (the precision of our FP16 plan);
  fp8        torch._scaled_mm, e4m3 in, fp16 out (8-bit tensor cores at INT8's rate on Hopper,
             and outputs as wide as fp16's: the nearest cuBLASLt has to our INT8 plan);
  fp8-fast   the same with use_fast_accum (Hopper's faster, less exact fp8 accumulation);
  int8       torch._int_mm, int8 in, int32 out (twice fp16's output bytes; it needs M > 16).
Modes alternate within each round; the table gives the median of the rounds' medians.

    python3 tools/reference/gemm_peer.py [--cfg models/yolov3.cfg] [--sizes 416,32] [--rounds 3]
"""
import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from darknet_ref import build_specs, parse_cfg  # noqa: E402
from graph_floor import time_replays  # noqa: E402


def up16(v):
    return (v + 15) // 16 * 16


def conv_gemms(cfg, size):
    """(M, N, K) of each conv at a size x size input."""
    _, specs = build_specs(parse_cfg(cfg), (size, size))
    return [
        (
            s.out_shape[1] * s.out_shape[2],
            up16(s.p["filters"]),
            up16(s.p["in_c"] // s.p["groups"] * s.p["size"] ** 2),
        )
        for s in specs
        if s.kind == "convolutional"
    ]


def make_chain(mode, shapes):
    """Operands for every GEMM and a function that runs them all, in order."""
    one = torch.ones((), device="cuda")
    ops = []
    for m, n, k in shapes:
        a = torch.randn(m, k, device="cuda", dtype=torch.float16)
        b = torch.randn(n, k, device="cuda", dtype=torch.float16)  # one row per filter
        if mode == "fp16":
            ops.append((a, b.t()))
        elif mode.startswith("fp8"):
            ops.append((a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn).t()))
        else:
            ops.append((a.clamp(-127, 127).to(torch.int8), b.clamp(-127, 127).to(torch.int8).t()))
    fast = mode == "fp8-fast"

    def run():
        outs = []
        for a, b in ops:
            if mode == "fp16":
                outs.append(torch.mm(a, b))
            elif mode.startswith("fp8"):
                outs.append(
                    torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.float16, use_fast_accum=fast)
                )
            else:
                outs.append(torch._int_mm(a, b))
        return outs

    return run


def capture(run):
    """The graph, with `run`, which holds the operands the graph reads: they must outlive it."""
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        for _ in range(3):  # cuBLASLt picks its kernels and workspaces outside the capture
            run()
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            run()
    return graph, run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--cfg", default=os.path.join(here, "..", "..", "models", "yolov3.cfg"))
    ap.add_argument("--sizes", default="416,32")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--replays", type=int, default=200)
    a = ap.parse_args()
    modes = ("fp16", "fp8", "fp8-fast", "int8")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuBLASLt through torch, {a.rounds} rounds")
    print("| input | GEMMs | GFLOP | mode | median / p99 ms | / fp16 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in (int(s) for s in a.sizes.split(",")):
        shapes = conv_gemms(a.cfg, size)
        graphs = {}
        for m in modes:
            try:
                graphs[m] = capture(make_chain(m, shapes))
            except RuntimeError as e:  # an older torch or GPU may lack a mode: say so, time the rest
                print(f"| {size}x{size} | {len(shapes)} | | {m} | failed: {str(e).splitlines()[0]} | |")
        rounds = {m: [] for m in graphs}
        for _ in range(a.rounds):
            for m in graphs:
                rounds[m].append(time_replays(graphs[m][0], a.replays))
        gflop = sum(2 * m * n * k for m, n, k in shapes) / 1e9
        base = statistics.median(r[0] for r in rounds["fp16"]) if "fp16" in rounds else None
        for m in graphs:
            med = statistics.median(r[0] for r in rounds[m])
            p99 = statistics.median(r[1] for r in rounds[m])
            ratio = f"{med / base:.2f}x" if base else "fp16 failed"
            print(f"| {size}x{size} | {len(shapes)} | {gflop:.1f} | {m} | {med:.3f} / {p99:.3f} | {ratio} |")
        del graphs
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
