#!/usr/bin/env bash
# Runs every test of the workspace, the way CI does. Installs what the tests need on a fresh
# Debian 12 machine that has only the Rust toolchain (apt-get needs root; run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "== installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

echo "== building"
cargo build --workspace --all-targets

echo "== NBIS reference codec for the WSQ interop test"
SPIDD_WSQ_NBIS="$(scripts/nbis-venv.sh)"
export SPIDD_WSQ_NBIS

echo "== systemd unit, sysusers and tmpfiles"
scripts/check-systemd.sh

echo "== Debian package: contents, lintian, install/remove/purge in a scratch root"
# From the dev build above (same files and scripts as the release package, no second build).
SPIDD_DEB_PROFILE=dev SPIDD_DEB_PREBUILT=1 scripts/check-deb.sh

echo "== tests"
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
