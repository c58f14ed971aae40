#!/usr/bin/env bash
# Checks that Postgres and RabbitMQ accept TCP connections, and says exactly
# how to start whichever does not. Used by `just run` and `just test`, so a
# missing server is one clear line instead of a wall of test panics.
set -euo pipefail

pg_host=${PG_HOST:-127.0.0.1}
pg_port=${PG_PORT:-5432}
amqp_host=${AMQP_HOST:-127.0.0.1}
amqp_port=${AMQP_PORT:-5672}

reachable() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

missing=0
if ! reachable "$pg_host" "$pg_port"; then
    missing=1
    cat >&2 <<MSG
error: PostgreSQL is not reachable at $pg_host:$pg_port.
  Debian/Ubuntu: sudo apt install postgresql && sudo pg_ctlcluster \$(ls /etc/postgresql) main start
                 (then allow the password 'postgres' for user postgres, or trust auth on localhost)
  Docker:        docker compose up -d postgres
MSG
fi
if ! reachable "$amqp_host" "$amqp_port"; then
    missing=1
    cat >&2 <<MSG
error: RabbitMQ is not reachable at $amqp_host:$amqp_port.
  Debian/Ubuntu: sudo apt install rabbitmq-server && sudo rabbitmq-server -detached
  Docker:        docker compose up -d rabbitmq
MSG
fi
exit "$missing"
