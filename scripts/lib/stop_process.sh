# shellcheck shell=bash
# Sourced by scripts that start processes (scripts/demo.sh, bench/run.sh).

# Stops process $1, which the calling script started: SIGTERM, then SIGKILL
# if it still runs after $2 seconds; reaps it.
stop_process() {
  local pid=$1 tenths=$(($2 * 10)) i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < tenths; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
