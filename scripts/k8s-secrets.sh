#!/usr/bin/env bash
# Prints the Kubernetes Secrets spintemp needs, as YAML for `kubectl apply -f -`,
# so that no secret is ever written into a manifest or committed:
#
#   scripts/k8s-secrets.sh --dev   | kubectl -n spintemp apply -f -   # dev cluster (infra/k8s/dev)
#   scripts/k8s-secrets.sh         | kubectl -n spintemp apply -f -   # your own servers
#   scripts/k8s-secrets.sh --vault | kubectl -n spintemp apply -f -   # + the Vault runtime config
#
#   Secret spintemp                redis_url, nats_url, jwt_public_key, token_memo_key (the
#                                  SpinApp's variables; the relay reads only nats_url)
#   Secret spintemp-db-owner       url: DB_URL, the app database's owner; only the migration
#                                  Job reads it
#   Secret spintemp-audit-db-owner url: AUDIT_DB_URL, the audit store's owner; the migration
#                                  Job and the relay, which migrates the store
#   Secrets spintemp-db-reader, spintemp-db-customers, spintemp-db-products,
#           spintemp-db-promotions, spintemp-db-auth, spintemp-db-relay,
#           spintemp-audit-db-reader
#                                  url: the login role of one kind of operation each
#                                  (`spintemp-admin roles list`), so that RBAC can take
#                                  them one by one; the migration Job reads all of them
#                                  and makes those roles, the SpinApp every one but the
#                                  relay's, the relay its own (made with --vault too)
#   Secret spintemp-jwt-signing    jwt_private_key, alone, so that RBAC can keep it from
#                                  whoever may read `spintemp`; only the SpinApp reads it,
#                                  and spin.toml gives it to auth-login and auth-refresh only
#                                  (with --vault neither this Secret nor token_memo_key
#                                  is made: Vault serves both to the app)
#   Secret spintemp-dev-db         password of the dev cluster's Postgres and TimescaleDB (--dev)
#   Secret spintemp-runtime-config runtime-config.toml: Spin's Vault provider and the
#                                  key-value store (--vault; infra/k8s/app/spinapp-vault.yaml)
#
# Settings (environment): DB_URL, AUDIT_DB_URL (the owners, as for
# scripts/up.sh), REDIS_URL, NATS_URL and the role URLs DB_READER_URL,
# DB_CUSTOMERS_URL, DB_PRODUCTS_URL, DB_PROMOTIONS_URL, DB_AUTH_URL,
# DB_RELAY_URL, AUDIT_DB_READER_URL (required without --dev; `eval "$(
# spintemp-admin roles urls --db-url "$DB_URL" --audit-db-url "$AUDIT_DB_URL"
# --password-dir DIR)"` sets them, keeping the passwords in DIR; with --dev
# they get fresh random passwords, so run the migration Job again after
# applying them), the files of `spintemp-admin keygen`: JWT_PUBLIC_KEY_FILE
# (default .spin/keys/jwt_public.pem), JWT_PRIVATE_KEY_FILE (default
# .spin/keys/jwt_private.pem), TOKEN_MEMO_KEY_FILE (default
# .spin/keys/token_memo.key); with --vault also VAULT_ADDR and VAULT_TOKEN
# (and VAULT_MOUNT, VAULT_PREFIX). REDIS_URL is the read cache and the login
# throttling alike. Needs kubectl (it renders the Secrets offline:
# --dry-run=client).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/vault-runtime-config.sh

dev=false vault=false
for arg in "$@"; do
    case $arg in
        --dev) dev=true ;;
        --vault) vault=true ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "error: unknown argument $arg (expected --dev or --vault)" >&2; exit 2 ;;
    esac
done
command -v kubectl >/dev/null || { echo "error: kubectl is not installed" >&2; exit 1; }

key_file=${JWT_PUBLIC_KEY_FILE:-.spin/keys/jwt_public.pem}
private_key_file=${JWT_PRIVATE_KEY_FILE:-.spin/keys/jwt_private.pem}
memo_key_file=${TOKEN_MEMO_KEY_FILE:-.spin/keys/token_memo.key}
key_files=("JWT_PUBLIC_KEY_FILE:$key_file")
$vault || key_files+=("JWT_PRIVATE_KEY_FILE:$private_key_file" "TOKEN_MEMO_KEY_FILE:$memo_key_file")
for setting in "${key_files[@]}"; do
    if [[ ! -s "${setting#*:}" ]]; then
        echo "error: ${setting%%:*}: ${setting#*:} does not exist (make the keys: target/native/spintemp-admin keygen; scripts/up.sh adds token_memo.key to an older key directory)" >&2
        exit 1
    fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
memo=""
if ! $vault; then
    # The memo key as its base64 text alone (the file may end in a newline),
    # through a file of mode 600 rather than kubectl's command line.
    memo_key=$(tr -d ' \n\r\t' <"$memo_key_file")
    if [[ ! "$memo_key" =~ ^[A-Za-z0-9+/]{43}=$ ]]; then
        echo "error: TOKEN_MEMO_KEY_FILE: $memo_key_file does not hold 32 bytes in base64 (standard alphabet, padded)" >&2
        exit 1
    fi
    (umask 077 && printf '%s' "$memo_key" >"$tmp/token_memo_key")
    memo=$tmp/token_memo_key
fi

secret() { kubectl create secret generic "$@" --dry-run=client -o yaml; }

# Each login role's Secret, the variable of its URL and the login role
# --dev gives it: adapters/admin/src/roles.rs (ROLES) and `spintemp-admin
# roles urls` (scripts/check_infra.py holds this list to both).
roles=(
    "spintemp-db-reader        DB_READER_URL        spintemp_reader_login"
    "spintemp-db-customers     DB_CUSTOMERS_URL     spintemp_customers_login"
    "spintemp-db-products      DB_PRODUCTS_URL      spintemp_products_login"
    "spintemp-db-promotions    DB_PROMOTIONS_URL    spintemp_promotions_login"
    "spintemp-db-auth          DB_AUTH_URL          spintemp_auth_login"
    "spintemp-db-relay         DB_RELAY_URL         spintemp_relay_login"
    "spintemp-audit-db-reader  AUDIT_DB_READER_URL  spintemp_audit_reader_login"
)

if $dev; then
    # The dev cluster's services (infra/k8s/dev/dependencies.yaml), a fresh
    # random password, TLS off inside the cluster network.
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    DB_URL="postgres://postgres:$password@postgres:5432/spintemp?sslmode=disable"
    AUDIT_DB_URL="postgres://postgres:$password@timescaledb:5432/spintemp_audit?sslmode=disable"
    # Each login role on the owner's server and database, with a password of
    # its own (hex: nothing to escape in a URL).
    for role in "${roles[@]}"; do
        read -r _ var login <<<"$role"
        server=postgres/spintemp
        [[ $var == AUDIT_* ]] && server=timescaledb/spintemp_audit
        printf -v "$var" 'postgres://%s:%s@%s:5432/%s?sslmode=disable' "$login" \
            "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" "${server%/*}" "${server#*/}"
    done
    REDIS_URL=${REDIS_URL:-redis://redis:6379}
    NATS_URL=${NATS_URL:-nats://nats:4222}
    secret spintemp-dev-db --from-literal=password="$password"
    echo ---
fi
for name in DB_URL AUDIT_DB_URL REDIS_URL NATS_URL; do
    if [[ -z "${!name:-}" ]]; then
        echo "error: $name is not set (or use --dev for the dev cluster's services)" >&2
        exit 1
    fi
done
for role in "${roles[@]}"; do
    read -r _ var _ <<<"$role"
    if [[ -z "${!var:-}" ]]; then
        echo "error: $var is not set: the URL of a login role of its own (eval \"\$(spintemp-admin roles urls --db-url \"\$DB_URL\" --audit-db-url \"\$AUDIT_DB_URL\" --password-dir DIR)\" sets them all; or use --dev)" >&2
        exit 1
    fi
done
secret spintemp \
    --from-literal=redis_url="$REDIS_URL" \
    --from-literal=nats_url="$NATS_URL" \
    --from-file=jwt_public_key="$key_file" \
    ${memo:+--from-file=token_memo_key="$memo"}
echo ---
secret spintemp-db-owner --from-literal=url="$DB_URL"
echo ---
secret spintemp-audit-db-owner --from-literal=url="$AUDIT_DB_URL"
for role in "${roles[@]}"; do
    read -r name var _ <<<"$role"
    echo ---
    secret "$name" --from-literal=url="${!var}"
done
if ! $vault; then
    echo ---
    # The signing key in a Secret of its own (infra/k8s/app/spinapp.yaml).
    secret spintemp-jwt-signing --from-file=jwt_private_key="$private_key_file"
fi
if $vault; then
    render_vault_runtime_config "$tmp/runtime-config.toml"
    echo ---
    secret spintemp-runtime-config --from-file=runtime-config.toml="$tmp/runtime-config.toml"
fi
