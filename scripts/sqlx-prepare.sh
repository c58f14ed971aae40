#!/usr/bin/env bash
# Writes (or, with --check, verifies) the query data sqlx's `query!` macros
# check every statement against when a crate is built: `.sqlx/` beside each
# crate's Cargo.toml, committed, so no build needs a database
# (SQLX_OFFLINE=true in .cargo/config.toml).
#
# Each crate is prepared against a throw-away database holding its own
# schema, never a shared one: every service owns its database (two of them
# have an `outbox`), and a statement must be checked against the schema it
# will run on.
#   - a service: its migrations;
#   - messaging (the outbox's statements): the outbox's own definition,
#     shared/messaging/src/outbox/schema.sql, which each service's tests
#     compare with the table its migrations make;
#   - platform (the readiness ping): no schema at all.
# The databases are made on the server of TEST_DATABASE_URL (default: the
# local Postgres the tests use), named uniquely, and dropped on exit.
#
# --check fails when a statement no longer matches its schema (a renamed
# column, a changed type) or the committed data is missing or differs: run
# this script without it and commit the `.sqlx/` changes. `just sqlx-check`
# (part of `just test`) runs it; `just sqlx-prepare` regenerates.
# Needs sqlx-cli (scripts/tools.sh installs the pinned version).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/target/tools/bin:$PATH"

check=()
case "${1:-}" in
    --check) check=(--check) ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! cargo sqlx --version >/dev/null 2>&1; then
    echo "sqlx-prepare: sqlx-cli is missing: run scripts/tools.sh" >&2
    exit 1
fi

# The server's URL without its database: scheme://user:password@host:port,
# and the query string (sslmode…) kept for the scratch databases.
server=${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable}
query=""
case "$server" in *\?*) query="?${server#*\?}"; server=${server%%\?*} ;; esac
server=${server%/*}

scratch=()
cleanup() {
    for url in ${scratch[@]+"${scratch[@]}"}; do
        sqlx database drop -y -D "$url" >/dev/null 2>&1 || echo "sqlx-prepare: could not drop ${url%%\?*}" >&2
    done
    [ -z "${schema_dir:-}" ] || rm -rf "$schema_dir"
}
trap cleanup EXIT

# A migrations directory holding only the outbox's definition.
schema_dir=$(mktemp -d)
cp shared/messaging/src/outbox/schema.sql "$schema_dir/1_outbox.sql"

# crate directory | schema (a migrations directory, or "-") | cargo check arguments.
# Dependencies first: each crate's check builds them from their committed
# data (see below), so theirs must be prepared before.
crates=(
    "shared/platform|-|--features postgres"
    "shared/messaging|$schema_dir|--features outbox"
    "user-service|user-service/migrations|"
    "order-service|order-service/migrations|"
    "notification-service|notification-service/migrations|"
)

status=0
for entry in "${crates[@]}"; do
    IFS='|' read -r dir migrations args <<<"$entry"
    name=$(basename "$dir" | tr - _)
    url="$server/sqlx_prepare_${name}_$$_${RANDOM}$query"
    scratch+=("$url")
    sqlx database create -D "$url"
    if [ "$migrations" != - ]; then
        sqlx migrate run --source "$migrations" -D "$url" >/dev/null
    fi
    # shellcheck disable=SC2086 # the arguments are words
    (
        cd "$dir"
        # `prepare` recompiles only this crate (it touches its sources):
        # build its dependencies first, from their committed data, or they
        # would be compiled against this crate's database and their
        # statements land in its `.sqlx/`. This crate's own build may fail
        # here (stale data is why one prepares); prepare then reports it.
        cargo check --locked --quiet $args >/dev/null 2>&1 || true
        echo "sqlx-prepare: $dir" >&2
        out=$(cargo sqlx prepare ${check[@]+"${check[@]}"} -D "$url" -- --locked --quiet $args 2>&1) || {
            echo "$out" >&2
            exit 1
        }
        echo "$out" >&2
        # sqlx only warns about data no statement uses any more; a check
        # fails on it, or .sqlx/ keeps queries nothing runs.
        if [ ${#check[@]} -gt 0 ] && grep -q "potentially unused queries" <<<"$out"; then
            exit 1
        fi
    ) || status=1
done

if [ "$status" -ne 0 ]; then
    if [ ${#check[@]} -gt 0 ]; then
        echo "sqlx-prepare: the query data is stale or a statement no longer matches its schema: fix the statement, or run scripts/sqlx-prepare.sh (just sqlx-prepare) and commit .sqlx/" >&2
    fi
    exit 1
fi
