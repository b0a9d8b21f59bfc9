#!/usr/bin/env bash
# Fuzzes the ZhianTec packet codec (drivers/fuzz, target zhiantec_codec) with cargo-fuzz for
# 10 minutes. Not part of CI (a normal test runs the same body over pseudo-random streams).
# Needs the nightly toolchain; installs cargo-fuzz from crates.io if missing.
#
#   scripts/fuzz-zhiantec.sh                 # 600 s
#   FUZZ_SECONDS=60 scripts/fuzz-zhiantec.sh # shorter run
#
# The working corpus and any crash artifacts live under the cargo target dir; the tracked
# seeds in drivers/fuzz/seeds/zhiantec_codec are only read.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-600}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/fuzz"
work="$CARGO_TARGET_DIR/zhiantec_codec"
corpus="$work/corpus"
artifacts="$work/artifacts/"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-zhiantec: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi
rustup run nightly rustc --version >/dev/null || {
    echo "fuzz-zhiantec: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
}

mkdir -p "$corpus" "$artifacts"
cp -n "$root"/drivers/fuzz/seeds/zhiantec_codec/* "$corpus"/

cd "$root/drivers"
# Packets are at most 269 bytes; a few KiB hold a whole exchange with garbage around it.
cargo +nightly fuzz run zhiantec_codec "$corpus" -- \
    -max_total_time="$seconds" -max_len=8192 \
    -artifact_prefix="$artifacts" -print_final_stats=1
echo "fuzz-zhiantec: no crash in ${seconds}s; corpus in $corpus"
