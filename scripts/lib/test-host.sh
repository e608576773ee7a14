# shellcheck shell=bash
# Sourced by bench/http.sh, tests/compat/run.sh and tests/fuzz/run.sh: serves
# a Spin app on a free port, with the real Spin CLI (RUNNER=spin) or the
# project's wasmtime test host (RUNNER=host, the default).
#
# Needs: ROOT, WORK (with keys/jwt_public.pem and keys/jwt_private.pem from
# `spintemp-admin keygen`; keys/token_memo.key is made if missing), DB_URL,
# PG_SERVER, REDIS_URL, an `admin` function (spintemp-admin) and a `log`
# function; SPIN (the spin binary) when RUNNER=spin; HOST_BIN (default
# target/native/spintemp-host) otherwise.
#
#   migrate_app [ARGS...]         DB_URL created if missing and migrated (it
#                                 doubles as the audit store), with a login role
#                                 per kind of operation, whose URLs it exports
#                                 (DB_READER_URL, SPIN_VARIABLE_DB_READER_URL, ...)
#   start_host [ARGS...]          the app in spin.toml (after migrate_app); sets
#                                 HOST_PID, BASE_URL
#   serve NAME MANIFEST [ARGS...] any manifest; sets SERVED_PID, SERVED_URL
#
# ARGS go to `spin up` or the host alike (e.g. --variable name=value). The
# app's cache, the key-value store `default`, is the Redis at REDIS_URL
# through a runtime config, as in production; login and registration
# throttling use the same Redis (redis_url, redis_host).

# shellcheck source=scripts/lib/app-secrets.sh
source "$(dirname "${BASH_SOURCE[0]}")/app-secrets.sh"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve NAME MANIFEST [ARGS...]
serve() {
    local name=$1 manifest=$2
    shift 2
    local port log="$WORK/$name.log" rc="$WORK/runtime-config.toml"
    printf '[key_value_store.%s]\ntype = "redis"\nurl = "%s"\n' \
        default "$REDIS_URL" cache_b "$REDIS_URL" cache_c "$REDIS_URL" >"$rc"
    printf '[key_value_store.replica]\ntype = "spin"\n' >>"$rc"
    # A log left by an earlier start of the same app (the floors start once
    # per concurrency) would say "Serving" before this one does.
    rm -f "$log"
    port=$(free_port)
    SERVED_URL="http://127.0.0.1:$port"
    log "serving $name ($(basename "$manifest")) with ${RUNNER:-host} at $SERVED_URL"
    if [[ "${RUNNER:-host}" == spin ]]; then
        # `spin up` keeps its local state (.spin/) next to the manifest.
        (cd "$(dirname "$manifest")" && exec "$SPIN" up -f "$manifest" --listen "127.0.0.1:$port" \
            --runtime-config-file "$rc" "$@") >"$log" 2>&1 &
    else
        (cd "$(dirname "$manifest")" && exec "${HOST_BIN:-$ROOT/target/native/spintemp-host}" --manifest "$manifest" \
            --listen "127.0.0.1:$port" --runtime-config-file "$rc" "$@") >"$log" 2>&1 &
    fi
    SERVED_PID=$!
    local waited=0
    until grep -q '^Serving http' "$log" 2>/dev/null; do
        if ! kill -0 "$SERVED_PID" 2>/dev/null || ((waited++ > 600)); then
            cat "$log" >&2
            log "$name did not start"
            return 1
        fi
        sleep 0.2
    done
}

migrate_app() {
    # No passwords: the scripts' servers trust local connections.
    eval "$(admin roles urls --db-url "$DB_URL" --audit-db-url "$DB_URL")"
    admin migrate --create-database --db-url "$DB_URL" --audit-db-url "$DB_URL" "$@"
}

start_host() {
    [[ -n "${SPIN_VARIABLE_DB_READER_URL:-}" ]] || { log "start_host needs the role URLs: migrate_app first"; return 1; }
    local key
    for key in jwt_public.pem jwt_private.pem; do
        [[ -s "$WORK/keys/$key" ]] || { log "no $WORK/keys/$key (spintemp-admin keygen --out-dir $WORK/keys)"; return 1; }
    done
    ensure_token_memo_key "$WORK/keys"
    # The signing and memo keys through the environment of the runtime alone
    # (both read SPIN_VARIABLE_*), not its command line, which `ps` shows.
    # spin.toml hands the signing key to auth-login and auth-refresh only.
    # The role URLs come the same way, from migrate_app's exports.
    SPIN_VARIABLE_JWT_PRIVATE_KEY=$(cat "$WORK/keys/jwt_private.pem") \
        SPIN_VARIABLE_TOKEN_MEMO_KEY=$(cat "$WORK/keys/token_memo.key") \
        SPIN_VARIABLE_REDIS_URL=$REDIS_URL \
        serve app "$ROOT/spin.toml" \
        --variable "db_host=$PG_SERVER" --variable "audit_db_host=$PG_SERVER" \
        --variable "jwt_public_key=$(cat "$WORK/keys/jwt_public.pem")" \
        --variable "redis_host=$(host_port "$REDIS_URL")" \
        --variable "cache_address=redis://$(host_port "$REDIS_URL")" "$@"
    HOST_PID=$SERVED_PID
    BASE_URL=$SERVED_URL
    curl -fsS "$BASE_URL/api/health" >/dev/null
    log "app up at $BASE_URL"
}
