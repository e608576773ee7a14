#!/usr/bin/env bash
# What the bearer-token check costs per request, inside the wasm.
#
# Serves bench/token/spin.toml — a hello, kit::run around nothing, and the
# token check of several builds side by side — and drives every route with
# wrk, alternating the routes round after round so that the machine's
# neighbours weigh on all of them alike. See BENCHMARKS.md "The token check".
#
#   bench/token/run.sh                       test host, 3 rounds of 5 s, 32 connections
#   bench/token/run.sh --spin /path/to/spin  the same under a real Spin CLI as well
#   bench/token/run.sh --callgrind           also count instructions of one check natively
#   bench/token/run.sh --host-profile dev    test host from the dev build the API tests
#                                            already made (its dependencies are optimised)
#
# The builds (all `--release` for wasm32-wasip2, the app's profile):
#   now     kit as it is, as the app builds it (curve25519-dalek's 32-bit
#           field backend, its default on wasm32)
#   now-64  the same with curve25519-dalek forced to its 64-bit backend
#           (slower inside wasm: see BENCHMARKS.md)
# Routes: /hello, /kit-hello, /now and /now-64 with the key as PEM,
# /now-raw with the key as raw base64.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$ROOT/bench/token"
OUT="$ROOT/target/bench-token"
DURATION=5
ROUNDS=3
CONNECTIONS=32
SPIN=""
BUILD=1
CALLGRIND=0
HOST_PROFILE=native

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --spin) SPIN=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --callgrind) CALLGRIND=1; shift ;;
        --host-profile) HOST_PROFILE=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown option $1" >&2; usage 2 ;;
    esac
done

log() { echo "== $*" >&2; }

for tool in wrk curl; do
    command -v "$tool" >/dev/null || { log "installing $tool"; apt-get install -y "$tool" >/dev/null; }
done

# A workspace's profiles apply only inside it: the copy in bench/token must
# be the app's, or the figures are not the app's.
release_profiles() {
    awk '/^\[profile\.release(\]|\.package)/ {on=1; print; next} /^\[/ {on=0} on && NF && !/^#/' "$1"
}
if ! diff <(release_profiles "$ROOT/Cargo.toml") <(release_profiles "$BENCH/Cargo.toml") >&2; then
    log "bench/token/Cargo.toml's release profile differs from the root Cargo.toml's (above): copy it over"
    exit 1
fi

WORK=$(mktemp -d)
HOST_PID=""
cleanup() {
    if [[ -n "$HOST_PID" ]]; then kill "$HOST_PID" 2>/dev/null || true; wait "$HOST_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# build_check VARIANT WORKSPACE_DIR [RUSTFLAGS]: builds the bench components
# in WORKSPACE_DIR (a bench/token) into target/bench-token/VARIANT.
build_check() {
    local variant=$1 dir=$2 flags=${3-}
    log "building $variant"
    (cd "$dir" && if [[ -n "$flags" ]]; then export RUSTFLAGS="$flags"; fi &&
        CARGO_TARGET_DIR="$OUT/$variant" cargo build --quiet --target wasm32-wasip2 --release \
            -p bench-hello -p bench-kit-hello -p bench-token-check)
    mkdir -p "$OUT/wasm"
    cp "$OUT/$variant/wasm32-wasip2/release/bench_token_check.wasm" "$OUT/wasm/$variant.wasm"
}

if ((BUILD)); then
    log "building the test host and the admin tool"
    (cd "$ROOT" && cargo build --quiet --profile "$HOST_PROFILE" -p spintemp-host -p spintemp-admin)
    (cd "$BENCH" && CARGO_TARGET_DIR="$OUT/native" cargo build --quiet --profile profiling -p bench-token-native)

    # Only this run's builds: a file left by an older harness (base.wasm)
    # would still be listed below.
    rm -rf "$OUT/wasm"
    build_check now-64 "$BENCH" '--cfg curve25519_dalek_bits="64"'
    build_check now "$BENCH"
    cp "$OUT/now/wasm32-wasip2/release/bench_hello.wasm" "$OUT/wasm/hello.wasm"
    cp "$OUT/now/wasm32-wasip2/release/bench_kit_hello.wasm" "$OUT/wasm/kit-hello.wasm"
fi

log ".wasm sizes"
for wasm in "$OUT"/wasm/*.wasm; do
    printf '%-14s %8d bytes\n' "$(basename "$wasm" .wasm)" "$(stat -c %s "$wasm")"
done

HOST_DIR="$ROOT/target/$HOST_PROFILE"
[[ "$HOST_PROFILE" == dev ]] && HOST_DIR="$ROOT/target/debug"
ADMIN="$HOST_DIR/spintemp-admin"
NATIVE="$OUT/native/profiling/bench-token-native"
"$ADMIN" keygen --out-dir "$WORK/keys" >/dev/null 2>&1
KEY_PEM=$(cat "$WORK/keys/jwt_public.pem")
KEY_RAW=$("$NATIVE" raw-key <"$WORK/keys/jwt_public.pem")
TOKEN=$("$ADMIN" token --private-key "$WORK/keys/jwt_private.pem" --ttl-seconds 86400 2>/dev/null)

ROUTES=(hello kit-hello now now-64 now-raw)
declare -A RPS

# start HOST_KIND: serves bench/token/spin.toml, sets HOST_PID and BASE_URL.
start() {
    local kind=$1 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    BASE_URL="http://127.0.0.1:$port"
    case "$kind" in
        host)
            "$HOST_DIR/spintemp-host" --manifest "$BENCH/spin.toml" --listen "127.0.0.1:$port" \
                --variable "key_pem=$KEY_PEM" --variable "key_raw=$KEY_RAW" >"$WORK/$kind.log" 2>&1 &
            ;;
        spin)
            SPIN_VARIABLE_KEY_PEM="$KEY_PEM" SPIN_VARIABLE_KEY_RAW="$KEY_RAW" \
                "$SPIN" up -f "$BENCH/spin.toml" --listen "127.0.0.1:$port" >"$WORK/$kind.log" 2>&1 &
            ;;
    esac
    HOST_PID=$!
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$BASE_URL/hello" 2>/dev/null && break
        kill -0 "$HOST_PID" 2>/dev/null || { cat "$WORK/$kind.log" >&2; log "$kind did not start"; exit 1; }
        sleep 0.2
    done
    # A route that answers 401 would be fast for the wrong reason.
    for route in "${ROUTES[@]}"; do
        local status
        status=$(curl -sS -o "$WORK/body" -w '%{http_code}' -H "authorization: Bearer $TOKEN" "$BASE_URL/$route")
        if [[ "$status" != 2* ]]; then
            cat "$WORK/body" "$WORK/$kind.log" >&2
            log "$kind: /$route answered $status"
            exit 1
        fi
    done
}

stop() {
    kill "$HOST_PID" 2>/dev/null || true
    wait "$HOST_PID" 2>/dev/null || true
    HOST_PID=""
}

# measure HOST_KIND: ROUNDS rounds over every route, each round in another
# order (rotated by one), results into RPS[kind,route] as "r1 r2 ...".
measure() {
    local kind=$1 round i route out rps non2xx
    start "$kind"
    log "$kind: $ROUNDS rounds of ${DURATION}s per route, $CONNECTIONS connections, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for ((round = 0; round < ROUNDS; round++)); do
        for ((i = 0; i < ${#ROUTES[@]}; i++)); do
            route=${ROUTES[$(((i + round) % ${#ROUTES[@]}))]}
            out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "authorization: Bearer $TOKEN" "$BASE_URL/$route")
            rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
            non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
            if [[ -n "$non2xx" && "$non2xx" != 0 ]] || grep -q 'Socket errors' <<<"$out"; then
                echo "$out" >&2
                log "$kind /$route: errors"
                exit 1
            fi
            RPS[$kind,$route]="${RPS[$kind,$route]-}${RPS[$kind,$route]+ }$rps"
        done
    done
    log "$kind: done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    stop
}

report() {
    local kind=$1 route median hello_median
    hello_median=$(tr ' ' '\n' <<<"${RPS[$kind,hello]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo
    echo "$kind, $CONNECTIONS connections ($(nproc) cores), req/s per round, median, and ms of the machine per request above the hello"
    echo
    echo "| route | req/s (rounds) | median | ms/request | over hello |"
    echo "| --- | --- | ---: | ---: | ---: |"
    for route in "${ROUTES[@]}"; do
        median=$(tr ' ' '\n' <<<"${RPS[$kind,$route]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        awk -v r="/$route" -v all="${RPS[$kind,$route]}" -v m="$median" -v h="$hello_median" \
            'BEGIN {gsub(/ /, " / ", all); printf "| %s | %s | %.0f | %.3f | %+.3f |\n", r, all, m, 1000/m, 1000/m - 1000/h}'
    done
}

measure host
if [[ -n "$SPIN" ]]; then measure spin; fi
report host
if [[ -n "$SPIN" ]]; then report spin; fi

if ((CALLGRIND)); then
    command -v valgrind >/dev/null || { log "installing valgrind"; apt-get install -y valgrind >/dev/null; }
    # Natively, with the field arithmetic wasm32 gets by default, for the
    # split between the signature and everything around it.
    (cd "$BENCH" && RUSTFLAGS='--cfg curve25519_dalek_bits="32"' CARGO_TARGET_DIR="$OUT/native-32" \
        cargo build --quiet --profile profiling -p bench-token-native)
    for form in pem raw; do
        valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$form" \
            "$OUT/native-32/profiling/bench-token-native" "$form" 100 2>/dev/null
        echo
        echo "callgrind, key as $form, 100 checks (curve25519-dalek 32-bit backend, native):"
        callgrind_annotate --inclusive=yes "$WORK/cg.$form" 2>/dev/null | head -40
    done
fi
