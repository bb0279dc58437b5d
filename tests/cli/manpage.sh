#!/usr/bin/env bash
# man/mtool.1 must document every tool, every native operator the binary reports, and each
# tool's options: every option ImageMagick's own tool lists in its usage text appears in that
# tool's section (regenerate with man/update-ops.sh when this fails).
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
for tool in convert identify mogrify montage composite compare; do
  section=$(awk -v t="Options of $tool" '$0 ~ "^\\.SS \"" t "\"" {f=1; next} /^\.S[SH] / {f=0} f' "$MAN")
  check "man page has the options of $tool" test -n "$section"
  missing=""
  for opt in $(/usr/bin/$tool -help | awk '/^  -/{print $1}'); do
    esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
    grep -q -- "\\\\fB$esc\\\\fR" <<<"$section" || missing="$missing $opt"
  done
  check "man page lists every option of $tool that ImageMagick's $tool lists (missing:$missing)" [ -z "$missing" ]
done
finish
