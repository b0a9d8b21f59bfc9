#!/usr/bin/env bash
# Outbox soak: the crash test (tests/tests/e2e/crash.rs) with many more enroll flows and
# kill -9s. Usage: scripts/soak-outbox.sh [N] [SEED]   (N defaults to 200, SEED to a random one)
# Every transaction answered CAPTURE_ENQUEUED/CAPTURE_PENDING must end at the fake SPID server
# exactly once; the test prints its seed so a failing run can be replayed.
set -euo pipefail
cd "$(dirname "$0")/.."
export SPIDD_CRASH_N="${1:-200}"
export SPIDD_CRASH_SEED="${2:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "soak: N=$SPIDD_CRASH_N seed=$SPIDD_CRASH_SEED"
cargo build -p daemon -p simulator --bins
cargo nextest run -p spidd-tests --no-capture --test-threads 1 \
    -E "test(no_transaction_is_lost_or_doubled_across_kill_9)" || {
    echo "soak FAILED: replay with scripts/soak-outbox.sh $SPIDD_CRASH_N $SPIDD_CRASH_SEED" >&2
    exit 1
}
