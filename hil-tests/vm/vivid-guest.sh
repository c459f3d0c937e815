#!/bin/sh
# Inside the VM that run-vivid.sh boots: loads vivid, finds its capture node and runs the test
# executable against it. Usage: vivid-guest.sh TEST_EXECUTABLE [test args...]
set -eu

# One vivid instance: a video capture node and a video output node (node_types=0x101; the output
# node is for the "not a capture device" test), single-planar formats (multiplanar=1), one
# webcam input (num_inputs=1 input_types=0).
modprobe vivid n_devs=1 node_types=0x101 multiplanar=1 num_inputs=1 input_types=0

dev=
for n in /sys/class/video4linux/video*; do
    [ "$(cat "$n/name")" = vivid-000-vid-cap ] && dev=/dev/${n##*/}
done
[ -n "$dev" ] || { echo "run-vivid: vivid created no capture node" >&2; exit 3; }
i=0
while [ ! -e "$dev" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "run-vivid: vivid capture device: $dev"

exe=$1
shift
rc=0
EDGE_INFER_V4L2_DEVICE=$dev RUST_BACKTRACE=1 "$exe" --test-threads=1 "$@" || rc=$?
echo "run-vivid: tests exited with $rc"
exit $rc
