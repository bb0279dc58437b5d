#!/usr/bin/env bash
# man/mtool.1 must document every tool and every native operator the binary reports.
set -u
MTOOL=$1; MAN=$2
. "$(dirname "$0")/lib.sh"
for tool in convert identify mogrify compare composite montage; do
  check "man page documents tool $tool" grep -q "^\.SS $tool" "$MAN"
done
for op in $("$MTOOL" -list operator | awk '$2=="native"{print $1}'); do
  esc=$(printf '%s' "$op" | sed 's/-/\\\\-/g')
  check "man page documents native operator $op" grep -q -- "^\.B $esc\$" "$MAN"
done
for opt in -limit -define -list -version -help -debug -monitor; do
  esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
  check "man page documents $opt" grep -q -- "$esc" "$MAN"
done
finish
