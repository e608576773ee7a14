#!/usr/bin/env bash
# Runs spintemp locally, end to end: migrates the databases, makes a JWT key
# pair on first use, starts audit-relay, and serves the app with `spin up`
# (or, where the Spin CLI is not installed, with the project's wasmtime test
# host, which runs the same spin.toml and components).
#
#   scripts/up.sh            # http://127.0.0.1:3000
#   LISTEN=0.0.0.0:8080 scripts/up.sh
#
# Settings (environment): DB_URL, AUDIT_DB_URL, REDIS_URL, NATS_URL, LISTEN,
# KEY_DIR, RUNNER=spin|host.
set -euo pipefail
cd "$(dirname "$0")/.."

DB_URL=${DB_URL:-postgres://postgres@127.0.0.1:5432/spintemp?sslmode=disable}
AUDIT_DB_URL=${AUDIT_DB_URL:-postgres://postgres@127.0.0.1:5432/spintemp_audit?sslmode=disable}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
LISTEN=${LISTEN:-127.0.0.1:3000}
KEY_DIR=${KEY_DIR:-.spin/keys}
if [ -z "${RUNNER:-}" ]; then
    if command -v spin >/dev/null 2>&1; then RUNNER=spin; else RUNNER=host; fi
fi

echo "== building the admin tool and the relay"
cargo build -q --profile native -p spintemp-admin -p audit-relay
admin=target/native/spintemp-admin

echo "== migrating $DB_URL and $AUDIT_DB_URL"
"$admin" migrate --create-database --db-url "$DB_URL" --audit-db-url "$AUDIT_DB_URL"

if [ ! -f "$KEY_DIR/jwt_public.pem" ]; then
    echo "== generating a JWT key pair in $KEY_DIR"
    "$admin" keygen --out-dir "$KEY_DIR" >/dev/null
fi

# host:port of a URL, for allowed_outbound_hosts.
host_port() { local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}; echo "$rest"; }

export SPIN_VARIABLE_DB_URL=$DB_URL
export SPIN_VARIABLE_DB_HOST=$(host_port "$DB_URL")
export SPIN_VARIABLE_AUDIT_DB_URL=$AUDIT_DB_URL
export SPIN_VARIABLE_AUDIT_DB_HOST=$(host_port "$AUDIT_DB_URL")
export SPIN_VARIABLE_REDIS_URL=$REDIS_URL
export SPIN_VARIABLE_REDIS_HOST=$(host_port "$REDIS_URL")
SPIN_VARIABLE_JWT_PUBLIC_KEY=$(cat "$KEY_DIR/jwt_public.pem")
export SPIN_VARIABLE_JWT_PUBLIC_KEY

echo "== starting audit-relay (metrics on 127.0.0.1:9465)"
target/native/audit-relay --database-url "$DB_URL" --audit-database-url "$AUDIT_DB_URL" \
    --nats-url "$NATS_URL" --listen 127.0.0.1:9465 &
relay=$!
trap 'kill $relay 2>/dev/null || true' EXIT

cat <<TXT
== a token for curl (admin, 1 hour):
   export TOKEN=\$($admin token --private-key $KEY_DIR/jwt_private.pem --admin)
   curl -H "Authorization: Bearer \$TOKEN" http://$LISTEN/api/customers
TXT

if [ "$RUNNER" = spin ]; then
    spin up --build --listen "$LISTEN"
else
    echo "== the Spin CLI is not installed: serving with the wasmtime test host"
    cargo build -q --target wasm32-wasip2 --release \
        $(grep -o -- '-p [a-z0-9-]*' spin.toml | tr '\n' ' ')
    cargo run -q --profile native -p spintemp-host -- --manifest spin.toml --listen "$LISTEN"
fi
