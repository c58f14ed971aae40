#!/usr/bin/env bash
# Installs the pinned NestJS peers (package-lock.json) once; node_modules is
# the cache between test runs. Tests in several binaries may call this at the
# same moment, so the install holds a lock.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "interop tests need Node.js 20+ and npm on PATH" >&2; exit 1; }
exec 9>.install.lock
flock 9
if [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
    touch node_modules/.installed
fi
