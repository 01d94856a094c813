#!/usr/bin/env bash
# The orchestrator benchmark, start to finish, in one command:
#
#   bench/run.sh            # about 5 minutes with the defaults
#   PEERS=1 bench/run.sh    # also DBOS and Restate (bench/peers/)
#
# It builds the binaries it needs, starts its own PostgreSQL 15 (fsync=on,
# synchronous_commit=on, scripts/pg.sh), one no-op participant process
# (saga-bench-participant) that serves patient, doctor and email, and
# saga-orchestrator on free ports, then measures, in this order:
#   1. the booking saga under closed-loop load at each CONCURRENCY (sagas/s,
#      p50/p99 start -> COMPLETED latency) with PostgreSQL's work per saga:
#      transitions (committed decisions), write commits (transaction ids
#      used), xact_commit (pg_stat_database, read-only ones included), and
#      CPU per saga by process; then a participant call alone, for the
#      overhead per step at the lowest concurrency;
#   2. pgbench's single-row INSERT TPS at PGBENCH_CLIENTS on the same server,
#      and with one client (the latency of one durable commit);
#   3. RSS per parked saga: a fresh orchestrator, PARK_N sagas of
#      bench_parked (bench/sagas) parked on a one-hour backoff;
#   4. restart: the parked sagas plus clones of one of them (due at once) up
#      to RESTART_N unfinished; the time from exec to the first participant
#      call and to "all loaded" (the orchestrator's recovery log line);
# and prints one table. Everything started is stopped by PID at the end.
#
# Knobs (environment): DURATION=10 WARMUP=2 CONCURRENCY="1 16 64 256"
#   PGBENCH_CLIENTS=64 PGBENCH_SECONDS=$DURATION PARK_N=20000
#   RESTART_N=100000 SETTLE_S=11 (wait for lazily published pg_stat counters)
#   ORCH_FLAGS="..." (extra saga-orchestrator flags) LOAD_FLAGS="..." (extra
#   saga-bench-load flags in the sweep, e.g. --await separate: StartSaga,
#   then AwaitSaga, instead of one StartSaga that waits) BUILD_DIR=build
#   SKIP_BUILD=1 KEEP=1 (keep the run directory: logs, PostgreSQL data)
#   PEERS=1 PEER_DURATION=$DURATION PEER_CONCURRENCY=$CONCURRENCY (needs npm
#   and root; our rate at each concurrency is printed as a ratio to the
#   fastest peer at the same one)
#   PHASES="sweep parallel pgbench park restart" (a subset runs only those;
#   parallel: bench_parallel, a 3-way parallel group, at each concurrency)
#   PERF_C=256: record the orchestrator and this run's PostgreSQL with perf
#     (DWARF call graphs) during that concurrency's window; the tops are
#     printed after the table and the run directory is kept.
#   BENCH_TINY=1: a seconds-long run that only checks the harness (ctest).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD_DIR/bin
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

if [[ ${BENCH_TINY:-0} == 1 ]]; then
  : "${DURATION:=1}" "${WARMUP:=0.5}" "${CONCURRENCY:=1 8}"
  : "${PARK_N:=200}" "${RESTART_N:=500}" "${SETTLE_S:=0}"
  : "${PGBENCH_SECONDS:=1}" "${PGBENCH_CLIENTS:=8}"
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONCURRENCY=${CONCURRENCY:-1 16 64 256}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-64}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-$DURATION}
PARK_N=${PARK_N:-20000}
RESTART_N=${RESTART_N:-100000}
SETTLE_S=${SETTLE_S:-11}
ORCH_FLAGS=${ORCH_FLAGS:-}
LOAD_FLAGS=${LOAD_FLAGS:-}
PEERS=${PEERS:-0}
PEER_DURATION=${PEER_DURATION:-$DURATION}
PEER_CONCURRENCY=${PEER_CONCURRENCY:-$CONCURRENCY}
PERF_C=${PERF_C:-}
PHASES=${PHASES:-sweep parallel pgbench park restart}
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building saga-orchestrator, saga-bench-load, saga-bench-participant"
  cmake --build "$BUILD_DIR" --target saga-orchestrator saga-bench-load \
    saga-bench-participant >/dev/null
fi
for binary in saga-orchestrator saga-bench-load saga-bench-participant; do
  [[ -x $BIN/$binary ]] || die "$BIN/$binary not built (cmake --build $BUILD_DIR)"
done

# Under /tmp: as root PostgreSQL runs as `postgres`, which cannot reach /root.
RUN_DIR=$(mktemp -d /tmp/saga-bench.XXXXXX)
chmod 755 "$RUN_DIR"
PIDS=()
cleanup() {
  local rc=$? pid
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  "$ROOT/scripts/pg.sh" stop "$RUN_DIR/pg" >/dev/null 2>&1
  if [[ ${KEEP:-0} == 1 || $rc -ne 0 ]]; then
    log "run directory kept: $RUN_DIR"
  else
    rm -rf -- "$RUN_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=scripts/lib/stop_process.sh
source "$ROOT/scripts/lib/stop_process.sh"
# Stops a process this script started: TERM, then KILL after 30 s.
stop_pid() { stop_process "$1" 30; }

# Waits up to $2 seconds for a line matching $3 in file $1 and prints it;
# gives up early if process $4 (optional) exits.
wait_for_line() {
  local file=$1 pattern=$3 pid=${4:-} deadline=$((SECONDS + $2)) line
  while ((SECONDS <= deadline)); do
    line=$(grep -m1 -- "$pattern" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then
      echo "$line"
      return 0
    fi
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# CPU ticks (user + system) of a process; with a second argument also of its
# reaped children.
proc_ticks() {
  sed 's/.*) //' "/proc/$1/stat" 2>/dev/null |
    awk -v kids="${2:-0}" '{print $12 + $13 + (kids ? $14 + $15 : 0)}' || echo 0
}
# "orchestrator participant postgres" CPU ticks; postgres counts the
# postmaster, its live backends and the ones that exited.
cpu_ticks() {
  local postmaster pg=0 pid
  postmaster=$(head -1 "$RUN_DIR/pg/data/postmaster.pid")
  pg=$(proc_ticks "$postmaster" 1)
  for pid in $(pgrep -P "$postmaster"); do pg=$((pg + $(proc_ticks "$pid"))); done
  echo "$(proc_ticks "$ORCH_PID") $(proc_ticks "$PARTICIPANT_PID") $pg"
}

# "orchestrator/participant/postgres/loadgen" CPU ms per saga between two
# cpu_ticks readings, over $3 sagas; $4 is the load generator's CPU ms.
cpu_per_saga() {
  local -a a=($1) b=($2)
  awk -v n="$3" -v hz="$(getconf CLK_TCK)" -v lg="$4" \
    -v o="$((b[0] - a[0]))" -v p="$((b[1] - a[1]))" -v g="$((b[2] - a[2]))" \
    'BEGIN { f = 1000 / hz / n; printf "%.2f/%.2f/%.2f/%.2f", o * f, p * f, g * f, lg / n }'
}

now_us() { echo $(($(date +%s%N) / 1000)); }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# --- PostgreSQL ---------------------------------------------------------
log "PostgreSQL: starting a private cluster (fsync=on) in $RUN_DIR/pg"
PG_FSYNC=on "$ROOT/scripts/pg.sh" start "$RUN_DIR/pg" >/dev/null
# shellcheck source=/dev/null
source "$RUN_DIR/pg/env"
export PGPASSFILE=$SAGA_PG_PASSFILE
sql() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SAGA_PG_PORT" -U saga -d "$1" -c "$2"; }
sql postgres "CREATE DATABASE orchestrator"
sql postgres "CREATE DATABASE bench"
[[ $(sql postgres "SHOW fsync") == on ]] || die "fsync is not on"
[[ $(sql postgres "SHOW synchronous_commit") == on ]] || die "synchronous_commit is not on"
ORCH_DSN="host=127.0.0.1 port=$SAGA_PG_PORT user=saga passfile=$SAGA_PG_PASSFILE dbname=orchestrator"

mkdir -p "$RUN_DIR/sagas"
cp "$ROOT/sagas/appointment_booking.yaml" "$ROOT/bench/sagas/bench_parked.yaml" \
  "$ROOT/bench/sagas/bench_parallel.yaml" "$RUN_DIR/sagas/"

# --- processes ------------------------------------------------------------
PARTICIPANT_PID= PARTICIPANT_ADDR= PARTICIPANT_LOG=
start_participant() {
  PARTICIPANT_LOG=$RUN_DIR/participant-$1.log
  "$BIN/saga-bench-participant" --listen 127.0.0.1:0 --retry-action park \
    >"$PARTICIPANT_LOG" 2>&1 &
  PARTICIPANT_PID=$!
  PIDS+=("$PARTICIPANT_PID")
  local line
  line=$(wait_for_line "$PARTICIPANT_LOG" 30 "listening on" "$PARTICIPANT_PID") ||
    die "saga-bench-participant did not start (log: $PARTICIPANT_LOG)"
  PARTICIPANT_ADDR=${line##* }
}

ORCH_PID= ORCH_ADDR= ORCH_LOG= ORCH_EXEC_US=
start_orchestrator() {
  local attempt port
  ORCH_LOG=$RUN_DIR/orchestrator-$1.log
  for attempt in 1 2 3 4 5; do
    # Below 50000, away from the services' usual ports.
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    ORCH_EXEC_US=$(now_us)
    # No backlog bound and no circuit breaker: the park phase holds
    # PARK_N sagas whose last call always fails (retryably), which is what
    # both exist to stop.
    # shellcheck disable=SC2086  # ORCH_FLAGS is a list of flags
    "$BIN/saga-orchestrator" --listen "127.0.0.1:$port" --db "$ORCH_DSN" \
      --max-backlog 0 --circuit-breaker=false \
      --definitions "$RUN_DIR/sagas" \
      --migrations "$ROOT/migrations/orchestrator" \
      --participant "patient=$PARTICIPANT_ADDR" \
      --participant "doctor=$PARTICIPANT_ADDR" \
      --participant "email=$PARTICIPANT_ADDR" $ORCH_FLAGS \
      >"$ORCH_LOG" 2>&1 &
    ORCH_PID=$!
    PIDS+=("$ORCH_PID")
    if wait_for_line "$ORCH_LOG" 300 "listening on" "$ORCH_PID" >/dev/null; then
      ORCH_ADDR=127.0.0.1:$port
      return 0
    fi
    kill -0 "$ORCH_PID" 2>/dev/null && die "saga-orchestrator did not serve (log: $ORCH_LOG)"
    grep -q "cannot listen" "$ORCH_LOG" || die "saga-orchestrator failed (log: $ORCH_LOG)"
  done
  die "no free port for saga-orchestrator"
}

load() { "$BIN/saga-bench-load" --target "$ORCH_ADDR" "$@"; }

# Reads key=value pairs from a line into the associative array named $1.
parse_kv() {
  local -n into=$1
  local pair
  for pair in $2; do into[${pair%%=*}]=${pair#*=}; done
}

start_participant sweep
start_orchestrator sweep
log "orchestrator on $ORCH_ADDR (pid $ORCH_PID), participant on $PARTICIPANT_ADDR"

# --- 1. concurrency sweep -------------------------------------------------
# Transaction ids are handed out to writing transactions only, so the
# distance between two snapshots' xmax counts durable commits exactly; the
# probes themselves write nothing.
next_xid() { sql orchestrator "SELECT pg_snapshot_xmax(pg_current_snapshot())"; }
xact_commits() {
  sql orchestrator "SELECT xact_commit FROM pg_stat_database WHERE datname = 'orchestrator'"
}
# The cluster's WAL position in bytes: WAL written per saga is the write
# path's work in PostgreSQL (rows, index entries, page images) as a count,
# steadier than CPU time on a shared machine.
wal_bytes() { sql orchestrator "SELECT pg_current_wal_insert_lsn() - '0/0'"; }
# A transition is one committed decision: its events share a transaction,
# and so its recorded_at, and no other decision of the saga does.
transitions_since() {
  sql orchestrator "SELECT count(DISTINCT s.saga_id), count(*),
      count(DISTINCT (e.saga_id, e.recorded_at))
    FROM sagas s JOIN saga_events e USING (saga_id)
    WHERE s.created_at >= '$1'"
}

# Records the orchestrator with perf over the measured window of concurrency
# $1 in the background; perf_report writes what it found.
perf_start() {
  PERF_PID=
  [[ $1 == "$PERF_C" ]] || return 0
  PERF_PID=""
  (sleep "$WARMUP" && exec perf record -p "$ORCH_PID" --call-graph dwarf,16384 \
    -F 250 -o "$RUN_DIR/perf-c$1.data" -- sleep "$DURATION") >"$RUN_DIR/perf-record.log" 2>&1 &
  # And this run's PostgreSQL (postmaster and backends).
  local postmaster pg_pids
  postmaster=$(head -1 "$RUN_DIR/pg/data/postmaster.pid")
  pg_pids=$(pgrep -d, -P "$postmaster")
  (sleep "$WARMUP" && exec perf record -p "$postmaster,$pg_pids" --call-graph dwarf,16384 \
    -F 250 -o "$RUN_DIR/perf-pg-c$1.data" -- sleep "$DURATION") >"$RUN_DIR/perf-record-pg.log" 2>&1 &
  PERF_PID="$PERF_PID $!"
  PERF_PID=${PERF_PID# }
}
perf_report() {
  [[ -n $PERF_PID ]] || return 0
  # shellcheck disable=SC2086  # two PIDs
  wait $PERF_PID || log "perf record failed (see $RUN_DIR/perf-record*.log)"
  report() {
    perf report -i "$RUN_DIR/$1" --stdio -g none --percent-limit 0.5 "${@:2}" \
      2>/dev/null | grep -v -e '^#' -e '^$' || true
  }
  {
    echo "perf record -p <postgres>, C=$1 window: self time"
    report "perf-pg-c$1.data" --no-children --sort dso,sym | head -30
    echo "perf record -p <postgres>, C=$1 window: inclusive time"
    report "perf-pg-c$1.data" --children --sort sym | head -50
    echo "perf record -p <orchestrator> --call-graph dwarf, C=$1 window: self time"
    report "perf-c$1.data" --no-children --sort dso,sym | head -40
    echo "perf record -p <orchestrator> --call-graph dwarf, C=$1 window: inclusive time"
    report "perf-c$1.data" --children --sort sym | head -70
  } >"$RUN_DIR/perf.txt"
}

declare -A SWEEP=()
BEST_C= BEST_RATE=0 CALL_P50= CALL_P99=
phase_sweep() {
  local c since xid0 xid1 commits0 commits1 wal0 wal1 cpu0 cpu1 line sagas events transitions
  for c in $CONCURRENCY; do
    since=$(sql orchestrator "SELECT now()")
    xid0=$(next_xid)
    commits0=$(xact_commits)
    wal0=$(wal_bytes)
    log "sweep: concurrency $c, ${WARMUP}s warm-up + ${DURATION}s"
    perf_start "$c"
    cpu0=$(cpu_ticks)
    # shellcheck disable=SC2086  # LOAD_FLAGS is a list of flags
    line=$(load --mode closed -c "$c" --warmup "$WARMUP" --duration "$DURATION" $LOAD_FLAGS) ||
      die "load generator failed at concurrency $c: $line"
    cpu1=$(cpu_ticks)
    perf_report "$c"
    ((SETTLE_S > 0)) && sleep "$SETTLE_S"
    xid1=$(next_xid)
    commits1=$(xact_commits)
    wal1=$(wal_bytes)
    IFS='|' read -r sagas events transitions <<<"$(transitions_since "$since")"
    local -A r=()
    parse_kv r "$line"
    ((sagas > 0)) || die "no saga recorded at concurrency $c"
    SWEEP[$c]="${r[sagas_per_s]} ${r[p50_ms]} ${r[p99_ms]} \
$(calc %.2f "$transitions / $sagas") $(calc %.2f "$transitions / ($xid1 - $xid0)") \
$(calc %.2f "($xid1 - $xid0) / $sagas") $(calc %.2f "($commits1 - $commits0) / $sagas") \
$(calc %.2f "$events / $sagas") $(cpu_per_saga "$cpu0" "$cpu1" "${r[total]}" "${r[cpu_ms]}") \
$(calc %.1f "($wal1 - $wal0) / 1024 / $sagas")"
    if awk "BEGIN { exit !(${r[sagas_per_s]} > $BEST_RATE) }"; then
      BEST_RATE=${r[sagas_per_s]} BEST_C=$c
    fi
  done
  # A step's participant call alone (no orchestrator), to take out of the
  # low-load latency: what is left is the orchestration overhead.
  local -A rtt=()
  line=$("$BIN/saga-bench-load" --target "$PARTICIPANT_ADDR" --mode participant \
    -c 1 --warmup "$WARMUP" --duration "$DURATION") ||
    die "participant round trips failed: $line"
  parse_kv rtt "$line"
  CALL_P50=${rtt[p50_ms]} CALL_P99=${rtt[p99_ms]}
}

# --- 1b. a 3-way parallel group ------------------------------------------
# bench_parallel: validate, three holds at once, notify (5 calls, 4 of them
# in 3 rounds), at the sweep's concurrencies.
declare -A PARALLEL=()
phase_parallel() {
  local c line
  for c in $CONCURRENCY; do
    log "parallel: concurrency $c, ${WARMUP}s warm-up + ${DURATION}s"
    line=$(load --mode closed --saga-type bench_parallel -c "$c" \
      --warmup "$WARMUP" --duration "$DURATION") ||
      die "load generator failed on bench_parallel at concurrency $c: $line"
    local -A r=()
    parse_kv r "$line"
    PARALLEL[$c]="${r[sagas_per_s]} ${r[p50_ms]} ${r[p99_ms]}"
  done
}

# --- 2. pgbench -------------------------------------------------------------
PGBENCH_TPS= COMMIT_MS=
# pgbench's single-row INSERT TPS with $1 clients for $2 seconds.
pgbench_tps() {
  local out
  out=$("$PG_BIN/pgbench" -n -f "$ROOT/bench/insert.sql" -c "$1" \
    -j "$(($1 < 2 ? 1 : 2))" -T "$2" -h 127.0.0.1 -p "$SAGA_PG_PORT" \
    -U saga bench 2>&1) || die "pgbench failed: $out"
  awk '/^tps = / {print $3; exit}' <<<"$out"
}
phase_pgbench() {
  log "pgbench: single-row INSERT, $PGBENCH_CLIENTS clients, ${PGBENCH_SECONDS}s (and 1 client)"
  sql bench "CREATE TABLE bench_insert (id bigserial PRIMARY KEY,
    payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
  PGBENCH_TPS=$(calc %.0f "$(pgbench_tps "$PGBENCH_CLIENTS" "$PGBENCH_SECONDS")")
  # One client: the latency of one durable commit on this machine.
  COMMIT_MS=$(calc %.3f "1000 / $(pgbench_tps 1 "$PGBENCH_SECONDS")")
}

# --- 3. RSS per parked saga -------------------------------------------------
parked_count() {
  sql orchestrator "SELECT count(*) FROM sagas s JOIN saga_events e USING (saga_id)
    WHERE s.saga_type = 'bench_parked' AND e.type = 'RetryScheduled'"
}
# Starts $1 bench_parked sagas and waits until all $2 are parked.
park() {
  local deadline=$((SECONDS + 600))
  load --mode start --saga-type bench_parked --count "$1" -c 64 >/dev/null ||
    die "starting $1 parked sagas failed"
  until (($(parked_count) >= $2)); do
    ((SECONDS < deadline)) || die "only $(parked_count) of $2 sagas parked"
    sleep 0.2
  done
}
RSS_PER_PARKED=
phase_park() {
  local warm=$((PARK_N / 10 > 1000 ? 1000 : PARK_N / 10 + 1)) rss0 rss1
  log "parking: fresh orchestrator, $PARK_N sagas parked on a backoff"
  stop_pid "$ORCH_PID"
  start_orchestrator park
  # A first batch grows what every saga shares (gRPC, pools, arenas).
  park "$warm" "$warm"
  sleep 1
  rss0=$(rss_kib "$ORCH_PID")
  park "$PARK_N" $((warm + PARK_N))
  sleep 1
  rss1=$(rss_kib "$ORCH_PID")
  RSS_PER_PARKED=$(calc %.0f "($rss1 - $rss0) * 1024 / $PARK_N")
}

# --- 4. restart with RESTART_N unfinished sagas -----------------------------
FIRST_RESUMED_MS= ALL_LOADED_MS= UNFINISHED=
phase_restart() {
  local parked template clones first_call loaded loaded_at
  parked=$(parked_count)
  if ((parked == 0)); then
    park 1 1
    parked=1
  fi
  log "restart: stopping the orchestrator, cloning a parked saga"
  stop_pid "$ORCH_PID"
  clones=$((RESTART_N > parked ? RESTART_N - parked : 1))
  template=$(sql orchestrator "SELECT saga_id FROM sagas WHERE saga_type = 'bench_parked' LIMIT 1")
  # Clones of a parked saga whose backoff is already due: at the restart
  # each one calls its participant again at once. The template rests on its
  # RetryScheduled, so its snapshot is at its last event; the clones' is due
  # when that event was recorded, as their copies of it are.
  sql orchestrator "
    CREATE TEMP TABLE clone_ids AS
      SELECT md5('clone' || g)::uuid::text AS saga_id FROM generate_series(1, $clones) g;
    INSERT INTO sagas (saga_id, saga_type, definition_version, status,
        current_step, error, input, last_seq, created_at, updated_at, current_attempt)
      SELECT c.saga_id, t.saga_type, t.definition_version, t.status, t.current_step,
        t.error, t.input, t.last_seq, t.created_at, t.updated_at, t.current_attempt
      FROM clone_ids c, sagas t WHERE t.saga_id = '$template';
    INSERT INTO saga_snapshots (saga_id, seq, snapshot)
      SELECT c.saga_id, s.seq, jsonb_set(s.snapshot::jsonb,
          '{active,0,retry_due_ms}', s.snapshot::jsonb->'updated_ms')::text
      FROM clone_ids c, saga_snapshots s WHERE s.saga_id = '$template';
    INSERT INTO saga_events (saga_id, seq, type, step, attempt, data, at_ms, recorded_at)
      SELECT c.saga_id, e.seq, e.type, e.step, e.attempt,
        CASE WHEN e.type = 'RetryScheduled'
          THEN jsonb_set(e.data, '{due_ms}', to_jsonb(e.at_ms)) ELSE e.data END,
        e.at_ms, e.recorded_at
      FROM clone_ids c, saga_events e WHERE e.saga_id = '$template';
    ANALYZE sagas; ANALYZE saga_events; ANALYZE saga_snapshots"
  UNFINISHED=$(sql orchestrator "SELECT count(*) FROM sagas WHERE status IN ('RUNNING', 'COMPENSATING')")
  log "restart: $UNFINISHED unfinished sagas ($clones due at once)"
  # A fresh participant logs the time of its first call.
  stop_pid "$PARTICIPANT_PID"
  start_participant restart
  start_orchestrator restart
  first_call=$(wait_for_line "$PARTICIPANT_LOG" 300 "first call at" "$ORCH_PID") ||
    die "no participant call after the restart (log: $ORCH_LOG)"
  FIRST_RESUMED_MS=$(calc %.0f "(${first_call##*=} - $ORCH_EXEC_US) / 1000")
  loaded=$(wait_for_line "$ORCH_LOG" 300 "unfinished sagas" "$ORCH_PID") ||
    die "the orchestrator did not report its recovery (log: $ORCH_LOG)"
  loaded_at=$(date -d "$(cut -d' ' -f1 <<<"$loaded")" +%s%N)
  ALL_LOADED_MS=$(calc %.0f "($loaded_at / 1000 - $ORCH_EXEC_US) / 1000")
}

for phase in $PHASES; do
  declare -F "phase_$phase" >/dev/null || die "unknown phase '$phase' in PHASES"
  "phase_$phase"
done
stop_pid "$ORCH_PID"
stop_pid "$PARTICIPANT_PID"

# --- table ----------------------------------------------------------------
{
  echo "## saga-orchestrator benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "load average at the start: $LOAD_AT_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg);" \
    "PostgreSQL $(sql postgres 'SHOW server_version' | cut -d' ' -f1), fsync=on, synchronous_commit=on"
  echo "booking saga (3 steps), one no-op participant process; ${WARMUP}s warm-up + ${DURATION}s per concurrency"
  if [[ -n $BEST_C ]]; then
    echo
    echo "| C | sagas/s | p50 ms | p99 ms | transitions/saga | transitions/commit | PG write commits/saga | PG xact_commit/saga | events/saga | CPU ms/saga: orchestrator/participant/postgres/loadgen | WAL KiB/saga |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    for c in $CONCURRENCY; do
      read -r rate p50 p99 tps_saga tpc wcs xcs eps cpu wal <<<"${SWEEP[$c]}"
      echo "| $c | $rate | $p50 | $p99 | $tps_saga | $tpc | $wcs | $xcs | $eps | $cpu | $wal |"
    done
  fi
  if [[ ${#PARALLEL[@]} -gt 0 ]]; then
    echo
    echo "3-way parallel group (bench_parallel: validate, three holds at once, notify) beside the linear booking saga:"
    echo
    echo "| C | parallel sagas/s | p50 ms | p99 ms | linear sagas/s | p50 ms | p99 ms |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    for c in $CONCURRENCY; do
      read -r rate p50 p99 <<<"${PARALLEL[$c]}"
      read -r lrate lp50 lp99 _ <<<"${SWEEP[$c]:-- - -}"
      echo "| $c | $rate | $p50 | $p99 | $lrate | $lp50 | $lp99 |"
    done
  fi
  echo
  echo "| figure | value |"
  echo "|---|---:|"
  if [[ -n $BEST_C ]]; then
    transitions_per_s=$(calc %.0f "$BEST_RATE * $(awk '{print $4}' <<<"${SWEEP[$BEST_C]}")")
    echo "| best sagas/s (C=$BEST_C) | $BEST_RATE |"
    echo "| durable transitions/s at C=$BEST_C | $transitions_per_s |"
  fi
  if [[ -n $CALL_P50 ]]; then
    low_c=${CONCURRENCY%% *}
    read -r _ p50 p99 _ <<<"${SWEEP[$low_c]}"
    echo "| participant call alone, C=1: p50 / p99 | $CALL_P50 / $CALL_P99 ms |"
    echo "| overhead per step at C=$low_c, (saga latency - 3 calls) / 3: p50 / p99 | $(calc %.3f "($p50 - 3 * $CALL_P50) / 3") / $(calc %.3f "($p99 - 3 * $CALL_P99) / 3") ms |"
  fi
  if [[ -n $PGBENCH_TPS ]]; then
    echo "| PostgreSQL durable commit latency (pgbench, 1 client) | $COMMIT_MS ms |"
    echo "| pgbench single-row INSERT TPS ($PGBENCH_CLIENTS clients) | $PGBENCH_TPS |"
    [[ -z $BEST_C ]] ||
      echo "| transitions/s / pgbench TPS | $(calc %.2f "$transitions_per_s / $PGBENCH_TPS") |"
  fi
  [[ -z $RSS_PER_PARKED ]] ||
    echo "| RSS per parked saga ($PARK_N parked) | $RSS_PER_PARKED B |"
  if [[ -n $FIRST_RESUMED_MS ]]; then
    echo "| restart, $UNFINISHED unfinished: first step resumed | $FIRST_RESUMED_MS ms |"
    echo "| restart, $UNFINISHED unfinished: all loaded | $ALL_LOADED_MS ms |"
  fi
} >"$RUN_DIR/table.md"

# --- peers ------------------------------------------------------------------
if [[ $PEERS == 1 ]]; then
  "$ROOT/scripts/pg.sh" stop "$RUN_DIR/pg" >/dev/null
  ours=
  for c in $CONCURRENCY; do ours+="$c=${SWEEP[$c]%% *} "; done
  "$ROOT/bench/peers.sh" "$RUN_DIR/peers" "$PEER_DURATION" "$PEER_CONCURRENCY" \
    "$ours" >>"$RUN_DIR/table.md" || die "the peers' benchmark failed"
fi

cat "$RUN_DIR/table.md"
if [[ -f $RUN_DIR/perf.txt ]]; then
  KEEP=1
  echo
  cat "$RUN_DIR/perf.txt"
fi
