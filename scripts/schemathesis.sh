#!/usr/bin/env bash
# Schemathesis against the server's own /openapi.json, with a token for each
# role: every operation, SCHEMATHESIS_EXAMPLES cases each (default 10), in
# positive and negative modes, with --checks all. Part of `make test`.
# scripts/schemathesis.toml lists, with the reason for each, the few
# operations where a schema-valid request may still get a 400 (what only
# a plugin or the clock can judge). Any other finding fails:
# a 5xx, a status or header the document does not list, a body that does
# not match its schema, a schema-valid request refused or a schema-violating
# one accepted.
#
# Each role gets a fresh server and store, so one role's run (an admin
# revoking tokens, an operator pressing the emergency stop) cannot change
# what the next one sees.
#
#   bash scripts/schemathesis.sh                # every role
#   SCHEMATHESIS_EXAMPLES=50 bash scripts/schemathesis.sh admin viewer
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
examples="${SCHEMATHESIS_EXAMPLES:-10}"
roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(admin operator reporter viewer tech_lead ops_lead product_lead exec_sponsor)

# The version these findings were judged with: a newer one may add checks,
# and CI must not start failing on its own. The one on PATH if it is that
# version, else a virtualenv under target/.
version=4.32.5
st=schemathesis
if ! schemathesis --version 2>/dev/null | grep -qx "schemathesis, version $version"; then
  venv=target/schemathesis-venv
  st="$venv/bin/schemathesis"
  if ! "$st" --version 2>/dev/null | grep -qx "schemathesis, version $version"; then
    echo "schemathesis: installing schemathesis $version into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" || {
      echo "schemathesis: python3 -m venv failed; on Debian install python3-venv (scripts/setup.sh does)" >&2
      exit 1
    }
    "$venv/bin/pip" install -q "schemathesis==$version"
  fi
fi

cargo build --quiet -p regent-host --bin regent
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server <dir>: a fresh store with the built-in plugins; sets $url.
start_server() {
  local dir=$1 port
  port=$(free_port)
  mkdir -p "$dir"
  HOST=127.0.0.1 PORT=$port REGENT_ADMIN_TOKEN=$admin_token RUST_LOG=warn \
    target/debug/regent serve --plugins-dir target/plugins --cache-dir "$work/cache" \
    --db "$dir/regent.db" >"$dir/server.log" 2>&1 &
  server=$!
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    curl -fsS "$url/health" >/dev/null 2>&1 && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  echo "schemathesis: the server did not start:" >&2
  cat "$dir/server.log" >&2
  exit 1
}

stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

admin_token="rgt_$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
failed=()
for role in "${roles[@]}"; do
  dir="$work/$role"
  start_server "$dir"
  if [ "$role" = admin ]; then
    token=$admin_token
  else
    token=$(curl -fsS -X POST "$url/api/tokens" -H "Authorization: Bearer $admin_token" \
      -H 'Content-Type: application/json' -d "{\"name\":\"schemathesis-$role\",\"roles\":[\"$role\"]}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  fi
  echo "schemathesis: $role, $examples examples per operation" >&2
  if ! "$st" --config-file scripts/schemathesis.toml --no-color run "$url/openapi.json" --checks all --max-examples "$examples" --seed 14 \
      --workers 2 -H "Authorization: Bearer $token" \
      --report junit --report-dir "$dir/report" >"$dir/run.log" 2>&1; then
    failed+=("$role")
    echo "schemathesis: findings as $role:" >&2
    cat "$dir/run.log" >&2
  else
    tail -n 3 "$dir/run.log" >&2
  fi
  if grep -q "panicked" "$dir/server.log"; then
    failed+=("$role (server panic)")
    grep -B2 -A5 "panicked" "$dir/server.log" >&2
  fi
  stop_server
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "schemathesis: findings as: ${failed[*]}" >&2
  exit 1
fi
echo "schemathesis: no findings (${#roles[@]} roles, $examples examples per operation)"
