#!/usr/bin/env bash
# Safety: what an output does to what it replaces (devices, FIFOs, symlinks, hard links, other
# users' files), security policy on every writer, the staging sweep, and valid inputs that used
# to crash. Each case compares with /usr/bin/convert where the behaviour is ImageMagick's. Cases
# about other users run as a second, unprivileged user created and removed here. Nothing here
# writes to the real /dev/null through mtool: devices are private mknod'ed nodes.
set -u
MTOOL=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
W=$(mktemp -d); chmod 755 "$W"
BIN=""
cleanup() { jobs -p | xargs -r kill 2>/dev/null; drop_user; rm -rf "$W" ${BIN:+"$BIN"}; }
trap cleanup EXIT
cd "$W"
HAVE_USER=0; make_user && HAVE_USER=1
# A build the second user cannot reach (a clone in root's 0700 home): the cases run a copy.
if [ $HAVE_USER = 1 ] && ! as_other test -x "$MTOOL"; then
  BIN=$(mktemp -d) && chmod 755 "$BIN" && cp "$MTOOL" "$BIN/mtool" && chmod 755 "$BIN/mtool" && MTOOL=$BIN/mtool
fi
[ $HAVE_USER = 1 ] || skip "no second user (needs root, useradd and setpriv): other-user cases not run"
ROOT=0; [ "$(id -u)" = 0 ] && ROOT=1

st() { stat -c '%F %a %U:%G links=%h' "$1" 2>/dev/null || echo missing; }
same_content() { cmp -s "$1" "$2"; }
# run_both ARGS...: mtool and ImageMagick; sets RC_M RC_I and ERR_M ERR_I (client names made equal).
run_both() {
  ERR_M=$("$MTOOL" "$@" 2>&1 >/dev/null); RC_M=$?
  ERR_I=$($IM "$@" 2>&1 >/dev/null); RC_I=$?
  ERR_M=${ERR_M//mtool: /convert: }
}
$IM rose: ref.png; $IM rose: ref.gif; $IM rose: ref.jpg; $IM rose: ref.ppm; $IM rose: ref.tif
"$MTOOL" rose: mref.png; "$MTOOL" rose: mref.jpg; "$MTOOL" rose: mref.gif; "$MTOOL" rose: mref.ppm

# ---- 1. Non-regular targets are written, never replaced ------------------------------------
if [ $ROOT = 1 ]; then
  for fmt in png jpg gif ppm tif; do
    rm -f dev; mknod dev c 1 3
    "$MTOOL" rose: "$fmt:dev"; rc=$?
    check "$fmt to a character device: exit 0 (got $rc)" [ $rc = 0 ]
    check "$fmt to a character device: still a character device" [ "$(stat -c %F dev)" = "character special file" ]
    rm -f dev; mknod dev c 1 3
    "$MTOOL" rose: -write "$fmt:dev" -negate m.png
    check "-write $fmt to a character device keeps it" [ "$(stat -c %F dev)" = "character special file" ]
  done
  rm -f dev
  check "no staging left beside a device" sh -c '! ls -a | grep -q "^\.mtool-"'
else
  skip "not root: mknod device cases not run"
fi
for fmt in png ppm gif; do
  rm -f fifo got; mkfifo fifo
  (timeout 20 cat fifo > got) & reader=$!
  timeout 20 "$MTOOL" rose: "$fmt:fifo"; rc=$?
  wait $reader
  check "$fmt to a FIFO: exit 0 (got $rc)" [ $rc = 0 ]
  check "$fmt to a FIFO: still a FIFO" [ "$(stat -c %F fifo)" = "fifo" ]
  check "$fmt to a FIFO: the reader got the whole image" same_content got "mref.$fmt"
done
rm -f fifo got
# A FIFO as input is read once (native codecs open a file twice: the second open waited for a
# writer that was gone, for ever).
for fmt in jpg png; do
  $IM rose: -resize 400% "fin.$fmt"
  rm -f fifo; mkfifo fifo
  (timeout 20 cat "fin.$fmt" > fifo) & writer=$!
  timeout 20 "$MTOOL" fifo -negate "fout.$fmt"; rc=$?
  wait $writer
  "$MTOOL" "fin.$fmt" -negate "fref.$fmt"
  check "$fmt from a FIFO: exit 0 (got $rc)" [ $rc = 0 ]
  check "$fmt from a FIFO: the file's pixels" [ "$(/usr/bin/compare -metric AE "fout.$fmt" "fref.$fmt" null: 2>&1)" = 0 ]
done
rm -f fifo fin.* fout.* fref.*
# /dev/stdout is a symlink in the real /dev that a broken build would replace: these cases run
# in a private mount namespace with a private /dev.
private_dev() {  # private_dev 'shell commands'
  unshare -m bash -c 'mount -t tmpfs -o size=1m,mode=755 tmpfs /dev && mknod -m 666 /dev/null c 1 3 &&
    ln -s /proc/self/fd /dev/fd && for n in 0:stdin 1:stdout 2:stderr; do ln -s /proc/self/fd/${n%%:*} /dev/${n#*:}; done &&
    '"$1"
}
if [ $ROOT = 1 ] && private_dev true 2>/dev/null; then
  for fmt in png gif ppm; do
    private_dev "'$MTOOL' rose: $fmt:/dev/stdout > so.$fmt; [ -L /dev/stdout ]"; rc=$?
    check "$fmt to /dev/stdout redirected to a file: exit 0, /dev/stdout still a link (rc $rc)" [ $rc = 0 ]
    check "$fmt to /dev/stdout redirected to a file gets the image" same_content so.$fmt mref.$fmt
  done
else
  skip "no private mount namespace (unshare -m): /dev/stdout cases not run"
fi
for t in png:/proc/self/fd/1 ppm:/proc/self/fd/1; do
  "$MTOOL" rose: $t 2>/dev/null | cat > sp.m; rm_=${PIPESTATUS[0]}
  $IM rose: $t 2>/dev/null | cat > sp.i; ri=${PIPESTATUS[0]}
  check "$t to a pipe: exit as ImageMagick ($rm_ vs $ri)" [ $rm_ = $ri ]
  check "$t to a pipe: same bytes as ImageMagick" same_content sp.m sp.i
done
"$MTOOL" rose: png:/proc/self/fd/7 7>fd7.png
check "/proc/self/fd/7 gets the image" same_content fd7.png mref.png
check "/proc/self/fd/7 stays a regular file, not a link" [ "$(stat -c %F fd7.png)" = "regular file" ]
run_both rose: png:/dev/stdout
check "/dev/stdout through a pipe: same exit as ImageMagick ($RC_M vs $RC_I)" [ $RC_M = $RC_I ]

# ---- 2. Replacing a file keeps what it was ---------------------------------------------------
mkdir -p d2/other; cd d2
for fmt in png gif jpg tif; do
  echo old > "real.$fmt"; ln -sf "real.$fmt" "link.$fmt"
  "$MTOOL" rose: "link.$fmt"
  check "$fmt through a symlink: link kept" [ -L "link.$fmt" ]
  check "$fmt through a symlink: target written" sh -c "/usr/bin/identify real.$fmt >/dev/null 2>&1"
  echo old > "other/t.$fmt"; ln -sf "other/t.$fmt" "far.$fmt"
  "$MTOOL" rose: "far.$fmt"
  check "$fmt through a symlink to another dir: link kept, target written" \
    sh -c "[ -L far.$fmt ] && /usr/bin/identify other/t.$fmt >/dev/null 2>&1"
  check "$fmt: no staging left in either dir" sh -c '! ls -a . other | grep -q "^\.mtool-"'
  rm -f "gone.$fmt"; ln -sf "gone.$fmt" "dangling.$fmt"
  run_both rose: "dangling.$fmt"
  check "$fmt to a dangling symlink: exit as ImageMagick ($RC_M vs $RC_I)" [ $RC_M = $RC_I ]
  check "$fmt to a dangling symlink: link kept, its target created only as ImageMagick does" \
    sh -c "[ -L dangling.$fmt ] && { [ $RC_I = 0 ] && [ -s gone.$fmt ] || [ $RC_I != 0 ] && [ ! -e gone.$fmt ]; }"
  echo old > "h1.$fmt"; ln -f "h1.$fmt" "h2.$fmt"; ino=$(stat -c %i "h1.$fmt")
  "$MTOOL" rose: "h1.$fmt"
  check "$fmt over a hard link: same inode, both names see the image" \
    sh -c "[ $ino = \$(stat -c %i h1.$fmt) ] && [ \$(stat -c %h h2.$fmt) = 2 ] && cmp -s h1.$fmt h2.$fmt && /usr/bin/identify h2.$fmt >/dev/null"
done
rm -f missing_dir_link.png; ln -s nodir/x.png missing_dir_link.png
run_both rose: missing_dir_link.png
check "dangling symlink into a missing dir: exit as ImageMagick ($RC_M vs $RC_I)" [ $RC_M = $RC_I ]
check "dangling symlink into a missing dir: message as ImageMagick" [ "$ERR_M" = "$ERR_I" ]
mkdir -p adir
run_both rose: adir
check "a directory as target: exit as ImageMagick ($RC_M vs $RC_I)" [ $RC_M = $RC_I ]
check "a directory as target: message as ImageMagick ($ERR_M | $ERR_I)" [ "$ERR_M" = "$ERR_I" ]
run_both rose: nodir/out.png
check "a missing directory: message as ImageMagick" [ "$ERR_M" = "$ERR_I" ]
echo old > mode.png; chmod 0640 mode.png; chgrp daemon mode.png 2>/dev/null
before=$(st mode.png); "$MTOOL" rose: mode.png
check "0640 file keeps mode and group ($before -> $(st mode.png))" [ "$before" = "$(st mode.png)" ]
cd "$W"

if [ $HAVE_USER = 1 ]; then
  mkdir -p u; chmod 755 u; cd u
  echo old > theirs.png; chown "$OTHER_UID:$OTHER_GID" theirs.png; chmod 0600 theirs.png
  before=$(st theirs.png); "$MTOOL" rose: theirs.png
  check "root writing another user's 0600 file keeps mode and owner ($before -> $(st theirs.png))" \
    [ "$before" = "$(st theirs.png)" ]
  check "root writing another user's 0600 file writes the image" cmp -s theirs.png ../mref.png
  # The other user: a read-only file of theirs in a directory they can write.
  mkdir -p mine; chown "$OTHER_UID" mine
  for fmt in png gif; do
    echo old > "mine/ro.$fmt"; chown "$OTHER_UID" "mine/ro.$fmt"; chmod 0444 "mine/ro.$fmt"
    em=$(as_other "$MTOOL" rose: "mine/ro.$fmt" 2>&1); rm=$?
    ei=$(as_other $IM rose: "mine/ro.$fmt" 2>&1); ri=$?
    check "$fmt: read-only file of a non-root user: exit as ImageMagick ($rm vs $ri)" [ $rm = $ri ]
    em=${em//mtool:/convert:}
    check "$fmt: read-only file of a non-root user: message as ImageMagick" [ "$em" = "$ei" ]
    check "$fmt: read-only file left alone" [ "$(cat "mine/ro.$fmt")" = old ]
  done
  # A writable file of theirs in a directory they cannot write: written in place, as IM does.
  mkdir -p locked; echo old > locked/w.png; chown "$OTHER_UID" locked/w.png; chmod 0644 locked/w.png
  as_other "$MTOOL" rose: locked/w.png; rc=$?
  check "writable file in a read-only directory: written in place (rc $rc)" \
    sh -c "[ $rc = 0 ] && cmp -s locked/w.png ../mref.png && [ \$(stat -c %U locked/w.png) = $OTHER ]"
  # Sticky, world-writable directory: the kernel's protected_symlinks/protected_regular rules
  # apply to ImageMagick's open; mtool must refuse exactly where it is refused.
  mkdir -p sticky; chmod 1777 sticky
  as_other ln -s target.png sticky/their-link.png
  run_both rose: sticky/their-link.png
  check "root and another user's dangling link in a sticky dir: exit as ImageMagick ($RC_M vs $RC_I)" [ $RC_M = $RC_I ]
  check "root and another user's dangling link in a sticky dir: message as ImageMagick" [ "$ERR_M" = "$ERR_I" ]
  rm -f sticky/target.png
  as_other sh -c 'echo old > sticky/their-file.png'
  run_both rose: sticky/their-file.png
  check "root and another user's file in a sticky dir: exit as ImageMagick ($RC_M vs $RC_I)" [ $RC_M = $RC_I ]
  cd "$W"
fi

# ---- 3. Policy holds on every writer, against the user's path --------------------------------
mkdir -p pol out
cat > pol/policy.xml <<EOF
<policymap>
  <policy domain="path" rights="none" pattern="$W/out/exact.*"/>
</policymap>
EOF
for fmt in gif png jpg tif bmp; do
  rm -f out/*
  P=MAGICK_CONFIGURE_PATH=$W/pol
  em=$(env $P "$MTOOL" rose: "$W/out/exact.$fmt" 2>&1); rm_=$?
  ei=$(env $P $IM rose: "$W/out/exact.$fmt" 2>&1); ri=$?
  check "path policy on $fmt output: exit as ImageMagick ($rm_ vs $ri)" [ $rm_ = $ri ]
  check "path policy on $fmt output: nothing written" [ ! -e "$W/out/exact.$fmt" ]
  check "path policy on $fmt output: message names the user's path, not a stage ($em)" \
    bash -c 'grep -qF "security policy \`$1'"'"'" <<<"$2" && ! grep -q mtool- <<<"$2"' _ "$W/out/exact.$fmt" "$em"
  for w in -write +write; do
    em=$(env $P "$MTOOL" rose: $w "$W/out/exact.$fmt" -negate m.png 2>&1); rm_=$?
    ei=$(env $P $IM rose: $w "$W/out/exact.$fmt" -negate i.png 2>&1); ri=$?
    check "path policy on $w $fmt: exit as ImageMagick ($rm_ vs $ri)" [ $rm_ = $ri ]
    check "path policy on $w $fmt: nothing written" [ ! -e "$W/out/exact.$fmt" ]
  done
done
for rights in none write; do
  printf '<policymap>\n  <policy domain="coder" rights="%s" pattern="JPEG"/>\n</policymap>\n' $rights > pol/policy.xml
  for target in x.jpg x.jpeg JPG:x JPEG:x jpg:y.png jpeg:y.png; do
    rm -f x.jpg x.jpeg x y.png
    env MAGICK_CONFIGURE_PATH=$W/pol "$MTOOL" rose: "$target" 2>/dev/null; rm_=$?
    env MAGICK_CONFIGURE_PATH=$W/pol $IM rose: "$target" 2>/dev/null; ri=$?
    check "coder policy $rights JPEG, writing $target: exit as ImageMagick ($rm_ vs $ri)" [ $rm_ = $ri ]
  done
  env MAGICK_CONFIGURE_PATH=$W/pol "$MTOOL" ref.jpg m.png 2>/dev/null; rm_=$?
  env MAGICK_CONFIGURE_PATH=$W/pol $IM ref.jpg i.png 2>/dev/null; ri=$?
  check "coder policy $rights JPEG, reading a .jpg: exit as ImageMagick ($rm_ vs $ri)" [ $rm_ = $ri ]
done

# ---- 4. The stale-staging sweep removes only dead stages of this user --------------------------
mkdir -p sw; cd sw
# A live writer in another PID namespace: its pid means nothing here, but it holds its lock.
mkdir .mtool-999999-live; : > .mtool-999999-live/.lock; echo work > .mtool-999999-live/out.png
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(60)' \
  .mtool-999999-live/.lock & holder=$!
sleep 0.2
mkdir .mtool-999998-dead; : > .mtool-999998-dead/.lock
"$MTOOL" rose: x.png
check "a live stage (lock held, pid unknown here) survives the sweep" [ -f .mtool-999999-live/out.png ]
check "a dead stage of this user is swept" [ ! -e .mtool-999998-dead ]
kill $holder 2>/dev/null; wait $holder 2>/dev/null
if [ $HAVE_USER = 1 ]; then
  mkdir .mtool-999997-theirs; : > .mtool-999997-theirs/.lock; chown -R "$OTHER_UID" .mtool-999997-theirs
  "$MTOOL" rose: y.png
  check "another user's dead stage is not touched" [ -d .mtool-999997-theirs ]
fi
# A stage removed under a running write: the write fails (exit 1), no output appears.
"$MTOOL" -size 3000x3000 plasma: -quality 95 big.jpg 2>/dev/null
( for i in $(seq 1 4000); do d=$(ls -d .mtool-* 2>/dev/null | grep -v theirs | head -1); [ -n "$d" ] && { rm -rf "$d"; break; }; sleep 0.005; done ) &
remover=$!
"$MTOOL" big.jpg -quality 0 gone.png 2>/dev/null; rc=$?
wait $remover
check "a stage removed mid-write: exit 1 (got $rc)" [ $rc = 1 ]
check "a stage removed mid-write: no output" [ ! -e gone.png ]
cd "$W"

# ---- 5. The network cache trusts no one ----------------------------------------------------
# PPM originals: a planted or corrupted copy of the same size still decodes, so a cache that
# served it would show other pixels.
mkdir -p slow; $IM -size 200x150 plasma: slow/orig.ppm; $IM -size 200x150 gradient:blue-yellow slow/evil.ppm
"$MTOOL" slow/orig.ppm ppm:want.ppm
NC="-define netcache:paths=$W/slow"
# plant DIR: as the current user, writes an entry for slow/orig.ppm whose .meta matches the
# original (path, size, mtime, inode, device and the SHA-256 of the planted bytes: all public).
plant() {
  python3 - "$1" "$W/slow/orig.ppm" "$W/slow/evil.ppm" <<'PY'
import hashlib, os, sys
d, orig, evil = sys.argv[1:]
p = os.path.realpath(orig); st = os.stat(p); key = hashlib.sha256(p.encode()).hexdigest()
b = os.path.join(d, "data", key[:2]); os.makedirs(b, exist_ok=True)
data = open(evil, "rb").read()[:st.st_size].ljust(st.st_size, b"\0")
open(os.path.join(b, key), "wb").write(data)
open(os.path.join(b, key + ".meta"), "w").write("mtool-netcache 2\n%s\n%d %d %d %d\nsha256 %s\n" % (
    p, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, hashlib.sha256(data).hexdigest()))
print(os.path.join(b, key))
PY
}
nc_run() {  # nc_run DIR out.ppm [more args]: a cached read of slow/orig.ppm (20 s at most)
  local d=$1 out=$2; shift 2
  timeout 20 "$MTOOL" -debug netcache -define netcache:dir="$d" $NC "$@" slow/orig.ppm ppm:"$out" 2>&1
}
# A cache directory that is writable by others is refused; the original is read.
mkdir -p c_open; chmod 0777 c_open
log=$(nc_run c_open o1.ppm); rc=$?
check "cache dir writable by others: refused with a warning" grep -q "writable by others" <<<"$log"
check "cache dir writable by others: job succeeds with the original's pixels" sh -c "[ $rc = 0 ] && cmp -s o1.ppm want.ppm"
check "cache dir writable by others: nothing cached" [ ! -e c_open/data ]
# netcache:dir through a symlink to a private directory: never opened up.
mkdir -p private; chmod 0700 private; ln -sfn private c_link
nc_run c_link o2.ppm >/dev/null
check "netcache:dir symlink to a 0700 dir: stays 0700 ($(stat -c %a private))" [ "$(stat -c %a private)" = 700 ]
check "netcache:dir symlink: the cache works (copy made)" [ -d private/data ]
# Corrupted copy (same size, other bytes): not served.
C=$W/c_own
nc_run $C o3.ppm >/dev/null
data=$(find $C/data -type f ! -name '*.*' | head -1)
printf 'XXXXXXXX' | dd of="$data" bs=1 seek=2000 conv=notrunc 2>/dev/null
log=$(nc_run $C o4.ppm)
check "corrupted copy: not served" sh -c "cmp -s o4.ppm want.ppm"
check "corrupted copy: detected and copied again" grep -q "corrupt or untrusted copy" <<<"$log"
# A private original is cached private.
chmod 0600 slow/orig.ppm; rm -rf $C; nc_run $C o5.ppm >/dev/null
data=$(find $C/data -type f ! -name '*.*' | head -1)
check "0600 original: the copy is 0600 ($(stat -c %a "$data"))" [ "$(stat -c %a "$data")" = 600 ]
chmod 0644 slow/orig.ppm
# Two lock names that are one inode (a planted hard link): no self-deadlock.
rm -rf $C; nc_run $C o6.ppm >/dev/null
lock=$(ls $C/data/*/*.lock | head -1); rm -f $C/stats.lock; ln "$lock" $C/stats.lock
touch slow/orig.ppm; nc_run $C o7.ppm >/dev/null; rc=$?
check "stats.lock hard-linked to an entry lock: no deadlock (rc $rc)" [ $rc = 0 ]
check "stats.lock hard-linked to an entry lock: right pixels" cmp -s o7.ppm want.ppm
if [ $HAVE_USER = 1 ]; then
  chmod 755 slow; chmod 644 slow/*.ppm
  # Another user pre-creates the cache directory and plants an entry.
  mkdir -p c_theirs; chown "$OTHER_UID:$OTHER_GID" c_theirs; chmod 0775 c_theirs
  as_other bash -c "$(declare -f plant); W=$W plant $W/c_theirs" >/dev/null
  log=$(nc_run c_theirs o8.ppm); rc=$?
  check "cache dir of another user: refused with a warning" grep -q "belongs to another user" <<<"$log"
  check "cache dir of another user: the original's pixels, not the planted ones" sh -c "[ $rc = 0 ] && cmp -s o8.ppm want.ppm"
  # Our own group-writable cache: another user of the group plants an entry and symlinked locks.
  rm -rf $C; nc_run $C o9.ppm >/dev/null; chgrp -R "$OTHER_GID" $C; chmod -R g+w $C/data; chmod g+w $C
  find $C/data -name '*.meta' -delete; find $C/data -type f ! -name '*.lock' -delete
  planted=$(as_other bash -c "$(declare -f plant); W=$W plant $C")
  check "test setup: the other user planted an entry" [ -n "$planted" ]
  echo secret > secret; chmod 0600 secret
  as_other ln -sf "$W/secret" "$C/stats.lock.new" 2>/dev/null
  rm -f $C/stats.lock; as_other ln -s "$W/secret" "$C/stats.lock"
  lock="$planted.lock"; rm -f "$lock"; as_other ln -s "$W/secret" "$lock"
  log=$(nc_run $C o10.ppm); rc=$?
  check "planted entry in a group cache: not trusted (rc $rc)" sh -c "[ $rc = 0 ] && cmp -s o10.ppm want.ppm"
  check "symlinked lock files: the private file's mode is unchanged ($(stat -c %a secret))" [ "$(stat -c %a secret)" = 600 ]
  check "symlinked lock files: the private file is unchanged" [ "$(cat secret)" = secret ]
  # netcache:shared=group trusts the group's entries, but never beyond the original's access.
  rm -rf $C; mkdir -p $C; chgrp "$OTHER_GID" $C; chmod 2775 $C
  chmod 0600 slow/orig.ppm
  nc_run $C o11.ppm -define netcache:shared=group >/dev/null
  mkdir -p theirs_out; chown "$OTHER_UID" theirs_out
  log=$(as_other timeout 20 "$MTOOL" -debug netcache -define netcache:dir=$C -define netcache:shared=group $NC \
          slow/orig.ppm ppm:$W/theirs_out/o12.ppm 2>&1); rm_=$?
  ei=$(as_other $IM slow/orig.ppm ppm:$W/theirs_out/o13.ppm 2>&1); ri=$?
  check "shared group cache: a user who cannot read the original gets ImageMagick's error ($rm_ vs $ri)" \
    sh -c "[ $rm_ = $ri ] && [ ! -s $W/theirs_out/o12.ppm ]"
  check "shared group cache: no hit for a user who cannot read the original" bash -c '! grep -q "^netcache: hit" <<<"$1"' _ "$log"
  chmod 0644 slow/orig.ppm
else
  skip "no second user: planted netcache entries not tested"
fi

# ---- 6. Valid inputs that crashed ----------------------------------------------------------------
for spec in "-size 1000x1000 gradient:red-blue" "-size 900x700 gradient:red-blue -depth 16" \
            "-size 800x600 gradient: -colorspace Gray" "-size 700x500 gradient:red-blue -alpha set -channel A -evaluate set 50% +channel" \
            "-size 1000x800 plasma: -colors 64"; do
  $IM $spec -interlace PNG il.png
  for lim in "" "-limit memory 1MiB" "-limit memory 0" "-limit memory 0 -limit map 0"; do
    "$MTOOL" identify $lim -limit thread 2 il.png > m.txt 2>&1; rc=$?
    check "identify interlaced [$spec] $lim: exit 0 (got $rc)" [ $rc = 0 ]
    rm -f m.png; "$MTOOL" $lim -limit thread 2 il.png m.png; rc=$?
    $IM il.png i.png
    check "convert interlaced [$spec] $lim: same pixels as ImageMagick (rc $rc)" \
      sh -c "[ $rc = 0 ] && [ \"\$(/usr/bin/compare -metric AE m.png i.png null: 2>&1)\" = 0 ]"
  done
done
for bg in Gold "rgb(10,20,30)" "#336699" none; do
  rm -f m.png i.png
  "$MTOOL" montage -background "$bg" rose: rose: m.png 2>/dev/null; rc=$?
  /usr/bin/montage -background "$bg" rose: rose: i.png 2>/dev/null
  check "montage -background $bg: exit 0 (got $rc)" [ $rc = 0 ]
  check "montage -background $bg: same as ImageMagick" sh -c '[ "$(/usr/bin/compare -metric AE m.png i.png null: 2>&1)" = 0 ]'
done
run_both -size 10x10 xc:white -background nosuchcolor -extent 20x20 m.png
check "unknown -background: exit as ImageMagick ($RC_M vs $RC_I)" [ $RC_M = $RC_I ]

# ---- 7. identify reads headers where ImageMagick pings -------------------------------------------
python3 - <<'PY'
import struct, zlib
w, h = 16000, 8000   # a PNG bomb: 128 MP of zeros in 125 KB
c = zlib.compressobj(9); row = b"\0" * (w + 1)
raw = b"".join(c.compress(row) for _ in range(h)) + c.flush()
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open("bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                             chunk(b"IDAT", raw) + chunk(b"IEND", b""))
PY
"$MTOOL" -size 1000x1000 xc:gray -scale 1600% -quality 50 big16k.jpg
for args in "bomb.png" "-format %w:%h:%z:%m\n bomb.png" "big16k.jpg" "-format %w:%h:%Q:%[colorspace]\n big16k.jpg"; do
  /usr/bin/time -o rss.txt -f "%e %M" "$MTOOL" identify $args > id.out; out=$(tail -1 rss.txt)
  secs=${out%% *}; kb=${out##* }
  check "identify $args: headers only (${secs}s, ${kb} KB)" awk -v s="$secs" -v k="$kb" 'BEGIN{exit !(s < 1 && k < 60000)}'
  check "identify $args: exit 0 and output" test -s id.out
done
# The same text as ImageMagick's identify (timings aside), pinged or read, for every native layout.
$IM rose: -colors 16 pal.png; $IM rose: -colorspace gray g.png; $IM rose: -depth 16 r16.png; $IM rose: -alpha set ra.png
$IM rose: -interlace plane prog.jpg; $IM rose: -colorspace cmyk cmyk.jpg; $IM rose: r.jp2
for f in pal.png g.png r16.png ra.png il.png ref.jpg prog.jpg cmyk.jpg r.jp2 ref.gif ref.tif; do
  for fmt in "" "-quiet" "-format %w:%h:%z:%m:%[channels]:%[colorspace]:%b:%Q:%[exif:*]\n" "-format %k:%[mean]\n"; do
    a=$(/usr/bin/identify $fmt $f 2>&1 | sed 's/ [0-9.]*u [0-9:.]*$//'); b=$("$MTOOL" identify $fmt $f 2>&1 | sed 's/ [0-9.]*u [0-9:.]*$//')
    check "identify $fmt $f: as ImageMagick ($b | $a)" [ "$a" = "$b" ]
  done
done

# ---- 8. Limits that limit: impossible kernels get ImageMagick's error, kernel buffers count --------
for op in "-gaussian-blur 99999" "-gaussian-blur 99999x1" "-blur 0x99999" "-blur 99999x1" "-gaussian-blur 0x99999" \
          "-sharpen 0x99999" "-unsharp 0x99999" "-sharpen 99999"; do
  rm -f m.png i.png
  /usr/bin/time -o rss.txt -f "%M" "$MTOOL" -limit memory 16MiB rose: $op m.png 2>m.err; out=$(tail -1 rss.txt)
  $IM -limit memory 16MiB rose: $op i.png 2>i.err
  check "-limit memory 16MiB $op: ImageMagick's messages" cmp -s <(sed 's/^mtool:/convert:/' m.err) i.err
  check "-limit memory 16MiB $op: the same image as ImageMagick" sh -c '[ "$(/usr/bin/compare -metric AE m.png i.png null: 2>&1)" = 0 ]'
  check "-limit memory 16MiB $op: peak RSS $out KB < 48 MB" [ "$out" -lt 49152 ]
done
$IM -size 800x600 plasma: -seed 1 b800.png 2>/dev/null
for op in "-blur 0x600" "-unsharp 0x300" "-gaussian-blur 0x100" "-sharpen 0x60"; do
  /usr/bin/time -o rss.txt -f "%M" "$MTOOL" -limit memory 16MiB b800.png $op m.png; out=$(tail -1 rss.txt)
  check "800x600 $op under -limit memory 16MiB: peak RSS $out KB < 48 MB" [ "$out" -lt 49152 ]
done

# ---- 9. Warnings stay warnings, errors stay errors -----------------------------------------------
$IM rose: -resize 400% -quality 90 dbase.jpg; $IM rose: -resize 400% -interlace JPEG dprog.jpg
python3 "$HERE/gen_damaged.py" damaged dbase.jpg dprog.jpg
check "damaged inputs generated ($(ls damaged | wc -l))" [ "$(ls damaged | wc -l)" -ge 20 ]
for f in damaged/*; do
  for tool in convert identify; do
    if [ $tool = convert ]; then margs=("$f" m.png); iargs=("$f" i.png); icmd=$IM; else margs=(identify "$f"); iargs=("$f"); icmd=/usr/bin/identify; fi
    rm -f m.png i.png
    em=$("$MTOOL" "${margs[@]}" 2>&1 >/dev/null); rm_=$?
    ei=$($icmd "${iargs[@]}" 2>&1 >/dev/null); ri=$?
    em=$(sed -e 's/^mtool:/convert:/' -e 's/m\.png/OUT/' <<<"$em"); ei=$(sed -e 's/^identify:/convert:/' -e 's/i\.png/OUT/' <<<"$ei")
    check "$tool $f: exit as ImageMagick ($rm_ vs $ri)" [ $rm_ = $ri ]
    case $f in
      *-hdr.*) check "$tool $f: first message as ImageMagick's" [ "${em%%$'\n'*}" = "${ei%%$'\n'*}" ] ;;
      *) check "$tool $f: messages as ImageMagick's ($em | $ei)" [ "$em" = "$ei" ] ;;
    esac
    if [ $tool = convert ] && [ $ri = 0 ]; then
      check "$f: the same pixels as ImageMagick" sh -c '[ "$(/usr/bin/compare -metric AE m.png i.png null: 2>&1)" = 0 ]'
    fi
  done
done
for args in "rose: -fill nosuchcolor -opaque red OUT" "rose: -fill nosuchcolor OUT" "-fill nosuchcolor rose: OUT" \
            "rose: rose: -fill nosuchcolor -append OUT" "rose: -stroke nosuchcolor OUT" "rose: -fill #12345 OUT" \
            "rose: -fill nosuchcolor -resize 50% -swirl 30 OUT" "rose: -background nosuchcolor OUT" \
            "-depth 0 rose: OUT" "rose: -depth 99 OUT" "rose: -depth -1 OUT" "rose: -depth 65 OUT" "rose: -resize 50% -depth 0 OUT"; do
  for ext in png jpg; do
    rm -f m.$ext i.$ext
    em=$("$MTOOL" ${args/OUT/m.$ext} 2>&1); rm_=$?
    ei=$($IM ${args/OUT/i.$ext} 2>&1); ri=$?
    em=$(sed -e 's/^mtool:/convert:/' -e "s/m\.$ext/OUT/" <<<"$em"); ei=$(sed -e "s/i\.$ext/OUT/" <<<"$ei")
    check "$args ($ext): exit and messages as ImageMagick ($rm_ $em | $ri $ei)" [ "$rm_ $em" = "$ri $ei" ]
    [ -e i.$ext ] && check "$args ($ext): the same image as ImageMagick" \
      sh -c "[ \"\$(/usr/bin/compare -metric AE m.$ext i.$ext null: 2>&1)\" = 0 ]"
  done
done
# A temporary directory that does not exist: ImageMagick falls back (to the current directory).
mkdir -p tmpfb && (cd tmpfb && $IM -size 300x300 gradient: -blur 0x1 ref.png)
for env in "MAGICK_TEMPORARY_PATH=/nonexistent/dir" "TMPDIR=/nonexistent/dir" "MAGICK_TEMPORARY_PATH=$W/ref.png"; do
  (cd tmpfb && env $env "$MTOOL" -limit memory 0 -limit map 0 -size 300x300 gradient: -blur 0x1 out.png); rc=$?
  check "$env with every pixel on disk: exit 0 (got $rc)" [ $rc = 0 ]
  check "$env: the same output" sh -c '[ "$(/usr/bin/compare -metric AE tmpfb/out.png tmpfb/ref.png null: 2>&1)" = 0 ]'
  check "$env: nothing left in the current directory" [ "$(ls -A tmpfb)" = "$(printf 'out.png\nref.png')" ]
done
# ImageMagick's own temporary files (the pixel cache of an mpr: image) never outlive the command.
mkdir -p mtmp; $IM rose: -resize 500x400! leak.jpg
for args in "leak.jpg -write mpr:a +delete mpr:a -flip OUT" "leak.jpg ( +clone -write mpr:b +delete ) OUT" \
            "leak.jpg -flip -write mpr:a +delete mpr:a OUT"; do
  MAGICK_TEMPORARY_PATH=$W/mtmp MAGICK_MEMORY_LIMIT=0 "$MTOOL" ${args/OUT/leak.png}; rc=$?
  check "MAGICK_MEMORY_LIMIT=0 $args: exit 0, no magick-* file left ($(ls mtmp | head -3))" sh -c "[ $rc = 0 ] && [ -z \"\$(ls -A mtmp)\" ]"
done

finish
