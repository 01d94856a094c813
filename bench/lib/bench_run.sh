# shellcheck shell=bash
# What the by-hand benchmarks bench/retention.sh and bench/bulk.sh share: a
# run directory, the processes they start (stopped by PID at exit), and a
# private PostgreSQL (fsync on) with an orchestrator database.
# Sourced with ROOT and PG_BIN set; `bench_setup NAME` sets RUN_DIR, PIDS,
# DSN and PGPASSFILE. KEEP=1 keeps the run directory (it is kept on failure).

# shellcheck source=scripts/lib/stop_process.sh
source "$ROOT/scripts/lib/stop_process.sh"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Waits up to $2 seconds for a line matching $3 in file $1 and prints it;
# gives up early if process $4 (optional) exits.
wait_for_line() {
  local file=$1 deadline=$((SECONDS + $2)) pattern=$3 pid=${4:-} line
  while ((SECONDS <= deadline)); do
    line=$(grep -m1 -- "$pattern" "$file" 2>/dev/null || true)
    [[ -z $line ]] || { echo "$line"; return 0; }
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Runs one statement in the orchestrator database; prints rows unaligned.
sql() {
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SAGA_PG_PORT" \
    -U saga -d orchestrator -c "$1"
}

# shellcheck disable=SC2317  # called by the EXIT trap
bench_cleanup() {
  local rc=$? pid
  set +e
  for pid in "${PIDS[@]}"; do stop_process "$pid" 30; done
  "$ROOT/scripts/pg.sh" stop "$RUN_DIR/pg" >/dev/null 2>&1
  if [[ ${KEEP:-0} == 1 || $rc -ne 0 ]]; then
    log "run directory kept: $RUN_DIR"
  else
    rm -rf -- "$RUN_DIR"
  fi
  exit "$rc"
}

# bench_setup NAME: the run directory /tmp/saga-NAME-bench.XXXXXX, the
# cleanup at exit, PostgreSQL and the orchestrator database.
bench_setup() {
  RUN_DIR=$(mktemp -d "/tmp/saga-$1-bench.XXXXXX")
  chmod 755 "$RUN_DIR"
  PIDS=()
  trap bench_cleanup EXIT
  log "PostgreSQL (fsync=on) in $RUN_DIR/pg"
  PG_FSYNC=on "$ROOT/scripts/pg.sh" start "$RUN_DIR/pg" >/dev/null
  # shellcheck source=/dev/null
  source "$RUN_DIR/pg/env"
  export PGPASSFILE=$SAGA_PG_PASSFILE
  "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$SAGA_PG_PORT" -U saga -d postgres \
    -c "CREATE DATABASE orchestrator"
  DSN="host=127.0.0.1 port=$SAGA_PG_PORT user=saga passfile=$SAGA_PG_PASSFILE dbname=orchestrator"
}
