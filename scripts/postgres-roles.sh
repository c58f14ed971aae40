#!/usr/bin/env bash
# `just run`: creates or updates each service's Postgres role and its own
# database (users, orders, notifications) from deploy/postgres/roles.sql,
# the same file compose's Postgres runs. Idempotent. Passwords come from the
# environment, else the public development ones in deploy/postgres/dev.env.
# Runs as POSTGRES_ADMIN_URL, a superuser (default: postgres on localhost).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/dev-env.sh
load_dev_env deploy/postgres/dev.env

if ! command -v psql >/dev/null 2>&1; then
    echo "error: psql not found: it creates each service's Postgres role and database." >&2
    echo "       Install the PostgreSQL client (Debian/Ubuntu: sudo apt install postgresql-client)." >&2
    exit 1
fi
psql "${POSTGRES_ADMIN_URL:-postgres://postgres:postgres@localhost:5432/postgres?sslmode=disable}" \
    -v ON_ERROR_STOP=1 \
    -v users_password="$USER_SERVICE_DB_PASSWORD" \
    -v orders_password="$ORDER_SERVICE_DB_PASSWORD" \
    -v notifications_password="$NOTIFICATION_SERVICE_DB_PASSWORD" \
    -v users_db=users -v orders_db=orders -v notifications_db=notifications \
    -f deploy/postgres/roles.sql
