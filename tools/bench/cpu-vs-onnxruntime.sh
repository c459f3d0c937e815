#!/usr/bin/env bash
# CPU latency of our engine next to onnxruntime and PyTorch on the same cfg + weights, same
# thread count, batch 1, in one run (alternating, so machine noise hits all alike).
# Needs: cargo, python3 with tools/reference/requirements.txt installed.
# Usage: tools/bench/cpu-vs-onnxruntime.sh [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
rounds=${2:-3}
work=${WORK:-/tmp/edge-bench}
mkdir -p "$work"
cargo build --release -q -p edge-infer
bin=target/release/edge-infer
ref=tools/reference/darknet_ref.py
printf '%-14s %-12s %10s %10s\n' model runtime median_ms p99_ms > "$work/results.txt"
for model in yolov3-tiny yolov3; do
  case $model in yolov3-tiny) iters=50 ;; *) iters=15 ;; esac
  cfg=models/$model.cfg
  weights=$work/$model.weights
  [ -f "$weights" ] || $bin weights --model "$cfg" --seed 1 -o "$weights" >/dev/null
  $bin build --model "$cfg" --weights "$weights" -o "$work/$model.engine" >/dev/null
  for r in $(seq "$rounds"); do
    $bin bench --engine "$work/$model.engine" --threads "$threads" --iterations $iters --warmup 3 --json \
      | python3 -c "import json,sys; d=json.load(sys.stdin); print('%-14s %-12s %10.2f %10.2f' % ('$model-416','edge-infer',d['median_ms'],d['p99_ms']))" >> "$work/results.txt"
    python3 $ref bench --cfg "$cfg" --weights "$weights" --size 416x416 --threads "$threads" --iterations $iters --warmup 3 --json \
      | python3 -c "
import json,sys
d=json.load(sys.stdin)
for k,v in d.items():
    if isinstance(v,dict) and 'median_ms' in v:
        print('%-14s %-12s %10.2f %10.2f' % ('$model-416',k,v['median_ms'],v['p99_ms']))" >> "$work/results.txt"
  done
done
echo "threads=$threads rounds=$rounds $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
cat "$work/results.txt"
