# shellcheck shell=bash
# Helpers shared by scripts/dev.sh and scripts/test.sh. Source it, don't run it.
# Callers are expected to run with `set -euo pipefail`.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
export REPO_ROOT VENV

# PIDs of every background process a script started, for cleanup_started.
STARTED_PIDS=()

log() {
    printf '==> %s\n' "$*" >&2
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Installs the pinned tools, then puts .venv/bin first on PATH so that
# `cargo lambda` finds the venv's cargo-lambda (cargo looks up subcommands on PATH).
bootstrap() {
    "$REPO_ROOT/scripts/bootstrap.sh"
    export PATH="$VENV/bin:$PATH"
}

# Prints a TCP port that was free a moment ago: the kernel picks it for a bind
# to port 0. Another process could still take it, but that race is rare on a dev
# box. Python because no standard shell tool binds a socket: bash's /dev/tcp
# only connects, and scanning `ss` output for a gap races the same way and more.
free_port() {
    "$VENV/bin/python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# random_hex [BYTES]: prints 2*BYTES (default 32 bytes = 64) random hex characters.
random_hex() {
    od -An -vtx1 -N"${1:-32}" /dev/urandom | tr -d ' \n'
    echo
}

# require_tools TOOL...: fails with one clear line naming what is missing.
# scripts/bootstrap.sh installs them on Debian when it runs as root (CI).
require_tools() {
    local tool missing=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    ((${#missing[@]} == 0)) ||
        die "missing ${missing[*]}: install ${missing[*]} (Debian: apt-get install ${missing[*]}), or run scripts/bootstrap.sh as root"
}

# True when a MongoDB wire server at $1 answers a real `ping` command; a bare
# TCP connect would also succeed while the server is still opening its storage.
db_ping() {
    "$VENV/bin/python" - "$1" >/dev/null 2>&1 <<'PY'
import sys
from pymongo import MongoClient

client = MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
try:
    client.admin.command("ping")
finally:
    client.close()
PY
}

# start_db PORT STORAGE_PATH LOG_FILE
# Starts SecantusDB on 127.0.0.1:PORT in the background and waits until it
# answers a ping. Sets DB_PID and DB_URI. Fails with the log's tail otherwise.
start_db() {
    local port="$1" storage="$2" logfile="$3"
    local uri="mongodb://127.0.0.1:${port}/?directConnection=true"

    if db_ping "$uri"; then
        die "something already answers on 127.0.0.1:${port}; stop it or set MONGODB_URI to use it"
    fi

    mkdir -p "$(dirname "$logfile")"
    if [[ "$storage" != ":memory:" ]]; then
        mkdir -p "$storage"
    fi
    "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" \
        --storage-path "$storage" --log-level WARNING >"$logfile" 2>&1 &
    DB_PID=$!
    STARTED_PIDS+=("$DB_PID")

    local deadline=$((SECONDS + 30))
    until db_ping "$uri"; do
        if ! kill -0 "$DB_PID" 2>/dev/null; then
            tail -n 30 "$logfile" >&2 || true
            die "SecantusDB exited during startup (log: $logfile)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$logfile" >&2 || true
            die "SecantusDB did not answer a ping on port ${port} within 30 s (log: $logfile)"
        fi
        sleep 0.3
    done
    DB_URI="$uri"
    export DB_PID DB_URI
}

# Prints the PIDs of every descendant of $1 (children first found, deepest last).
descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null || true); do
        echo "$child"
        descendants "$child"
    done
}

# kill_tree PID: stops a process and everything it spawned. cargo-lambda watch
# starts each function (via `cargo run`, which execs the binary) in a process
# group of its own, so killing one process group is not enough. The tree is
# collected before anything is killed: orphans are re-parented to init and
# could no longer be found afterwards.
kill_tree() {
    local root="$1" pids pid
    kill -0 "$root" 2>/dev/null || return 0
    mapfile -t pids < <(echo "$root"; descendants "$root")
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Give them up to 5 s to shut down cleanly (SecantusDB flushes its storage).
    local deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        local alive=0
        for pid in "${pids[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then
                alive=1
                break
            fi
        done
        ((alive)) || break
        sleep 0.2
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    # Reap our own child so no zombie is left; the others aren't ours to wait for.
    wait "$root" 2>/dev/null || true
}

# Stops every process recorded in STARTED_PIDS, newest first (the function
# server before the database it talks to).
cleanup_started() {
    local i
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        kill_tree "${STARTED_PIDS[i]}"
    done
    STARTED_PIDS=()
}

# wait_for_http_code URL EXPECTED_CODE TIMEOUT_S WATCH_PID LOG_FILE [curl args...]
# Polls until the request returns EXPECTED_CODE. Fails with the log's tail on
# timeout or when the watcher dies.
wait_for_http_code() {
    local url="$1" want="$2" timeout="$3" pid="$4" logfile="$5"
    shift 5
    local deadline=$((SECONDS + timeout)) code
    while true; do
        code="$(curl -s -o /dev/null -m 10 -w '%{http_code}' "$@" "$url" || true)"
        [[ "$code" == "$want" ]] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$logfile" >&2 || true
            die "cargo lambda watch exited before $url answered $want (log: $logfile)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 40 "$logfile" >&2 || true
            die "$url did not answer $want within ${timeout} s (last: ${code:-none}; log: $logfile)"
        fi
        sleep 1
    done
}

# True when something accepts TCP connections on 127.0.0.1:$1. A plain connect,
# not an HTTP request: any path would make cargo-lambda start a function.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_watch PORT LOG_FILE|- [extra cargo-lambda flags...]
# Starts `cargo lambda watch` on 127.0.0.1:PORT in the background and sets
# WATCH_PID. The functions inherit this process's environment (cargo-lambda 1.9
# only adds its AWS_LAMBDA_* variables on top), so callers export their settings
# or prefix the call with `VAR=value` assignments. Inheritance also keeps
# JWT_SECRET out of the watcher's log, which prints --env-var values.
# RUST_LOG is the exception: the functions get it through --env-var, and the
# watcher runs with its own default, because RUST_LOG=info makes cargo-lambda
# dump its whole configuration (tens of kB) on every log line of its shutdown.
# setsid puts the watcher in a session of its own: a Ctrl-C in the terminal
# then reaches only this script, whose trap stops the whole tree in order,
# instead of racing cargo-lambda's own shutdown and orphaning functions.
start_watch() {
    local port="$1" logfile="$2"
    shift 2
    local cmd=(env -u RUST_LOG setsid cargo lambda watch
        --invoke-address 127.0.0.1 --invoke-port "$port"
        --env-var "RUST_LOG=${RUST_LOG:-info}" "$@")
    if [[ "$logfile" == "-" ]]; then
        "${cmd[@]}" &
    else
        "${cmd[@]}" >"$logfile" 2>&1 &
    fi
    WATCH_PID=$!
    STARTED_PIDS+=("$WATCH_PID")
}

# use_or_start_db DIR: keeps MONGODB_URI when it is set (any MongoDB will do);
# otherwise starts SecantusDB on a free port with throwaway data in DIR and
# exports its URI.
use_or_start_db() {
    if [[ -n "${MONGODB_URI:-}" ]]; then
        log "using the database at MONGODB_URI"
        return
    fi
    local dir="$1" port
    port="$(free_port)"
    log "starting SecantusDB on 127.0.0.1:$port (throwaway data in $dir)"
    start_db "$port" "$dir/secantus" "$dir/secantus.log"
    export MONGODB_URI="$DB_URI"
}
