#!/usr/bin/env bash
# Seeds for every native codec layout, then CASES mutated cases per format through the engine
# (tests/fuzz/fuzz_codecs.cpp). Usage: run.sh FUZZ_CODECS_BINARY CASES_PER_FORMAT
set -u
FUZZ=$(readlink -f "$1"); CASES=${2:-500}
IM=/usr/bin/convert
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"; mkdir seeds
$IM -seed 1 -size 96x64 plasma: seeds/rgb.png
$IM -seed 2 -size 90x60 plasma: -interlace PNG seeds/interlaced.png
$IM -size 80x50 gradient:red-blue -depth 16 seeds/rgb16.png
$IM -seed 3 -size 90x60 plasma: -colors 16 seeds/palette.png
$IM -size 70x50 gradient: -colorspace Gray \( -size 70x50 gradient:white-black \) -alpha off -compose CopyOpacity -composite seeds/graya.png
$IM -size 64x40 gradient: -colorspace Gray -depth 16 seeds/gray16.png
$IM -size 64x40 pattern:checkerboard -monochrome seeds/bilevel.png
$IM -seed 4 -size 96x64 plasma: -quality 85 seeds/baseline.jpg
$IM -seed 5 -size 96x64 plasma: -interlace JPEG seeds/progressive.jpg
$IM -seed 6 -size 80x60 plasma: -colorspace Gray seeds/gray.jpg
$IM -seed 7 -size 96x64 plasma: -sampling-factor 2x2 -quality 60 seeds/sub420.jpg
$IM -seed 8 -size 64x48 plasma: -colorspace CMYK seeds/cmyk.jpg
"$FUZZ" --arith seeds/baseline.jpg seeds/arithmetic.jpg || { echo "FAIL: no arithmetic seed"; exit 1; }
$IM -seed 9 -size 80x60 plasma: -quality 50 seeds/rgb.jp2
$IM -size 64x48 gradient: -depth 16 seeds/rgb16.jp2
$IM -size 64x48 gradient: -colorspace Gray seeds/gray.jp2
$IM -seed 10 -size 96x64 plasma: -define jp2:tilewidth=32 -define jp2:tileheight=32 seeds/tiled.jp2
$IM -seed 11 -size 64x48 plasma: seeds/codestream.j2k
mv seeds/codestream.j2k seeds/codestream.jp2   # grouped with the JPEG 2000 cases
timeout 3000 "$FUZZ" seeds work "$CASES"
