#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests.
#
#   eval "$(bash scripts/pg-test-cluster.sh start DIR)"   # exports TEST_DATABASE_URL
#   bash scripts/pg-test-cluster.sh stop DIR
#
# Runs as any user on Debian. The cluster belongs to the calling user, or
# to the `postgres` user when that is root (initdb refuses root); it trusts
# every local connection, listens on 127.0.0.1 only at the first free port
# from 55432 on, and keeps its socket in DIR so it never touches a system
# cluster. Missing PostgreSQL binaries are installed by
# scripts/install-deps.sh --test (with sudo when not root). Both commands
# are idempotent. Only the `export` line goes to stdout, so the output can
# be eval'd.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$dir" in
  /*) ;;
  *) dir="$PWD/$dir" ;;
esac
data="$dir/data"
port_file="$dir/port"
db=auth_test

log() { echo "pg-test-cluster: $*" >&2; }

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      bin=$d
    fi
  done
  [ -n "${bin:-}" ]
}

if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

ensure_binaries() {
  if ! find_bin; then
    log "PostgreSQL binaries not found; installing the postgresql package"
    bash "$(dirname "$0")/install-deps.sh" --test >&2
    find_bin || { log "no initdb under /usr/lib/postgresql/*/bin after install"; exit 1; }
  fi
}

running() { as_pg "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  ensure_binaries
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-instructions >&2
  fi
  if ! running; then
    local port=55432 started=""
    while [ "$port" -lt 55532 ]; do
      if ! port_in_use "$port"; then
        # The cluster is for tests: durability is not needed, speed is.
        if as_pg "$bin/pg_ctl" start -D "$data" -w -t 30 -l "$dir/server.log" \
          -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >&2; then
          started=$port
          break
        fi
        log "could not start on port $port; trying the next one"
      fi
      port=$((port + 1))
    done
    [ -n "$started" ] || { log "no free port in 55432-55531 (see $dir/server.log)"; exit 1; }
    echo "$started" >"$port_file"
  fi
  local port
  port=$(cat "$port_file")
  if ! as_pg "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    as_pg "$bin/createdb" -h "$dir" -p "$port" -U postgres "$db" >&2
  fi
  echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/$db"
}

stop() {
  if [ ! -f "$data/PG_VERSION" ]; then
    log "no cluster in $dir; nothing to stop"
    return 0
  fi
  ensure_binaries
  if running; then
    as_pg "$bin/pg_ctl" stop -D "$data" -m fast -w >&2
  else
    log "cluster in $dir is not running"
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
