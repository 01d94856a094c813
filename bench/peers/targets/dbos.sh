# Target: DBOS Transact (TypeScript SDK) -- sourced by run.sh after scripts/env.sh.
# A target file sets TARGET_* and defines target_start / target_stop (stop only what it started, by PID).
TARGET_LABEL=dbos
TARGET_URL="http://127.0.0.1:${DBOS_HTTP_PORT}/book"
TARGET_DRIVER=./drivers/http-json.js
TARGET_IDEM_HEADER=""                 # the sagaId in the body becomes the DBOS workflowID
TARGET_PG_DB=dbos_sys                 # database whose pg_stat_database counters are charged to the target

target_start() {
  psql_db postgres -c "set client_min_messages = warning" -c "drop database if exists $TARGET_PG_DB" -c "create database $TARGET_PG_DB" >/dev/null
  start_bg dbos-app env DBOS_SYSTEM_DATABASE_URL="$PG_URL_BASE/$TARGET_PG_DB" DBOS_HTTP_PORT="$DBOS_HTTP_PORT" \
    PARTICIPANT_MODE="$PARTICIPANT_MODE" PARTICIPANT_PORT="$PARTICIPANT_PORT" ${DBOS_POOL_SIZE:+DBOS_POOL_SIZE=$DBOS_POOL_SIZE} \
    "$NODE" src/dbos-app.js
  wait_http "http://127.0.0.1:${DBOS_HTTP_PORT}/health" 60 || return 1
  TARGET_CPU=(--cpu "dbos=$(cat "$PID_DIR/dbos-app.pid")")
}
target_stop() { stop_bg dbos-app; }
