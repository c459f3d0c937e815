#!/usr/bin/env bash
# INT8 against FP16 as the work per conv grows: YOLOv3 at input sizes 416 .. 1248 (1x .. 9x the
# arithmetic of 416, the same 75 convs), plans of one edge-infer build, benchmarked in
# alternating rounds. At 416 the convs are short and a fixed cost per conv dominates; at the
# larger sizes they approach throughput-bound, where INT8 should take about half of FP16's time.
# SIZES="32 416" measures the floor instead: at 32x32 the same kernels have next to no pixels.
#   GPU host:  scripts/gpu-scale.sh [BIN] [ROUNDS]    (BIN default .gpu/edge-infer; ROUNDS 2)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.gpu/edge-infer}
rounds=${2:-2}
work=$(mktemp -d)
sizes=${SIZES:-416 832 1248}
$bin weights --model models/yolov3.cfg --seed 3 -o "$work/yolov3.weights" >/dev/null
for s in $sizes; do
  scripts/yolov3-at.sh "$s" > "$work/y$s.cfg" || exit
  for p in fp16 int8; do
    int8=()
    [ $p = int8 ] && int8=(--calib-cache "$work/y$s.calib" --calib-images synthetic:scenes:7 --calib-count 32)
    $bin build --model "$work/y$s.cfg" --weights "$work/yolov3.weights" --device cuda --precision $p \
      ${int8[@]+"${int8[@]}"} -o "$work/y$s-$p.engine" > "$work/build-$s-$p.txt" 2>&1 || echo "build $s $p failed"
  done
done
: > "$work/results"
for r in $(seq "$rounds"); do
  for s in $sizes; do
    for p in fp16 int8; do
      $bin bench --engine "$work/y$s-$p.engine" --iterations 300 --warmup 20 --json > "$work/b.json" 2>/dev/null || continue
      python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(sys.argv[2], b["network_median_ms"], b["network_p99_ms"])' \
        "$work/b.json" "$s $p" >> "$work/results"
    done
  done
done
python3 - "$work/results" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    s, p, med, p99 = line.split()
    runs[(int(s), p)].append((float(med), float(p99)))
print("| input | conv GFLOPs | fp16 median / p99 ms | int8 median / p99 ms | int8/fp16 | fp16 TFLOP/s | int8 TOP/s |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for s in sorted({k[0] for k in runs}):
    c = {p: (statistics.median(m for m, _ in runs[(s, p)]), statistics.median(q for _, q in runs[(s, p)])) for p in ("fp16", "int8")}
    g = 65.86 * (s / 416) ** 2
    print(f"| {s}x{s} | {g:.1f} | {c['fp16'][0]:.3f} / {c['fp16'][1]:.3f} | {c['int8'][0]:.3f} / {c['int8'][1]:.3f} | "
          f"{c['int8'][0] / c['fp16'][0]:.2f}x | {g / c['fp16'][0]:.1f} | {g / c['int8'][0]:.1f} |")
PY
