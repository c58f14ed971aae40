#!/bin/sh
# Starts the server (valkey-server, or redis-server where that is what is
# installed) for rust-shop, when requests travel over Redis
# (TRANSPORTS=redis, ORDERS_TRANSPORT=redis; docs/transports.md), with the
# users of users.acl beside this script and their passwords from the
# environment or the files its `_FILE` variables name — an ACL file reads no variables, so this fills them in, into
# a file only this process can read. Arguments go to redis-server.
#
# Who may do what, as the RabbitMQ and NATS accounts say it: the gateway
# sends requests on the services' channels and reads their replies; each
# service reads and answers its own channels only; nobody else gets in (the
# `default` user is off). Publishing is granted apart from subscribing by a
# Redis 7 selector, `(… +publish)`: a service publishes only its replies, so
# its account cannot send a request, not even to itself (a request names its
# caller, and only the gateway's is believed). Channels are NestJS's: the pattern, and
# `<pattern>.reply`; the health check is each service's own
# (`<queue>.health_check`). The lists follow shared/contracts/src/patterns.rs
# (checked by deploy/tests/redis.rs).
set -eu
here=$(dirname "$0")
# Each NAME also from NAME_FILE (compose's secrets), as the official images
# read their own `_FILE` variables; `$(cat)` drops the final line ending.
for name in API_GATEWAY_REDIS_PASSWORD ORDER_SERVICE_REDIS_PASSWORD NOTIFICATION_SERVICE_REDIS_PASSWORD; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        value=$(cat "$file")
        export "$name=$value"
    fi
done
for name in API_GATEWAY_REDIS_PASSWORD ORDER_SERVICE_REDIS_PASSWORD NOTIFICATION_SERVICE_REDIS_PASSWORD; do
    eval "value=\${$name:-}"
    # Also what keeps the substitution below safe.
    case $value in
        "" | *[!A-Za-z0-9._~-]*)
            echo "start.sh: set $name (letters, digits and . _ ~ - only; see scripts/env.sh)" >&2
            exit 64
            ;;
    esac
done
umask 077
dir=$(mktemp -d)
sed -e "s/\${API_GATEWAY_REDIS_PASSWORD}/$API_GATEWAY_REDIS_PASSWORD/" \
    -e "s/\${ORDER_SERVICE_REDIS_PASSWORD}/$ORDER_SERVICE_REDIS_PASSWORD/" \
    -e "s/\${NOTIFICATION_SERVICE_REDIS_PASSWORD}/$NOTIFICATION_SERVICE_REDIS_PASSWORD/" \
    "$here/users.acl" >"$dir/users.acl"
server=redis-server
if command -v valkey-server >/dev/null; then server=valkey-server; fi
exec "$server" --aclfile "$dir/users.acl" "$@"
