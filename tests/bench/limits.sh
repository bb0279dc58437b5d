#!/usr/bin/env bash
# Continuous limits: peak RSS (/usr/bin/time -v) and wall time of
#   mtool -limit memory L -limit map L in.jpg -sharpen 5x2 out.png   (and -rotate 90 out.jpg)
# for L from 16 MiB to more than the image needs, with /usr/bin/convert under the same limits in
# the same run. Checks, for mtool: peak RSS <= L + 48 MiB and output pixels identical to the
# unlimited run. Not part of the test suite (machines are shared and noisy).
#
#   tests/bench/limits.sh build/mtool                 # 6000x4000
#   SIZES="6000x4000 16000x12000" tests/bench/limits.sh build/mtool
# Environment: LIMITS, IM_LIMITS (MiB lists), IM_MAX_MP (skip ImageMagick above this many
# megapixels, default 30), BENCH_DIR (keep inputs between runs).
set -euo pipefail
MTOOL=$(readlink -f "${1:-build/mtool}")
SIZES=${SIZES:-6000x4000}
LIMITS=${LIMITS:-"16 32 64 128 256 512"}
IM_LIMITS=${IM_LIMITS:-"16 64 256 512"}
IM_MAX_MP=${IM_MAX_MP:-30}
OVERHEAD_MB=48
W=${BENCH_DIR:-$(mktemp -d)}; trap '[ -z "${BENCH_DIR:-}" ] && rm -rf "$W"' EXIT
mkdir -p "$W/tmp" "$W/policy"
cd "$W"
# Debian's policy.xml caps memory at 256 MiB, area at 128 MP and width/height at 16 KP, and -limit
# can only lower a policy value: a permissive policy first in the search path lets both tools use
# exactly the limits given on the command line.
cat > policy/policy.xml <<'EOF'
<policymap>
  <policy domain="resource" name="width" value="64KP"/>
  <policy domain="resource" name="height" value="64KP"/>
  <policy domain="resource" name="area" value="16GP"/>
  <policy domain="resource" name="memory" value="64GiB"/>
  <policy domain="resource" name="map" value="64GiB"/>
  <policy domain="resource" name="disk" value="256GiB"/>
</policymap>
EOF
export MAGICK_CONFIGURE_PATH=$W/policy MAGICK_TEMPORARY_PATH=$W/tmp

measure() {  # prints "seconds peak_rss_mb exit_status"
  local rc=0
  /usr/bin/time -v -o t.txt "$@" >/dev/null 2>err.txt || rc=$?
  printf '%s %d %d\n' "$(awk -F': ' '/Elapsed/{split($2,a,":"); print a[1]*60+a[2]}' t.txt)" \
    "$(( $(awk -F': ' '/Maximum resident/{print $2}' t.txt) / 1024 ))" "$rc"
}
sig() { /usr/bin/identify -format '%#' "$1" 2>/dev/null || echo none; }

fail=0
printf '%-11s %-14s %8s | %9s %8s %6s %-9s | %9s %8s\n' size job "L MiB" "mtool s" "RSS MB" "RSS-L" check "IM s" "IM RSS"
for size in $SIZES; do
  w=${size%x*}; h=${size#*x}; mp=$(( w * h / 1000000 ))
  in=photo-$size.jpg
  if [ ! -s "$in" ]; then
    if [ ! -s photo-6000x4000.jpg ]; then
      /usr/bin/convert -seed 11 -size 1500x1000 plasma:fuchsia-yellow -resize 6000x4000! \
        -attenuate 0.3 +noise Gaussian -blur 0x1 -quality 90 photo-6000x4000.jpg
    fi
    [ -s "$in" ] || "$MTOOL" photo-6000x4000.jpg -resize "${size}!" -quality 90 "$in"
  fi
  for job in "-sharpen 5x2:png" "-rotate 90:jpg"; do
    op=${job%%:*}; ext=${job##*:}
    "$MTOOL" "$in" $op ref.$ext
    want=$(sig ref.$ext)
    read -r ut ur _ <<<"$(measure "$MTOOL" "$in" $op ref.$ext)"
    printf '%-11s %-14s %8s | %9s %8s %6s %-9s |\n' "$size" "$op" unlimited "$ut" "$ur" - -
    for L in $LIMITS; do
      rm -f out.$ext
      read -r mt mr mrc <<<"$(measure "$MTOOL" -limit memory ${L}MiB -limit map ${L}MiB "$in" $op out.$ext)"
      verdict=ok
      [ "$mrc" = 0 ] || verdict="exit$mrc"
      [ "$verdict" = ok ] && [ "$(sig out.$ext)" != "$want" ] && verdict=pixels
      [ "$verdict" = ok ] && [ $(( mr - L )) -gt $OVERHEAD_MB ] && verdict=rss
      [ -z "$(ls -A tmp)" ] || verdict="$verdict+spill-left"
      [ "$verdict" = ok ] || fail=1
      it=- ir=-
      if [ "$mp" -le "$IM_MAX_MP" ] && grep -qw "$L" <<<"$IM_LIMITS"; then
        read -r it ir irc <<<"$(measure /usr/bin/convert -limit memory ${L}MiB -limit map ${L}MiB "$in" $op im.$ext)"
        [ "$irc" = 0 ] || it="exit$irc"
      fi
      printf '%-11s %-14s %8s | %9s %8s %6s %-9s | %9s %8s\n' "$size" "$op" "$L" "$mt" "$mr" "$(( mr - L ))" \
        "$verdict" "$it" "$ir"
    done
    if [ "$mp" -le "$IM_MAX_MP" ]; then
      read -r it ir _ <<<"$(measure /usr/bin/convert "$in" $op im.$ext)"
      printf '%-11s %-14s %8s | %9s %8s %6s %-9s | %9s %8s\n' "$size" "$op" "IM unlim." - - - - "$it" "$ir"
    fi
  done
done
[ "$fail" = 0 ] && echo "all limits held (peak RSS <= L + ${OVERHEAD_MB} MiB, identical pixels)" || echo "SOME LIMITS FAILED"
exit "$fail"
