#!/usr/bin/env bash
# Measures what the outbox stream's design costs the write path: starts a
# private PostgreSQL (fsync on), runs build/bin/outbox_write_bench against
# it (schemas before / txid / lock, see the program's header) and prints its
# table. Extra arguments go to the bench, e.g. `--sagas 5000 --rounds 5`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

PG_DIR=$(mktemp -d /tmp/outbox-bench-pg.XXXXXX)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  "$ROOT/scripts/pg.sh" stop "$PG_DIR" >/dev/null || true
  rm -rf -- "$PG_DIR"
}
trap cleanup EXIT

"$ROOT/scripts/pg.sh" start "$PG_DIR" >/dev/null
# shellcheck source=/dev/null
source "$PG_DIR/env"
"$BUILD_DIR/bin/outbox_write_bench" \
  --migrations "$ROOT/migrations/orchestrator" "$@"
