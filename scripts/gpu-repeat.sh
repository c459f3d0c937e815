#!/usr/bin/env bash
# Builds (tunes) and loads a model's plan again and again on the GPU host, to catch a failure
# that only some tactic combinations show: each round writes a plan and benchmarks it (which
# records its CUDA graphs); a round that fails keeps its log, and the plan and its `inspect`
# where the build got that far, in $OUT/fail-<round>/. Exits 1 if any round failed.
#   GPU host:  scripts/gpu-repeat.sh [ROUNDS] [PRECISION] [CFG] [SIZE]
#              (defaults: 30 fp16 engine/tests/fixtures/allops.cfg 64x64; paths, and $OUT
#              (default .gpu/out) and $BIN (default .gpu/edge-infer), from the repo root)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-30} precision=${2:-fp16} cfg=${3:-engine/tests/fixtures/allops.cfg} size=${4:-64x64}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS is not a positive number: $rounds" >&2; exit 64; }
OUT=${OUT:-.gpu/out}
bin=${BIN:-.gpu/edge-infer}
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for r in $(seq "$rounds"); do
  plan=$work/plan.engine
  rm -f "$plan"
  if "$bin" build --model "$cfg" --weights random:5 --size "$size" --device cuda \
       --precision "$precision" -o "$plan" > "$work/log" 2>&1 &&
     "$bin" bench --engine "$plan" --iterations 20 >> "$work/log" 2>&1; then
    echo "round $r: ok"
  else
    failed=$((failed + 1))
    echo "round $r: FAILED"
    rm -rf "$OUT/fail-$r"
    mkdir -p "$OUT/fail-$r"
    cp "$work/log" "$OUT/fail-$r/"
    if [ -f "$plan" ]; then
      cp "$plan" "$OUT/fail-$r/"
      "$bin" inspect "$plan" > "$OUT/fail-$r/inspect.txt" 2>&1
    fi
    tail -3 "$work/log"
  fi
done
echo "$precision $cfg $size: $failed of $rounds rounds failed"
[ "$failed" -eq 0 ]
