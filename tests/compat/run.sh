#!/usr/bin/env bash
# The same requests against the app under the test host and under a real
# Spin CLI, compared: every status code and (normalised) body must be the
# same. A developer's tool, not part of CI (CI has no Spin): it is how the
# host is kept honest about Spin, e.g. about spinframework/spin#3671.
#
#   tests/compat/run.sh --spin PATH [--spin PATH ...] [--no-build]
#
# Each runtime gets a fresh database (the same migrations, keys and users), so
# the two must answer identically. The relay is not started: the audit store
# stays empty, which is what exercises the empty pages.
#
# Environment: COMPAT_PG_SERVER (127.0.0.1:5432), COMPAT_REDIS_SERVER (127.0.0.1:6379).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib/test-host.sh
source "$ROOT/scripts/lib/test-host.sh"

SPINS=()
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --spin) SPINS+=("$(realpath "$2")"); shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
[[ ${#SPINS[@]} -gt 0 ]] || { echo "give at least one --spin PATH" >&2; exit 2; }

PG_SERVER=${COMPAT_PG_SERVER:-127.0.0.1:5432}
REDIS_URL="redis://${COMPAT_REDIS_SERVER:-127.0.0.1:6379}"
PG_ADMIN_URL="postgres://postgres@$PG_SERVER/postgres?sslmode=disable"
log() { echo "compat: $*" >&2; }

WORK=$(mktemp -d -t spintemp-compat.XXXXXX)
PIDS=()
DBS=()
cleanup() {
    local pid db
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    for db in "${DBS[@]}"; do
        psql -q -X "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

if ((BUILD)); then
    log "building the components and the native tools"
    "$ROOT/scripts/build-components.sh" -q
    # The dev profile `cargo test` already builds: correctness, not speed.
    (cd "$ROOT" && cargo build -q -p spintemp-host -p spintemp-admin)
fi
export HOST_BIN="$ROOT/target/debug/spintemp-host"
admin() { "$ROOT/target/debug/spintemp-admin" "$@"; }
admin keygen --out-dir "$WORK/keys" >/dev/null 2>&1
# The users the tokens are minted for, the same in every database; the
# password is never used (the requests carry tokens), and goes to the admin
# tool through its environment, never its command line.
USER_PASSWORD=$(random_secret 18)   # scripts/lib/app-secrets.sh
export COMPAT_ADMIN_TOKEN COMPAT_USER_TOKEN

# make_tokens: the admin and the plain user in $DB_URL, and a token for each.
make_tokens() {
    SPINTEMP_USER_PASSWORD=$USER_PASSWORD admin user create --db-url "$DB_URL" --email compat-admin@example.com \
        --first-name Compat --last-name Admin --admin --if-absent </dev/null >/dev/null
    SPINTEMP_USER_PASSWORD=$USER_PASSWORD admin user create --db-url "$DB_URL" --email compat-user@example.com \
        --first-name Compat --last-name User --if-absent </dev/null >/dev/null
    COMPAT_ADMIN_TOKEN=$(admin token --db-url "$DB_URL" --private-key "$WORK/keys/jwt_private.pem" --email compat-admin@example.com)
    COMPAT_USER_TOKEN=$(admin token --db-url "$DB_URL" --private-key "$WORK/keys/jwt_private.pem" --email compat-user@example.com)
}

# run_against NAME RUNNER [SPIN]: a fresh database, the app served, the requests.
run_against() {
    local name=$1
    RUNNER=$2
    SPIN=${3:-}
    DB_NAME="spintemp_compat_${name}_$$"
    DB_URL="postgres://postgres@$PG_SERVER/$DB_NAME?sslmode=disable"
    DBS+=("$DB_NAME")
    migrate_app >/dev/null 2>&1
    # Tokens name a user of the database, so each database gets its own
    # (the user ids in the answers are placeholders, as every id is).
    make_tokens
    start_host
    PIDS+=("$HOST_PID")
    python3 "$ROOT/tests/compat/requests.py" "$BASE_URL" >"$WORK/$name.json"
    kill "$HOST_PID" 2>/dev/null || true
}

run_against host host
names=(host)
for i in "${!SPINS[@]}"; do
    version=$("${SPINS[$i]}" --version | awk '{print $2}')
    run_against "spin${i}" spin "${SPINS[$i]}"
    names+=("spin${i}")
    log "spin$i is Spin $version"
done
python3 "$ROOT/tests/compat/compare.py" "$WORK" "${names[@]}"
