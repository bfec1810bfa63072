#!/usr/bin/env bash
# Installs the project's pinned tools. Idempotent and fast on re-runs.
#
#   scripts/bootstrap.sh            shell tools, the venv and the docs UI (what make dev, test, build need)
#   scripts/bootstrap.sh tools      curl and jq (apt-get when root on Debian, as in CI; else say what to install)
#   scripts/bootstrap.sh venv       .venv with requirements-dev.txt (SecantusDB, cargo-lambda,
#                                   cfn-lint, Schemathesis, moto, PyJWT; about 930 MB); pip only
#                                   runs when the file changed
#   scripts/bootstrap.sh docs-ui    Swagger UI for GET /docs into functions/api-docs/ui/node_modules
#                                   (npm ci); npm only runs when package-lock.json changed
#   scripts/bootstrap.sh browser-tests  axe-core and openid-client for the browser tests into
#                                   tests/browser/node_modules (npm ci)
#   scripts/bootstrap.sh chromium   Debian's chromium for the browser stories (tests/browser/), when
#                                   /usr/bin/chromium is missing (apt-get, as root only)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bootstrap_venv() {
    local venv="$repo_root/.venv"
    local requirements="$repo_root/requirements-dev.txt"
    local stamp="$venv/.requirements-dev.sha256"

    if ! command -v python3 >/dev/null 2>&1; then
        echo "bootstrap: python3 is required (3.10 or newer)" >&2
        exit 1
    fi

    # A venv without a working interpreter (e.g. left over from a python3 that was
    # since removed) is rebuilt rather than patched.
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "bootstrap: creating $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        rm -f "$stamp"
    fi

    local want have
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [[ "$want" == "$have" ]]; then
        return 0
    fi

    echo "bootstrap: installing requirements-dev.txt into .venv (about 930 MB; the first run takes a minute or two)"
    # --no-cache-dir keeps pip from writing a cache outside the repo (~/.cache/pip).
    "$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
        -r "$requirements"
    # Written last, so an interrupted install is retried on the next run.
    printf '%s\n' "$want" >"$stamp"
    echo "bootstrap: done"
}

# Shell tools the scripts and the documentation's examples use. CI is a fresh
# Debian machine as root: install them there; elsewhere say what to install.
bootstrap_tools() {
    local missing=() tool
    for tool in curl jq; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    ((${#missing[@]})) || return 0
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "bootstrap: ${missing[*]} required: install ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
}

# `npm ci` in $1 (a directory with package.json and package-lock.json),
# for $2 (what it is for); only when the lock file changed.
npm_ci() {
    local dir="$1" what="$2"
    # npm ci deletes node_modules first, so a stale stamp never survives it.
    local stamp="$dir/node_modules/.package-lock.sha256"

    local want have
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [[ "$want" == "$have" ]]; then
        return 0
    fi

    if ! command -v npm >/dev/null 2>&1; then
        echo "bootstrap: npm (Node.js 18 or newer) is required to fetch $what;" \
            "install nodejs and npm, then run scripts/bootstrap.sh" >&2
        exit 1
    fi
    echo "bootstrap: npm ci in ${dir#"$repo_root"/} ($what)"
    # --ignore-scripts: nothing from the registry runs here (swagger-ui-dist's
    # one dependency, @scarf/scarf, is an install-time analytics script). A
    # throwaway cache keeps npm from writing one outside the repo (~/.npm).
    local cache
    cache="$(mktemp -d "${TMPDIR:-/tmp}/npm-cache.XXXXXX")"
    if ! (cd "$dir" && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund \
        --loglevel=error --cache "$cache"); then
        rm -rf "$cache"
        exit 1
    fi
    rm -rf "$cache"
    printf '%s\n' "$want" >"$stamp"
}

# functions/api-docs/build.rs inlines Swagger UI from node_modules into the
# /docs page, so every cargo build of the workspace needs it.
bootstrap_docs_ui() {
    npm_ci "$repo_root/functions/api-docs/ui" "Swagger UI for /docs"
}

# axe-core, which the pages' browser test injects for its accessibility scan,
# and openid-client, the relying party of the OpenID Provider's story.
bootstrap_browser_tests() {
    npm_ci "$repo_root/tests/browser" "axe-core for the pages' accessibility scan, openid-client for the provider's"
}

# Debian's chromium, for the browser stories (tests/browser/stories.py). Only root installs it;
# anyone else is told how.
bootstrap_chromium() {
    if [[ -x /usr/bin/chromium ]]; then
        return 0
    fi
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: /usr/bin/chromium is missing; install Debian's chromium with" \
            "\`sudo apt-get install -y chromium\` (or run scripts/bootstrap.sh chromium as root)" >&2
        exit 1
    fi
    echo "bootstrap: installing Debian's chromium (apt-get, about 300 MB)"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists yet; an old list may name a
    # version the mirror no longer has.
    apt-get install -y -qq chromium >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
    [[ -x /usr/bin/chromium ]] || { echo "bootstrap: apt-get installed no /usr/bin/chromium" >&2; exit 1; }
}

if (($# == 0)); then
    set -- tools venv docs-ui browser-tests
fi
for part in "$@"; do
    case "$part" in
    tools) bootstrap_tools ;;
    venv) bootstrap_venv ;;
    docs-ui) bootstrap_docs_ui ;;
    browser-tests) bootstrap_browser_tests ;;
    chromium) bootstrap_chromium ;;
    *)
        echo "bootstrap: unknown part '$part' (tools, venv, docs-ui, browser-tests, chromium)" >&2
        exit 2
        ;;
    esac
done
