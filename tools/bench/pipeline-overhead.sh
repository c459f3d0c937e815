#!/usr/bin/env bash
# Pipeline overhead per frame outside the engine: capture->publish latency minus engine time,
# at 1280x720 YUYV from the synthetic camera, CPU backend. The camera runs slower than the
# engine so frames never wait for the previous one: latency = convert + engine + decode +
# publish (+ slot hand-over). The daemon's own stats lines give both numbers.
# Usage: tools/bench/pipeline-overhead.sh [MODEL_CFG] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
cfg=${1:-models/yolov3-tiny.cfg}
secs=${2:-30}
work=${WORK:-/tmp/edge-overhead}
mkdir -p "$work"
cargo build --release -q -p edge-infer
bin=target/release/edge-infer
cat > "$work/c.yaml" <<YAML
model: $PWD/$cfg
weights: random:1
cache_dir: $work/cache
threads: ${THREADS:-0}
camera:
  device: synthetic:shapes:1
  width: 1280
  height: 720
  fps: 5
  format: yuyv
socket:
  path: $work/s.sock
stats:
  interval_s: 10
YAML
frames=$((secs * 5))
$bin --config "$work/c.yaml" --frames "$frames" 2> "$work/log.txt" >/dev/null
grep -E "fps \(camera" "$work/log.txt" | tail -n +2 | tee "$work/lines.txt"
python3 - "$work/lines.txt" <<'PY'
import re, sys
rows = [l for l in open(sys.argv[1])]
if not rows:
    sys.exit("no stats lines: run longer")
get = lambda pat: [float(re.search(pat, l).group(1)) for l in rows]
med = lambda v: sorted(v)[len(v) // 2]
lat50, lat99 = get(r"latency p50 ([0-9.]+) ms"), get(r"latency p50 [0-9.]+ ms p99 ([0-9.]+) ms")
eng = get(r"engine ([0-9.]+) ms")
o50, o99 = get(r"overhead p50 ([0-9.]+) ms"), get(r"overhead p50 [0-9.]+ ms p99 ([0-9.]+) ms")
print(f"latency p50 {med(lat50):.1f} ms p99 {max(lat99):.1f} ms; engine mean {med(eng):.1f} ms; "
      f"overhead (latency - engine, per frame) p50 {med(o50):.1f} ms p99 {max(o99):.1f} ms")
PY
