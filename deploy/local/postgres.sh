#!/usr/bin/env bash
# Runs a throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks (Debian's packages).
#
#   deploy/local/postgres.sh start    # install postgresql if missing, init once, start, wait until ready
#   deploy/local/postgres.sh stop
#   deploy/local/postgres.sh status
#   deploy/local/postgres.sh url      # print the SQLAlchemy URL
#   deploy/local/postgres.sh ca-path  # print the CA certificate that signed the server's TLS certificate
#
# Environment: PG_PORT (default 55432), PG_DATA_DIR (default /var/lib/postgresql/alerting-$PG_PORT
# when run as root, ~/.cache/alerting/pg-$PG_PORT otherwise). Trust auth on loopback only, with two
# exceptions for tests of the production set-up: members of the role alerting_password_auth sign in
# with their password (scram-sha-256), and members of alerting_tls_only are refused without TLS.
# TLS is on (a self-signed CA and a server certificate for localhost and 127.0.0.1, made once per
# data directory); connections without it keep working for everyone else.
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

tls=$data/tls
conf=$data/alerting.conf  # included by postgresql.conf; rewritten at each start

make_certificates() {
  [ -f "$tls/server.crt" ] && return 0
  if ! command -v openssl >/dev/null; then  # Debian's postgresql pulls it in (ssl-cert); to be sure
    [ "$(id -u)" = 0 ] || { log "openssl is not installed; run: sudo apt-get install openssl"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2
  fi
  log "making a test CA and a server certificate in $tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=alerting test CA $port" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 3650 -extfile "$tls/server.ext" -out "$tls/server.crt" 2>/dev/null
  chmod 600 "$tls/server.key" "$tls/ca.key"
  chmod 644 "$tls/ca.crt" "$tls/server.crt"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$tls"
  return 0
}

write_config() {
  # The first matching line wins: the two test groups before the general trust rule.
  cat >"$data/pg_hba.conf" <<HBA
# Written by deploy/local/postgres.sh at each start.
local     all          all                                    trust
hostnossl all          +alerting_tls_only       127.0.0.1/32  reject
host      all          +alerting_password_auth  127.0.0.1/32  scram-sha-256
host      all          all                      127.0.0.1/32  trust
host      all          all                      ::1/128       trust
local     replication  all                                    trust
host      replication  all                      127.0.0.1/32  trust
HBA
  cat >"$conf" <<CONF
# Written by deploy/local/postgres.sh at each start.
ssl = on
ssl_cert_file = '$tls/server.crt'
ssl_key_file = '$tls/server.key'
password_encryption = 'scram-sha-256'
CONF
  grep -q "^include_if_exists = 'alerting.conf'" "$data/postgresql.conf" ||
    echo "include_if_exists = 'alerting.conf'" >>"$data/postgresql.conf"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$data/pg_hba.conf" "$conf"
  return 0
}

ensure_groups() {
  # The roles pg_hba.conf names; a test makes its own roles members of them.
  "${as[@]}" "$bin/psql" -q -h "$sockets" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$ BEGIN
  CREATE ROLE alerting_password_auth NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE ROLE alerting_tls_only NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
SQL
}

running() { [ -n "$bin" ] && "${as[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "${1:-start}" in
  start)
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
      log "initialising a cluster in $data"
      "${as[@]}" "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    make_certificates
    write_config
    if running; then
      # A server started by an older copy of this script takes TLS and the rules on reload.
      "${as[@]}" "$bin/pg_ctl" -D "$data" reload >/dev/null
      ensure_groups
      log "already running on 127.0.0.1:$port"
      exit 0
    fi
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $sockets -c max_connections=200" start >/dev/null
    ensure_groups
    log "ready on 127.0.0.1:$port (TLS on; CA: $tls/ca.crt)" ;;
  stop)
    if running; then "${as[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; log "stopped"; fi ;;
  status)
    if running; then echo "running on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  url)
    echo "postgresql+asyncpg://postgres@127.0.0.1:$port/postgres" ;;
  ca-path)
    [ -f "$tls/ca.crt" ] || { log "no CA yet in $tls: run '$0 start' first"; exit 1; }
    echo "$tls/ca.crt" ;;
  *) echo "usage: $0 start|stop|status|url|ca-path" >&2; exit 2 ;;
esac
