#!/usr/bin/env bash
# Runs spintemp on this machine, end to end, in one command:
#   1. starts what is missing: with Docker, infra/compose.yaml (Postgres,
#      TimescaleDB as the audit store, Redis, NATS, the OpenTelemetry
#      Collector, Jaeger, Prometheus, Grafana); without it, the system
#      services (scripts/services.sh; Prometheus too if Debian's package is
#      installed); otherwise it says what to install;
#   2. builds the native tools and the components (cargo's progress shown);
#   3. migrates both databases, makes a JWT key pair on first use;
#   4. starts audit-relay (metrics on 127.0.0.1:9465);
#   5. serves the app with `spin up` (or, without the Spin CLI, the
#      project's wasmtime test host, saying so) and the runtime config for
#      the local stores;
#   6. prints the URLs and a token command, and on Ctrl-C stops everything
#      it started (and nothing else).
#
#   scripts/up.sh                      # http://127.0.0.1:3000
#   LISTEN=127.0.0.1:8080 scripts/up.sh
#
# Settings (environment): DB_URL, AUDIT_DB_URL, REDIS_URL, NATS_URL, LISTEN,
# KEY_DIR, RUNNER=spin|host, DEPS=auto|docker|system|none (how to start the
# dependencies; none: use what is running), RUNTIME_CONFIG (a Spin runtime
# config file; default infra/runtime-config.toml), VAULT_ADDR + VAULT_TOKEN
# (read the secrets from Vault: infra/runtime-config.vault.toml), SEED=1 (load
# demo data, once the admin tool has a seed command).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/vault-runtime-config.sh

LISTEN=${LISTEN:-127.0.0.1:3000}
KEY_DIR=${KEY_DIR:-.spin/keys}
DEPS=${DEPS:-auto}
RELAY_LISTEN=127.0.0.1:9465
STATE=.spin/up
mkdir -p "$STATE"

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
# Children get their own session: Ctrl-C reaches only this script, which
# then stops each of them once (a second signal would make the relay drop
# the batch in hand instead of finishing it).
# Only as `detach cmd … &`: the exec replaces the background subshell, so
# $! is the command itself.
detach() { if command -v setsid >/dev/null; then exec setsid "$@"; else exec "$@"; fi; }
# host:port of a URL, for allowed_outbound_hosts.
host_port() { local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}; echo "$rest"; }

case $DEPS in auto | docker | system | none) ;; *) fail "DEPS=$DEPS: expected auto, docker, system or none" ;; esac
if [ -n "${RUNNER:-}" ] && [ "$RUNNER" != spin ] && [ "$RUNNER" != host ]; then
    fail "RUNNER=$RUNNER: expected spin or host"
fi
if [ -z "${RUNNER:-}" ]; then
    if command -v spin >/dev/null 2>&1; then RUNNER=spin; else RUNNER=host; fi
fi
if [ -n "${VAULT_ADDR:-}" ] && [ "$RUNNER" = host ]; then
    fail "VAULT_ADDR is set, but the test host has no Vault provider: install Spin (https://spinframework.dev/install) or unset VAULT_ADDR"
fi
listening "$LISTEN" && fail "LISTEN=$LISTEN: something already listens there (another scripts/up.sh?)"

# Everything this run starts, stopped on exit in reverse order.
pids=() compose_started=() services_started=$STATE/services.started
rm -f "$services_started"
cleanup() {
    trap - EXIT INT TERM
    if ((${#pids[@]} + ${#compose_started[@]})) || [ -s "$services_started" ]; then
        echo
        say "stopping what scripts/up.sh started"
    fi
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if ((${#compose_started[@]})); then
        docker compose -f infra/compose.yaml stop "${compose_started[@]}" || true
    fi
    STARTED_FILE=$services_started scripts/services.sh --stop || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. dependencies -------------------------------------------------------
docker_ok() { command -v docker >/dev/null && docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }
if [ "$DEPS" = auto ]; then
    if docker_ok; then
        DEPS=docker
    else
        command -v docker >/dev/null && echo "(Docker is installed but its engine or compose plugin does not answer: using the system services)"
        DEPS=system
    fi
fi
observability=false
case $DEPS in
    docker)
        docker_ok || fail "DEPS=docker, but \`docker info\` or \`docker compose version\` fails"
        # What already answers on its port is used as it is; compose starts the rest.
        wanted=(timescaledb otel-collector jaeger prometheus grafana)
        listening 127.0.0.1:5432 || wanted+=(postgres)
        listening 127.0.0.1:6379 || wanted+=(redis)
        listening 127.0.0.1:4222 || wanted+=(nats)
        say "starting ${wanted[*]} with Docker (infra/compose.yaml; the first run pulls the images)"
        for svc in "${wanted[@]}"; do
            [ -n "$(docker compose -f infra/compose.yaml ps -q --status running "$svc")" ] || compose_started+=("$svc")
        done
        docker compose -f infra/compose.yaml up -d --wait "${wanted[@]}"
        AUDIT_DB_URL=${AUDIT_DB_URL:-postgres://postgres@127.0.0.1:5433/spintemp_audit?sslmode=disable}
        observability=true
        ;;
    system)
        say "starting Postgres, Redis and NATS where they are not running (scripts/services.sh)"
        STARTED_FILE=$services_started scripts/services.sh
        ;;
    none) ;;
esac
DB_URL=${DB_URL:-postgres://postgres@127.0.0.1:5432/spintemp?sslmode=disable}
AUDIT_DB_URL=${AUDIT_DB_URL:-postgres://postgres@127.0.0.1:5432/spintemp_audit?sslmode=disable}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}

# --- 2. build --------------------------------------------------------------
components=$(grep -o -- '-p [a-z0-9-]*' spin.toml | tr '\n' ' ')
native=(-p spintemp-admin -p audit-relay)
[ "$RUNNER" = host ] && native+=(-p spintemp-host)
if [ ! -x target/native/audit-relay ]; then
    if [ "$RUNNER" = host ]; then
        say "first build: the native tools, the test host and every component. On an idle 2-core machine this takes about 14 minutes (25 CPU-minutes, mostly wasmtime and cranelift for the host); later runs take seconds"
    else
        say "first build: the native tools and every component. On an idle 2-core machine this takes roughly 6 minutes; later runs take seconds"
    fi
fi
say "building ${native[*]//-p /} (cargo, profile native)"
cargo build --profile native "${native[@]}"
say "building the components for wasm32-wasip2 (as spin build would, in one cargo run)"
# shellcheck disable=SC2086  # one -p per component
cargo build --target wasm32-wasip2 --release $components
admin=target/native/spintemp-admin

# --- 3. databases and keys ---------------------------------------------------
say "migrating $DB_URL and $AUDIT_DB_URL"
"$admin" migrate --create-database --db-url "$DB_URL" --audit-db-url "$AUDIT_DB_URL"
if [ -n "${SEED:-}" ]; then
    if grep -q '^ *seed' <<<"$("$admin" --help)"; then
        say "loading demo data"
        "$admin" seed --db-url "$DB_URL"
    else
        echo "(SEED: this version of spintemp-admin has no seed command yet)"
    fi
fi
if [ ! -f "$KEY_DIR/jwt_public.pem" ]; then
    say "making a JWT key pair in $KEY_DIR"
    "$admin" keygen --out-dir "$KEY_DIR" >/dev/null
fi

# --- 4. the relay --------------------------------------------------------------
listening "$RELAY_LISTEN" && fail "$RELAY_LISTEN is taken: is another audit-relay running? (its metrics port)"
say "starting audit-relay (log: $STATE/audit-relay.log)"
detach target/native/audit-relay --database-url "$DB_URL" --audit-database-url "$AUDIT_DB_URL" \
    --nats-url "$NATS_URL" --listen "$RELAY_LISTEN" >"$STATE/audit-relay.log" 2>&1 &
pids+=($!)

# Prometheus without Docker: Debian's package, with the project's config and rules.
if ! $observability && command -v prometheus >/dev/null && ! listening 127.0.0.1:9090; then
    say "starting Prometheus on 127.0.0.1:9090 (log: $STATE/prometheus.log)"
    detach prometheus --config.file=infra/observability/prometheus/prometheus.yml \
        --storage.tsdb.path="$STATE/prometheus" --web.listen-address=127.0.0.1:9090 \
        >"$STATE/prometheus.log" 2>&1 &
    pids+=($!)
fi

# --- 5. the app ------------------------------------------------------------------
export SPIN_VARIABLE_DB_HOST SPIN_VARIABLE_AUDIT_DB_HOST
SPIN_VARIABLE_DB_HOST=$(host_port "$DB_URL")
SPIN_VARIABLE_AUDIT_DB_HOST=$(host_port "$AUDIT_DB_URL")
if [ -n "${VAULT_ADDR:-}" ]; then
    RUNTIME_CONFIG=$STATE/runtime-config.vault.toml
    render_vault_runtime_config "$RUNTIME_CONFIG"
    echo "(secrets from Vault at $VAULT_ADDR: db_url, audit_db_url, jwt_public_key under ${VAULT_MOUNT:-secret}/${VAULT_PREFIX:-spintemp}/)"
else
    export SPIN_VARIABLE_DB_URL=$DB_URL SPIN_VARIABLE_AUDIT_DB_URL=$AUDIT_DB_URL
    SPIN_VARIABLE_JWT_PUBLIC_KEY=$(cat "$KEY_DIR/jwt_public.pem")
    export SPIN_VARIABLE_JWT_PUBLIC_KEY
fi
RUNTIME_CONFIG=${RUNTIME_CONFIG:-infra/runtime-config.toml}
[ -f "$RUNTIME_CONFIG" ] || fail "RUNTIME_CONFIG=$RUNTIME_CONFIG does not exist"
if $observability; then
    # Spin's traces and metrics to the collector (infra/observability).
    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=spintemp
fi

if [ "$RUNNER" = spin ]; then
    say "serving with spin up on http://$LISTEN (runtime config $RUNTIME_CONFIG)"
    detach spin up --listen "$LISTEN" --runtime-config-file "$RUNTIME_CONFIG" &
    pids+=($!)
else
    host=target/native/spintemp-host
    host_args=(--manifest spin.toml --listen "$LISTEN" --runtime-config-file "$RUNTIME_CONFIG")
    say "the Spin CLI is not installed: serving with the project's wasmtime test host on http://$LISTEN (no OpenTelemetry; install Spin for traces)"
    detach "$host" "${host_args[@]}" &
    pids+=($!)
fi
app=${pids[-1]}

for _ in $(seq 1 240); do
    curl -fsS "http://$LISTEN/api/health" >/dev/null 2>&1 && break
    kill -0 "$app" 2>/dev/null || fail "the app stopped before answering (see its output above)"
    sleep 0.5
done
curl -fsS "http://$LISTEN/api/health" >/dev/null 2>&1 || fail "http://$LISTEN/api/health did not answer 200 within 2 minutes"
kill -0 "${pids[0]}" 2>/dev/null || fail "audit-relay stopped: $(tail -n 5 "$STATE/audit-relay.log")"

# --- 6. where things are -----------------------------------------------------------
echo
say "spintemp is up (Ctrl-C stops what this script started)"
echo "   API           http://$LISTEN/api/   (health: http://$LISTEN/api/health)"
echo "   OpenAPI       http://$LISTEN/api/openapi.json"
if grep -q '^\[component\.web\]' spin.toml; then
    echo "   UI            http://$LISTEN/"
fi
echo "   relay metrics http://$RELAY_LISTEN/metrics   (health: /healthz)"
listening 127.0.0.1:9090 && echo "   Prometheus    http://127.0.0.1:9090/alerts"
listening 127.0.0.1:3001 && echo "   Grafana       http://127.0.0.1:3001/d/spintemp"
listening 127.0.0.1:16686 && echo "   Jaeger        http://127.0.0.1:16686/search?service=spintemp"
key_dir=$(cd "$KEY_DIR" && pwd)
cat <<TXT

   A token (admin, 1 hour) and a first request, in another shell:
   export TOKEN=\$($PWD/$admin token --private-key $key_dir/jwt_private.pem --admin)
   curl -H "Authorization: Bearer \$TOKEN" http://$LISTEN/api/customers

TXT
wait "$app"
