#!/usr/bin/env bash
# `make run`: start the local Kafka broker (unless one is already up), then the service on SQLite.
# Ctrl-C stops the service, then the broker if this script started it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export KAFKA_PORT=${KAFKA_PORT:-9092}
export ALERTING_KAFKA_BOOTSTRAP_SERVERS=${ALERTING_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}

started=0
if ! deploy/local/kafka.sh status >/dev/null 2>&1; then
  deploy/local/kafka.sh start
  started=1
fi
stop_broker() { [ "$started" = 1 ] && deploy/local/kafka.sh stop || true; }
trap stop_broker EXIT

.venv/bin/alerting policy check
if [ ! -f "${ALERTING_TOKEN_HINT_FILE:-var/.token-hint}" ]; then
  mkdir -p var && touch var/.token-hint
  echo "alerting: create API tokens with: .venv/bin/alerting token create --role admin" >&2
fi
.venv/bin/alerting run || true
