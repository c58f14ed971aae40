#!/usr/bin/env bash
# `just k8s-local-secrets`: what the local Kubernetes overlay needs and no
# repository should hold, made into its git-ignored certs/ and secrets/
# (deploy/k8s/README.md): a development CA and each service's certificate,
# the token signing key, and the first admin's password (printed once).
# Keeps whatever already exists, so tokens and certificates survive a
# re-run; delete the folders to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

overlay=deploy/k8s/overlays/local
user_service=(cargo run --quiet --locked -p user-service --)
umask 077

# Keeps a set whose certificates carry their SPIFFE IDs; issues one anew
# otherwise (docs/security.md#service-identities-spiffe-ids).
"${user_service[@]}" generate-dev-certs "$overlay/certs"
mkdir -p "$overlay/secrets"
if [ ! -s "$overlay/secrets/jwt-signing-key.pem" ]; then
    "${user_service[@]}" generate-signing-key > "$overlay/secrets/jwt-signing-key.pem.tmp"
    mv "$overlay/secrets/jwt-signing-key.pem.tmp" "$overlay/secrets/jwt-signing-key.pem"
fi
if [ ! -s "$overlay/secrets/admin-password" ]; then
    # 24 random bytes as URL-safe base64: 32 characters, no newline.
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n' > "$overlay/secrets/admin-password"
    echo "k8s-local-secrets: the local cluster's admin is admin@example.com, password in $overlay/secrets/admin-password"
fi
