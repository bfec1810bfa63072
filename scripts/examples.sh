#!/usr/bin/env bash
# Runs the examples of the documentation against a running API, as a reader
# would type them: every fenced ```sh block of README.md, then docs/api.md,
# then docs/events.md (or of the FILEs given), in file order, in ONE bash shell
# with `set -euo pipefail`, so a block can use the variables that earlier ones
# set (TOKEN=..., USER_ID=...). A block whose line just before the fence is
# `<!-- not run -->` is skipped (deploy commands and the like).
#
# Usage: scripts/examples.sh [BASE_URL [FILE...]]
#   BASE_URL  the API, default $API or http://127.0.0.1:9000; the examples see
#             it as $API, and its port as $PORT (for `cargo lambda invoke -P`)
#   FILE      Markdown files to take the examples from, in this order
#
# Stops at the first failing command and names its block (file:line of the
# fence) and the line in the file. Exit code: that of the failing command,
# 0 when every example ran.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

api="${1:-${API:-http://127.0.0.1:9000}}"
api="${api%/}"
shift || true
if (($#)); then
    files=("$@")
else
    files=(README.md docs/api.md docs/events.md)
fi

# The examples use curl and jq; say so plainly rather than fail in the middle.
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "examples: $tool is required (scripts/bootstrap.sh installs it as root)" >&2; exit 1; }
done

# Paths in the examples (tests/fixtures/...) are relative to the repository.
cd "$repo_root"
# `cargo lambda` comes from the project's .venv, as in `make dev` and `make
# test` (which call this with it on PATH already).
if [[ -d "$repo_root/.venv/bin" ]]; then
    export PATH="$repo_root/.venv/bin:$PATH"
fi

script="$(mktemp "${TMPDIR:-/tmp}/examples.XXXXXX.sh")"
trap 'rm -f "$script"' EXIT

# The script the examples run in. The ERR trap names the failing line as
# "file:line"; the EXIT trap covers what exits without ERR (an unset variable
# under `set -u`). __ex_block_line is the line of the fence, __ex_first the
# script line that holds the block's first line, so a line maps back to the
# file. Inside $(...) the trap only passes the code on: the assignment that
# holds it fails next, in the main shell, on the line the reader wrote.
cat >"$script" <<'PRELUDE'
set -Eeuo pipefail
__ex_reported=0
__ex_report() {
    local rc=$1 line=$2
    trap - ERR
    if ((BASH_SUBSHELL == 0)); then
        __ex_reported=1
        printf '\nexamples: FAILED (exit %s) at %s:%s, in the block at %s:%s\n' "$rc" \
            "$__ex_file" "$((__ex_block_line + line - __ex_first + 1))" "$__ex_file" "$__ex_block_line" >&2
    fi
    exit "$rc"
}
__ex_exit() {
    local rc=$1
    if ((rc != 0 && !__ex_reported)); then
        printf '\nexamples: FAILED (exit %s) in the block at %s:%s\n' "$rc" "$__ex_file" "$__ex_block_line" >&2
    fi
}
__ex_file="" __ex_block_line=0 __ex_first=0
trap '__ex_report $? $LINENO' ERR
trap '__ex_exit $?' EXIT
PRELUDE

# Emits "FILE<TAB>LINE" before each block and its lines after it, then "\0".
# A fence may be indented (inside a list item); the indentation is stripped.
extract() {
    awk '
        function flush() { if (keep) printf "%s", body; printf "%c", 0 }
        !inside && /^[ \t]*```sh[ \t]*$/ {
            inside = 1; start = FNR; body = ""
            match($0, /^[ \t]*/); indent = RLENGTH
            keep = (prev !~ /^[ \t]*<!--[ \t]*not run[ \t]*-->[ \t]*$/)
            prev = $0
            next
        }
        inside && /^[ \t]*```[ \t]*$/ {
            inside = 0
            if (keep) printf "%s\t%d\n", FILENAME, start
            flush()
            prev = $0
            next
        }
        inside { body = body substr($0, indent + 1) "\n"; prev = $0; next }
        { prev = $0 }
        END { if (inside) { printf "%s:%d: unclosed ```sh block\n", FILENAME, start > "/dev/stderr"; exit 3 } }
    ' "$1"
}

blocks=0 skipped=0
lines=$(wc -l <"$script")
for file in "${files[@]}"; do
    if [[ ! -f "$file" ]]; then
        echo "examples: $file not found, skipped" >&2
        continue
    fi
    while IFS= read -r -d '' chunk; do
        if [[ -z "$chunk" ]]; then
            skipped=$((skipped + 1))
            continue
        fi
        header="${chunk%%$'\n'*}"
        body="${chunk#*$'\n'}"
        block_file="${header%$'\t'*}"
        block_line="${header##*$'\t'}"
        blocks=$((blocks + 1))
        # Two lines of bookkeeping, then the block as written.
        {
            printf '__ex_file=%q __ex_block_line=%d __ex_first=%d\n' \
                "$block_file" "$block_line" "$((lines + 3))"
            # shellcheck disable=SC2016 # written for the examples' shell to expand
            printf 'printf -- "--- %%s:%%s\\n" "$__ex_file" "$__ex_block_line" >&2\n'
            printf '%s' "$body"
        } >>"$script"
        lines=$(wc -l <"$script")
    done < <(extract "$file")
done

if ((blocks == 0)); then
    echo "examples: no \`\`\`sh block found in ${files[*]}" >&2
    exit 1
fi

port="${api##*:}"
port="${port%%/*}"
[[ "$port" =~ ^[0-9]+$ ]] || port=""
echo "examples: running $blocks block(s) ($skipped marked not run) against $api" >&2
# No stdin: an example that waits for input would hang the run.
API="$api" PORT="${port:-${PORT:-9000}}" bash --noprofile --norc "$script" </dev/null
echo "examples: all $blocks block(s) passed" >&2
