#!/usr/bin/env bash
# The tiered pixel cache from the command line: tier-forced runs give identical pixels, -debug
# cache reports per-tier counters, exhausted tiers / full disks / limits give ImageMagick's
# errors with no output and no spill file left, kill -9 leaves nothing that stays.
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d); trap 'umount "$W/small" 2>/dev/null; rm -rf "$W"' EXIT; cd "$W"
mkdir tmp
export MAGICK_TEMPORARY_PATH=$W/tmp
$IM -size 1200x900 gradient:red-blue -attenuate 0.3 +noise Gaussian in.jpg
$IM -size 3000x2000 plasma: -quality 95 big.jpg

sig() { /usr/bin/identify -format '%#' "$1" 2>/dev/null; }
no_spill_left() { [ -z "$(ls -A "$W/tmp")" ]; }

# Identical pixels whatever tier holds them; the chosen tier shows in -debug cache.
for job in "-sharpen 5x2" "-rotate 90" "-resize 50% -flip"; do
  "$MTOOL" in.jpg $job ref.png
  for tier in "memory 0:MAP" "memory 0 -limit map 0:DISK" "memory 256KiB:MAP"; do
    lim=${tier%%:*}; want=${tier##*:}
    err=$("$MTOOL" -debug cache -limit $lim in.jpg $job out.png 2>&1 >/dev/null)
    check "$job under -limit $lim: same pixels" [ "$(sig out.png)" = "$(sig ref.png)" ]
    check "$job under -limit $lim: $want tier used" \
      grep -qE "cache: tier $want +limit [0-9a-z]+ resident [0-9]+ peak [1-9][0-9]* tiles-in [0-9]+ tiles-out [1-9]" <<<"$err"
    check "$job under -limit $lim: no spill file left" no_spill_left
  done
done
# The bridge obeys the same limits (ImageMagick spills its own cache instead of exceeding them).
"$MTOOL" in.jpg -swirl 90 ref.png
"$MTOOL" -limit memory 0 -limit map 0 in.jpg -swirl 90 out.png
check "bridged operator under memory 0 / map 0: same pixels" [ "$(sig out.png)" = "$(sig ref.png)" ]
# ImageMagick's Fourier transforms write one channel per OpenMP section into shared rows; outside
# a memory cache the rows are copies and the channels overwrite each other (run to run).
$IM -seed 3 -size 640x480 plasma: -quality 90 fin.jpg
job="-fft -delete 1 -auto-level -evaluate log 10000"  # log shows the low bits the race changes
"$MTOOL" fin.jpg $job ref.png
"$MTOOL" fin.jpg -fft -ift ref2.png
same=0
for k in 1 2 3 4 5 6; do
  "$MTOOL" -limit memory 0 -limit map 0 fin.jpg $job out.png
  "$MTOOL" -limit memory 0 -limit map 0 fin.jpg -fft -ift out2.png
  [ "$(sig out.png)" = "$(sig ref.png)" ] && [ "$(sig out2.png)" = "$(sig ref2.png)" ] && same=$((same + 1))
done
check "-fft / -ift on a disk cache: the memory cache's pixels every time ($same of 6)" [ $same = 6 ]
# policy.xml resource limits, searched like ImageMagick (MAGICK_CONFIGURE_PATH first).
mkdir -p pol && printf '<policymap>\n  <policy domain="resource" name="memory" value="1MiB"/>\n</policymap>\n' > pol/policy.xml
err=$(MAGICK_CONFIGURE_PATH=$W/pol "$MTOOL" -debug cache in.jpg -sharpen 2 out.png 2>&1 >/dev/null)
check "policy.xml memory limit drives the tier manager" grep -q "cache: tier MEMORY limit 1048576 " <<<"$err"
check "policy.xml limit: spilled to MAP" grep -qE "cache: tier MAP .* tiles-out [1-9]" <<<"$err"
# Over the area limit an image lives on DISK, as ImageMagick keeps it (no error).
err=$("$MTOOL" -debug cache -limit area 10KP in.jpg -flip out.png 2>&1 >/dev/null); rc=$?
"$MTOOL" in.jpg -flip ref.png
check "area limit: succeeds with the same pixels" [ $rc = 0 ] && [ "$(sig out.png)" = "$(sig ref.png)" ]
check "area limit: pixels went to DISK" grep -qE "cache: tier DISK .* tiles-out [1-9]" <<<"$err"
check "-debug cache reports every tier" [ "$("$MTOOL" -debug cache in.jpg -flip out.png 2>&1 | grep -c '^cache: tier')" = 3 ]
out=$("$MTOOL" -monitor big.jpg -sharpen 2 out.png 2>mon.txt)
check "-monitor: rows reported on stderr" [ "$(tr '\r' '\n' < mon.txt | grep -c '^sharpen image\[big.jpg\]: [0-9]* of 2000')" -ge 10 ]
check "-monitor: stdout clean" [ -z "$out" ]
check "-debug cache keeps stdout clean" [ -z "$("$MTOOL" -debug cache in.jpg -flip out.png 2>/dev/null)" ]

expect() {  # expect RC 'stderr regex' args...
  local rc=$1 re=$2; shift 2
  local err; err=$("$MTOOL" "$@" 2>&1 >/dev/null); local got=$?
  if [ "$got" != "$rc" ] || ! grep -qE -- "$re" <<<"$err"; then bad "mtool $* -> rc=$got err=$err (want $rc /$re/)"; else ok; fi
}
rm -f out.png
expect 1 "cache resources exhausted \`in.jpg' @ error/cache.c/OpenPixelCache" \
  -limit memory 0 -limit map 0 -limit disk 64KiB in.jpg -sharpen 5x2 out.png
check "exhausted: no output" [ ! -e out.png ]
check "exhausted: no spill file left" no_spill_left
expect 1 "width or height exceeds limit \`in.jpg' @ error/cache.c/OpenPixelCache" -limit width 100 in.jpg out.png
expect 1 "time limit exceeded \`Operation canceled' @ fatal/cache.c/GetImagePixelCache" -limit time 0 in.jpg -flip out.png
expect 1 "list length exceeds limit" -limit list-length 2 in.jpg in.jpg in.jpg out.gif
check "limits: no output" [ ! -e out.png ] && [ ! -e out.gif ]
# A temporary path that is not a directory: ImageMagick's fallback, the current directory.
(cd "$W/tmp" && MAGICK_TEMPORARY_PATH=$W/nosuchdir "$MTOOL" -limit memory 0 -limit map 0 ../in.jpg -flip ../nsd.png)
check "missing MAGICK_TEMPORARY_PATH: falls back, same pixels" [ "$(sig nsd.png)" = "$(sig ref.png)" ]
check "missing MAGICK_TEMPORARY_PATH: nothing left in the current directory" no_spill_left
rm -f out.png
MAGICK_MEMORY_LIMIT=0 MAGICK_MAP_LIMIT=0 MAGICK_DISK_LIMIT=64KiB expect 1 "cache resources exhausted" in.jpg -flip out.png
check "MAGICK_*_LIMIT shown by -list resource" \
  grep -qE "Memory: (5MiB|5242880B)" <<<"$(MAGICK_MEMORY_LIMIT=5MiB "$MTOOL" -list resource)"

# A full disk under the spill file: ImageMagick-style error, nothing left behind.
mkdir small
if mount -t tmpfs -o size=512k tmpfs small 2>/dev/null; then
  MAGICK_TEMPORARY_PATH=$W/small expect 1 "No space left on device" -limit memory 0 -limit map 0 in.jpg -sharpen 5x2 out.png
  check "ENOSPC: no output" [ ! -e out.png ]
  check "ENOSPC: spill file gone" [ -z "$(ls -A small)" ]
  umount small
else
  skip "cannot mount a small tmpfs here (ENOSPC test)"
fi

# kill -9 in the middle of a spilled job: the unlinked spill file vanishes with the process;
# the staging directory is swept by the next mtool writing into the same directory.
"$MTOOL" -limit memory 1MiB big.jpg -sharpen 8x3 -rotate 90 killed.png & pid=$!
sleep 1; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
check "kill -9: no output" [ ! -e killed.png ]
check "kill -9: no spill file" no_spill_left
"$MTOOL" in.jpg -flip next.png
check "kill -9: stale staging directory swept" [ -z "$(ls -A . | grep '^\.mtool-')" ]
finish
