#!/usr/bin/env bash
# Installs, removes and purges a spidd .deb in a scratch root with dpkg --root and
# --force-script-chrootless: the real maintainer scripts run (with DPKG_ROOT set) and every
# effect they promise is checked, without touching this machine's own system.
# Usage: scripts/deb-scratch-install.sh path/to/spidd_*.deb
set -euo pipefail

deb="$1"
root=$(mktemp -d /tmp/spidd-deb-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc" "$root/usr/sbin"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"

# --force-depends: the scratch root has no systemd package registered (Depends: systemd).
# --force-script-chrootless: the scripts run from this machine with DPKG_ROOT=$root.
dpkg_root=(dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root)
fail=0
check() { # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what" >&2; fail=1; fi
}

echo "== install into $root"
"${dpkg_root[@]}" -i "$deb"
check "spidd installed" test -x "$root/usr/bin/spidd"
check "unit installed" test -f "$root/lib/systemd/system/spidd.service"
check "conffile installed" test -f "$root/etc/spidd/spidd.toml"
check "user spidd created" grep -q '^spidd:' "$root/etc/passwd"
check "group spidd-tech created" grep -q '^spidd-tech:' "$root/etc/group"
check "spidd in group dialout" grep -Eq '^dialout:.*[:,]spidd(,|$)' "$root/etc/group"
check "/var/lib/spidd created 0750" test "$(stat -c %a "$root/var/lib/spidd")" = 750
check "credentials dir 0700" test "$(stat -c %a "$root/etc/spidd/credentials")" = 700
check "service enabled" test -L "$root/etc/systemd/system/multi-user.target.wants/spidd.service"

# What a running station leaves behind, to see what remove keeps and purge deletes.
echo "outbox" >"$root/var/lib/spidd/spidd.db"
echo "secret" >"$root/etc/spidd/credentials/outbox-key"

echo "== remove"
"${dpkg_root[@]}" -r spidd
check "binary removed" test ! -e "$root/usr/bin/spidd"
check "unit removed" test ! -e "$root/lib/systemd/system/spidd.service"
check "outbox kept on remove" test -f "$root/var/lib/spidd/spidd.db"
check "config kept on remove" test -f "$root/etc/spidd/spidd.toml"
check "credentials kept on remove" test -f "$root/etc/spidd/credentials/outbox-key"

echo "== purge"
"${dpkg_root[@]}" -P spidd
check "outbox deleted on purge" test ! -e "$root/var/lib/spidd"
check "credentials deleted on purge" test ! -e "$root/etc/spidd/credentials"
check "config deleted on purge" test ! -e "$root/etc/spidd"
check "enablement deleted on purge" test ! -e "$root/etc/systemd/system/multi-user.target.wants/spidd.service"
check "dpkg forgot the package" sh -c "! dpkg --root='$root' -s spidd >/dev/null 2>&1"

[ "$fail" -eq 0 ] || { echo "FAIL: scratch-root install/remove/purge" >&2; exit 1; }
echo "== scratch-root install/remove/purge: OK"
