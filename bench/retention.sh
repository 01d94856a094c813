#!/usr/bin/env bash
# Retention under load, measured by hand (not a test):
#
#   bench/retention.sh          # 100,000 ended sagas, archive on
#   N=20000 ARCHIVE=0 bench/retention.sh
#
# Starts its own PostgreSQL (fsync on, scripts/pg.sh), saga-bench-participant
# and saga-orchestrator, then:
#   1. before: the booking saga under closed-loop load (CONCURRENCY, DURATION
#      seconds after WARMUP) without retention;
#   2. clones one COMPLETED saga of that run N times, ended ten days ago;
#   3. during: restarts the orchestrator with retention (sagas: 1d,
#      interval 1 s, batch 500, archive when ARCHIVE=1) and runs the same
#      load while the job prunes the N sagas; reports the pass's duration
#      (its log line) and checks that only the clones went;
#   4. after: the same load once more, the job idle.
# Prints sagas/s and p50/p99 of each load window, their ratios, the pass's
# time and the machine's load average. Everything started is stopped by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD_DIR/bin
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
N=${N:-100000}
ARCHIVE=${ARCHIVE:-1}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-16}

# shellcheck source=bench/lib/bench_run.sh
source "$ROOT/bench/lib/bench_run.sh"
for binary in saga-orchestrator saga-bench-load saga-bench-participant; do
  [[ -x $BIN/$binary ]] || die "$BIN/$binary not built"
done

bench_setup retention
mkdir -p "$RUN_DIR/sagas"
cp "$ROOT/sagas/appointment_booking.yaml" "$RUN_DIR/sagas/"

"$BIN/saga-bench-participant" --listen 127.0.0.1:0 >"$RUN_DIR/participant.log" 2>&1 &
PIDS+=($!)
line=$(wait_for_line "$RUN_DIR/participant.log" 30 "listening on") || die "participant did not start"
PARTICIPANT=${line##* }

ORCH_PID= ORCH_ADDR=
start_orchestrator() {  # $1: name, then extra flags
  local name=$1 port=$((20000 + RANDOM % 20000))
  shift
  "$BIN/saga-orchestrator" --listen "127.0.0.1:$port" --db "$DSN" \
    --max-backlog 0 --definitions "$RUN_DIR/sagas" \
    --migrations "$ROOT/migrations/orchestrator" \
    --participant "patient=$PARTICIPANT" --participant "doctor=$PARTICIPANT" \
    --participant "email=$PARTICIPANT" "$@" >"$RUN_DIR/orchestrator-$name.log" 2>&1 &
  ORCH_PID=$!
  PIDS+=("$ORCH_PID")
  wait_for_line "$RUN_DIR/orchestrator-$name.log" 120 "listening on" "$ORCH_PID" >/dev/null ||
    die "saga-orchestrator did not serve (log: $RUN_DIR/orchestrator-$name.log)"
  ORCH_ADDR=127.0.0.1:$port
}
load() {  # prints "sagas_per_s p50_ms p99_ms"
  local out
  out=$("$BIN/saga-bench-load" --target "$ORCH_ADDR" --mode closed -c "$CONCURRENCY" \
    --warmup "$WARMUP" --duration "$DURATION")
  awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}}
       END {print v["sagas_per_s"], v["p50_ms"], v["p99_ms"]}' <<<"$out"
}

start_orchestrator before
log "before: load without retention"
read -r BEFORE BEFORE_P50 BEFORE_P99 <<<"$(load)"
stop_process "$ORCH_PID" 30

log "cloning a COMPLETED saga $N times, ended ten days ago"
template=$(sql "SELECT saga_id FROM sagas WHERE status = 'COMPLETED' LIMIT 1")
[[ -n $template ]] || die "no COMPLETED saga to clone"
sql "
  CREATE TEMP TABLE clone_ids AS
    SELECT 'old-' || md5('clone' || g) AS saga_id FROM generate_series(1, $N) g;
  INSERT INTO sagas (saga_id, saga_type, definition_version, status,
      current_step, error, input, last_seq, created_at, updated_at, current_attempt)
    SELECT c.saga_id, t.saga_type, t.definition_version, t.status, t.current_step,
      t.error, t.input, t.last_seq, now() - interval '10 days',
      now() - interval '10 days', t.current_attempt
    FROM clone_ids c, sagas t WHERE t.saga_id = '$template';
  INSERT INTO saga_events (saga_id, seq, type, step, attempt, data, at_ms, recorded_at)
    SELECT c.saga_id, e.seq, e.type, e.step, e.attempt, e.data, e.at_ms, e.recorded_at
    FROM clone_ids c, saga_events e WHERE e.saga_id = '$template';
  ANALYZE sagas; ANALYZE saga_events"
TOTAL_BEFORE=$(sql "SELECT count(*) FROM sagas")
EVENTS_PER_SAGA=$(sql "SELECT count(*) FROM saga_events WHERE saga_id = '$template'")

cat >"$RUN_DIR/retention.yaml" <<YAML
retention:
  sagas: 1d
  interval_ms: 1000
  batch: 500
  archive: "$([[ $ARCHIVE == 1 ]] && echo "file:$RUN_DIR/archive")"
YAML
start_orchestrator during --config "$RUN_DIR/retention.yaml"
log "during: load while the job prunes $N sagas"
read -r DURING DURING_P50 DURING_P99 <<<"$(load)"
STILL_OLD=$(sql "SELECT count(*) FROM sagas WHERE saga_id LIKE 'old-%'")
pass=$(wait_for_line "$RUN_DIR/orchestrator-during.log" 1800 "retention: pruned" "$ORCH_PID") ||
  die "no retention pass logged"
log "after: load with the job idle"
read -r AFTER AFTER_P50 AFTER_P99 <<<"$(load)"

LEFT_OLD=$(sql "SELECT count(*) FROM sagas WHERE saga_id LIKE 'old-%'")
LEFT=$(sql "SELECT count(*) FROM sagas")
ARCHIVED=0
[[ $ARCHIVE != 1 ]] || ARCHIVED=$(zcat "$RUN_DIR"/archive/*.jsonl.gz | wc -l)
cat <<TABLE

retention: $N ended sagas of $EVENTS_PER_SAGA events, batch 500, archive=$ARCHIVE
load: closed loop, concurrency $CONCURRENCY, ${WARMUP}s warm-up + ${DURATION}s
| window | sagas/s | p50 ms | p99 ms | vs before |
| --- | --- | --- | --- | --- |
| before (no job) | $BEFORE | $BEFORE_P50 | $BEFORE_P99 | 100% |
| during (job pruning; $STILL_OLD of $N still there at the end of the window) | $DURING | $DURING_P50 | $DURING_P99 | $(awk "BEGIN {printf \"%.0f%%\", 100 * $DURING / $BEFORE}") |
| after (job idle) | $AFTER | $AFTER_P50 | $AFTER_P99 | $(awk "BEGIN {printf \"%.0f%%\", 100 * $AFTER / $BEFORE}") |
pass: ${pass#*retention: }
sagas: $TOTAL_BEFORE before, $LEFT after; clones left: $LEFT_OLD; archived lines: $ARCHIVED
load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)
TABLE
