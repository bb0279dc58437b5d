#!/usr/bin/env bash
# Distributed pixel cache benchmark on loopback, one run: wall time of -negate and -sharpen 5x2
# on a 2000x2000 and a 6000x4000 image with the pixels local vs on a pixel server, for
#   mtool local / mtool client -> mtool server / mtool client -> ImageMagick server,
#   ImageMagick local / ImageMagick client -> mtool server / ImageMagick client -> ImageMagick server.
# Medians of RUNS (default 3); ImageMagick client -> ImageMagick server is run once and cut off
# after IMIM_TIMEOUT seconds (default 400: it is latency bound, ~44 ms per request). Every remote
# output is checked against the local one (compare -metric AE = 0). Input and output are JPEG
# (photo-like; both codecs native in mtool, so no pixels pass through ImageMagick's own cache).
# mtool runs with its memory limit at 1/8 and 1/2 of the image (map and disk 0, so every strip
# that leaves memory goes to the server), and on its local disk tier at 1/8 for comparison.
#   tests/bench/distributed.sh [build/mtool]     (SIZES="2000x2000 6000x4000" RUNS=3 to change)
set -uo pipefail
MTOOL=$(readlink -f "${1:-build/mtool}")
RUNS=${RUNS:-3}
SIZES=${SIZES:-"2000x2000 6000x4000"}
IMIM_TIMEOUT=${IMIM_TIMEOUT:-400}
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
bash "$(dirname "$(readlink -f "$0")")/../../samples/dpc-policy.sh" "$W/cfg" bench-secret-0123456789
export MAGICK_CONFIGURE_PATH=$W/cfg
BASE=$((20000 + RANDOM % 30000))
MP=$BASE; IP=$((BASE + 1))
"$MTOOL" -distribute-cache $MP 2>"$W/mtool-server.log" & PIDS+=($!)
/usr/bin/convert -distribute-cache $IP 2>"$W/im-server.log" & PIDS+=($!)
sleep 1
IMREMOTE="-limit memory 1MiB -limit map 1MiB -limit disk 1MiB"

median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
# timed OUT CMD...: seconds of one run (or "fail"), output kept in OUT.
timed() {
  local out=$1; shift
  local s e; s=$(date +%s.%N)
  if "$@" "$out" >/dev/null 2>"$W/err"; then e=$(date +%s.%N); echo "$e - $s" | bc -l; else echo fail; fi
}
med() { local out=$1; shift; for _ in $(seq "$RUNS"); do timed "$out" "$@"; done | median; }
same() { [ "$(/usr/bin/compare -metric AE "$1" "$2" null: 2>&1)" = 0 ] && echo "AE 0" || echo "DIFFERENT"; }

printf '%-11s %-13s %-36s %9s %7s  %s\n' size op path seconds "x local" check
for size in $SIZES; do
  in=$W/in_$size.jpg
  /usr/bin/convert -size "$size" plasma: -blur 0x1 -quality 92 "$in"
  bytes=$(( ${size%x*} * ${size#*x} * 3 ))
  m8="-limit memory $((bytes / 8)) -limit map 0 -limit disk 0"
  m2="-limit memory $((bytes / 2)) -limit map 0 -limit disk 0"
  for op in "-negate" "-sharpen 5x2"; do
    ml=$(med "$W/ml.jpg" "$MTOOL" "$in" $op)
    md=$(med "$W/md.jpg" "$MTOOL" -limit memory $((bytes / 8)) -limit map 0 "$in" $op)
    mm=$(med "$W/mm.jpg" "$MTOOL" $m8 -define registry:cache:hosts=127.0.0.1:$MP "$in" $op)
    mh=$(med "$W/mh.jpg" "$MTOOL" $m2 -define registry:cache:hosts=127.0.0.1:$MP "$in" $op)
    mi=$(med "$W/mi.jpg" "$MTOOL" $m8 -define registry:cache:hosts=127.0.0.1:$IP "$in" $op)
    il=$(med "$W/il.jpg" /usr/bin/convert "$in" $op)
    im=$(med "$W/im.jpg" /usr/bin/convert $IMREMOTE -define registry:cache:hosts=127.0.0.1:$MP "$in" $op)
    ii=$(RUNS=1 med "$W/ii.jpg" timeout "$IMIM_TIMEOUT" /usr/bin/convert $IMREMOTE -define registry:cache:hosts=127.0.0.1:$IP "$in" $op)
    [ "$ii" = fail ] && ii=">$IMIM_TIMEOUT"
    row() { printf '%-11s %-13s %-36s %9s %7s  %s\n' "$size" "$op" "$1" "$2" "$3" "$4"; }
    ratio() { [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && printf '%.2f' "$(echo "$1 / $2" | bc -l)" || echo -; }
    row "mtool local" "$(printf %.2f "$ml")" 1.00 ""
    row "mtool local disk tier (mem 1/8)" "$(printf %.2f "$md")" "$(ratio "$md" "$ml")" "$(same "$W/md.jpg" "$W/ml.jpg")"
    row "mtool -> mtool server (mem 1/8)" "$(printf %.2f "$mm")" "$(ratio "$mm" "$ml")" "$(same "$W/mm.jpg" "$W/ml.jpg")"
    row "mtool -> mtool server (mem 1/2)" "$(printf %.2f "$mh")" "$(ratio "$mh" "$ml")" "$(same "$W/mh.jpg" "$W/ml.jpg")"
    row "mtool -> IM server (mem 1/8)" "$(printf %.2f "$mi")" "$(ratio "$mi" "$ml")" "$(same "$W/mi.jpg" "$W/ml.jpg")"
    row "ImageMagick local" "$(printf %.2f "$il")" 1.00 ""
    row "ImageMagick -> mtool server" "$(printf %.2f "$im")" "$(ratio "$im" "$il")" "$(same "$W/im.jpg" "$W/il.jpg")"
    if [[ $ii =~ ^[0-9.]+$ ]]; then
      row "ImageMagick -> ImageMagick server" "$(printf %.2f "$ii")" "$(ratio "$ii" "$il")" "$(same "$W/ii.jpg" "$W/il.jpg")"
    else
      row "ImageMagick -> ImageMagick server" "$ii" "-" "cut off"
    fi
    [[ $ii =~ ^[0-9.]+$ ]] && printf '%-11s %-13s IM client: mtool server %.0fx faster than ImageMagick server\n' "$size" "$op" \
      "$(echo "$ii / $im" | bc -l)"
  done
done
