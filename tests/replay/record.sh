#!/usr/bin/env bash
# Records the golden histories of tests/replay/ from real runs: a private
# PostgreSQL cluster, the three participants (with fault flags per scenario)
# and the orchestrator, driven with sagactl and exported with `sagactl
# export`. See tests/replay/README.md for what each scenario does.
#
#   tests/replay/record.sh [SCENARIO...]   (default: all of them)
#
# Environment: BUILD_DIR (default build; needs sagactl, saga-orchestrator,
# saga-patient, saga-doctor, saga-email, saga-payment), OUT (default
# tests/replay), PG_PORT, ORCH_PORT, PATIENT_PORT, DOCTOR_PORT, EMAIL_PORT,
# PAYMENT_PORT (defaults 55407, 55471-55475). Needs jq. Stops everything it
# started on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD_DIR/bin
OUT=${OUT:-$ROOT/tests/replay}
PG_PORT=${PG_PORT:-55407}
ORCH_PORT=${ORCH_PORT:-55471}
PATIENT_PORT=${PATIENT_PORT:-55472}
DOCTOR_PORT=${DOCTOR_PORT:-55473}
EMAIL_PORT=${EMAIL_PORT:-55474}
PAYMENT_PORT=${PAYMENT_PORT:-55475}
ALL_SCENARIOS=(healthy notify_fails operator retries timeout crash_cancel
  unknown_outcome pivot_unknown saga_model async children parallel)
# Most goldens are of version 1 of the booking saga, whose pivot gave up
# after 4 attempts (tests/testdata/booking_v1); scenarios of the current
# version switch to sagas/ with use_definitions.
DEFINITIONS=$ROOT/tests/testdata/booking_v1

die() {
  echo "record: $*" >&2
  exit 1
}

log() {
  echo "record: $*" >&2
}

command -v jq >/dev/null || die "needs jq"
for bin in sagactl saga-orchestrator saga-patient saga-doctor saga-email \
  saga-payment; do
  [[ -x $BIN/$bin ]] || die "missing $BIN/$bin (set BUILD_DIR)"
done

WORK=$(mktemp -d /tmp/replay-record-XXXXXX)
chmod 755 "$WORK"
declare -A PIDS=()

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop() {
  local name=$1 signal=${2:-TERM} pid=${PIDS[$1]:-}
  [[ -n $pid ]] || return 0
  unset 'PIDS[$name]'
  kill "-$signal" "$pid" 2>/dev/null || return 0
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT
  local name
  for name in "${!PIDS[@]}"; do stop "$name"; done
  "$ROOT/scripts/pg.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
  if [[ $status -eq 0 ]]; then
    rm -rf -- "$WORK"
  else
    echo "record: failed; logs are in $WORK" >&2
  fi
  exit "$status"
}
trap cleanup EXIT

# start NAME PORT COMMAND...: runs it in the background until it listens.
start() {
  local name=$1 port=$2
  shift 2
  "$@" >>"$WORK/$name.log" 2>&1 &
  PIDS[$name]=$!
  local i
  for ((i = 0; i < 300; i++)); do
    port_in_use "$port" && return 0
    kill -0 "${PIDS[$name]}" 2>/dev/null ||
      die "$name exited during start-up (see $WORK/$name.log)"
    sleep 0.1
  done
  die "$name did not listen on $port within 30s"
}

dsn() {
  echo "host=127.0.0.1 port=$SAGA_PG_PORT user=saga passfile=$SAGA_PG_PASSFILE dbname=$1"
}

# participant NAME [FAULT FLAGS...]: (re)starts a participant.
participant() {
  local name=$1 port
  shift
  case $name in
    patient) port=$PATIENT_PORT ;;
    doctor) port=$DOCTOR_PORT ;;
    email) port=$EMAIL_PORT ;;
    payment) port=$PAYMENT_PORT ;;
  esac
  stop "$name"
  # The recorded sagas book fixed dates: pin the doctor's today before them.
  [[ $name == doctor ]] && set -- --today 2026-11-20 "$@"
  # The payment provider reports its charges back to the orchestrator.
  [[ $name == payment ]] && set -- --orchestrator "127.0.0.1:$ORCH_PORT" "$@"
  start "$name" "$port" "$BIN/saga-$name" --listen "127.0.0.1:$port" \
    --db "$(dsn "$name")" --migrations "$ROOT/migrations/$name" "$@"
}

# A stable instance id: a restart after a kill resumes the sagas at once
# instead of waiting for their leases to expire.
orchestrator() {
  start orchestrator "$ORCH_PORT" "$BIN/saga-orchestrator" \
    --listen "127.0.0.1:$ORCH_PORT" --db "$(dsn orchestrator)" \
    --instance-id recorder \
    --definitions "$DEFINITIONS" --migrations "$ROOT/migrations/orchestrator" \
    --participant "patient=127.0.0.1:$PATIENT_PORT" \
    --participant "doctor=127.0.0.1:$DOCTOR_PORT" \
    --participant "email=127.0.0.1:$EMAIL_PORT" \
    --participant "payment=127.0.0.1:$PAYMENT_PORT"
}

# use_definitions DIR: restarts the orchestrator with the definitions in DIR.
use_definitions() {
  DEFINITIONS=$1
  stop orchestrator
  orchestrator
}

ctl() {
  "$BIN/sagactl" --address "127.0.0.1:$ORCH_PORT" "$@"
}

# book PATIENT SPECIALTY [TYPE [START FLAGS...]]: starts a booking (by
# default of appointment_booking) and prints its id.
book() {
  local patient=$1 specialty=$2 type=${3:-appointment_booking}
  shift $(($# < 3 ? $# : 3))
  ctl start "$type" "$@" --input \
    "{\"patient_id\": \"$patient\", \"specialty\": \"$specialty\", \"preferred_date\": \"2026-12-15\"}"
}

# finish ID EXPECTED_STATUS: waits for the end and checks the status.
finish() {
  local status
  ctl await "$1" --timeout 90s >/dev/null 2>&1 || true
  status=$(ctl -o json show "$1" | jq -r .saga.status)
  [[ $status == "SAGA_STATUS_$2" ]] || die "saga $1 ended $status, not $2"
}

# wait_for ID JQ_FILTER: polls the history until the filter selects an event.
wait_for() {
  local i
  for ((i = 0; i < 600; i++)); do
    if ctl -o json history "$1" | jq -e "[.events[] | select($2)] | length > 0" \
      >/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  die "saga $1: no event matching $2 within 30s"
}

save() {
  ctl export "$1" >"$OUT/$2.json"
  log "wrote $OUT/$2.json ($(jq '.events | length' "$OUT/$2.json") events)"
}

healthy_participants() {
  participant patient
  participant doctor
  participant email
}

scenario_healthy() {
  healthy_participants
  local ok inactive astrology
  ok=$(book p-1001 cardiology)
  inactive=$(book p-1003 cardiology)
  astrology=$(book p-1002 astrology)
  finish "$ok" COMPLETED
  finish "$inactive" COMPENSATED
  finish "$astrology" COMPENSATED
  save "$ok" success
  save "$inactive" validate_patient_fails
  save "$astrology" reserve_doctor_fails
}

scenario_notify_fails() {
  healthy_participants
  participant email --fail-rate send_notification=1
  local id
  id=$(book p-1004 dermatology)
  finish "$id" COMPENSATED
  save "$id" notify_fails
}

# Compensations that give up (FAILED), then each operator repair.
scenario_operator() {
  participant patient
  participant email --fail-rate send_notification=1
  participant doctor --fail-rate release_reservation=1
  local retry skip mark id
  retry=$(book p-1001 neurology)
  skip=$(book p-1002 neurology)
  mark=$(book p-1004 neurology)
  for id in "$retry" "$skip" "$mark"; do
    ctl await "$id" --timeout 90s >/dev/null 2>&1 || true
    [[ $(ctl -o json show "$id" | jq -r .saga.status) == SAGA_STATUS_FAILED ]] ||
      die "saga $id did not end FAILED"
  done
  participant doctor
  participant email
  export SAGACTL_OPERATOR=golden-recorder
  ctl retry "$retry" --reason "doctor service fixed" >/dev/null
  ctl skip-step "$skip" reserve_doctor --reason "released by phone" >/dev/null
  ctl mark-compensated "$mark" --reason "refunded by hand" >/dev/null
  finish "$retry" COMPENSATED
  finish "$skip" COMPENSATED
  finish "$mark" COMPENSATED
  save "$retry" operator_retry
  save "$skip" operator_skip_step
  save "$mark" operator_mark_compensated
}

scenario_retries() {
  healthy_participants
  participant doctor --fail-rate reserve_doctor=0.5
  local i id attempts
  for ((i = 0; i < 20; i++)); do
    id=$(book p-1005 pediatrics)
    ctl await "$id" --timeout 60s >/dev/null 2>&1 || true
    attempts=$(ctl -o json show "$id" | jq '.saga.steps[1].attempts')
    if [[ $(ctl -o json show "$id" | jq -r .saga.status) == \
      SAGA_STATUS_COMPLETED && $attempts -ge 3 ]]; then
      save "$id" retries_then_success
      return 0
    fi
  done
  die "no saga needed 3+ attempts and completed in 20 tries"
}

scenario_timeout() {
  healthy_participants
  participant doctor --latency-ms reserve_doctor=3000
  local id
  id=$(book p-1006 cardiology)
  finish "$id" COMPENSATED
  save "$id" timeout
}

scenario_crash_cancel() {
  healthy_participants
  participant doctor --latency-ms reserve_doctor=1000
  local crash cancel
  crash=$(book p-1001 dermatology)
  wait_for "$crash" '.type == "StepStarted" and .step == "reserve_doctor"'
  stop orchestrator KILL
  orchestrator
  finish "$crash" COMPLETED
  save "$crash" crash_resume

  cancel=$(book p-1002 dermatology)
  wait_for "$cancel" '.type == "StepStarted" and .step == "reserve_doctor"'
  ctl cancel "$cancel" --reason "patient called to cancel" >/dev/null
  finish "$cancel" COMPENSATED
  save "$cancel" cancel
}

# The doctor service refuses calls (transport error: outcome unknown), and
# comes back while the saga waits to retry.
scenario_unknown_outcome() {
  healthy_participants
  local try id
  for ((try = 0; try < 3; try++)); do
    participant doctor --refuse-all
    id=$(book p-1004 pediatrics)
    wait_for "$id" '.type == "StepFailed" and .step == "reserve_doctor"'
    participant doctor
    ctl await "$id" --timeout 60s >/dev/null 2>&1 || true
    if [[ $(ctl -o json show "$id" | jq -r .saga.status) == \
      SAGA_STATUS_COMPLETED ]]; then
      save "$id" unknown_outcome
      return 0
    fi
    log "saga $id gave up before the doctor service was back; again"
  done
  die "could not restart the doctor service within the retries"
}

# The pivot's call goes unanswered (the email service is slower than its
# 2s timeout): a cancel then is refused, since the emails may be out; once
# the service is fast again the same key sends them, and the booking stands.
scenario_pivot_unknown() {
  use_definitions "$ROOT/sagas"
  healthy_participants
  participant email --latency-ms send_notification=3000
  local id
  id=$(book p-1005 neurology)
  wait_for "$id" '.type == "StepFailed" and .step == "notify"'
  if ctl cancel "$id" --reason "patient changed plans" >/dev/null 2>&1; then
    die "saga $id: a cancel was accepted while the pivot's outcome was unknown"
  fi
  participant email
  finish "$id" COMPLETED
  save "$id" pivot_unknown_cancel_refused
  use_definitions "$ROOT/tests/testdata/booking_v1"
}

# The saga model's waiting steps, on the test definitions of
# tests/integration/sagas: a signal kept until the wait step, then a delay;
# a signal that comes while the saga waits, across a restart; a deadline
# that passes while nobody approves; a scheduled start.
scenario_saga_model() {
  use_definitions "$ROOT/tests/integration/sagas"
  healthy_participants
  local kept waited deadline scheduled
  kept=$(book p-1001 cardiology appointment_booking_approval)
  ctl signal "$kept" clinic_approval --payload '{"approved_by": "dr. grey"}' \
    >/dev/null
  finish "$kept" COMPLETED
  save "$kept" signal_kept_then_delay

  waited=$(book p-1002 neurology appointment_booking_approval)
  wait_for "$waited" '.type == "StepStarted" and .step == "approval"'
  stop orchestrator KILL
  orchestrator
  ctl signal "$waited" clinic_approval --payload '{"approved_by": "dr. house"}' \
    >/dev/null
  finish "$waited" COMPLETED
  save "$waited" signal_after_restart

  deadline=$(book p-1004 pediatrics appointment_booking_deadline)
  finish "$deadline" COMPENSATED
  save "$deadline" deadline_passed

  scheduled=$(book p-1005 dermatology appointment_booking_fast --start-at 1s)
  finish "$scheduled" COMPLETED
  save "$scheduled" scheduled_start
  use_definitions "$ROOT/tests/testdata/booking_v1"
}

# A charge through the asynchronous payment provider: accepted, settled a
# moment later and reported with CompleteStep, then checked.
scenario_async() {
  use_definitions "$ROOT/tests/testdata/checkout"
  participant payment --settle-after-ms 300
  local id
  id=$(ctl start checkout --input '{"customer_id": "c-1", "amount_cents": 2500}')
  finish "$id" COMPLETED
  save "$id" async_completion
  stop payment
  use_definitions "$ROOT/tests/testdata/booking_v1"
}

scenario_children() {
  use_definitions "$ROOT/tests/testdata/children"
  local id child
  id=$(ctl start family_booking --input '{"patient_id": "p-1002", "preferred_date": "2026-12-15", "specialty": "pediatrics", "second_specialty": "astrology"}')
  wait_for "$id" '.type == "StepAccepted"'
  child=$(ctl -o json show "$id" | jq -r '.saga.steps[0].child_saga_id')
  wait_for "$child" '.type == "StepStarted" and .step == "confirm"'
  ctl signal "$child" confirm --payload '{"by": "clinic"}' >/dev/null
  finish "$id" COMPENSATED
  finish "$child" COMPENSATED
  save "$id" child_saga_parent
  save "$child" child_saga_rolled_back
  use_definitions "$ROOT/tests/testdata/booking_v1"
}

# prepaid_booking (tests/testdata/parallel): the reservation and the charge
# run at once. A small charge settles and both join into the emails; one
# above the provider's limit is declined, and the reservation made beside
# it is released.
scenario_parallel() {
  use_definitions "$ROOT/tests/testdata/parallel"
  healthy_participants
  participant payment --settle-after-ms 300 --decline-above-cents 9000
  local paid declined
  paid=$(ctl start prepaid_booking --input '{"patient_id": "p-1001", "preferred_date": "2026-12-15", "specialty": "cardiology", "amount_cents": 2500}')
  declined=$(ctl start prepaid_booking --input '{"patient_id": "p-1002", "preferred_date": "2026-12-15", "specialty": "neurology", "amount_cents": 12000}')
  finish "$paid" COMPLETED
  finish "$declined" COMPENSATED
  save "$paid" parallel_completed
  save "$declined" parallel_charge_declined
  stop payment
  use_definitions "$ROOT/tests/testdata/booking_v1"
}

main() {
  local scenarios=("$@")
  [[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${ALL_SCENARIOS[@]}")
  for port in "$PG_PORT" "$ORCH_PORT" "$PATIENT_PORT" "$DOCTOR_PORT" \
    "$EMAIL_PORT" "$PAYMENT_PORT"; do
    port_in_use "$port" && die "port $port is in use"
  done
  "$ROOT/scripts/pg.sh" start "$WORK/pg" "$PG_PORT" >/dev/null
  # shellcheck source=/dev/null
  source "$WORK/pg/env"
  local db
  for db in orchestrator patient doctor email payment; do
    "$ROOT/scripts/pg.sh" createdb "$WORK/pg" "$db"
  done
  healthy_participants
  orchestrator
  local scenario
  for scenario in "${scenarios[@]}"; do
    declare -F "scenario_$scenario" >/dev/null ||
      die "unknown scenario $scenario (one of: ${ALL_SCENARIOS[*]})"
    log "scenario $scenario"
    "scenario_$scenario"
  done
  "$BIN/sagactl" replay "$OUT"/*.json
}

main "$@"
