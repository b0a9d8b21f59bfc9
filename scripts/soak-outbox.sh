#!/usr/bin/env bash
# Outbox soak: the crash test (tests/tests/e2e/crash.rs) with many more flows and kill -9s.
# Usage: scripts/soak-outbox.sh [FLOWS (default 200)] [SEED (default: from the clock)]
# Every acknowledged transaction must reach the fake SPID server exactly once; a failure
# prints the seed, which replays the same kills and faults.
set -euo pipefail
cd "$(dirname "$0")/.."

flows="${1:-200}"
seed="${2:-$(date +%s)}"
case "$flows$seed" in *[!0-9]*) echo "usage: $0 [FLOWS] [SEED] (numbers)" >&2; exit 2 ;; esac

# The test starts the spidd and spid-sim binaries: build them, not only the test.
cargo build -p daemon --bin spidd -p simulator --bin spid-sim
SPIDD_CRASH_FLOWS="$flows" SPIDD_CRASH_SEED="$seed" \
    cargo nextest run -p spidd-tests --no-capture \
    -E 'test(=crash::killed_daemon_delivers_every_acknowledged_transaction_exactly_once)' \
    --slow-timeout 60s
