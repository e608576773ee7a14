#!/usr/bin/env bash
# Property-based fuzzing of the HTTP API with schemathesis: the real app
# (spin.toml on the wasmtime test host, with audit-relay feeding the audit
# store) against its own OpenAPI document, GET /api/openapi.json.
#
#   tests/fuzz/run.sh [--no-build] [--schema FILE]
#
# --schema FILE tests against FILE instead of the served document (to try a
# fix of components/openapi/api/openapi.json before making it).
#
# Passes: (1) admin token, valid and invalid data from every operation's
# schema (coverage, fuzzing and stateful phases), every response checked
# against the document; (2) a token signed by another key and a malformed
# one: every secured operation must answer 401 problem+json with
# WWW-Authenticate; (3) a non-admin token: the audit operations must answer
# 403. Exits non-zero if any check failed.
#
# Environment: FUZZ_MAX_EXAMPLES (per operation, pass 1; default 50),
# FUZZ_AUTH_EXAMPLES (passes 2-3; default 10), FUZZ_SEED (default random),
# FUZZ_WORKERS (default 2), FUZZ_REPORT_DIR (default target/fuzz-report),
# FUZZ_VENV (default ~/.cache/spintemp/schemathesis-4-pyX.Y), FUZZ_PG_SERVER,
# FUZZ_REDIS_SERVER, FUZZ_NATS_URL.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib/test-host.sh
source "$ROOT/scripts/lib/test-host.sh"
FUZZ_DIR="$ROOT/tests/fuzz"

BUILD=1
SCHEMA_FILE=""
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-50}
AUTH_EXAMPLES=${FUZZ_AUTH_EXAMPLES:-10}
SEED=${FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}
WORKERS=${FUZZ_WORKERS:-2}
REPORT_DIR=${FUZZ_REPORT_DIR:-$ROOT/target/fuzz-report}
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/spintemp
PG_SERVER=${FUZZ_PG_SERVER:-127.0.0.1:5432}
REDIS_SERVER=${FUZZ_REDIS_SERVER:-127.0.0.1:6379}
NATS_URL=${FUZZ_NATS_URL:-nats://127.0.0.1:4222}
# The major version this script's options and config are written for.
SCHEMATHESIS_REQUIREMENT='schemathesis>=4.32,<5'
NATS_PY_REQUIREMENT='nats-py>=2,<3'
# One pass must never hang a CI run: schemathesis is bounded by example
# counts, this bounds it by the clock as well.
PASS_TIMEOUT=${FUZZ_PASS_TIMEOUT:-900}

usage() {
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) BUILD=0; shift ;;
        --schema) SCHEMA_FILE=$(realpath "$2"); shift 2 ;;
        -h | --help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
    esac
done

# Unique names: other runs and tests share this Postgres, Redis and NATS.
TAG="$(date +%s)_$$_$RANDOM"
DB_NAME="spintemp_fuzz_$TAG"
STREAM="FUZZ_$TAG"
SUBJECT_PREFIX="fuzz$TAG"
PG_ADMIN_URL="postgres://postgres@$PG_SERVER/postgres?sslmode=disable"
DB_URL="postgres://postgres@$PG_SERVER/$DB_NAME?sslmode=disable"
REDIS_URL="redis://$REDIS_SERVER"

log() { echo "fuzz: $*" >&2; }

WORK=$(mktemp -d -t spintemp-fuzz.XXXXXX)
HOST_PID=""
RELAY_PID=""
DB_CREATED=0

stop() {
    local pid=$1
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    stop "$HOST_PID"
    stop "$RELAY_PID"
    if ((DB_CREATED)); then
        # The cache entries of the customers this run made; every other key
        # belongs to someone else.
        psql -X -A -t -q "$DB_URL" -c "SELECT id FROM customers" 2>/dev/null |
            sed 's/^/spintemp:customer:/' |
            xargs -r -n 1000 redis-cli -u "$REDIS_URL" DEL >/dev/null 2>&1 || true
        psql -q -X "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $DB_NAME"
    fi
    if [[ -n "${VENV:-}" && -x "$VENV/bin/python" ]]; then
        "$VENV/bin/python" "$FUZZ_DIR/delete_stream.py" "$NATS_URL" "$STREAM" 2>/dev/null ||
            log "could not delete JetStream stream $STREAM"
    fi
    if ((status != 0)) && [[ -f "$WORK/host.log" ]]; then
        cp "$WORK/host.log" "$REPORT_DIR/host.log" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
# An interrupted run still stops the host and drops its database.
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_tools() {
    local missing=()
    command -v psql >/dev/null || missing+=(postgresql-client)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3 python3-venv)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# CPython 3.11 can raise a spurious "AST constructor recursion depth
# mismatch" SystemError when several threads parse source at once (cpython
# gh-106905), which hypothesis does while describing strategies: with more
# than one worker, 3.11 makes runs flaky. Prefer 3.12 or later.
find_python() {
    local candidate version
    for candidate in python3.13 python3.12; do
        if "$candidate" -c '' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    if command -v pyenv >/dev/null; then
        version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.[0-9]+)?$' | sort -V | tail -n 1)
        if [[ -n "$version" && -x "$(pyenv root)/versions/$version/bin/python3" ]]; then
            echo "$(pyenv root)/versions/$version/bin/python3"
            return 0
        fi
    fi
    command -v python3
}

ensure_schemathesis() {
    local python
    python=$(find_python)
    local minor
    minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    VENV=${FUZZ_VENV:-$CACHE_DIR/schemathesis-4-py$minor}
    if [[ "$minor" == 3.11 && -z "${FUZZ_WORKERS:-}" ]]; then
        log "only Python $minor here: one worker (see find_python)"
        WORKERS=1
    fi
    if [[ -x "$VENV/bin/schemathesis" ]] &&
        "$VENV/bin/python" -c "import nats" 2>/dev/null &&
        "$VENV/bin/schemathesis" --version | grep -q 'version 4\.'; then
        return 0
    fi
    log "installing $SCHEMATHESIS_REQUIREMENT into $VENV"
    "$python" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$SCHEMATHESIS_REQUIREMENT" "$NATS_PY_REQUIREMENT"
}

build() {
    log "building the components (release), the host, admin and audit-relay (--profile native)"
    "$ROOT/scripts/build-components.sh" -q
    # Host and admin together, as bench/http.sh and tests/api build them, so
    # all share one set of compiled dependencies.
    (cd "$ROOT" && cargo build -q --profile native -p spintemp-host -p spintemp-admin)
    (cd "$ROOT" && cargo build -q --profile native -p audit-relay)
}

admin() { "$ROOT/target/native/spintemp-admin" "$@"; }

create_database() {
    log "creating database $DB_NAME"
    DB_CREATED=1
    # The app database doubles as the audit store, as spin.toml allows.
    migrate_app 2>"$WORK/migrate.log" || {
        cat "$WORK/migrate.log" >&2
        return 1
    }
}

make_tokens() {
    admin keygen --out-dir "$WORK/keys" >/dev/null 2>&1
    admin keygen --out-dir "$WORK/other-keys" >/dev/null 2>&1
    # Tokens are minted for users that exist (writes check their actor).
    local password
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    SPINTEMP_USER_PASSWORD="$password" admin user create --db-url "$DB_URL" --if-absent --admin \
        --email fuzz-admin@example.com --first-name Fuzz --last-name Admin >/dev/null </dev/null
    SPINTEMP_USER_PASSWORD="$password" admin user create --db-url "$DB_URL" --if-absent \
        --email fuzz-user@example.com --first-name Fuzz --last-name User >/dev/null </dev/null
    ADMIN_TOKEN=$(admin token --db-url "$DB_URL" --private-key "$WORK/keys/jwt_private.pem" \
        --email fuzz-admin@example.com --ttl-seconds 86400)
    USER_TOKEN=$(admin token --db-url "$DB_URL" --private-key "$WORK/keys/jwt_private.pem" \
        --email fuzz-user@example.com --ttl-seconds 86400)
    # Well formed and unexpired, but not signed by the key the host trusts.
    FOREIGN_TOKEN=$(admin token --db-url "$DB_URL" --private-key "$WORK/other-keys/jwt_private.pem" \
        --email fuzz-admin@example.com --ttl-seconds 86400)
}


start_relay() {
    log "starting audit-relay (stream $STREAM)"
    "$ROOT/target/native/audit-relay" --database-url "$DB_URL" --nats-url "$NATS_URL" \
        --stream "$STREAM" --subject-prefix "$SUBJECT_PREFIX" --listen 127.0.0.1:0 \
        --poll-interval 200ms --shutdown-grace 2s >"$WORK/relay.log" 2>&1 &
    RELAY_PID=$!
}

api() {
    curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' "$@"
}

# A few real audit events before fuzzing starts, so that GET /api/audit has
# items whose shape gets checked and GET /api/audit/{id} has ids that exist.
seed_audit_trail() {
    local id
    id=$(api -X POST -d "{\"code\": \"fuzz-seed-$TAG\", \"name\": \"Fuzz seed\"}" "$BASE_URL/api/customers" |
        "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    api -X PUT -d "{\"code\": \"fuzz-seed-$TAG\", \"name\": \"Fuzz seed, renamed\"}" \
        "$BASE_URL/api/customers/$id" >/dev/null
    local waited=0
    until api "$BASE_URL/api/audit?objectId=$id" >"$WORK/audit.json" &&
        "$VENV/bin/python" - "$WORK/audit.json" "$WORK/audit-ids.dict" <<'PY'; do
import json, sys
items = json.load(open(sys.argv[1]))["items"]
if len(items) < 2:
    sys.exit(1)
with open(sys.argv[2], "w") as out:
    for item in items:
        out.write(json.dumps(item["id"]) + "\n")
PY
        if ! kill -0 "$RELAY_PID" 2>/dev/null || ((waited++ > 150)); then
            cat "$WORK/relay.log" >&2
            log "audit-relay did not deliver the seed customer's events"
            return 1
        fi
        sleep 0.2
    done
}
# Promotions that exist, with a customer and a product that exist, so that
# the promotion operations and the workflow get past their 404s and 422s.
seed_promotions() {
    local customer product i
    customer=$(api -X POST -d "{\"code\": \"fuzz-promo-$TAG\", \"name\": \"Fuzz promotions\"}" "$BASE_URL/api/customers" |
        "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    product=$(api -X POST -d "{\"code\": \"fuzz-p-$TAG\", \"name\": \"Fuzz product\", \"hierarchyLevel\": \"sku\"}" \
        "$BASE_URL/api/products" | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    echo "\"$customer\"" >"$WORK/customer-ids.dict"
    : >"$WORK/promotion-ids.dict"
    for i in 1 2 3 4 5; do
        api -X POST -d "{\"name\": \"Fuzz $i\", \"customerId\": \"$customer\",
            \"products\": [{\"productId\": \"$product\", \"discounts\": [{\"type\": \"percent\", \"value\": \"$i\"}]}]}" \
            "$BASE_URL/api/promotions" | "$VENV/bin/python" -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["id"]))' \
            >>"$WORK/promotion-ids.dict"
    done
}

write_config() {
    # schemathesis's default expected statuses plus 412: a stale If-Match is
    # refused with 412 whatever its syntax, and schemathesis cannot know
    # the current ETag. (5xx stays in both lists only so that a server error
    # is reported once, by not_a_server_error.) A user's PUT may also be a
    # valid document and still a 422: a new password of your own needs
    # `currentPassword`, and the right one, which no schema can say; so may
    # a promotion's, whose customer and products must exist (a random UUID
    # names none).
    cat >"$WORK/schemathesis.toml" <<'TOML'
[[operations]]
include-operation-id = ["customers-update", "customers-delete", "products-update", "products-delete", "promotions-delete", "users-delete"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 412, 429, "5xx"]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429, "5xx"]

[[operations]]
include-operation-id = ["users-update", "promotions-create", "promotions-update"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 412, 422, 429, "5xx"]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429, "5xx"]

# A transition may be refused by the workflow (409, 403) or be stale (412),
# and one without If-Match is 428 (RFC 6585), the status for exactly that.
# Half its ids name promotions that exist.
[[operations]]
include-operation-id = "promotions-transition"
parameters = { "path.id" = { dictionary = "promotion_ids", probability = 0.5 } }
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 412, 422, 429, "5xx"]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429, "5xx"]
checks.missing_required_header.expected-statuses = [400, 401, 403, 406, 415, 422, 428]

[dictionaries.audit_ids]
from-file = "audit-ids.dict"

[dictionaries.promotion_ids]
from-file = "promotion-ids.dict"

[dictionaries.customer_ids]
from-file = "customer-ids.dict"

# Half the ids are events that exist, so the 200 path is fuzzed too.
[[operations]]
include-operation-id = "audit-get"
parameters = { "path.id" = { dictionary = "audit_ids", probability = 0.5 } }

# Random instants almost never land on the edges of what the app, chrono
# and Postgres can hold; these do, now and then.
[dictionaries.edge_instants]
values = [
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2024-02-29T12:00:00Z",
    "9999-06-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
]

[dictionaries.edge_dates]
values = ["0001-01-01", "2024-02-29", "9999-12-31", "9999-12-31T23:59:59Z"]

[[operations]]
include-operation-id = ["customers-create", "customers-update", "products-create", "products-update", "promotions-create", "promotions-update"]
parameters = { "body.validFrom" = { dictionary = "edge_instants", probability = 0.2 }, "body.validThru" = { dictionary = "edge_instants", probability = 0.2 } }

[[operations]]
include-operation-id = ["customers-list", "products-list", "promotions-list"]
parameters = { "query.validOn" = { dictionary = "edge_dates", probability = 0.2 } }

[[operations]]
include-operation-id = "audit-list"
parameters = { "query.from" = { dictionary = "edge_dates", probability = 0.2 }, "query.to" = { dictionary = "edge_dates", probability = 0.2 } }
TOML
}

PASS_NAMES=()
PASS_RESULTS=()

# run_pass NAME TOKEN MAX_EXAMPLES EXTRA_ENV [schemathesis run options...]
run_pass() {
    local name=$1 token=$2 examples=$3 extra_env=$4
    shift 4
    local location=$BASE_URL/api/openapi.json url_option=()
    if [[ -n "$SCHEMA_FILE" ]]; then
        location=$SCHEMA_FILE
        url_option=(--url "$BASE_URL/")
    fi
    log "pass '$name': $examples examples per operation, seed $SEED"
    local status=0
    # shellcheck disable=SC2086 # extra_env is a list of NAME=VALUE words
    (cd "$WORK" && env SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$FUZZ_DIR" PYTHONDONTWRITEBYTECODE=1 $extra_env \
        timeout "$PASS_TIMEOUT" "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" \
        run "$location" "${url_option[@]}" \
        --header "Authorization: Bearer $token" \
        --max-examples "$examples" --seed "$SEED" --workers "$WORKERS" \
        --request-timeout 10 --continue-on-failure \
        --generation-database none --no-color \
        --report junit --report-junit-path "$REPORT_DIR/$name.junit.xml" \
        "$@") 2>&1 | tee "$REPORT_DIR/$name.txt" || status=$?
    PASS_NAMES+=("$name")
    PASS_RESULTS+=("$status")
}

main() {
    local started=$SECONDS
    ensure_tools
    ensure_schemathesis
    if ((BUILD)); then build; fi
    mkdir -p "$REPORT_DIR"
    create_database
    make_tokens
    # Every fuzzed request comes from 127.0.0.1: lift the per-address limits,
    # or registration would be fuzzed only as far as its 429.
    start_host --variable registrations_per_address=1000000 --variable login_failures_per_address=1000000
    start_relay
    seed_audit_trail
    seed_promotions
    write_config

    run_pass admin "$ADMIN_TOKEN" "$MAX_EXAMPLES" "" \
        --mode all \
        --checks all --exclude-checks object_level_authorization

    local secured=(--exclude-operation-id health --exclude-operation-id openapi)
    local auth_checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
    run_pass foreign-key "$FOREIGN_TOKEN" "$AUTH_EXAMPLES" FUZZ_EXPECT_STATUS=401 \
        --mode all --phases coverage,fuzzing --checks "$auth_checks" "${secured[@]}"
    run_pass malformed-token "not.a-jwt" "$AUTH_EXAMPLES" FUZZ_EXPECT_STATUS=401 \
        --mode all --phases coverage,fuzzing --checks "$auth_checks" "${secured[@]}"
    run_pass non-admin "$USER_TOKEN" "$AUTH_EXAMPLES" FUZZ_EXPECT_STATUS=403 \
        --mode all --phases coverage,fuzzing --checks "$auth_checks" --include-path-regex '^/api/audit'

    local i passed=0 failed=0
    echo
    for i in "${!PASS_NAMES[@]}"; do
        if [[ "${PASS_RESULTS[$i]}" == 0 ]]; then
            passed=$((passed + 1))
            echo "fuzz pass ${PASS_NAMES[$i]}: ok"
        else
            failed=$((failed + 1))
            echo "fuzz pass ${PASS_NAMES[$i]}: FAILED (exit ${PASS_RESULTS[$i]}; $REPORT_DIR/${PASS_NAMES[$i]}.txt)"
        fi
    done
    log "seed $SEED, done in $((SECONDS - started))s"
    echo "fuzz: $passed passed, $failed failed"
    ((failed == 0))
}

main
