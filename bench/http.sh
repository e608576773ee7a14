#!/usr/bin/env bash
# HTTP benchmark of the customers API: the real app (spin.toml) under the
# Spin CLI when `spin` is on the PATH (the project's wasmtime test host
# otherwise, and it says so), driven by wrk, next to the floors a Spin app
# cannot beat on this machine (bench/floors: hello, hello + one key-value
# GET, hello + one Postgres query, hello through one service-chaining hop)
# served by the same runtime in the same run.
#
#   bench/http.sh [--duration SECONDS] [--connections "1 32"] [--customers N]
#                 [--scenarios "get-warm get-cold list create login promotion-get promotion-create"] [--no-build]
#                 [--runner spin|host] [--spin PATH] [--owner-only]
#
# --owner-only: every component connects as the database's owner, in one
# pool, as before each kind of operation had its role: the same build, to
# compare against (docs/operations.md, "Postgres connections").
#
# Prints a Markdown table (requests/s, p50/p99 latency, non-2xx, the ratio to
# the matching floor), the most Postgres connections each role held at once
# (every role is a pool of its own in Spin), and the size of every
# component's .wasm. Exits
# non-zero if any request failed. Uses its own database (dropped and
# recreated on every run) and only Redis keys it created, so it never
# disturbs the tests. See BENCHMARKS.md.
#
# Environment: BENCH_PG_SERVER (127.0.0.1:5432), BENCH_REDIS_SERVER
# (127.0.0.1:6379), BENCH_DB_NAME (spintemp_bench), BENCH_WRK_THREADS (2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../scripts/lib/test-host.sh
source "$ROOT/scripts/lib/test-host.sh"
BENCH_DIR="$ROOT/bench"

DURATION=10
CONNECTIONS="1 32"
CUSTOMERS=50000
SCENARIOS="get-warm get-cold list create login promotion-get promotion-create"
BUILD=1
OWNER_ONLY=0
WARM_IDS=16
# wrk threads for the multi-connection runs: one per core is wrk's advice,
# and on 2 cores wrk competes with the host, Postgres and Redis anyway.
WRK_THREADS=${BENCH_WRK_THREADS:-2}
PG_SERVER=${BENCH_PG_SERVER:-127.0.0.1:5432}
REDIS_SERVER=${BENCH_REDIS_SERVER:-127.0.0.1:6379}
DB_NAME=${BENCH_DB_NAME:-spintemp_bench}

SPIN=${SPIN:-$(command -v spin || true)}
RUNNER=""

usage() {
    sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --customers) CUSTOMERS=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --runner) RUNNER=$2; shift 2 ;;
        --spin) SPIN=$2; shift 2 ;;
        --owner-only) OWNER_ONLY=1; shift ;;
        -h | --help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
    esac
done

if [[ -z "$RUNNER" ]]; then
    if [[ -n "$SPIN" ]]; then RUNNER=spin; else RUNNER=host; fi
fi
case "$RUNNER" in
    spin) [[ -x "$SPIN" ]] || { echo "--runner spin needs the Spin CLI (--spin PATH)" >&2; exit 2; } ;;
    host) ;;
    *) echo "--runner is spin or host, not $RUNNER" >&2; exit 2 ;;
esac

PG_ADMIN_URL="postgres://postgres@$PG_SERVER/postgres?sslmode=disable"
DB_URL="postgres://postgres@$PG_SERVER/$DB_NAME?sslmode=disable"
REDIS_URL="redis://$REDIS_SERVER"

log() { echo "bench: $*" >&2; }

WORK=$(mktemp -d -t spintemp-bench.XXXXXX)
HOST_PID=""
FLOORS_PID=""
SAMPLER_PID=""
FLOOR_KEY="spintemp:bench:floor"
cleanup() {
    local pid
    for pid in $HOST_PID $FLOORS_PID $SAMPLER_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    redis-cli -u "$REDIS_URL" DEL "$FLOOR_KEY" >/dev/null 2>&1 || true
    # The cache entries this run made; every other key belongs to someone else.
    if [[ -s "$WORK/all-ids" ]]; then
        sed 's/^/spintemp:customer:/' "$WORK/all-ids" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" DEL >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

ensure_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v psql >/dev/null || missing+=(postgresql-client)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    command -v curl >/dev/null || missing+=(curl)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# The components named in spin.toml, as `<component id> <wasm path>` lines.
components() {
    awk '
        /^\[component\.[^.]+\]$/ { id = $1; gsub(/^\[component\.|\]$/, "", id) }
        /^source = / && id != "" { src = $3; gsub(/"/, "", src); print id, src; id = "" }
    ' "$ROOT/spin.toml"
}

build() {
    log "building the components and floors (release) and the native tools"
    "$ROOT/scripts/build-components.sh" -q -p floor-hello -p floor-kv -p floor-pg -p floor-chain
    # The host only when it serves: under Spin it is not needed.
    local native=(-p spintemp-admin)
    [[ "$RUNNER" == host ]] && native+=(-p spintemp-host)
    (cd "$ROOT" && cargo build -q --profile native "${native[@]}")
}

admin() { "${ADMIN_BIN:-$ROOT/target/native/spintemp-admin}" "$@"; }

create_database() {
    log "recreating database $DB_NAME"
    psql -q -X -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)"
    # The app database doubles as the audit store, as spin.toml allows.
    migrate_app 2>"$WORK/migrate.log" || {
        cat "$WORK/migrate.log" >&2
        return 1
    }
}

# Each in-flight request holds one pooled Postgres connection, and the tests
# share the server: refuse to start if the busiest run could exhaust it.
check_connection_headroom() {
    local needed=0 connections free
    for connections in $CONNECTIONS; do ((connections > needed)) && needed=$connections; done
    free=$(psql -X -A -t "$PG_ADMIN_URL" \
        -c "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity")
    if ((free < needed + 5)); then
        log "Postgres has $free free connections; $needed concurrent requests need $needed (+5 spare)"
        return 1
    fi
}

# Customers in the shape customers-create writes them: UUIDv7 ids in time
# order, a unique code, one year of validity. (Their outbox rows are left
# out: no scenario reads the outbox.)
seed_customers() {
    log "seeding $CUSTOMERS customers"
    psql -q -X -v ON_ERROR_STOP=1 "$DB_URL" <<SQL
INSERT INTO customers (id, code, name, extra_fields, valid_from, valid_thru, created_by, updated_by)
SELECT (lpad(to_hex(start_ms + n), 12, '0') || '7' || substr(md5(random()::text), 1, 3)
        || to_hex(8 + floor(random() * 4)::int) || substr(md5(random()::text), 1, 15))::uuid,
       'seed-' || n, 'Seed customer ' || n, '{"source": "seed"}'::jsonb,
       now(), now() + interval '1 year', actor, actor
FROM generate_series(1, $CUSTOMERS) AS n,
     (SELECT (extract(epoch FROM now()) * 1000)::bigint - $CUSTOMERS AS start_ms,
             gen_random_uuid() AS actor) AS s;
ANALYZE customers;
SQL
    psql -X -A -t "$DB_URL" -c "SELECT id FROM customers ORDER BY id" >"$WORK/all-ids"
    head -n "$WARM_IDS" "$WORK/all-ids" >"$WORK/warm-ids"
    tail -n +"$((WARM_IDS + 1))" "$WORK/all-ids" >"$WORK/cold-ids"
}

# Products, and promotions of three products each, one per warm customer,
# as promotions-create writes them (the triggers normalise and mirror the
# product lines).
seed_promotions() {
    log "seeding 20 products and $WARM_IDS promotions"
    psql -q -X -v ON_ERROR_STOP=1 "$DB_URL" <<SQL
INSERT INTO products (id, code, name, hierarchy_level, valid_from, valid_thru, created_by, updated_by)
SELECT gen_random_uuid(), 'seed-p-' || n, 'Seed product ' || n, 'sku', now(), now() + interval '1 year', a, a
FROM generate_series(1, 20) AS n, (SELECT gen_random_uuid() AS a) AS s;
INSERT INTO promotions (id, name, customer_id, products, valid_from, valid_thru, created_by, updated_by)
SELECT gen_random_uuid(), 'Seed promotion ' || c.n, c.id,
       (SELECT jsonb_agg(jsonb_build_object('productId', p.id,
                 'discounts', jsonb_build_array(jsonb_build_object('type', 'percent', 'value', '12.50'))))
          FROM (SELECT id FROM products ORDER BY id LIMIT 3 OFFSET c.n % 17) AS p),
       now(), now() + interval '1 year', c.id, c.id
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM customers ORDER BY id LIMIT $WARM_IDS) AS c;
ANALYZE products; ANALYZE promotions;
SQL
    psql -X -A -t "$DB_URL" -c "SELECT id FROM promotions ORDER BY id" >"$WORK/promotion-ids"
    BENCH_CUSTOMER_ID=$(head -n 1 "$WORK/all-ids")
    BENCH_PRODUCT_IDS=$(psql -X -A -t "$DB_URL" -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM products ORDER BY id LIMIT 3) p")
    export BENCH_CUSTOMER_ID BENCH_PRODUCT_IDS
}

get() {
    curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE_URL$1"
}

redis_count_cached() {
    sed 's/^/spintemp:customer:/' "$1" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" EXISTS |
        awk '{ n += $1 } END { print n + 0 }'
}

prepare_get_warm() {
    while read -r id; do get "/api/customers/$id"; done <"$WORK/warm-ids"
    local cached
    cached=$(redis_count_cached "$WORK/warm-ids")
    [[ "$cached" == "$WARM_IDS" ]] || { log "only $cached of $WARM_IDS warm ids are cached"; return 1; }
    export BENCH_IDS_FILE="$WORK/warm-ids" BENCH_ID_PATH=/api/customers/
}

prepare_get_cold() {
    sed 's/^/spintemp:customer:/' "$WORK/cold-ids" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" DEL >/dev/null
    local cached
    cached=$(redis_count_cached "$WORK/cold-ids")
    [[ "$cached" == 0 ]] || { log "$cached cold ids are still cached"; return 1; }
    export BENCH_IDS_FILE="$WORK/cold-ids"
}

# Every miss fills the cache, so after a cold run the cached cold ids are the
# distinct ids asked for: one per completed request, plus at most one per
# connection whose response wrk stopped waiting for at the deadline. Fewer
# means some id was asked twice (or the cache was not filled).
check_cold_run() {
    local requests=$1 connections=$2 cached
    cached=$(redis_count_cached "$WORK/cold-ids")
    if ((cached < requests || cached > requests + connections)); then
        log "cold run: $requests requests but $cached ids cached afterwards"
        return 1
    fi
}

prepare_list() { get "/api/customers"; }

# Each promotion read needs its customer's name too: both are cached.
prepare_promotion_get() {
    while read -r id; do get "/api/promotions/$id"; done <"$WORK/promotion-ids"
    local cached
    cached=$(sed 's/^/spintemp:promotion:/' "$WORK/promotion-ids" | xargs -r redis-cli -u "$REDIS_URL" EXISTS)
    [[ "$cached" == "$(wc -l <"$WORK/promotion-ids")" ]] || { log "only $cached promotions are cached"; return 1; }
    export BENCH_IDS_FILE="$WORK/promotion-ids" BENCH_ID_PATH=/api/promotions/
}

prepare_promotion_create() { :; }

prepare_create() { export BENCH_CODE_PREFIX="b$(date +%s)$RANDOM"; }

# Every login succeeds (a failure would count towards the throttle) and
# stores one refresh token; the Argon2id check is most of its cost.
prepare_login() { :; }

prepare_floor_hello() { export BENCH_PATH=/hello; }
prepare_floor_kv() { export BENCH_PATH=/kv; }
prepare_floor_pg() { export BENCH_PATH=/pg; }
prepare_floor_chain() { export BENCH_PATH=/chain; }

# The floors the scenarios are held against (the targets of the "fast path"
# issue): a warm read against the hello, everything that reaches Postgres
# against the hello + one query; the floors themselves against the hello.
floor_of() {
    case "$1" in
        floor-hello) echo "" ;;
        get-warm | promotion-get | floor-kv | floor-pg | floor-chain) echo floor-hello ;;
        *) echo floor-pg ;;
    esac
}

# The script and server of a scenario: floors share one script.
script_of() { case "$1" in floor-*) echo floor ;; promotion-get) echo get-warm ;; *) echo "$1" ;; esac; }
url_of() { case "$1" in floor-*) echo "$FLOORS_URL" ;; *) echo "$BASE_URL" ;; esac; }

declare -A RPS

ROWS=()
FAILED=0

# run_scenario NAME CONNECTIONS: one wrk run; appends a table row.
run_scenario() {
    local name=$1 connections=$2 threads
    threads=$((connections < WRK_THREADS ? connections : WRK_THREADS))
    "prepare_${name//-/_}"
    export BENCH_THREADS=$threads
    log "$name, $connections connection(s), ${DURATION}s"
    local out="$WORK/$name-c$connections.txt"
    wrk --latency --timeout 10s -t "$threads" -c "$connections" -d "${DURATION}s" \
        -s "$BENCH_DIR/$(script_of "$name").lua" "$(url_of "$name")" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
    local line
    line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; return 1; }
    # BENCH key=value ... → shell variables r_<key>
    local kv
    for kv in ${line#BENCH }; do local "r_${kv%%=*}=${kv#*=}"; done
    local note=""
    if ((r_exhausted_threads > 0)); then
        note=" (ran out of uncached ids: raise --customers)"
        FAILED=1
    fi
    if ((r_non2xx > 0 || r_socket_errors > 0)); then
        FAILED=1
        grep '^FAILURE ' "$out" >&2 || true
    fi
    if [[ "$name" == get-cold ]]; then
        check_cold_run "$r_requests" "$connections" || FAILED=1
    fi
    RPS[$name-$connections]=$r_rps
    local floor ratio="—"
    floor=$(floor_of "$name")
    if [[ -n "$floor" && -n "${RPS[$floor-$connections]:-}" ]]; then
        ratio=$(awk -v a="$r_rps" -v b="${RPS[$floor-$connections]}" 'BEGIN { printf "%.2f× %s", a / b, "" }')
        ratio="$ratio$(describe_floor "$floor")"
    fi
    ROWS+=("| $(describe "$name")$note | $connections | $r_requests | $r_rps | $r_p50_ms | $r_p99_ms | $ratio | $r_non2xx | $r_socket_errors |")
}

describe_floor() {
    case "$1" in
        floor-hello) echo "hello" ;;
        floor-pg) echo "hello + pg" ;;
    esac
}

describe() {
    case "$1" in
        get-warm) echo "GET /api/customers/:id, warm cache ($WARM_IDS ids)" ;;
        get-cold) echo "GET /api/customers/:id, cold cache (each id once)" ;;
        list) echo "GET /api/customers (first page, 50)" ;;
        create) echo "POST /api/customers" ;;
        login) echo "POST /api/auth/login (Argon2id inside the wasm)" ;;
        promotion-get) echo "GET /api/promotions/:id, warm cache (and its customer's)" ;;
        promotion-create) echo "POST /api/promotions (3 products, references checked)" ;;
        floor-hello) echo "floor: hello (returns a constant)" ;;
        floor-kv) echo "floor: hello + one key-value GET (Redis store)" ;;
        floor-pg) echo "floor: hello + Postgres open + one SELECT" ;;
        floor-chain) echo "floor: hello through one service-chaining hop" ;;
    esac
}

runtime_version() {
    if [[ "$RUNNER" == spin ]]; then
        "$SPIN" --version
    else
        echo "the project's wasmtime test host (spintemp-host), not Spin: its figures are not Spin's"
    fi
}

# The floors run in their own app, started for their runs and stopped after
# them: its Postgres pool would otherwise hold its connections while the
# app's pool grows to its own limit (64 in Spin and the host), and together
# they exhaust a server with the default max_connections of 100.
start_floors() {
    serve floors "$BENCH_DIR/floors/spin.toml" --variable "db_url=$DB_URL" --variable "db_host=$PG_SERVER"
    FLOORS_PID=$SERVED_PID
    FLOORS_URL=$SERVED_URL
    local floor
    for floor in hello kv pg chain; do
        [[ "$(curl -fsS "$FLOORS_URL/$floor")" != "" ]] || { log "floor $floor answered nothing"; exit 1; }
    done
}

stop_floors() {
    kill "$FLOORS_PID" 2>/dev/null || true
    wait "$FLOORS_PID" 2>/dev/null || true
    FLOORS_PID=""
}

load_average() { cut -d' ' -f1 /proc/loadavg; }

# Every 0.2 s, the server's connections by role (`<epoch> <role> <count>`
# lines, the whole server's as role `(all)`), until killed.
start_connection_sampler() {
    (
        while :; do
            psql -X -A -t -F ' ' "$PG_ADMIN_URL" -c "
                SELECT extract(epoch FROM now())::int, coalesce(usename, '(none)'), count(*)
                  FROM pg_stat_activity WHERE datname = '$DB_NAME' GROUP BY 2
                UNION ALL
                SELECT extract(epoch FROM now())::int, '(all)', count(*) FROM pg_stat_activity" 2>/dev/null
            sleep 0.2
        done
    ) >"$WORK/connections" &
    SAMPLER_PID=$!
}

print_connections() {
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    echo
    echo "### Postgres connections: the most each role held at once during the runs"
    echo
    echo "max_connections: $(psql -X -A -t "$PG_ADMIN_URL" -c 'SHOW max_connections')."
    echo "Of $DB_NAME, by role; \`(all)\` is the whole server (the tests', the floors' and psql's included)."
    echo
    echo "| role | most at once |"
    echo "| --- | ---: |"
    awk '{ if ($3 > max[$2]) max[$2] = $3 } END { for (r in max) printf "| %s | %d |\n", r, max[r] }' \
        "$WORK/connections" | sort
}

print_report() {
    echo
    echo "### HTTP, ${DURATION}s per run, $(nproc) cores, $CUSTOMERS customers"
    echo
    echo "Runtime: $(runtime_version)."
    if ((OWNER_ONLY)); then
        echo "Every component connected as the database's owner (--owner-only)."
    else
        echo "Each kind of operation connected as its own role."
    fi
    echo "Load average (1 min) before the runs: $LOAD_BEFORE, after: $(load_average)."
    echo
    echo "| scenario | connections | requests | req/s | p50 ms | p99 ms | × floor | non-2xx | socket errors |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "### Component sizes (wasm32-wasip2, release)"
    echo
    echo "| component | .wasm | bytes | KiB |"
    echo "| --- | --- | ---: | ---: |"
    local id path bytes
    while read -r id path; do
        bytes=$(stat -c %s "$ROOT/$path")
        echo "| $id | $(basename "$path") | $bytes | $((bytes / 1024)) |"
    done < <(components)
}

main() {
    local started=$SECONDS
    ensure_tools
    if ((BUILD)); then build; fi
    check_connection_headroom
    create_database
    seed_customers
    seed_promotions
    admin keygen --out-dir "$WORK/keys" >/dev/null 2>&1
    # A token names an existing user: a plain one, in the bench database
    # (password through the environment; the login scenario logs in with it).
    BENCH_PASSWORD=$(random_secret 18)
    export BENCH_EMAIL=bench@example.com BENCH_PASSWORD
    SPINTEMP_USER_PASSWORD=$BENCH_PASSWORD admin user create --db-url "$DB_URL" \
        --email "$BENCH_EMAIL" --first-name Bench --last-name User --if-absent </dev/null >/dev/null
    # Tokens outlive the whole run; verifying them is part of every request.
    TOKEN=$(admin token --db-url "$DB_URL" --private-key "$WORK/keys/jwt_private.pem" \
        --email bench@example.com --ttl-seconds 86400)
    if ((OWNER_ONLY)); then
        local name
        for name in $(compgen -e | grep '^SPIN_VARIABLE_.*DB_.*_URL$'); do export "$name=$DB_URL"; done
    fi
    # Warm entries must stay warm however long the runs.
    start_host --variable cache_ttl_seconds=3600
    # The key-value floor reads a value the size of a cached customer.
    redis-cli -u "$REDIS_URL" SET "$FLOOR_KEY" "$(head -c 600 /dev/zero | tr '\0' x)" >/dev/null
    LOAD_BEFORE=$(load_average)
    if awk -v l="$LOAD_BEFORE" 'BEGIN { exit !(l > 1) }'; then
        log "warning: load average $LOAD_BEFORE: something else is using the CPU, figures will be low"
    fi
    export BENCH_LUA_DIR="$BENCH_DIR" BENCH_TOKEN="$TOKEN"
    start_connection_sampler
    local name connections
    for name in $SCENARIOS; do
        [[ -f "$BENCH_DIR/$(script_of "$name").lua" ]] || { log "no scenario $name"; exit 2; }
    done
    # Floors and scenarios alternate, so that a drift in the machine's speed
    # touches both sides of every ratio alike.
    for connections in $CONNECTIONS; do
        start_floors
        for name in floor-hello floor-kv floor-pg floor-chain; do
            run_scenario "$name" "$connections"
        done
        stop_floors
        for name in $SCENARIOS; do
            run_scenario "$name" "$connections"
        done
    done
    print_report
    print_connections
    log "done in $((SECONDS - started))s"
    if ((FAILED)); then
        log "the app's last log lines:"
        tail -n 20 "$WORK/app.log" >&2 || true
        cp "$WORK/app.log" "${TMPDIR:-/tmp}/spintemp-bench-app.log" 2>/dev/null && log "whole log: ${TMPDIR:-/tmp}/spintemp-bench-app.log"
        log "some requests failed or the cold run ran out of ids: the figures above are not valid"
        exit 1
    fi
}

main
