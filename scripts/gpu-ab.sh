#!/usr/bin/env bash
# A/B of edge-infer builds on the GPU host, in one run: each build makes its own YOLOv3-416
# plans (FP16, INT8, FP32) from the same weights and INT8 calibration cache and benchmarks
# them, in alternating rounds so that drift of the machine hits every build alike.
#
#   here:         scripts/ab-prepare.sh NAME=REV ... (a build per git revision into .gpu/ab/NAME/),
#                 or by hand: cargo build --release -p edge-infer; cp target/release/edge-infer
#                 .gpu/ab/<name>/ (once per variant of the code); then pass .gpu to the GPU host
#   GPU host:     scripts/gpu-ab.sh [ROUNDS]    (default 2; PRECISIONS="fp16 int8" skips FP32)
#
# Each build is also run with EDGE_INFER_DEPENDENT_LAUNCH=0 (kernels launched only after the
# previous one ended). Prints a table of network medians (ms) last; $OUT gets ab-results.txt
# and ab-logs.tgz (build logs, `inspect` of every plan).
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
OUT=${OUT:-.gpu/out}
mkdir -p "$OUT"
work=$(mktemp -d)
mkdir -p "$work/logs"
trap 'tar -C "$work/logs" -czf "$OUT/ab-logs.tgz" .' EXIT
builds=(.gpu/ab/*/edge-infer)
[ -x "${builds[0]}" ] || { echo "no builds: expected .gpu/ab/<name>/edge-infer" >&2; exit 64; }
first=${builds[0]}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cat .gpu/ab/REVISIONS 2>/dev/null
$first weights --model models/yolov3.cfg --seed 3 -o "$work/yolov3.weights"
src=(--model models/yolov3.cfg --weights "$work/yolov3.weights" --device cuda)
calib=(--calib-cache "$work/yolov3.calib" --calib-images synthetic:scenes:7 --calib-count 32)
for b in "${builds[@]}"; do
  name=$(basename "$(dirname "$b")")
  for p in ${PRECISIONS:-fp16 int8 fp32}; do
    int8=()
    [ $p = int8 ] && int8=("${calib[@]}")
    $b build "${src[@]}" --precision $p ${int8[@]+"${int8[@]}"} -o "$work/$name-$p.engine" \
      > "$work/logs/build-$name-$p.txt" 2>&1 || echo "build $name $p failed"
    $b inspect "$work/$name-$p.engine" > "$work/logs/inspect-$name-$p.txt" 2>&1
  done
done
# Written to $OUT as it goes: a run cut off by the time limit still returns its rounds.
results=$OUT/ab-results.txt
: > "$results"
for r in $(seq "$rounds"); do
  for b in "${builds[@]}"; do
    name=$(basename "$(dirname "$b")")
    for p in ${PRECISIONS:-fp16 int8 fp32}; do
      n=500
      [ $p = fp32 ] && n=50
      for dep in 1 0; do
        EDGE_INFER_DEPENDENT_LAUNCH=$dep $b bench --engine "$work/$name-$p.engine" --iterations $n \
          --warmup 20 --json > "$work/b.json" 2>/dev/null || continue
        python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(sys.argv[2], b["network_median_ms"], b["network_p99_ms"])' \
          "$work/b.json" "$name $p dep=$dep" >> "$results"
      done
    done
  done
done
python3 - "$results" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, p, dep, med, p99 = line.split()
    runs[(name, dep, p)].append((float(med), float(p99)))
print("| build | launch | fp16 median / p99 | int8 median / p99 | int8/fp16 | fp32 median |")
print("| --- | --- | --- | --- | --- | --- |")
for name, dep in sorted({(k[0], k[1]) for k in runs}):
    cell = {}
    for p in ("fp16", "int8", "fp32"):
        v = runs.get((name, dep, p), [])
        cell[p] = (statistics.median(m for m, _ in v), statistics.median(q for _, q in v)) if v else (float("nan"),) * 2
    print(f"| {name} | {'dependent' if dep == 'dep=1' else 'serialized'} | {cell['fp16'][0]:.3f} / {cell['fp16'][1]:.3f} | "
          f"{cell['int8'][0]:.3f} / {cell['int8'][1]:.3f} | {cell['int8'][0] / cell['fp16'][0]:.2f}x | {cell['fp32'][0]:.2f} |")
PY
