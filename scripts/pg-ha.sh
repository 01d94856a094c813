#!/usr/bin/env bash
# A private HA PostgreSQL 15 cluster under Patroni, for the automatic
# failover test and for trying failover by hand: a three-member etcd (the
# store Patroni keeps its leader lock in) and two Patroni nodes, a primary
# and its synchronous standby, all on 127.0.0.1 with free ports and their
# data in DIR.
#
#   pg-ha.sh start DIR         start etcd and both nodes, wait until node1 is
#                              the primary and node2 its synchronous standby,
#                              write DIR/env
#   pg-ha.sh stop DIR          stop exactly what start started (by PID): the
#                              Patroni nodes, their PostgreSQL, etcd
#   pg-ha.sh status DIR        patronictl list: members, roles, timeline, lag
#   pg-ha.sh kill-primary DIR  SIGKILL the primary's postmaster (as in a
#                              crash); Patroni fails over by itself
#
# Clients use the multi-host DSN of `source DIR/env`:
#   SAGA_HA_DSN          host=127.0.0.1,127.0.0.1 port=P1,P2 user=saga
#                        passfile=... target_session_attrs=read-write
#                        dbname=postgres (libpq picks the writable node)
#   SAGA_HA_NODES        "node1 node2"
#   SAGA_HA_<NODE>_PORT  PostgreSQL port of a node, e.g. SAGA_HA_NODE1_PORT
#   SAGA_HA_<NODE>_DATA  its data directory (postmaster.pid is there)
#   SAGA_HA_<NODE>_API   its Patroni REST API, http://127.0.0.1:PORT
#   SAGA_HA_ETCD         the etcd client endpoints, comma-separated
#   SAGA_HA_PASSFILE     libpq password file of the superuser `saga`
#
# Failover settings (Patroni's dynamic configuration, kept in etcd): ttl 10,
# loop_wait 1, retry_timeout 4, synchronous_mode on, primary_start_timeout 0
# (a crashed primary is failed over at once instead of restarted in place),
# use_pg_rewind (the old primary rejoins as a standby). PostgreSQL refuses
# to run as root, so as root every server (etcd, Patroni, PostgreSQL) runs
# as the `postgres` OS user and DIR must be under /tmp; as a normal user
# they run as that user.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
NODES=(node1 node2)
ETCD_MEMBERS=(etcd1 etcd2 etcd3)
# How long start waits for each stage, and stop for each process.
START_TIMEOUT_S=${START_TIMEOUT_S:-60}
STOP_TIMEOUT_S=20

die() {
  echo "pg-ha.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Sets DIR to the absolute path of $1 and checks the root constraints.
resolve_dir() {
  [[ -n ${1:-} ]] || usage
  DIR=$(realpath -m -- "$1")
  if is_root; then
    [[ $DIR == /tmp/* ]] ||
      die "running as root: DIR must be under /tmp (got $DIR)"
    id postgres >/dev/null 2>&1 ||
      die "running as root needs the 'postgres' OS user (apt-get install postgresql)"
  fi
}

# Starts a long-running program as the cluster's user, in the background, in
# its own session (so the caller's terminal signals do not reach it), with
# output to $2. Its PID (the program's own, not runuser's) goes to $1.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  local run=()
  is_root && run=(runuser -u postgres --)
  rm -f -- "$pidfile"
  # The shell records its PID, then becomes the program (exec keeps it).
  # shellcheck disable=SC2016  # expanded by that shell
  (cd "$DIR" && exec setsid "${run[@]}" sh -c 'echo $$ >"$0"; exec "$@"' \
    "$pidfile" "$@" </dev/null >"$log" 2>&1) &
  local _
  for _ in $(seq 100); do
    [[ -s $pidfile ]] && return 0
    sleep 0.05
  done
  die "$* did not start (log: $log)"
}

# Writes a file readable by the cluster's user only.
write_private() {
  local path=$1
  (umask 077 && cat >"$path")
  is_root && chown postgres: -- "$path"
  return 0
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints $1 distinct ports that were free a moment ago, in 20000-32767: below
# the kernel's ephemeral range (32768-60999), so that the ports other tests
# get by binding port 0 do not take them before Patroni binds them, seconds
# later.
free_ports() {
  local -A taken=()
  local found=0 port
  while ((found < $1)); do
    port=$((20000 + RANDOM % 12768))
    [[ -z ${taken[$port]:-} ]] || continue
    port_in_use "$port" && continue
    taken[$port]=1
    echo "$port"
    found=$((found + 1))
  done
}

# The HTTP status code of GET http://127.0.0.1:$1$2, or 000 when nothing
# answers within a second. Bash's /dev/tcp: no HTTP client needed.
http_status() {
  local line
  # shellcheck disable=SC2016  # expanded by the inner bash
  line=$(timeout 1 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
    head -n 1 <&3' "$1" "$2" 2>/dev/null) || true
  line=${line#HTTP/* }
  echo "${line:0:3}" | grep -E '^[0-9]{3}$' || echo 000
}

# Polls until `http_status PORT PATH` is 200; $3 names what is awaited.
await_http_ok() {
  local port=$1 path=$2 what=$3 deadline=$((SECONDS + START_TIMEOUT_S))
  while [[ $(http_status "$port" "$path") != 200 ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
  echo "pg-ha.sh: $what"
}

# Runs psql as `saga` on the `postgres` database of node port $1.
psql_on() {
  local port=$1
  shift
  PGPASSFILE=$DIR/pgpass PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -X -q -A -t \
    -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U saga -d postgres "$@"
}

load_env() {
  [[ -f $DIR/env ]] || die "no cluster started in $DIR (no $DIR/env)"
  # shellcheck source=/dev/null
  source "$DIR/env"
}

# The PostgreSQL port of node $1 (from DIR/env).
node_port() {
  local var=SAGA_HA_${1^^}_PORT
  echo "${!var}"
}

# Patroni's configuration of node $1 on ports $2 (PostgreSQL) and $3 (REST).
node_config() {
  local node=$1 pg_port=$2 api_port=$3
  cat <<EOF
# Written by scripts/pg-ha.sh: node $node of the cluster in $DIR.
scope: saga
name: $node
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$api_port
  connect_address: 127.0.0.1:$api_port
etcd3:
  hosts: $ETCD_HOSTS
# No /dev/watchdog here. In production use mode: required (softdog), so that
# a primary whose Patroni hangs is reset before its leader lock expires.
watchdog:
  mode: 'off'
bootstrap:
  # The cluster-wide settings, written to etcd by the node that initializes
  # the cluster (patronictl edit-config changes them later).
  dcs:
    # The leader lock expires ttl seconds after its holder stopped renewing
    # it (Patroni itself died); each node runs its HA loop every loop_wait
    # seconds; etcd and PostgreSQL calls give up after retry_timeout.
    # Patroni needs loop_wait + 2 * retry_timeout <= ttl.
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    # A crashed primary fails over to the synchronous standby at once
    # instead of being restarted in place (default: 300 s of attempts).
    primary_start_timeout: 0
    # Only a synchronous standby may be promoted, and commits wait for it:
    # nothing a client saw committed is lost by a failover.
    synchronous_mode: true
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 300
  initdb:
  - encoding: UTF8
  - locale: C
  - auth-host: scram-sha-256
  - auth-local: scram-sha-256
postgresql:
  listen: 127.0.0.1:$pg_port
  connect_address: 127.0.0.1:$pg_port
  data_dir: $DIR/$node/data
  bin_dir: $PG_BIN
  pgpass: $DIR/$node/patroni.pgpass
  # The standby is cloned without waiting for a spread checkpoint.
  basebackup:
  - checkpoint: fast
  authentication:
    superuser:
      username: saga
      password: '$PASSWORD'
    replication:
      username: replicator
      password: '$REPLICATION_PASSWORD'
  parameters:
    unix_socket_directories: '$DIR/$node'
    logging_collector: 'on'
    log_directory: log
  pg_hba:
  - local all all scram-sha-256
  - host all all 127.0.0.1/32 scram-sha-256
  - host replication replicator 127.0.0.1/32 scram-sha-256
EOF
}

cmd_start() {
  resolve_dir "${1:-}"
  command -v etcd >/dev/null || die "etcd not found (apt-get install etcd-server)"
  command -v patroni >/dev/null || die "patroni not found (apt-get install patroni)"
  [[ -x $PG_BIN/initdb ]] || die "$PG_BIN/initdb not found (install postgresql-15)"
  [[ ! -e $DIR/env ]] || die "$DIR already holds a cluster"
  mkdir -p -- "$DIR"
  chmod 700 -- "$DIR"
  is_root && chown postgres: -- "$DIR"
  # A failed start leaves nothing running.
  trap 'echo "pg-ha.sh: start failed; stopping what it started" >&2
    cmd_stop "$DIR" >/dev/null' EXIT

  local ports
  mapfile -t ports < <(free_ports $((2 * ${#ETCD_MEMBERS[@]} + 2 * ${#NODES[@]})))
  PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  REPLICATION_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')

  # etcd: client port, peer port per member.
  local i member cluster="" endpoints=()
  for i in "${!ETCD_MEMBERS[@]}"; do
    cluster+="${cluster:+,}${ETCD_MEMBERS[i]}=http://127.0.0.1:${ports[2 * i + 1]}"
    endpoints+=("127.0.0.1:${ports[2 * i]}")
  done
  ETCD_HOSTS=$(IFS=,; echo "${endpoints[*]}")
  local token
  token=saga-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  for i in "${!ETCD_MEMBERS[@]}"; do
    member=${ETCD_MEMBERS[i]}
    spawn "$DIR/$member.pid" "$DIR/$member.log" etcd --name "$member" \
      --data-dir "$DIR/$member" \
      --listen-client-urls "http://127.0.0.1:${ports[2 * i]}" \
      --advertise-client-urls "http://127.0.0.1:${ports[2 * i]}" \
      --listen-peer-urls "http://127.0.0.1:${ports[2 * i + 1]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${ports[2 * i + 1]}" \
      --initial-cluster "$cluster" --initial-cluster-token "$token" \
      --initial-cluster-state new --logger zap --log-outputs stderr
  done
  for i in "${!ETCD_MEMBERS[@]}"; do
    await_http_ok "${ports[2 * i]}" /health "${ETCD_MEMBERS[i]} healthy" ||
      die "${ETCD_MEMBERS[i]} not healthy after ${START_TIMEOUT_S} s (log: $DIR/${ETCD_MEMBERS[i]}.log)"
  done

  # Patroni nodes: PostgreSQL port, REST port per node.
  local base=$((2 * ${#ETCD_MEMBERS[@]})) node pg_port api_port
  local env_nodes="" hosts="" node_ports=""
  for i in "${!NODES[@]}"; do
    node=${NODES[i]}
    pg_port=${ports[base + 2 * i]}
    api_port=${ports[base + 2 * i + 1]}
    mkdir -p -- "$DIR/$node"
    chmod 700 -- "$DIR/$node"
    is_root && chown postgres: -- "$DIR/$node"
    node_config "$node" "$pg_port" "$api_port" |
      write_private "$DIR/$node/patroni.yml"
    hosts+="${hosts:+,}127.0.0.1"
    node_ports+="${node_ports:+,}$pg_port"
    env_nodes+="export SAGA_HA_${node^^}_PORT=$pg_port
export SAGA_HA_${node^^}_DATA='$DIR/$node/data'
export SAGA_HA_${node^^}_API=http://127.0.0.1:$api_port
"
  done
  # Clients' password file: libpq ignores one that others can read.
  (umask 077 && printf '*:*:*:saga:%s\n' "$PASSWORD" >"$DIR/pgpass")

  # node1 first, so that it initializes the cluster and leads; then node2
  # clones it and becomes its synchronous standby.
  for i in "${!NODES[@]}"; do
    node=${NODES[i]}
    api_port=${ports[base + 2 * i + 1]}
    spawn "$DIR/$node/patroni.pid" "$DIR/$node/patroni.log" \
      patroni "$DIR/$node/patroni.yml"
    if ((i == 0)); then
      await_http_ok "$api_port" /primary "$node is the primary" ||
        die "$node is not the primary after ${START_TIMEOUT_S} s (log: $DIR/$node/patroni.log)"
    else
      await_http_ok "$api_port" /sync "$node is the synchronous standby" ||
        die "$node is not a synchronous standby after ${START_TIMEOUT_S} s (log: $DIR/$node/patroni.log)"
    fi
  done
  # The primary's commits wait for the standby from here on.
  local state="" deadline=$((SECONDS + START_TIMEOUT_S))
  while [[ $state != sync ]]; do
    ((SECONDS < deadline)) || die "no synchronous replication to ${NODES[1]}"
    sleep 0.1
    state=$(psql_on "${ports[base]}" -c "SELECT sync_state FROM \
      pg_stat_replication WHERE application_name = '${NODES[1]}'" || true)
  done

  (umask 077 && cat >"$DIR/env" <<EOF
# Written by scripts/pg-ha.sh for the cluster in $DIR.
export SAGA_HA_DIR='$DIR'
export SAGA_HA_NODES='${NODES[*]}'
${env_nodes}export SAGA_HA_ETCD='$ETCD_HOSTS'
export SAGA_HA_PASSFILE='$DIR/pgpass'
export SAGA_HA_DSN='host=$hosts port=$node_ports user=saga passfile=$DIR/pgpass target_session_attrs=read-write connect_timeout=2 dbname=postgres'
EOF
  )
  trap - EXIT
  echo "HA PostgreSQL started: dir $DIR, ${NODES[0]} primary on ${ports[base]}, ${NODES[1]} synchronous standby on ${ports[base + 2]} (source $DIR/env)"
}

# Sends SIGTERM to the process in pidfile $1, waits for it to exit, then
# SIGKILLs it; removes the pidfile.
stop_pidfile() {
  local pidfile=$1 pid i
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f -- "$pidfile"
}

cmd_stop() {
  resolve_dir "${1:-}"
  local node member pid
  # Patroni stops its PostgreSQL on SIGTERM. Both nodes at once, so that the
  # standby is not promoted when the primary goes first.
  for node in "${NODES[@]}"; do
    if [[ -s $DIR/$node/patroni.pid ]]; then
      kill -TERM "$(<"$DIR/$node/patroni.pid")" 2>/dev/null || true
    fi
  done
  for node in "${NODES[@]}"; do
    stop_pidfile "$DIR/$node/patroni.pid"
    # A PostgreSQL left behind (Patroni was killed): stop it too.
    if [[ -f $DIR/$node/data/postmaster.pid ]]; then
      pid=$(head -n 1 "$DIR/$node/data/postmaster.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true
      fi
    fi
  done
  for member in "${ETCD_MEMBERS[@]}"; do
    stop_pidfile "$DIR/$member.pid"
  done
  echo "HA PostgreSQL stopped: $DIR"
}

cmd_status() {
  resolve_dir "${1:-}"
  load_env
  local run=()
  is_root && run=(runuser -u postgres --)
  "${run[@]}" patronictl -c "$DIR/${NODES[0]}/patroni.yml" list
}

cmd_kill_primary() {
  resolve_dir "${1:-}"
  load_env
  local node port pid
  for node in "${NODES[@]}"; do
    port=$(node_port "$node")
    if [[ $(psql_on "$port" -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; then
      pid=$(head -n 1 "$DIR/$node/data/postmaster.pid")
      kill -KILL "$pid"
      echo "pg-ha.sh: killed the postmaster of $node (pid $pid, port $port)"
      return 0
    fi
  done
  die "no node is a primary now"
}

main() {
  local command=${1:-}
  [[ $# -gt 0 ]] && shift
  case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    kill-primary) cmd_kill_primary "$@" ;;
    *) usage ;;
  esac
}

main "$@"
