#!/usr/bin/env bash
# Quick benchmark: a 6000x4000 photo-like JPEG, four jobs, mtool vs ImageMagick (and
# GraphicsMagick / libvips when installed), median wall time of N runs and peak RSS from
# /usr/bin/time -v. Prints ratios measured in this run; never part of the test suite.
set -euo pipefail
MTOOL=$(readlink -f "${1:-build/mtool}")
RUNS=${RUNS:-3}
W=${BENCH_DIR:-$(mktemp -d)}; trap '[ -z "${BENCH_DIR:-}" ] && rm -rf "$W"' EXIT
cd "$W"
if [ ! -s big.jpg ]; then
  /usr/bin/convert -seed 11 -size 1500x1000 plasma:fuchsia-yellow -resize 6000x4000! \
    -attenuate 0.3 +noise Gaussian -blur 0x1 -quality 90 big.jpg
fi
measure() {  # prints "median_seconds peak_rss_mb"
  local times=() rss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o t.txt "$@" >/dev/null 2>&1 || { echo "FAILED"; return; }
    times+=("$(awk -F': ' '/Elapsed/{split($2,a,":"); print a[1]*60+a[2]}' t.txt)")
    r=$(awk -F': ' '/Maximum resident/{print $2}' t.txt); [ "$r" -gt "$rss" ] && rss=$r
  done
  printf '%s %d\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS+1)/2 ))p")" $((rss/1024))
}
printf '%-26s %18s %18s %8s %8s\n' job "ImageMagick s/MB" "mtool s/MB" "time x" "RSS x"
for job in "-resize 400:png" "-sharpen 5x2:png" "-rotate 90:jpg" ":png"; do
  op=${job%%:*}; ext=${job##*:}
  read -r it ir <<<"$(measure /usr/bin/convert big.jpg $op out-im.$ext)"
  read -r mt mr <<<"$(measure "$MTOOL" big.jpg $op out-mt.$ext)"
  printf '%-26s %10s/%-7s %10s/%-7s %8.2f %8.2f\n' "big.jpg ${op:-(convert)} .$ext" "$it" "$ir" "$mt" "$mr" \
    "$(echo "$mt / $it" | bc -l)" "$(echo "$mr / $ir" | bc -l)"
done
