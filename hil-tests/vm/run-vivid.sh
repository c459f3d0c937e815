#!/usr/bin/env bash
# Runs daemon/tests/v4l2_vivid.rs against the kernel's vivid virtual camera: builds the test
# executable here, boots this machine's kernel in a VM (virtme-ng; the VM sees this machine's
# files), loads vivid there and runs the tests inside. Exits with the tests' status.
#
#   hil-tests/vm/run-vivid.sh [extra test-binary args, e.g. a test name filter]
#
# Environment: KERNEL (default: the newest /boot/vmlinuz-*), CARGO_TARGET_DIR, CARGO_BUILD_JOBS,
# VNG_KVM=1 (use KVM; default: emulate), VNG_MEMORY (default 1G), VNG_TIMEOUT (seconds, default 900).
# What it needs is in hil-tests/vm/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { printf 'run-vivid: %s\n' "$*" >&2; }
missing() { say "$1 is missing: $2 (see hil-tests/vm/README.md)"; exit 2; }

command -v cargo >/dev/null || missing cargo "install Rust"
command -v python3 >/dev/null || missing python3 "apt-get install python3"
command -v qemu-system-x86_64 >/dev/null || missing qemu-system-x86_64 "apt-get install qemu-system-x86"
command -v vng >/dev/null || missing vng "pip install virtme-ng"
command -v busybox >/dev/null || [ -x /bin/busybox ] || missing busybox "apt-get install busybox-static"

kernel=${KERNEL:-$(ls -1v /boot/vmlinuz-* 2>/dev/null | tail -n 1 || true)}
[ -n "$kernel" ] && [ -r "$kernel" ] || missing "a readable kernel image (/boot/vmlinuz-*)" "apt-get install linux-image-amd64, or set KERNEL"
release=${kernel##*/vmlinuz-}
[ -d "/lib/modules/$release" ] || missing "/lib/modules/$release" "install the modules of $kernel"
find "/lib/modules/$release" -name 'vivid.ko*' | grep -q . ||
    missing "the vivid module for $release" "use a kernel built with CONFIG_VIDEO_VIVID=m (Debian's linux-image-amd64 is)"

say "building the test executable"
cd "$repo"
test_exe=$(cargo test -p edge-infer --test v4l2_vivid --no-run --message-format=json |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "v4l2_vivid" and m.get("executable"):
        print(m["executable"])
')
[ -x "$test_exe" ] || { say "cargo built no v4l2_vivid test executable"; exit 1; }
say "test executable: $test_exe"

# qemu emulates the CPU unless VNG_KVM=1: a /dev/kvm that exists but does not work (nested
# virtualization in a container) hangs the boot instead of failing, and emulation is fast enough.
kvm=(--disable-kvm)
if [ "${VNG_KVM:-0}" = 1 ]; then kvm=(); say "using KVM"; fi

say "booting $kernel"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
set +e
timeout "${VNG_TIMEOUT:-900}" vng --run "$kernel" "${kvm[@]}" --memory "${VNG_MEMORY:-1G}" --cpus 2 \
    --cwd "$repo" --exec "$(printf '%q ' "$repo/hil-tests/vm/vivid-guest.sh" "$test_exe" "$@")" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
say "VM finished after $(($(date +%s) - start)) s (vng exited with $status)"
[ "$status" != 124 ] || { say "timed out after ${VNG_TIMEOUT:-900} s"; exit 1; }
# vng passes the command's status through; the marker line also catches a VM that died early.
if ! grep -q '^run-vivid: tests exited with 0' "$log" || [ "$status" != 0 ]; then
    say "FAILED"
    exit 1
fi
# In the VM every test must have run: a skip there means the setup is wrong.
if grep -q '^skipped: ' "$log"; then
    say "FAILED: tests skipped in the VM:"
    grep '^skipped: ' "$log" >&2
    exit 1
fi
say "passed"
