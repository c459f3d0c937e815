#!/usr/bin/env bash
# Builds (tunes) and loads a model's plan again and again on the GPU host, to catch a failure
# that only some tactic combinations show: each round writes a plan, benchmarks it (which
# records its CUDA graphs) and keeps the plan, its `inspect` and the log of any round that
# fails in $OUT/fail-<round>/.
#   GPU host:  scripts/gpu-repeat.sh [ROUNDS] [PRECISION] [CFG] [SIZE]
#              (defaults: 30 fp16 engine/tests/fixtures/allops.cfg 64x64)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-30} precision=${2:-fp16} cfg=${3:-engine/tests/fixtures/allops.cfg} size=${4:-64x64}
OUT=${OUT:-.gpu/out}
bin=${BIN:-.gpu/edge-infer}
mkdir -p "$OUT"
work=$(mktemp -d)
failed=0
for r in $(seq "$rounds"); do
  plan=$work/plan.engine
  if $bin build --model "$cfg" --weights random:5 --size "$size" --device cuda \
       --precision "$precision" -o "$plan" > "$work/log" 2>&1 &&
     $bin bench --engine "$plan" --iterations 20 >> "$work/log" 2>&1; then
    echo "round $r: ok"
  else
    failed=$((failed + 1))
    echo "round $r: FAILED"
    mkdir -p "$OUT/fail-$r"
    cp "$work/log" "$OUT/fail-$r/"
    [ -f "$plan" ] && cp "$plan" "$OUT/fail-$r/" && $bin inspect "$plan" > "$OUT/fail-$r/inspect.txt" 2>&1
    tail -3 "$work/log"
  fi
  rm -f "$plan"
done
echo "$precision $cfg $size: $failed of $rounds rounds failed"
