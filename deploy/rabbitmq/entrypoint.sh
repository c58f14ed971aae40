#!/bin/sh
# Compose's RabbitMQ entrypoint: renders the definitions with the passwords
# from the environment, then starts the broker as the image would.
set -eu
mkdir -p /tmp/rust-shop
RABBITMQ_VHOST=/ sh /etc/rabbitmq/rust-shop/render.sh > /tmp/rust-shop/definitions.json
exec docker-entrypoint.sh rabbitmq-server
