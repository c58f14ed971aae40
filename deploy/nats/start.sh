#!/bin/sh
# Compose's NATS entrypoint: nats.conf names each account's password as a
# variable (a NATS configuration reads variables, not files), so this reads
# them from the secret files compose mounts, then runs nats-server with the
# arguments given.
set -eu
# Each NAME also from NAME_FILE (compose's secrets), as the official images
# read their own `_FILE` variables; `$(cat)` drops the final line ending.
for name in API_GATEWAY_NATS_PASSWORD ORDER_SERVICE_NATS_PASSWORD NOTIFICATION_SERVICE_NATS_PASSWORD; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        value=$(cat "$file")
        export "$name=$value"
    fi
done
exec nats-server "$@"
