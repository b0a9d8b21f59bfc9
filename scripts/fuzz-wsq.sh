#!/usr/bin/env bash
# Fuzzes the WSQ decoder (biometrics/fuzz, target wsq_decode) with cargo-fuzz for 10 minutes.
# Not part of CI. Needs the nightly toolchain; installs cargo-fuzz from crates.io if missing.
#
#   scripts/fuzz-wsq.sh                 # 600 s
#   FUZZ_SECONDS=60 scripts/fuzz-wsq.sh # shorter run
#
# The working corpus and any crash artifacts live under the cargo target dir; the tracked
# seeds in biometrics/fuzz/seeds/wsq_decode are only read.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-600}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/fuzz"
work="$CARGO_TARGET_DIR/wsq_decode"
corpus="$work/corpus"
artifacts="$work/artifacts/"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-wsq: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi
rustup run nightly rustc --version >/dev/null || {
    echo "fuzz-wsq: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
}

mkdir -p "$corpus" "$artifacts"
cp -n "$root"/biometrics/fuzz/seeds/wsq_decode/* "$corpus"/

cd "$root/biometrics"
# -rss_limit_mb: a header may legitimately ask for up to wsq::MAX_PIXELS (32 Mpx) of buffers.
cargo +nightly fuzz run wsq_decode "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 \
    -artifact_prefix="$artifacts" -print_final_stats=1
echo "fuzz-wsq: no crash in ${seconds}s; corpus in $corpus"
