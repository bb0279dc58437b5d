#!/usr/bin/env bash
# Command-line behaviour against ImageMagick 6: messages, exit codes, no partial outputs,
# tool aliases, -list. Pixel-level comparisons live in tests/compat.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"
$IM -size 64x48 gradient:red-blue in.jpg
$IM -size 64x48 xc:white in.png

expect() {  # expect RC 'stderr regex' args...
  local rc=$1 re=$2; shift 2
  local err; err=$("$MTOOL" "$@" 2>&1 >/dev/null); local got=$?
  if [ "$got" != "$rc" ] || ! grep -qE -- "$re" <<<"$err"; then bad "mtool $* -> rc=$got err=$err (want $rc /$re/)"; else ok; fi
}
expect 1 "^mtool: unable to open image \`nosuch.jpg': No such file or directory @ error/blob.c/OpenBlob" nosuch.jpg out1.png
expect 1 "no images defined \`out1.png'" nosuch.jpg out1.png
expect 1 "unrecognized option \`-frobnicate'" in.jpg -frobnicate out2.png
expect 1 "invalid argument for option \`-resize': abc" in.jpg -resize abc out3.png
expect 1 "missing an image filename \`-resize'" in.jpg -resize
expect 1 "unrecognized image colorspace \`Foo'" in.jpg -colorspace Foo out4.png
expect 1 "unbalanced parenthesis" in.jpg '(' -negate out5.png
expect 1 "unable to parse expression \`\)'" in.jpg ')' out5b.png
expect 1 "image sequence is required \`-composite'" in.jpg -composite out6.png
expect 1 "unrecognized color \`nosuchcolor'" -size 10x10 xc:nosuchcolor out7.png
expect 1 "no such image \`-clone'" in.jpg '(' -clone 5 ')' out8.png
expect 1 "not allowed by the security policy \`@list.txt'" @list.txt out9.png
expect 1 "unrecognized option \`-Resize'" in.jpg -Resize 10 out10.png
expect 0 "geometry does not contain image" in.jpg -crop 10x10+1000+1000 out11.png
for f in out1.png out2.png out3.png out4.png out5.png out6.png out7.png out8.png out9.png out10.png; do
  check "no output $f after an error" test ! -e "$f"
done
expect 1 "unable to open image \`/nonexistent/dir/out.png'" in.jpg /nonexistent/dir/out.png
check "no staging directory left" sh -c '! ls -a | grep -q "^\.mtool-"'

# Option errors carry ImageMagick's own locations (src/exec/convert_lines.inc, generated from its
# convert.c): the whole message as /usr/bin/convert prints it.
while IFS= read -r args; do
  want=$($IM $args 2>&1); got=$("$MTOOL" $args 2>&1)
  check "message of [$args] as ImageMagick's ($got | $want)" [ "${got//mtool:/convert:}" = "$want" ]
done <<'EOF'
in.jpg ( -negate x.png
in.jpg ) x.png
in.jpg -resize
in.jpg -frobnicate x x.png
in.jpg -Resize 1 x.png
in.jpg -resize abc x.png
in.jpg -colorspace Foo x.png
in.jpg -depth abc x.png
in.jpg -gravity Foo x.png
in.jpg -swap abc x.png
in.jpg -filter Nope x.png
in.jpg -compose Nope x.png
in.jpg -crop ab x.png
in.jpg -quality q x.png
in.jpg -virtual-pixel Nope x.png
-resize 10
nosuch.jpg x.png
EOF

# List operators: ImageMagick's index semantics (CloneImages, DeleteImages, MogrifyImageList's
# -insert and -swap), its reports, and what the list holds afterwards.
while IFS= read -r args; do
  want=$($IM xc:red xc:lime xc:blue xc:white $args -format '%[pixel:p{0,0}] ' info: 2>&1; echo "rc=$?")
  got=$("$MTOOL" xc:red xc:lime xc:blue xc:white $args -format '%[pixel:p{0,0}] ' info: 2>&1; echo "rc=$?")
  check "list after [$args] as ImageMagick's ($got | $want)" [ "${got//mtool:/convert:}" = "$want" ]
done <<'EOF'
-insert 0
-insert 2
-insert -1
-insert -2
-insert -3
-insert -4
-insert 3
-insert 9
+insert
-swap 0,3
-swap 1
-swap 0,7
+swap
-delete 1-0
-delete 0,7
-delete -1,1,1
-delete -2--1
+delete
-duplicate 2,5
-duplicate 2,1-2
-duplicate 0
+duplicate
-clone 0,5
-clone 0-9
-clone 2-0
-clone 7
EOF

# Usage: no argument or one -> usage on stdout, exit 0.
check "usage exit 0" "$MTOOL"
check "usage on stdout" sh -c "\"$MTOOL\" | grep -q Usage"

# Aliases behave like the tool they are named after.
ln -s "$MTOOL" identify; ln -s "$MTOOL" convert
check "identify alias" sh -c './identify -format "%w %h" in.jpg | grep -qx "64 48"'
check "convert alias" sh -c './convert in.jpg -resize 50% a.png && /usr/bin/identify -format %w a.png | grep -qx 32'
check "identify subcommand" sh -c "\"$MTOOL\" identify in.png | grep -q '^in.png PNG 64x48 64x48+0+0 '"
check "convert alias prefix" sh -c "./convert nosuch.jpg x.png 2>&1 | grep -q '^convert: unable to open image'"

# Settings before the first image apply to every image read later.
"$MTOOL" -resize 50% in.jpg in.png -append both.png
check "deferred operator on both images" sh -c '/usr/bin/identify -format "%wx%h" both.png | grep -qx 32x48'
# +write leaves the list unchanged; -write mpr: round trip.
"$MTOOL" in.jpg -write mpr:a +delete mpr:a -flip flipped.png
check "mpr round trip" test -s flipped.png
# stdin/stdout with a format prefix.
"$MTOOL" png:- jpg:- < in.png > piped.jpg
check "stdin to stdout" sh -c '/usr/bin/identify -format %m piped.jpg | grep -qx JPEG'

# -list and -version.
check "-list operator shows engines" sh -c "\"$MTOOL\" -list operator | grep -Eq '^-resize +(native|magick)'"
check "-list operator marks native ops" sh -c "\"$MTOOL\" -list operator | grep -Eq '^-delete +native'"
check "-list resource" sh -c "\"$MTOOL\" -list resource | grep -q 'Memory:'"
check "-list format" sh -c "\"$MTOOL\" -list format | grep -Eq 'PNG +(native|magick)'"
check "-version" sh -c "\"$MTOOL\" -version | grep -q '^Version: mtool'"
check "-list colorspace (bridged list)" sh -c "\"$MTOOL\" -list colorspace | grep -qx sRGB"
# -page is consumed by the next read: later operators do not re-apply it to earlier images.
for args in "rose: -page +20+20 rose: rose: -negate" "rose: -page +20+20 -negate rose: -negate" \
            "rose: -page 100x100+20+20 in.jpg -flip" "rose: -page +20+20 ( rose: ) rose:"; do
  want=$($IM $args -format '%g,' info: 2>&1); got=$("$MTOOL" $args -format '%g,' info: 2>&1)
  check "page geometry after: $args ($got vs $want)" [ "$got" = "$want" ]
done
# JPEG files as ImageMagick writes them, byte for byte (optimised Huffman tables as its memory
# resource allows); under a tight memory limit standard tables, the same pixels.
$IM -seed 5 -size 300x200 plasma: -quality 90 p.jpg
for args in "p.jpg -resize 50%" "p.jpg -colorspace Gray" "p.jpg -quality 75 -sampling-factor 2x2" "in.png"; do
  $IM $args im.jpg; "$MTOOL" $args mt.jpg
  check "JPEG bytes as ImageMagick's: $args" cmp -s im.jpg mt.jpg
done
"$MTOOL" -limit memory 64KiB p.jpg -resize 50% lim.jpg
$IM p.jpg -resize 50% im.jpg
check "JPEG under -limit memory 64KiB: ImageMagick's pixels" [ "$(/usr/bin/compare -metric AE lim.jpg im.jpg null: 2>&1)" = 0 ]
# identify and mogrify with options and no file succeed silently, as their loops end there;
# mogrify -dft / -idft are parsed and do nothing.
for args in "identify -verbose" "identify +list" "identify -ping" "mogrify -verbose" "mogrify -resize 50%"; do
  want=$(/usr/bin/$args 2>&1; echo "rc=$?"); got=$("$MTOOL" $args 2>&1; echo "rc=$?")
  check "$args without a file as ImageMagick ($got)" [ "$got" = "$want" ]
done
cp p.jpg d1.jpg; cp p.jpg d2.jpg
/usr/bin/mogrify -dft d1.jpg; "$MTOOL" mogrify -dft d2.jpg; rc=$?
check "mogrify -dft: exit 0, the file rewritten as ImageMagick rewrites it" [ $rc = 0 ] && cmp -s d1.jpg d2.jpg
# PNG chunks as ImageMagick writes them: bKGD holds the background colour, which counts among the
# image's colours (gray pixels with a colour background are written in colour; a palette gains
# the background as an entry). Palette order aside.
pngchunks() { python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read(); i = 8; out = []
while i < len(d):
    n = struct.unpack('>I', d[i:i + 4])[0]; t = d[i + 4:i + 8].decode(); body = d[i + 8:i + 8 + n]
    if t == 'IHDR': out.append('IHDR %d/%d' % (body[8], body[9]))
    if t == 'PLTE': out.append('PLTE %d last %s' % (n // 3, body[-3:].hex()))
    if t in ('bKGD', 'tRNS'): out.append(t + ' ' + body.hex())
    i += 12 + n
print(' '.join(out))
PY
}
$IM -size 20x20 plasma: -depth 8 c8.png; $IM -size 20x20 gradient: -colorspace gray -depth 8 g8.png
$IM -size 20x20 gradient: -colorspace gray -depth 16 g16.png; $IM -size 20x20 plasma: -colors 16 -depth 8 p16.png
for f in c8.png g8.png g16.png p16.png; do
  for bg in "" red gray50 "#123456"; do
    set -- $f; [ -n "$bg" ] && set -- $f -background "$bg"
    $IM "$@" im.png; "$MTOOL" "$@" mt.png
    want=$(pngchunks im.png); got=$(pngchunks mt.png)
    check "PNG chunks of $* as ImageMagick's ($got | $want)" [ "$got" = "$want" ]
  done
done
# identify -verbose: the report on stdout as ImageMagick's (timings and dates aside), nothing on
# stderr (ReadImage's one-line summary is not printed there).
vmask() { grep -v "Elapsed\|User time\|date:\|Pixels per\|Filesize\|Number pixels"; }
for f in c8.png g16.png p16.png p.jpg; do
  err=$("$MTOOL" identify -verbose $f 2>&1 >/dev/null)
  check "identify -verbose $f: nothing on stderr ($err)" [ -z "$err" ]
  check "identify -verbose $f: ImageMagick's report" \
    diff <("$MTOOL" identify -verbose $f | vmask) <(/usr/bin/identify -verbose $f | vmask)
done
# -verbose: ReadImage's and WriteImage's one-line summaries on stderr, with the user's names
# (never a staged path); file sizes, colour counts and timings aside.
$IM -size 30x20 gradient:red-blue -depth 8 v.png; $IM v.png v.png -loop 0 v.gif
smask() { sed -E 's/ [0-9.]+[KMG]?i?B / /; s/ [0-9]+c / /; s/[0-9.]+u [0-9:.]+$//'; }
for args in "v.png -verbose o.png" "-verbose v.png -negate o.png" "v.png -verbose o.jpg" "v.gif -verbose o.gif" \
            "v.gif -verbose +adjoin o%d.gif" "v.gif -verbose o.png" "v.png -verbose o.tif"; do
  want=$($IM $args 2>&1 >/dev/null | smask); got=$("$MTOOL" $args 2>&1 >/dev/null | smask)
  check "-verbose summaries of [$args] as ImageMagick's ($got | $want)" [ "$got" = "$want" ]
done

# PNG's default compression: files near ImageMagick's (level 7). Images of 2 MiB of rows or more
# take an adaptive level: short zlib chains, and level 7 where a part shrinks below 1/8. A
# drawing at plain level 5 was 1.51 times ImageMagick's file; a noisy photo must stay within
# 110% (with 1 and 2 threads); pixels are the same whatever the level.
$IM -size 1500x1000 pattern:hexagons -fill red -draw "circle 750,500 750,50" hex.png
$IM -seed 5 -size 1500x1000 plasma: -attenuate 0.4 +noise Gaussian photo.png
for f in hex photo; do
  $IM $f.png -negate im-$f.png
  for t in 1 2; do
    "$MTOOL" -limit thread $t $f.png -negate mt-$f.png
    a=$(stat -c %s mt-$f.png); b=$(stat -c %s im-$f.png)
    check "$f.png -negate to PNG, $t thread(s): $a bytes within 110% of ImageMagick's $b" [ $((a * 100)) -le $((b * 110)) ]
    check "$f.png -negate to PNG, $t thread(s): ImageMagick's pixels" \
      [ "$(/usr/bin/compare -metric AE mt-$f.png im-$f.png null: 2>&1)" = 0 ]
  done
done
a=$(stat -c %s mt-hex.png); b=$(stat -c %s im-hex.png)
check "the drawing within 2% of ImageMagick's file ($a, $b)" [ $((a * 100)) -le $((b * 102)) ]
# Smooth 16-bit images keep ImageMagick's level 7 (short chains made them 1.2-1.4 times its file).
$IM -size 500x500 gradient:red-blue -swirl 200 smooth16.png
"$MTOOL" smooth16.png -negate mt-s16.png; $IM smooth16.png -negate im-s16.png
a=$(stat -c %s mt-s16.png); b=$(stat -c %s im-s16.png)
check "smooth 16-bit within 2% of ImageMagick's file ($a, $b)" [ $((a * 100)) -le $((b * 102)) ]
# Rows 1 pixel wide or an image 1 row high: libpng's filters, which never read a missing
# neighbour (Avg and Paeth of a 1-pixel column; found by an adversarial review).
png_filters() {  # FILE: the filter type of each row
  python3 - "$1" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read(); i = 8; idat = b''
while i < len(d):
    n, = struct.unpack('>I', d[i:i + 4]); t = d[i + 4:i + 8]
    if t == b'IHDR': w, h, bd, ct = struct.unpack('>IIBB', d[i + 8:i + 18])
    if t == b'IDAT': idat += d[i + 8:i + 8 + n]
    i += 12 + n
rb = (w * {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct] * bd + 7) // 8; raw = zlib.decompress(idat)
print(''.join(str(raw[r * (rb + 1)]) for r in range(h)))
PY
}
python3 -c "
import sys
v = [200, 100, 50, 25] * 16
sys.stdout.buffer.write(b'P5 1 64 255\n' + bytes(v))" > col.pgm
python3 -c "
import sys
sys.stdout.buffer.write(b'P5 64 1 255\n' + bytes([200, 100, 50, 25] * 16))" > row.pgm
for f in col row; do
  "$MTOOL" $f.pgm mt-$f.png; $IM $f.pgm im-$f.png
  check "$f.pgm to PNG: ImageMagick's row filters ($(png_filters mt-$f.png | head -c 24))" \
    [ "$(png_filters mt-$f.png)" = "$(png_filters im-$f.png)" ]
done
finish
