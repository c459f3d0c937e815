#!/usr/bin/env bash
# The whole GPU-host run behind models/shapes/: generate scenes, build the training cache,
# train width variants side by side on the one GPU, export Darknet files, check the export
# against tools/reference/darknet_ref.py and the engine, evaluate with `edge-infer eval`.
#
#   BIN=target/release/edge-infer bash tools/train/pipeline.sh
#
# Everything is seeded; see tools/train/README.md for the settings used and the results.
set -euo pipefail

BIN=${BIN:-target/release/edge-infer}
WORK=${WORK:-/dev/shm/shapes-train}
RESULTS=${RESULTS:-$WORK/results}
SIZE=${SIZE:-320}
N_SQUARE=${N_SQUARE:-24000}     # 320x320 training scenes
N_WIDE=${N_WIDE:-3000}          # 1280x720 training scenes (the daemon's camera size), letterboxed
JOBS=${JOBS:-$(nproc)}
BUDGET=${BUDGET:-360}           # seconds of training per variant (variants train at the same time)
SEED=${SEED:-1}
STEPS=${STEPS:-0}               # 0: chosen from BUDGET after the first steps (printed; pass to reproduce)
VARIANTS=${VARIANTS:-"A:16,32,64,64,128,128,256,128,256,64,128 B:16,16,32,32,64,64,128,64,128,32,64"}
DEADLINE=${DEADLINE:-0}         # if set: seconds from the start by which everything must be done
HELD_SEED=${HELD_SEED:-999999}  # held-out 320x320 scenes (never used for training)
HELD_WIDE_SEED=${HELD_WIDE_SEED:-999998}
TRAIN_ARGS=${TRAIN_ARGS:-}          # extra train.py arguments
T=tools/train/train.py
export PYTHONUNBUFFERED=1

t0=$(date +%s)
stamp() { echo "[pipeline +$(( $(date +%s) - t0 ))s] $*"; }

stamp "host: $(nproc) cores; $(free -g | awk '/Mem:/{print $2" GiB RAM"}'); $(df -h --output=avail "$(dirname "$WORK")" | tail -1) free at $(dirname "$WORK")"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c 'import torch, PIL; print("torch", torch.__version__, "cuda", torch.version.cuda, "pillow", PIL.__version__)'
rm -rf "$WORK"
mkdir -p "$WORK/sq" "$WORK/wide" "$RESULTS"

# 1. data: JOBS generator processes per kind, seeds 1000+p (square) and 2000+p (wide)
pids=()
for ((p = 0; p < JOBS; p++)); do
  n=$(( N_SQUARE / JOBS + (p < N_SQUARE % JOBS ? 1 : 0) ))
  "$BIN" dataset synth --out "$WORK/sq/$p" --count "$n" --seed $((1000 + p)) --size ${SIZE}x${SIZE} >/dev/null & pids+=($!)
  n=$(( N_WIDE / JOBS + (p < N_WIDE % JOBS ? 1 : 0) ))
  "$BIN" dataset synth --out "$WORK/wide/$p" --count "$n" --seed $((2000 + p)) --size 1280x720 >/dev/null & pids+=($!)
done
"$BIN" dataset synth --out "$WORK/heldout" --count 500 --seed "$HELD_SEED" --size ${SIZE}x${SIZE} >/dev/null & pids+=($!)
"$BIN" dataset synth --out "$WORK/heldout-wide" --count 200 --seed "$HELD_WIDE_SEED" --size 1280x720 >/dev/null & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done
stamp "generated $N_SQUARE + $N_WIDE training scenes, 500 + 200 held-out"

# 2. cache (letterboxed exactly as the engine does it)
python3 $T prepare --data "$WORK"/sq/* "$WORK"/wide/* --size "$SIZE" --cache "$WORK/cache"
rm -rf "$WORK/sq" "$WORK/wide"
stamp "cache ready"

# 3. train the variants side by side
if [ "$DEADLINE" -gt 0 ] && [ "$STEPS" -eq 0 ]; then
  left=$(( DEADLINE - ($(date +%s) - t0) - 120 ))   # keep 2 min for start-up, export, checks, evals
  [ "$left" -lt "$BUDGET" ] && BUDGET=$left
fi
stamp "training budget ${BUDGET}s per variant"
pids=()
for v in $VARIANTS; do
  name=${v%%:*}; widths=${v#*:}
  mkdir -p "$RESULTS/$name"
  python3 $T train --cache "$WORK/cache" --out "$RESULTS/$name" --work "$WORK/$name" --widths "$widths" \
    --seed "$SEED" --steps "$STEPS" --time-budget "$BUDGET" --check-data "$WORK/heldout" ${TRAIN_ARGS:-} \
    > "$RESULTS/$name/train.log" 2>&1 &
  pids+=($!)
done
tail -n +1 -f "$RESULTS"/*/train.log &
tailpid=$!
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
sleep 1; kill "$tailpid" 2>/dev/null || true
stamp "training done (status $status)"

# 4. checks and evaluation, one variant after the other (the engine uses every core)
for v in $VARIANTS; do
  name=${v%%:*}
  M="$RESULTS/$name"
  [ -f "$M/shapes.weights" ] || { stamp "$name: no weights"; continue; }
  cp "$WORK/$name/summary.json" "$M/" || true
  "$BIN" infer --model "$M/shapes.cfg" --weights "$M/shapes.weights" --names "$M/shapes.names" \
    --input "$WORK/$name/check/input.npy" --dump-raw "$WORK/$name/engine" --threads "$JOBS" >/dev/null
  python3 $T compare "$WORK/$name/engine" "$WORK/$name/check" | tee "$M/engine_vs_reference.json"
  for set in heldout heldout-wide; do
    "$BIN" eval --model "$M/shapes.cfg" --weights "$M/shapes.weights" \
      --names "$M/shapes.names" --dataset "$WORK/$set" --threads "$JOBS" --json | tee "$M/eval-$set.json"
    stamp "$name $set evaluated"
  done
  stamp "$name evaluated"
done
stamp "done"
exit $status
