#!/usr/bin/env bash
# Checks that Postgres and RabbitMQ accept TCP connections, and says exactly
# how to start whichever does not. Used by `just run` and `just test`, so a
# missing server is one clear line instead of a wall of test panics.
# NATS and Redis too, when they will be used: with `tests` (the tests talk
# to the servers at NATS_HOST:NATS_PORT and REDIS_HOST:REDIS_PORT and start
# nats-server and redis-server processes of their own), or when a transport
# variable says nats or redis (docs/transports.md).
set -euo pipefail
mode=${1:-}

pg_host=${PG_HOST:-127.0.0.1}
pg_port=${PG_PORT:-5432}
amqp_host=${AMQP_HOST:-127.0.0.1}
amqp_port=${AMQP_PORT:-5672}
nats_host=${NATS_HOST:-127.0.0.1}
nats_port=${NATS_PORT:-4222}
redis_host=${REDIS_HOST:-127.0.0.1}
redis_port=${REDIS_PORT:-6379}

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
transports="${TRANSPORTS:-}${ORDERS_TRANSPORT:-}${NOTIFICATIONS_TRANSPORT:-}"
if [[ $mode == tests || $transports == *nats* ]] && ! reachable "$nats_host" "$nats_port"; then
    missing=1
    cat >&2 <<MSG
error: NATS is not reachable at $nats_host:$nats_port.
  Debian/Ubuntu: sudo apt install nats-server && (nats-server -a 127.0.0.1 -p 4222 &)
  Docker:        docker run -d -p 127.0.0.1:4222:4222 nats:2.12.2-alpine
MSG
fi
if [[ $mode == tests ]] && ! command -v "${NATS_SERVER:-nats-server}" >/dev/null; then
    missing=1
    cat >&2 <<MSG
error: nats-server is not on the PATH; the system tests start their own (or set NATS_SERVER).
  Debian/Ubuntu: sudo apt install nats-server
MSG
fi
if [[ $mode == tests || $transports == *redis* ]] && ! reachable "$redis_host" "$redis_port"; then
    missing=1
    cat >&2 <<MSG
error: Redis is not reachable at $redis_host:$redis_port.
  Debian/Ubuntu: sudo apt install redis-server && redis-server --bind 127.0.0.1 --port 6379 --daemonize yes
  Docker:        docker run -d -p 127.0.0.1:6379:6379 redis:7.4-alpine
MSG
fi
if [[ $mode == tests ]] && ! command -v redis-server >/dev/null; then
    missing=1
    cat >&2 <<MSG
error: redis-server is not on the PATH; the system tests start their own.
  Debian/Ubuntu: sudo apt install redis-server
MSG
fi
exit "$missing"
