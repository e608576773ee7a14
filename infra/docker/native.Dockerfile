# syntax=docker/dockerfile:1.7
# The native image: audit-relay (the entrypoint) and spintemp-admin
# (migrations, keys, tokens). infra/compose.yaml (profile native) and
# infra/k8s use this same image.
#
#   docker build -f infra/docker/native.Dockerfile -t ghcr.io/ORG/spintemp-native:0.1.0 .
#
# Pinned bases; the toolchain matches the one the project is developed and
# tested with (rustc 1.95.0). No secret is baked in: URLs and keys come from
# the environment at run time.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
# Only the two native crates (not the wasm components or the test host), in
# the project's `native` profile, with the lock file as it is. The caches keep
# rebuilds incremental; the binaries are copied out of them in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --profile native -p audit-relay -p spintemp-admin \
 && install -D -m 0755 target/native/audit-relay target/native/spintemp-admin -t /out/

FROM debian:12.11-slim
# The base is pinned; Debian's archive keeps only the current ca-certificates
# of 12.x, so pinning the package version would break the build later.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 spintemp \
 && useradd --system --uid 10001 --gid spintemp --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin spintemp
COPY --from=build /out/audit-relay /out/spintemp-admin /usr/local/bin/
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/audit-relay"]
