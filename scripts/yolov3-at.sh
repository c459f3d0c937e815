#!/usr/bin/env bash
# models/yolov3.cfg with input width and height SIZE (a multiple of 32), on stdout: the same
# convs on SIZE/416 squared times the pixels. Used by gpu-scale.sh and gpu-profile.sh.
set -euo pipefail
size=${1:?usage: $0 SIZE}
[[ $size =~ ^[0-9]+$ && $((size % 32)) -eq 0 && $size -gt 0 ]] || { echo "$0: SIZE must be a positive multiple of 32, not $size" >&2; exit 64; }
sed -e "s/^width=.*/width=$size/" -e "s/^height=.*/height=$size/" "$(dirname "$0")/../models/yolov3.cfg"
