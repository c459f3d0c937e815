#!/usr/bin/env bash
# Ours beside PyTorch on YOLOv3-416, batch 1, same cfg and weights, in alternating rounds of one
# run: our FP16 and INT8 plans and an INT8 plan with the heads in INT8 too (`edge-infer bench`,
# the network's CUDA graph), and PyTorch's fastest plain FP16 configuration, a CUDA graph with BN
# folded and channels_last (tools/reference/darknet_ref.py gpu-bench, mode graph-fp16). Shorter than
# `scripts/gpu-check.sh run`, which also runs the tests, calibration and accuracy.
#   GPU host:  scripts/gpu-peer.sh [BIN] [ROUNDS]   (BIN default .gpu/edge-infer; ROUNDS 2)
# Prints a table of medians and p99s (ms) last; exits 1 when any round of any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.gpu/edge-infer}
rounds=${2:-2}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive integer, got '$rounds'" >&2; exit 64; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
$bin weights --model models/yolov3.cfg --seed 3 -o "$work/yolov3.weights" > /dev/null || exit
src=(--model models/yolov3.cfg --weights "$work/yolov3.weights" --device cuda)
$bin build "${src[@]}" --precision fp16 -o "$work/fp16.engine" > "$work/build-fp16.txt" 2>&1 ||
  { tail -5 "$work/build-fp16.txt"; exit 1; }
$bin build "${src[@]}" --precision int8 --calib-cache "$work/yolov3.calib" \
  --calib-images synthetic:scenes:7 --calib-count 32 -o "$work/int8.engine" > "$work/build-int8.txt" 2>&1 ||
  { tail -5 "$work/build-int8.txt"; exit 1; }
# The same cache, with the heads in INT8 too (only the input conv stays FP16): what the default
# FP16 heads cost.
$bin build "${src[@]}" --precision int8 --calib-cache "$work/yolov3.calib" --int8-exclude none \
  -o "$work/int8-all.engine" > "$work/build-int8-all.txt" 2>&1 ||
  { tail -5 "$work/build-int8-all.txt"; exit 1; }
: > "$work/results"
failed=0
for r in $(seq "$rounds"); do
  for p in fp16 int8 int8-all; do
    $bin bench --engine "$work/$p.engine" --iterations 500 --warmup 50 --json > "$work/b.json" 2> "$work/b.err" ||
      { tail -3 "$work/b.err"; failed=1; continue; }
    python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(sys.argv[2], b["network_median_ms"], b["network_p99_ms"])' \
      "$work/b.json" "ours-$p" >> "$work/results"
  done
  timeout 300 python3 tools/reference/darknet_ref.py gpu-bench --cfg models/yolov3.cfg \
    --weights "$work/yolov3.weights" --iterations 200 --modes graph-fp16 --json "$work/pt.json" \
    > "$work/pt.log" 2>&1 || { tail -5 "$work/pt.log"; failed=1; continue; }
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["modes"]["graph-fp16"]; print("pytorch-graph-fp16", m["median_ms"], m["p99_ms"])' \
    "$work/pt.json" >> "$work/results"
done
python3 - "$work/results" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, med, p99 = line.split()
    runs[name].append((float(med), float(p99)))
pt = statistics.median(m for m, _ in runs["pytorch-graph-fp16"]) if runs["pytorch-graph-fp16"] else None
print("| YOLOv3-416, batch 1 | rounds | median / p99 ms (median of rounds) | / PyTorch CUDA graph FP16 |")
print("| --- | --- | --- | --- |")
for name in ("ours-fp16", "ours-int8", "ours-int8-all", "pytorch-graph-fp16"):
    r = runs.get(name)
    if not r:
        print(f"| {name} | 0 | failed | |")
        continue
    med, p99 = statistics.median(m for m, _ in r), statistics.median(q for _, q in r)
    ratio = f"{med / pt:.2f}x" if pt else "PyTorch failed"
    print(f"| {name} | {len(r)} | {med:.3f} / {p99:.3f} | {ratio} |")
PY
exit $failed
