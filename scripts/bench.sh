#!/usr/bin/env bash
# `make bench`: builds the benchmark (bench/, release) and every function
# of template.yaml as Lambda gets them (`cargo lambda build`, zip, for each
# architecture), starts a throwaway SecantusDB unless MONGODB_URI is set, and
# runs the benchmark against the binaries of this machine's architecture.
# Prints a Markdown report; the figures also go to target/bench/results.json
# (and results.md).
#
# Settings (environment):
#   BENCH_PROFILE   cargo profile of the functions (default release); a custom
#                   profile writes to target/bench/<profile>/ so runs don't clobber
#   BENCH_ARCHS     architectures to build and size (default "arm64 x86_64"); the
#                   host's is always built, since its binaries are the ones run
#   BENCH_SKIP_BUILD=1  reuse the binaries and zips of an earlier run
#   BENCH_*         every option of the benchmark has a variable, passed through:
#                   `cargo run -p lambda-bench -- --help` lists them (counts,
#                   BENCH_FUNCTIONS for a subset, ...)
#   MONGODB_URI     benchmark against this server instead of a local SecantusDB
# Example, a quick run:
#   BENCH_ARCHS=x86_64 BENCH_COLD=3 BENCH_COLD_SECRETS=1 BENCH_COLD_PINNED=3 \
#   BENCH_WARM=50 BENCH_WARM_ARGON2=5 make bench
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

tmp_dir=""
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
    if [[ -n "$tmp_dir" ]]; then
        rm -rf "$tmp_dir"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap "trap '' INT TERM; exit 130" INT
trap "trap '' INT TERM; exit 143" TERM

bootstrap

profile="${BENCH_PROFILE:-release}"
case "$(uname -m)" in
    x86_64 | amd64) host_arch=x86_64 host_triple=x86_64-unknown-linux-gnu ;;
    aarch64 | arm64) host_arch=arm64 host_triple=aarch64-unknown-linux-gnu ;;
    *) die "unsupported host architecture $(uname -m): Lambda runs x86_64 and arm64" ;;
esac
archs="${BENCH_ARCHS:-arm64 x86_64}"
[[ " $archs " == *" $host_arch "* ]] || archs="$archs $host_arch"

if [[ "$profile" == release ]]; then
    out_dir="$REPO_ROOT/target/bench"
    profile_flag=(--release)
else
    out_dir="$REPO_ROOT/target/bench/$profile"
    profile_flag=(--profile "$profile")
fi
mkdir -p "$out_dir"

# The benchmark in the release profile whatever the functions' profile: its
# floor (argon2 included) is compiled as the deployed functions are.
bench="$REPO_ROOT/target/release/lambda-bench"
if [[ "${BENCH_SKIP_BUILD:-}" != 1 || ! -x "$bench" ]]; then
    log "building the benchmark: cargo build --release -p lambda-bench"
    cargo build --release -p lambda-bench
fi

# The functions to build and run are the template's functions, HTTP and event (or the
# BENCH_FUNCTIONS subset), as the benchmark reads them.
mapfile -t functions < <("$bench" --list-functions)
((${#functions[@]} > 0)) || die "the benchmark found no function in template.yaml"
bins=()
for function in "${functions[@]}"; do
    bins+=(--bin "$function")
done

# Only these binaries are linked (fat LTO is the slow part), but the package
# selection stays the whole workspace, as `make build` and `sam build`
# (`--bin <name>` at the root) have it, so the dependency features are the
# deployed ones; the benchmark's own dependencies add none.
artifacts=()
for arch in $archs; do
    lambda_dir="$out_dir/lambda/$arch"
    if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
        log "building ${functions[*]}: cargo lambda build ${profile_flag[*]} --$arch (slow: fat LTO)"
        arch_flag="--$arch"
        [[ "$arch" == x86_64 ]] && arch_flag="--x86-64"
        cargo lambda build "${profile_flag[@]}" "$arch_flag" --output-format zip \
            --lambda-dir "$lambda_dir" "${bins[@]}"
    fi
    artifacts+=("$arch=$lambda_dir")
done

if [[ -z "${MONGODB_URI:-}" ]]; then
    tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/user-mgmt-bench.XXXXXX")"
fi
use_or_start_db "${tmp_dir:-}"

# Names the run after the profile and the commit the functions were built from.
rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- shared functions Cargo.toml Cargo.lock template.yaml 2>/dev/null)" ]]; then
    rev="$rev with local changes"
fi

log "running the benchmark (profile under test: $profile)"
BENCH_BIN_DIR="$REPO_ROOT/target/$host_triple/$profile" \
    BENCH_ARTIFACTS="${artifacts[*]}" \
    BENCH_LABEL="${BENCH_LABEL:-$profile @ $rev}" \
    BENCH_OUT="${BENCH_OUT:-$out_dir/results.json}" \
    BENCH_MARKDOWN="${BENCH_MARKDOWN:-$out_dir/results.md}" \
    BENCH_LOG_DIR="${BENCH_LOG_DIR:-$out_dir/logs}" \
    "$bench"
