#!/usr/bin/env bash
# Streamed execution (src/exec/stream.cpp): `IN steps OUT` with a JPEG of >= 4 MP in, pointwise
# and convolution steps, a JPEG or PNG out, runs band by band. Its outputs must have exactly the
# pixels of the whole-image run (-define mtool:stream=false) for every layout, chain, band edge
# and setting; anything unusual (a damaged file) must end as the whole-image run does; peak RSS
# shows the image was never whole.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"
$IM -seed 3 -size 600x425 plasma:fuchsia-yellow -resize 2400x1700! -attenuate 0.3 +noise Gaussian \
  -quality 90 rgb444.jpg
$IM rgb444.jpg -quality 80 -sampling-factor 2x2 rgb420.jpg
$IM rgb444.jpg -colorspace Gray -quality 85 gray.jpg
$IM rgb444.jpg -interlace JPEG -quality 85 prog.jpg
$IM rgb444.jpg -crop 2401x1667+0+0 +repage -quality 88 odd.jpg
$IM rgb444.jpg -colorspace Gray -type TrueColor -quality 90 grayrgb.jpg  # 3 channels, all gray

ae() { /usr/bin/compare -metric AE "$1" "$2" null: 2>&1; }
dims() { /usr/bin/identify -format '%wx%h %[channels] %z' "$1"; }
rss() { /usr/bin/time -f %M -o rss.txt "$@" >/dev/null 2>&1; cat rss.txt; }

# same IN OUT-EXT STEPS...: streamed and whole-image runs give the same pixels, size and layout.
same() {
  local in=$1 ext=$2; shift 2
  local tag="$in $* .$ext"
  "$MTOOL" "$in" "$@" "s.$ext" || { bad "$tag: streamed run failed"; return; }
  "$MTOOL" -define mtool:stream=false "$in" "$@" "n.$ext"
  check "$tag: same pixels ($(ae s.$ext n.$ext))" [ "$(ae s.$ext n.$ext)" = 0 ]
  check "$tag: same layout ($(dims s.$ext) / $(dims n.$ext))" [ "$(dims s.$ext)" = "$(dims n.$ext)" ]
}
for in in rgb444.jpg rgb420.jpg gray.jpg prog.jpg odd.jpg; do
  for ext in jpg png; do
    same $in $ext -negate
    same $in $ext -sharpen 5x2
    same $in $ext -blur 0x3
  done
  same $in jpg
  same $in png
  same $in jpg -gaussian-blur 0x1.5 -level 10%,90%
  same $in png -unsharp 0x2 -gamma 1.3
  same $in jpg -sharpen 0x1 -negate -blur 2x1
done
# PNG inputs: 8- and 16-bit, gray, alpha; palette and interlaced files are read whole.
$IM rgb444.jpg rgb.png
$IM rgb444.jpg -depth 16 -blur 0x1 rgb16.png
$IM gray.jpg gray.png
$IM rgb444.jpg -alpha set -channel A -fx 'u.r' +channel rgba.png
$IM rgb444.jpg -colors 200 pal.png
$IM rgb444.jpg -interlace PNG inter.png
for in in rgb.png rgb16.png gray.png rgba.png pal.png inter.png; do
  same $in jpg -quality 85
  same $in png -sharpen 0x1.5
  same $in jpg -negate -blur 0x2
done
same rgb444.jpg jpg -quality 70 -negate
same rgb444.jpg jpg -evaluate multiply 1.2 -brightness-contrast 10x5 -sigmoidal-contrast 3x50%
same rgb444.jpg png -threshold 50% -solarize 40%
same rgb444.jpg jpg -blur 40x12                     # kernel taller than a band
same rgb444.jpg jpg -virtual-pixel black -blur 0x4  # edges by the setting, not by band cuts
same grayrgb.jpg jpg -negate                        # the writer's gray scan reads every row: a second pass
same grayrgb.jpg png -sharpen 0x1
# Settings after the input reach the writer: the same file as the whole-image run.
"$MTOOL" rgb444.jpg -quality 70 -sampling-factor 2x1 -negate s.jpg
"$MTOOL" -define mtool:stream=false rgb444.jpg -quality 70 -sampling-factor 2x1 -negate n.jpg
check "settings after the input: same pixels" [ "$(ae s.jpg n.jpg)" = 0 ]
check "settings after the input: same quality and sampling" \
  [ "$(/usr/bin/identify -format '%Q %[jpeg:sampling-factor]' s.jpg)" = "$(/usr/bin/identify -format '%Q %[jpeg:sampling-factor]' n.jpg)" ]
# A streamed JPEG gets standard Huffman tables (optimising would hold every coefficient):
# a slightly larger file; jpeg:optimize-coding=true gives the whole-image run's file.
a=$(stat -c %s s.jpg) b=$(stat -c %s n.jpg)
check "standard tables: $a bytes within 115% of $b" [ $((a * 100)) -le $((b * 115)) ]
"$MTOOL" -define jpeg:optimize-coding=true rgb444.jpg -quality 70 -sampling-factor 2x1 -negate s.jpg
check "jpeg:optimize-coding=true: the whole-image run's file" cmp -s s.jpg n.jpg
# Under a tight memory limit and on one thread.
same rgb444.jpg jpg -limit memory 8MiB -sharpen 0x2
"$MTOOL" -limit thread 1 rgb444.jpg -blur 0x2 s.jpg; "$MTOOL" -define mtool:stream=false rgb444.jpg -blur 0x2 n.jpg
check "one thread: same pixels" [ "$(ae s.jpg n.jpg)" = 0 ]
# And against ImageMagick itself for two of them.
$IM rgb444.jpg -sharpen 5x2 im.png; "$MTOOL" rgb444.jpg -sharpen 5x2 s.png
check "-sharpen 5x2 as ImageMagick's" [ "$(ae s.png im.png)" = 0 ]
$IM rgb420.jpg -negate im.jpg; "$MTOOL" rgb420.jpg -negate s.jpg
check "-negate to JPEG as ImageMagick's" [ "$(ae s.jpg im.jpg)" = 0 ]

# A damaged file ends exactly as the whole-image run does (warnings, exit status, pixels).
head -c 700000 rgb444.jpg > trunc.jpg
for reg in "" -regard-warnings; do
  a=$("$MTOOL" $reg trunc.jpg -negate s.jpg 2>&1); rc=$?
  b=$("$MTOOL" $reg -define mtool:stream=false trunc.jpg -negate n.jpg 2>&1); wrc=$?
  check "truncated $reg: same messages ($a)" [ "$a" = "$b" ]
  check "truncated $reg: same exit status ($rc, $wrc)" [ "$rc" = "$wrc" ]
  check "truncated $reg: same pixels" [ "$(ae s.jpg n.jpg)" = 0 ]
done
check "no staging file left" sh -c '! ls -a | grep -q "^\.mtool-"'

# Limits decide as in the ordinary run, which holds the whole image (found by an adversarial
# review: bands each passed the checks the whole image fails).
same_outcome() {  # TAG OUT ARGS...: the same messages, exit status and output
  local tag=$1 out=$2; shift 2
  rm -f "s-$out" "n-$out"
  a=$("$MTOOL" "$@" "s-$out" 2>&1); rc=$?
  b=$("$MTOOL" -define mtool:stream=false "$@" "n-$out" 2>&1); wrc=$?
  check "$tag: same messages ($a)" [ "${a//s-$out/X}" = "${b//n-$out/X}" ]
  check "$tag: same exit status ($rc, $wrc)" [ "$rc" = "$wrc" ]
  if [ -e "n-$out" ]; then check "$tag: same pixels" [ "$(ae "s-$out" "n-$out")" = 0 ]
  else check "$tag: no output either" test ! -e "s-$out"; fi
}
same_outcome "tiers too small for the image" o.jpg -limit memory 2MiB -limit map 2MiB -limit disk 4MiB rgb444.jpg -negate
same_outcome "-limit height" o.jpg -limit height 1000 rgb444.jpg -negate
same_outcome "-limit width" o.jpg -limit width 1000 rgb444.jpg
$IM -size 250x16000 gradient: -quality 90 tall.jpg
same_outcome "image plus kernel over the height limit" o.jpg tall.jpg -blur 0x3 -negate
same_outcome "large kernel" o.jpg rgb444.jpg -blur 0x30
same_outcome "progressive input" o.png prog.jpg -sharpen 0x1

# Memory: a 4000x3000 photo. The whole-image run holds its pixels (36 MB at 8 bits, twice and at
# 16 bits for a convolution); the streamed one a few bands.
$IM rgb444.jpg -resize 4000x3000! -quality 90 big.jpg
for job in "-negate:jpg" "-sharpen 5x2:jpg" "-sharpen 5x2:png"; do
  op=${job%:*} ext=${job##*:}
  r_s=$(rss "$MTOOL" big.jpg $op x.$ext); r_n=$(rss "$MTOOL" -define mtool:stream=false big.jpg $op x.$ext)
  m=20; [ "$ext" = png ] && m=12  # the PNG writer's own batches of rows weigh more there
  check "big.jpg $op .$ext: streamed peak RSS ${r_s} KB < whole ${r_n} KB - $m MB" [ "$r_s" -lt $((r_n - m * 1024)) ]
done
# Wide images take fewer rows per band (a band's bytes, not its rows, are fixed), so memory does
# not grow with the width: 15000x800 and 6000x2000 (12 MP each) peak within 8 MB of each other.
# Bands of 256 rows held 2.5 times the bytes at 15000 pixels: 60 MB more.
$IM rgb444.jpg -resize 6000x2000! -quality 90 w6.jpg
$IM rgb444.jpg -resize 15000x800! -quality 90 w16.jpg
check "15000x800: bands of 102 rows" grep -q "bands of 102 rows" <("$MTOOL" plan w16.jpg -sharpen 5x2 p.jpg)
check "6000x2000: bands of 256 rows" grep -q "bands of 256 rows" <("$MTOOL" plan w6.jpg -sharpen 5x2 p.jpg)
same w16.jpg jpg -sharpen 5x2
same w16.jpg png -blur 0x3 -negate
for ext in jpg png; do
  r6=$(rss "$MTOOL" w6.jpg -sharpen 5x2 x.$ext); r16=$(rss "$MTOOL" w16.jpg -sharpen 5x2 x.$ext)
  check "sharpen .$ext: 15000 wide ${r16} KB within 8 MB of 6000 wide ${r6} KB" \
    [ "$r16" -lt $((r6 + 8 * 1024)) ]
done
# The whole-image run holds the source and a 16-bit result (9 bytes a pixel for RGB): streamed
# where that fits the tiers (4000x3000: 108 MB), the ordinary run's outcome where it does not.
check "4000x3000 in 120 MB of tiers: streamed" grep -q "band by band: yes" \
  <("$MTOOL" plan -limit memory 40MiB -limit map 40MiB -limit disk 40MiB big.jpg -sharpen 5x2 p.jpg)
same_outcome "4000x3000 in 120 MB of tiers" o.jpg -limit memory 40MiB -limit map 40MiB -limit disk 40MiB big.jpg -sharpen 5x2
check "4000x3000 in 96 MB of tiers: not streamed" grep -q "band by band: no (the whole image would not fit" \
  <("$MTOOL" plan -limit memory 32MiB -limit map 32MiB -limit disk 32MiB big.jpg -sharpen 5x2 p.jpg)
same_outcome "4000x3000 in 96 MB of tiers" o.jpg -limit memory 32MiB -limit map 32MiB -limit disk 32MiB big.jpg -sharpen 5x2

# Pulled reads: IN -resize G OUT decodes a sequential JPEG's rows as the resize asks for them and
# resizes rows as the encoder asks for them. Same pixels as the ordinary run, both pass orders
# (vertical first when the height shrinks more), enlarging, DCT shrink-on-load, gray,
# settings after the step; a progressive file is read whole; damaged files end as the ordinary
# run does, with its messages.
pulled() {  # IN OUT-EXT ARGS...: pulled per the plan, and the same outcome as the ordinary run
  local in=$1 ext=$2; shift 2
  check "$in $* .$ext: planned as pulled" grep -q "rows pulled through" <("$MTOOL" plan "$in" "$@" p.$ext)
  same "$in" "$ext" "$@"
}
for in in rgb444.jpg rgb420.jpg gray.jpg odd.jpg; do
  pulled $in jpg -resize 50%
  pulled $in png -resize 61%x37%
  pulled $in jpg -resize 2400x3001! -quality 80
  pulled $in png -resize 1999x1000!
done
$IM rgb444.jpg -resize 6000x4000! -quality 85 big6.jpg
pulled big6.jpg jpg -resize 20%           # decoded at 1/2 scale (3000x2000), then resized
pulled big.jpg png -resize 1000x1000 -quality 95 -define jpeg:ignored=1
same prog.jpg jpg -resize 50%
# Quarter turns, transpose and transverse of a pulled JPEG: column bands, each one decode of the
# file keeping those columns (iMCU columns with a margin), transposed.
for in in rgb444.jpg rgb420.jpg gray.jpg odd.jpg; do
  pulled $in jpg -rotate 90
  pulled $in png -rotate -90
  pulled $in jpg -rotate 270 -quality 75
  pulled $in png -transpose
  pulled $in jpg -transverse
done
pulled big.jpg jpg -rotate "90>"             # 4000x3000: turns
pulled big.jpg jpg -rotate "90<"             # does not turn: the pulled rows go to the encoder
same prog.jpg jpg -rotate 90
same_outcome "-rotate 90 under a small memory limit" o.jpg -limit memory 4MiB big.jpg -rotate 90
r_p=$(rss "$MTOOL" big.jpg -rotate 90 x.jpg)
r_n=$(rss "$MTOOL" -define mtool:stream=false big.jpg -rotate 90 x.jpg)
check "big.jpg -rotate 90: pulled peak RSS ${r_p} KB < whole ${r_n} KB / 2" [ "$r_p" -lt $((r_n / 2)) ]
r_p=$(rss "$MTOOL" big.jpg -resize 3000x2200! x.jpg)
r_n=$(rss "$MTOOL" -define mtool:stream=false big.jpg -resize 3000x2200! x.jpg)
check "big.jpg -resize: pulled peak RSS ${r_p} KB < whole ${r_n} KB / 2" [ "$r_p" -lt $((r_n / 2)) ]
head -c 900000 big.jpg > cut.jpg
python3 -c "
d = bytearray(open('big.jpg', 'rb').read())
for i in range(600000, 600400, 7): d[i] = 0x55
open('bad.jpg', 'wb').write(d)"
# Pulled images that meet ImageMagick (a filter mtool leaves to it, a PNG writer that declines,
# an operator after the step) or a limit: the ordinary run's outcome.
same_outcome "pulled, a filter define (bridged resize)" o.jpg -define filter:lobes=4 rgb444.jpg -resize 50%
same_outcome "pulled, an ImageMagick filter" o.jpg -filter Kaiser rgb444.jpg -resize 50%
same_outcome "pulled, a PNG colour type" o.png rgb444.jpg -resize 50% -define png:color-type=2
same_outcome "pulled, -colors after" o.png rgb444.jpg -rotate 90 -colors 16
same_outcome "pulled, point filter (the last rows)" o.jpg -filter Point rgb444.jpg -resize 25%
same_outcome "pulled, a huge reduction" o.jpg rgb444.jpg -resize 2400x1!
same_outcome "pulled, the DISK tier" o.jpg -limit memory 0 -limit map 0 rgb444.jpg -resize 50%
for f in cut.jpg bad.jpg; do
  same_outcome "damaged $f, pulled" o.jpg $f -resize 50%
  same_outcome "damaged $f, pulled, -regard-warnings" o.png -regard-warnings $f -resize 50%
  same_outcome "damaged $f, pulled -rotate 90" o.jpg $f -rotate 90
  same_outcome "damaged $f, pulled -rotate 90, -regard-warnings" o.png -regard-warnings $f -rotate 90
done

# Not streamed (and still right): small images, pending operators, -write, parentheses, other
# outputs. Each gives the whole-image run's result.
not_streamed() {  # TAG ARGS... OUT
  local tag=$1; shift
  "$MTOOL" "$@" 2>/dev/null; local out=${*: -1}; cp "$out" got.x
  "$MTOOL" -define mtool:stream=false "$@" 2>/dev/null
  check "$tag: as the whole-image run" [ "$(ae got.x "$out")" = 0 ]
}
$IM -size 300x200 plasma: small.jpg
not_streamed "small image" small.jpg -negate o1.jpg
not_streamed "pending operator" -negate rgb444.jpg -blur 0x1 o2.jpg
not_streamed "-write in the steps" rgb444.jpg -negate -write w.png -blur 0x1 o3.jpg
not_streamed "parentheses" rgb444.jpg \( +clone -negate \) -append o4.jpg
not_streamed "GIF output" rgb444.jpg -negate o5.gif
not_streamed "interlaced PNG" rgb444.jpg -interlace PNG -negate o6.png
finish
