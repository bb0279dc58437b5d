#!/usr/bin/env bash
# Quick benchmark: a 6000x4000 photo-like JPEG (and its JPEG 2000 copy), six jobs, mtool vs ImageMagick, and
# GraphicsMagick / libvips when installed (apt-get install graphicsmagick libvips-tools).
# Median wall time of RUNS runs, peak RSS from /usr/bin/time -v, ratios measured in this run.
# Never part of the test suite (machines are shared and noisy).
set -euo pipefail
MTOOL=$(readlink -f "${1:-build/mtool}")
RUNS=${RUNS:-3}
W=${BENCH_DIR:-$(mktemp -d)}; trap '[ -z "${BENCH_DIR:-}" ] && rm -rf "$W"' EXIT
cd "$W"
if [ ! -s big.jpg ]; then
  /usr/bin/convert -seed 11 -size 1500x1000 plasma:fuchsia-yellow -resize 6000x4000! \
    -attenuate 0.3 +noise Gaussian -blur 0x1 -quality 90 big.jpg
fi
measure() {  # prints "median_seconds peak_rss_mb" or "- -"
  local times=() rss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o t.txt "$@" >/dev/null 2>&1 || { echo "- -"; return; }
    times+=("$(awk -F': ' '/Elapsed/{split($2,a,":"); print a[1]*60+a[2]}' t.txt)")
    r=$(awk -F': ' '/Maximum resident/{print $2}' t.txt); [ "$r" -gt "$rss" ] && rss=$r
  done
  printf '%s %d\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS+1)/2 ))p")" $((rss/1024))
}
ratio() { [ "$1" = - ] || [ "$2" = - ] && { echo "-"; return; }; printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
HAVE_GM=$(command -v gm || true); HAVE_VIPS=$(command -v vips || true)
printf '%-22s %14s %14s %14s %14s | %-11s %-11s %-11s\n' job "IM s/MB" "mtool s/MB" "GM s/MB" "vips s/MB" \
  "mt/IM t,rss" "mt/GM t,rss" "mt/vips t,rss"
[ -s big.jp2 ] || /usr/bin/convert big.jpg big.jp2
# JOBS (newline-separated input:options:output) overrides the default set.
DEFAULT_JOBS=$'jpg:-resize 400:png\njpg:-sharpen 5x2:png\njpg:-rotate 90:jpg\njpg::png\njpg::jp2\njp2:-thumbnail 200x200:png'
while IFS= read -r job; do
  in=big.${job%%:*}; rest=${job#*:}; op=${rest%%:*}; ext=${rest##*:}
  read -r it ir <<<"$(measure /usr/bin/convert $in $op out-im.$ext)"
  read -r mt mr <<<"$(measure "$MTOOL" $in $op out-mt.$ext)"
  gt=- gr=- vt=- vr=-
  [ -n "$HAVE_GM" ] && read -r gt gr <<<"$(measure gm convert $in $op out-gm.$ext)"
  if [ -n "$HAVE_VIPS" ]; then
    case "$op" in
      "-resize 400") read -r vt vr <<<"$(measure vips resize $in out-vips.$ext 0.0666667)";;
      "-sharpen 5x2") read -r vt vr <<<"$(measure vips sharpen $in out-vips.$ext --sigma 2)";;
      "-rotate 90") read -r vt vr <<<"$(measure vips rot $in out-vips.$ext d90)";;
      "-thumbnail 200x200") read -r vt vr <<<"$(measure vipsthumbnail $in -s 200x200 -o "$W/out-vips.$ext")";;
      "") read -r vt vr <<<"$(measure vips copy $in out-vips.$ext)";;
    esac
  fi
  printf '%-22s %7s/%-6s %7s/%-6s %7s/%-6s %7s/%-6s | %5s,%-5s %5s,%-5s %5s,%-5s\n' "$in ${op:-(convert)} .$ext" \
    "$it" "$ir" "$mt" "$mr" "$gt" "$gr" "$vt" "$vr" \
    "$(ratio "$mt" "$it")" "$(ratio "$mr" "$ir")" "$(ratio "$mt" "$gt")" "$(ratio "$mr" "$gr")" \
    "$(ratio "$mt" "$vt")" "$(ratio "$mr" "$vr")"
done <<<"${JOBS:-$DEFAULT_JOBS}"
