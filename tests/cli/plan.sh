#!/usr/bin/env bash
# The plan (src/exec/plan.h): `mtool plan ARGS` and `mtool -debug plan ARGS`.
# - Predicted output geometry equals what /usr/bin/convert gives for the same command (sizes of
#   every output image; for the steps only running can tell, the predicted bound holds).
# - Native or bridge, the decoder and encoder, and streaming are decided in the plan, with the
#   reason, and the run follows it (-debug plan reports "the run followed the plan"); a case only
#   the pixels decide is reported as a difference (the check can fail).
# - Making a plan has no side effect: nothing written, no FIFO waited on, no script run, no
#   ephemeral file removed; the run under -debug plan gives the same files as without.
set -u
MTOOL=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"
CONVERT=$IM sh "$HERE/../compat/make-inputs.sh" "$W/in" >/dev/null 2>&1 || { bad "make-inputs"; finish; exit; }
I=$W/in
# A 4.8 MP photo-like JPEG (streamable) and a 70x46 PNG.
$IM -seed 3 -size 400x300 plasma: -resize 2400x2000! -quality 90 big.jpg
$IM rose: rose.png

# The sizes the plan gives the write ("<- ..."): one "WxH", or "N images: WxH ...".
planned() { "$MTOOL" plan "$@" | sed -n 's/.* write .* <- //p' | tail -1; }
# The sizes ImageMagick's output files have, as the plan prints them.
im_sizes() {
  rm -rf imout; mkdir imout
  local args=("$@"); local out=${args[-1]}; unset 'args[-1]'
  $IM "${args[@]}" "imout/$out" 2>/dev/null || return 1
  local files; files=$(ls -v imout)
  local n; n=$(echo "$files" | wc -l)
  local s=""
  for f in $files; do s="$s $(/usr/bin/identify -format '%wx%h\n' "imout/$f" | head -1)"; done
  if [ "$n" = 1 ]; then echo "${s# }"; else
    # a list: at most the first 8 sizes, then " ..."
    local first8; first8=$(echo "$s" | tr ' ' '\n' | sed '/^$/d' | head -8 | tr '\n' ' ')
    echo "$n images: ${first8% }$([ "$n" -gt 8 ] && echo ' ...')"
  fi
}
# geometry ARGS... OUT: the plan's sizes are ImageMagick's.
geometry() {
  local want got; want=$(im_sizes "$@") || { bad "ImageMagick failed: $*"; return; }
  got=$(planned "$@")
  check "plan of $*: $got, ImageMagick $want" [ "$got" = "$want" ]
}
# bounded ARGS... OUT: the plan gives a bound "?<=WxH" that ImageMagick's single output fits.
bounded() {
  local want got; want=$(im_sizes "$@") || { bad "ImageMagick failed: $*"; return; }
  got=$(planned "$@")
  local bw=${got#\?<=}; bw=${bw%x*}; local bh=${got#*x}; local ww=${want%x*} wh=${want#*x}
  check "plan of $*: bound $got holds $want" [ "${got:0:3}" = "?<=" ] && [ "$ww" -le "$bw" ] && [ "$wh" -le "$bh" ]
}

geometry "$I/in.jpg" -resize 50% o.png
geometry "$I/in.jpg" -resize '100x100>' o.png
geometry "$I/in.jpg" -resize '160x160^' o.png
geometry "$I/in.jpg" -resize 5000@ o.png
geometry "$I/in.jpg" -resize '150x150!' o.png
geometry "$I/in.jpg" -resize 16:9 o.png
geometry "$I/pal.png" -resize '400x400<' o.png
geometry big.jpg -thumbnail 300x300 o.png
geometry big.jpg -resize 10% o.png
geometry "$I/in.jp2" -thumbnail 50x50 o.png
geometry "$I/in.jpg" -sample 33% o.png
geometry "$I/in.jpg" -scale 200x o.png
geometry "$I/in.jpg" -crop 100x80+30+20 o.png
geometry "$I/in.jpg" -crop 300x300+500+400 o.png
geometry "$I/in.jpg" -crop 100x100+5000+5000 o.png
geometry "$I/in.jpg" -crop 200x150 o-%d.png
geometry "$I/in.jpg" -crop 3x2@ o-%d.png
geometry "$I/in.jpg" -gravity center -crop 50%x50%+0+0 o.png
geometry "$I/in.jpg" -shave 10x20 o.png
geometry "$I/in.jpg" -chop 30x40+10+10 o.png
geometry "$I/in.jpg" -gravity east -chop 30x0 o.png
geometry "$I/in.jpg" -extent 700x100 o.png
geometry "$I/in.jpg" -border 7x3 o.png
geometry "$I/in.jpg" -frame 5x5+2+2 o.png
geometry "$I/in.jpg" -splice 10x20+5+5 o.png
geometry "$I/in.jpg" -rotate 90 o.png
geometry "$I/in.jpg" -rotate -90 o.png
geometry "$I/in.jpg" -rotate 180 o.png
geometry "$I/in.jpg" -rotate '90<' o.png
geometry "$I/in.jpg" -transpose o.png
geometry "$I/exif6.jpg" -auto-orient o.png
geometry "$I/in.jpg" rose.png -append o.png
geometry "$I/in.jpg" rose.png +append o.png
geometry rose.png \( +clone -rotate 90 \) +append o.png
geometry rose.png \( +clone -resize 50% \) -swap 0,1 -delete 1 o.png
geometry rose.png -duplicate 2 -append o.png
geometry rose.png -write mpr:r +delete mpr:r -resize 200% o.png
geometry "$I/anim.gif" -coalesce -resize 50% o-%d.png
geometry "$I/pages.tif" -resize 50% o-%d.png
geometry "$I/pages.tif" -flatten o.png
geometry "$I/in.jpg" rose.png -composite o.png
geometry -size 30x20 xc:red -border 2 o.png
geometry "$I/in.jpg" -resize 50% -crop 40x40 +repage -append o.png
bounded "$I/in.jpg" -trim o.png
bounded "$I/in.jpg" -rotate 30 o.png
bounded "$I/in.jpg" -rotate 30 -resize 50% o.png
bounded "$I/alpha.png" -trim -border 3 o.png

# Engines and reasons: in the plan, and the run follows it.
engine() {
  local what=$1 want=$2; shift 2
  local line; line=$("$MTOOL" plan "$@" | grep -F -- "$what" | head -1)
  check "plan of $*: '$what' is '$want' ($line)" grep -qF -- "$want" <<<"$line"
  local report; report=$("$MTOOL" -debug plan "$@" 2>&1 >/dev/null | grep '^plan: \(the run\|differs\)')
  check "run of $*: followed the plan ($report)" grep -q "the run followed the plan" <<<"$report"
}
engine "-blur 0x1 on" "native, neighbourhood, radius 6" "$I/in.jpg" -blur 0x1 o.png
# Predictions that were confident and wrong (each failed on the build before): a crop by
# -gravity of a paged image (the plan did not sync -gravity into the image as the run does), and
# -average / -evaluate-sequence of images of different sizes (the widest width, the tallest
# height, not the first image's size).
follows() {
  local report; report=$("$MTOOL" -debug plan "$@" 2>&1 >/dev/null | grep '^plan: \(the run\|differs\)')
  check "run of $*: followed the plan ($report)" grep -q "the run followed the plan" <<<"$report"
}
$IM -size 120x80 plasma: -page 200x150+10+20 paged.png
$IM -size 200x50 xc:red wide.png
$IM -size 80x120 xc:blue tall.png
follows paged.png -gravity east -crop 50x50+0+0 o.png
follows paged.png -gravity southwest -crop 60x30-5+0 +repage o.png
follows wide.png tall.png -average o.png
follows tall.png wide.png -evaluate-sequence max o.png
check "tall.png wide.png -average: planned 200x120" grep -q -- "-average on .* -> 200x120" \
  <("$MTOOL" plan tall.png wide.png -average o.png)
# -separate: as many images as ImageMagick 6 makes (a gray image has red, green and blue; alpha
# is separated with or without an alpha channel; black of CMYK only; none selected: the image).
# The plan counted one for a gray image and none for a missing alpha channel.
for f in gray.png in.jpg alpha.png cmyk.jpg; do
  for ch in "" "-channel RA" "-channel A" "-channel K" "-channel RGBA"; do
    rm -f s-*.png
    "$MTOOL" "$I/$f" $ch -separate s-%d.png 2>/dev/null
    $IM "$I/$f" $ch -separate i-%d.png 2>/dev/null
    want=$(ls i-*.png 2>/dev/null | wc -l); rm -f i-*.png
    planned=$("$MTOOL" plan "$I/$f" $ch -separate s-%d.png | grep -F -- "-separate on" | sed 's/.*-> //')
    n=1; [[ $planned =~ ^([0-9]+)\ images: ]] && n=${BASH_REMATCH[1]}
    check "$f $ch -separate: planned $n image(s) ($planned), ImageMagick makes $want" [ "$n" = "$want" ]
    check "$f $ch -separate: mtool makes $want" [ "$(ls s-*.png 2>/dev/null | wc -l)" = "$want" ]
  done
done
engine "-blur 0x1 on" "ImageMagick (alpha)" "$I/alpha.png" -blur 0x1 o.png
engine "-negate on" "ImageMagick (-channel)" "$I/in.jpg" -channel R -negate o.png
engine "-rotate 30 on" "ImageMagick (its arguments or settings)" "$I/in.jpg" -rotate 30 o.png
engine "-blur 0x1 on" "ImageMagick (its arguments or settings)" "$I/in.jpg" -virtual-pixel tile -blur 0x1 o.png
engine "-level 10%,90% on" "ImageMagick (cmyk)" "$I/cmyk.jpg" -level 10%,90% o.jpg
engine "-modulate 90,50 on" "ImageMagick (gray modulate" "$I/gray.png" -modulate 90,50 o.png
engine "-modulate 90 on" "native" "$I/gray.png" -modulate 90 o.png
engine "-extent 400x300 on" "ImageMagick (colour on gray)" "$I/gray.png" -background red -extent 400x300 o.png
engine "-sepia-tone 80% on" "ImageMagick (no native operator), pointwise" "$I/in.jpg" -sepia-tone 80% o.png
engine "-colorspace gray on" "native" "$I/in.jpg" -colorspace gray -blur 0x1 o.png
engine "-blur 0x1 on" "native" "$I/in.jpg" -colorspace gray -blur 0x1 o.png
engine "-blur 0x1 on" "ImageMagick (alpha)" "$I/in.jpg" -thumbnail 100x100 -blur 0x1 o.png
engine "read '$I/cmyk.jpg'" "ImageMagick (the native decoder declines: colorspace)" "$I/cmyk.jpg" o.png
engine "read '$I/in.tif'" "ImageMagick (no native decoder for it)" "$I/in.tif" o.png
engine "read '$I/in.jpg'" "decoded region" "$I/in.jpg" -crop 100x80+30+20 o.png
engine "read 'big.jpg'" "decoded at 1/2 scale" big.jpg -resize 25% o.png
engine "write 'o.gif'" "ImageMagick (no native encoder)" "$I/in.jpg" o.gif
engine "write 'o.jpg'" "ImageMagick (the native encoder declines: layout)" "$I/cmyk.jpg" o.jpg
engine "write 'o.png'" "ImageMagick (the native encoder declines: settings)" "$I/in.jpg" -depth 4 o.png
engine "write 'o.png'" "native" "$I/in.jpg" o.png
engine "streamed" "yes (bands of 256 rows, 11 rows of margin)" big.jpg -negate -blur 0x2 o.jpg
engine "streamed" "rows pulled through the step: a sequential JPEG" big.jpg -resize 50% o.jpg
engine "streamed" "its column bands as -rotate asks for them" big.jpg -rotate 90 o.jpg
engine "streamed" "no (-rotate is not a pointwise or separable step)" big.jpg -rotate 180 o.jpg
engine "streamed" "no (under 4 megapixels)" "$I/in.jpg" -negate o.jpg
engine "streamed" "no (-define mtool:stream=false)" -define mtool:stream=false big.jpg -negate o.jpg
engine "streamed" "no (the output is not a plain .jpg or .png file)" big.jpg -negate o.gif
engine "-region 20x20" "ImageMagick (the segment's operators)" "$I/in.jpg" -region 20x20 -negate o.png

# Only the pixels tell: gray pixels in an RGB image with a colour background are left to
# ImageMagick's PNG encoder. The plan says so, and either outcome follows it.
engine "write 'o.png'" "native, or ImageMagick as the pixels decide (the colour type and palette come from the pixels)" \
  -size 20x20 xc:gray50 -colorspace sRGB -background red -negate o.png

# A plan fails where the run would, and says so.
out=$("$MTOOL" plan rose.png \( o.png); rc=$?
check "plan of an unbalanced command: exit 1 ($rc)" [ "$rc" = 1 ]
check "plan of an unbalanced command: the error" grep -q "fails: unbalanced parenthesis" <<<"$out"
out=$("$MTOOL" plan missing.jpg o.png); rc=$?
check "plan of a missing file: exit 1 ($rc)" [ "$rc" = 1 ]
check "plan of a missing file: ImageMagick's error ($out)" grep -q "fails: unable to open image .missing.jpg'" <<<"$out"

# A plan stays cheap: 4.8 million 1x1 tiles are counted, not listed.
/usr/bin/time -f %M -o rss.txt "$MTOOL" plan big.jpg -crop 1x1 +repage -append o.png >plan.txt
check "plan of 4.8M tiles: counted ($(grep -o '[0-9]* tiles (one shown)' plan.txt))" grep -q "4800000 tiles (one shown)" plan.txt
check "plan of 4.8M tiles: peak RSS $(cat rss.txt) KB < 100 MB" [ "$(cat rss.txt)" -lt 100000 ]
check "plan of 4.8M tiles: what follows is unknown" grep -q "write 'o.png'.* <- ?$" plan.txt

# No side effects.
rm -f o.png o.jpg w.png
"$MTOOL" plan big.jpg -write w.png -negate o.png >/dev/null
check "plan writes no output" [ ! -e o.png ]
check "plan writes no -write file" [ ! -e w.png ]
mkfifo fifo
timeout 10 "$MTOOL" plan fifo -negate o.png >plan.txt; rc=$?
check "plan of a FIFO input: no wait (exit $rc)" [ "$rc" = 0 ]
check "plan of a FIFO input: known only when read" grep -q "read 'fifo': header known only when read" plan.txt
cp rose.png eph.png
"$MTOOL" plan ephemeral:eph.png o.png >/dev/null
check "plan of ephemeral: leaves the file" [ -e eph.png ]
cat >script.msl <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<image><read filename="$W/rose.png"/><write filename="$W/msl-out.png"/></image>
EOF
"$MTOOL" plan msl:script.msl o.png >/dev/null 2>&1
check "plan of an MSL script: not run" [ ! -e msl-out.png ]
out=$(sleep 30 | timeout 10 "$MTOOL" plan fd:0 o.png); rc=$?
check "plan of fd:0: not read, no wait (exit $rc)" [ "$rc" = 0 ]
check "plan of fd:0: known only when read" grep -q "read 'fd:0': header known only when read" <<<"$out"
cat rose.png | "$MTOOL" -debug plan fd:0 fd.png 2>/dev/null
check "-debug plan of fd:0: the run still reads it" [ "$(/usr/bin/identify -format %wx%h fd.png 2>/dev/null)" = 70x46 ]
/usr/bin/time -f %M -o rss.txt timeout 20 "$MTOOL" plan rose.png -duplicate 1000000 o.png >plan.txt
check "plan of a million duplicates: counted, RSS $(cat rss.txt) KB" grep -q "about 1000000 copies (one shown)" plan.txt
check "plan of a million duplicates: peak RSS < 100 MB" [ "$(cat rss.txt)" -lt 100000 ]
out=$("$MTOOL" plan - o.png < big.jpg)
check "plan of stdin: known only when read" grep -q "read '-': header known only when read" <<<"$out"
# Under -debug plan the run gives what it gives without: same file, same messages, same exit.
"$MTOOL" big.jpg -negate -resize 50% a.png 2>a.err; arc=$?
"$MTOOL" -debug plan big.jpg -negate -resize 50% b.png 2>b.err; brc=$?
check "-debug plan: same exit ($arc, $brc)" [ "$arc" = "$brc" ]
check "-debug plan: same pixels" [ "$(/usr/bin/compare -metric AE a.png b.png null: 2>&1)" = 0 ]
check "-debug plan: no other message" [ "$(grep -v '^plan:' b.err)" = "$(cat a.err)" ]
finish
