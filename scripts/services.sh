#!/usr/bin/env bash
# Starts the local Postgres, Redis and NATS (JetStream) if they are not
# answering, using the system packages (Debian: postgresql, redis-server,
# nats-server). With Docker, `docker compose -f infra/compose.yaml up -d`
# gives the same three instead.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local name=$1 port=$2
    for _ in $(seq 1 60); do
        listening "$port" && { echo "$name: up on 127.0.0.1:$port"; return 0; }
        sleep 0.5
    done
    echo "$name did not come up on port $port" >&2
    return 1
}

if ! listening 5432; then
    echo "postgres: starting"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
wait_for postgres 5432

if ! listening 6379; then
    echo "redis: starting"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for redis 6379

if ! listening 4222; then
    echo "nats: starting"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
wait_for nats 4222
