#!/usr/bin/env bash
# The peers' saga benchmark, start to finish: a throw-away PostgreSQL 15 under $BENCH_TMP, then each
# saga target (DBOS, Restate, ... any targets/<name>.sh) under closed-loop load, then the rows of
# bench/run.sh's peer table (summarize.js). Stops everything it started, by PID, on exit (also on
# Ctrl-C or error). bench/peers.sh runs it from a copy; see README.md here.
#
# Knobs (environment):
#   DURATION=20            measured seconds per run          WARMUP=3        warm-up seconds per saga run
#   CONCURRENCY="1 16 64"  sagas in flight                   FAIL_CONCURRENCY=""  runs with 20% sendEmail failures
#   TARGETS="dbos restate" target files under targets/
#   PARTICIPANT_MODE=local|http  steps in-process (default) or HTTP calls to src/participant.js
#   PG_SETTLE_MS=11000     pause before/after each measured window of a Postgres-backed target (stats flush)
#   RESULTS_DIR=out/<timestamp>   KEEP_TMP=1 keeps $BENCH_TMP (pg data, logs) after the run
#   NETNS=1                run inside a private network namespace with loopback only (unshare -n); 0 = host
#   Ports / paths: see scripts/env.sh (PGPORT=55432, 8080/9070/5122/9080 Restate, 8090 DBOS, 8091 participant)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-3}"
CONCURRENCY="${CONCURRENCY:-1 16 64}"
FAIL_CONCURRENCY="${FAIL_CONCURRENCY:-}"   # e.g. "16": also run the failing variant at C=16
TARGETS="${TARGETS:-dbos restate}"
PARTICIPANT_MODE="${PARTICIPANT_MODE:-local}"
RESULTS_DIR="${RESULTS_DIR:-$PEERS_DIR/out/$(date +%Y%m%d-%H%M%S)}"
export PARTICIPANT_MODE PARTICIPANT_PORT

# npm needs the registry, so it runs before the network namespace below.
if [ ! -d node_modules/@dbos-inc/dbos-sdk ] || [ ! -d node_modules/@restatedev/restate-sdk ]; then
  log "installing npm packages (npm ci --ignore-scripts)"
  npm ci --ignore-scripts --no-audit --no-fund
fi

# Run the benchmark in a private network namespace that has only a loopback interface, so nothing
# it starts can reach another address. (restate-server 1.7 asks api.github.com for the latest release
# at every start, with no setting to turn that off; in here the lookup fails at once.) NETNS=0 opts out.
if [ "${NETNS:-1}" = "1" ] && [ -z "${PEERS_IN_NETNS:-}" ]; then
  if unshare -n true 2>/dev/null; then
    exec unshare -n env PEERS_IN_NETNS=1 RESULTS_DIR="$RESULTS_DIR" bash -c 'ip link set lo up && exec "$0" "$@"' "$PEERS_DIR/run.sh" "$@"
  fi
  log "unshare -n failed: running in the host network namespace (servers still bind 127.0.0.1 only)"
fi

T_BEGIN=$(date +%s)
mkdir -p "$RESULTS_DIR"
RESULTS_DIR="$(cd "$RESULTS_DIR" && pwd)"

cleanup() {
  local rc=$?
  set +e
  type target_stop >/dev/null 2>&1 && target_stop
  stop_bg participant
  scripts/pg.sh stop
  cp -f "$LOG_DIR"/*.log "$BENCH_TMP"/restate*.toml "$RESULTS_DIR/" 2>/dev/null
  [ "${KEEP_TMP:-0}" != "1" ] && rm -rf "$BENCH_TMP"
  log "cleaned up (exit code $rc)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
if [ -n "${PEERS_IN_NETNS:-}" ]; then log "preflight (private network namespace, loopback only)"; else log "preflight (host network namespace)"; fi
for p in "$PGPORT" "$DBOS_HTTP_PORT" "$PARTICIPANT_PORT" "$RESTATE_INGRESS_PORT" "$RESTATE_ADMIN_PORT" "$RESTATE_NODE_PORT" "$RESTATE_SDK_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then log "port $p on 127.0.0.1 is already in use; set the matching *_PORT variable"; exit 1; fi
done
if [ -f "$PGDATA_DIR/postmaster.pid" ]; then log "$PGDATA_DIR has a running postmaster; stop it first (scripts/pg.sh stop)"; exit 1; fi
mkdir -p "$LOG_DIR" "$PID_DIR"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(free -g | awk '/Mem:/{print $2" GiB RAM"}')"
  dev=$(findmnt -no SOURCE --target /tmp | xargs basename)
  echo "disk for /tmp: $(findmnt -no SOURCE,FSTYPE --target /tmp | xargs); write cache: $(cat /sys/block/$dev/queue/write_cache 2>/dev/null)"
  echo "loadavg at start: $(cat /proc/loadavg)"
  echo "node: $($NODE -v)"
  pkgver() { $NODE -p "JSON.parse(require('fs').readFileSync('node_modules/$1/package.json','utf8')).version"; }
  echo "dbos-sdk: $(pkgver @dbos-inc/dbos-sdk)"
  echo "restate-sdk: $(pkgver @restatedev/restate-sdk)"
  echo "restate-server: $(node_modules/@restatedev/restate-server-linux-x64/bin/restate-server --version 2>/dev/null)"
  echo "postgres: $($PG_BIN/postgres --version)"
  echo "participant mode: $PARTICIPANT_MODE"
  echo "duration: ${DURATION}s, warmup: ${WARMUP}s, concurrency: $CONCURRENCY, failing-variant concurrency: $FAIL_CONCURRENCY"
} >"$RESULTS_DIR/env.txt"

# ---------------------------------------------------------------------------------------------
log "postgres: initdb + start on 127.0.0.1:$PGPORT (data in $PGDATA_DIR)"
scripts/pg.sh init
PG_PID=$(scripts/pg.sh start)
{ echo "postgres settings:"; scripts/pg.sh settings | sed 's/^/  /'; } >>"$RESULTS_DIR/env.txt"

COMMON_STATS=(--pg-url "$PG_URL_BASE/postgres" --pgdata "$PGDATA_DIR" --pg-bin "$PG_BIN" --pg-os-user "$PG_OS_USER"
              --cpu-tree "postgres=$PG_PID" --disk-dir "$BENCH_TMP")

# ---------------------------------------------------------------------------------------------
EXTRA_CPU=()
if [ "$PARTICIPANT_MODE" = "http" ]; then
  log "participant server on 127.0.0.1:$PARTICIPANT_PORT"
  start_bg participant env PARTICIPANT_PORT="$PARTICIPANT_PORT" "$NODE" src/participant.js
  wait_port "$PARTICIPANT_PORT" 20
  EXTRA_CPU=(--cpu "participant=$(cat "$PID_DIR/participant.pid")")
fi

run_saga() { # run_saga LABEL C OUTFILE [extra loadgen args...]
  local label="$1" c="$2" out="$3"; shift 3
  local pgargs=(--settle-ms 1200)
  # Postgres publishes pg_stat_database/pg_stat_wal lazily (up to 10 s after a backend goes idle):
  # wait that long around the measured window when the target's per-saga Postgres counters matter.
  [ -n "$TARGET_PG_DB" ] && pgargs=(--pg-db "$TARGET_PG_DB" --settle-ms "${PG_SETTLE_MS:-11000}")
  $NODE loadgen.js --url "$TARGET_URL" --driver "$TARGET_DRIVER" -c "$c" -t "$DURATION" -w "$WARMUP" \
    ${TARGET_IDEM_HEADER:+--idem-header "$TARGET_IDEM_HEADER"} "${COMMON_STATS[@]}" "${pgargs[@]}" \
    "${TARGET_CPU[@]}" "${EXTRA_CPU[@]}" --label "$label" --out "$out" "$@" || log "loadgen reported errors for $label (see $out)"
}

for t in $TARGETS; do
  unset -f target_start target_stop; TARGET_CPU=()
  source "targets/$t.sh"
  log "target $TARGET_LABEL: starting"
  if ! target_start; then log "target $TARGET_LABEL failed to start; see $LOG_DIR"; target_stop || true; continue; fi
  for c in $CONCURRENCY; do
    log "$TARGET_LABEL: c=$c, all sagas succeed"
    run_saga "$TARGET_LABEL" "$c" "$RESULTS_DIR/$TARGET_LABEL-ok-c$c.json"
  done
  for c in $FAIL_CONCURRENCY; do
    log "$TARGET_LABEL: c=$c, every 5th saga fails at sendEmail and compensates"
    run_saga "$TARGET_LABEL-fail20" "$c" "$RESULTS_DIR/$TARGET_LABEL-fail20-c$c.json" --fail-every 5 --fail-at sendEmail
  done
  target_stop
  unset -f target_start target_stop
done

T_END=$(date +%s)
echo "run.sh wall time: $((T_END - T_BEGIN)) s" >>"$RESULTS_DIR/env.txt"
$NODE summarize.js "$RESULTS_DIR" | tee "$RESULTS_DIR/summary.md"
log "results in $RESULTS_DIR (wall time $((T_END - T_BEGIN)) s)"
