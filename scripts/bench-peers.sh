#!/usr/bin/env bash
# `make bench-peers`: ours against a peer a team would pick instead, on the
# same machine and the same database. Installs FastAPI Users 15
# (bench/peers/requirements.txt) into a throwaway venv under target/bench/,
# starts one SecantusDB, our release functions behind `cargo lambda watch`
# and the peer behind uvicorn (one worker, argon2id at our parameters), then
# times register, login and a profile read on both, interleaved
# (bench/peers/compare.py). Prints a Markdown table, also written to
# target/bench/peers.md.
#
# Settings (environment): USERS (default 15) per side.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

tmp_dir=""
on_exit() {
    local rc=$?
    set +e
    trap '' INT TERM PIPE
    trap - EXIT
    cleanup_started
    [[ -n "$tmp_dir" ]] && rm -rf "$tmp_dir"
    exit "$rc"
}
trap on_exit EXIT
trap "trap '' INT TERM; exit 130" INT
trap "trap '' INT TERM; exit 143" TERM

bootstrap
require_tools curl
tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/bench-peers.XXXXXX")"
out_dir="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/bench"
mkdir -p "$out_dir"

peer_venv="$out_dir/peers-venv"
want="$(sha256sum bench/peers/requirements.txt | cut -d' ' -f1)"
if [[ "$(cat "$peer_venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    log "installing FastAPI Users into ${peer_venv#"$REPO_ROOT"/} (throwaway)"
    rm -rf "$peer_venv"
    python3 -m venv "$peer_venv"
    "$peer_venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
        -r bench/peers/requirements.txt
    printf '%s\n' "$want" >"$peer_venv/.requirements.sha256"
fi

# Only what the comparison calls, in release (fat LTO: minutes per binary).
functions=(register login get-full-profile)
log "cargo build --release ${functions[*]} (slow: fat LTO)"
cargo build --release "${functions[@]/#/--bin=}"
cargo build -q --bin signing-keys

use_or_start_db "$tmp_dir"
start_moto "$tmp_dir/moto.log"
mail_pipeline_env

export SIGNING_KEYS_FILE="$tmp_dir/signing-keys.json" PUBLIC_KEYS_FILE="$tmp_dir/public-keys.json"
target/debug/signing-keys "$SIGNING_KEYS_FILE" "$PUBLIC_KEYS_FILE" >/dev/null
export MFA_KEY_FILE="$tmp_dir/mfa-key"
random_hex 32 >"$MFA_KEY_FILE"

ours_port="$(free_port)"
peer_port="$(free_port)"
run_id="$(random_hex 4)"
log "our release functions on 127.0.0.1:$ours_port (cargo lambda watch --release)"
PUBLIC_BASE_URL="http://127.0.0.1:$ours_port" JWT_AUDIENCE=user-management-api \
    MONGODB_DB="peers_ours_$run_id" LINKED_COLLECTION=linked_collection RUST_LOG=warn \
    MAIL_SENDER=no-reply@example.com APP_BASE_URL="http://localhost:$ours_port" \
    start_watch "$ours_port" "$tmp_dir/watch.log" --release --ignore-changes
wait_for_http_code "http://127.0.0.1:$ours_port/auth/login" 422 600 "$WATCH_PID" "$tmp_dir/watch.log" \
    -X POST -H 'content-type: application/json' -d '{}'

log "FastAPI Users on 127.0.0.1:$peer_port (uvicorn, one worker)"
(cd bench/peers && MONGODB_DB="peers_fastapi_users_$run_id" setsid "$peer_venv/bin/uvicorn" \
    fastapi_users_app:app --host 127.0.0.1 --port "$peer_port" --log-level warning) \
    >"$tmp_dir/peer.log" 2>&1 &
peer_pid=$!
STARTED_PIDS+=("$peer_pid")
wait_for_http_code "http://127.0.0.1:$peer_port/users/me" 401 60 "$peer_pid" "$tmp_dir/peer.log"

"$peer_venv/bin/python" bench/peers/compare.py "http://127.0.0.1:$ours_port" \
    "http://127.0.0.1:$peer_port" "${USERS:-15}" | tee "$out_dir/peers.md"
