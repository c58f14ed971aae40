#!/usr/bin/env bash
# `just run`: creates or updates the services' RabbitMQ accounts, their
# permissions and the dead-letter policy on the local broker, from the same
# definitions compose loads (deploy/rabbitmq/definitions.json). Idempotent:
# `rabbitmqctl import_definitions` updates what exists. Passwords come from
# the environment, else the public development ones in
# deploy/rabbitmq/dev.env. RABBITMQCTL replaces the command for a broker
# that is not local (e.g. `docker exec -i rabbitmq rabbitmqctl`).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/dev-env.sh
load_dev_env deploy/rabbitmq/dev.env
export RABBITMQ_VHOST=${RABBITMQ_VHOST:-/}

read -ra rabbitmqctl <<< "${RABBITMQCTL:-rabbitmqctl}"
if ! command -v "${rabbitmqctl[0]}" >/dev/null 2>&1; then
    echo "error: ${rabbitmqctl[0]} not found: it creates each service's broker account." >&2
    echo "       Install RabbitMQ's CLI, or set RABBITMQCTL (e.g. 'docker exec -i rabbitmq rabbitmqctl')." >&2
    exit 1
fi
sh deploy/rabbitmq/render.sh | "${rabbitmqctl[@]}" -q import_definitions
