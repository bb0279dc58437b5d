#!/usr/bin/env bash
# The network cache: a real FUSE mount (bindfs) detected as slow, netcache:paths, refresh of a
# touched original, symlinks and same-named files, LRU eviction when the size is lowered, a
# cache directory on FUSE refused, and faults (unusable dir, full disk, corrupt entries) that
# only ever cost the caching, never the job.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d)
MNT=$W/mnt
cleanup() { fusermount -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null; umount "$W/full" 2>/dev/null;
            umount "$W/ro" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"
mkdir -p src/a src/b local mnt
$IM -size 300x200 plasma: src/a/x.jpg
$IM -size 300x200 gradient:red-blue src/b/x.jpg
$IM -size 320x240 plasma:green-yellow src/a/y.jpg
$IM -size 340x260 plasma:blue-white src/a/z.jpg
cp src/a/x.jpg local/x.jpg
C=$W/cache
nc() { "$MTOOL" -debug netcache -define netcache:dir=$C "$@" 2>&1 >/dev/null; }
entries() { "$MTOOL" netcache list -define netcache:dir=$C | wc -l; }
same_ppm() { cmp -s "$1" "$2"; }

# netcache:paths forces a local directory to count as slow; without it nothing is cached.
log=$(nc local/x.jpg ppm:o.ppm)
check "local file system: not cached" grep -q "skip .*local file system" <<<"$log"
log=$(nc -define netcache:paths=$W/local local/x.jpg ppm:o1.ppm)
check "netcache:paths: first run copies" grep -q "^netcache: copy $W/local/x.jpg" <<<"$log"
log=$(nc -define netcache:paths=$W/local local/x.jpg ppm:o2.ppm)
check "netcache:paths: second run hits" grep -q "^netcache: hit $W/local/x.jpg" <<<"$log"
check "netcache:paths: same output" same_ppm o1.ppm o2.ppm
log=$(nc -define netcache:paths=$W/local -define netcache:exclude=$W/local local/x.jpg ppm:o3.ppm)
check "netcache:exclude wins" bash -c "! grep -q 'hit\|copy' <<<'$log'"
"$MTOOL" netcache purge -define netcache:dir=$C >/dev/null
check "purge empties the cache" [ "$(entries)" = 0 ]
# The directory from policy.xml or MTOOL_NETCACHE_DIR; -ping never copies.
mkdir -p pol && printf '<policymap>\n  <policy domain="cache" name="netcache-dir" value="%s"/>\n</policymap>\n' "$W/pcache" > pol/policy.xml
log=$(MAGICK_CONFIGURE_PATH=$W/pol "$MTOOL" -debug netcache -define netcache:paths=$W/local local/x.jpg null: 2>&1 >/dev/null)
check "policy.xml netcache-dir" grep -q "^netcache: copy $W/local/x.jpg -> $W/pcache/" <<<"$log"
log=$(MTOOL_NETCACHE_DIR=$W/ecache "$MTOOL" -debug netcache -define netcache:paths=$W/local local/x.jpg null: 2>&1 >/dev/null)
check "MTOOL_NETCACHE_DIR" grep -q "^netcache: copy $W/local/x.jpg -> $W/ecache/" <<<"$log"
log=$("$MTOOL" -debug netcache -define netcache:dir=$W/pingcache -define netcache:paths=$W/local -ping local/x.jpg info: 2>&1 >/dev/null)
check "-ping copies nothing" bash -c "! grep -q copy <<<'$log'"
check "cache directory is rwxrwxr-x" [ "$(stat -c %a $C)" = 775 ]

if ! command -v bindfs >/dev/null || ! bindfs "$W/src" "$MNT" 2>/dev/null; then
  skip "bindfs/FUSE not available: FUSE tests skipped"
  finish; exit $?
fi
check "bindfs mount is FUSE" grep -qi fuse <<<"$(stat -f -c %T "$MNT")"
"$MTOOL" src/a/x.jpg -resize 50% ppm:ref.ppm

log=$(nc "$MNT/a/x.jpg" -resize 50% ppm:f1.ppm)
check "FUSE detected without defines: first run copies" grep -q "^netcache: copy $MNT/a/x.jpg" <<<"$log"
log=$(nc "$MNT/a/x.jpg" -resize 50% ppm:f2.ppm)
check "FUSE: second run hits" grep -q "^netcache: hit $MNT/a/x.jpg" <<<"$log"
check "FUSE: outputs equal the local ones" same_ppm f1.ppm ref.ppm && same_ppm f2.ppm ref.ppm
"$MTOOL" "$MNT/a/x.jpg" -format '%[date:modify]' info: > d1.txt
"$MTOOL" -define netcache:dir=$C "$MNT/a/x.jpg" -format '%[date:modify]' info: > d2.txt
check "a cached read reports the original's dates" cmp -s d1.txt d2.txt
log=$(nc identify "$MNT/a/y.jpg")
log=$("$MTOOL" identify -debug netcache -define netcache:dir=$C "$MNT/a/y.jpg" 2>&1 >/dev/null)
check "identify (ping) copies nothing" bash -c "! grep -q copy <<<'$log'"

# A touched original is copied again.
sleep 1.1
$IM -size 300x200 plasma:red-black src/a/x.jpg
log=$(nc "$MNT/a/x.jpg" ppm:t.ppm)
check "touched original: refreshed" grep -q "^netcache: stale $MNT/a/x.jpg" <<<"$log"
"$MTOOL" src/a/x.jpg ppm:tref.ppm
check "touched original: new content" same_ppm t.ppm tref.ppm

# Symlinks resolve to one entry; equal names in different directories are different entries.
"$MTOOL" netcache purge -define netcache:dir=$C >/dev/null
ln -s "$MNT/a/x.jpg" link1.jpg; ln -s "$MNT/a/x.jpg" link2.jpg
nc link1.jpg ppm:l1.ppm >/dev/null; log=$(nc link2.jpg ppm:l2.ppm)
check "symlinks: second link hits the same entry" grep -q "^netcache: hit $MNT/a/x.jpg" <<<"$log"
check "symlinks: one entry" [ "$(entries)" = 1 ]
nc "$MNT/b/x.jpg" ppm:bx.ppm >/dev/null
"$MTOOL" src/b/x.jpg ppm:bref.ppm
check "same name, other directory: own entry" [ "$(entries)" = 2 ]
check "same name, other directory: right content" same_ppm bx.ppm bref.ppm

# Lowering the size evicts least recently used first.
for f in y z; do nc "$MNT/a/$f.jpg" null: >/dev/null; sleep 0.05; done
nc "$MNT/b/x.jpg" null: >/dev/null   # used last
size_a=$(stat -c %s src/a/x.jpg); size_b=$(stat -c %s src/b/x.jpg); size_z=$(stat -c %s src/a/z.jpg)
keep=$(( size_b + size_z + 10 ))
log=$("$MTOOL" -debug netcache -define netcache:dir=$C -define netcache:size=$keep src/b/x.jpg null: 2>&1 >/dev/null)
listing=$("$MTOOL" netcache list -define netcache:dir=$C)
check "lower size: least recent (a/x) evicted first" grep -q "evict $MNT/a/x.jpg" <<<"$log"
check "lower size: most recent kept" grep -q "$MNT/b/x.jpg" <<<"$listing"
check "lower size: fits" [ "$("$MTOOL" netcache stats -define netcache:dir=$C | awk '/^Bytes:/{print $2}')" -le $keep ]
check "stats counts hits" [ "$("$MTOOL" netcache stats -define netcache:dir=$C | awk '/^Hits:/{print $2}')" -ge 1 ]

# A cache directory on FUSE is refused with a warning; the job succeeds.
err=$("$MTOOL" -define netcache:dir=$MNT/cache "$MNT/a/x.jpg" ppm:w.ppm 2>&1); rc=$?
check "cache dir on FUSE: refused" grep -q "network file system (fuse)" <<<"$err"
check "cache dir on FUSE: job succeeds" [ $rc = 0 ] && same_ppm w.ppm tref.ppm

# Faults: the worst case is no caching.
touch notadir
"$MTOOL" -define netcache:dir=$W/notadir "$MNT/a/x.jpg" ppm:e1.ppm 2>err1.txt; rc=$?
check "cache dir unusable: job succeeds" [ $rc = 0 ] && same_ppm e1.ppm tref.ppm
check "cache dir unusable: warned" grep -q "caching disabled" err1.txt
mkdir -p ro full
if mount -t tmpfs -o ro,size=1m tmpfs ro 2>/dev/null; then
  "$MTOOL" -define netcache:dir=$W/ro/c "$MNT/a/x.jpg" ppm:e2.ppm 2>/dev/null; rc=$?
  check "read-only cache dir: job succeeds" [ $rc = 0 ] && same_ppm e2.ppm tref.ppm
else skip "cannot mount a read-only tmpfs"; fi
if mount -t tmpfs -o size=64k tmpfs full 2>/dev/null; then
  $IM -size 600x600 plasma: -quality 98 src/a/big.jpg
  log=$("$MTOOL" -debug netcache -define netcache:dir=$W/full/c "$MNT/a/big.jpg" ppm:e3.ppm 2>&1); rc=$?
  "$MTOOL" src/a/big.jpg ppm:bigref.ppm
  check "disk full during copy: job succeeds" [ $rc = 0 ] && same_ppm e3.ppm bigref.ppm
  check "disk full during copy: logged" grep -q "No space left on device" <<<"$log"
  check "disk full during copy: no partial file" [ -z "$(ls -A full/c/tmp)" ]
else skip "cannot mount a small tmpfs (disk full test)"; fi
meta=$(grep -l "$MNT/b/x.jpg" $C/data/*/*.meta | head -1)
echo garbage > "$meta"; echo "garbage ~~" > $C/stats
log=$(nc "$MNT/b/x.jpg" ppm:c1.ppm)
check "corrupt entry: copied again" grep -q "^netcache: copy $MNT/b/x.jpg" <<<"$log"
check "corrupt entry: job succeeds" same_ppm c1.ppm bref.ppm
check "corrupt stats: counting again" \
  grep -q "^Copies: 1$" <<<"$("$MTOOL" netcache stats -define netcache:dir=$C)"

# Write cache: staged locally, then one sequential copy into place on the slow file system.
log=$("$MTOOL" -define netcache:dir=$C -define netcache:writecache=true src/b/x.jpg "$MNT/out.png" 2>&1); rc=$?
check "writecache: written" [ $rc = 0 ] && [ -s src/out.png ]
check "writecache: same pixels" [ "$(/usr/bin/identify -format %# src/out.png)" = "$(/usr/bin/identify -format %# src/b/x.jpg)" ]
check "writecache: nothing staged left" [ -z "$(ls -A $C/tmp)" ]
check "writecache: no partial files at the destination" [ -z "$(ls -A src | grep '^\.mtool')" ]
finish
