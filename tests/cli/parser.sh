#!/bin/bash
# The option parsers against ImageMagick's: every parse-time check in the generated tables
# (src/exec/{convert,identify,mogrify}_lines.inc) is given an argument it must reject, and
# mtool's whole message (reason, argument, source line) must be ImageMagick's; every option
# with arguments is given too few; every letter gets an unknown option. A table entry that is
# wrong (a stale line, a check ImageMagick does not make, a wrong arity) fails here.
set -u
MTOOL=${1:?usage: parser.sh path/to/mtool}
MTOOL=$(readlink -f "$MTOOL")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; cd "$WORK" || exit 1
/usr/bin/convert -size 8x8 xc:gray in.png || exit 1

# A value each check kind rejects.
bad_value() {
  case $1 in Geometry|Scene|Number) echo abc ;; *) echo Nope ;; esac
}
# compare TOOL ARGS...: both tools' stderr and exit status, the tool names aside. Each tool runs
# in a directory of its own with a fresh in.png (mogrify rewrites it when nothing fails).
compare() {
  local tool=$1; shift
  rm -rf im mt; mkdir im mt; cp in.png im/; cp in.png mt/
  want=$(cd im && /usr/bin/$tool "$@" 2>&1 >/dev/null; echo "rc=$?")
  got=$(cd mt && "$MTOOL" $tool "$@" 2>&1 >/dev/null; echo "rc=$?")
  check "$tool $* as ImageMagick's ($got | $want)" [ "${got//mtool:/$tool:}" = "$want" ]
}
# Argument lists: the option's arguments before the checked one are ImageMagick-valid words.
for tool in convert identify mogrify; do
  inc=$SRC/src/exec/${tool}_lines.inc
  n=0
  while IFS="|" read -r sign opt arg kind; do
    [ "$arg" = 0 ] || continue   # later arguments need valid earlier ones; first ones cover the tables
    [ "$sign" = "*" ] && sign=-
    [ "$opt" = bench ] && continue  # ImageMagick's main loop runs -bench before the parser sees it
    v=$(bad_value "$kind")
    case $tool in
      convert) compare convert in.png "$sign$opt" "$v" x y out.png ;;
      identify) compare identify "$sign$opt" "$v" x y in.png ;;
      mogrify) compare mogrify "$sign$opt" "$v" x y in.png ;;
    esac
    n=$((n+1))
  done < <(sed -n "s/^CHECK(\"\([^\"]*\)\", '\(.\)', \([0-9]*\), \([A-Za-z]*\),.*/\2|\1|\3|\4/p" "$inc")
  check "$tool: the table has checks ($n)" [ "$n" -gt 10 ]
  # Too few arguments: the option last (identify, mogrify) or before the output (convert, whose
  # loop never parses its last word: two-argument options only).
  while IFS='|' read -r opt minus; do
    [ "$minus" -gt 0 ] || continue
    case $tool in
      convert) [ "$minus" -ge 2 ] && compare convert in.png "-$opt" out.png ;;
      identify) compare identify in.png "-$opt" ;;
      mogrify) compare mogrify in.png "-$opt" ;;
    esac
  done < <(sed -n 's/^ARITY("\([^"]*\)", \([0-9]*\), .*/\1|\2/p' "$inc" | grep -v '^-')
  for letter in a b c d e f g h i l m n o p q r s t u v w x z; do
    case $tool in
      convert) compare convert in.png "-${letter}zzunknown" out.png ;;
      *) compare $tool "-${letter}zzunknown" in.png ;;
    esac
  done
done
# mtool's own debug event joins ImageMagick's; an unknown one beside it is still rejected.
for tool in convert identify mogrify; do
  case $tool in
    convert) set -- in.png -debug netcache out.png ;;
    *) set -- -debug netcache in.png ;;
  esac
  got=$(cd mt && "$MTOOL" $tool "$@" 2>&1 >/dev/null; echo "rc=$?")
  check "$tool -debug netcache is accepted ($got)" [ "$got" = "rc=0" ]
done
compare convert in.png -debug netcache,bogus out.png
finish
