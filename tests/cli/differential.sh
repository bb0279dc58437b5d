#!/usr/bin/env bash
# Differential test against /usr/bin/convert: every native operator (and chains of them, with
# gravity, composition and lists) on 8-bit, alpha, 16-bit gray and JPEG inputs. Each output
# must have ImageMagick's exit status, size, channels and depth, and pixels at >= 50 dB PSNR
# (most are bit-identical; the count is printed). Chains also run with every pixel in the DISK
# tier. The compat corpus holds the 35 dB line; this one holds mtool to a much tighter one.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; cd "$W"; mkdir imref
$IM rose: rose.png
$IM rose: \( -size 70x46 gradient:white-gray20 \) -alpha off -compose CopyOpacity -composite rosea.png
$IM -size 80x60 gradient:black-white -colorspace Gray -depth 16 gray16.png
$IM -seed 7 -size 640x480 plasma:fuchsia-yellow -quality 90 in.jpg
$IM rose: -orient RightTop exif6.jpg
exact=0; close=0
run_case() {  # run_case "tier env" args...
  local tier=$1; shift
  local out=${OUT:-png}:m.out ref=${OUT:-png}:i.out
  rm -f m.out m-*.out
  env $tier "$MTOOL" "$@" $out 2>m.err; local a=$?
  # ImageMagick's output for these arguments, made once (the tiers compare with the same one).
  local key; key=$(printf '%s|' "${OUT:-png}" "$@" | md5sum | cut -c1-16)
  if [ ! -e "imref/$key.rc" ]; then
    rm -f i.out i-*.out
    $IM "$@" $ref 2>"imref/$key.err"; echo $? > "imref/$key.rc"
    mkdir -p "imref/$key"; cp i.out i-*.out "imref/$key/" 2>/dev/null
  fi
  rm -f i.out i-*.out; cp "imref/$key/"* . 2>/dev/null
  local b; b=$(cat "imref/$key.rc")
  if [ $a != $b ]; then bad "[$*] [$tier] exit $a, ImageMagick $b"; return; fi
  if [ $b != 0 ]; then
    # Both failed: right only for a case declared to fail (EXPECT_ERROR=1), with the same first
    # message (client name aside).
    local mine theirs
    mine=$(head -1 m.err | sed 's/^mtool: //'); theirs=$(head -1 "imref/$key.err" | sed 's/^convert: //')
    if [ -z "${EXPECT_ERROR:-}" ]; then bad "[$*] [$tier] both failed (exit $b), not an expected-error case: $theirs"
    elif [ "$mine" != "$theirs" ]; then bad "[$*] [$tier] error '$mine', ImageMagick '$theirs'"
    else ok; fi
    return
  fi
  out=m.out ref=i.out
  [ -f $ref ] || { ref=i-0.out; out=m-0.out; }
  local g1 g2 p
  g1=$(/usr/bin/identify -format "%wx%h %[channels] %z" $out 2>&1); g2=$(/usr/bin/identify -format "%wx%h %[channels] %z" $ref 2>&1)
  if [ "$g1" != "$g2" ]; then bad "[$*] [$tier] $g1, ImageMagick $g2"; return; fi
  p=$(/usr/bin/compare -metric PSNR $out $ref null: 2>&1)
  if [ "$p" = inf ]; then exact=$((exact + 1)); ok; return; fi
  if awk -v p="$p" 'BEGIN{exit !(p+0 >= 50)}'; then close=$((close + 1)); [ -n "${VERBOSE:-}" ] && echo "close: [$*] $p dB"; ok; else bad "[$*] [$tier] PSNR $p dB"; fi
}
ops=("-resize 37%" "-resize 200x50!" "-thumbnail 40x40" "-sample 50%" "-scale 150%" "-crop 30x20+5+5 +repage"
     "-crop 3x2@ +append" "-shave 3x4" "-chop 5x5" "-splice 20x10" "-background gray40 -gravity center -splice 10x6" "-extent 90x90" "-border 4" "-trim" "-rotate 90" "-rotate 270"
     "-rotate 180" "-flip" "-flop" "-transpose" "-transverse" "-negate" "-level 10%,80%" "-auto-level"
     "-normalize" "-gamma 1.7" "-colorspace Gray" "-threshold 40%" "-modulate 120,80,90" "-modulate 90,120,150"
     "-brightness-contrast 10x20" "-blur 0x1.5" "-gaussian-blur 3x1" "-sharpen 0x1" "-unsharp 2x1+1+0.05"
     "-alpha off" "-alpha set" "-type Grayscale" "-flatten" "-append")
for in in rose.png rosea.png gray16.png in.jpg; do
  for op in "${ops[@]}"; do run_case "" $in $op; done
done
chains=("rose.png -gravity center -crop 40x30+0+0 +repage" "rose.png -gravity south -background blue -extent 100x100"
        "rosea.png -background red -flatten" "rose.png rosea.png -compose Multiply -composite"
        "rose.png rosea.png -gravity east -compose Over -composite" "rose.png in.jpg -resize 70x46! +append"
        "gray16.png rose.png -append" "in.jpg -resize 50% -sharpen 0x1 -level 5%,95%"
        "-define jpeg:size=160x120 in.jpg -thumbnail 100x100" "gray16.png -resize 150% -gamma 0.8"
        "rosea.png -resize 50% -alpha remove" "in.jpg -auto-orient -rotate 90 -flop -normalize" "exif6.jpg -auto-orient"
        "rose.png -border 5x3 -shave 2x2 -chop 3x3+1+1" "in.jpg -scale 33% -sample 200%" "rose.png -threshold 50% -negate"
        "rosea.png -trim +repage" "in.jpg -colorspace Gray -brightness-contrast -10x30" "rose.png -resize 300% -unsharp 0x2"
        "rose.png -background blue -gravity east -splice 7x5" "rosea.png -background none -gravity west -splice 10x4"
        "rose.png -gravity southeast -splice 3x9+2+1")
for c in "${chains[@]}"; do
  run_case "" $c
  run_case "MAGICK_MEMORY_LIMIT=0 MAGICK_MAP_LIMIT=0" $c
done
# Outputs that keep 16 bits, JPEG 2000 and JPEG: the precision model must not reduce early.
for fmt in PNG48 PNG64 JP2 JPG; do
  for c in "in.jpg -colorspace Gray" "in.jpg -resize 50% -gamma 1.3" "rosea.png -blur 0x1" "gray16.png -level 5%,90%"; do
    OUT=$fmt run_case "" $c
  done
done
# Where bugs live: inputs spanning many strips (and, under a 1 MiB memory limit, dozens of 64 KiB
# strips) worked on by two threads, for every native operator and each native decoder layout.
$IM -seed 11 -size 900x700 plasma: s-rgb.png
$IM -seed 12 -size 640x480 plasma: \( -size 640x480 gradient:white-gray30 \) -alpha off -compose CopyOpacity -composite s-rgba.png
$IM -size 600x500 gradient:black-white -colorspace Gray -depth 16 s-gray16.png
$IM -seed 13 -size 700x500 plasma: -interlace PNG s-il.png
$IM -seed 14 -size 600x400 plasma: -colors 200 s-pal.png
$IM -seed 15 -size 800x600 plasma: -interlace JPEG -quality 88 s-prog.jpg
$IM -seed 16 -size 700x520 plasma: -colorspace Gray -quality 90 s-gray.jpg
for in in s-rgb.png s-rgba.png s-gray16.png s-il.png s-pal.png s-prog.jpg s-gray.jpg; do
  for op in "${ops[@]}"; do
    run_case "MAGICK_THREAD_LIMIT=2" $in $op
    run_case "MAGICK_THREAD_LIMIT=2 MAGICK_MEMORY_LIMIT=1MiB" $in $op
  done
done
# Each vector path of the convolutions (the widest the CPU has ran above): a row of 2011 pixels
# spans several cache stripes and ends in a partial vector block.
$IM -seed 17 -size 2011x150 plasma: s-wide.png
$IM s-wide.png -depth 16 s-wide16.png
for simd in avx2 sse2; do
  for in in s-wide.png s-wide16.png s-gray.jpg; do
    for op in "-blur 0x3" "-sharpen 0x1.5" "-gaussian-blur 0x2" "-unsharp 0x2" "-blur 0x12"; do
      run_case "MTOOL_SIMD=$simd" $in $op
    done
  done
done
# Cases that must fail as ImageMagick fails.
for c in "in.jpg -gaussian-blur 99999" "rose.png -blur 99999x1" "rose.png -resize abc" "rose.png -colorspace Nope"; do
  EXPECT_ERROR=1 run_case "" $c
done
echo "differential: $exact bit-identical, $close within 50 dB"
# The bit-identical count only goes up: raise the floor when it does.
MIN_EXACT=791
check "at least $MIN_EXACT bit-identical cases (got $exact)" [ "$exact" -ge $MIN_EXACT ]
finish
