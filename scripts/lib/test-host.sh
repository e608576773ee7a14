# Sourced by bench/http.sh and tests/fuzz/run.sh: starts the wasmtime test
# host on a free port for the app in spin.toml.
#
# Needs: ROOT, WORK (with keys/jwt_public.pem), DB_URL, PG_SERVER, REDIS_URL,
# REDIS_SERVER and a `log` function. Sets HOST_PID and BASE_URL. Extra
# arguments are passed to the host (e.g. --variable cache_ttl_seconds=3600).
start_host() {
    log "starting the test host"
    # Port 0: the host picks a free port and prints it.
    (cd "$ROOT" && exec "$ROOT/target/native/spintemp-host" --manifest spin.toml --listen 127.0.0.1:0 \
        --variable "db_url=$DB_URL" --variable "db_host=$PG_SERVER" \
        --variable "audit_db_url=$DB_URL" --variable "audit_db_host=$PG_SERVER" \
        --variable "redis_url=$REDIS_URL" --variable "redis_host=$REDIS_SERVER" \
        --variable "jwt_public_key=$(cat "$WORK/keys/jwt_public.pem")" "$@") >"$WORK/host.log" 2>&1 &
    HOST_PID=$!
    local waited=0
    until BASE_URL=$(sed -n 's/^Serving \(http:[^ ]*\)$/\1/p' "$WORK/host.log") && [[ -n "$BASE_URL" ]]; do
        if ! kill -0 "$HOST_PID" 2>/dev/null || ((waited++ > 300)); then
            cat "$WORK/host.log" >&2
            log "the host did not start"
            return 1
        fi
        sleep 0.2
    done
    curl -fsS "$BASE_URL/api/health" >/dev/null
    log "host up at $BASE_URL"
}
