#!/usr/bin/env bash
# Runs the API locally: every function behind `cargo lambda watch` on
# http://127.0.0.1:$PORT, reloading on code changes, and SecantusDB (a local
# MongoDB) on 127.0.0.1:$DB_PORT, its data kept in .data/. Ctrl-C (or SIGTERM)
# stops everything this script started. The first run installs the developer
# tools (.venv, about 930 MB) and compiles the workspace: about 4 minutes.
#
# Settings (environment):
#   PORT     the API's port (default 9000). Another `make dev` can run beside
#            this one on another PORT: it gets its own database port and data.
#   DB_PORT  SecantusDB's port (default 27017 + PORT - 9000); its data is in
#            .data/secantus (PORT 9000) or .data/secantus-$PORT, its log in
#            .local/secantus.log or .local/secantus-$PORT.log.
#   Every variable the functions read can be set here and is passed on as is
#   (they inherit this environment): MONGODB_URI (then no SecantusDB is
#   started) or MONGODB_URI_SECRET_ARN, MONGODB_DB, LINKED_COLLECTION,
#   MONGODB_MAX_POOL_SIZE, SIGNING_KEYS_FILE and PUBLIC_KEYS_FILE (default:
#   .local/signing-keys.json and .local/public-keys.json, created on the first
#   run; `make rotate-keys` rotates them) or their *_SECRET_ARN, PUBLIC_BASE_URL
#   (default http://localhost:$PORT, the tokens' issuer and the pages' origin), JWT_AUDIENCE,
#   ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS,
#   SESSION_MAX_LIFETIME_SECONDS, REFRESH_GRACE_SECONDS,
#   SIGNING_KEY_ROTATION_DAYS, LINK_VERIFICATION (default required),
#   EVENT_BUS_NAME, AWS_REGION, AWS_ENDPOINT_URL*, AWS_LAMBDA_LOG_LEVEL,
#   RUST_LOG (default info), MAIL_DIRECTORY (default .local/mail),
#   MAIL_SENDER, APP_BASE_URL (default: PUBLIC_BASE_URL, the pages), SITE_NAME,
#   LOGO_URL, ACCENT_COLOR,
#   REQUIRE_VERIFIED_EMAIL and the mail limits (README, Configuration),
#   MFA_KEY_FILE (default .local/mfa-key, created on the first run) or
#   MFA_KEY_SECRET_ARN, TOTP_ISSUER, STEP_UP_MAX_AGE_SECONDS,
#   OAUTH_CLIENTS_FILE (default .local/oauth-clients.json, the demo clients
#   demo-spa and demo-server, created on the first run) or
#   OAUTH_CLIENTS_SECRET_ARN.
# Example: PORT=9001 make dev   (a second API on :9001, database on :27018)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# The PID and command of a long foreground step (the build), so that a signal
# stops it at once.
FOREGROUND_PID="" FOREGROUND_CMD=""

# shellcheck disable=SC2317 # run by the EXIT trap
on_exit() {
    local rc=$?
    # Best effort from here on: a failed look-up must not cut the cleanup short.
    set +e
    # Not reset to the default: a second SIGTERM (make forwards one to this
    # script while the process group gets its own) or a second Ctrl-C must not
    # kill this script halfway through stopping what it started.
    trap '' INT TERM PIPE
    trap - EXIT
    if [[ -n "$FOREGROUND_PID" ]]; then
        log "stopping ${FOREGROUND_CMD##*/}"
        kill_tree "$FOREGROUND_PID"
    fi
    if ((${#STARTED_PIDS[@]})); then
        log "stopping the functions, the watcher and the database"
        cleanup_started
        log "stopped"
    fi
    exit "$rc"
}
trap on_exit EXIT
# Exiting from these traps runs on_exit. Each first ignores further signals:
# an `exit` run again from a second signal inside on_exit would end the
# script on the spot, before it stopped anything.
# Ctrl-C is the normal way to stop the dev server, so it is not an error.
trap "trap '' INT TERM; exit 0" INT
trap "trap '' INT TERM; exit 143" TERM

# run_interruptible CMD...: runs CMD in the background and waits for it, so
# that a signal runs the trap now rather than when CMD is done (bash holds
# traps until a foreground command ends).
run_interruptible() {
    "$@" &
    FOREGROUND_PID=$! FOREGROUND_CMD="$*"
    local rc=0
    wait "$FOREGROUND_PID" || rc=$?
    FOREGROUND_PID="" FOREGROUND_CMD=""
    return "$rc"
}

valid_port() {
    [[ "$1" =~ ^[0-9]{1,5}$ ]] && (("$1" > 0 && "$1" < 65536))
}
port="${PORT:-9000}"
valid_port "$port" || die "PORT must be a TCP port number, not '$port'"
db_port="${DB_PORT:-$((27017 + port - 9000))}"
valid_port "$db_port" ||
    die "DB_PORT must be a TCP port number, not '$db_port' (it defaults to 27017 + PORT - 9000; set it)"
if ((port == 9000)); then
    # Where the data of a single `make dev` has always been.
    db_dir="$REPO_ROOT/.data/secantus" db_log="$REPO_ROOT/.local/secantus.log"
else
    db_dir="$REPO_ROOT/.data/secantus-$port" db_log="$REPO_ROOT/.local/secantus-$port.log"
fi

if [[ ! -s "$VENV/.requirements-dev.sha256" ]]; then
    log "first run: installing the developer tools into .venv (about 930 MB), then compiling the workspace; about 4 minutes in all before the API starts"
elif [[ ! -x "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/register" ]]; then
    log "first build: compiling the workspace takes about 4 minutes before the API starts"
fi
run_interruptible "$REPO_ROOT/scripts/bootstrap.sh"
export PATH="$VENV/bin:$PATH"

if port_open "$port"; then
    die "port $port is already in use (another \`make dev\`?); stop it or set PORT"
fi

# Built up front: a function that compiles on its first request makes that
# request time out, and cargo-lambda was seen recompiling in a loop then.
# RELEASE=1 (`make dev-release`) serves optimised builds, for anyone
# measuring; the default debug build compiles faster and is several times
# slower per request.
profile_flag=()
build_kind="debug build (make dev-release serves the release build, for measuring)"
if [[ "${RELEASE:-0}" == 1 ]]; then
    profile_flag=(--release)
    build_kind="release build"
fi
# The workspace's default members (the deployed packages), as the watcher's
# `cargo run --bin` selects them: the same features, so it reuses this build.
log "cargo build --bins ${profile_flag[*]}"
run_interruptible cargo build --bins "${profile_flag[@]}"

mkdir -p .local
# The functions inherit these from cargo-lambda's environment.
if [[ -n "${MONGODB_URI:-}" ]]; then
    log "using the database at MONGODB_URI"
elif [[ -n "${MONGODB_URI_SECRET_ARN:-}" ]]; then
    log "using the database whose URI is in Secrets Manager (MONGODB_URI_SECRET_ARN)"
else
    if port_open "$db_port"; then
        die "port $db_port is already in use (another \`make dev\`'s database?); set DB_PORT, or MONGODB_URI to use that database"
    fi
    log "starting SecantusDB on 127.0.0.1:$db_port (data in ${db_dir#"$REPO_ROOT"/}, log in ${db_log#"$REPO_ROOT"/})"
    start_db "$db_port" "$db_dir" "$db_log"
    export MONGODB_URI="$DB_URI"
fi

if [[ -z "${SIGNING_KEYS_SECRET_ARN:-}" && -z "${SIGNING_KEYS_FILE:-}" ]]; then
    # Kept on disk so that tokens issued before a restart stay valid; made by
    # the rotation's own code (`make rotate-keys` rotates them).
    export SIGNING_KEYS_FILE="$REPO_ROOT/.local/signing-keys.json"
    export PUBLIC_KEYS_FILE="${PUBLIC_KEYS_FILE:-$REPO_ROOT/.local/public-keys.json}"
    if [[ ! -s "$SIGNING_KEYS_FILE" ]]; then
        log "creating the local signing keys in .local/"
        target/debug/signing-keys "$SIGNING_KEYS_FILE" "$PUBLIC_KEYS_FILE" >/dev/null
    fi
fi

if [[ -z "${MFA_KEY_SECRET_ARN:-}" && -z "${MFA_KEY_FILE:-}" ]]; then
    # The key that seals TOTP secrets, kept like the signing keys: a new one
    # would leave every enrolled factor unreadable.
    export MFA_KEY_FILE="$REPO_ROOT/.local/mfa-key"
    if [[ ! -s "$MFA_KEY_FILE" ]]; then
        log "creating the local MFA key in .local/"
        (umask 077 && random_hex 32 >"$MFA_KEY_FILE")
    fi
fi

if [[ -z "${OAUTH_CLIENTS_SECRET_ARN:-}" && -z "${OAUTH_CLIENTS_FILE:-}" ]]; then
    # The OpenID Provider's clients (docs/oidc.md): the demo ones, so the
    # flow can be tried by hand; `make client` prints more entries.
    export OAUTH_CLIENTS_FILE="$REPO_ROOT/.local/oauth-clients.json"
    log "$("$VENV/bin/python" scripts/oauth_client.py demo "$OAUTH_CLIENTS_FILE" "$REPO_ROOT/.local/demo-server-secret")"
fi

# Defaults for the rest; the functions have the same ones built in, except
# where a local run needs its own (EVENT_BUS_NAME, the AWS settings).
export MONGODB_DB="${MONGODB_DB:-user_management}"
export LINKED_COLLECTION="${LINKED_COLLECTION:-linked_collection}"
# localhost: the pages' cookies need a host name (127.0.0.1 still reaches the API).
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://localhost:$port}"
export JWT_AUDIENCE="${JWT_AUDIENCE:-user-management-api}"
export LINK_VERIFICATION="${LINK_VERIFICATION:-required}"
export ACCESS_TOKEN_TTL_SECONDS="${ACCESS_TOKEN_TTL_SECONDS:-1800}"
export RUST_LOG="${RUST_LOG:-info}"
# The API's CORS origins (template parameter CorsAllowedOrigins): the demo
# SPA's, so a page served there can call the API as well as the provider.
export CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://localhost:8765,http://127.0.0.1:8765}"
# publish-events sends the outbox to this bus. The deployed one is named
# <stack>-user-events (template.yaml); this name, as for a stack named
# user-management-local, is one that no AWS account has unless it deployed
# such a stack, so a local run never publishes into a real bus by accident.
# Point AWS_ENDPOINT_URL_EVENTBRIDGE at a local EventBridge (moto) to publish.
export EVENT_BUS_NAME="${EVENT_BUS_NAME:-user-management-local-user-events}"
# The AWS SDK needs a region, and would otherwise look for one (and for
# credentials) in the EC2 instance metadata service, which no local machine
# has: each lookup waits for its timeout before failing.
export AWS_REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
export AWS_EC2_METADATA_DISABLED="${AWS_EC2_METADATA_DISABLED:-true}"

# Mail: moto's SQS is the mail queue, scripts/mail-pump.py delivers it to
# send-mail (as Lambda's event source mapping does), which writes each mail
# to .local/mail/<time>-<id>.eml (MAIL_DIRECTORY) and logs the file's name.
log "starting moto (the local mail queue; log in .local/moto-$port.log)"
start_moto "$REPO_ROOT/.local/moto-$port.log"
mail_pipeline_env
export MAIL_DIRECTORY="${MAIL_DIRECTORY:-$REPO_ROOT/.local/mail}"
export MAIL_SENDER="${MAIL_SENDER:-no-reply@example.com}"
mkdir -p "$MAIL_DIRECTORY"

log "starting cargo lambda watch on 127.0.0.1:$port"
start_watch "$port" - "${profile_flag[@]}"
start_mail_pump "$port" "$REPO_ROOT/.local/mail-pump-$port.log"

deadline=$((SECONDS + 30))
until port_open "$port"; do
    running "$WATCH_PID" || die "cargo lambda watch exited during startup"
    ((SECONDS < deadline)) || die "cargo lambda watch did not listen on port $port within 30 s"
    sleep 0.3
done

base="http://127.0.0.1:$port"
cat <<MSG

  API:      $base ($build_kind)
  Pages:    $PUBLIC_BASE_URL/signup, $PUBLIC_BASE_URL/signin
  Database: ${MONGODB_URI:-from MONGODB_URI_SECRET_ARN} (db $MONGODB_DB)
  Mail:     ${MAIL_DIRECTORY#"$REPO_ROOT"/}/*.eml

  Try:
    curl -s -X POST $base/auth/register -H 'content-type: application/json' -d '{"username":"ada","email":"ada@example.com","password":"correct horse battery staple"}'

  Ctrl-C stops everything.

MSG

# Serves until a signal (the traps), or until the watcher or the database
# exits: then this says which, and stops the other, instead of answering 503
# for a database that is gone. `wait -n` returns as soon as either ends, and
# at once when a trapped signal arrives.
watched=("$WATCH_PID")
if [[ -n "${DB_PID:-}" ]]; then
    watched+=("$DB_PID")
fi
rc=0
wait -n "${watched[@]}" || rc=$?
if [[ -n "${DB_PID:-}" ]] && ! running "$DB_PID"; then
    log "SecantusDB exited (code $rc); the last lines of ${db_log#"$REPO_ROOT"/}:"
    tail -n 20 "$db_log" >&2 || true
    die "the database is gone: stopping the API"
fi
die "cargo lambda watch exited (code $rc)"
