#!/usr/bin/env bash
# Installs dependencies, builds, checks the lock annotations with clang
# (scripts/thread-safety.sh; a finding stops the run like a build error),
# runs the fuzz targets briefly
# (scripts/fuzz.sh), starts a private PostgreSQL cluster and runs every test
# with ctest against it. Extra arguments go to ctest, e.g.
# `scripts/test.sh -L unit` or `scripts/test.sh -R Decider`. Exits with
# ctest's status; the cluster is stopped and removed in any case.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
"$ROOT/scripts/thread-safety.sh"

# A short libFuzzer run of each fuzz target (clang, ASan + UBSan, its own
# build dir); FUZZ_SECONDS=0 skips it. Its failure fails the run, after ctest.
# Its output is kept, to be shown again after ctest's when it failed.
fuzz_status=0
fuzz_log=$(mktemp /tmp/saga-fuzz-log.XXXXXX)
if [[ ${FUZZ_SECONDS:-20} -gt 0 ]]; then
  "$ROOT/scripts/fuzz.sh" "${FUZZ_SECONDS:-20}" 2>&1 | tee "$fuzz_log" ||
    fuzz_status=${PIPESTATUS[0]}
fi

# Under /tmp: as root the server runs as `postgres`, which cannot reach /root.
PG_DIR=$(mktemp -d /tmp/saga-test-pg.XXXXXX)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  "$ROOT/scripts/pg.sh" stop "$PG_DIR" >/dev/null || true
  rm -rf -- "$PG_DIR" "$fuzz_log"
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
if [[ $fuzz_status -ne 0 ]]; then
  echo "test.sh: scripts/fuzz.sh failed; the end of its output:" >&2
  tail -n 80 "$fuzz_log" >&2
  [[ $status -ne 0 ]] || status=$fuzz_status
fi
exit "$status"
