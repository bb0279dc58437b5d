#!/usr/bin/env bash
# The distributed pixel cache on loopback, against real ImageMagick both ways:
#  (a) /usr/bin/convert client + mtool -distribute-cache server,
#  (b) mtool client + /usr/bin/convert -distribute-cache server,
#  (c) mtool client + mtool server,
# for -negate and -sharpen on a 16-bit PNG, a CMYK JPEG and a palette PNG, and a 3-image
# sequence spread over two servers; every output identical to the local run (AE 0). Then gen 1
# against a scripted peer, the server's handling of hostile input (probe, 100,000-request fuzz
# with its RSS bounded, a connection flood), and the client's faults (server killed mid-job,
# a host down in a two-host list, a stalled server, wrong or missing secrets).
set -u
MTOOL=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
HERE=$(dirname "$(readlink -f "$0")")
PEER="python3 $HERE/dpc_peer.py"
W=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
command -v python3 >/dev/null || { skip "python3 (the scripted protocol peers) not installed"; finish; exit $?; }
SECRET=correct-horse-battery
policy() { bash "$HERE/../../samples/dpc-policy.sh" "$1" "$2"; }  # DIR SECRET
policy "$W/cfg" "$SECRET"
policy "$W/wrong" wrong-secret
mkdir -p "$W/none"
export MAGICK_CONFIGURE_PATH=$W/cfg
mkdir -p tmp
export MAGICK_TEMPORARY_PATH=$W/tmp

# Ports: a random block, so parallel runs and leftovers do not collide.
BASE=$((20000 + RANDOM % 30000))
port() { echo $((BASE + $1)); }
listening() { python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null; }
# start_mtool N LOG [ARGS...]: an mtool server on port N, waits for its "listening" line.
start_mtool() {
  local p; p=$(port "$1"); local log=$2; shift 2
  "$MTOOL" "$@" -verbose -distribute-cache "$p" 2>"$log" &
  LAST=$!; PIDS+=("$LAST")
  for _ in $(seq 100); do grep -q listening "$log" 2>/dev/null && return 0; sleep 0.05; done
  echo "mtool server on $p did not start:"; cat "$log"; return 1
}
start_im() {
  local p; p=$(port "$1")
  /usr/bin/convert -distribute-cache "$p" 2>"$W/im$1.log" &
  LAST=$!; PIDS+=("$LAST")
  for _ in $(seq 100); do listening "$p" && return 0; sleep 0.05; done
  echo "ImageMagick server on $p did not start"; return 1
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
same() { [ "$(/usr/bin/compare -metric AE "$1" "$2" null: 2>&1)" = 0 ]; }

$IM -size 300x200 plasma: -depth 16 in16.png
$IM -size 300x200 plasma:red-blue -colorspace CMYK -quality 92 cmyk.jpg
$IM -size 300x200 plasma:green-yellow -colors 16 PNG8:pal.png
$IM -size 280x200 gradient:red-blue in8.png
# Local references, with ImageMagick and with mtool.
for f in in16.png cmyk.jpg pal.png; do
  for op in "-negate" "-sharpen 5x2"; do
    tag=${f%%.*}_${op//[ -]/}
    $IM "$f" $op "ref_im_$tag.png"
    "$MTOOL" "$f" $op "ref_mt_$tag.png"
  done
done
$IM in16.png pal.png in8.png -sharpen 2x1 -append ref_im_seq.png
"$MTOOL" in16.png pal.png in8.png -sharpen 2x1 -append ref_mt_seq.png

IMLIM="-limit memory 100KiB -limit map 100KiB -limit disk 100KiB"
MTLIM="-limit memory 256KiB -limit map 0 -limit disk 0"

# ---- (a) ImageMagick client, mtool server --------------------------------------------------
start_mtool 0 srv0.log && S0=$LAST
start_mtool 1 srv1.log && S1=$LAST
H0=127.0.0.1:$(port 0); H1=127.0.0.1:$(port 1)
for f in in16.png cmyk.jpg pal.png; do
  for op in "-negate" "-sharpen 5x2"; do
    tag=${f%%.*}_${op//[ -]/}
    $IM $IMLIM -define registry:cache:hosts=$H0 -debug cache "$f" $op "a_$tag.png" 2>a.log
    check "(a) IM client, mtool server: $f $op ran" [ $? = 0 ]
    check "(a) $f $op used the distributed cache" grep -q "Distributed" a.log
    check "(a) $f $op identical to local ImageMagick" same "a_$tag.png" "ref_im_$tag.png"
  done
done
check "(a) the server saw CMYK (colorspace 12)" grep -q "colorspace 12" srv0.log
check "(a) the server saw a PseudoClass cache" grep -q "PseudoClass" srv0.log
n0=$(grep -c opened srv0.log); n1=$(grep -c opened srv1.log)
$IM $IMLIM -define registry:cache:hosts=$H0,$H1 in16.png pal.png in8.png -sharpen 2x1 -append a_seq.png
check "(a) sequence over two servers: identical" same a_seq.png ref_im_seq.png
check "(a) sequence: both servers held images" [ "$(grep -c opened srv0.log)" -gt "$n0" -a "$(grep -c opened srv1.log)" -gt "$n1" ]

# ---- (c) mtool client, mtool server ---------------------------------------------------------
# mtool_matrix LABEL HOST: mtool with its pixels on HOST, every input and op, against local mtool.
mtool_matrix() {
  local label=$1 host=$2 f op tag
  for f in in16.png cmyk.jpg pal.png; do
    for op in "-negate" "-sharpen 5x2"; do
      tag=${f%%.*}_${op//[ -]/}
      "$MTOOL" $MTLIM -define registry:cache:hosts=$host -debug cache "$f" $op "${label}_$tag.png" 2>"$label.log"
      check "($label) $f $op ran" [ $? = 0 ]
      check "($label) $f $op used the REMOTE tier" grep -q "tier REMOTE.*tiles-out [1-9]" "$label.log"
      check "($label) $f $op identical to local mtool" same "${label}_$tag.png" "ref_mt_$tag.png"
    done
  done
}
mtool_matrix c "$H0"
# Two threads evicting to and loading from the server at once, many times: a strip made
# resident twice (a race the unlocked remote I/O once had) shows up as wrong rows at strip edges.
racy=0
for i in $(seq 12); do
  MTOOL_DPC_TEST_WRITE_DELAY_MS=2 "$MTOOL" -limit memory 256KiB -limit map 0 -limit disk 0 -limit thread 2 -define registry:cache:hosts=$H0 \
    cmyk.jpg -sharpen 5x2 "race_$i.png" && same "race_$i.png" ref_mt_cmyk_sharpen5x2.png || racy=$((racy + 1))
done
check "(c) 12 two-thread remote runs all identical ($racy differ)" [ $racy = 0 ]
n0=$(grep -c opened srv0.log); n1=$(grep -c opened srv1.log)
"$MTOOL" $MTLIM -define registry:cache:hosts=$H0,$H1 in16.png pal.png in8.png -sharpen 2x1 -append c_seq.png
check "(c) sequence over two servers: identical" same c_seq.png ref_mt_seq.png
check "(c) sequence: both servers held images" [ "$(grep -c opened srv0.log)" -gt "$n0" -a "$(grep -c opened srv1.log)" -gt "$n1" ]
out=$("$MTOOL" -define registry:cache:hosts=$H0,$H1 -list resource)
check "-list resource names the remote hosts" grep -q "Remote: $H0, $H1" <<<"$out"

# SIGTERM with a session open: every session dropped, exit 0.
$PEER hold "$(port 0)" "$SECRET" >hold.out 2>&1 </dev/null &
H=$!; PIDS+=("$H")
for _ in $(seq 100); do grep -q held hold.out && break; sleep 0.05; done
stop "$S0"; rc=$?
check "SIGTERM: exit 0" [ $rc = 0 ]
check "SIGTERM: logged the stop, the open session dropped" grep -q "stopped (1 sessions dropped)" srv0.log
stop "$H"
stop "$S1"

# ---- (b) mtool client, ImageMagick server ---------------------------------------------------
if start_im 2 && I2=$LAST && start_im 3 && I3=$LAST; then
  H2=127.0.0.1:$(port 2); H3=127.0.0.1:$(port 3)
  mtool_matrix b "$H2"
  "$MTOOL" $MTLIM -define registry:cache:hosts=$H2,$H3 -debug cache in16.png pal.png in8.png -sharpen 2x1 -append b_seq.png 2>b.log
  check "(b) sequence over two ImageMagick servers: identical" same b_seq.png ref_mt_seq.png
  check "(b) sequence: both servers used" grep -q "remote store.*$H2" b.log
  check "(b) sequence: both servers used ($H3)" grep -q "remote store.*$H3" b.log
  # Wrong secret against ImageMagick's server.
  err=$(MAGICK_CONFIGURE_PATH=$W/wrong "$MTOOL" $MTLIM -define registry:cache:hosts=$H2 in16.png -negate bw.png 2>&1)
  check "(b) wrong secret: authentication failed naming the host" grep -q "authentication failed.*$H2\|$H2.*authentication failed" <<<"$err"
  check "(b) wrong secret: no output" [ ! -e bw.png ]
  stop "$I2"; stop "$I3"
else
  bad "ImageMagick's -distribute-cache server did not start"
fi

# ---- gen 1 ----------------------------------------------------------------------------------
start_mtool 4 srv4.log -define distribute-cache:protocol=1 && S4=$LAST
out=$($PEER probe "$(port 4)" "$SECRET" 1 2>&1)
check "gen 1: scripted client against the mtool server" [ $? = 0 ]
grep FAIL <<<"$out"
check "gen 1 server says so" grep -q "protocol gen 1" srv4.log
"$MTOOL" $MTLIM -define distribute-cache:protocol=1 -define registry:cache:hosts=127.0.0.1:$(port 4) in16.png -negate g1.png
check "gen 1: mtool client and server" same g1.png ref_mt_in16_negate.png
"$MTOOL" $MTLIM -define registry:cache:hosts=127.0.0.1:$(port 4) in16.png -negate g13.png 2>g13.err
rc=$?
check "gen 4 client against a gen 1 server fails cleanly" [ $rc = 1 -a ! -e g13.png ]
check "  naming the older protocol" grep -q "8-byte nonce.*protocol=3 or 1" g13.err
stop "$S4"

# ---- gen 3 (Debian's packages before deb12u16: SipHash key, plain payloads) ------------------
start_mtool 18 srv18.log -define distribute-cache:protocol=3 && S18=$LAST
out=$($PEER probe "$(port 18)" "$SECRET" 3 2>&1)
check "gen 3: scripted client against the mtool server" [ $? = 0 ]
grep FAIL <<<"$out"
check "gen 3 server says so" grep -q "protocol gen 3" srv18.log
"$MTOOL" $MTLIM -define distribute-cache:protocol=3 -define registry:cache:hosts=127.0.0.1:$(port 18) in16.png -sharpen 5x2 g3.png
check "gen 3: mtool client and server" same g3.png ref_mt_in16_sharpen5x2.png
stop "$S18"
# Mismatched generations are named, on both sides.
start_mtool 20 srv20.log && S20=$LAST
"$MTOOL" $MTLIM -define distribute-cache:protocol=3 -define registry:cache:hosts=127.0.0.1:$(port 20) in16.png -negate g34.png 2>g34.err
rc=$?
check "gen 3 client against a gen 4 server fails cleanly" [ $rc = 1 -a ! -e g34.png ]
check "  naming gen 4" grep -q "longer nonce.*protocol=4" g34.err
python3 -c "
import sys; sys.path.insert(0, '$HERE'); import dpc_peer as P
c = P.Client($(port 20), '$SECRET', 3); c.open(4, 4)" 2>/dev/null
for _ in $(seq 50); do grep -q "a gen 3 client" srv20.log && break; sleep 0.05; done
check "a gen 4 server names a gen 3 client" grep -q "a gen 3 client" srv20.log
stop "$S20"

# ---- gen 4 against a scripted server (sealing written from the description, in Python) -------
$PEER gen4-server "$(port 19)" "$SECRET" >peer19.out 2>&1 &
P19=$!; PIDS+=("$P19")
for _ in $(seq 100); do grep -q ready peer19.out && break; sleep 0.05; done
"$MTOOL" $MTLIM -define registry:cache:hosts=127.0.0.1:$(port 19) -debug cache in16.png -sharpen 5x2 g4p.png 2>g4p.log
check "gen 4: mtool client against a scripted gen 4 server" same g4p.png ref_mt_in16_sharpen5x2.png
check "gen 4: pixels went to that server" grep -q "tier REMOTE.*tiles-out [1-9]" g4p.log
stop "$P19"
# A reply with one flipped ciphertext bit: refused (exit 1, no output), never used.
$PEER gen4-server "$(port 19)" "$SECRET" tamper_reads >peer19.out 2>&1 &
P19=$!; PIDS+=("$P19")
for _ in $(seq 100); do grep -q ready peer19.out && break; sleep 0.05; done
err=$("$MTOOL" $MTLIM -define registry:cache:hosts=127.0.0.1:$(port 19) in16.png -sharpen 5x2 g4t.png 2>&1); rc=$?
check "gen 4: a tampered reply: exit 1, no output" [ $rc = 1 -a ! -e g4t.png ]
check "gen 4: a tampered reply: authentication failure reported" grep -q "payload authentication failed" <<<"$err"
stop "$P19"
$PEER gen1-server "$(port 5)" >peer5.out 2>&1 &
P5=$!; PIDS+=("$P5")
for _ in $(seq 100); do grep -q ready peer5.out && break; sleep 0.05; done
"$MTOOL" $MTLIM -define distribute-cache:protocol=1 -define registry:cache:hosts=127.0.0.1:$(port 5) \
  -debug cache in16.png -negate g1p.png 2>g1p.log
check "gen 1: mtool client against a scripted gen 1 server" same g1p.png ref_mt_in16_negate.png
check "gen 1: pixels went to that server" grep -q "tier REMOTE.*tiles-out [1-9]" g1p.log
stop "$P5"
# A server that desynchronises the stream (answers writes, over-long replies, junk after the
# open): the client notices, exit 1, no output; never a wrong image with exit 0.
for bad in ack_writes overlong_reads junk_after_open; do
  $PEER gen1-server "$(port 14)" $bad >peer14.out 2>&1 &
  P14=$!; PIDS+=("$P14")
  for _ in $(seq 100); do grep -q ready peer14.out && break; sleep 0.05; done
  err=$("$MTOOL" $MTLIM -define distribute-cache:protocol=1 -define registry:cache:hosts=127.0.0.1:$(port 14) \
    in16.png -negate bad_$bad.png 2>&1); rc=$?
  check "misbehaving server ($bad): exit 1, no output" [ $rc = 1 -a ! -e bad_$bad.png ]
  check "misbehaving server ($bad): protocol error reported" grep -q "protocol error" <<<"$err"
  stop "$P14"
done

# ---- the server under hostile input ---------------------------------------------------------
start_mtool 6 srv6.log -limit memory 8MiB -limit map 16MiB -limit disk 32MiB \
  -define distribute-cache:auth-timeout=1 -define distribute-cache:max-clients=40 && S6=$LAST
out=$($PEER probe "$(port 6)" "$SECRET" 4 2>&1)
check "probe: every protocol edge case as specified" [ $? = 0 ]
grep FAIL <<<"$out"
out=$($PEER fuzz "$(port 6)" "$SECRET" 100000 7 2>&1)
check "fuzz: 100,000 random and mutated requests sent" grep -q "sent 100000 requests" <<<"$out"
check "fuzz: server alive" kill -0 "$S6"
hwm=$(awk '/VmHWM/ {print $2}' /proc/"$S6"/status)
check "fuzz: server peak RSS ${hwm} kB under 64 MB (limits 8/16/32 MiB)" [ "${hwm:-999999}" -lt 65536 ]
check "fuzz: every refusal logged" [ "$(grep -c refused srv6.log)" -gt 1000 ]
# A flood of silent connections: over max-clients refused, the rest dropped after the auth timeout.
$PEER flood "$(port 6)" 100 >flood.out </dev/null &
F=$!; PIDS+=("$F")
sleep 1.5
check "flood: unauthenticated connections over the cap refused" grep -q "max-unauthenticated" srv6.log
sleep 1
check "flood: silent connections closed by the auth timeout" grep -q "handshake: timed out" srv6.log
kill "$F" 2>/dev/null; wait "$F" 2>/dev/null
# One key byte per connection does not extend the handshake: all closed by the 1 s deadline.
n=$(grep -c "handshake: timed out" srv6.log)
$PEER flood "$(port 6)" 10 1 >flood1.out </dev/null &
F=$!; PIDS+=("$F")
sleep 2.5
check "a trickled key gets no more than the auth timeout" [ $(($(grep -c "handshake: timed out" srv6.log) - n)) -ge 10 ]
kill "$F" 2>/dev/null; wait "$F" 2>/dev/null
sleep 0.2
"$MTOOL" $MTLIM -define registry:cache:hosts=127.0.0.1:$(port 6) in16.png -negate after.png
check "after fuzz and flood: a real job still served" same after.png ref_mt_in16_negate.png
# Server RSS bound under a real image larger than its memory limit: it spills.
$IM -size 1500x1000 plasma: -depth 16 big.png
"$MTOOL" big.png -negate bigref.png
"$MTOOL" $MTLIM -define registry:cache:hosts=127.0.0.1:$(port 6) big.png -negate bigr.png
check "server spills a 9 MB image past its 8 MiB memory limit: identical" same bigr.png bigref.png
stop "$S6"

# No secret: the server refuses to start.
out=$(MAGICK_CONFIGURE_PATH=$W/none "$MTOOL" -distribute-cache "$(port 7)" 2>&1); rc=$?
check "no shared secret: server exits 1" [ $rc = 1 ]
check "no shared secret: says so" grep -q "shared secret required" <<<"$out"
out=$(MAGICK_CONFIGURE_PATH=$W/none "$MTOOL" $MTLIM -define registry:cache:hosts=127.0.0.1:$(port 7) in16.png -negate ns.png 2>&1); rc=$?
check "no shared secret: client exits 1 saying so" [ $rc = 1 -a ! -e ns.png ]
grep -q "shared secret required" <<<"$out" || bad "client message without a secret: $out"

# ---- client faults --------------------------------------------------------------------------
start_mtool 8 srv8.log && S8=$LAST
H8=127.0.0.1:$(port 8)
# A host down in a two-host list: the job succeeds on the other, with a warning naming it.
err=$("$MTOOL" $MTLIM -define registry:cache:hosts=127.0.0.1:$(port 9),$H8 in16.png -negate two.png 2>&1); rc=$?
check "host down: job succeeds on the other host" [ $rc = 0 ] && check "host down: output right" same two.png ref_mt_in16_negate.png
check "host down: warning names it" grep -q "skipped \`127.0.0.1:$(port 9)'" <<<"$err"
# Wrong secret against mtool's server.
err=$(MAGICK_CONFIGURE_PATH=$W/wrong "$MTOOL" $MTLIM -define registry:cache:hosts=$H8 in16.png -negate w.png 2>&1); rc=$?
check "wrong secret: exit 1, no output" [ $rc = 1 -a ! -e w.png ]
check "wrong secret: authentication failed naming the host" grep -q "\`$H8': authentication failed" <<<"$err"
check "wrong secret: the server logged it" grep -q "authentication failed" srv8.log
# Server killed mid-job: exit 1, a clear message, no output, no temporary file left.
$IM -size 2000x1500 plasma: -depth 16 huge.png
# kill_when_serving SERVER_PID LOG SIGNAL: once the server has opened an image for the job.
kill_when_serving() {
  local n; n=$(grep -c opened "$2")
  for _ in $(seq 200); do [ "$(grep -c opened "$2")" -gt "$n" ] && break; sleep 0.02; done
  sleep 0.1; kill "-$3" "$1"
}
kill_when_serving "$S8" srv8.log 9 &
K=$!
err=$("$MTOOL" $MTLIM -define registry:cache:hosts=$H8 huge.png -sharpen 0x6 killed.png 2>&1); rc=$?
wait $K
check "server killed mid-job: exit 1" [ $rc = 1 ]
check "server killed mid-job: message names the host" grep -q "pixel cache \`$H8'" <<<"$err"
check "server killed mid-job: no output" [ ! -e killed.png ]
check "server killed mid-job: no temporary files" [ -z "$(ls -A tmp)" ]
ls -A . | grep -q "killed" && bad "a staged output was left: $(ls -A . | grep killed)"
# A server stopped (SIGSTOP) mid-job: the client gives up after its I/O timeout.
start_mtool 11 srv11.log && S11=$LAST
kill_when_serving "$S11" srv11.log STOP &
K=$!
t0=$(date +%s%N)
err=$("$MTOOL" $MTLIM -define distribute-cache:timeout=2 -define registry:cache:hosts=127.0.0.1:$(port 11) huge.png -sharpen 0x6 stopped.png 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
wait $K
check "server stopped mid-job: exit 1, no output" [ $rc = 1 -a ! -e stopped.png ]
check "server stopped mid-job: gave up in ${ms} ms (2 s timeout)" [ $ms -lt 12000 ]
check "server stopped mid-job: says timed out ($err)" grep -q "timed out" <<<"$err"
kill -CONT "$S11"; stop "$S11"
# A stalled server (answers the handshake, then nothing): times out within the configured time.
$PEER stall "$(port 9)" >peer9.out 2>&1 &
P9=$!; PIDS+=("$P9")
for _ in $(seq 100); do grep -q ready peer9.out && break; sleep 0.05; done
t0=$(date +%s%N)
err=$("$MTOOL" $MTLIM -define distribute-cache:timeout=2 -define registry:cache:hosts=127.0.0.1:$(port 9) in16.png -negate st.png 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "stalled server: exit 1" [ $rc = 1 -a ! -e st.png ]
check "stalled server: timed out in ${ms} ms (2 s configured)" [ $ms -lt 6000 ]
check "stalled server: says timed out" grep -q "timed out" <<<"$err"
stop "$P9"

# Binding: loopback by default, IPv6 on request.
start_mtool 10 srv10.log -define distribute-cache:bind=::1 && S10=$LAST
check "bind ::1 logged" grep -q "listening on \[::1\]" srv10.log
"$MTOOL" $MTLIM -define "registry:cache:hosts=[::1]:$(port 10)" in16.png -negate v6.png
check "IPv6 loopback server and client" same v6.png ref_mt_in16_negate.png
stop "$S10"
check "default bind is 127.0.0.1" grep -q "listening on 127.0.0.1:" srv8.log

# Idle sessions are closed after distribute-cache:idle-timeout; SIGINT stops the server too.
start_mtool 17 srv17.log -define distribute-cache:idle-timeout=1 && S17=$LAST
$PEER hold "$(port 17)" "$SECRET" >hold17.out 2>&1 </dev/null &
H17=$!; PIDS+=("$H17")
sleep 2
check "idle session closed after the idle timeout" grep -q "idle timeout" srv17.log
kill -INT "$S17"; wait "$S17"; rc=$?
check "SIGINT: exit 0 and logged" [ $rc = 0 ] && check "SIGINT: stop logged" grep -q "stopped" srv17.log
stop "$H17"

# The same server from `mtool convert` and from the magick name.
"$MTOOL" convert -distribute-cache "$(port 15)" 2>conv15.log &
C15=$!; PIDS+=("$C15")
for _ in $(seq 100); do grep -q listening conv15.log && break; sleep 0.05; done
check "mtool convert -distribute-cache serves" grep -q "listening on 127.0.0.1:$(port 15)" conv15.log
stop "$C15"
if [ -x "$(dirname "$MTOOL")/aliases/magick" ]; then
  "$(dirname "$MTOOL")/aliases/magick" -distribute-cache "$(port 16)" 2>mag16.log &
  C16=$!; PIDS+=("$C16")
  for _ in $(seq 100); do grep -q listening mag16.log && break; sleep 0.05; done
  check "magick -distribute-cache serves" grep -q "listening on 127.0.0.1:$(port 16)" mag16.log
  stop "$C16"
fi

# samples/distributed.sh as the README runs it (on ports of this run).
out=$(PORTS="$(port 12) $(port 13)" bash "$HERE/../../samples/distributed.sh" "$MTOOL" 2>&1)
check "samples/distributed.sh runs a batch through two servers" grep -q "distributed sample ok: 3 images" <<<"$out"
echo "$out" | tail -1

finish
