#!/usr/bin/env bash
# Runs a single-node Apache Kafka broker (KRaft) on 127.0.0.1 for development and tests.
#
#   deploy/local/kafka.sh start   # fetch jars once, format storage once, start in the background, wait until ready
#   deploy/local/kafka.sh stop    # stop the broker this script started
#   deploy/local/kafka.sh run     # run in the foreground (Ctrl-C stops it)
#   deploy/local/kafka.sh status
#
# Environment:
#   KAFKA_PORT        broker port (default 9092); the controller uses KAFKA_PORT+1
#   KAFKA_HOME_DIR    where jars, config, data and logs live (default ~/.cache/alerting/kafka)
#   KAFKA_DATA_DIR    data directory (default $KAFKA_HOME_DIR/data-$KAFKA_PORT)
#   KAFKA_HEAP        JVM heap (default 512m)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${KAFKA_PORT:-9092}
controller_port=$((port + 1))
home=${KAFKA_HOME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/alerting/kafka}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka-pom.xml")
libs="$home/libs-$version"
data=${KAFKA_DATA_DIR:-$home/data-$port}
conf="$home/server-$port.properties"
pidfile="$home/kafka-$port.pid"
logfile="$home/kafka-$port.log"

log() { echo "[kafka] $*" >&2; }

fetch() {
  [ -f "$libs/.complete" ] && return 0
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { log "java not found: install a JDK 17+"; exit 1; }
  log "fetching Apache Kafka $version jars from Maven Central into $libs (once)"
  rm -rf "$libs.tmp"
  mvn -q -B -f "$here/kafka-pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs.tmp" >&2
  touch "$libs.tmp/.complete"
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
}

configure() {
  mkdir -p "$home" "$data"
  cat >"$conf" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat >"$home/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
PROPS
  if [ ! -f "$data/meta.properties" ]; then
    log "formatting storage in $data"
    java -cp "$libs/*" -Dlog4j2.configurationFile="$home/log4j2.properties" \
      kafka.tools.StorageTool format -t "$(uuid)" -c "$conf" >&2
  fi
}

uuid() { java -cp "$libs/*" -Dlog4j2.configurationFile="$home/log4j2.properties" kafka.tools.StorageTool random-uuid; }

# The JVM options of Kafka's own start script (kafka-run-class.sh): G1 aiming at 20 ms pauses rather
# than its default 200 ms, which a producer waiting for acks=all would otherwise see.
java_cmd=(java -server -Xms"${KAFKA_HEAP:-512m}" -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC
  -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
  -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$home/log4j2.properties" -cp "$libs/*" kafka.Kafka "$conf")

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

wait_ready() {
  for _ in $(seq 1 120); do
    if ! running; then log "broker exited; see $logfile"; tail -n 30 "$logfile" >&2; return 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "ready on 127.0.0.1:$port"; return 0
    fi
    sleep 0.5
  done
  log "not ready after 60 s; see $logfile"; return 1
}

case "${1:-start}" in
  start)
    fetch; configure
    if running; then log "already running (pid $(cat "$pidfile"))"; exit 0; fi
    # A session of its own: Ctrl-C in the terminal reaches the service, and the broker is stopped in order.
    setsid nohup "${java_cmd[@]}" >"$logfile" 2>&1 &
    echo $! >"$pidfile"
    wait_ready ;;
  run)
    fetch; configure
    exec "${java_cmd[@]}" ;;
  stop)
    if running; then
      pid=$(cat "$pidfile"); kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped"
    fi
    rm -f "$pidfile" ;;
  status)
    if running; then echo "running (pid $(cat "$pidfile"), port $port)"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|run|status" >&2; exit 2 ;;
esac
