#!/usr/bin/env bash
# scripts/docs-browser-test.sh BASE_URL
#
# Opens BASE_URL/docs in headless Chromium (Debian's `chromium`) against a
# running API (`cargo lambda watch`, `make dev`, or a deployed stage) and fails
# unless the page renders every operation of BASE_URL/openapi.json (method,
# path and operationId) without a single Content-Security-Policy violation.
# Keeps a screenshot in target/api-docs.png.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

base_url="${1:-}"
[[ -n "$base_url" ]] || die "usage: scripts/docs-browser-test.sh BASE_URL (e.g. http://127.0.0.1:9000)"
base_url="${base_url%/}"
screenshot="$REPO_ROOT/target/api-docs.png"

for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
if [[ ! -x /usr/bin/chromium ]]; then
    "$REPO_ROOT/scripts/bootstrap.sh" chromium
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/docs-browser-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The page and the spec it renders. The first request may wait for
# `cargo lambda watch` to compile the function.
code="$(curl -sS --max-time 300 -o /dev/null -D "$tmp/headers" -w '%{http_code}' "$base_url/docs")"
[[ "$code" == 200 ]] || die "GET $base_url/docs answered $code"
grep -qi '^content-security-policy: default-src' "$tmp/headers" ||
    die "GET $base_url/docs has no Content-Security-Policy"
curl -sSf --max-time 60 -o "$tmp/openapi.json" "$base_url/openapi.json" ||
    die "GET $base_url/openapi.json failed"

# One "METHOD<TAB>path<TAB>operationId" line per operation.
jq -r '.paths | to_entries[] | .key as $path | .value | to_entries[]
        | select(.key | IN("get", "put", "post", "delete", "options", "head", "patch", "trace"))
        | [(.key | ascii_upcase), $path, (.value.operationId // "")] | @tsv' \
    "$tmp/openapi.json" >"$tmp/operations.tsv"
total="$(wc -l <"$tmp/operations.tsv")"
((total > 0)) || die "$base_url/openapi.json lists no operation"

# Virtual time runs the page until it is idle (the spec fetched, Swagger UI
# rendered) or for 15 s of page time, whichever is first; then the DOM and
# a screenshot are taken. Console messages, CSP violations among them, go to
# stderr.
mkdir -p "$(dirname "$screenshot")" "$tmp/profile"
rm -f "$screenshot"
timeout 120 /usr/bin/chromium \
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" \
    --enable-logging=stderr --v=0 \
    --virtual-time-budget=15000 --run-all-compositor-stages-before-draw \
    --window-size=1280,2000 --screenshot="$screenshot" \
    --dump-dom "$base_url/docs" >"$tmp/dom.html" 2>"$tmp/chromium.log" ||
    {
        rc=$?
        grep -v dbus "$tmp/chromium.log" | tail -n 20 >&2 || true
        die "chromium failed (exit $rc)"
    }

failed=0
# Console messages of the page: every CSP violation, and errors.
grep -F ':CONSOLE' "$tmp/chromium.log" | sed 's/^\[[^]]*\] */console: /' >&2 || true
if grep -F 'Content Security Policy' "$tmp/chromium.log" >/dev/null; then
    log "FAIL: the page reported Content-Security-Policy violations (above)"
    failed=1
fi

# Swagger UI renders each operation as
#   <div class="opblock opblock-post" id="operations-<tag>-<operationId>">…
#   <span class="opblock-summary-method">POST</span>…data-path="/auth/register"…
#   <span class="opblock-summary-operation-id">register</span>
# one block per line here, so each check looks inside one operation only.
tr '\n' ' ' <"$tmp/dom.html" | sed 's/<div class="opblock opblock-/\n&/g' |
    grep '^<div class="opblock opblock-' >"$tmp/blocks" || true
rendered=0
while IFS=$'\t' read -r method path operation_id; do
    # An empty pattern matches any block: an operation without an id is
    # checked by method and path only.
    id_pattern="${operation_id:+<span class=\"opblock-summary-operation-id\">$operation_id</span>}"
    # No grep -q: an early exit would make the greps before it fail (pipefail).
    if grep -F "<div class=\"opblock opblock-${method,,}" "$tmp/blocks" |
        grep -F "<span class=\"opblock-summary-method\">$method</span>" |
        grep -F "data-path=\"$path\"" |
        grep -F "$id_pattern" >/dev/null; then
        rendered=$((rendered + 1))
        printf '  ok       %-7s %-32s %s\n' "$method" "$path" "$operation_id" >&2
    else
        printf '  MISSING  %-7s %-32s %s\n' "$method" "$path" "$operation_id" >&2
        failed=1
    fi
done <"$tmp/operations.tsv"

# A page that rendered nothing is a near-uniform image of a few kB.
size="$(stat -c %s "$screenshot" 2>/dev/null || echo 0)"
if ((size < 20000)); then
    log "FAIL: the screenshot is ${size} bytes: the page looks blank"
    failed=1
fi

if ((failed)); then
    log "FAIL: $rendered of $total operations rendered; screenshot in ${screenshot#"$REPO_ROOT"/}"
    exit 1
fi
log "docs: $rendered of $total operations rendered, no CSP violation, screenshot ${screenshot#"$REPO_ROOT"/} ($((size / 1024)) KiB)"
