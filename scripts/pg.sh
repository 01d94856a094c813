#!/usr/bin/env bash
# A private, throwaway PostgreSQL 15 cluster for tests and demos.
#
#   pg.sh start DIR [PORT]   initdb + start a cluster in DIR (a free port when
#                            PORT is omitted) and write DIR/env
#   pg.sh stop DIR [MODE]    stop exactly the cluster in DIR (MODE: fast, the
#                            default, or immediate: as if the machine died)
#   pg.sh restart DIR        crash-restart it (immediate shutdown, same port);
#                            starts it again on its port after a stop
#   pg.sh createdb DIR NAME  create database NAME in the cluster in DIR
#   pg.sh standby DIR PRIMARY_DIR
#                            start a streaming standby of the cluster in
#                            PRIMARY_DIR in DIR (base backup, replication
#                            slot) and make the primary's commits wait for it
#                            (synchronous_standby_names); writes DIR/env
#   pg.sh promote DIR        promote the standby in DIR to a primary
#
# The cluster listens on 127.0.0.1 only, keeps its socket in DIR, and has one
# superuser `saga` with a generated password (scram-sha-256). Clients find
# the password through a libpq password file, DIR/pgpass, named in the DSN,
# so it never appears on a command line. `source DIR/env` exports:
#   SAGA_PG_DIR, SAGA_PG_PORT, SAGA_PG_PASSFILE,
#   SAGA_TEST_ADMIN_DSN   DSN of the `postgres` database as superuser
#
# fsync stays on (crash tests and demos need durability); PG_FSYNC=off turns
# it off for speed. PostgreSQL refuses to run as root, so as root the server
# runs as the `postgres` OS user and DIR must be under /tmp (that user cannot
# reach /root); as a normal user it runs directly.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_FSYNC=${PG_FSYNC:-on}

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Runs a server-side PostgreSQL program as the user that owns the cluster.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    # From a directory postgres can enter, or initdb complains about cwd.
    (cd "$DIR" && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Below 50000, out of the way of the services' usual ports (50051-50063).
random_port() {
  echo $((20000 + (RANDOM * 32768 + RANDOM) % 30000))
}

# Sets DIR to the absolute path of $1 and checks the root constraints.
resolve_dir() {
  [[ -n ${1:-} ]] || usage
  DIR=$(realpath -m -- "$1")
  if [[ $(id -u) -eq 0 ]]; then
    [[ $DIR == /tmp/* ]] ||
      die "running as root: DIR must be under /tmp (got $DIR)"
    id postgres >/dev/null 2>&1 ||
      die "running as root needs the 'postgres' OS user (apt-get install postgresql)"
  fi
}

cmd_start() {
  resolve_dir "${1:-}"
  local requested_port=${2:-}
  [[ -x $PG_BIN/initdb ]] || die "$PG_BIN/initdb not found (install postgresql-15)"
  [[ ! -e $DIR/data ]] || die "$DIR/data already exists"

  mkdir -p -- "$DIR"
  chmod 700 -- "$DIR"
  [[ $(id -u) -ne 0 ]] || chown postgres: -- "$DIR"

  local password
  password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  # initdb reads the superuser password from a file; it goes away at once.
  (umask 077 && printf '%s\n' "$password" >"$DIR/initdb.pw")
  [[ $(id -u) -ne 0 ]] || chown postgres: -- "$DIR/initdb.pw"
  if ! as_owner "$PG_BIN/initdb" -D "$DIR/data" -U saga \
    --pwfile="$DIR/initdb.pw" --auth-local=scram-sha-256 \
    --auth-host=scram-sha-256 -E UTF8 --locale=C >"$DIR/initdb.log" 2>&1; then
    rm -f -- "$DIR/initdb.pw"
    cat "$DIR/initdb.log" >&2
    die "initdb failed"
  fi
  rm -f -- "$DIR/initdb.pw"

  # Settings go into postgresql.conf so that a restart keeps them.
  cat >>"$DIR/data/postgresql.conf" <<EOF

# Set by scripts/pg.sh: private cluster, loopback only.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
fsync = $PG_FSYNC
max_connections = 300
EOF

  start_server "$requested_port"
  # libpq ignores a password file that others can read.
  (umask 077 && printf '*:*:*:saga:%s\n' "$password" >"$DIR/pgpass")
  write_env
  echo "PostgreSQL started: dir $DIR, port $PORT (source $DIR/env)"
}

# Starts the cluster in $DIR/data on port $1, or on a random free one when
# $1 is empty; sets PORT.
start_server() {
  local requested_port=${1:-}
  # Without an explicit port, try random free ones: another process may take
  # a port between the check and the bind, hence the retries.
  local attempt started=
  for attempt in 1 2 3 4 5 6 7 8; do
    if [[ -n $requested_port ]]; then
      PORT=$requested_port
    else
      PORT=$(random_port)
      if port_in_use "$PORT"; then continue; fi
    fi
    if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
      -o "-p $PORT" start >/dev/null; then
      started=1
      break
    fi
    [[ -z $requested_port ]] || break
    echo "pg.sh: start on port $PORT failed (attempt $attempt), retrying" >&2
  done
  if [[ -z $started ]]; then
    tail -n 20 "$DIR/log" >&2 || true
    die "could not start PostgreSQL in $DIR (log: $DIR/log)"
  fi
}

# Writes $DIR/env for the cluster on $PORT with the password file $DIR/pgpass.
write_env() {
  local dsn="host=127.0.0.1 port=$PORT user=saga passfile=$DIR/pgpass"
  (umask 077 && cat >"$DIR/env" <<EOF
# Written by scripts/pg.sh for the cluster in $DIR.
export SAGA_PG_DIR='$DIR'
export SAGA_PG_PORT=$PORT
export SAGA_PG_PASSFILE='$DIR/pgpass'
export SAGA_TEST_ADMIN_DSN='$dsn dbname=postgres'
EOF
  )
}

cmd_stop() {
  resolve_dir "${1:-}"
  local mode=${2:-fast}
  [[ $mode == fast || $mode == immediate ]] ||
    die "stop mode must be fast or immediate, got $mode"
  if [[ ! -f $DIR/data/postmaster.pid ]]; then
    echo "pg.sh: no running cluster in $DIR" >&2
    return 0
  fi
  as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m "$mode" -w -t 60 stop >/dev/null
  echo "PostgreSQL stopped ($mode): $DIR"
}

# Runs psql as `saga` on the `postgres` database of the cluster whose env
# file is $1; the other arguments go to psql.
psql_on() {
  local env_file=$1
  shift
  (
    # shellcheck source=/dev/null
    source "$env_file"
    PGPASSFILE=$SAGA_PG_PASSFILE "$PG_BIN/psql" -X -q -A -t \
      -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SAGA_PG_PORT" -U saga \
      -d postgres "$@"
  )
}

cmd_standby() {
  resolve_dir "${1:-}"
  local primary
  primary=$(realpath -m -- "${2:-}")
  [[ -f $primary/env ]] || die "no cluster started in $primary"
  [[ ! -e $DIR/data ]] || die "$DIR/data already exists"
  local primary_port name=saga_standby
  # shellcheck source=/dev/null
  primary_port=$(source "$primary/env" && echo "$SAGA_PG_PORT")

  mkdir -p -- "$DIR"
  chmod 700 -- "$DIR"
  # The standby's server connects to the primary with this password file,
  # so it belongs to the server's user; clients use it too (one password:
  # the standby is a copy of the primary).
  (umask 077 && cp -- "$primary/pgpass" "$DIR/pgpass")
  [[ $(id -u) -ne 0 ]] || chown postgres: -- "$DIR" "$DIR/pgpass"

  # A base backup with its own replication slot, so that the primary keeps
  # the WAL the standby has not received yet.
  if ! as_owner env PGPASSFILE="$DIR/pgpass" "$PG_BIN/pg_basebackup" \
    -h 127.0.0.1 -p "$primary_port" -U saga -D "$DIR/data" -X stream \
    -C -S "$name" -c fast >"$DIR/basebackup.log" 2>&1; then
    cat "$DIR/basebackup.log" >&2
    die "pg_basebackup from $primary failed"
  fi
  as_owner touch "$DIR/data/standby.signal"
  cat >>"$DIR/data/postgresql.conf" <<EOF

# Set by scripts/pg.sh: streaming standby of $primary.
unix_socket_directories = '$DIR'
primary_conninfo = 'host=127.0.0.1 port=$primary_port user=saga passfile=$DIR/pgpass application_name=$name'
primary_slot_name = '$name'
EOF
  start_server ""
  write_env

  # Set only now, after the base backup: a promoted standby must not wait
  # for a standby of its own.
  psql_on "$primary/env" \
    -c "ALTER SYSTEM SET synchronous_standby_names = '$name'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  local state="" _
  for _ in $(seq 600); do
    state=$(psql_on "$primary/env" -c "SELECT sync_state FROM \
      pg_stat_replication WHERE application_name = '$name'")
    [[ $state != sync ]] || break
    sleep 0.1
  done
  [[ $state == sync ]] ||
    die "the standby in $DIR is not a synchronous standby after 60 s (log: $DIR/log)"
  echo "PostgreSQL standby started: dir $DIR, port $PORT, synchronous standby of $primary (source $DIR/env)"
}

cmd_promote() {
  resolve_dir "${1:-}"
  [[ -f $DIR/data/standby.signal ]] || die "no standby in $DIR"
  as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -w -t 60 promote >/dev/null
  echo "PostgreSQL promoted: $DIR"
}

# An immediate shutdown is a crash to PostgreSQL: no checkpoint, clients cut
# off, WAL replayed at the next start. For tests of reconnecting clients. A
# stopped cluster is started again on its port.
cmd_restart() {
  resolve_dir "${1:-}"
  [[ -f $DIR/env ]] || die "no cluster started in $DIR"
  if [[ -f $DIR/data/postmaster.pid ]]; then
    # pg_ctl restart keeps the options of the last start (the port).
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -m immediate -w \
      -t 60 restart >/dev/null
  else
    # shellcheck source=/dev/null
    start_server "$(source "$DIR/env" && echo "$SAGA_PG_PORT")"
  fi
  echo "PostgreSQL restarted: $DIR"
}

cmd_createdb() {
  resolve_dir "${1:-}"
  local name=${2:-}
  [[ -n $name ]] || usage
  [[ -f $DIR/env ]] || die "no cluster started in $DIR"
  # shellcheck source=/dev/null
  source "$DIR/env"
  PGPASSFILE=$SAGA_PG_PASSFILE "$PG_BIN/createdb" -h 127.0.0.1 \
    -p "$SAGA_PG_PORT" -U saga -- "$name"
}

main() {
  local command=${1:-}
  [[ $# -gt 0 ]] && shift
  case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    restart) cmd_restart "$@" ;;
    createdb) cmd_createdb "$@" ;;
    standby) cmd_standby "$@" ;;
    promote) cmd_promote "$@" ;;
    *) usage ;;
  esac
}

main "$@"
