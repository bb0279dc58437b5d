#!/usr/bin/env bash
# Installing like a real tool: `cmake --install` into a scratch DESTDIR (binary, man page, the
# ImageMagick-named links in lib/mtool/bin, nothing else) and its uninstall target; the Debian
# package from `--target package` (contents, dependencies) installed into and removed from a
# scratch dpkg root.
set -u
BUILD=$(readlink -f "$1")
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
# cmake --install, then uninstall.
DESTDIR=$W/dest cmake --install "$BUILD" --prefix /opt/mt >/dev/null; rc=$?
check "cmake --install: exit 0" [ $rc = 0 ]
check "installs bin/mtool" test -x "$W/dest/opt/mt/bin/mtool"
check "installs the man page" test -s "$W/dest/opt/mt/share/man/man1/mtool.1"
for t in convert identify mogrify compare composite montage magick; do
  check "installs lib/mtool/bin/$t -> mtool" [ "$(readlink "$W/dest/opt/mt/lib/mtool/bin/$t")" = ../../../bin/mtool ]
done
check "the installed mtool runs" sh -c "'$W/dest/opt/mt/bin/mtool' -version | grep -q '^Version: mtool'"
check "an installed alias acts as its tool" sh -c "'$W/dest/opt/mt/lib/mtool/bin/identify' -format '%w' rose: | grep -qx 70"
check "no ImageMagick name installed into bin" sh -c "[ \"\$(ls '$W/dest/opt/mt/bin')\" = mtool ]"
(cd "$BUILD" && DESTDIR=$W/dest cmake --build . --target uninstall >/dev/null 2>&1); rc=$?
check "uninstall: exit 0 and no file left" sh -c "[ $rc = 0 ] && [ -z \"\$(find '$W/dest' -type f -o -type l)\" ]"
# The Debian package.
if ! command -v dpkg-deb >/dev/null || ! command -v dpkg-shlibdeps >/dev/null; then
  skip "dpkg-deb/dpkg-shlibdeps (dpkg-dev) missing: package not built"; finish; exit $?
fi
rm -f "$BUILD"/mtool_*.deb
(cd "$BUILD" && cmake --build . --target package >/dev/null 2>&1); rc=$?
deb=$(ls "$BUILD"/mtool_*.deb 2>/dev/null | head -1)
check "--target package builds a .deb (rc $rc)" test -s "$deb"
[ -s "$deb" ] || { finish; exit $?; }
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/mtool ./usr/share/man/man1/mtool.1 ./usr/lib/mtool/bin/convert ./usr/lib/mtool/bin/magick; do
  check "package holds $f" grep -q " $f\( \|$\)" <<<"$contents"
done
check "package installs nothing over ImageMagick (no /usr/bin/convert)" bash -c '! grep -q " ./usr/bin/convert" <<<"$1"' _ "$contents"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libmagickcore-6.q16-6 libmagickwand-6.q16-6 libjpeg62-turbo libpng16-16 libopenjp2-7 libssl3; do
  check "package depends on $lib ($depends)" grep -q "$lib" <<<"$depends"
done
if [ "$(id -u)" = 0 ]; then
  R=$W/root; mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"; touch "$R/var/lib/dpkg/status"
  dpkg --root="$R" --force-depends --force-script-chrootless -i "$deb" >/dev/null 2>&1; rc=$?
  check "dpkg -i into a scratch root: exit 0 (got $rc)" [ $rc = 0 ]
  check "dpkg -i: mtool installed there" test -x "$R/usr/bin/mtool"
  check "dpkg -i: the packaged mtool runs" sh -c "'$R/usr/bin/mtool' -version | grep -q '^Version: mtool'"
  dpkg --root="$R" --force-depends --force-script-chrootless -r mtool >/dev/null 2>&1; rc=$?
  check "dpkg -r: exit 0 and nothing of mtool left" sh -c "[ $rc = 0 ] && [ ! -e '$R/usr/bin/mtool' ] && [ ! -e '$R/usr/lib/mtool' ]"
else
  skip "not root: the package is not installed into a scratch root"
fi
finish
