#!/bin/sh
# Compose's RabbitMQ entrypoint: renders the definitions with the passwords
# from the secret files compose mounts, then starts the broker as the image
# would.
set -eu
# Each NAME also from NAME_FILE (compose's secrets), as the official images
# read their own `_FILE` variables; `$(cat)` drops the final line ending.
for name in RABBITMQ_ADMIN_PASSWORD API_GATEWAY_AMQP_PASSWORD USER_SERVICE_AMQP_PASSWORD ORDER_SERVICE_AMQP_PASSWORD NOTIFICATION_SERVICE_AMQP_PASSWORD; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        value=$(cat "$file")
        export "$name=$value"
    fi
done
mkdir -p /tmp/rust-shop
RABBITMQ_VHOST=/ sh /etc/rabbitmq/rust-shop/render.sh > /tmp/rust-shop/definitions.json
exec docker-entrypoint.sh rabbitmq-server
