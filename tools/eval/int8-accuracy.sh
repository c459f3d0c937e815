#!/usr/bin/env bash
# The demo model's accuracy in FP32 and INT8 (each calibration algorithm) on 500 held-out
# scenes (seed 999999, as docs/ACCURACY.md), with caches calibrated on 500 other scenes
# (synthetic:scenes:7), and the time each calibration takes. Prints a markdown table last.
#   tools/eval/int8-accuracy.sh [DEVICE]     DEVICE: cpu (default) or cuda
# Needs a built edge-infer (target/release, else target/debug, or $EDGE_INFER).
set -euo pipefail
cd "$(dirname "$0")/../.."
dev=${1:-cpu}
bin=${EDGE_INFER:-$( [ -x target/release/edge-infer ] && echo target/release/edge-infer || echo target/debug/edge-infer)}
work=${WORK:-/tmp/edge-int8-acc}
mkdir -p "$work"
model=(--model models/shapes/shapes.cfg --weights models/shapes/shapes.weights --names models/shapes/shapes.names)
[ -d "$work/held" ] || "$bin" dataset synth --out "$work/held" --count 500 --seed 999999 --size 320x320 >/dev/null
rows=()
row() { # name, extra eval args...
  local name=$1; shift
  local j
  j=$("$bin" eval --json --dataset "$work/held" "${model[@]}" --device "$dev" "$@")
  rows+=("| $name | $(python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print("%.4f | %.4f" % (v["map50"], v["map50_95"]))' "$j") |")
}
row "fp32" --precision fp32
if [ "$dev" = cuda ]; then row "fp16" --precision fp16; fi
for alg in entropy percentile minmax; do
  cache=$work/shapes-$dev-$alg.calib
  t0=$(date +%s.%N)
  "$bin" calibrate "${model[@]}" --images synthetic:scenes:7 --count 500 --algorithm "$alg" --cache "$cache" --device "$dev" >/dev/null
  t1=$(date +%s.%N)
  cal=$(python3 -c "print(f'{$t1-$t0:.1f}')")
  row "int8 $alg (calibration: 500 frames in $cal s on $dev)" --precision int8 --calib-cache "$cache"
done
echo
echo "demo model, 500 held-out scenes (seed 999999), device $dev, $(date -u +%F)"
echo
echo "| engine | mAP@0.5 | mAP@0.5:0.95 |"
echo "| --- | --- | --- |"
printf '%s\n' "${rows[@]}"
