#!/usr/bin/env bash
# Prints the Kubernetes Secrets spintemp needs, as YAML for `kubectl apply -f -`,
# so that no secret is ever written into a manifest or committed:
#
#   scripts/k8s-secrets.sh --dev   | kubectl -n spintemp apply -f -   # dev cluster (infra/k8s/dev)
#   scripts/k8s-secrets.sh         | kubectl -n spintemp apply -f -   # your own servers
#   scripts/k8s-secrets.sh --vault | kubectl -n spintemp apply -f -   # + the Vault runtime config
#
#   Secret spintemp                db_url, audit_db_url, redis_url, nats_url, jwt_public_key
#                                  (the SpinApp's variables, the relay and the migration Job)
#   Secret spintemp-dev-db         password of the dev cluster's Postgres and TimescaleDB (--dev)
#   Secret spintemp-runtime-config runtime-config.toml: Spin's Vault provider and the
#                                  key-value store (--vault; infra/k8s/app/spinapp-vault.yaml)
#
# Settings (environment): DB_URL, AUDIT_DB_URL, REDIS_URL, NATS_URL (required
# without --dev), JWT_PUBLIC_KEY_FILE (default .spin/keys/jwt_public.pem, made
# by `spintemp-admin keygen`); with --vault also VAULT_ADDR and VAULT_TOKEN
# (and VAULT_MOUNT, VAULT_PREFIX). Only the public key goes into the cluster.
# Needs kubectl (it renders the Secrets offline: --dry-run=client).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/vault-runtime-config.sh

dev=false vault=false
for arg in "$@"; do
    case $arg in
        --dev) dev=true ;;
        --vault) vault=true ;;
        -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $arg (expected --dev or --vault)" >&2; exit 2 ;;
    esac
done
command -v kubectl >/dev/null || { echo "error: kubectl is not installed" >&2; exit 1; }

key_file=${JWT_PUBLIC_KEY_FILE:-.spin/keys/jwt_public.pem}
if [[ ! -f "$key_file" ]]; then
    echo "error: JWT_PUBLIC_KEY_FILE: $key_file does not exist (make one: target/native/spintemp-admin keygen)" >&2
    exit 1
fi

secret() { kubectl create secret generic "$@" --dry-run=client -o yaml; }

if $dev; then
    # The dev cluster's services (infra/k8s/dev/dependencies.yaml), a fresh
    # random password, TLS off inside the cluster network.
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    DB_URL="postgres://postgres:$password@postgres:5432/spintemp?sslmode=disable"
    AUDIT_DB_URL="postgres://postgres:$password@timescaledb:5432/spintemp_audit?sslmode=disable"
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
secret spintemp \
    --from-literal=db_url="$DB_URL" \
    --from-literal=audit_db_url="$AUDIT_DB_URL" \
    --from-literal=redis_url="$REDIS_URL" \
    --from-literal=nats_url="$NATS_URL" \
    --from-file=jwt_public_key="$key_file"
if $vault; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    render_vault_runtime_config "$tmp/runtime-config.toml"
    echo ---
    secret spintemp-runtime-config --from-file=runtime-config.toml="$tmp/runtime-config.toml"
fi
