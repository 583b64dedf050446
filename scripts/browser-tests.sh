#!/usr/bin/env bash
# The console's end-to-end tests in a real browser (docs/console.md):
# installs what is missing (Debian's chromium, nodejs and npm; the pinned
# playwright-core with `npm ci`), makes sure target/debug/regent and the
# plugins exist, then runs tests/browser/*.test.mjs with Node's test runner.
# Each test file starts its own `regent serve` on a free port with a scratch
# SQLite database.
#
#   bash scripts/browser-tests.sh                 # every scenario
#   bash scripts/browser-tests.sh plugins         # tests/browser/plugins.test.mjs only
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "browser-tests: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
  echo "browser-tests: Node $(node --version) is too old: the tests need Node 18 or later (node --test)" >&2
  exit 1
fi

# playwright-core, exactly as package-lock.json pins it (it downloads no
# browser: the tests drive /usr/bin/chromium).
want="$(node -p 'require("./tests/browser/package-lock.json").packages["node_modules/playwright-core"].version')"
have="$(node -p 'try { require("./tests/browser/node_modules/playwright-core/package.json").version } catch { "" }')"
if [ "$want" != "$have" ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --ignore-scripts)
fi

# The server binary and the plugins it serves (the tests build nothing).
if [ -z "${REGENT_BIN:-}" ] && [ ! -x target/debug/regent ] && [ ! -x "${CARGO_TARGET_DIR:-/nonexistent}/debug/regent" ]; then
  cargo build -p regent-host --bin regent
fi
if [ -z "${REGENT_PLUGINS_DIR:-}" ] && [ ! -e target/plugins/readiness-checklist.wasm ]; then
  echo "browser-tests: target/plugins is missing: run \`make plugins\` first (or set REGENT_PLUGINS_DIR)" >&2
  exit 1
fi

[ -n "${BROWSER_TESTS_SETUP_ONLY:-}" ] && exit 0

cd tests/browser
if [ $# -gt 0 ]; then
  files=()
  for name in "$@"; do files+=("$name.test.mjs"); done
else
  files=(*.test.mjs)
fi
# One file at a time: each starts a server and a browser, on small machines too.
exec node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
