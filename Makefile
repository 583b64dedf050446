# The two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: run test browser-test lint plugins python-plugins schemathesis fuzz bench load-test load-governance load-control load-auth load-swap load-retention load-cluster load-console load-budgets clean

## Run the server with the built-in plugins on an embedded SQLite file.
run: plugins
	cargo run --quiet -p regent-host --bin regent -- serve --plugins-dir target/plugins --db var/regent.db

## Run every test: native unit tests, the plugins' fixtures through Wasm,
## hostile plugins, Python plugins, the CLI and the HTTP API, a bounded
## fuzz run of each fuzz target, the console in a real browser
## (scripts/browser-tests.sh), and schemathesis as every role (10 examples
## per operation).
##
## Formatting and clippy come first (`make lint`). The plugins and the
## `regent` binary are built once, by `make plugins`, before cargo test:
## the integration tests only load them. All integration tests are one
## binary (tests/suite).
test: lint plugins python-plugins
	@bash scripts/check-monitoring.sh
	cargo test --workspace --quiet
	bash scripts/browser-tests.sh
	SCHEMATHESIS_EXAMPLES=10 bash scripts/schemathesis.sh

## The console's end-to-end tests in Debian's Chromium (playwright-core,
## node --test), each against a real `regent serve` on a scratch database
## (also run by `make test`; installs chromium, nodejs and npm if missing).
browser-test: plugins
	bash scripts/browser-tests.sh

## `cargo fmt --check` and clippy with warnings denied, on every crate and target.
lint:
	@bash scripts/setup.sh
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

## Schemathesis against /openapi.json, a token for each role, --checks all
## (also run by `make test`; SCHEMATHESIS_EXAMPLES=50 for a longer run).
schemathesis: plugins
	bash scripts/schemathesis.sh

## Coverage-guided fuzzing with cargo fuzz, 60 s per target (FUZZ_SECONDS; not part of `make test`).
fuzz:
	bash scripts/fuzz.sh

## The plugins (target/plugins, target/fixtures, target/examples) and
## target/debug/regent, which componentizes them and which the tests run.
plugins:
	@bash scripts/setup.sh
	@bash scripts/build-plugins.sh

python-plugins:
	@bash tests/fixtures-py/build.sh target/plugins-py

## Criterion benchmarks (release build; not part of `make test`).
bench: plugins
	cargo bench -p regent-host --bench evaluation
	cargo bench -p regent-host --bench assignment

## Load test of the governance service (release build, wrk; not part of `make test`).
load-governance: plugins
	bash scripts/load-governance.sh

## Load test of POST /api/authorize and its decision log (release build, wrk; not part of `make test`).
load-control: plugins
	bash scripts/load-control.sh

## What rate and concurrency budgets cost authorize: wrk -c16 with budgets off and on, in one run (release).
load-budgets: plugins
	bash scripts/load-budgets.sh

## What signing in costs: a local token and an identity provider's JWT against /health (release build, wrk; not part of `make test`).
load-auth: plugins
	bash scripts/load-auth.sh

## Load test of plugin hot swaps under load, no failed request allowed (release build, wrk; not part of `make test`).
load-swap: plugins
	bash scripts/load-swap.sh

## Retention under load: database size and authorize p99 across several retention periods (wrk; not part of `make test`).
load-retention: plugins
	bash scripts/load-retention.sh

## Replicas on PostgreSQL: authorize on one SQLite replica, one and two PostgreSQL
## replicas; propagation of a stop and an activation; the decision log under
## kill -9 (release build, wrk; not part of `make test`).
load-cluster: plugins
	bash scripts/load-cluster.sh

## The console's first render of each page, idle and under authorize load (release build, Chromium, wrk; not part of `make test`).
load-console: plugins
	bash scripts/load-console.sh

clean:
	cargo clean
	rm -rf var
