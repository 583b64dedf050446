#!/usr/bin/env bash
# Builds the Python test fixtures (and the Python example) with componentize-py:
#   tests/fixtures-py/build.sh OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
"$repo/examples/python-error-budget/build.sh" "$out"
command -v componentize-py >/dev/null 2>&1 || PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
for dir in "$here"/*/; do
  name="$(basename "$dir")"
  wasm="$out/$name.wasm"
  # Rebuilt when its source or the WIT contract changed.
  if [ ! -f "$wasm" ] || [ "$dir/app.py" -nt "$wasm" ] || [ -n "$(find "$repo/wit" -newer "$wasm" -print -quit)" ]; then
    (cd "$dir" && componentize-py -d "$repo/wit" -w breaker-condition componentize app -o "$wasm.tmp")
    mv -f "$wasm.tmp" "$wasm"
  fi
  cp "$dir/$name.toml" "$out/$name.toml"
done
