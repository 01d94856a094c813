# Target: Restate (restate-server + TypeScript SDK endpoint) -- sourced by run.sh after scripts/env.sh.
TARGET_LABEL=restate
TARGET_URL="http://127.0.0.1:${RESTATE_INGRESS_PORT}/BookingService/bookAppointment"
TARGET_DRIVER=./drivers/http-json.js
TARGET_IDEM_HEADER=idempotency-key    # Restate dedups invocations by this header (sagaId)
TARGET_PG_DB=""                       # Restate keeps its state in its own log + RocksDB, not Postgres

RESTATE_SERVER_BIN="${RESTATE_SERVER_BIN:-$PEERS_DIR/node_modules/@restatedev/restate-server-linux-x64/bin/restate-server}"

target_start() {
  rm -rf "$RESTATE_DATA_DIR"; mkdir -p "$RESTATE_DATA_DIR"
  # Defaults except: loopback only, telemetry off, plain logs. Durability defaults kept
  # (rocksdb-disable-wal-fsync = false for the log server).
  cat >"$BENCH_TMP/restate.toml" <<TOML
disable-telemetry = true
log-format = "compact"
log-disable-ansi-codes = true
bind-address = "127.0.0.1:${RESTATE_NODE_PORT}"
advertised-address = "http://127.0.0.1:${RESTATE_NODE_PORT}/"
[admin]
bind-address = "127.0.0.1:${RESTATE_ADMIN_PORT}"
[ingress]
bind-address = "127.0.0.1:${RESTATE_INGRESS_PORT}"
TOML
  "$RESTATE_SERVER_BIN" --config-file "$BENCH_TMP/restate.toml" --dump-config >"$BENCH_TMP/restate-effective-config.toml" 2>/dev/null || true
  start_bg restate-server "$RESTATE_SERVER_BIN" --config-file "$BENCH_TMP/restate.toml" \
    --base-dir "$RESTATE_DATA_DIR" --node-name n1 --no-logo
  wait_http "http://127.0.0.1:${RESTATE_ADMIN_PORT}/health" 60 || return 1
  start_bg restate-app env RESTATE_SDK_PORT="$RESTATE_SDK_PORT" RESTATE_LOGGING=WARN \
    PARTICIPANT_MODE="$PARTICIPANT_MODE" PARTICIPANT_PORT="$PARTICIPANT_PORT" "$NODE" src/restate-app.js
  wait_port "$RESTATE_SDK_PORT" 30 || return 1
  local i
  for i in $(seq 1 30); do
    curl -sf -m 10 -X POST "http://127.0.0.1:${RESTATE_ADMIN_PORT}/deployments" -H 'content-type: application/json' \
      -d "{\"uri\":\"http://127.0.0.1:${RESTATE_SDK_PORT}\",\"force\":true}" >"$LOG_DIR/restate-register.json" && break
    sleep 1
  done
  # The ingress learns about the new deployment asynchronously: probe until a saga goes through.
  for i in $(seq 1 60); do
    curl -sf -m 10 -X POST "$TARGET_URL" -H 'content-type: application/json' -H "idempotency-key: probe-$i" \
      -d "{\"sagaId\":\"probe-$i\",\"patientId\":\"p\",\"preferredDate\":\"2026-12-01\"}" >/dev/null 2>&1 && break
    sleep 0.5
  done
  TARGET_CPU=(--cpu "restate-server=$(cat "$PID_DIR/restate-server.pid")" --cpu "restate-sdk=$(cat "$PID_DIR/restate-app.pid")")
}
target_stop() { stop_bg restate-app; stop_bg restate-server; }
