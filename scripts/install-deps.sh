#!/usr/bin/env bash
# Installs the system packages the build and the tests need (Debian 12). Idempotent.
set -euo pipefail

# Packages the tests and builds use; each is checked first so that a prepared machine is untouched.
needed=()
for pkg in pkg-config ca-certificates; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || needed+=("$pkg")
done

if [ ${#needed[@]} -gt 0 ]; then
    echo "== installing ${needed[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${needed[@]}"
fi
