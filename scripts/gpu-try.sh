#!/usr/bin/env bash
# One GPU run for a candidate change: the GPU tests of .gpu/tests (each with its last lines
# and any panic), then scripts/gpu-ab.sh over the builds in .gpu/ab (the committed build
# against the candidate), table last. `scripts/gpu-check.sh prepare` builds .gpu/tests.
#   GPU host:  scripts/gpu-try.sh [ROUNDS]    (default 1; TESTS="cuda no_alloc" runs only those)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.gpu/out}
mkdir -p "$OUT"
for name in ${TESTS:-$(ls .gpu/tests)}; do
  t=.gpu/tests/$name
  if timeout 300 "$t" --test-threads=1 --nocapture > "$OUT/test-$name.log" 2>&1; then
    echo "test $name: pass"
  else
    echo "test $name: FAIL"
    grep -B2 -A12 panicked "$OUT/test-$name.log" | head -40
  fi
done
OUT=$OUT scripts/gpu-ab.sh "${1:-1}" 2>&1 | tail -8
