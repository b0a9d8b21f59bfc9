#!/usr/bin/env bash
# Runs the WSQ interop test against NIST NBIS (PyPI package `wsq`, which bundles NBIS's WSQ C
# code built with -D__NBISLE__). Creates a venv under the cargo target dir on first use.
#
#   scripts/wsq-interop.sh            # venv + interop test
#   scripts/wsq-interop.sh --bench    # also the release-mode speed comparison example
#
# The test reads SPIDD_WSQ_NBIS (the helper command); this script sets it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPIDD_WSQ_NBIS="$("$root/scripts/nbis-venv.sh")"
export SPIDD_WSQ_NBIS
cd "$root"
cargo test -p biometrics --test wsq_interop -- --nocapture
if [[ "${1:-}" == "--bench" ]]; then
    cargo run --release -p biometrics --example wsq_bench
fi
