#!/usr/bin/env bash
# Many processes, one network cache: 16 workers read an overlapping set of files larger than
# the cache from a FUSE mount for STRESS_SECONDS (default 30) while eviction runs; in the last
# third random workers are killed with SIGKILL. Checks: every finished output is right, a file
# is copied at most once per eviction (without kills), no copy was removed under a reader,
# nothing valid-looking or temporary is left behind, and the cache ends within its size.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
SECONDS_TOTAL=${STRESS_SECONDS:-30}
WORKERS=${STRESS_WORKERS:-16}
W=$(mktemp -d); MNT=$W/mnt
cleanup() { pkill -9 -f "netcache:dir=$W/cache" 2>/dev/null; fusermount -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"; mkdir -p src mnt out log ref
if ! command -v bindfs >/dev/null || ! bindfs "$W/src" "$MNT" 2>/dev/null; then
  skip "bindfs/FUSE not available: network cache stress test skipped"; finish; exit $?
fi
N=10
total=0
for i in $(seq 0 $((N - 1))); do
  $IM -seed $i -size $((280 + 10 * i))x220 plasma: -quality 95 src/f$i.jpg
  "$MTOOL" src/f$i.jpg -resize 50% ppm:ref/f$i.ppm
  total=$(( total + $(stat -c %s src/f$i.jpg) ))
done
SIZE=$(( total * 2 / 5 ))   # the working set is 2.5x the cache: eviction all the time
C=$W/cache
worker() {
  local id=$1 end=$2
  while [ "$(date +%s)" -lt "$end" ]; do
    local f=$(( RANDOM % N ))
    if "$MTOOL" -debug netcache -define netcache:dir=$C -define netcache:size=$SIZE "$MNT/f$f.jpg" -resize 50% \
         ppm:out/w$id.ppm 2>>log/w$id.log >/dev/null; then
      cmp -s out/w$id.ppm ref/f$f.ppm || echo "worker $id: wrong output for f$f" >> errors
    fi
  done
}
# Phase 1 (two thirds of the time): no kills. Every copy must follow an eviction.
# Phase 2: the same with a SIGKILL every 2 s (a killed copier leaves a copy to be made again).
P1=$(( SECONDS_TOTAL * 2 / 3 )); P2=$(( SECONDS_TOTAL - P1 ))
end=$(( $(date +%s) + P1 ))
for id in $(seq 1 "$WORKERS"); do worker "$id" "$end" 2>/dev/null & done
wait
cat log/*.log > phase1.log; rm -f log/*.log
end=$(( $(date +%s) + P2 ))
for id in $(seq 1 "$WORKERS"); do worker "$id" "$end" 2>/dev/null & done
kills=0
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 2
  victim=$(pgrep -f "netcache:dir=$C" | shuf -n 1)
  [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null && kills=$((kills + 1))
done
wait
"$MTOOL" -define netcache:dir=$C -define netcache:size=$SIZE "$MNT/f0.jpg" ppm:"$W/sweep.ppm"  # sweeps leftovers
cat phase1.log log/*.log > all.log
runs=$(grep -c "^netcache: \(hit\|copy\)" all.log)
echo "stress: $WORKERS workers, ${SECONDS_TOTAL}s (${P2}s with kills), $runs cached reads," \
     "$(grep -c '^netcache: copy' all.log) copies, $(grep -c '^netcache: evict' all.log) evictions," \
     "$kills workers killed with SIGKILL"
check "some work was done" [ "$runs" -gt 50 ]
check "every finished output is correct" [ ! -s errors ]
check "no copy was removed under a reader" bash -c "! grep -q 'reading the copy' all.log"
for i in $(seq 0 $((N - 1))); do
  copies=$(grep -c "^netcache: copy $MNT/f$i.jpg " phase1.log)
  evictions=$(grep -c "^netcache: evict $MNT/f$i.jpg " phase1.log)
  check "f$i copied at most once per eviction ($copies copies, $evictions evictions)" [ "$copies" -le $((evictions + 1)) ]
  if [ "$copies" -gt $((evictions + 1)) ] && [ -n "${STRESS_DEBUG:-}" ]; then
    grep "$MNT/f$i.jpg " phase1.log | grep -v "^netcache: hit" | sed 's/.* t \([0-9.]*\)\]$/\1 &/' | sort -n | cut -d' ' -f2- | tail -30
  fi
done
check "no .meta temporaries left" [ -z "$(ls $C/data/*/ | grep '\.tmp$')" ]
check "no temporary files left" [ -z "$(ls -A $C/tmp)" ]
bad=0
for meta in $C/data/*/*.meta; do
  [ -e "$meta" ] || continue
  data=${meta%.meta}; want=$(sed -n 3p "$meta" | cut -d' ' -f1)
  [ -f "$data" ] && [ "$(stat -c %s "$data")" = "$want" ] || bad=$((bad + 1))
done
check "every entry that looks valid is complete" [ "$bad" = 0 ]
bytes=$("$MTOOL" netcache stats -define netcache:dir=$C | awk '/^Bytes:/{print $2}')
check "the cache ends within its size ($bytes <= $SIZE)" [ "$bytes" -le "$SIZE" ]
finish
