#!/usr/bin/env bash
# The distributed pixel cache on one machine: starts two pixel servers on loopback with a shared
# secret, then runs a batch of images through them with a memory limit far below the images, so
# their pixels live on the servers; checks every result against a local run and stops the servers.
#
# Usage: samples/distributed.sh [MTOOL] [IMAGE...]
#   MTOOL   default: mtool on PATH, else build/mtool of this clone
#   IMAGE   inputs (default: three generated photo-like JPEGs)
#   PORTS="6668 6669" to choose the ports, OUT=DIR to keep the outputs.
#
# On real machines: put the same <policy domain="cache" name="shared-secret" .../> in every
# host's policy.xml, run `mtool -define distribute-cache:bind=ADDR -distribute-cache 6668` on each
# server (samples/mtool-distribute-cache.service is a systemd unit for it), and give clients
# -define registry:cache:hosts=host1:6668,host2:6668. The secret authenticates; it does not
# encrypt: keep the servers on a private network or behind an SSH/WireGuard tunnel.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MTOOL=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$MTOOL" ]; then
  if command -v mtool >/dev/null; then MTOOL=$(command -v mtool)
  elif [ -x "$here/../build/mtool" ]; then MTOOL=$here/../build/mtool
  else echo "distributed: no mtool on PATH and no build/mtool; build it first (bash .ci/setup)" >&2; exit 1
  fi
fi
read -r P1 P2 <<<"${PORTS:-6668 6669}"
work=$(mktemp -d)
out=${OUT:-$work/out}
mkdir -p "$out" "$work/cfg"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh random secret in a private policy.xml (MAGICK_CONFIGURE_PATH is merged with the
# system's policy, so its limits still apply).
"$here/dpc-policy.sh" "$work/cfg" >/dev/null
export MAGICK_CONFIGURE_PATH=$work/cfg

for p in "$P1" "$P2"; do
  "$MTOOL" -limit memory 256MiB -verbose -distribute-cache "$p" 2>"$work/server-$p.log" &
  pids+=($!)
done
for p in "$P1" "$P2"; do
  for _ in $(seq 100); do grep -q listening "$work/server-$p.log" && break; sleep 0.05; done
  grep -q listening "$work/server-$p.log" || { cat "$work/server-$p.log" >&2; exit 1; }
done

inputs=("$@")
if [ ${#inputs[@]} = 0 ]; then
  for i in 1 2 3; do
    "$MTOOL" -seed $i -size 1600x1200 plasma: -blur 0x1 -quality 90 "$work/photo$i.jpg"
    inputs+=("$work/photo$i.jpg")
  done
fi
hosts=127.0.0.1:$P1,127.0.0.1:$P2
n=0
for f in "${inputs[@]}"; do
  name=$(basename "${f%.*}")
  # 2 MiB of memory and no local map/disk: the pixels go to the two servers (one per image,
  # round-robin), as on a machine whose memory cannot hold the image.
  "$MTOOL" -limit memory 2MiB -limit map 0 -limit disk 0 -define registry:cache:hosts=$hosts \
    "$f" -sharpen 0x1.5 -quality 88 "$out/$name-sharp.jpg"
  "$MTOOL" "$f" -sharpen 0x1.5 -quality 88 "$work/$name-local.jpg"
  # Same pixels (the bytes may differ: under a small memory limit the JPEG writer skips
  # Huffman optimisation, as ImageMagick's does).
  ae=$("$MTOOL" compare -metric AE "$out/$name-sharp.jpg" "$work/$name-local.jpg" null: 2>&1 || true)
  [ "$ae" = 0 ] || { echo "distributed: $name differs from the local run (AE $ae)" >&2; exit 1; }
  n=$((n + 1))
done
c1=$(grep -c "opened" "$work/server-$P1.log" || true); c2=$(grep -c "opened" "$work/server-$P2.log" || true)
[ "$c1" -gt 0 ] && [ "$c2" -gt 0 ] || { echo "distributed: a server held no image ($c1, $c2)" >&2; exit 1; }
echo "distributed sample ok: $n images through $hosts ($c1 and $c2 image caches), identical to local runs ($MTOOL)"
