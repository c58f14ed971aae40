# Reference e-commerce microservices in Rust. `just` lists the recipes.

# Postgres database that #[sqlx::test] uses as the parent of its per-test databases.
test_database_url := env("TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable")

# The checkers scripts/tools.sh installs (promtool, hadolint, schemathesis…) come first on PATH.
export PATH := justfile_directory() + "/target/tools/bin:" + env("PATH")

# List the recipes.
default:
    @just --list

# Build and start all four services against Postgres and RabbitMQ on localhost; Ctrl-C stops them.
run *cargo_flags: check-deps
    scripts/run.sh {{cargo_flags}}

# Everything CI runs: format check, clippy with -D warnings, the dependency policy (deny.toml), the SQL against each crate's schema, unit, integration and system tests, then the restart tests.
test: (check-deps "tests") tools fmt-check lint deny sqlx-check && test-restarts
    DATABASE_URL={{test_database_url}} cargo test --workspace --locked

# Only the system tests (the four binaries as processes), then the restart tests.
test-system: (check-deps "tests") tools && test-restarts
    cargo build --workspace --bins --locked
    DATABASE_URL={{test_database_url}} cargo test -p system-tests --locked

# (`--workspace`: the feature set `just test` builds with, so after it nothing is rebuilt.)
# The system tests that stop and start this machine's RabbitMQ and Postgres mid-burst: alone, one at a time (anything else using them feels it).
test-restarts: check-deps
    cargo test --workspace --locked --no-run
    DATABASE_URL={{test_database_url}} cargo test --workspace --locked --test restarts -- --ignored --test-threads=1

# Throughput, latency, CPU and memory of the three workloads, against a floor (docs/benchmarks.md). Release build; installs wrk if missing.
bench: (check-deps "tests")
    scripts/bench.sh

# Steady mixed load for `minutes` on the release stack, each service's RSS sampled every minute; fails when memory keeps growing (docs/benchmarks.md).
soak minutes="10": check-deps
    SOAK_MINUTES={{minutes}} BENCH_BIN=soak scripts/bench.sh

# A customer's latency and answers while another address attacks the edge with slow bodies and withheld HTTP/2 streams (docs/benchmarks.md). Release build.
bench-abuse: (check-deps "tests")
    BENCH_BIN=bench-abuse scripts/bench.sh

# docker compose's .env and secrets/ (every password and key, one file each), kept when present (scripts/env.sh; `--force` for a new .env).
env *args:
    scripts/env.sh {{args}}

# The local Kubernetes overlay's certificates, token signing key and admin password, into its git-ignored certs/ and secrets/ (kept when present).
k8s-local-secrets:
    scripts/k8s-local-secrets.sh

# Install the real tools the tests check our files with, when missing (scripts/tools.sh).
tools:
    scripts/tools.sh

# Check formatting without changing files.
fmt-check:
    cargo fmt --all -- --check

# The dependency tree against deny.toml: licences, bans (duplicates reported), sources. Offline-safe: no advisory database needed.
deny: tools
    cargo deny --locked check licenses bans sources

# Known vulnerabilities (RustSec advisories, deny.toml's accepted ones with their reasons): needs GitHub for the database.
audit: tools
    cargo deny --locked check advisories

# Every `query!` statement against its crate's schema, in throw-away databases, and the committed .sqlx/ query data against them (scripts/sqlx-prepare.sh).
sqlx-check: tools
    TEST_DATABASE_URL={{test_database_url}} scripts/sqlx-prepare.sh --check

# Regenerate each crate's .sqlx/ query data after changing a statement or a migration (commit it).
sqlx-prepare: tools
    TEST_DATABASE_URL={{test_database_url}} scripts/sqlx-prepare.sh

# Format the code.
fmt:
    cargo fmt --all

# Clippy on every crate and target, warnings as errors.
lint:
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Fail with one clear line (and how to fix it) when Postgres, RabbitMQ or (for `tests`, or a nats transport) NATS is unreachable.
check-deps mode="":
    scripts/check-deps.sh {{mode}}
