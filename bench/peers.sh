#!/usr/bin/env bash
# Runs the peer saga benchmark of ../shared/bench-peers (DBOS Transact and
# Restate, see its README) from a writable copy and prints Markdown rows for
# the table of bench/run.sh, with our best rate as a ratio to the fastest
# peer. Called by bench/run.sh when PEERS=1.
#
#   bench/peers.sh DIR DURATION "CONCURRENCIES" OUR_BEST_SAGAS_PER_S
#
# Needs node + npm (npm ci fetches the pinned packages; node_modules stays in
# DIR, never in the repository) and root for the peers' private network
# namespace. The peers start their own PostgreSQL; their pgbench is skipped
# (run.sh measures pgbench on its own server).
set -euo pipefail

DIR=$1 DURATION=$2 CONCURRENCY=$3 OURS=$4
PEERS_SRC=${PEERS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/bench-peers}
[[ -d $PEERS_SRC ]] || PEERS_SRC=/work/shared/bench-peers
[[ -f $PEERS_SRC/run-all.sh ]] || { echo "peers.sh: no bench-peers at $PEERS_SRC" >&2; exit 1; }

mkdir -p "$DIR"
cp -r "$PEERS_SRC/." "$DIR/src"
chmod -R u+w "$DIR/src"
chmod 755 "$DIR"
(
  cd "$DIR/src"
  echo "[peers] npm ci --ignore-scripts" >&2
  npm ci --ignore-scripts --no-audit --no-fund >"$DIR/npm.log" 2>&1
  echo "[peers] run-all.sh: DBOS and Restate, ${DURATION}s per run, C = $CONCURRENCY" >&2
  BENCH_TMP="$DIR/tmp" RESULTS_DIR="$DIR/results" DURATION="$DURATION" \
    CONCURRENCY="$CONCURRENCY" FAIL_CONCURRENCY="" SKIP_PGBENCH=1 \
    ./run-all.sh >"$DIR/run-all.log" 2>&1
)

node - "$DIR/results" "$OURS" <<'JS'
const fs = require('node:fs'), path = require('node:path');
const [dir, ours] = process.argv.slice(2);
const runs = fs.readdirSync(dir).filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')))
  .filter((r) => r.kind === 'saga')
  .sort((a, b) => a.label.localeCompare(b.label) || a.concurrency - b.concurrency);
const out = ['', '| peer (same run, ../shared/bench-peers) | C | sagas/s | p50 ms | p99 ms | errors |', '|---|---:|---:|---:|---:|---:|'];
let best = null;
for (const r of runs) {
  out.push(`| ${r.label} | ${r.concurrency} | ${r.sagas_per_s} | ${r.latency_ms.p50} | ${r.latency_ms.p99} | ${r.sagas_failed_requests + r.outcome_mismatches} |`);
  if (!best || r.sagas_per_s > best.sagas_per_s) best = r;
}
if (best) out.push('', `ours / fastest peer (${best.label}, C=${best.concurrency}): ${(ours / best.sagas_per_s).toFixed(2)}x`);
console.log(out.join('\n'));
JS
