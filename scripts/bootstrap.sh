#!/usr/bin/env bash
# Creates the project-local .venv with the pinned developer tools
# (SecantusDB, cargo-lambda, cfn-lint, Schemathesis, moto; about 930 MB), and
# makes sure curl and jq are there. Idempotent and fast on re-runs: pip only
# runs when requirements-dev.txt changed since the last install.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"
requirements="$repo_root/requirements-dev.txt"
stamp="$venv/.requirements-dev.sha256"

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

# Shell tools the scripts and the documentation's examples use. CI is a fresh
# Debian machine as root: install them there; elsewhere say what to install.
missing=()
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "bootstrap: ${missing[*]} required: install ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "$want" == "$have" ]]; then
    exit 0
fi

echo "bootstrap: installing requirements-dev.txt into .venv (about 930 MB; the first run takes a minute or two)"
# --no-cache-dir keeps pip from writing a cache outside the repo (~/.cache/pip).
"$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
    -r "$requirements"
# Written last, so an interrupted install is retried on the next run.
printf '%s\n' "$want" >"$stamp"
echo "bootstrap: done"
