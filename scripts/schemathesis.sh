#!/usr/bin/env bash
# Fuzzes a running API against openapi.yaml with Schemathesis: every operation
# with valid and invalid requests (the spec's examples, boundary values, random
# data, then call sequences along its links), checking every response against
# the spec with all checks on. `make test` runs it against its own functions;
# it works as well against `make dev` (it only adds throwaway accounts).
#
# Usage: scripts/schemathesis.sh BASE_URL [schemathesis run options...]
#   e.g. `scripts/schemathesis.sh http://127.0.0.1:9000 --phases stateful`
# Settings (environment):
#   SCHEMATHESIS_SEED     seed (default 20261127)
#   SCHEMATHESIS_TIMEOUT  seconds before the run is stopped (default 600)
#
# The settings are tests/schemathesis/schemathesis.toml, the hooks that keep
# tokens and ids matched tests/schemathesis/hooks.py; this script makes the
# accounts they start from and passes them in the environment.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

(($# >= 1)) || die "usage: scripts/schemathesis.sh BASE_URL [schemathesis run options...]"
base_url="${1%/}"
shift
seed="${SCHEMATHESIS_SEED:-20261127}"
timeout_s="${SCHEMATHESIS_TIMEOUT:-600}"
require_tools curl jq

# Its caches (.hypothesis/, .schemathesis/) and log go here, not into the repo.
st_dir="$(mktemp -d "${TMPDIR:-/tmp}/schemathesis.XXXXXX")"
trap 'rm -rf "$st_dir"' EXIT

# post PATH JSON: POSTs JSON to the API, prints the answer; fails on a non-2xx.
post() {
    curl -sSf -X POST "$base_url$1" -H 'content-type: application/json' -d "$2" "${@:3}"
}

# account NAME: registers NAME@example.com with a random password and logs in;
# prints "<user id> <access token>".
account() {
    local name="$1" password id token credentials
    password="$(random_hex 16)"
    credentials="$(jq -nc --arg e "$name@example.com" --arg p "$password" '{email: $e, password: $p}')"
    id="$(post /auth/register "$(jq -c --arg u "$name" '. + {username: $u}' <<<"$credentials")" | jq -er .id)"
    token="$(post /auth/login "$credentials" | jq -er .access_token)"
    printf '%s %s\n' "$id" "$token"
}

suffix="$(random_hex 4)"
# The owner authenticates every secured request (schemathesis.toml). The holder
# has linked the spec's example external id, so linking it again gets 409.
read -r _ owner_token < <(account "st-owner-$suffix")
read -r holder_id holder_token < <(account "st-holder-$suffix")
curl -sSf -o /dev/null -X PUT "$base_url/users/$holder_id/link_id/" \
    -H "authorization: Bearer $holder_token" -H 'content-type: application/json' \
    -d '{"external_id":"crm-42"}'

log="$st_dir/schemathesis.log"
rc=0
(
    cd "$st_dir"
    ST_OWNER_TOKEN="$owner_token" SCHEMATHESIS_HOOKS="$REPO_ROOT/tests/schemathesis/hooks.py" \
        timeout "$timeout_s" "$VENV/bin/schemathesis" \
        --config-file "$REPO_ROOT/tests/schemathesis/schemathesis.toml" \
        run "$REPO_ROOT/openapi.yaml" --url "$base_url" \
        --checks all --seed "$seed" --no-color "$@"
) 2>&1 | tee "$log" || rc=$?

# The figures worth a glance in CI: cases, links followed, warnings.
summary="$(grep -E '^ +[0-9]+ generated' "$log" | xargs || true)"
links="$(grep -E 'API Links:' "$log" | sed 's/.*API Links: *//' || true)"
log "schemathesis: ${summary:-no summary} (seed $seed); stateful links: ${links:-none}"
if grep -q 'returned only 401/403' "$log"; then
    log "schemathesis: an operation never got past its authorization check (see WARNINGS above)"
    ((rc)) || rc=1
fi
if ((rc == 124)); then
    log "schemathesis did not finish within $timeout_s s"
fi
exit "$rc"
