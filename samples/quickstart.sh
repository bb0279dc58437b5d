#!/usr/bin/env bash
# A sample job: make a photo-like input, then thumbnail, sharpen and convert it with mtool.
set -euo pipefail
MTOOL=${1:-mtool}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$MTOOL" -seed 7 -size 1200x800 plasma:fuchsia-yellow -blur 0x1 -quality 90 "$out/photo.jpg"
"$MTOOL" "$out/photo.jpg" -thumbnail '200x200>' "$out/thumb.png"
"$MTOOL" "$out/photo.jpg" -sharpen 0x1 -quality 85 "$out/sharp.jpg"
"$MTOOL" identify "$out/photo.jpg" "$out/thumb.png" "$out/sharp.jpg"
echo "sample job ok"
