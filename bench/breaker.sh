#!/usr/bin/env bash
# The circuit breaker's targets, timed (README "Backpressure and circuit
# breaking"): runs saga-bench-breaker (bench/breaker_bench.cc) against its own
# PostgreSQL 15 (scripts/pg.sh, fsync off: the figures are about the breaker,
# not the disk) and prints one table and a verdict per target:
#
#   bench/breaker.sh                    # about 3 minutes
#   SCENARIOS="down" OUTAGE_S=30 bench/breaker.sh
#
# Scenarios: flaky (saga-email fails 50% of sends, 100 bookings, breaker on
# and off), slow (reserve_doctor always times out, 15 sagas, on and off),
# down (saga-doctor down OUTAGE_S seconds, 100 bookings).
# Knobs: BUILD_DIR=build, SKIP_BUILD=1, SCENARIOS, OUTAGE_S=30.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cmake --build "$BUILD_DIR" --target saga-bench-breaker saga-orchestrator \
    saga-patient saga-doctor saga-email >/dev/null
fi

# Under /tmp: as root the server runs as `postgres`, which cannot reach /root.
PG_DIR=$(mktemp -d /tmp/saga-breaker-pg.XXXXXX)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  "$ROOT/scripts/pg.sh" stop "$PG_DIR" >/dev/null || true
  rm -rf -- "$PG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_FSYNC=off "$ROOT/scripts/pg.sh" start "$PG_DIR" >/dev/null
# shellcheck source=/dev/null
source "$PG_DIR/env"

echo "machine: $(nproc) cores; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD_DIR/bin/saga-bench-breaker"
