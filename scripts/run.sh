#!/usr/bin/env bash
# `just run`: builds the workspace, starts the four services natively with
# the defaults from .env.example, waits until the gateway reports healthy,
# and stops every service it started on Ctrl-C (or when one of them exits).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/dev-env.sh

cargo build --workspace --bins --locked "$@"
profile=debug
for arg in "$@"; do [[ $arg == --release ]] && profile=release; done
bin=target/$profile

# Each service gets its own database, owned by its own role (no superuser):
# create or update them (deploy/postgres/roles.sql). These override a
# DATABASE_URL that may be exported in the shell for tests. TLS is pointless
# on loopback and costs CPU on both ends (Postgres enables it by default):
# sslmode=disable.
scripts/postgres-roles.sh
load_dev_env deploy/postgres/dev.env
pg=localhost:5432
users_db=${USERS_DATABASE_URL:-postgres://user_service:$USER_SERVICE_DB_PASSWORD@$pg/users?sslmode=disable}
orders_db=${ORDERS_DATABASE_URL:-postgres://order_service:$ORDER_SERVICE_DB_PASSWORD@$pg/orders?sslmode=disable}
notifications_db=${NOTIFICATIONS_DATABASE_URL:-postgres://notification_service:$NOTIFICATION_SERVICE_DB_PASSWORD@$pg/notifications?sslmode=disable}
amqp_host=${AMQP_HOST:-localhost}:${AMQP_PORT:-5672}
gateway_addr=${GATEWAY_LISTEN_ADDR:-127.0.0.1:3000}
user_service_addr=${USER_SERVICE_LISTEN_ADDR:-127.0.0.1:5000}

# The first admin (user-service creates or updates it at start). Development
# defaults when unset, and said so: never use them beyond this machine.
admin_email=${ADMIN_EMAIL:-admin@example.com}
admin_password=${ADMIN_PASSWORD:-change me, I am the dev admin}
if [[ -z ${ADMIN_EMAIL:-} || -z ${ADMIN_PASSWORD:-} ]]; then
    echo "just run: no ADMIN_EMAIL/ADMIN_PASSWORD in the environment; using the development admin"
    echo "          $admin_email / $admin_password"
fi
# No JWT_SIGNING_KEY(_FILE): user-service generates a development key at
# start and logs so; tokens then die with it.

# Each service logs into RabbitMQ as itself, permitted only what it does
# (docs/security.md): create or update the accounts, then hand each service
# its own URL.
scripts/rabbitmq-accounts.sh
load_dev_env deploy/rabbitmq/dev.env
amqp() { echo "amqp://$1:$2@$amqp_host/%2f"; }

# user-service knows its callers by their certificates (mutual TLS; so do
# order-service and notification-service on TRANSPORTS=tcp): a
# development CA and one certificate per service, new at every start unless
# GRPC_CERTS_DIR names a directory of them (ca.pem, <service>.pem/.key).
certs=${GRPC_CERTS_DIR:-target/dev-certs}
if [[ -z ${GRPC_CERTS_DIR:-} ]]; then
    rm -rf "$certs"
    "$bin/user-service" generate-dev-certs "$certs" >/dev/null
fi

pids=()
stop() {
    trap - INT TERM EXIT
    echo "stopping services..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

GRPC_TLS_CA_FILE=$certs/ca.pem GRPC_TLS_CERT_FILE=$certs/user-service.pem GRPC_TLS_KEY_FILE=$certs/user-service.key GRPC_REFLECTION=${GRPC_REFLECTION:-true} DATABASE_URL=$users_db USER_SERVICE_LISTEN_ADDR=$user_service_addr AMQP_URL=$(amqp user-service "$USER_SERVICE_AMQP_PASSWORD") ADMIN_EMAIL=$admin_email ADMIN_PASSWORD=$admin_password "$bin/user-service" & pids+=($!)
GRPC_TLS_CA_FILE=$certs/ca.pem GRPC_TLS_CERT_FILE=$certs/order-service.pem GRPC_TLS_KEY_FILE=$certs/order-service.key DATABASE_URL=$orders_db AMQP_URL=$(amqp order-service "$ORDER_SERVICE_AMQP_PASSWORD") USER_SERVICE_URL=https://$user_service_addr "$bin/order-service" & pids+=($!)
GRPC_TLS_CA_FILE=$certs/ca.pem GRPC_TLS_CERT_FILE=$certs/notification-service.pem GRPC_TLS_KEY_FILE=$certs/notification-service.key DATABASE_URL=$notifications_db AMQP_URL=$(amqp notification-service "$NOTIFICATION_SERVICE_AMQP_PASSWORD") "$bin/notification-service" & pids+=($!)
GRPC_TLS_CA_FILE=$certs/ca.pem GRPC_TLS_CERT_FILE=$certs/api-gateway.pem GRPC_TLS_KEY_FILE=$certs/api-gateway.key GATEWAY_LISTEN_ADDR=$gateway_addr USER_SERVICE_URL=https://$user_service_addr AMQP_URL=$(amqp api-gateway "$API_GATEWAY_AMQP_PASSWORD") "$bin/api-gateway" & pids+=($!)

# Bounded wait for readiness: 30 s, then say what is wrong and stop.
for _ in $(seq 1 60); do
    if curl -fsS "http://$gateway_addr/health" >/dev/null 2>&1; then
        echo
        echo "ready: the gateway is at http://$gateway_addr  (try: curl http://$gateway_addr/health)"
        echo "press Ctrl-C to stop every service"
        # Returns when any service exits; the trap then stops the others.
        wait -n "${pids[@]}"
        exit 1
    fi
    sleep 0.5
done
echo "error: the gateway did not become healthy within 30 s; see the logs above" >&2
exit 1
