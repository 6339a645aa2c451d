#!/usr/bin/env bash
# Runs a throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks (Debian's packages).
#
#   deploy/local/postgres.sh start    # install postgresql if missing, init once, start, wait until ready
#   deploy/local/postgres.sh stop
#   deploy/local/postgres.sh status
#   deploy/local/postgres.sh url      # print the SQLAlchemy URL
#
# Environment: PG_PORT (default 55432), PG_DATA_DIR (default /var/lib/postgresql/alerting-$PG_PORT
# when run as root, ~/.cache/alerting/pg-$PG_PORT otherwise). Trust auth on loopback only.
set -euo pipefail

port=${PG_PORT:-55432}
log() { echo "[postgres] $*" >&2; }

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

bin=$(find_bin)
if [ -z "$bin" ] && [ "${1:-start}" = start ]; then
  [ "$(id -u)" = 0 ] || { log "postgresql is not installed; run: sudo apt-get install postgresql"; exit 1; }
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bin=$(find_bin)
fi

if [ "$(id -u)" = 0 ]; then
  as=(runuser -u postgres --)
  data=${PG_DATA_DIR:-/var/lib/postgresql/alerting-$port}
else
  as=()
  data=${PG_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/alerting/pg-$port}
fi
sockets=/tmp

running() { [ -n "$bin" ] && "${as[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "${1:-start}" in
  start)
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
      log "initialising a cluster in $data"
      "${as[@]}" "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if running; then log "already running on 127.0.0.1:$port"; exit 0; fi
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $sockets -c max_connections=200" start >/dev/null
    log "ready on 127.0.0.1:$port" ;;
  stop)
    if running; then "${as[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; log "stopped"; fi ;;
  status)
    if running; then echo "running on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  url)
    echo "postgresql+asyncpg://postgres@127.0.0.1:$port/postgres" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
