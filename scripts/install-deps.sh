#!/usr/bin/env bash
# Installs the system packages the build and the tests need on Debian 12. Idempotent: a
# package already installed is left alone, and apt is not touched when nothing is missing.
set -euo pipefail

needed=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# libclang1-14: the V4L2 bindings under nokhwa (drivers::camera) run bindgen at build time.
for pkg in pkg-config ca-certificates libclang1-14; do
    have "$pkg" || needed+=("$pkg")
done
# The USB reader tests replay recorded and simulated USB sessions through the real rusb code
# under umockdev-run (Debian 12 ships 0.17.16: ioctl trees and usbmon pcap replay).
have umockdev || needed+=(umockdev)
# The WSQ interop test runs NIST NBIS through a Python virtualenv.
if ! command -v python3 >/dev/null 2>&1; then
    needed+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    needed+=(python3-venv)
fi

if [ ${#needed[@]} -gt 0 ]; then
    echo "== installing ${needed[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${needed[@]}"
fi
