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
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/wsq-venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import _wsq, PIL' 2>/dev/null; then
    echo "wsq-interop: creating $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "wsq==0.9" pillow
fi
"$venv/bin/python" -c 'import _wsq, PIL' || {
    echo "wsq-interop: the NBIS wrapper (PyPI wsq) does not import" >&2
    exit 1
}

export SPIDD_WSQ_NBIS="$venv/bin/python $root/scripts/wsq_nbis.py"
cd "$root"
cargo test -p biometrics --test wsq_interop -- --nocapture
if [[ "${1:-}" == "--bench" ]]; then
    cargo run --release -p biometrics --example wsq_bench
fi
