#!/usr/bin/env bash
# What signing in costs (not part of `make test`): GET /api/governance/state
# with a local token (a hash lookup, cached) and with a JWT from an identity
# provider (an Ed25519 signature check and the claims, on every request),
# against GET /health, the server's floor, in one run on loopback.
# Release build; one server with `[auth.oidc]` on a JWKS file made here, with
# a key generated for the run. Results go to stdout and target/load/auth.txt.
#   LOAD_DURATION (15s), LOAD_CONNECTIONS (32), LOAD_PORT (4019)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-plugins.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
cargo build --release --quiet -p regent-host --bin regent

out=target/load; mkdir -p "$out"; work=$(mktemp -d)
port=${LOAD_PORT:-4019}; admin=load-auth-admin; base="http://127.0.0.1:$port"
duration=${LOAD_DURATION:-15s}; conns=${LOAD_CONNECTIONS:-32}

# A key for this run: the JWKS file the server trusts, and one JWT signed
# with it (EdDSA, an hour long, roles from the `roles` claim).
jwt=$(python3 - "$work/jwks.json" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = Ed25519PrivateKey.generate()
x = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
json.dump({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "load", "x": b64(x)}]},
          open(sys.argv[1], "w"))
now = int(time.time())
header = b64(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": "load"}).encode())
claims = b64(json.dumps({"iss": "https://idp.load.test", "aud": "regent", "sub": "lee",
                         "roles": ["tech_lead", "viewer"], "iat": now, "exp": now + 3600}).encode())
signing_input = f"{header}.{claims}".encode()
print(f"{header}.{claims}.{b64(key.sign(signing_input))}")
PY
)
cat > "$work/regent.toml" <<TOML
[auth.oidc]
issuer = "https://idp.load.test"
audience = "regent"
jwks_file = "$work/jwks.json"
TOML
REGENT_ADMIN_TOKEN=$admin GOVERNANCE_DB_PATH="$work/regent.db" PORT=$port RUST_LOG=warn \
  target/release/regent serve --config "$work/regent.toml" --plugins-dir target/plugins --cache-dir "$work/cache" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done

report="$out/auth.txt"; : > "$report"
say() { echo "$*" | tee -a "$report"; }
say "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD), wrk -t2 -c$conns -d$duration"
for t in "$admin" "$jwt"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t" "$base/api/governance/state")
  [ "$code" = 200 ] || { say "FAIL: a token was refused ($code)"; exit 1; }
done

# req/s and p99 of one wrk run.
run() {
  local label=$1; shift
  wrk -t2 -c"$conns" -d"$duration" --latency "$@" > "$work/wrk.txt"
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt"); non2xx=${non2xx:-0}
  say "$(printf '%-44s %8s req/s   p99 %8s   non-2xx %s' "$label" "$rps" "$p99" "$non2xx")" >&2
  [ "$non2xx" = 0 ] || { say "FAIL: non-2xx answers" >&2; exit 1; }
  echo "$rps"
}
floor=$(run "GET /health (no credential)" "$base/health")
local_rps=$(run "GET /api/governance/state, local token" -H "Authorization: Bearer $admin" "$base/api/governance/state")
jwt_rps=$(run "GET /api/governance/state, JWT (EdDSA)" -H "Authorization: Bearer $jwt" "$base/api/governance/state")
say ""
say "$(awk -v f="$floor" -v l="$local_rps" -v j="$jwt_rps" 'BEGIN {printf "local token: %.2fx the floor; JWT: %.2fx the floor, %.2fx the local token", l / f, j / f, j / l}')"
