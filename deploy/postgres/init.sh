#!/bin/sh
# Compose's Postgres, on its first start (an empty data volume): each
# service's role and database from roles.sql, with the passwords from .env.
# To change a password later, run roles.sql again (see its header).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v users_password="$USER_SERVICE_DB_PASSWORD" \
    -v orders_password="$ORDER_SERVICE_DB_PASSWORD" \
    -v notifications_password="$NOTIFICATION_SERVICE_DB_PASSWORD" \
    -v users_db=users -v orders_db=orders -v notifications_db=notifications \
    -f /etc/rust-shop/postgres/roles.sql
