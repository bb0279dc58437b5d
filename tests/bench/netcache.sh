#!/usr/bin/env bash
# Network cache benchmark: a 200 MB input read (a) from local disk, (b) from a FUSE mount
# (bindfs) without the cache, (c) through the cache the first time (copy), (d) the second
# time (hit). The page cache is dropped before each run when possible, so the FUSE path pays
# its real cost. Prints wall times (median of RUNS) and the ratio hit/local.
set -euo pipefail
MTOOL=$(readlink -f "${1:-build/mtool}")
RUNS=${RUNS:-3}
W=${BENCH_DIR:-$(mktemp -d)}; MNT=$W/mnt
cleanup() { fusermount -u "$MNT" 2>/dev/null || true; [ -z "${BENCH_DIR:-}" ] && rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/src" "$MNT"
[ -s "$W/src/big.ppm" ] || /usr/bin/convert -size 8192x8192 gradient:red-blue -depth 8 "$W/src/big.ppm"   # 201 MB
bindfs "$W/src" "$MNT"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
job() { "$MTOOL" "$@" -crop 64x64+0+0 +repage "$W/out.png"; }
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
timed() { local s e; drop; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
local_t=$(for _ in $(seq "$RUNS"); do timed job "$W/src/big.ppm"; done | median)
fuse_t=$(for _ in $(seq "$RUNS"); do timed job "$MNT/big.ppm"; done | median)
C=$W/cache
first_t=$(for _ in $(seq "$RUNS"); do rm -rf "$C"; timed job -define netcache:dir=$C "$MNT/big.ppm"; done | median)
hit_t=$(for _ in $(seq "$RUNS"); do timed job -define netcache:dir=$C "$MNT/big.ppm"; done | median)
printf 'input %s MB\n' $(( $(stat -c %s "$W/src/big.ppm") / 1000000 ))
printf '%-34s %8.2f s\n' "local disk" "$local_t" "FUSE, no cache" "$fuse_t" "FUSE, cache miss (copy + read)" "$first_t" \
  "FUSE, cache hit" "$hit_t"
printf 'hit / local = %.2f   FUSE no cache / local = %.2f\n' "$(echo "$hit_t / $local_t" | bc -l)" \
  "$(echo "$fuse_t / $local_t" | bc -l)"
