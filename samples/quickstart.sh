#!/usr/bin/env bash
# A sample job: make a photo-like input, then thumbnail, sharpen and convert it with mtool.
# Usage: samples/quickstart.sh [MTOOL]  (default: mtool on PATH, else build/mtool of this clone)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MTOOL=${1:-}
if [ -z "$MTOOL" ]; then
  if command -v mtool >/dev/null; then MTOOL=$(command -v mtool)
  elif [ -x "$here/../build/mtool" ]; then MTOOL=$here/../build/mtool
  else echo "quickstart: no mtool on PATH and no build/mtool; build it first (bash .ci/setup)" >&2; exit 1
  fi
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$MTOOL" -seed 7 -size 1200x800 plasma:fuchsia-yellow -blur 0x1 -quality 90 "$out/photo.jpg"
"$MTOOL" "$out/photo.jpg" -thumbnail '200x200>' "$out/thumb.png"
"$MTOOL" "$out/photo.jpg" -sharpen 0x1 -quality 85 "$out/sharp.jpg"
"$MTOOL" identify "$out/photo.jpg" "$out/thumb.png" "$out/sharp.jpg"
echo "sample job ok ($MTOOL)"
