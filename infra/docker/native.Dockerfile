# Image for the native adapters: audit-relay and spintemp-admin (migrations).
#   docker build -f infra/docker/native.Dockerfile -t ghcr.io/ORG/spintemp-native:0.1.0 .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile native -p audit-relay -p spintemp-admin

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/native/audit-relay /src/target/native/spintemp-admin /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/audit-relay"]
