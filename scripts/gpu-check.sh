#!/usr/bin/env bash
# The GPU checks of the CUDA backend, in two halves:
#
#   scripts/gpu-check.sh prepare     here (any Linux x86_64 with Rust): builds the binary and the
#                                    GPU test executables into .gpu/ (git-ignored)
#   scripts/gpu-check.sh run [quick] on the GPU host, from the repo root with .gpu/ beside it:
#                                    runs the GPU tests, the kernel compile check and the
#                                    benchmarks, and prints a summary table last. `quick` skips
#                                    the PyTorch comparison and the long accuracy runs.
#
# Outputs go to $OUT (default .gpu/out): logs, bench JSON, summary.md.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

if [ "$mode" = prepare ]; then
  set -e
  rm -rf .gpu && mkdir -p .gpu/tests
  cargo build --release -p edge-infer
  cp target/release/edge-infer .gpu/
  cargo test --release --no-run --message-format=json -p edge-engine \
      --test cuda --test no_alloc --test kernels_compile 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | while read -r t; do cp "$t" .gpu/tests/"$(basename "$t" | sed 's/-[0-9a-f]*$//')"; done
  ls -la .gpu .gpu/tests
  exit 0
fi
[ "$mode" = run ] || { echo "usage: $0 prepare|run [quick]" >&2; exit 64; }
quick=${2:-}

OUT=${OUT:-.gpu/out}
export EDGE_INFER_REPO=$PWD
mkdir -p "$OUT"
bin=.gpu/edge-infer
summary=$OUT/summary.md
: > "$summary"
row() { printf '| %s |\n' "$*" >> "$summary"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"

echo "== GPU tests"
status=0
for t in .gpu/tests/*; do
  name=$(basename "$t")
  if "$t" --test-threads=1 --nocapture > "$OUT/test-$name.log" 2>&1; then r=pass; else r=FAIL; status=1; fi
  echo "$name: $r"; tail -5 "$OUT/test-$name.log"
  row "test $name | $r | $(grep -c '^test .* ok$' "$OUT/test-$name.log") ok, $(grep -c 'skipped' "$OUT/test-$name.log") skipped"
done
grep -h "relative error" "$OUT"/test-cuda.log > "$OUT/numerics.txt" || true

echo "== NVRTC is not loaded when running a plan"
$bin build --model models/yolov3-tiny.cfg --weights random:3 --device cuda --precision fp16 -o "$OUT/tiny16.engine" | tee "$OUT/build-tiny.txt"
LD_DEBUG=files $bin bench --engine "$OUT/tiny16.engine" --iterations 10 > "$OUT/ld-debug.txt" 2>&1
n=$(grep -c 'file=libnvrtc' "$OUT/ld-debug.txt")
row "libnvrtc opened while loading + running a plan | $n times | (LD_DEBUG=files)"

echo "== builds and benchmarks"
for model in yolov3 yolov3-tiny; do
  for p in fp32 fp16; do
    e="$OUT/$model-$p.engine"
    s=$(date +%s%N)
    $bin build --model models/$model.cfg --weights random:3 --device cuda --precision $p -o "$e" > "$OUT/build-$model-$p.txt" 2>&1 || status=1
    bt=$(( ($(date +%s%N) - s) / 1000000 ))
    $bin bench --engine "$e" --iterations 500 --warmup 50 --json > "$OUT/bench-$model-$p.json" 2>"$OUT/bench-$model-$p.err" || status=1
    python3 - "$OUT/bench-$model-$p.json" "$model" "$p" "$bt" >> "$summary" <<'PY'
import json, sys
try:
    b = json.load(open(sys.argv[1]))
    print(f"| bench {sys.argv[2]}-416 {sys.argv[3]} | network median {b['network_median_ms']:.3f} p99 {b['network_p99_ms']:.3f} ms | frame median {b['median_ms']:.3f} p99 {b['p99_ms']:.3f} ms | {b['gpu_memory_mib']:.0f} MiB | build {int(sys.argv[4]) / 1000:.1f} s |")
except Exception as e:
    print(f"| bench {sys.argv[2]} {sys.argv[3]} | failed: {e} |")
PY
  done
done
$bin bench --engine "$OUT/yolov3-fp16.engine" --iterations 50 --profile > "$OUT/profile-yolov3-fp16.txt" 2>&1
$bin inspect "$OUT/yolov3-fp16.engine" > "$OUT/inspect-yolov3-fp16.txt" 2>&1

echo
echo "== summary"
cat "$OUT/numerics.txt"
cat "$summary"
exit $status
