#!/usr/bin/env bash
# The full check that CI runs: formatting, template lint, clippy, build, then
# every test (unit, handler tests against a real SecantusDB, and end-to-end
# tests over HTTP against the functions under `cargo lambda watch`), the
# documentation's examples (scripts/examples.sh) and Schemathesis
# (scripts/schemathesis.sh) against the same functions.
# Stops at the first failing step and exits with that step's code. Uses its own
# database and ports, so a running `make dev` is left alone.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

tmp_dir=""
watch_log=""

on_exit() {
    local rc=$?
    # Best effort from here on: a failed look-up must not cut the cleanup short.
    set +e
    # Further signals are ignored, not defaulted: a second SIGTERM (make
    # forwards one while the process group gets its own) would otherwise end
    # the script before it stopped the servers it started.
    trap '' INT TERM PIPE
    trap - EXIT
    cleanup_started
    # A venv install still under way finishes rather than leaving half a venv.
    if [[ -n "${venv_pid:-}" ]] && kill -0 "$venv_pid" 2>/dev/null; then
        wait "$venv_pid"
    fi
    local tally=""
    if [[ -n "$tmp_dir" && -f "$tmp_dir/cargo-test.log" ]]; then
        tally="$(test_tally "$tmp_dir/cargo-test.log")"
    fi
    if [[ -n "$tmp_dir" ]]; then
        rm -rf "$tmp_dir"
    fi
    if ((step_no > 0)); then
        step_times+="$(printf '  step %d: %d s' "$step_no" $((SECONDS - step_started)))"$'\n'
        printf 'time per step (s):\n%s' "$step_times" >&2
    fi
    if ((rc == 0)); then
        log "all checks passed in ${SECONDS} s"
    else
        log "FAILED (exit $rc) after ${SECONDS} s"
    fi
    # Last line: one total over all test binaries, since cargo's own last
    # summary is that of the final binary (often doc-tests with 0 tests).
    if [[ -n "$tally" ]]; then
        printf '%s\n' "$tally"
    fi
    exit "$rc"
}

# Sums cargo's per-binary "test result:" lines into "tests: N passed, N failed, N skipped".
test_tally() {
    awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                n = $i + 0
                if ($(i + 1) ~ /^passed/) p += n
                if ($(i + 1) ~ /^failed/) f += n
                if ($(i + 1) ~ /^ignored/) s += n
            }
        }
        END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$1"
}

trap on_exit EXIT
trap "trap '' INT TERM; exit 130" INT
trap "trap '' INT TERM; exit 143" TERM

step_no=0
step_started=$SECONDS
step_times=""
# Each step's wall time, printed at the end: where the developer loop goes.
step() {
    if ((step_no > 0)); then
        step_times+="$(printf '  step %d: %d s' "$step_no" $((SECONDS - step_started)))"$'\n'
    fi
    step_no=$((step_no + 1))
    step_started=$SECONDS
    printf "\n==> [%d/9] %s\n" "$step_no" "$*" >&2
}

tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/user-mgmt-test.XXXXXX")"
# The build needs the docs UI (api-docs' build.rs inlines it) but not the
# venv: a fresh clone installs the venv (about 100 s, mostly download and
# unpacking) while the first steps compile, and waits for it after them.
"$REPO_ROOT/scripts/bootstrap.sh" tools docs-ui browser-tests
require_tools curl jq
"$REPO_ROOT/scripts/bootstrap.sh" venv >"$tmp_dir/venv.log" 2>&1 &
venv_pid=$!

step "cargo fmt --all --check"
cargo fmt --all --check

# clippy as the compiler of our own crates (what `cargo clippy` does, but in
# a build): one compilation lints and builds every target, tests included,
# where `cargo clippy` then `cargo build` compiled every dependency twice
# (once for metadata only). Exported, so that every later cargo (the watch's,
# the tests') sees the same compiler and reuses this build.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
# clippy-driver's spelling of `-- -D warnings`.
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
step "clippy -D warnings and build, every target (cargo build --workspace --all-targets, clippy-driver)"
cargo build --workspace --all-targets

wait "$venv_pid" || {
    rc=$?
    cat "$tmp_dir/venv.log" >&2
    exit "$rc"
}
cat "$tmp_dir/venv.log" >&2
export PATH="$VENV/bin:$PATH"
use_or_start_db "$tmp_dir"
export JWT_AUDIENCE="${JWT_AUDIENCE:-user-management-api}"

step "functions/functions.yaml is what template.yaml and the router say; cfn-lint template.yaml"
"$VENV/bin/python" scripts/functions.py check
"$VENV/bin/cfn-lint" template.yaml

# Fresh keys per run, by the rotation's own code: nothing may depend on a
# token from an earlier run. The first set is kept aside and rotated out
# twice, so that the independent verifier can forge with a key that was
# retired and then dropped.
export SIGNING_KEYS_FILE="$tmp_dir/signing-keys.json" PUBLIC_KEYS_FILE="$tmp_dir/public-keys.json"
target/debug/signing-keys "$SIGNING_KEYS_FILE" "$PUBLIC_KEYS_FILE" >/dev/null
cp "$SIGNING_KEYS_FILE" "$tmp_dir/dropped-keys.json"
target/debug/signing-keys "$SIGNING_KEYS_FILE" "$PUBLIC_KEYS_FILE" >/dev/null
target/debug/signing-keys "$SIGNING_KEYS_FILE" "$PUBLIC_KEYS_FILE" >/dev/null
# The key that seals TOTP secrets: random per run, like the signing keys.
export MFA_KEY_FILE="$tmp_dir/mfa-key"
random_hex 32 >"$MFA_KEY_FILE"
export OAUTH_CLIENTS_FILE="$tmp_dir/oauth-clients.json"
"$VENV/bin/python" scripts/oauth_client.py demo "$OAUTH_CLIENTS_FILE" "$tmp_dir/demo-server-secret" >/dev/null
# The relying party of the openid-client story (tests/browser/oidc_story.py):
# a third-party public client on a port of its own, with its exact
# post-logout URI, in the document before the functions read it.
rp_port="$(free_port)"
"$VENV/bin/python" - "$OAUTH_CLIENTS_FILE" "$rp_port" <<'PY'
import json, sys
path, port = sys.argv[1], sys.argv[2]
document = json.load(open(path))
document["clients"].append({
    "id": "openid-client-test", "name": "openid-client test RP", "type": "public",
    "redirect_uris": [f"http://127.0.0.1:{port}/callback"],
    "post_logout_redirect_uris": [f"http://127.0.0.1:{port}/signed-out"],
    "scopes": ["openid", "profile", "email", "offline_access"],
    "grants": ["authorization_code", "refresh_token"]})
json.dump(document, open(path, "w"), indent=2)
PY
# Issue #22: the MCP server of the agents story (tests/browser/agents_story.py)
# is a configured resource, on a port of its own; a confidential client gets
# machine tokens for it, and the MCP server introspects with one of its own.
mcp_port="$(free_port)"
export E2E_MCP_RESOURCE="http://127.0.0.1:$mcp_port/mcp"
export E2E_MACHINE_CLIENT=machine-test E2E_MACHINE_SECRET="$(random_hex 32)"
mcp_server_secret="$(random_hex 32)"
"$VENV/bin/python" - "$OAUTH_CLIENTS_FILE" "$E2E_MCP_RESOURCE" "$E2E_MACHINE_SECRET" "$mcp_server_secret" <<'PY'
import hashlib, json, sys
path, resource, machine, server = sys.argv[1:]
digest = lambda secret: hashlib.sha256(secret.encode()).hexdigest()
document = json.load(open(path))
document["resources"] = [resource]
document["clients"] += [
    {"id": "machine-test", "name": "machine test", "type": "confidential",
     "secret_sha256": digest(machine), "scopes": ["email"],
     "grants": ["client_credentials"], "resources": [resource]},
    {"id": "mcp-server-test", "name": "MCP server test", "type": "confidential",
     "secret_sha256": digest(server), "scopes": ["openid"],
     "grants": ["client_credentials"], "resources": [resource]}]
json.dump(document, open(path, "w"), indent=2)
PY

step "cargo lambda watch (end-to-end server)"
watch_port="$(free_port)"
# The mail path as in AWS: moto's SQS as the mail queue, drained into
# send-mail by scripts/mail-pump.py; mails written as .eml files.
start_moto "$tmp_dir/moto.log"
mail_pipeline_env
export E2E_MAIL_DIR="$tmp_dir/mail" E2E_MOTO_URL="$MOTO_URL"
mkdir -p "$E2E_MAIL_DIR"
# A database per run, so end-to-end tests never see an earlier run's users.
e2e_db="e2e_$(random_hex 6)"
watch_log="$tmp_dir/cargo-lambda-watch.log"
# localhost, not 127.0.0.1: the pages' cookies (and, later, a WebAuthn RP
# id) need a host name, and the issuer is the same URL. The watcher listens
# on 127.0.0.1, which localhost reaches; requests to 127.0.0.1 work as well.
base_url="http://localhost:$watch_port"
# Only the functions get these (APP_BASE_URL unset: the mailed links open
# the stack's own pages, PUBLIC_BASE_URL); --ignore-changes because a test run must not
# reload functions halfway if a file changes.
# LINK_VERIFICATION=off: the original API's linking, which the end-to-end
# tests and Schemathesis exercise over HTTP; the default, `required`, has its
# handler tests (tests/tests/api/linking/handlers.rs), and the examples link with a
# code, which either mode takes.
# The per-source limit of forgotten-password requests is lifted: every test
# request comes from 127.0.0.1 (its handler tests cover it), and so is that
# of client registrations, open here for the agents story, and of the
# token, revocation and introspection requests (issue #22; the defaults
# have their handler tests).
# CORS_ALLOWED_ORIGINS: the origin tests/tests/api/platform/cors.rs calls from.
# start_e2e_watch PORT LOG: callers add PUBLIC_BASE_URL and MONGODB_DB.
start_e2e_watch() {
    LINK_VERIFICATION=off CORS_ALLOWED_ORIGINS=https://app.example \
        LINKED_COLLECTION=linked_collection RUST_LOG=info \
        MAIL_DIRECTORY="$E2E_MAIL_DIR" MAIL_SENDER=no-reply@example.com \
        FORGOT_PASSWORD_PER_SOURCE_PER_HOUR=1000000 \
        DYNAMIC_CLIENT_REGISTRATION=open CLIENT_REGISTRATIONS_PER_SOURCE_PER_HOUR=1000000 \
        OAUTH_REQUESTS_PER_SOURCE_PER_MINUTE=1000000 OAUTH_REQUESTS_PER_CLIENT_PER_MINUTE=1000000 \
        start_watch "$1" "$2" --ignore-changes
}
PUBLIC_BASE_URL="$base_url" MONGODB_DB="$e2e_db" start_e2e_watch "$watch_port" "$watch_log"
watch_pid="$WATCH_PID"
start_mail_pump "$watch_port" "$tmp_dir/mail-pump.log"
# Issue #24: a second watcher with a deletion grace period, for the one
# end-to-end test of it (accounts::e2e::the_grace_period_over_http_...):
# the same build and settings, but its own port, database (the test's purge
# is then the only one and sees only its users) and mail queue (its
# send-mail reads its database), mails in the same directory. It starts
# beside the first and is waited for only before the tests.
grace_port="$(free_port)"
grace_url="http://localhost:$grace_port"
grace_db="e2e_grace_$(random_hex 6)"
grace_log="$tmp_dir/cargo-lambda-watch-grace.log"
grace_queue="$(mail_queue mail-requests-grace)"
PUBLIC_BASE_URL="$grace_url" MONGODB_DB="$grace_db" DELETION_GRACE_DAYS=7 \
    MAIL_QUEUE_URL="$grace_queue" start_e2e_watch "$grace_port" "$grace_log"
grace_pid="$WATCH_PID"
MAIL_QUEUE_URL="$grace_queue" start_mail_pump "$grace_port" "$tmp_dir/mail-pump-grace.log"
log "waiting (up to 120 s) for $base_url/auth/login to answer 422"
wait_for_http_code "$base_url/auth/login" 422 120 "$watch_pid" "$watch_log" \
    -X POST -H 'content-type: application/json' -d '{}'
log "functions are up at $base_url (database $e2e_db)"

step "scripts/examples.sh (the sh examples of README.md and docs/, in order)"
# First, while the database is as fresh as a new `make dev`'s: the examples
# register the accounts the docs name (ada@example.com), which the later
# steps never use (theirs have unique names; Schemathesis only sends the
# spec's example again, to get 409).
if grep -qsE '^[[:space:]]*```sh[[:space:]]*$' README.md docs/api.md docs/events.md; then
    # The recovery examples read the mails where the functions write them.
    MAIL_DIR="$E2E_MAIL_DIR" scripts/examples.sh "$base_url" || {
        rc=$?
        log "last lines of the cargo lambda watch log (function output):"
        tail -n 60 "$watch_log" >&2 || true
        exit "$rc"
    }
else
    log "no \`\`\`sh example in README.md or docs/ yet: nothing to run"
fi

step "cargo test --workspace -- --include-ignored"
grace_wait=$SECONDS
wait_for_http_code "$grace_url/auth/login" 422 120 "$grace_pid" "$grace_log" \
    -X POST -H 'content-type: application/json' -d '{}'
log "the grace-period watcher is up at $grace_url (database $grace_db; waited $((SECONDS - grace_wait)) s)"
export E2E_BASE_URL="$base_url" E2E_MONGODB_DB="$e2e_db" E2E_WATCH_LOG="$watch_log"
export E2E_GRACE_BASE_URL="$grace_url" E2E_GRACE_MONGODB_DB="$grace_db"
# tee keeps the output for the tally below; pipefail keeps cargo's exit code.
cargo test --workspace -- --include-ignored 2>&1 | tee "$tmp_dir/cargo-test.log" || {
    rc=$?
    log "last lines of the cargo lambda watch log (function output):"
    tail -n 60 "$watch_log" >&2 || true
    log "last lines of the grace-period watcher's log:"
    tail -n 30 "$grace_log" >&2 || true
    exit "$rc"
}

step "scripts/schemathesis.sh (openapi.yaml: all checks, stateful, seed ${SCHEMATHESIS_SEED:-20261127})"
# The spec's example account exists, so that its example login succeeds (409
# if an earlier step made it). Its settings and hooks are tests/schemathesis/;
# it stops itself after 300 s.
curl -s -o /dev/null -X POST "$base_url/auth/register" -H 'content-type: application/json' \
    -d '{"username":"ada","email":"ada@example.com","password":"correct horse battery staple"}'
# The API at 127.0.0.1, as API clients reach it (the issuer's localhost is
# for the pages and the verifier); no name lookup per connection.
scripts/schemathesis.sh "http://127.0.0.1:$watch_port" || {
    rc=$?
    log "last lines of the cargo lambda watch log (function output):"
    tail -n 60 "$watch_log" >&2 || true
    exit "$rc"
}

step "independent verifier (PyJWT): discovery, JWKS and a fresh token; forgeries refused"
"$VENV/bin/python" tests/verifier/verify_with_pyjwt.py "$base_url" "$JWT_AUDIENCE" \
    "$tmp_dir/dropped-keys.json" || {
    rc=$?
    log "last lines of the cargo lambda watch log (function output):"
    tail -n 60 "$watch_log" >&2 || true
    exit "$rc"
}

step "the browser stories in one headless Chromium: /docs, the pages (axe-core, CSRF, CSP), openid-client, passkeys, agents (openid-client machine client, the MCP SDK)"
# Debian's Chromium, driven by Playwright, one process for every story
# (tests/browser/stories.py), against this same stack. Screenshots go to
# target/pages/ (`make screenshots` copies two into docs/) and target/api-docs.png.
scripts/bootstrap.sh chromium
"$VENV/bin/python" tests/browser/stories.py "$base_url" "$E2E_MAIL_DIR" \
    openid-client-test "$rp_port" "$mcp_port" mcp-server-test "$mcp_server_secret" || {
    rc=$?
    log "last lines of the cargo lambda watch log (function output):"
    tail -n 60 "$watch_log" >&2 || true
    exit "$rc"
}
