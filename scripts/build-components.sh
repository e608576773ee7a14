#!/usr/bin/env bash
# Builds every component of spin.toml as `spin build` would, faster: each
# build command is `[<steps> && ]cargo build … -p <package>`, so the steps
# (the web UI's, scripts/build-web.sh) run once each, then one cargo run
# builds every package. Extra arguments go to that cargo run (more packages,
# -q). The one place that reads the build commands: scripts/up.sh, the
# tests (tests/api), the benchmark, tests/compat and tests/fuzz call it.
set -euo pipefail
cd "$(dirname "$0")/.."
while read -r steps; do
    bash -c "$steps" </dev/null
done < <(sed -n 's/^command = "\(.*\) && cargo build .*"$/\1/p' spin.toml | sort -u)
packages=()
while read -r package; do
    packages+=(-p "$package")
done < <(sed -n 's/^command = "\(.* && \)\{0,1\}cargo build .* -p \([A-Za-z0-9_-]*\)"$/\2/p' spin.toml)
components=$(grep -c '^\[component\.[^.]*\]$' spin.toml)
if ((${#packages[@]} / 2 != components)); then
    echo "error: spin.toml has $components components but $((${#packages[@]} / 2)) build commands of the form [<steps> && ]cargo build … -p <package>" >&2
    exit 1
fi
exec "${CARGO:-cargo}" build --target wasm32-wasip2 --release "${packages[@]}" "$@"
