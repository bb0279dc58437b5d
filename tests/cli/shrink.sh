#!/usr/bin/env bash
# Shrink-on-load: a -thumbnail or -resize right after the first read of a list decodes a JPEG by
# DCT scaling (1/2, 1/4, 1/8) or a JPEG 2000 at a reduced resolution level, never below twice the
# target. Checked against /usr/bin/convert: the same dimensions always, PSNR >= 35 dB with the
# shrink (the issue's fidelity bound), bit-identical with -define mtool:shrink-on-load=false, and
# the cases where it must not apply (verbose, read modifiers, -filter, lists, small images,
# enlargement) give the unshrunk result. Peak RSS shows the shrink really happened.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"
# 2400x1600 photo-like inputs (3.8 MP): RGB 4:2:0, gray, progressive, 4:4:4, JPEG 2000; a small one.
$IM -seed 5 -size 600x400 plasma:fuchsia-yellow -resize 2400x1600! -attenuate 0.3 +noise Gaussian \
  -blur 0x1 -quality 90 big.jpg
$IM big.jpg -colorspace Gray -quality 85 gray.jpg
$IM big.jpg -interlace JPEG -quality 80 prog.jpg
$IM big.jpg -sampling-factor 1x1 -quality 95 s444.jpg
$IM -seed 6 -size 300x200 plasma: -resize 1200x900! odd.png && $IM odd.png -crop 1201x899+0+0 -quality 90 odd.jpg
$IM big.jpg big.jp2
$IM -size 800x600 plasma: small.jpg

psnr() { /usr/bin/compare -metric PSNR "$1" "$2" null: 2>&1; }
dims() { /usr/bin/identify -format '%wx%h' "$1"; }
ge() { case "$1" in inf*) return 0 ;; esac; [ "$(echo "$1 >= $2" | bc -l)" = 1 ]; }
ae0() { [ "$(/usr/bin/compare -metric AE "$1" "$2" null: 2>&1)" = 0 ]; }
rss() { /usr/bin/time -f %M -o rss.txt "$@" >/dev/null 2>&1; cat rss.txt; }

# shrink IN GEOMETRY-STEP...: same size as ImageMagick, >= 35 dB, bit-identical when turned off,
# and a different (smaller) decode when on.
shrink() {
  local in=$1; shift
  local tag="$in $*"
  $IM "$in" "$@" im.png
  "$MTOOL" "$in" "$@" on.png || { bad "$tag: mtool failed"; return; }
  "$MTOOL" -define mtool:shrink-on-load=false "$in" "$@" off.png
  check "$tag: size $(dims on.png) as ImageMagick's $(dims im.png)" [ "$(dims on.png)" = "$(dims im.png)" ]
  local g_on g_im
  g_on=$(/usr/bin/identify -format '%g' on.png) g_im=$(/usr/bin/identify -format '%g' im.png)
  check "$tag: page $g_on as ImageMagick's $g_im" [ "$g_on" = "$g_im" ]
  local db; db=$(psnr on.png im.png)
  check "$tag: PSNR $db >= 35 dB" ge "$db" 35
  check "$tag: shrink-on-load=false is ImageMagick's result" ae0 off.png im.png
  check "$tag: the shrink changed the decode" test "$(/usr/bin/compare -metric AE on.png off.png null: 2>&1)" != 0
}
shrink big.jpg -thumbnail 300x300
shrink big.jpg -resize 300
shrink big.jpg -resize 25%
shrink big.jpg -resize 10%
shrink big.jpg -resize '500x500>'
shrink big.jpg -resize '150x150^'
shrink big.jpg -resize '333x222!'
shrink big.jpg -resize 20000@
shrink gray.jpg -resize 400
shrink prog.jpg -thumbnail 200x200
shrink s444.jpg -resize 12.5%
shrink odd.jpg -resize 20%
shrink big.jp2 -thumbnail 150x150
shrink big.jp2 -resize 300x300
shrink big.jpg -resize x100
shrink big.jpg -resize 7x5!
# The page is scaled from the full size: steps that use it see ImageMagick's canvas.
$IM big.jpg -resize 400x400 -flatten im.png; "$MTOOL" big.jpg -resize 400x400 -flatten on.png
check "-resize then -flatten: $(dims on.png) as ImageMagick's $(dims im.png)" [ "$(dims on.png)" = "$(dims im.png)" ]
a=$($IM big.jpg -resize 300 -print '%w %h %g' null: 2>&1); b=$("$MTOOL" big.jpg -resize 300 -print '%w %h %g' null: 2>&1)
check "-print after the shrunk step: '$b' as ImageMagick's '$a'" [ "$a" = "$b" ]
# Operators before the read run on the full image first (ImageMagick keeps them pending): no shrink.
$IM -repage 100x100+5+5 big.jpg -resize 150x100 im.png; "$MTOOL" -repage 100x100+5+5 big.jpg -resize 150x100 on.png
check "pending -repage then -resize: page $(/usr/bin/identify -format %g on.png) as ImageMagick's" \
  [ "$(/usr/bin/identify -format %g on.png)" = "$(/usr/bin/identify -format %g im.png)" ]
check "pending -repage then -resize: pixels as ImageMagick's" ae0 on.png im.png
# A step whose argument is the output name is an error, worded with the user's argument.
a=$($IM big.jpg -resize 300x300 2>&1); b=$("$MTOOL" big.jpg -resize 300x300 2>&1)
check "missing output: '$b' as ImageMagick's" [ "${b//mtool:/convert:}" = "$a" ]

# Sharp edges (text): a shrunk thumbnail is resized directly, not sampled up to 5x first.
$IM -size 600x400 xc:white -pointsize 12 -annotate +4+14 "$(printf 'mtool shrink-on-load %.0s' $(seq 60) | fold -w 90)" \
  -resize 2400x1600! -quality 92 text.jpg
$IM text.jpg -thumbnail 180x180 im.png; "$MTOOL" text.jpg -thumbnail 180x180 on.png
db=$(psnr on.png im.png); check "text thumbnail: PSNR $db >= 45 dB" ge "$db" 45

# Chains after the shrunk step, and a parenthesised list of its own.
$IM big.jpg -resize 300 -sharpen 0x1 -negate im.png
"$MTOOL" big.jpg -resize 300 -sharpen 0x1 -negate on.png
check "chain: same size" [ "$(dims on.png)" = "$(dims im.png)" ]
db=$(psnr on.png im.png); check "chain: PSNR $db >= 35 dB" ge "$db" 35
$IM -size 100x100 xc:red \( big.jpg -resize 200 \) +append im.png
"$MTOOL" -size 100x100 xc:red \( big.jpg -resize 200 \) +append on.png
check "parenthesis: same size $(dims on.png)" [ "$(dims on.png)" = "$(dims im.png)" ]
db=$(psnr on.png im.png); check "parenthesis: PSNR $db >= 35 dB" ge "$db" 35

# Thumbnail properties name the original size, as ImageMagick's do.
$IM big.jpg -thumbnail 300x300 im.png; "$MTOOL" big.jpg -thumbnail 300x300 on.png
p_im=$(/usr/bin/identify -format '%[Thumb::Image::Width]x%[Thumb::Image::Height]' im.png)
p_on=$(/usr/bin/identify -format '%[Thumb::Image::Width]x%[Thumb::Image::Height]' on.png)
check "Thumb::Image size $p_on as ImageMagick's $p_im" [ "$p_on" = "$p_im" ] && [ "$p_on" = 2400x1600 ]

# Where it must not apply, the result is the full decode's.
no_shrink() {  # TAG ARGS...: mtool's result is the one with shrink-on-load off
  local tag=$1; shift
  "$MTOOL" -define mtool:shrink-on-load=false "$@" off.png 2>/dev/null; "$MTOOL" "$@" on.png 2>/dev/null
  check "$tag: no shrink" ae0 on.png off.png
}
no_shrink "-verbose" -verbose big.jpg -resize 300
no_shrink "read modifier" 'big.jpg[2400x1600]' -resize 300
no_shrink "-filter" -filter Lanczos big.jpg -resize 300
no_shrink "filter define" -define filter:blur=1 big.jpg -resize 300
no_shrink "second image of a list" small.jpg big.jpg -resize 300 -append
no_shrink "small image" small.jpg -resize 100
no_shrink "enlargement" big.jpg -resize 120%
no_shrink "-resize not first" big.jpg -negate -resize 300
no_shrink "jpeg:size given" -define jpeg:size=1200x800 big.jpg -resize 300

# The shrink is a smaller decode: 2400x1600 RGB is 11.5 MB of pixels, a 1/4 decode 0.7 MB.
r_on=$(rss "$MTOOL" big.jpg -resize 300 x.png)
r_off=$(rss "$MTOOL" -define mtool:shrink-on-load=false big.jpg -resize 300 x.png)
check "peak RSS with shrink ${r_on} KB < ${r_off} KB - 8 MB" [ "$r_on" -lt $((r_off - 8192)) ]

# Region-on-load: a -crop WxH+X+Y right after the read decodes only the rows and iMCU columns
# around it. The result is bit-identical to the full decode's and to ImageMagick's, page included,
# for every sampling, gray and progressive, at offsets off the iMCU grid and at the image's edges.
$IM big.jpg -sampling-factor 2x1 -quality 90 s422.jpg
region() {  # IN GEOMETRY [more args]
  local in=$1 g=$2; shift 2
  local tag="$in -crop $g $*"
  $IM "$in" -crop "$g" "$@" im.png
  "$MTOOL" "$in" -crop "$g" "$@" on.png || { bad "$tag: mtool failed"; return; }
  "$MTOOL" -define mtool:shrink-on-load=false "$in" -crop "$g" "$@" off.png
  check "$tag: identical to ImageMagick's" ae0 on.png im.png
  check "$tag: identical to the full decode's" ae0 on.png off.png
  local p_on p_im
  p_on=$(/usr/bin/identify -format '%g' on.png) p_im=$(/usr/bin/identify -format '%g' im.png)
  check "$tag: page $p_on as ImageMagick's $p_im" [ "$p_on" = "$p_im" ]
}
for in in big.jpg gray.jpg prog.jpg s444.jpg s422.jpg odd.jpg; do
  region $in 300x200+517+333
  region $in 100x100+0+0
done
region big.jpg 401x301+1999+1299       # up to the bottom-right corner
region big.jpg 500x400+2100+1400       # past it: clipped as ImageMagick clips
region big.jpg 640x480+7+9 +repage
region big.jpg 64x64+1000+800 -negate
# A pending -repage moves the canvas before the crop: no region, ImageMagick's result.
$IM -repage 100x100+5+5 big.jpg -crop 300x200+100+100 im.png
"$MTOOL" -repage 100x100+5+5 big.jpg -crop 300x200+100+100 on.png
check "pending -repage then -crop: as ImageMagick's" ae0 on.png im.png
check "pending -repage then -crop: same size" [ "$(dims on.png)" = "$(dims im.png)" ]
# A truncated file gives ImageMagick's warnings, and -regard-warnings its exit status, also when
# the region lies before the damage.
head -c 300000 big.jpg > trunc.jpg
for g in 300x200+100+100 100x100+10+1450; do
  a=$($IM trunc.jpg -crop $g t-im.png 2>&1); b=$("$MTOOL" trunc.jpg -crop $g t-on.png 2>&1)
  check "truncated, crop $g: warnings as ImageMagick's ($b)" [ "${b//mtool:/convert:}" = "$a" ]
  check "truncated, crop $g: pixels as ImageMagick's" ae0 t-on.png t-im.png
  $IM -regard-warnings trunc.jpg -crop $g t-im.png >/dev/null 2>&1; wrc=$?
  "$MTOOL" -regard-warnings trunc.jpg -crop $g t-on.png >/dev/null 2>&1; rc=$?
  check "truncated, crop $g, -regard-warnings: exit $rc as ImageMagick's $wrc" [ "$rc" = "$wrc" ]
done
region odd.jpg 200x100+1001+799
r_on=$(rss "$MTOOL" big.jpg -crop 200x200+1000+700 x.png)
r_off=$(rss "$MTOOL" -define mtool:shrink-on-load=false big.jpg -crop 200x200+1000+700 x.png)
check "crop: peak RSS ${r_on} KB < ${r_off} KB - 8 MB" [ "$r_on" -lt $((r_off - 8192)) ]
# Not a region: percent, gravity, tiles, -page, a list, more than half the image.
no_shrink "crop percent" big.jpg -crop 10%x10%+5+5
no_shrink "crop gravity" -gravity center big.jpg -crop 300x200+10+10
no_shrink "crop tiles" big.jpg -crop 800x800 +repage -append
no_shrink "crop -page" -page +10+10 big.jpg -crop 300x200+10+10
no_shrink "crop outside" big.jpg -crop 300x200+5000+5000
no_shrink "crop large" big.jpg -crop 2000x1500+10+10

# Bad and odd arguments still give ImageMagick's errors.
err=$("$MTOOL" big.jpg -resize 0x0 x.png 2>&1); rc=$?
want=$($IM big.jpg -resize 0x0 x.png 2>&1); wrc=$?
check "-resize 0x0: rc $rc as ImageMagick's $wrc" [ "$rc" = "$wrc" ]
err=$("$MTOOL" big.jpg -resize x.png 2>&1); rc=$?
check "-resize without geometry: exit 1 ($err)" [ "$rc" = 1 ]
finish
