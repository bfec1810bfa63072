#!/usr/bin/env bash
# Runs the API locally: SecantusDB on 127.0.0.1:27017 (data kept in .data/) and
# all five functions behind `cargo lambda watch` on http://127.0.0.1:${PORT:-9000},
# reloading on code changes. Ctrl-C stops everything this script started.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if ((${#STARTED_PIDS[@]})); then
        log "stopping the watcher, functions and database"
        cleanup_started
    fi
    exit "$rc"
}
trap on_exit EXIT
# Exiting from these traps runs on_exit.
# Ctrl-C is the normal way to stop the dev server, so it is not an error.
trap 'exit 0' INT
trap 'exit 143' TERM

port="${PORT:-9000}"

bootstrap

if port_open "$port"; then
    die "port $port is already in use (another \`make dev\`?); stop it or set PORT"
fi

# Built up front: a function that compiles on its first request makes that
# request time out, and cargo-lambda was seen recompiling in a loop then.
log "cargo build --workspace --bins"
cargo build --workspace --bins

mkdir -p .local
# The functions inherit these from cargo-lambda's environment.
if [[ -z "${MONGODB_URI:-}" ]]; then
    log "starting SecantusDB on 127.0.0.1:27017 (data in .data/secantus, log in .local/secantus.log)"
    start_db 27017 "$REPO_ROOT/.data/secantus" "$REPO_ROOT/.local/secantus.log"
    export MONGODB_URI="$DB_URI"
else
    log "using the database at MONGODB_URI"
fi

if [[ -z "${JWT_SECRET:-}" ]]; then
    # Kept on disk so that tokens issued before a restart stay valid.
    secret_file="$REPO_ROOT/.local/jwt-secret"
    if [[ ! -s "$secret_file" ]]; then
        (umask 077 && random_hex 32 >"$secret_file")
    fi
    chmod 600 "$secret_file"
    JWT_SECRET="$(<"$secret_file")"
    export JWT_SECRET
fi

export MONGODB_DB="${MONGODB_DB:-user_management}"
export LINKED_COLLECTION="${LINKED_COLLECTION:-linked_collection}"
export JWT_ISSUER="${JWT_ISSUER:-user-management-api}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-user-management-api}"
export ACCESS_TOKEN_TTL_SECONDS="${ACCESS_TOKEN_TTL_SECONDS:-1800}"
export RUST_LOG="${RUST_LOG:-info}"

log "starting cargo lambda watch on 127.0.0.1:$port"
start_watch "$port" -

deadline=$((SECONDS + 30))
until port_open "$port"; do
    kill -0 "$WATCH_PID" 2>/dev/null || die "cargo lambda watch exited during startup"
    ((SECONDS < deadline)) || die "cargo lambda watch did not listen on port $port within 30 s"
    sleep 0.3
done

base="http://127.0.0.1:$port"
cat <<MSG

  API:      $base
  Database: $MONGODB_URI (db $MONGODB_DB)

  Try:
    curl -s -X POST $base/auth/register -H 'content-type: application/json' -d '{"username":"ada","email":"ada@example.com","password":"correct horse battery staple"}'

  Ctrl-C stops everything.

MSG

# `wait` returns as soon as a trapped signal arrives, so Ctrl-C is handled at once.
wait "$WATCH_PID"
