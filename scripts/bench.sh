#!/usr/bin/env bash
# `just bench`: installs wrk when missing, builds the release binaries, and
# runs the bench driver (bench/src/workloads.rs), which starts the four
# services against the local Postgres and RabbitMQ in databases and queues of
# its own (bench_*), removed afterwards. Parameters: see bench/src/lib.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    echo "wrk is missing; installing it (Debian/Ubuntu package)..."
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    elif command -v sudo >/dev/null; then
        sudo apt-get install -y -qq wrk >/dev/null
    else
        echo "error: install wrk (https://github.com/wg/wrk), e.g. apt install wrk / brew install wrk" >&2
        exit 1
    fi
fi

cargo build --release --locked --workspace --bins
# `just soak` runs the soak binary through the same set-up.
exec "target/release/${BENCH_BIN:-bench}" "$@"
