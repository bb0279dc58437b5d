#!/usr/bin/env bash
# The anchor benchmark of issue 12: each job run by mtool, ImageMagick (/usr/bin/convert),
# GraphicsMagick (gm convert) and the libvips CLI in the same run, median wall time of RUNS runs
# and the largest peak RSS of the whole process (/usr/bin/time -v). It checks the fidelity bound
# on every mtool output against ImageMagick's own output for the same command: same dimensions,
# PSNR >= 35 dB where shrink-on-load may apply (>= 50 dB elsewhere), PNG files <= 110% of
# ImageMagick's. Then it prints the table of ratios and each target, met or not.
#
#   tests/bench/anchors.sh [path/to/mtool]     RUNS=3 (RUNS_OTHERS for ImageMagick and
#                                              GraphicsMagick), BENCH_DIR=dir keeps inputs,
#                                              JOBS="name1 name2" runs a subset
# Needs graphicsmagick and libvips-tools (apt-get install graphicsmagick libvips-tools); a tool
# that is missing shows as "-". Never part of the test suite (timings on shared machines are noise).
set -euo pipefail
MTOOL=$(readlink -f "${1:-build/mtool}")
RUNS=${RUNS:-3}
RUNS_OTHERS=${RUNS_OTHERS:-$RUNS}  # runs of ImageMagick and GraphicsMagick (their slow jobs dominate)
W=${BENCH_DIR:-$(mktemp -d)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$W"' EXIT
mkdir -p "$W"
cd "$W"
HAVE_GM=$(command -v gm || true)
HAVE_VIPS=$(command -v vips || true)

# Inputs: a photo-like 6000x4000 JPEG (plasma, noise, a light blur), its PNG and JPEG 2000
# copies, and a 16000x12000 JPEG of the same kind.
if [ ! -s big.jpg ]; then
  /usr/bin/convert -seed 11 -size 1500x1000 plasma:fuchsia-yellow -resize 6000x4000! \
    -attenuate 0.3 +noise Gaussian -blur 0x1 -quality 90 big.jpg
fi
[ -s big.png ] || /usr/bin/convert big.jpg big.png
[ -s big.jp2 ] || /usr/bin/convert big.jpg big.jp2
# Debian's ImageMagick policy (area 128 MP) cannot make the 192 MP one: libvips or
# GraphicsMagick enlarge the 6000x4000 photo.
if [ ! -s huge.jpg ]; then
  if [ -n "$HAVE_VIPS" ]; then vips resize big.jpg "huge.jpg[Q=90]" 2.6666667 --vscale 3
  else gm convert big.jpg -resize 16000x12000! -quality 90 huge.jpg; fi
fi
# A -sharpen of the whole 16000x12000 is refused under that policy, by ImageMagick and by mtool
# alike (192 MP is over the area limit and its pixels over the disk limit; the image plus the
# kernel is over the 16KP width): the growth check uses 15984x8000 (127.9 MP), 5.3x 6000x4000.
if [ ! -s huge-w.jpg ]; then
  if [ -n "$HAVE_VIPS" ]; then vips crop huge.jpg "huge-w.jpg[Q=90]" 0 0 15984 8000
  else gm convert huge.jpg -crop 15984x8000+0+0 +repage -quality 90 huge-w.jpg; fi
fi

measure() {  # prints "median_seconds peak_rss_mb" or "- -" (N=runs, default RUNS)
  local times=() rss=0 r runs=${N:-$RUNS}
  for _ in $(seq "$runs"); do
    /usr/bin/time -v -o t.txt "$@" >/dev/null 2>err.txt || { echo "- -"; return; }
    times+=("$(awk -F': ' '/Elapsed/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' t.txt)")
    r=$(awk -F': ' '/Maximum resident/{print $2}' t.txt)
    [ "$r" -gt "$rss" ] && rss=$r
  done
  printf '%s %d\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")" $((rss / 1024))
}
ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else printf '%.2f' "$(echo "$1 / $2" | bc -l)"; fi; }
le() { [ "$1" != - ] && [ "$2" != - ] && [ "$(echo "$1 <= $2" | bc -l)" = 1 ]; }

# name | input | mtool/ImageMagick/GraphicsMagick options | output | vips command (IN, OUT) | min dB
# | others (no: ImageMagick's policy refuses the job and GraphicsMagick takes minutes; mtool and
# libvips only)
JOBLIST=$(
  cat <<'EOF'
thumbnail|big.jpg|-thumbnail 400x400|png|vipsthumbnail IN -s 400x400 -o OUT|35
resize|big.jpg|-resize 400|png|vipsthumbnail IN -s 400 -o OUT|35
sharpen|big.jpg|-sharpen 5x2|png|vips sharpen IN OUT --sigma 2|50
blur-png|big.jpg|-blur 0x3|png|vips gaussblur IN OUT 3|50
blur-jpg|big.jpg|-blur 0x3|jpg|vips gaussblur IN OUT 3|50
negate|big.jpg|-negate|jpg|vips invert IN OUT|50
jpg-png|big.jpg||png|vips copy IN OUT|50
png-jpg|big.png|-quality 85|jpg|vips copy IN OUT[Q=85]|50
rotate|big.jpg|-rotate 90|jpg|vips rot IN OUT d90|50
crop|big.jpg|-crop 1000x1000+500+500 +repage|jpg|vips crop IN OUT 500 500 1000 1000|50
huge-resize|huge.jpg|-resize 25%|jpg|vips resize IN OUT 0.25|35
jp2-png|big.jp2||png|vips copy IN OUT|50
huge-sharpen|huge-w.jpg|-sharpen 5x2|jpg|vips sharpen IN OUT --sigma 2|50|no
EOF
)

printf '%-13s %13s %13s %13s %13s | %-10s %-10s %-10s | %s\n' job "mtool s/MB" "IM s/MB" "GM s/MB" \
  "vips s/MB" "mt/vips" "mt/IM" "mt/GM" "fidelity (mtool vs ImageMagick)"
declare -A MT_T MT_R V_T V_R
failures=0
while IFS='|' read -r name in opts ext vcmd min_db others; do
  [ -n "${JOBS:-}" ] && [[ " $JOBS " != *" $name "* ]] && continue
  read -r mt mr <<<"$(measure "$MTOOL" "$in" $opts "mt.$ext")"
  it=- ir=- gt=- gr=- vt=- vr=-
  rm -f "im.$ext" "gm.$ext"
  if [ "$others" != no ]; then
    read -r it ir <<<"$(N=$RUNS_OTHERS measure /usr/bin/convert "$in" $opts "im.$ext")"
    [ -n "$HAVE_GM" ] && read -r gt gr <<<"$(N=$RUNS_OTHERS measure gm convert "$in" $opts "gm.$ext")"
  fi
  if [ -n "$HAVE_VIPS" ]; then
    v=${vcmd//IN/$in}
    v=${v//OUT/vips.$ext}
    read -r vt vr <<<"$(eval measure $v)"
  fi
  MT_T[$name]=$mt MT_R[$name]=$mr V_T[$name]=$vt V_R[$name]=$vr
  # Fidelity against ImageMagick's output (when ImageMagick could do the job at all).
  fid=""
  if [ "$mt" = - ]; then
    fid="mtool FAILED: $(head -c 200 err.txt)"
    failures=$((failures + 1))
  elif [ ! -s "im.$ext" ] || [ "$it" = - ]; then
    fid="no ImageMagick output to compare; mtool $(/usr/bin/identify -format %wx%h "mt.$ext")"
    [ -s "gm.$ext" ] && [ "$gt" != - ] && fid="$fid, PSNR $(/usr/bin/compare -metric PSNR "mt.$ext" "gm.$ext" null: 2>&1 || true) dB vs GraphicsMagick's"
  else
    dm=$(/usr/bin/identify -format %wx%h "mt.$ext") di=$(/usr/bin/identify -format %wx%h "im.$ext")
    db=$(/usr/bin/compare -metric PSNR "mt.$ext" "im.$ext" null: 2>&1 || true)
    ok=yes
    [ "$dm" = "$di" ] || ok=no
    case "$db" in inf*) ;; *) le "$min_db" "$db" || ok=no ;; esac
    fid="$dm, PSNR $db dB (>= $min_db)"
    if [ "$ext" = png ]; then
      pct=$(($(stat -c %s mt.png) * 100 / $(stat -c %s im.png)))
      [ "$pct" -le 110 ] || ok=no
      fid="$fid, size $pct%"
    fi
    [ "$ok" = yes ] || { fid="$fid  OUT OF BOUND"; failures=$((failures + 1)); }
  fi
  printf '%-13s %6s/%-6s %6s/%-6s %6s/%-6s %6s/%-6s | %4s,%-5s %4s,%-5s %4s,%-5s | %s\n' "$name" \
    "$mt" "$mr" "$it" "$ir" "$gt" "$gr" "$vt" "$vr" "$(ratio "$mt" "$vt")" "$(ratio "$mr" "$vr")" \
    "$(ratio "$mt" "$it")" "$(ratio "$mr" "$ir")" "$(ratio "$mt" "$gt")" "$(ratio "$mr" "$gr")" "$fid"
done <<<"$JOBLIST"

echo
echo "targets (2-core machine):"
target() {  # description, condition result
  if eval "$2"; then echo "  met      $1"; else echo "  NOT MET  $1"; fi
}
has() { [ -n "${MT_T[$1]:-}" ]; }
for j in thumbnail resize; do
  has $j && target "$j: wall <= 1.0x vipsthumbnail (${MT_T[$j]} vs ${V_T[$j]} s), RSS <= 1.0x (${MT_R[$j]} vs ${V_R[$j]} MB)" \
    "le ${MT_T[$j]} ${V_T[$j]} && le ${MT_R[$j]} ${V_R[$j]}"
done
for j in sharpen blur-png blur-jpg negate jpg-png png-jpg crop; do
  has $j && target "$j: wall <= 1.0x libvips (${MT_T[$j]} vs ${V_T[$j]} s), RSS <= 64 MB (${MT_R[$j]} MB)" \
    "le ${MT_T[$j]} ${V_T[$j]} && le ${MT_R[$j]} 64"
done
has rotate && target "rotate: wall <= 1.0x vips rot (${MT_T[rotate]} vs ${V_T[rotate]} s), RSS <= 0.5x (${MT_R[rotate]} vs ${V_R[rotate]} MB)" \
  "le ${MT_T[rotate]} ${V_T[rotate]} && le ${MT_R[rotate]} $(echo "${V_R[rotate]:-0} / 2" | bc -l)"
has huge-resize && target "16000x12000 -resize 25%: RSS <= 128 MB (${MT_R[huge-resize]} MB), wall <= 1.0x vips resize (${MT_T[huge-resize]} vs ${V_T[huge-resize]} s)" \
  "le ${MT_R[huge-resize]} 128 && le ${MT_T[huge-resize]} ${V_T[huge-resize]}"
has sharpen && has huge-sharpen && target "-sharpen RSS 6000x4000 vs 15984x8000 differs < 16 MB (${MT_R[sharpen]} vs ${MT_R[huge-sharpen]} MB)" \
  "[ \$(( ${MT_R[huge-sharpen]} - ${MT_R[sharpen]} )) -lt 16 ]"
echo "fidelity: $failures job(s) out of bound or failed"
[ "$failures" = 0 ]
