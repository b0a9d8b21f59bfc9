#!/usr/bin/env bash
# Builds the spidd Debian package with cargo-deb (installed if missing): builds of spidd,
# spidctl and spid-bio, then `cargo deb --no-build` on the daemon crate. Prints the .deb path as the last
# line of stdout. Honours CARGO_TARGET_DIR. SPIDD_DEB_PROFILE selects the cargo profile
# (default release, what kiosks get; CI checks the package from its dev build with
# SPIDD_DEB_PROFILE=dev to avoid a second full build — same files, same scripts).
# SPIDD_DEB_PREBUILT=1 packages the binaries already in the target dir without building.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "== installing cargo-deb" >&2
    cargo install --locked cargo-deb >&2
fi
echo "== $(cargo deb --version)" >&2

profile="${SPIDD_DEB_PROFILE:-release}"
if [ "${SPIDD_DEB_PREBUILT:-}" = 1 ]; then
    # The caller (scripts/test.sh) has just built the whole workspace in this profile. Building
    # only these binaries again would unify features differently and recompile half the tree,
    # then the test build would recompile it back.
    echo "== using the workspace's $profile binaries (spidd, spidctl, spid-bio)" >&2
else
    echo "== cargo build --profile $profile (spidd, spidctl, spid-bio)" >&2
    cargo build --profile "$profile" -p daemon --bin spidd --bin spidctl -p biometrics --bin spid-bio >&2
fi

# --no-build: cargo-deb would otherwise rebuild only the daemon crate's binaries and could
# package a stale spid-bio; the build above covers both.
echo "== cargo deb" >&2
# --strip: the release profile keeps line tables (debug = "line-tables-only"), which cargo-deb
# would otherwise ship; a packaged binary carries no debug info (lintian: unstripped-binary).
out=$(cargo deb -p daemon --no-build --strip --profile "$profile")
deb=$(printf '%s\n' "$out" | tail -n1)
if [ ! -f "$deb" ]; then
    echo "FAIL: cargo deb did not report a .deb path (output: $out)" >&2
    exit 1
fi
echo "$deb"
