#!/usr/bin/env bash
# What the GPU host allows at batch 1, beside what we reach, in one call: the cost of one
# dependent step under five schedules (tools/reference/step_floor.cu, built here with nvcc),
# PyTorch's chain of trivial kernels (graph_floor.py), cuBLASLt's 8-bit against 16-bit GEMMs on
# YOLOv3's conv shapes (gemm_peer.py), and our FP16 and INT8 plans with PyTorch beside them
# (scripts/gpu-peer.sh). docs/PERFORMANCE.md, section "2026-12-02, 09:56".
#   GPU host:  scripts/gpu-floor.sh [BIN]   (BIN default .gpu/edge-infer)
# Writes each part's output under ${OUT:-/tmp}/floor-*.txt; the tables come last.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.gpu/edge-infer}
out=${OUT:-/tmp}
failed=0
rm -f "$out"/floor-*.txt
date -u
{ nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -o /tmp/step_floor tools/reference/step_floor.cu &&
  /tmp/step_floor 1024 4096 16384; } > "$out/floor-steps.txt" 2>&1 || failed=1
python3 tools/reference/graph_floor.py --lengths 77,154 > "$out/floor-graph.txt" 2>&1 || failed=1
python3 tools/reference/gemm_peer.py --sizes 416,32 > "$out/floor-gemm.txt" 2>&1 || failed=1
scripts/gpu-peer.sh "$bin" 2 > "$out/floor-peer.txt" 2>&1 || failed=1
for f in steps graph gemm peer; do
  echo "== $f"
  cat "$out/floor-$f.txt"
done
exit $failed
