#!/usr/bin/env bash
# Daemon RSS over time with 4 clients connected (edge-infer watch), to show it does not grow.
# Usage: tools/bench/daemon-rss.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
work=${WORK:-/tmp/edge-rss}
mkdir -p "$work"
cargo build --release -q -p edge-infer
bin=target/release/edge-infer
cat > "$work/c.yaml" <<YAML
model: $PWD/models/yolov3-tiny.cfg
weights: random:1
cache_dir: $work/cache
threads: 1
camera:
  device: synthetic:shapes:1
  width: 1280
  height: 720
  fps: 10
  format: yuyv
socket:
  path: $work/s.sock
stats:
  interval_s: 60
YAML
$bin --config "$work/c.yaml" 2> "$work/log.txt" &
pid=$!
trap 'kill $pid 2>/dev/null; kill $(jobs -p) 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$work/s.sock" ] && break; sleep 0.2; done
for i in 1 2 3 4; do $bin watch --socket "$work/s.sock" > /dev/null & done
echo "minute rss_kib"
for m in $(seq 0 "$minutes"); do
  echo "$m $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
  [ "$m" -lt "$minutes" ] && sleep 60
done
grep -E "fps \(camera" "$work/log.txt" | tail -2
