#!/usr/bin/env bash
# The console's first render under load (`make load-console`; not part of
# `make test`; docs/console.md, "First render"): a release `regent serve`,
# wrk on POST /api/authorize, and Chromium timing a full load of each page
# (tests/browser/first-render.mjs). Results to stdout and target/load/console.txt.
#   ROUNDS (20 loads per page), LOAD_CONNECTIONS (16)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-plugins.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
cargo build --release --quiet -p regent-host --bin regent
# Installs Chromium, Node and playwright-core when missing, without running the tests.
BROWSER_TESTS_SETUP_ONLY=1 bash scripts/browser-tests.sh
REGENT_BIN=target/release/regent node tests/browser/first-render.mjs
