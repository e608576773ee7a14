#!/usr/bin/env bash
# Offline checks of what cannot run without a Docker engine or a cluster:
# infra/compose.yaml (`docker compose config`, Compose v2 itself), the native
# Dockerfile (hadolint), infra/k8s (Kubernetes schemas, SpinKube's v1alpha1
# fields and webhook rules, Secrets made by scripts/k8s-secrets.sh, the
# signing key in a Secret of its own), the Spin runtime configs, the
# OpenTelemetry Collector config, that compose, scripts/up.sh and the test
# host give the app every required spin.toml variable, and that each
# database role (adapters/admin/src/roles.rs) reaches migrate and its own
# users alone, from a Secret of its own. `.ci/run` runs it.
#
# Installs its pinned tools (scripts/check-infra.requirements.txt) from PyPI
# into a virtualenv under target/ the first time (CHECK_INFRA_VENV to move it).
# Uses promtool (Debian package prometheus) for the cluster's Prometheus config.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${CHECK_INFRA_VENV:-target/check-infra-venv}
requirements=scripts/check-infra.requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
    echo "== installing the checkers into $venv (PyPI)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi
venv=$(cd "$venv" && pwd)
PATH="$venv/bin:$PATH" exec "$venv/bin/python" scripts/check_infra.py
