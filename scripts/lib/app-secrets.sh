# shellcheck shell=bash
# Sourced by scripts/up.sh and scripts/lib/test-host.sh: the secrets the app
# needs that are made on this machine, and the host:port of a URL.
#
#   host_port URL               host:port of URL (user, path and query dropped),
#                               the form allowed_outbound_hosts is templated from
#   ensure_token_memo_key DIR   DIR/token_memo.key: 32 random bytes in base64,
#                               mode 600, made once if missing (an older key
#                               directory, from before `spintemp-admin keygen`
#                               wrote it); the key pair is never touched
#   random_secret BYTES         BYTES random bytes in base64url, no padding
#                               (e.g. a password: 18 bytes are 24 characters)

host_port() {
    local rest=${1#*://}
    rest=${rest#*@}
    rest=${rest%%/*}
    rest=${rest%%\?*}
    echo "$rest"
}

random_secret() {
    head -c "$1" /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

ensure_token_memo_key() {
    local dir=$1 file=$1/token_memo.key
    if [[ ! -s "$file" ]]; then
        # The base64 text alone, no newline: Spin's `--variable name=@file`
        # (infra/compose.yaml) passes a file's bytes as they are.
        (
            umask 077
            mkdir -p "$dir"
            printf '%s' "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >"$file.$$"
        )
        mv "$file.$$" "$file"
    fi
    chmod 600 "$file"
}
