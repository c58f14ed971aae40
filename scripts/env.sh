#!/usr/bin/env bash
# `just env`: everything `docker compose up` needs and no repository should
# hold, made once — `.env` (the settings compose reads: the first admin's
# email, which transports, which optional servers) and `secrets/` (one file
# per password and key, mounted by compose as secrets, each only into the
# containers that use it; docs/deployment.md).
#
# Keeps what exists: an existing `.env` is never overwritten, and a secret
# file already there is kept (a password changed here would no longer match
# the one a server's volume holds). Delete a file to have it made again;
# `--force` makes a new `.env` (secrets are still kept).
#
# Needs bash, tr, head and openssl (for the token signing key; without it,
# cargo builds `user-service generate-signing-key`). Usable without `just`.
set -euo pipefail
cd "$(dirname "$0")/.."

force=false
case "${1:-}" in
    "") ;;
    --force) force=true ;;
    *)
        echo "usage: scripts/env.sh [--force]" >&2
        exit 64
        ;;
esac

# A password of `length` characters from letters and digits, starting with
# a letter: safe in every consumer's syntax (URLs, NATS's configuration,
# which reads a value starting with a digit as a number, Redis's ACL file,
# psql variables) without quoting.
password() {
    local length=$1 out=""
    # Fixed-size reads: `tr </dev/urandom | head` would end tr with SIGPIPE,
    # which pipefail counts as a failure.
    while [ ${#out} -lt "$length" ]; do
        out+=$(head -c 64 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
        out=${out#"${out%%[A-Za-z]*}"} # drop leading digits
    done
    printf '%s' "${out:0:length}"
}

signing_key() {
    if command -v openssl >/dev/null && openssl genpkey -algorithm ed25519 2>/dev/null; then
        return
    fi
    if command -v cargo >/dev/null; then
        cargo run --quiet --locked -p user-service -- generate-signing-key
        return
    fi
    echo "env.sh: need openssl (1.1.1 or later) or cargo to make the token signing key" >&2
    exit 69
}

# The secrets, by file name: each service's account on each server, the
# servers' administrators, the first admin's password, the signing key.
passwords=(
    postgres-password
    user-service-db-password order-service-db-password notification-service-db-password
    rabbitmq-admin-password
    api-gateway-amqp-password user-service-amqp-password
    order-service-amqp-password notification-service-amqp-password
    api-gateway-nats-password order-service-nats-password notification-service-nats-password
    api-gateway-redis-password order-service-redis-password notification-service-redis-password
    grafana-admin-password
    admin-password
)

# The directory is the user's alone; the files in it are readable by all,
# because compose mounts each file as it is into containers that run as
# other users (the services as 65532), and a file secret cannot change
# owner or mode outside Swarm.
mkdir -p secrets
chmod 700 secrets
made=()
for name in "${passwords[@]}"; do
    if [ ! -s "secrets/$name" ]; then
        password 32 >"secrets/$name.tmp"
        chmod 644 "secrets/$name.tmp"
        mv "secrets/$name.tmp" "secrets/$name"
        made+=("$name")
    fi
done
if [ ! -s secrets/jwt-signing-key.pem ]; then
    signing_key >secrets/jwt-signing-key.pem.tmp
    chmod 644 secrets/jwt-signing-key.pem.tmp
    mv secrets/jwt-signing-key.pem.tmp secrets/jwt-signing-key.pem
    made+=(jwt-signing-key.pem)
fi
if [ ${#made[@]} -gt 0 ]; then
    printf 'env.sh: made secrets/%s\n' "${made[@]}"
else
    echo "env.sh: kept every file in secrets/"
fi

if [ -e .env ] && [ "$force" = false ]; then
    echo "env.sh: kept .env (scripts/env.sh --force makes a new one)"
else
    cat >.env <<'EOF'
# Made by `just env` (scripts/env.sh): what compose reads besides secrets/.
# Every password and key is a file in secrets/, never a variable here.

# The first admin. Its password is secrets/admin-password.
ADMIN_EMAIL=admin@example.com

# How requests travel (docs/transports.md): amqp, nats, redis or tcp. Using
# nats or redis? Add its profile below, so that its server starts.
ORDERS_TRANSPORT=amqp
NOTIFICATIONS_TRANSPORT=amqp
TRANSPORTS=amqp
# Optional servers: nats, redis (comma-separated), e.g. COMPOSE_PROFILES=nats
COMPOSE_PROFILES=

RUST_LOG=info
LOG_FORMAT=json
EOF
    echo "env.sh: wrote .env"
fi
echo "env.sh: the admin is $(sed -n 's/^ADMIN_EMAIL=//p' .env), password in secrets/admin-password"
