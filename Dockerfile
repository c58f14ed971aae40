# syntax=docker/dockerfile:1
# One image with all four service binaries; docker-compose.yml picks the
# binary per service. Three stages: plan the dependency graph (cargo-chef),
# build dependencies in their own cached layer, then build the workspace and
# copy only the binaries into a distroless, non-root runtime.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only: this layer is rebuilt when Cargo.lock changes, not when
# our code does.
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# The same command as a native release build: every workspace binary.
RUN cargo build --release --locked --workspace --bins
# The mount point of compose's `certs` volume, owned by the runtime user: a
# new named volume takes the ownership of the directory it is mounted over.
RUN mkdir -p /certs

# glibc + libgcc, no shell, no package manager, uid 65532. The binaries use
# rustls (no OpenSSL) and probe their own health (`<binary> healthcheck`).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /app/target/release/api-gateway /usr/local/bin/api-gateway
COPY --from=builder /app/target/release/user-service /usr/local/bin/user-service
COPY --from=builder /app/target/release/order-service /usr/local/bin/order-service
COPY --from=builder /app/target/release/notification-service /usr/local/bin/notification-service
COPY --from=builder --chown=65532:65532 /certs /certs
USER nonroot
