#!/usr/bin/env bash
# Builds the error-budget Python plugin into a WebAssembly component.
#
#   examples/python-error-budget/build.sh [OUT_DIR]
#
# OUT_DIR defaults to <repo>/target/plugins-py. Writes OUT_DIR/error-budget.wasm
# and copies error-budget.toml beside it. Installs componentize-py from PyPI
# when it is not on PATH. Skips the build when the .wasm is newer than app.py
# and every WIT file.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT_DIR="${1:-$REPO/target/plugins-py}"
COMPONENTIZE_PY_VERSION=0.25.1

mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
WASM="$OUT_DIR/error-budget.wasm"

up_to_date() {
    [[ -f "$WASM" ]] || return 1
    local src
    for src in "$HERE/app.py" "$REPO"/wit/*.wit; do
        [[ "$WASM" -nt "$src" ]] || return 1
    done
}

if up_to_date; then
    echo "error-budget.wasm is up to date: $WASM" >&2
else
    if ! command -v componentize-py >/dev/null 2>&1; then
        echo "installing componentize-py==$COMPONENTIZE_PY_VERSION" >&2
        python3 -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
        # pip may put the script in a directory that is not on PATH yet.
        if ! command -v componentize-py >/dev/null 2>&1; then
            PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
            PATH="$(python3 -m site --user-base)/bin:$PATH"
            export PATH
        fi
    fi
    echo "building $WASM" >&2
    # Build to a temporary name so an interrupted build never looks up to date.
    # (componentize-py imports app.py at build time and leaves a
    # __pycache__/ here, which the repo's .gitignore ignores.)
    trap 'rm -f "$WASM.tmp"' EXIT
    (cd "$HERE" && componentize-py -d "$REPO/wit" -w breaker-condition \
        componentize app -o "$WASM.tmp")
    mv -f "$WASM.tmp" "$WASM"
fi

cp -f "$HERE/error-budget.toml" "$OUT_DIR/error-budget.toml"
