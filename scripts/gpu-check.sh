#!/usr/bin/env bash
# The GPU checks of the CUDA backend, in two halves:
#
#   scripts/gpu-check.sh prepare     here (any Linux x86_64 with Rust): builds the binary and the
#                                    GPU test executables into .gpu/ (git-ignored)
#   scripts/gpu-check.sh run [quick] on the GPU host, from the repo root with .gpu/ beside it:
#                                    runs the GPU tests (FP32, FP16 and INT8 against the CPU),
#                                    the kernel compile check, INT8 calibration on the GPU, the
#                                    benchmarks (FP32, FP16, INT8) and prints a summary table
#                                    last. `quick` skips the PyTorch comparison and the long
#                                    accuracy runs.
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
  cargo test --release --no-run --message-format=json -p edge-engine -p edge-infer \
      --test cuda --test no_alloc --test kernels_compile --test cuda_scenes 2>/dev/null |
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
final=$OUT
# Everything but the summary goes into one archive (the device tool returns few files).
OUT=$(mktemp -d)
trap 'tar -C "$OUT" --exclude="*.engine" --exclude="*.weights" --exclude=held -czf "$final/logs.tgz" . ; cp "$OUT/summary.md" "$final/" 2>/dev/null' EXIT
mkdir -p "$final"
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
  [ $r = pass ] || grep -B2 -A12 "panicked" "$OUT/test-$name.log" | head -60
  row "test $name | $r | $(grep -c '^test .* ok$' "$OUT/test-$name.log") ok, $(grep -c 'skipped' "$OUT/test-$name.log") skipped"
done
grep -h "relative error\|int8 values differ\|int8 convs on tensor cores" "$OUT"/test-cuda.log > "$OUT/numerics.txt" || true

echo "== NVRTC is not loaded when running a plan"
$bin build --model models/yolov3-tiny.cfg --weights random:3 --device cuda --precision fp16 -o "$OUT/tiny16.engine" | tee "$OUT/build-tiny.txt"
LD_DEBUG=files $bin bench --engine "$OUT/tiny16.engine" --iterations 10 > "$OUT/ld-debug.txt" 2>&1
n=$(grep -c 'file=libnvrtc' "$OUT/ld-debug.txt")
row "libnvrtc opened while loading + running a plan | $n times | (LD_DEBUG=files)"

echo "== INT8 calibration of the demo model on the GPU (500 synthetic scenes, entropy)"
demo=(--model models/shapes/shapes.cfg --weights models/shapes/shapes.weights --names models/shapes/shapes.names)
s=$(date +%s%N)
$bin calibrate "${demo[@]}" --images synthetic:scenes:7 --count 500 --algorithm entropy \
  --cache "$OUT/shapes-entropy.calib" --device cuda > "$OUT/calibrate-shapes.txt" 2>&1 || status=1
ct=$(( ($(date +%s%N) - s) / 1000000 ))
cat "$OUT/calibrate-shapes.txt"
row "calibrate demo 500 scenes entropy, cuda | $(awk "BEGIN{printf \"%.1f s\", $ct / 1000}") | $(tail -1 "$OUT/calibrate-shapes.txt" | cut -c1-80)"

echo "== builds and benchmarks"
# A summary row of one `bench --json`: bench_row FILE LABEL EXTRA_CELL
bench_row() {
  python3 - "$1" "$2" "$3" >> "$summary" <<'PY'
import json, sys
path, label, extra = sys.argv[1:4]
try:
    b = json.load(open(path))
    print(f"| bench {label} | network {b['network_median_ms']:.3f} / {b['network_p99_ms']:.3f} ms | infer {b['infer_median_ms']:.3f} / {b['infer_p99_ms']:.3f} | detect {b['detect_median_ms']:.3f} / {b['detect_p99_ms']:.3f} ({b['candidates']} cand.) | frame {b['median_ms']:.3f} / {b['p99_ms']:.3f} | {b['gpu_memory_mib']:.0f} MiB | {extra} |")
except Exception as e:
    print(f"| bench {label} | failed: {e} |")
PY
}
for model in yolov3 yolov3-tiny; do
  $bin weights --model models/$model.cfg --seed 3 -o "$OUT/$model.weights"
done
for model in yolov3 yolov3-tiny shapes; do
  case $model in
    shapes) src=(--model models/shapes/shapes.cfg --weights models/shapes/shapes.weights) ;;
    *) src=(--model models/$model.cfg --weights "$OUT/$model.weights") ;;
  esac
  for p in fp32 fp16 int8; do
    e="$OUT/$model-$p.engine"
    # INT8: the demo model uses the cache calibrated above; the random-weight models one
    # calibrated by `build` itself on 32 synthetic scenes (speed does not depend on the scales).
    int8=()
    case $model-$p in
      shapes-int8) int8=(--calib-cache "$OUT/shapes-entropy.calib") ;;
      *-int8) int8=(--calib-cache "$OUT/$model.calib" --calib-images synthetic:scenes:7 --calib-count 32) ;;
    esac
    s=$(date +%s%N)
    $bin build "${src[@]}" --device cuda --precision $p ${int8[@]+"${int8[@]}"} -o "$e" > "$OUT/build-$model-$p.txt" 2>&1 || status=1
    bt=$(( ($(date +%s%N) - s) / 1000000 ))
    $bin bench --engine "$e" --iterations 500 --warmup 50 --json > "$OUT/bench-$model-$p.json" 2>"$OUT/bench-$model-$p.err" || status=1
    bench_row "$OUT/bench-$model-$p.json" "$model $p" "build $(awk "BEGIN{printf \"%.1f s\", $bt / 1000}")"
  done
done
# The same plans with every kernel launched only after the previous one ended (no programmatic
# dependent launch): what the overlap gains, in the same run.
for p in fp16 int8; do
  EDGE_INFER_DEPENDENT_LAUNCH=0 $bin bench --engine "$OUT/yolov3-$p.engine" --iterations 500 --warmup 50 --json \
    > "$OUT/bench-yolov3-$p-serial.json" 2>"$OUT/bench-yolov3-$p-serial.err" || status=1
  bench_row "$OUT/bench-yolov3-$p-serial.json" "yolov3 $p, serialized launches" ""
done
python3 - "$OUT/bench-yolov3-fp16.json" "$OUT/bench-yolov3-int8.json" >> "$summary" <<'PY'
import json, sys
try:
    f, i = (json.load(open(p)) for p in sys.argv[1:3])
    r = i["network_median_ms"] / f["network_median_ms"]
    print(f"| yolov3-416 int8 / fp16 network median | {r:.2f}x | {'meets' if r <= 0.6 else 'MISSES'} the 0.6x target |")
except Exception as e:
    print(f"| yolov3-416 int8 / fp16 | failed: {e} |")
PY
for p in fp16 int8; do
  $bin bench --engine "$OUT/yolov3-$p.engine" --iterations 50 --profile > "$OUT/profile-yolov3-$p.txt" 2>&1
  $bin inspect "$OUT/yolov3-$p.engine" > "$OUT/inspect-yolov3-$p.txt" 2>&1
done

if [ "$quick" != quick ]; then
  echo "== demo model accuracy: FP32, FP16 and INT8 on the GPU vs the CPU (500 held-out scenes)"
  $bin dataset synth --out "$OUT/held" --count 500 --seed 999999 --size 320x320 > /dev/null
  # INT8 with the entropy cache calibrated on the GPU above, on the CPU (the reference
  # arithmetic) and on the GPU.
  for d in "cpu fp32" "cuda fp32" "cuda fp16" "cpu int8" "cuda int8"; do
    set -- $d
    int8=()
    [ "$2" = int8 ] && int8=(--calib-cache "$OUT/shapes-entropy.calib")
    $bin eval "${demo[@]}" --dataset "$OUT/held" --device $1 --precision $2 ${int8[@]+"${int8[@]}"} --json \
      > "$OUT/eval-$1-$2.json" 2> "$OUT/eval-$1-$2.err"
    python3 - "$OUT/eval-$1-$2.json" "$1 $2" >> "$summary" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(f"| eval demo {sys.argv[2]} | mAP@0.5 {d['map50']:.4f} | mAP@0.5:0.95 {d['map50_95']:.4f} |")
except Exception as e:
    print(f"| eval demo {sys.argv[2]} | failed: {e} |")
PY
  done
  echo "== PyTorch on the same cfg + weights (tools/reference/darknet_ref.py gpu-bench)"
  modes=${PT_MODES:-eager-fp16,graph-fp16,graph-fp32,compile-fp16,matmul-ceiling}
  for model in yolov3-tiny yolov3; do
    timeout 420 python3 tools/reference/darknet_ref.py gpu-bench --cfg models/$model.cfg \
      --weights "$OUT/$model.weights" --iterations 200 --modes "$modes" \
      --json "$OUT/pytorch-$model.json" > "$OUT/pytorch-$model.log" 2>&1
    python3 - "$OUT/pytorch-$model.json" "$model" >> "$summary" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    for k, m in d["modes"].items():
        if m.get("status") == "ok":
            print(f"| pytorch {sys.argv[2]} {k} | median {m.get('median_ms', 0):.3f} p99 {m.get('p99_ms', 0):.3f} ms | {m.get('tflops', 0):.1f} TFLOP/s |")
        else:
            print(f"| pytorch {sys.argv[2]} {k} | {m.get('status')} {str(m.get('error', m.get('reason', '')))[:80]} |")
except Exception as e:
    print(f"| pytorch {sys.argv[2]} | failed: {e} |")
PY
  done
fi
for p in fp16 int8; do
  echo "== profile yolov3-416 $p (slowest layers)"
  grep -E "^ +[0-9]+ " "$OUT/profile-yolov3-$p.txt" | sort -k5 -g -r | head -25; tail -1 "$OUT/profile-yolov3-$p.txt"
done

echo
echo "== summary"
cat "$OUT/numerics.txt"
cat "$summary"
exit $status
