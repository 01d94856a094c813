#!/usr/bin/env bash
# Installs dependencies, builds, starts a private PostgreSQL cluster and runs
# every test with ctest against it. Extra arguments go to ctest, e.g.
# `scripts/test.sh -L unit` or `scripts/test.sh -R Decider`. Exits with
# ctest's status; the cluster is stopped and removed in any case.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"

# Under /tmp: as root the server runs as `postgres`, which cannot reach /root.
PG_DIR=$(mktemp -d /tmp/saga-test-pg.XXXXXX)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  "$ROOT/scripts/pg.sh" stop "$PG_DIR" >/dev/null || true
  rm -rf -- "$PG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fsync stays on: the crash tests rely on durability.
"$ROOT/scripts/pg.sh" start "$PG_DIR"
# shellcheck source=/dev/null
source "$PG_DIR/env"

status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "$@" || status=$?
exit "$status"
