#!/usr/bin/env bash
# Runs spintemp on this machine, end to end, in one command:
#   1. starts what is missing: with Docker, infra/compose.yaml (Postgres,
#      TimescaleDB as the audit store, Redis, NATS, the OpenTelemetry
#      Collector, Jaeger, Prometheus, Grafana); without it, the system
#      services (scripts/services.sh; Prometheus too if Debian's package is
#      installed); otherwise it says what to install;
#   2. builds the native tools and the components (cargo's progress shown);
#   3. migrates both databases, makes the login role of each kind of
#      operation (their passwords made on first use and kept in
#      .spin/db-roles), the keys on first use (the JWT key pair and the
#      token memo key, .spin/keys) and the first admin on a fresh database;
#   4. starts audit-relay (metrics on 127.0.0.1:9465);
#   5. serves the app with `spin up` (or, without the Spin CLI, the
#      project's wasmtime test host, saying so) and the runtime config for
#      the local stores;
#   6. prints the URLs and how to log in as that admin, and on Ctrl-C stops
#      everything it started (and nothing else).
#
#   scripts/up.sh                      # http://127.0.0.1:3000
#   LISTEN=127.0.0.1:8080 scripts/up.sh
#
# Settings (environment): DB_URL, AUDIT_DB_URL (the databases' owner: it
# migrates them and makes the roles the app and the relay log in as, on
# the same servers; `spintemp-admin roles list` says which does what),
# REDIS_URL (the read cache
# and the login throttling), NATS_URL, LISTEN, KEY_DIR, RUNNER=spin|host,
# DEPS=auto|docker|system|none (how to start the dependencies; none: use what
# is running), RUNTIME_CONFIG (a Spin runtime config file; default
# infra/runtime-config.toml), VAULT_ADDR + VAULT_TOKEN (read the secrets from
# Vault: infra/runtime-config.vault.toml), ADMIN_EMAIL (the first admin;
# default admin@example.com), ADMIN_PASSWORD (its password when it is made;
# unset: a random one, made once and kept in .spin/admin-password), SEED=1
# (load demo data; their password: SPINTEMP_SEED_PASSWORD, default the
# admin's).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/vault-runtime-config.sh
source scripts/lib/app-secrets.sh

LISTEN=${LISTEN:-127.0.0.1:3000}
KEY_DIR=${KEY_DIR:-.spin/keys}
DEPS=${DEPS:-auto}
RELAY_LISTEN=127.0.0.1:9465
STATE=.spin/up
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com}
ADMIN_PASSWORD_FILE=.spin/admin-password
ROLE_PASSWORD_DIR=.spin/db-roles
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
# host_port URL (host:port, for allowed_outbound_hosts), random_secret and
# ensure_token_memo_key come from scripts/lib/app-secrets.sh.

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
if [ -n "${REDIS_URL:-}" ]; then
    case $REDIS_URL in
        redis://?* | rediss://?*) ;;
        *) fail "REDIS_URL=$REDIS_URL: expected redis://[user:password@]host:port (the read cache and the login throttling)" ;;
    esac
fi
# A plain address (the admin tool checks it in full), which the login command
# printed at the end can quote as it is.
case $ADMIN_EMAIL in
    *[!A-Za-z0-9._%+@-]* | *@*@*) ADMIN_EMAIL_OK=false ;;
    ?*@?*.?*) ADMIN_EMAIL_OK=true ;;
    *) ADMIN_EMAIL_OK=false ;;
esac
$ADMIN_EMAIL_OK || fail "ADMIN_EMAIL=$ADMIN_EMAIL: expected an email address such as admin@example.com (letters, digits and . _ % + - only)"
# check_password WHERE PASSWORD: the app's rule (8 to 128 characters), and
# no control character, so that it goes into JSON as it is.
check_password() {
    [ "${#2}" -ge 8 ] && [ "${#2}" -le 128 ] || fail "$1: the password must be 8 to 128 characters (it has ${#2})"
    case $2 in *[[:cntrl:]]*) fail "$1: the password must not contain control characters" ;; esac
}
if [ -n "${ADMIN_PASSWORD:-}" ]; then
    check_password ADMIN_PASSWORD "$ADMIN_PASSWORD"
elif [ -e "$ADMIN_PASSWORD_FILE" ]; then
    [ -f "$ADMIN_PASSWORD_FILE" ] && [ -r "$ADMIN_PASSWORD_FILE" ] ||
        fail "$ADMIN_PASSWORD_FILE is not a readable file (it keeps the first admin's password; or set ADMIN_PASSWORD)"
    if [ -s "$ADMIN_PASSWORD_FILE" ]; then
        check_password "$ADMIN_PASSWORD_FILE" "$(cat "$ADMIN_PASSWORD_FILE")"
    fi
fi
if [ -n "${SEED:-}" ] && [ -n "${SPINTEMP_SEED_PASSWORD:-}" ]; then
    check_password SPINTEMP_SEED_PASSWORD "$SPINTEMP_SEED_PASSWORD"
fi
if [ -e "$KEY_DIR" ] && [ ! -d "$KEY_DIR" ]; then
    fail "KEY_DIR=$KEY_DIR: not a directory"
fi
if [ -s "$KEY_DIR/token_memo.key" ] && ! [[ "$(tr -d '[:space:]' <"$KEY_DIR/token_memo.key")" =~ ^[A-Za-z0-9+/]{43}=$ ]]; then
    fail "KEY_DIR=$KEY_DIR: token_memo.key is not 32 bytes in base64 (delete it and a new one is made; memoised tokens are then verified once more)"
fi
if [ -f "$KEY_DIR/jwt_public.pem" ] && [ ! -s "$KEY_DIR/jwt_private.pem" ]; then
    fail "KEY_DIR=$KEY_DIR has jwt_public.pem but no jwt_private.pem, which the app signs with: restore it, or move the directory away for a new pair (tokens of the old one stop working)"
fi

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
say "building the web UI (npm ci on first use, then vite) and the components for wasm32-wasip2, as spin build would"
scripts/build-components.sh
admin=target/native/spintemp-admin

# --- 3. databases, the first admin, keys ----------------------------------------
# The URL of each kind of operation's role (DB_READER_URL, ..., and the
# SPIN_VARIABLE_ of each the app reads), as export lines: run in a subshell
# for migrate, which makes those login roles, and for the relay's, so that
# the relay's environment holds no other role's password; the app gets
# them below.
role_exports=$("$admin" roles urls --db-url "$DB_URL" --audit-db-url "$AUDIT_DB_URL" \
    --password-dir "$ROLE_PASSWORD_DIR")
say "migrating $DB_URL and $AUDIT_DB_URL; the roles' passwords are in $ROLE_PASSWORD_DIR"
(eval "$role_exports" && "$admin" migrate --create-database --db-url "$DB_URL" --audit-db-url "$AUDIT_DB_URL")

# The first admin, made on a fresh database and left as it is afterwards
# (--if-absent). Its password: ADMIN_PASSWORD, or the one kept in
# .spin/admin-password, or a new random one kept there for the next runs.
if [ -n "${ADMIN_PASSWORD:-}" ]; then
    admin_password=$ADMIN_PASSWORD admin_password_from=env
elif [ -s "$ADMIN_PASSWORD_FILE" ]; then
    admin_password=$(cat "$ADMIN_PASSWORD_FILE") admin_password_from=file
    chmod 600 "$ADMIN_PASSWORD_FILE"
else
    admin_password=$(random_secret 18) admin_password_from=new
    (umask 077 && printf '%s' "$admin_password" >"$ADMIN_PASSWORD_FILE")
fi
say "making the first admin, $ADMIN_EMAIL, unless that user exists"
# The password through the environment, never the command line.
SPINTEMP_USER_PASSWORD=$admin_password "$admin" user create --db-url "$DB_URL" --email "$ADMIN_EMAIL" \
    --first-name Admin --last-name User --admin --if-absent </dev/null ||
    fail "spintemp-admin user create --email $ADMIN_EMAIL failed (see above)"
if [ -n "${SEED:-}" ]; then
    seed_password_from="the admin's"
    [ -n "${SPINTEMP_SEED_PASSWORD:-}" ] && seed_password_from=SPINTEMP_SEED_PASSWORD
    say "loading demo data (the demo users' password: $seed_password_from)"
    SPINTEMP_SEED_PASSWORD=${SPINTEMP_SEED_PASSWORD:-$admin_password} "$admin" seed --db-url "$DB_URL" </dev/null
fi

# The JWT key pair (the app signs with the private key, in auth-login and
# auth-refresh only, and verifies with the public one) and the memo key of
# verified tokens, made once. An older key directory has no memo key yet:
# it gets one, and its key pair stays as it is.
if [ ! -f "$KEY_DIR/jwt_public.pem" ]; then
    say "making the keys in $KEY_DIR"
    "$admin" keygen --out-dir "$KEY_DIR" >/dev/null
fi
if [ ! -s "$KEY_DIR/token_memo.key" ]; then
    say "adding the token memo key to $KEY_DIR (token_memo.key, mode 600)"
    ensure_token_memo_key "$KEY_DIR"
fi

# --- 4. the relay --------------------------------------------------------------
listening "$RELAY_LISTEN" && fail "$RELAY_LISTEN is taken: is another audit-relay running? (its metrics port)"
say "starting audit-relay (log: $STATE/audit-relay.log)"
# The outbox as spintemp_relay (read and delete, nothing else); the audit
# store as its owner, since the relay migrates it and sets its policies.
# The URLs through the environment, never the command line.
relay_url=$(eval "$role_exports" && printf '%s' "$DB_RELAY_URL")
DATABASE_URL=$relay_url AUDIT_DATABASE_URL=$AUDIT_DB_URL \
    detach target/native/audit-relay --nats-url "$NATS_URL" --listen "$RELAY_LISTEN" \
    >"$STATE/audit-relay.log" 2>&1 &
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
# Only the app gets these (the relay and Prometheus started above). Spin
# hands each component the variables spin.toml maps into it: the signing key
# to auth-login and auth-refresh alone, the memo key to the verifying ones.
export SPIN_VARIABLE_DB_HOST SPIN_VARIABLE_AUDIT_DB_HOST SPIN_VARIABLE_REDIS_HOST SPIN_VARIABLE_CACHE_ADDRESS
SPIN_VARIABLE_DB_HOST=$(host_port "$DB_URL")
SPIN_VARIABLE_AUDIT_DB_HOST=$(host_port "$AUDIT_DB_URL")
SPIN_VARIABLE_REDIS_HOST=$(host_port "$REDIS_URL")
# The cache (infra/runtime-config.toml) is the same local Redis.
SPIN_VARIABLE_CACHE_ADDRESS=redis://$SPIN_VARIABLE_REDIS_HOST
if [ -n "${VAULT_ADDR:-}" ]; then
    RUNTIME_CONFIG=$STATE/runtime-config.vault.toml
    render_vault_runtime_config "$RUNTIME_CONFIG"
    echo "(secrets from Vault at $VAULT_ADDR: db_reader_url, db_customers_url, db_products_url, db_promotions_url, db_auth_url, audit_db_reader_url, redis_url, jwt_public_key, jwt_private_key, token_memo_key under ${VAULT_MOUNT:-secret}/${VAULT_PREFIX:-spintemp}/; \`spintemp-admin roles urls --password-dir $ROLE_PASSWORD_DIR\` prints the role URLs this run made)"
else
    eval "$role_exports"
    export SPIN_VARIABLE_REDIS_URL=$REDIS_URL
    SPIN_VARIABLE_JWT_PUBLIC_KEY=$(cat "$KEY_DIR/jwt_public.pem")
    SPIN_VARIABLE_JWT_PRIVATE_KEY=$(cat "$KEY_DIR/jwt_private.pem")
    SPIN_VARIABLE_TOKEN_MEMO_KEY=$(cat "$KEY_DIR/token_memo.key")
    export SPIN_VARIABLE_JWT_PUBLIC_KEY SPIN_VARIABLE_JWT_PRIVATE_KEY SPIN_VARIABLE_TOKEN_MEMO_KEY
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
echo "   UI            http://$LISTEN/   (open it in a browser; log in as below, or register)"
echo "   API           http://$LISTEN/api/   (health: http://$LISTEN/api/health)"
echo "   OpenAPI       http://$LISTEN/api/openapi.json"
echo "   relay metrics http://$RELAY_LISTEN/metrics   (health: /healthz)"
listening 127.0.0.1:9090 && echo "   Prometheus    http://127.0.0.1:9090/alerts"
listening 127.0.0.1:3001 && echo "   Grafana       http://127.0.0.1:3001/d/spintemp"
listening 127.0.0.1:16686 && echo "   Jaeger        http://127.0.0.1:16686/search?service=spintemp"

# How to log in, checked once with the password this run knows: an admin
# that existed before this run may have another one.
json_string() { local v=${1//\\/\\\\}; v=${v//\"/\\\"}; printf '"%s"' "$v"; }
login_status=$(printf '{"email": %s, "password": %s}' "$(json_string "$ADMIN_EMAIL")" "$(json_string "$admin_password")" |
    curl -sS -o /dev/null -w '%{http_code}' -X POST "http://$LISTEN/api/auth/login" \
        -H 'content-type: application/json' --data-binary @- 2>/dev/null) || login_status=000
password_file=$PWD/$ADMIN_PASSWORD_FILE
printf -v password_file_q '%q' "$password_file"
case $admin_password_from in
    new) password_note="$admin_password   (made now and kept in $password_file, mode 600)" ;;
    file) password_note="in $password_file" ;;
    env) password_note="the ADMIN_PASSWORD this script was started with" ;;
esac
# The request body, built from the file (or from ADMIN_PASSWORD in that
# shell) so that the password is on no command line; the access token out.
if command -v jq >/dev/null; then
    if [ "$admin_password_from" = env ]; then
        body="jq -n --arg email $ADMIN_EMAIL '{email: \$email, password: env.ADMIN_PASSWORD}'"
    else
        body="jq -Rs --arg email $ADMIN_EMAIL '{email: \$email, password: rtrimstr(\"\\n\")}' $password_file_q"
    fi
    access_token="jq -r .accessToken"
else
    if [ "$admin_password_from" = env ]; then
        body="python3 -c 'import json, os, sys; print(json.dumps({\"email\": sys.argv[1], \"password\": os.environ[\"ADMIN_PASSWORD\"]}))' $ADMIN_EMAIL"
    else
        body="python3 -c 'import json, sys; print(json.dumps({\"email\": sys.argv[1], \"password\": open(sys.argv[2]).read().rstrip(\"\\n\")}))' $ADMIN_EMAIL $password_file_q"
    fi
    access_token="python3 -c 'import json, sys; print(json.load(sys.stdin)[\"accessToken\"])'"
fi
where="in another shell"
[ "$admin_password_from" = env ] && where="in another shell, with ADMIN_PASSWORD exported there"
cat <<TXT

   Log in to the UI, or to the API, as the first admin (an access token lasts access_token_seconds, 15 minutes by default):
   email     $ADMIN_EMAIL
   password  $password_note

   Its access token and a first request, $where:
   export TOKEN=\$($body |
       curl -fsS -X POST http://$LISTEN/api/auth/login -H 'content-type: application/json' --data-binary @- | $access_token)
   curl -H "Authorization: Bearer \$TOKEN" http://$LISTEN/api/customers

TXT
case $login_status in
    200) ;;
    401)
        printf 'warning: %s existed before this run and this password does not log in: start with ADMIN_PASSWORD set to its password, or with another ADMIN_EMAIL for a new admin\n\n' "$ADMIN_EMAIL" >&2
        ;;
    429) printf 'warning: POST /api/auth/login answered 429: too many failed logins for %s; wait throttle_window_seconds (15 minutes by default)\n\n' "$ADMIN_EMAIL" >&2 ;;
    *) printf 'warning: checking the login, POST http://%s/api/auth/login answered %s (see the app'"'"'s output above)\n\n' "$LISTEN" "$login_status" >&2 ;;
esac
wait "$app"
