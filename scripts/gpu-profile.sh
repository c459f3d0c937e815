#!/usr/bin/env bash
# Where YOLOv3-416 FP16 spends its GPU time, ours next to PyTorch's CUDA graph, same cfg and
# weights: our kernels through Nsight Compute (durations only; clocks and caches left alone),
# PyTorch's through torch.profiler (tools/reference/torch_kernels.py). On the GPU host:
#   scripts/gpu-profile.sh [BIN]        BIN: an edge-infer binary (default .gpu/edge-infer)
# PRECISIONS="fp16 int8" lists INT8's kernels too (its scales from 32 synthetic scenes);
# DETAIL=0 skips the per-kernel sections (DETAIL_PRECISION="fp16 int8": of both plans;
# DETAIL_SKIP=N: from the N-th conv launch on), SKIP_TORCH=1 PyTorch;
# SIZE=1248 profiles YOLOv3 at that input size (a multiple of 32) instead of 416.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.gpu/edge-infer}
out=${OUT:-/tmp/edge-prof}
mkdir -p "$out"
cfg=models/yolov3.cfg
if [ -n "${SIZE:-}" ]; then
  cfg=$out/yolov3-$SIZE.cfg
  scripts/yolov3-at.sh "$SIZE" > "$cfg" || exit
fi
$bin weights --model "$cfg" --seed 3 -o "$out/yolov3.weights" >/dev/null
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for p in ${PRECISIONS:-fp16}; do
  int8=()
  # One cache per input size: a cache made for another graph is refused (as it should be).
  [ "$p" = int8 ] && int8=(--calib-cache "$out/yolov3-${SIZE:-416}.calib" --calib-images synthetic:scenes:7 --calib-count 32)
  # No engine of an earlier run may stand in for one whose build failed.
  rm -f "$out/y-$p.engine"
  $bin build --model "$cfg" --weights "$out/yolov3.weights" --device cuda --precision $p \
    ${int8[@]+"${int8[@]}"} -o "$out/y-$p.engine" > "$out/build-$p.txt" 2>&1 ||
    { echo "build $p failed:"; tail -5 "$out/build-$p.txt"; continue; }
  $bin bench --engine "$out/y-$p.engine" --iterations 300 --warmup 30 | tail -3
  [ -n "$ncu" ] || { echo "no ncu here"; continue; }
  # One network pass is the first graph launch of `bench --iterations 1 --warmup 0`.
  timeout 300 "$ncu" --clock-control none --cache-control none --metrics gpu__time_duration.sum \
    --csv --print-units base $bin bench --engine "$out/y-$p.engine" --iterations 1 --warmup 0 \
    > "$out/ours-ncu-$p.csv" 2> "$out/ours-ncu-$p.err"
  python3 - "$out/ours-ncu-$p.csv" "$p" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
head, rows = rows[0], rows[1:]
ki, vi = head.index("Kernel Name"), head.index("Metric Value")
ks = [(r[ki], float(r[vi].replace(",", "")) / 1e3) for r in rows]  # ns -> us
print(f"ours: {len(ks)} kernel launches profiled")
# One frame's network: after the input conversion that starts the frame graph, up to its
# YOLO decode (the network-only graph bench may replay first is skipped).
start = next(i for i, (n, _) in enumerate(ks) if n.startswith("convert_f32"))
first = []
for n, t in ks[start + 1:]:
    if n.startswith("yolo"):
        break
    first.append((n, t))
by = collections.Counter()
cnt = collections.Counter()
for n, t in first:
    by[n.split("(")[0]] += t
    cnt[n.split("(")[0]] += 1
for i, (n, t) in enumerate(first):
    print(f"{i:4d} {t:8.2f} us  {n[:100]}")
print(f"ours {sys.argv[2]}: {len(first)} kernels in the network, kernel time {sum(t for _, t in first) / 1e3:.3f} ms")
for n, t in by.most_common(12):
    print(f"   {t:9.1f} us  {cnt[n]:3d}x  {n}")
PY
  tail -3 "$out/ours-ncu-$p.err"
done
if [ -n "$ncu" ] && [ "${DETAIL:-14}" != 0 ]; then
  # Why the conv kernels take what they take: stall reasons, occupancy and throughput of the
  # first conv launches (YOLOv3's 208x208 .. 52x52 layers), or of those after DETAIL_SKIP.
  for p in ${DETAIL_PRECISION:-fp16}; do
    echo "== detail: $p, conv launches $((${DETAIL_SKIP:-0})) .. $((${DETAIL_SKIP:-0} + ${DETAIL:-14} - 1))"
    timeout 300 "$ncu" --clock-control none --cache-control none -k regex:conv_ --launch-skip ${DETAIL_SKIP:-0} \
      --launch-count ${DETAIL:-14} \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
      --metrics "regex:smsp__warp_issue_stalled_.*_per_warp_active.pct" \
      $bin bench --engine "$out/y-$p.engine" --iterations 1 --warmup 0 > "$out/ours-detail-$p.txt" 2>&1
    grep -E "conv_|Duration|Achieved Occupancy|Theoretical Occupancy|Registers Per|Shared Memory Config|Block Limit|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|DRAM Throughput|L1/TEX Hit|L2 Hit|Stall|Issue Slots|Executed Ipc A|issue_stalled|Waves Per SM|Grid Size|Block Size|No Eligible|One or More" \
      "$out/ours-detail-$p.txt" | sed 's/  */ /g' | head -${DETAIL_LINES:-400}
  done
fi
[ -n "${SKIP_TORCH:-}" ] || timeout 300 python3 tools/reference/torch_kernels.py --cfg "$cfg" --weights "$out/yolov3.weights" \
  --json "$out/torch-kernels.json"
