# shellcheck shell=bash
# Helpers shared by scripts/dev.sh and scripts/test.sh. Source it, don't run it.
# Callers are expected to run with `set -euo pipefail`.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
export REPO_ROOT VENV

# PIDs of every background process a script started, for cleanup_started,
# and the signal that asks each to stop when it is not SIGTERM.
STARTED_PIDS=()
declare -A STOP_SIGNAL=()

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
    # A session of its own, like the watcher's: a Ctrl-C in the terminal would
    # otherwise stop the database at once, under functions still serving.
    setsid "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" \
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

# True while PID runs. A child of ours that exited stays a zombie until we reap
# it, and `kill -0` still succeeds on a zombie, so the state is read too.
running() {
    local state
    state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z* ]]
}

# kill_tree PID [GRACE_S [SIGNAL]]: stops a process and everything it spawned, however
# they come and go meanwhile:
# - cargo-lambda watch starts each function (`cargo run`, which execs the
#   binary) in a session of its own, so no process group or session id covers
#   them: the tree is walked from PID, and walked again on every round, because
#   the watcher keeps spawning instances for requests still arriving while it
#   is being stopped; a list taken once (and SIGKILLed 5 s later) misses them.
# - Every PID ever seen is remembered: one whose parent died is re-parented to
#   init and is no longer found under PID.
# - The function instances (the descendants in sessions of their own) go
#   first, while the watcher's Runtime API is still up: a function ended by
#   SIGTERM ends quietly, one whose Runtime API vanished first prints
#   `Error: hyper_util::...` on its way out. The watcher's own helpers (the
#   `cargo metadata` it runs before each instance, in its session) are left to
#   it: killed under it, they make it log "ERROR failed to reload metadata".
# - PID itself gets SIGNAL (default TERM) once its instances are gone.
# - After GRACE_S (default 5) seconds, whatever still runs gets SIGKILL, from
#   a fresh walk, until nothing is left.
kill_tree() {
    local root="$1" grace="${2:-5}" signal="${3:-TERM}" root_sid
    local -A seen=()
    local -a pids=() kids=() detached=()
    if ! running "$root"; then
        wait "$root" 2>/dev/null || true
        return 0
    fi
    # Each look-up races the process's exit: none may fail the caller (set -e).
    root_sid="$(ps -o sid= -p "$root" 2>/dev/null | tr -d ' ' || true)"
    local deadline=$((SECONDS + grace))
    # The function instances first, for up to half the grace.
    local children_deadline=$((SECONDS + (grace + 1) / 2))
    while ((SECONDS < children_deadline)); do
        _collect_tree "$root" "$root_sid"
        ((${#detached[@]})) || break
        kill -TERM "${detached[@]}" 2>/dev/null || true
        sleep 0.1
    done
    # Then the root (once), and the instances it still spawns; once it is
    # gone, whatever it left. The pause lets the watcher see its instances
    # end before it is asked to stop (see start_watch for its signal).
    if ((${#seen[@]} > 1)); then
        sleep 0.5
    fi
    kill -"$signal" "$root" 2>/dev/null || true
    while ((SECONDS < deadline)); do
        _collect_tree "$root" "$root_sid"
        ((${#pids[@]})) || break
        if running "$root"; then
            ((${#detached[@]} == 0)) || kill -TERM "${detached[@]}" 2>/dev/null || true
        else
            ((${#kids[@]} == 0)) || kill -TERM "${kids[@]}" 2>/dev/null || true
        fi
        sleep 0.1
    done
    # SIGKILL from a fresh walk, round after round, so that nothing spawned in
    # the meantime survives (a process that even SIGKILL cannot end, in D
    # state, is given up on after 5 s).
    local rounds=0
    while ((rounds < 50)); do
        _collect_tree "$root" "$root_sid"
        ((${#pids[@]})) || break
        kill -KILL "${pids[@]}" 2>/dev/null || true
        rounds=$((rounds + 1))
        sleep 0.1
    done
    # Reap our own child so no zombie is left; the others aren't ours to wait for.
    wait "$root" 2>/dev/null || true
}

# _collect_tree ROOT ROOT_SID: for kill_tree, in its scope (not in a subshell,
# so that `seen` keeps growing): adds ROOT and its descendants to `seen`, and
# sets `pids` to those that still run, `kids` to the same without ROOT, and
# `detached` to the kids in another session than ROOT_SID.
_collect_tree() {
    local p sid
    seen[$1]=1
    for p in $(descendants "$1"); do
        seen[$p]=1
    done
    pids=() kids=() detached=()
    for p in "${!seen[@]}"; do
        running "$p" || continue
        pids+=("$p")
        [[ "$p" == "$1" ]] && continue
        kids+=("$p")
        sid="$(ps -o sid= -p "$p" 2>/dev/null | tr -d ' ' || true)"
        if [[ -n "$sid" && "$sid" != "$2" ]]; then
            detached+=("$p")
        fi
    done
}

# Stops every process recorded in STARTED_PIDS, newest first (the function
# server before the database it talks to). Best effort: errexit is off inside,
# since a cleanup that gives up halfway leaves the rest running.
cleanup_started() {
    local i
    set +e
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        kill_tree "${STARTED_PIDS[i]}" 5 "${STOP_SIGNAL[${STARTED_PIDS[i]}]:-TERM}"
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
# settings such as MONGODB_URI out of the watcher's log, which prints --env-var
# values.
# RUST_LOG is the exception: the functions get it through --env-var, and the
# watcher runs with its own default, because RUST_LOG=info makes cargo-lambda
# dump its whole configuration (tens of kB) on every log line of its shutdown.
# setsid puts the watcher in a session of its own: a Ctrl-C in the terminal
# then reaches only this script, whose trap stops the whole tree in order,
# instead of racing cargo-lambda's own shutdown and orphaning functions.
# `cargo-lambda lambda watch` is what `cargo lambda watch` runs; called
# directly, it takes the cargo it starts the functions with from CARGO, which
# scripts/lambda-cargo fills (it drops AWS_LAMBDA_MAX_CONCURRENCY; see there).
# --disable-cors: the watcher's default CORS layer answers every preflight
# itself, as API Gateway's API-level CORS would; the functions answer CORS
# (shared/src/http/cors.rs), locally as in AWS.
# It is stopped with SIGINT, as by a Ctrl-C in its terminal: on SIGTERM
# cargo-lambda 1.9 panicked in its shutdown in about 1 of 8 stops here ("A
# Tokio 1.x context was found, but it is being shutdown"), on SIGINT in none.
start_watch() {
    local port="$1" logfile="$2"
    shift 2
    local cmd=(env -u RUST_LOG
        CARGO="$REPO_ROOT/scripts/lambda-cargo" LAMBDA_CARGO_REAL="$(command -v cargo)"
        setsid "$VENV/bin/cargo-lambda" lambda watch
        --invoke-address 127.0.0.1 --invoke-port "$port" --disable-cors
        --env-var "RUST_LOG=${RUST_LOG:-info}" "$@")
    if [[ "$logfile" == "-" ]]; then
        "${cmd[@]}" &
    else
        "${cmd[@]}" >"$logfile" 2>&1 &
    fi
    WATCH_PID=$!
    STARTED_PIDS+=("$WATCH_PID")
    STOP_SIGNAL[$WATCH_PID]=INT
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

# start_moto LOG_FILE: starts moto's server (a local SQS and SES) on a free
# port, waits until it listens, and sets MOTO_PID and MOTO_URL.
start_moto() {
    local logfile="$1" port
    port="$(free_port)"
    setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
    MOTO_PID=$!
    STARTED_PIDS+=("$MOTO_PID")
    local deadline=$((SECONDS + 30))
    until port_open "$port"; do
        running "$MOTO_PID" || { tail -n 20 "$logfile" >&2; die "moto exited during startup (log: $logfile)"; }
        ((SECONDS < deadline)) || die "moto did not listen on port $port within 30 s (log: $logfile)"
        sleep 0.2
    done
    MOTO_URL="http://127.0.0.1:$port"
    export MOTO_PID MOTO_URL
}

# mail_pipeline_env: the settings of the local mail path (moto's SQS as the
# mail queue, dummy credentials), exported for the functions, the pump and
# the tests. Creates the queue and sets MAIL_QUEUE_URL.
mail_pipeline_env() {
    export AWS_ENDPOINT_URL_SQS="$MOTO_URL" AWS_ENDPOINT_URL_SESV2="$MOTO_URL"
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
    export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
    MAIL_QUEUE_URL="$(mail_queue mail-requests)"
    export MAIL_QUEUE_URL
}

# mail_queue NAME: creates the mail queue NAME in moto's SQS (with
# mail_pipeline_env's settings) and prints its URL.
mail_queue() {
    # A short visibility timeout: a failed mail is retried within seconds.
    "$VENV/bin/python" -c 'import sys, boto3
print(boto3.client("sqs").create_queue(QueueName=sys.argv[1], Attributes={"VisibilityTimeout": "5"})["QueueUrl"])' "$1"
}

# start_mail_pump WATCH_PORT LOG_FILE|-: delivers the mail queue to send-mail
# under the watcher on WATCH_PORT (scripts/mail-pump.py).
start_mail_pump() {
    local port="$1" logfile="$2"
    local cmd=(setsid "$VENV/bin/python" "$REPO_ROOT/scripts/mail-pump.py" "$MAIL_QUEUE_URL"
        "http://127.0.0.1:$port/2015-03-31/functions/send-mail/invocations")
    if [[ "$logfile" == "-" ]]; then
        "${cmd[@]}" &
    else
        "${cmd[@]}" >"$logfile" 2>&1 &
    fi
    PUMP_PID=$!
    STARTED_PIDS+=("$PUMP_PID")
}
