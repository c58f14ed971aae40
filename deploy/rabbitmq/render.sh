#!/bin/sh
# Prints definitions.json (beside this script) with the accounts' passwords
# and the vhost filled in from the environment: the one description of the
# broker's accounts, permissions and policies, loaded at boot by compose's
# RabbitMQ (entrypoint.sh) and imported with `rabbitmqctl import_definitions`
# by `just run` (scripts/rabbitmq-accounts.sh) and the system tests.
#
# Passwords go into AMQP URLs unescaped, so they are restricted to URL-safe
# characters: generate them with `openssl rand -hex 24`.
set -eu
here=$(dirname "$0")
for var in RABBITMQ_VHOST RABBITMQ_ADMIN_PASSWORD API_GATEWAY_AMQP_PASSWORD \
    USER_SERVICE_AMQP_PASSWORD ORDER_SERVICE_AMQP_PASSWORD NOTIFICATION_SERVICE_AMQP_PASSWORD; do
    eval "value=\${$var:-}"
    if [ -z "$value" ]; then
        echo "render.sh: $var is not set (see .env.example)" >&2
        exit 1
    fi
    case $value in
    *[!A-Za-z0-9._~-]*)
        # The vhost may be "/"; nothing else may hold other characters.
        if [ "$var" != RABBITMQ_VHOST ] || [ "$value" != / ]; then
            echo "render.sh: $var may only hold letters, digits and . _ ~ - (try: openssl rand -hex 24)" >&2
            exit 1
        fi
        ;;
    esac
done
sed -e "s|\${RABBITMQ_VHOST}|$RABBITMQ_VHOST|g" \
    -e "s|\${RABBITMQ_ADMIN_PASSWORD}|$RABBITMQ_ADMIN_PASSWORD|g" \
    -e "s|\${API_GATEWAY_AMQP_PASSWORD}|$API_GATEWAY_AMQP_PASSWORD|g" \
    -e "s|\${USER_SERVICE_AMQP_PASSWORD}|$USER_SERVICE_AMQP_PASSWORD|g" \
    -e "s|\${ORDER_SERVICE_AMQP_PASSWORD}|$ORDER_SERVICE_AMQP_PASSWORD|g" \
    -e "s|\${NOTIFICATION_SERVICE_AMQP_PASSWORD}|$NOTIFICATION_SERVICE_AMQP_PASSWORD|g" \
    "$here/definitions.json"
