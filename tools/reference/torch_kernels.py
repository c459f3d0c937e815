#!/usr/bin/env python3
"""Per-kernel GPU times of PyTorch's fastest plain configuration on a Darknet model: FP16,
BN folded, channels_last, cuDNN autotuned, replayed as one CUDA graph (darknet_ref.py
gpu-bench's graph-fp16 mode), recorded with torch.profiler (CUPTI sees the kernels inside a
graph replay). Prints one replay's kernels in order with their durations, the sum, and the
replay's wall time, so the kernel time and the gaps between kernels can be told apart.

    python3 tools/reference/torch_kernels.py --cfg models/yolov3.cfg --weights W [--json F]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import darknet_ref as dr  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--replays", type=int, default=20)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    inp, specs, model = dr.load_model(a.cfg, a.weights)
    model = model.double().fuse_()
    model.fast_upsample = True
    model = model.to(device=dev, dtype=torch.float16).to(memory_format=torch.channels_last).eval()
    c, h, w = inp
    x = torch.rand(1, c, h, w, device=dev, dtype=torch.float16).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        s = torch.cuda.Stream(dev)
        s.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(s):
            for _ in range(3):
                model(x)
        torch.cuda.current_stream(dev).wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            model(x)
    for _ in range(20):
        g.replay()
    torch.cuda.synchronize()
    walls = []
    for _ in range(200):
        t0 = time.perf_counter()
        g.replay()
        torch.cuda.synchronize()
        walls.append((time.perf_counter() - t0) * 1e3)
    walls.sort()
    acts = [torch.profiler.ProfilerActivity.CUDA, torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(a.replays):
            g.replay()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    kernels.sort(key=lambda e: e.time_range.start)
    per = len(kernels) // a.replays
    one = kernels[-per:] if per else []
    total = sum(e.time_range.elapsed_us() for e in one)
    span = (one[-1].time_range.end - one[0].time_range.start) if one else 0
    for i, e in enumerate(one):
        print(f"{i:4d} {e.time_range.elapsed_us():8.2f} us  {e.name[:110]}")
    print(f"pytorch graph-fp16 {os.path.basename(a.cfg)}: {per} kernels per replay, kernel time "
          f"{total / 1e3:.3f} ms, first start to last end {span / 1e3:.3f} ms, replay wall median "
          f"{walls[len(walls) // 2]:.3f} ms")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(kernels=[[e.name, e.time_range.elapsed_us()] for e in one], kernel_ms=total / 1e3,
                           span_ms=span / 1e3, wall_median_ms=walls[len(walls) // 2]), f, indent=1)


if __name__ == "__main__":
    main()
