#!/bin/sh
# Compose's Postgres, on its first start (an empty data volume): each
# service's role and database from roles.sql, with the passwords from the
# secret files compose mounts.
# To change a password later, run roles.sql again (see its header).
set -eu
# Each NAME also from NAME_FILE (compose's secrets), as the official images
# read their own `_FILE` variables; `$(cat)` drops the final line ending.
for name in USER_SERVICE_DB_PASSWORD ORDER_SERVICE_DB_PASSWORD NOTIFICATION_SERVICE_DB_PASSWORD; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        value=$(cat "$file")
        export "$name=$value"
    fi
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v users_password="$USER_SERVICE_DB_PASSWORD" \
    -v orders_password="$ORDER_SERVICE_DB_PASSWORD" \
    -v notifications_password="$NOTIFICATION_SERVICE_DB_PASSWORD" \
    -v users_db=users -v orders_db=orders -v notifications_db=notifications \
    -f /etc/rust-shop/postgres/roles.sql
