#!/usr/bin/env bash
# Builds the .deb (scripts/build-deb.sh) and checks it: every expected file is in the archive,
# /etc/spidd/spidd.toml is a conffile, the maintainer scripts are there, and lintian reports no
# error (its warnings are printed only), and the package installs, removes and purges cleanly
# in a scratch root. Installs lintian with apt if needed.
set -euo pipefail

cd "$(dirname "$0")/.."

deb=$(scripts/build-deb.sh)
echo "== package: $deb"

expected=(
    ./usr/bin/spidd
    ./usr/bin/spidctl
    ./usr/bin/spid-bio
    ./lib/systemd/system/spidd.service
    ./lib/udev/rules.d/70-spidd.rules
    ./usr/lib/sysusers.d/spidd.conf
    ./usr/lib/tmpfiles.d/spidd.conf
    ./etc/spidd/spidd.toml
    ./usr/share/metainfo/io.github.spidd.metainfo.xml
    ./usr/share/doc/spidd/README.md
    ./usr/share/doc/spidd/copyright
    ./usr/share/doc/spidd/changelog.Debian.gz
)

echo "== dpkg-deb -c"
listing=$(dpkg-deb -c "$deb")
echo "$listing"
# Column 6 onwards is the path (a symlink line has " -> target" after it).
paths=$(printf '%s\n' "$listing" | awk '{ print $6 }')
fail=0
for p in "${expected[@]}"; do
    if ! printf '%s\n' "$paths" | grep -qxF "$p"; then
        echo "FAIL: $p is missing from $deb" >&2
        fail=1
    fi
done
for bin in ./usr/bin/spidd ./usr/bin/spidctl ./usr/bin/spid-bio; do
    if ! printf '%s\n' "$listing" | awk -v p="$bin" '$6 == p { print $1 }' | grep -q '^-rwxr-xr-x$'; then
        echo "FAIL: $bin is not mode 0755" >&2
        fail=1
    fi
done
[ "$fail" -eq 0 ] || exit 1

echo "== dpkg-deb -I"
dpkg-deb -I "$deb"
conffiles=$(dpkg-deb -I "$deb" conffiles 2>/dev/null || true)
if ! printf '%s\n' "$conffiles" | grep -qxF /etc/spidd/spidd.toml; then
    echo "FAIL: /etc/spidd/spidd.toml is not listed in conffiles (got: ${conffiles:-nothing})" >&2
    exit 1
fi
if [ "$(printf '%s\n' "$conffiles" | grep -cxF /etc/spidd/spidd.toml)" -ne 1 ]; then
    echo "FAIL: /etc/spidd/spidd.toml is listed more than once in conffiles" >&2
    exit 1
fi
for script in postinst prerm postrm; do
    if ! dpkg-deb -I "$deb" "$script" >/dev/null 2>&1; then
        echo "FAIL: maintainer script $script is missing from $deb" >&2
        exit 1
    fi
done
if ! dpkg-deb -f "$deb" Depends | grep -qw systemd; then
    echo "FAIL: Depends does not include systemd: $(dpkg-deb -f "$deb" Depends)" >&2
    exit 1
fi

if ! command -v lintian >/dev/null 2>&1; then
    echo "== installing lintian"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends lintian
fi
echo "== $(lintian --version)"
# lintian exits non-zero on errors only (its default --fail-on=error); warnings are printed.
# Running as root is fine here: lintian only unpacks the archive into a temporary directory.
if lintian --allow-root --info --fail-on error "$deb"; then
    echo "== lintian: no errors"
else
    echo "FAIL: lintian reported errors (above) for $deb" >&2
    exit 1
fi
echo "== install, remove and purge in a scratch root"
scripts/deb-scratch-install.sh "$deb"
echo "== check-deb: OK"
