# Shared helpers for the shell test suites: counts checks and prints the closing line.
PASS=0; FAIL=0; SKIP=0; SKIP_WHY=""
ok()   { PASS=$((PASS+1)); }
bad()  { FAIL=$((FAIL+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
# skip WHY: a group of checks that cannot run here. The suite then ends SKIPPED (exit 77, which
# ctest reports as "Skipped" with this reason) unless something failed.
skip() { SKIP=$((SKIP+1)); SKIP_WHY="$SKIP_WHY; $*"; echo "SKIPPED: $*"; }
finish() {
  local extra=""; [ "$SKIP" != 0 ] && extra=", $SKIP skipped"
  echo "$PASS passed, $FAIL failed$extra"
  [ "$FAIL" = 0 ] || return 1
  if [ "$SKIP" != 0 ]; then echo "SKIPPED:${SKIP_WHY#;}"; return 77; fi
  return 0
}
IM=/usr/bin/convert

# A second, unprivileged user for the cases about other users' files (created here, removed on
# exit by drop_user). Sets OTHER (name), OTHER_UID, OTHER_GID; returns 1 when it cannot.
make_user() {
  [ "$(id -u)" = 0 ] && command -v useradd >/dev/null && command -v setpriv >/dev/null || return 1
  OTHER=mtt$$; OTHER=${OTHER:0:30}
  useradd -M -N -g nogroup -d /nonexistent -s /usr/sbin/nologin "$OTHER" >/dev/null 2>&1 || return 1
  OTHER_UID=$(id -u "$OTHER"); OTHER_GID=$(id -g "$OTHER")
}
drop_user() { [ -n "${OTHER:-}" ] && userdel "$OTHER" >/dev/null 2>&1; OTHER=""; }
# as_other CMD...: runs CMD as the second user.
as_other() { setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups -- "$@"; }
