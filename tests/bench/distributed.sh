#!/usr/bin/env bash
# Distributed pixel cache benchmark on loopback, one run: wall time of -negate and -sharpen 5x2
# on a 2000x2000 and a 6000x4000 image with the pixels local vs on a pixel server, for
#   mtool local / mtool client -> mtool server / mtool client -> ImageMagick server,
#   ImageMagick local / ImageMagick client -> mtool server / ImageMagick client -> ImageMagick server.
# Medians of RUNS (default 3); ImageMagick client -> ImageMagick server is run once and cut off
# after IMIM_TIMEOUT seconds (default 400: it is latency bound, ~44 ms per request). Every remote
# output is checked against the local one (compare -metric AE = 0). Output format: PPM, so the
# encoder does not hide the cache's cost.
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
mkdir -p "$W/cfg"
cat >"$W/cfg/policy.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policymap [
  <!ELEMENT policymap (policy)*>
  <!ATTLIST policymap xmlns CDATA #FIXED ''>
  <!ELEMENT policy EMPTY>
  <!ATTLIST policy xmlns CDATA #FIXED '' domain NMTOKEN #REQUIRED name NMTOKEN #IMPLIED pattern CDATA #IMPLIED
    rights NMTOKEN #IMPLIED stealth NMTOKEN #IMPLIED value CDATA #IMPLIED>
]>
<policymap>
  <policy domain="cache" name="shared-secret" value="bench-secret-0123456789" stealth="true"/>
</policymap>
EOF
export MAGICK_CONFIGURE_PATH=$W/cfg
BASE=$((20000 + RANDOM % 30000))
MP=$BASE; IP=$((BASE + 1))
"$MTOOL" -distribute-cache $MP 2>"$W/mtool-server.log" & PIDS+=($!)
/usr/bin/convert -distribute-cache $IP 2>"$W/im-server.log" & PIDS+=($!)
sleep 1
MTREMOTE="-limit memory 16MiB -limit map 0 -limit disk 0"
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

printf '%-11s %-13s %-34s %9s %7s  %s\n' size op path seconds "x local" check
for size in $SIZES; do
  in=$W/in_$size.png
  /usr/bin/convert -size "$size" plasma: -blur 0x1 "$in"
  for op in "-negate" "-sharpen 5x2"; do
    tag=${op//[ -]/}
    ml=$(med "$W/ml.ppm" "$MTOOL" "$in" $op)
    mm=$(med "$W/mm.ppm" "$MTOOL" $MTREMOTE -define registry:cache:hosts=127.0.0.1:$MP "$in" $op)
    mi=$(med "$W/mi.ppm" "$MTOOL" $MTREMOTE -define registry:cache:hosts=127.0.0.1:$IP "$in" $op)
    il=$(med "$W/il.ppm" /usr/bin/convert "$in" $op)
    im=$(med "$W/im.ppm" /usr/bin/convert $IMREMOTE -define registry:cache:hosts=127.0.0.1:$MP "$in" $op)
    ii=$(RUNS=1 med "$W/ii.ppm" timeout "$IMIM_TIMEOUT" /usr/bin/convert $IMREMOTE -define registry:cache:hosts=127.0.0.1:$IP "$in" $op)
    [ "$ii" = fail ] && ii=">$IMIM_TIMEOUT"
    row() { printf '%-11s %-13s %-34s %9s %7s  %s\n' "$size" "$op" "$1" "$2" "$3" "$4"; }
    ratio() { [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && printf '%.2f' "$(echo "$1 / $2" | bc -l)" || echo -; }
    row "mtool local" "$(printf %.2f "$ml")" 1.00 ""
    row "mtool -> mtool server" "$(printf %.2f "$mm")" "$(ratio "$mm" "$ml")" "$(same "$W/mm.ppm" "$W/ml.ppm")"
    row "mtool -> ImageMagick server" "$(printf %.2f "$mi")" "$(ratio "$mi" "$ml")" "$(same "$W/mi.ppm" "$W/ml.ppm")"
    row "ImageMagick local" "$(printf %.2f "$il")" 1.00 ""
    row "ImageMagick -> mtool server" "$(printf %.2f "$im")" "$(ratio "$im" "$il")" "$(same "$W/im.ppm" "$W/il.ppm")"
    if [[ $ii =~ ^[0-9.]+$ ]]; then
      row "ImageMagick -> ImageMagick server" "$(printf %.2f "$ii")" "$(ratio "$ii" "$il")" "$(same "$W/ii.ppm" "$W/il.ppm")"
    else
      row "ImageMagick -> ImageMagick server" "$ii" "-" "cut off"
    fi
    [[ $ii =~ ^[0-9.]+$ ]] && printf '%-11s %-13s IM client: mtool server %.0fx faster than ImageMagick server\n' "$size" "$op" \
      "$(echo "$ii / $im" | bc -l)"
  done
done
