#!/usr/bin/env bash
# A bulk repair at scale, measured by hand (not a test):
#
#   bench/bulk.sh               # 10,000 FAILED sagas, sagactl retry --parallel 8
#   N=1000 PARALLEL=16 bench/bulk.sh
#
# Starts its own PostgreSQL (fsync on, scripts/pg.sh) and two
# saga-bench-participant processes, then:
#   1. makes one FAILED keyed_booking saga for real against a participant
#      whose send_notification and release_reservation fail (retryably, so
#      the rollback gives up);
#   2. clones that saga (row and events) N times with fresh ids;
#   3. restarts the orchestrator against a participant that serves every
#      call (the outage is over)
#      and runs `sagactl retry --status FAILED --yes -o json` under a
#      pseudo-terminal (script(1)), so its progress bar draws as an operator
#      sees it;
#   4. checks one JSON line per saga, all "done", and waits until every saga
#      is COMPENSATED (SQL).
# Prints the wall time, the rate, the last progress frame and the outcome
# counts. Everything started is stopped by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD_DIR/bin
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
N=${N:-10000}
PARALLEL=${PARALLEL:-8}

# shellcheck source=bench/lib/bench_run.sh
source "$ROOT/bench/lib/bench_run.sh"
for binary in saga-orchestrator saga-bench-participant sagactl; do
  [[ -x $BIN/$binary ]] || die "$BIN/$binary not built"
done
command -v script >/dev/null || die "script(1) (bsdutils) is needed for the terminal"

bench_setup bulk
mkdir -p "$RUN_DIR/sagas"
cp "$ROOT/tests/testdata/keyed/keyed_booking.yaml" "$RUN_DIR/sagas/"

# Two participants: one that serves every call, and one whose notification
# and release of a reservation fail (the outage).
# Not run in a subshell, so that its PID is in PIDS and stopped at exit.
start_participant() {  # $1: name, $2: the variable for its address, then its flags
  local name=$1 line
  local -n address=$2
  shift 2
  "$BIN/saga-bench-participant" --listen 127.0.0.1:0 "$@" >"$RUN_DIR/$name.log" 2>&1 &
  PIDS+=($!)
  line=$(wait_for_line "$RUN_DIR/$name.log" 30 "listening on") || die "$name did not start"
  address=${line##* }
}
start_participant participant PARTICIPANT
start_participant broken BROKEN --retry-action send_notification \
  --retry-action release_reservation

ORCH_PID= ORCH_ADDR=
start_orchestrator() {  # $1: name, $2: the participants' address
  local name=$1 participant=$2 port=$((20000 + RANDOM % 20000))
  "$BIN/saga-orchestrator" --listen "127.0.0.1:$port" --db "$DSN" \
    --max-backlog 0 --circuit-breaker=false --definitions "$RUN_DIR/sagas" \
    --migrations "$ROOT/migrations/orchestrator" \
    --participant "patient=$participant" --participant "doctor=$participant" \
    --participant "email=$participant" >"$RUN_DIR/orchestrator-$name.log" 2>&1 &
  ORCH_PID=$!
  PIDS+=("$ORCH_PID")
  wait_for_line "$RUN_DIR/orchestrator-$name.log" 120 "listening on" "$ORCH_PID" >/dev/null ||
    die "saga-orchestrator did not serve (log: $RUN_DIR/orchestrator-$name.log)"
  ORCH_ADDR=127.0.0.1:$port
}
sagactl() { "$BIN/sagactl" --address "$ORCH_ADDR" "$@"; }

log "one FAILED saga: notifications and releases fail"
start_orchestrator outage "$BROKEN"
template=$(sagactl start keyed_booking --input \
  '{"patient_id":"p-1001","preferred_date":"2026-12-16","specialty":"cardiology"}')
sagactl await "$template" --expect FAILED --timeout 60s >/dev/null ||
  die "the template saga did not end FAILED"
stop_process "$ORCH_PID" 30

log "cloning it $N times"
sql "
  CREATE TEMP TABLE clone_ids AS
    SELECT gen_random_uuid()::text AS saga_id,
      now() - (g * interval '1 millisecond') AS created_at
    FROM generate_series(1, $N) g;
  INSERT INTO sagas (saga_id, saga_type, definition_version, status,
      current_step, error, input, last_seq, created_at, updated_at,
      current_attempt, business_key)
    SELECT c.saga_id, t.saga_type, t.definition_version, t.status,
      t.current_step, t.error, t.input, t.last_seq, c.created_at,
      c.created_at, t.current_attempt, t.business_key
    FROM clone_ids c, sagas t WHERE t.saga_id = '$template';
  INSERT INTO saga_events (saga_id, seq, type, step, attempt, data, at_ms, recorded_at)
    SELECT c.saga_id, e.seq, e.type, e.step, e.attempt, e.data, e.at_ms, e.recorded_at
    FROM clone_ids c, saga_events e WHERE e.saga_id = '$template';
  ANALYZE sagas; ANALYZE saga_events"
FAILED=$(sql "SELECT count(*) FROM sagas WHERE status = 'FAILED'")

log "the outage is over; sagactl retry over $FAILED FAILED sagas, --parallel $PARALLEL"
start_orchestrator repair "$PARTICIPANT"
start=$(date +%s.%N)
# script(1) gives sagactl a terminal (stderr draws the progress bar); stdout,
# the JSON lines, goes to a file.
script -q -e -c "$BIN/sagactl --address $ORCH_ADDR retry --status FAILED \
  --reason 'doctor service is back' --yes -o json --parallel $PARALLEL \
  >$RUN_DIR/results.jsonl" "$RUN_DIR/terminal.log" >/dev/null
end=$(date +%s.%N)
LINES=$(wc -l <"$RUN_DIR/results.jsonl")
DONE=$(grep -c '"outcome":"done"' "$RUN_DIR/results.jsonl" || true)
OUTCOMES=$(sed 's/.*"outcome":"\([a-z_]*\)".*/\1/' "$RUN_DIR/results.jsonl" | sort | uniq -c | tr -s ' ' | paste -sd, -)
# The last frames the progress bar drew (carriage returns split them).
FRAMES=$(tr '\r' '\n' <"$RUN_DIR/terminal.log" | sed 's/\x1b\[K//g' | grep -F '/' | tail -3)
deadline=$((SECONDS + 300))
until [[ $(sql "SELECT count(*) FROM sagas WHERE status = 'COMPENSATED'") -ge $FAILED ]]; do
  ((SECONDS < deadline)) || die "not every saga ended COMPENSATED"
  sleep 0.5
done
settled=$(date +%s.%N)
cat <<REPORT

bulk retry: $FAILED FAILED sagas, --parallel $PARALLEL, fsync on
sagactl wall time: $(awk "BEGIN {printf \"%.2f s\", $end - $start}") ($(awk "BEGIN {printf \"%.0f\", $FAILED / ($end - $start)}") sagas/s)
all COMPENSATED after: $(awk "BEGIN {printf \"%.2f s\", $settled - $start}")
result lines: $LINES ($DONE done; outcomes: $OUTCOMES)
progress bar, last frames:
$FRAMES
load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)
REPORT
[[ $LINES -eq $FAILED && $DONE -eq $FAILED ]] || die "expected $FAILED done lines"
