# shellcheck shell=bash
# Sourced by scripts/up.sh and scripts/k8s-secrets.sh: fills in
# infra/runtime-config.vault.toml (Spin's Vault variables provider).
#
# render_vault_runtime_config OUT  uses VAULT_ADDR, VAULT_TOKEN, REDIS_URL and,
# if set, VAULT_MOUNT (default secret) and VAULT_PREFIX (default spintemp).
# OUT is written with mode 600: it holds the Vault token.
render_vault_runtime_config() {
    local out=$1 root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    local name
    for name in VAULT_ADDR VAULT_TOKEN REDIS_URL; do
        if [[ -z "${!name:-}" ]]; then
            echo "error: $name is not set (needed for Spin's Vault variables provider)" >&2
            return 1
        fi
        # The values go into TOML strings as they are.
        if [[ "${!name}" == *[\"\\$'\n']* ]]; then
            echo "error: $name contains a quote, a backslash or a newline" >&2
            return 1
        fi
    done
    local mount=${VAULT_MOUNT:-secret} prefix=${VAULT_PREFIX:-spintemp}
    mkdir -p "$(dirname "$out")"
    (
        umask 077
        sed -e "s|^url = \"VAULT_ADDR\" .*|url = \"$VAULT_ADDR\"|" \
            -e "s|^token = \"VAULT_TOKEN\" .*|token = \"$VAULT_TOKEN\"|" \
            -e "s|^mount = \"secret\"|mount = \"$mount\"|" \
            -e "s|^prefix = \"spintemp\"|prefix = \"$prefix\"|" \
            -e "s|^url = \"redis://127.0.0.1:6379\"|url = \"$REDIS_URL\"|" \
            "$root/infra/runtime-config.vault.toml" >"$out"
    )
    chmod 600 "$out"
    if grep -q '"VAULT_ADDR"\|"VAULT_TOKEN"' "$out"; then
        echo "error: $out still has a placeholder: infra/runtime-config.vault.toml changed shape" >&2
        return 1
    fi
}
