#!/bin/sh
# ZooKeeper and etcd for the job board tests: installed from Debian when missing,
# started when not answering, on loopback only, then waited for (bounded).
#
#   .ci/services.sh [start]          install and start both (idempotent, fast when up)
#   .ci/services.sh stop NAME        stop zookeeper or etcd (tests restarting a service)
#   .ci/services.sh start NAME       start one and wait until it answers
#
# No systemd here: each daemon runs under start-stop-daemon as its Debian user, with a
# pid file under /run/steadyflow-ci, a config of ours (the Debian one listens on every
# address and starts ZooKeeper's admin web server) and the Debian data directories, so
# a restart keeps the data.
set -eu

RUN_DIR=/run/steadyflow-ci
ZK_CONF_DIR=/var/lib/steadyflow-ci/zookeeper
ZK_DATA=/var/lib/zookeeper/steadyflow
ETCD_DATA=/var/lib/etcd/steadyflow
LOG_DIR=/var/log/steadyflow-ci
WAIT_S="${STEADYFLOW_SERVICES_WAIT_S:-60}"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

install_missing() {
    missing=""
    [ -r /usr/share/java/zookeeper.jar ] || missing="$missing zookeeperd"
    command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || missing="$missing etcd-server"
    [ -n "$missing" ] || return 0
    echo "services: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086 # the list is words on purpose
    as_root apt-get install -y -q $missing >/dev/null 2>&1 || {
        as_root apt-get update -q >/dev/null
        as_root apt-get install -y -q $missing >/dev/null
    }
}

zk_answers() {
    # "ruok" is one of the four-letter words our config allows; "imok" means serving.
    reply=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2181; printf ruok >&3; cat <&3' \
        2>/dev/null || true)
    [ "$reply" = imok ]
}

etcd_answers() {
    curl -fsS --max-time 2 http://127.0.0.1:2379/health 2>/dev/null | grep -q '"health":"true"'
}

zk_config() {
    as_root mkdir -p "$ZK_CONF_DIR" "$ZK_DATA" /var/log/zookeeper
    as_root chown zookeeper:zookeeper "$ZK_DATA" /var/log/zookeeper
    # tickTime 500 ms lets sessions time out after 1 s: a board's session timeout follows
    # its claims' ttl (steadyflow/jobs/zookeeper.py), and tests use short ttls.
    as_root sh -c "cat > '$ZK_CONF_DIR/zoo.cfg'" <<EOF
tickTime=500
initLimit=10
syncLimit=5
dataDir=$ZK_DATA
clientPort=2181
clientPortAddress=127.0.0.1
minSessionTimeout=1000
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF
    as_root cp /etc/zookeeper/conf/log4j.properties "$ZK_CONF_DIR/" 2>/dev/null || true
}

start_zookeeper() {
    zk_answers && return 0
    zk_config
    as_root mkdir -p "$RUN_DIR"
    echo "services: starting ZooKeeper on 127.0.0.1:2181"
    as_root start-stop-daemon --start --quiet --oknodo --background \
        --pidfile "$RUN_DIR/zookeeper.pid" --make-pidfile \
        --chuid zookeeper:zookeeper --exec /usr/bin/java -- \
        -cp "$ZK_CONF_DIR:/usr/share/java/zookeeper.jar" \
        -Dzookeeper.log.dir=/var/log/zookeeper -Dzookeeper.root.logger=INFO,ROLLINGFILE \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_CONF_DIR/zoo.cfg"
}

start_etcd() {
    etcd_answers && return 0
    as_root mkdir -p "$RUN_DIR" "$ETCD_DATA"
    as_root chown etcd:etcd "$ETCD_DATA"
    as_root chmod 700 "$ETCD_DATA"
    echo "services: starting etcd on 127.0.0.1:2379"
    # Heartbeat 50 ms and election 500 ms make etcd's shortest lease 1 s (not 2 s).
    as_root mkdir -p "$LOG_DIR"
    as_root start-stop-daemon --start --quiet --oknodo --background \
        --pidfile "$RUN_DIR/etcd.pid" --make-pidfile --output "$LOG_DIR/etcd.log" \
        --chuid etcd:etcd --exec /usr/bin/etcd -- \
        --name steadyflow --data-dir "$ETCD_DATA" \
        --listen-client-urls http://127.0.0.1:2379 \
        --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 \
        --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster steadyflow=http://127.0.0.1:2380 \
        --heartbeat-interval 50 --election-timeout 500 \
        --logger zap --log-outputs stderr
}

stop_service() {
    pidfile="$RUN_DIR/$1.pid"
    [ -f "$pidfile" ] || { echo "services: $1 was not started by this script" >&2; exit 1; }
    as_root start-stop-daemon --stop --quiet --oknodo --retry=TERM/30/KILL/5 --pidfile "$pidfile"
    as_root rm -f "$pidfile"
}

wait_for() {
    name=$1
    check=$2
    waited=0
    until $check; do
        if [ "$waited" -ge "$((WAIT_S * 4))" ]; then
            echo "services: $name did not answer within ${WAIT_S}s" >&2
            return 1
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
}

case "${1:-start}:${2:-all}" in
    start:all)
        install_missing
        start_zookeeper
        start_etcd
        wait_for ZooKeeper zk_answers
        wait_for etcd etcd_answers
        ;;
    start:zookeeper) start_zookeeper && wait_for ZooKeeper zk_answers ;;
    start:etcd) start_etcd && wait_for etcd etcd_answers ;;
    stop:zookeeper | stop:etcd) stop_service "$2" ;;
    *)
        echo "usage: $0 [start [zookeeper|etcd]] | stop zookeeper|etcd" >&2
        exit 2
        ;;
esac
