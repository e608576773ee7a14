#!/usr/bin/env bash
# Starts the local Postgres, Redis and NATS (JetStream) that are not
# answering, from the system packages (Debian: postgresql, redis-server,
# nats-server), and says exactly what to install when one is missing.
# scripts/up.sh uses it when Docker is not there; CI runs it as it is.
#
#   scripts/services.sh            # start what is missing, wait until all answer
#   scripts/services.sh --stop     # stop what an earlier run recorded in STARTED_FILE
#
# Settings (environment): PG_PORT (5432), REDIS_PORT (6379), NATS_PORT (4222);
# STARTED_FILE: a file to which the name of each service this run started is
# appended (postgres, redis, nats), so that the caller can stop exactly those;
# STATE_DIR: where Redis and NATS keep their files and logs when started as
# a normal user (default .spin/services).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
NATS_PORT=${NATS_PORT:-4222}
STARTED_FILE=${STARTED_FILE:-}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local name=$1 port=$2
    for _ in $(seq 1 60); do
        listening "$port" && { echo "$name: up on 127.0.0.1:$port"; return 0; }
        sleep 0.5
    done
    echo "error: $name did not come up on 127.0.0.1:$port" >&2
    return 1
}

started() { [[ -n "$STARTED_FILE" ]] && echo "$1" >>"$STARTED_FILE"; return 0; }

# Installed and executable (command -v alone accepts a file that cannot run).
have() { local path; path=$(command -v "$1") && [[ -x "$path" && -f "$path" ]]; }

as_root() { [[ $(id -u) -eq 0 ]]; }

state_dir() {
    if as_root && [[ -z "${STATE_DIR:-}" ]]; then
        echo "/var/lib/$1"
    else
        echo "${STATE_DIR:-$PWD/.spin/services}/$1"
    fi
}

pg_cluster() {
    # The first cluster Debian's postgresql-common knows (e.g. "15 main").
    local version
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf "%f\n" 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$version" && -d "/etc/postgresql/$version/main" ]] && echo "$version main"
}

missing=()
# /usr/sbin is not on every user's PATH.
SSD=$(command -v start-stop-daemon || echo /usr/sbin/start-stop-daemon)

start_postgres() {
    listening "$PG_PORT" && { echo "postgres: already up on 127.0.0.1:$PG_PORT"; return 0; }
    local cluster
    if ! have pg_ctlcluster || ! cluster=$(pg_cluster); then
        missing+=("postgresql")
        return 0
    fi
    if as_root; then
        echo "postgres: starting cluster $cluster"
        # shellcheck disable=SC2086  # "$version main"
        pg_ctlcluster --skip-systemctl-redirect $cluster start
    elif [[ $(id -un) == postgres ]]; then
        echo "postgres: starting cluster $cluster"
        # shellcheck disable=SC2086
        pg_ctlcluster $cluster start
    elif sudo -n true 2>/dev/null; then
        echo "postgres: starting cluster $cluster (sudo)"
        # shellcheck disable=SC2086
        sudo -n pg_ctlcluster $cluster start
    else
        echo "error: postgres is installed but not running, and starting it needs root:" >&2
        echo "       sudo systemctl start postgresql   (or: sudo pg_ctlcluster $cluster start)" >&2
        return 1
    fi
    started postgres
}

start_redis() {
    listening "$REDIS_PORT" && { echo "redis: already up on 127.0.0.1:$REDIS_PORT"; return 0; }
    have redis-server || { missing+=("redis-server"); return 0; }
    local dir log
    dir=$(state_dir redis)
    log=$([[ $dir == /var/lib/redis ]] && echo /var/log/redis/ci.log || echo "$dir/redis.log")
    mkdir -p "$dir" "$(dirname "$log")"
    echo "redis: starting on 127.0.0.1:$REDIS_PORT"
    # Nothing on disk: it is a cache.
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir "$dir" --logfile "$log" --pidfile "$dir/redis-$REDIS_PORT.pid"
    started redis
}

start_nats() {
    listening "$NATS_PORT" && { echo "nats: already up on 127.0.0.1:$NATS_PORT"; return 0; }
    local bin
    bin=$(command -v nats-server || echo /usr/sbin/nats-server)   # /usr/sbin is not on every PATH
    [[ -x "$bin" && -f "$bin" ]] || { missing+=("nats-server"); return 0; }
    local dir log
    dir=$(state_dir nats-server)
    log=$([[ $dir == /var/lib/nats-server ]] && echo /var/log/nats-server.log || echo "$dir/nats-server.log")
    mkdir -p "$dir"
    echo "nats: starting on 127.0.0.1:$NATS_PORT (JetStream in $dir)"
    "$SSD" --start --oknodo --background --make-pidfile --pidfile "$dir/nats-$NATS_PORT.pid" \
        --exec "$bin" -- -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$dir" -l "$log"
    started nats
}

stop_recorded() {
    [[ -n "$STARTED_FILE" && -f "$STARTED_FILE" ]] || return 0
    local name cluster
    while read -r name; do
        case $name in
            postgres)
                cluster=$(pg_cluster) || continue
                echo "postgres: stopping cluster $cluster"
                # shellcheck disable=SC2086
                if as_root; then
                    # shellcheck disable=SC2086
                    pg_ctlcluster --skip-systemctl-redirect $cluster stop || true
                else
                    # shellcheck disable=SC2086
                    sudo -n pg_ctlcluster $cluster stop || pg_ctlcluster $cluster stop || true
                fi
                ;;
            redis)
                echo "redis: stopping 127.0.0.1:$REDIS_PORT"
                redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
                ;;
            nats)
                echo "nats: stopping 127.0.0.1:$NATS_PORT"
                "$SSD" --stop --oknodo --retry 5 --pidfile "$(state_dir nats-server)/nats-$NATS_PORT.pid" || true
                ;;
        esac
    done <"$STARTED_FILE"
    rm -f "$STARTED_FILE"
}

if [[ "${1:-}" == --stop ]]; then
    stop_recorded
    exit 0
fi

start_postgres
start_redis
start_nats
if ((${#missing[@]})); then
    echo "error: not installed: ${missing[*]}. On Debian or Ubuntu:" >&2
    echo "       sudo apt-get install ${missing[*]}" >&2
    echo "       or install Docker: scripts/up.sh then starts infra/compose.yaml instead." >&2
    exit 1
fi
wait_for postgres "$PG_PORT"
wait_for redis "$REDIS_PORT"
wait_for nats "$NATS_PORT"
