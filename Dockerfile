# syntax=docker/dockerfile:1
# One image with all four service binaries; docker-compose.yml picks the
# binary per service. Three stages: plan the dependency graph (cargo-chef),
# build dependencies in their own cached layer, then build the services and
# copy only the binaries into a distroless, non-root runtime.
# `hadolint Dockerfile` passes with no rule ignored (deploy/tests/tools.rs).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
# Pinned: the recipe format and `cook`'s flags change between releases.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# The mount points of compose's certificate volumes, owned by the runtime
# user: a new named volume takes the ownership of the directory it is
# mounted over. Each service mounts its own at /certs; the `certs` job
# mounts them all, and the CA's, at /certs/<service> and /certs/ca.
RUN mkdir -p /certs/ca /certs/api-gateway /certs/user-service \
    /certs/order-service /certs/notification-service
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only: this layer is rebuilt when Cargo.lock changes, not when
# our code does. The same packages as the build below, so the same features
# are unified and the build reuses every crate cooked here.
RUN cargo chef cook --release --locked --recipe-path recipe.json \
    -p api-gateway -p user-service -p order-service -p notification-service
COPY . .
# The four services only: not the bench tooling, the system tests or any
# test and bench target (deploy/tests/compose checks this list against the
# binaries compose runs).
RUN cargo build --release --locked \
    -p api-gateway -p user-service -p order-service -p notification-service

# glibc + libgcc, no shell, no package manager. The binaries use rustls (no
# OpenSSL) and probe their own health (`<binary> healthcheck`).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /app/target/release/api-gateway /usr/local/bin/api-gateway
COPY --from=builder /app/target/release/user-service /usr/local/bin/user-service
COPY --from=builder /app/target/release/order-service /usr/local/bin/order-service
COPY --from=builder /app/target/release/notification-service /usr/local/bin/notification-service
COPY --from=builder --chown=65532:65532 /certs /certs
# distroless' `nonroot`, by number: Kubernetes' runAsNonRoot can only verify
# a numeric user, and the k8s manifests run as 65532:65532 too.
USER 65532:65532
