#!/usr/bin/env bash
# Runs the README's "Try it" walk-through against a running system — `just
# run`, or `docker compose up` — and fails on the first answer whose status
# is not the one the README shows: its status line (`# HTTP/1.1 201
# Created`) or its problem's `"status":409`, else any 2xx.
#
#   scripts/readme-curls.sh [host:port]     (default localhost:3000)
#   scripts/readme-curls.sh --list          the commands and statuses, run nothing
#
# The commands are the README's own: every `sh` block of "## Try it" but
# the grpcurl one, split into commands (a line and its `\` continuations)
# and run in order in one shell, so TOKEN, USER_ID and ADMIN_TOKEN carry
# over. Rewritten, so that it can run again against the same system:
#   - the customer's email gets this run's tag (ada-<tag>@example.com: a
#     second sign-up of one email is a 409), and so does each
#     Idempotency-Key (a key already used answers the first request's
#     result);
#   - the admin: the development one `just run` starts (which the README
#     shows) unless ADMIN_EMAIL and ADMIN_PASSWORD say otherwise — compose's
#     are in .env and secrets/admin-password (`just env`);
#   - `localhost:3000`, when another address is given.
# Reads (no body) are retried for up to 10 s: notifications arrive a moment
# after the orders that cause them, and the gateway's /health settles for a
# few seconds after start. Only statuses are checked here;
# tests/tests/it/readme.rs checks the README's headers, keys and values too,
# against a system it starts.
#
# Needs bash, curl, grep, cut and awk.
set -euo pipefail
cd "$(dirname "$0")/.."

list=false
if [ "${1:-}" = --list ]; then
    list=true
    shift
fi
gateway=${1:-localhost:3000}
readme_admin_email=admin@example.com
readme_admin_password='change me, I am the dev admin'
admin_email=${ADMIN_EMAIL:-$readme_admin_email}
admin_password=${ADMIN_PASSWORD:-$readme_admin_password}
# Into a single-quoted JSON body: nothing that would end either.
case "$admin_email$admin_password" in
    *[\'\"\\]*)
        echo "readme-curls: ADMIN_EMAIL and ADMIN_PASSWORD must not hold quotes or backslashes" >&2
        exit 64
        ;;
esac
tag=$(date +%s)-$$
retry_seconds=10

# One record per command: the status the README shows ("" for any 2xx), a
# unit separator (\037), the command (its lines joined with newlines), then an ASCII record
# separator (\036; awk is mawk on Debian and Ubuntu, so no NUL).
steps() {
    awk '
        function flush() {
            if (command != "") printf "%s\037%s\036", expected, command
            command = ""; expected = ""; answering = 0
        }
        /^## / { in_section = ($0 == "## Try it") }
        !in_section { next }
        /^```sh$/ { in_block = 1; block = ""; next }
        /^```$/ && in_block {
            in_block = 0
            if (block !~ /grpcurl/) { blocks = blocks block "\034" }
            next
        }
        in_block { block = block $0 "\n" }
        END {
            n = split(blocks, list, "\034")
            for (b = 1; b <= n; b++) {
                lines = split(list[b], line, "\n")
                continuing = 0
                for (i = 1; i <= lines; i++) {
                    l = line[i]
                    if (continuing) {
                        command = command "\n" l
                        continuing = (l ~ /\\$/)
                    } else if (l ~ /^#/) {
                        # The answer lines right after a command: a status
                        # line, headers, JSON. Prose ends them.
                        if (answering && l ~ /^#(  | HTTP\/| [{]| [a-z-]+: )/) {
                            if (expected == "" && match(l, /HTTP\/[0-9.]+ [0-9][0-9][0-9]/))
                                expected = substr(l, RSTART + RLENGTH - 3, 3)
                            if (expected == "" && match(l, /"status":[0-9][0-9][0-9]/))
                                expected = substr(l, RSTART + RLENGTH - 3, 3)
                        } else {
                            answering = 0
                        }
                    } else if (l ~ /^[ \t]*$/) {
                        answering = 0
                    } else {
                        flush()
                        command = l
                        continuing = (l ~ /\\$/)
                        answering = 1
                    }
                }
                flush()
            }
        }
    ' README.md
}

statuses=$(mktemp)
trap 'rm -f "$statuses"' EXIT
# Every curl writes its status to $statuses, leaving what it prints to the
# README's pipes.
curl() {
    command curl --max-time 10 -w '%{stderr}%{http_code}\n' "$@" 2>>"$statuses"
}

# Runs one command in this shell (so that its assignments stay), its
# output dropped; each curl's status is then in $statuses.
run_step() {
    : >"$statuses"
    set +e
    eval "$1" >/dev/null
    local exit=$?
    set -e
    return $exit
}

# True when every status in $statuses is `expected` (or any 2xx when
# empty), and there is at least one.
statuses_are() {
    local expected=$1 seen=0 status
    while read -r status; do
        [[ $status =~ ^[0-9]{3}$ ]] || continue
        seen=1
        if [ -n "$expected" ]; then
            [ "$status" = "$expected" ] || return 1
        else
            [[ $status == 2?? ]] || return 1
        fi
    done <"$statuses"
    [ $seen -eq 1 ]
}

count=0
while IFS=$'\037' read -r -d $'\036' expected command; do
    command=${command//"localhost:3000"/"$gateway"}
    command=${command//"ada@example.com"/"ada-$tag@example.com"}
    command=${command//"Idempotency-Key: readme-"/"Idempotency-Key: readme-$tag-"}
    command=${command//"$readme_admin_email"/"$admin_email"}
    command=${command//"$readme_admin_password"/"$admin_password"}
    count=$((count + 1))
    if [ "$list" = true ]; then
        printf '%s\t%s\n' "${expected:-2xx}" "$command"
        continue
    fi
    deadline=$((SECONDS + retry_seconds))
    while true; do
        if run_step "$command" && statuses_are "$expected"; then
            break
        fi
        if [[ $command == *" -d "* ]] || [ $SECONDS -ge $deadline ]; then
            echo "readme-curls: step $count failed: expected ${expected:-a 2xx}, got $(tr '\n' ' ' <"$statuses")" >&2
            echo "$command" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "ok ${expected:-2xx}: ${command%%$'\n'*}"
done < <(steps)

if [ $count -lt 20 ]; then
    echo "readme-curls: found only $count commands in README.md's \"Try it\"" >&2
    exit 1
fi
[ "$list" = true ] || echo "readme-curls: the README's $count commands answered as shown, on $gateway"
