#!/usr/bin/env bash
# Truncated and bit-flipped JPEG, PNG and JP2 inputs: mtool must never crash or hang; when it
# fails it exits 1 and leaves no output file and no staging directory.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"
# Seeds for each native layout; tests/fuzz runs thousands of mutations of the same kinds
# in-process (also under the sanitizers), this suite the whole command line on a few of each.
$IM -seed 3 -size 96x64 plasma: -quality 85 good.jpg
$IM good.jpg good.png
$IM good.jpg -quality 50 good.jp2
$IM good.jpg -interlace JPEG progressive.jpg
$IM good.jpg -interlace PNG interlaced.png
$IM -size 80x50 gradient:red-blue -depth 16 wide16.png
$IM good.jpg -colors 16 palette.png
$IM -size 70x50 gradient: -colorspace Gray \( -size 70x50 gradient:white-black \) -alpha off -compose CopyOpacity -composite graya.png
python3 - <<'PY'
import random
random.seed(1234)
for src in ("good.jpg", "good.png", "good.jp2", "progressive.jpg", "interlaced.png", "wide16.png", "palette.png",
            "graya.png"):
    data = open(src, "rb").read()
    stem, ext = src.split(".")
    for i, cut in enumerate((8, 20, 60, len(data) // 3, len(data) // 2, len(data) - 10)):
        open(f"trunc{i}-{stem}.{ext}", "wb").write(data[:cut])
    for i in range(12):
        b = bytearray(data)
        for _ in range(1 + i % 4):
            pos = random.randrange(len(b))
            b[pos] ^= 1 << random.randrange(8)
        open(f"flip{i}-{stem}.{ext}", "wb").write(bytes(b))
PY
for f in trunc* flip*; do
  timeout 30 "$MTOOL" identify "$f" >/dev/null 2>&1; rc=$?
  check "identify $f exits 0/1 (got $rc)" test "$rc" -le 1
  rm -f out.png
  timeout 30 "$MTOOL" "$f" -resize 50% out.png >/dev/null 2>&1; rc=$?
  check "convert $f exits 0/1 (got $rc)" test "$rc" -le 1
  if [ "$rc" = 1 ]; then check "no output after failing $f" test ! -e out.png; fi
  check "no staging leftovers ($f)" sh -c '! ls -a | grep -q "^\.mtool-"'
done
finish
