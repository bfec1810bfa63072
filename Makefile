# Developer entry points. The scripts in scripts/ do the work; `make` alone lists targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# cargo finds the `cargo lambda` subcommand on PATH, so the project venv goes first.
VENV_BIN := $(CURDIR)/.venv/bin
WITH_VENV := PATH="$(VENV_BIN):$$PATH"

# Every Lambda binary: functions/src/bin/*.rs (but the local key tool), the
# passkey functions (functions/passkeys) and api-docs.
LAMBDA_BINS := $(patsubst %.rs,--bin %,$(notdir $(filter-out %/signing-keys.rs,$(wildcard functions/src/bin/*.rs functions/passkeys/src/bin/*.rs)))) --bin api-docs

.PHONY: help dev dev-release test build fmt lint clean-data bench bench-flows bench-mfa bench-peers docs-ui examples schemathesis rotate-keys functions screenshots client

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  make %-13s %s\n", $$1, $$2 }'

dev: ## Run the API locally on :9000 (PORT=9001 for a second one) with SecantusDB (Ctrl-C stops)
	scripts/dev.sh

dev-release: ## `make dev` serving release builds (for measuring; slower to build)
	RELEASE=1 scripts/dev.sh

test: ## fmt check, cfn-lint, clippy, build, then all tests incl. end-to-end (what CI runs)
	scripts/test.sh

# One build of every function, as SAM builds each (`--bin` at the root selects
# the whole workspace), so the zips here are the ones SAM deploys.
build: ## Release arm64 zips for Lambda in target/lambda/<function>/bootstrap.zip
	scripts/bootstrap.sh
	$(WITH_VENV) cargo-lambda lambda build --release --arm64 --output-format zip \
		$(LAMBDA_BINS)

functions: ## Write template.yaml's functions and the local router from functions/functions.yaml
	scripts/bootstrap.sh venv
	$(VENV_BIN)/python scripts/functions.py write

fmt: ## Format all Rust code
	cargo fmt --all

lint: ## clippy (warnings are errors) and cfn-lint on template.yaml
	scripts/bootstrap.sh
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV_BIN)/cfn-lint template.yaml

clean-data: ## Delete the local database (.data/) and the local keys (.local/)
	rm -rf .data .local

examples: ## Run the sh examples of README.md and docs/ against a running API (API=http://127.0.0.1:9000)
	scripts/examples.sh "$${API:-http://127.0.0.1:9000}"

schemathesis: ## Fuzz a running API against openapi.yaml (API=http://127.0.0.1:9000)
	scripts/bootstrap.sh
	scripts/schemathesis.sh "$${API:-http://127.0.0.1:9000}"

client: ## A new OAuth client's entry for the clients document; a confidential one's secret is printed once (NAME=... REDIRECT=https://app/cb[,...] [PUBLIC=1] [FIRST_PARTY=1])
	@test -n "$(NAME)" -a -n "$(REDIRECT)" || { echo "usage: make client NAME=... REDIRECT=..." >&2; exit 2; }
	@python3 scripts/oauth_client.py new "$(NAME)" "$(REDIRECT)" $(if $(PUBLIC),--public) $(if $(FIRST_PARTY),--first-party)

rotate-keys: ## Rotate the local signing keys in .local/ (the rotation's own code); make dev picks them up
	cargo run -q -p functions --bin signing-keys -- .local/signing-keys.json .local/public-keys.json

bench: ## Lambda-faithful benchmark: init (also on one core), latency over a floor, MongoDB commands, size, memory (docs/performance.md)
	scripts/bench.sh

bench-peers: ## Ours (release) against FastAPI Users on the same database: register, login, profile p50s and ratios (USERS=15)
	scripts/bench-peers.sh

bench-flows: ## Latency of each page, a whole OpenID sign-in and each token grant (p50 of RUNS=20) against a running stack (API=http://localhost:9000)
	scripts/bootstrap.sh
	$(VENV_BIN)/python bench/scripts/flows_latency.py "$${API:-http://localhost:9000}" "$${RUNS:-20}"

bench-mfa: ## Latency of a login with a second factor, both steps (p50 of RUNS=20) against a running API (API=http://127.0.0.1:9000)
	scripts/bootstrap.sh
	$(VENV_BIN)/python bench/scripts/mfa_latency.py "$${API:-http://127.0.0.1:9000}" "$${RUNS:-20}"

docs-ui: ## Swagger UI for GET /docs into functions/api-docs/ui/node_modules (npm ci; build.rs needs it)
	scripts/bootstrap.sh docs-ui

screenshots: ## Copy the sign-in and account screenshots of the last `make test` (target/pages/) into docs/ for the README
	@for page in signin account; do \
		test -f target/pages/$$page.png || { echo "no target/pages/$$page.png: run make test first" >&2; exit 1; }; \
		cp target/pages/$$page.png docs/pages-$$page.png; \
	done
	@echo "docs/pages-signin.png and docs/pages-account.png updated"
