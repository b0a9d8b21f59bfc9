#!/usr/bin/env bash
# Prepares a Python virtualenv with NIST NBIS's WSQ codec (PyPI package `wsq`, which bundles
# NBIS's C code) under the cargo target dir, and prints the helper command the WSQ interop test
# reads from SPIDD_WSQ_NBIS. Progress goes to stderr; only the command goes to stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/wsq-venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import _wsq, PIL' 2>/dev/null; then
    echo "nbis-venv: creating $venv" >&2
    mkdir -p "$target"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "wsq==0.9" pillow >&2
fi
"$venv/bin/python" -c 'import _wsq, PIL' || {
    echo "nbis-venv: the NBIS wrapper (PyPI wsq) does not import" >&2
    exit 1
}
echo "$venv/bin/python $root/scripts/wsq_nbis.py"
