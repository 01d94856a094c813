#!/usr/bin/env bash
# Runs the peer saga benchmark of bench/peers/ (DBOS Transact and Restate
# running the booking saga, see bench/peers/README.md) from a copy in DIR and
# prints Markdown rows for the table of bench/run.sh, with our rate at each
# concurrency as a ratio to the fastest peer at the same concurrency. Called by
# bench/run.sh when PEERS=1.
#
#   bench/peers.sh DIR DURATION "CONCURRENCIES" "C=OUR_SAGAS_PER_S .."
#
# Needs node + npm (npm ci fetches the versions pinned in
# bench/peers/package-lock.json; node_modules stays in DIR, never in the
# repository) and root for the peers' private network namespace. The peers
# start their own PostgreSQL; bench/run.sh measures pgbench on its own server.
set -euo pipefail

DIR=$1 DURATION=$2 CONCURRENCY=$3 OURS=$4
PEERS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/peers" && pwd)

mkdir -p "$DIR/src"
chmod 755 "$DIR"
tar -C "$PEERS_SRC" --exclude=./node_modules --exclude=./out -cf - . | tar -C "$DIR/src" -xf -
(
  cd "$DIR/src"
  echo "[peers] npm ci --ignore-scripts" >&2
  npm ci --ignore-scripts --no-audit --no-fund >"$DIR/npm.log" 2>&1
  echo "[peers] run.sh: DBOS and Restate, ${DURATION}s per run, C = $CONCURRENCY" >&2
  BENCH_TMP="$DIR/tmp" RESULTS_DIR="$DIR/results" DURATION="$DURATION" \
    CONCURRENCY="$CONCURRENCY" ./run.sh >"$DIR/run.log" 2>&1
  node summarize.js "$DIR/results" "$OURS"
)
