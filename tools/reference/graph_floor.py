#!/usr/bin/env python3
"""What a chain of dependent kernels costs on this GPU when they do next to nothing: N tiny
element-wise kernels, each reading what the one before wrote, captured as one CUDA graph
(PyTorch, no programmatic dependent launch) and replayed. The per-kernel figure is the slope
between two chain lengths, so the graph launch itself drops out. It is the floor under a
network run as one kernel per layer at batch 1 (docs/PERFORMANCE.md, "the floor").

    python3 tools/reference/graph_floor.py [--lengths 77,154] [--elements 4096] [--replays 300]
"""
import argparse
import statistics

import torch


def replay_ms(n, elements, replays):
    x = torch.zeros(elements, device="cuda")
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream):
        y = x
        for _ in range(3):  # warm-up outside the capture (allocator, module load)
            y = y + 1
        torch.cuda.synchronize()
        with torch.cuda.graph(graph, stream=stream):
            y = x
            for _ in range(n):
                y = y + 1
    timing = time_replays(graph, replays)
    assert float(y[0]) == n, "every kernel of the chain ran"
    return timing


def time_replays(graph, replays):
    """Median and p99 ms of `replays` replays of a CUDA graph, after 20 untimed ones."""
    times = []
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(replays + 20):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        if i >= 20:
            times.append(start.elapsed_time(end))
    return statistics.median(times), sorted(times)[int(0.99 * (len(times) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="77,154")
    ap.add_argument("--elements", type=int, default=4096)
    ap.add_argument("--replays", type=int, default=300)
    a = ap.parse_args()
    lengths = [int(n) for n in a.lengths.split(",")]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {a.elements} floats per kernel")
    res = {n: replay_ms(n, a.elements, a.replays) for n in lengths}
    for n, (med, p99) in res.items():
        print(f"chain of {n:4d} kernels: median {med * 1e3:8.1f} us  p99 {p99 * 1e3:8.1f} us")
    lo, hi = min(lengths), max(lengths)
    if hi > lo:
        slope = (res[hi][0] - res[lo][0]) / (hi - lo) * 1e3
        print(f"per dependent kernel: {slope:.2f} us (median slope {lo} -> {hi})")


if __name__ == "__main__":
    main()
