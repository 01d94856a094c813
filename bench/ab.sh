#!/usr/bin/env bash
# Before and after on one machine in one run: bench/run.sh's concurrency
# sweep for two checkouts, interleaved ROUNDS times (so that whatever else
# the machine does moves both alike), then each one's median per
# concurrency. Each checkout runs its own bench/run.sh with its own
# migrations and binaries (built in CHECKOUT/build, or BUILD_DIR there).
#
#   git worktree add /tmp/before <rev> && cmake -S /tmp/before -B /tmp/before/build ...
#   bench/ab.sh /tmp/before .
#
# Knobs (environment): ROUNDS=3 CONCURRENCY="256" DURATION=10 WARMUP=2;
# anything else bench/run.sh reads passes through (SKIP_BUILD=1 ...).
set -euo pipefail

(($# == 2)) || {
  echo "usage: bench/ab.sh BEFORE_CHECKOUT AFTER_CHECKOUT" >&2
  exit 2
}
BEFORE=$(cd "$1" && pwd) AFTER=$(cd "$2" && pwd)
export CONCURRENCY=${CONCURRENCY:-256} DURATION=${DURATION:-10}
export WARMUP=${WARMUP:-2} PHASES=sweep SETTLE_S=${SETTLE_S:-0}
ROUNDS=${ROUNDS:-3}
OUT=$(mktemp -d /tmp/saga-ab.XXXXXX)
trap 'rm -rf -- "$OUT"' EXIT

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  for side in before after; do
    dir=$BEFORE
    [[ $side == after ]] && dir=$AFTER
    echo "[$(date +%H:%M:%S)] round $round: $side" >&2
    BUILD_DIR=${BUILD_DIR:-$dir/build} "$dir/bench/run.sh" 2>/dev/null |
      awk -F'|' -v side="$side" -v round="$round" \
        '/^\| [0-9]+ \|/ { gsub(/ /, ""); print side, round, $2, $3, $11, $12 }' \
        >>"$OUT/rows"
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| C | side | sagas/s, each round | median | CPU ms/saga orchestrator/participant/postgres/loadgen, each round | WAL KiB/saga, each round |"
echo "|---:|---|---|---:|---|---|"
for c in $CONCURRENCY; do
  for side in before after; do
    rates=$(awk -v s="$side" -v c="$c" '$1 == s && $3 == c {print $4}' "$OUT/rows")
    cpus=$(awk -v s="$side" -v c="$c" '$1 == s && $3 == c {print $5}' "$OUT/rows")
    wals=$(awk -v s="$side" -v c="$c" '$1 == s && $3 == c {print $6}' "$OUT/rows")
    median=$(sort -n <<<"$rates" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
    echo "| $c | $side | $(paste -sd' ' <<<"$rates") | $median | $(paste -sd' ' <<<"$cpus") | $(paste -sd' ' <<<"$wals") |"
  done
done
