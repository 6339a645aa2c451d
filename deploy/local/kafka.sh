#!/usr/bin/env bash
# Runs a single-node Apache Kafka broker (KRaft) on 127.0.0.1 for development and tests.
#
#   deploy/local/kafka.sh start   # fetch jars once, format storage once, start in the background, wait until ready
#   deploy/local/kafka.sh stop    # stop the broker this script started
#   deploy/local/kafka.sh run     # run in the foreground (Ctrl-C stops it)
#   deploy/local/kafka.sh status
#   deploy/local/kafka.sh ca-path # secured mode: the CA file clients trust (ALERTING_KAFKA_SSL_CAFILE)
#
# Environment:
#   KAFKA_PORT        broker port (default 9092); the controller uses KAFKA_PORT+1
#   KAFKA_HOME_DIR    where jars, config, data and logs live (default ~/.cache/alerting/kafka)
#   KAFKA_DATA_DIR    data directory (default $KAFKA_HOME_DIR/data-$KAFKA_PORT)
#   KAFKA_HEAP        JVM heap (default 512m)
#   KAFKA_SECURITY    plaintext (default) or sasl_ssl: one SASL_SSL listener (SCRAM-SHA-256/512, PLAIN,
#                     and OAUTHBEARER with unsigned tokens, for tests only) with a CA and a broker
#                     certificate for localhost/127.0.0.1 made once per data directory (in DATA_DIR-tls)
#   KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD
#                     secured mode: the SCRAM (and PLAIN) user, created when the storage is formatted
#                     (defaults alerting / alerting-dev-password: a development broker only)
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
security=${KAFKA_SECURITY:-plaintext}
tls="${data%/}-tls"  # beside the data directory: Kafka refuses anything but topics inside it
sasl_user=${KAFKA_SASL_USERNAME:-alerting}
sasl_password=${KAFKA_SASL_PASSWORD:-alerting-dev-password}
case "$security" in
  plaintext|sasl_ssl) ;;
  *) echo "[kafka] KAFKA_SECURITY must be plaintext or sasl_ssl, not $security" >&2; exit 2 ;;
esac
if [ "$security" = sasl_ssl ]; then
  case "$sasl_user$sasl_password" in  # they are quoted inside JAAS and --add-scram values
    *'"'*|*'\'*|*','*|*']'*)
      echo '[kafka] KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD may not contain " \ , or ]' >&2; exit 2 ;;
  esac
fi

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

# Secured mode: a CA and a broker certificate (SAN localhost, 127.0.0.1) as PEM files, made once per
# data directory; Kafka reads PEM key and trust stores itself (ssl.keystore.type=PEM).
make_tls() {
  [ -f "$tls/.complete" ] && return 0
  command -v openssl >/dev/null || { log "openssl not found: apt-get install openssl"; exit 1; }
  log "making a CA and a broker certificate in $tls (once)"
  rm -rf "$tls.tmp"; mkdir -p "$tls.tmp"
  (
    cd "$tls.tmp"
    openssl req -x509 -newkey rsa:2048 -noenc -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=alerting local Kafka CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -noenc -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" \
      "authorityKeyIdentifier=keyid,issuer" >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.crt 2>/dev/null
    cat broker.key broker.crt ca.pem >broker.pem  # key and chain: the broker's PEM key store
    rm -f broker.csr broker.ext ca.srl
    chmod 600 ca.key broker.key broker.pem
  )
  touch "$tls.tmp/.complete"
  rm -rf "$tls"; mv "$tls.tmp" "$tls"
}

listener_props() {
  if [ "$security" = plaintext ]; then
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
    return
  fi
  # One SASL_SSL listener for clients and for the broker itself (SCRAM-SHA-512); the controller
  # stays PLAINTEXT on loopback. No authorizer: any authenticated user may do anything.
  local jaas="org.apache.kafka.common.security"
  local user="username=\"$sasl_user\" password=\"$sasl_password\""
  cat <<PROPS
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL_SSL://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN,OAUTHBEARER
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$jaas.scram.ScramLoginModule required $user;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$jaas.scram.ScramLoginModule required $user;
listener.name.sasl_ssl.plain.sasl.jaas.config=$jaas.plain.PlainLoginModule required $user user_$sasl_user="$sasl_password";
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=$jaas.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
PROPS
}

configure() {
  mkdir -p "$home" "$data"
  [ "$security" = plaintext ] || make_tls
  { cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
PROPS
  listener_props
  cat <<PROPS
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
  } >"$conf"
  [ "$security" = plaintext ] || chmod 600 "$conf"  # it holds the broker's own password
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
    local scram=()
    if [ "$security" != plaintext ]; then
      log "creating SCRAM user $sasl_user"
      for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
        scram+=(--add-scram "$mechanism=[name=\"$sasl_user\",password=\"$sasl_password\"]")
      done
    fi
    java -cp "$libs/*" -Dlog4j2.configurationFile="$home/log4j2.properties" \
      kafka.tools.StorageTool format -t "$(uuid)" -c "$conf" "${scram[@]}" >&2
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
  ca-path)
    [ "$security" = sasl_ssl ] || { log "ca-path: only with KAFKA_SECURITY=sasl_ssl"; exit 2; }
    make_tls; echo "$tls/ca.pem" ;;
  *) echo "usage: $0 start|stop|run|status|ca-path" >&2; exit 2 ;;
esac
