#!/usr/bin/env bash
# Builds the web UI (web/) into web/dist, which the `web` component embeds:
# installs its npm packages from the committed lockfile when they are missing
# or older than it, generates the API types from the OpenAPI document,
# type-checks, bundles, and prints the JavaScript a page load costs.
# `spin build` and the tests run it through the component's build command.
set -euo pipefail
cd "$(dirname "$0")/../web"
command -v npm >/dev/null || {
    echo "error: the web UI needs Node.js 20+ and npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
}
if [ ! -e node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
npm run --silent build
