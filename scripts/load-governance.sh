#!/usr/bin/env bash
# Load test of the governance service on loopback (not part of `make test`):
#   1. ingest: 1,000,000 command records in batches of 10,000 (POST /api/commands);
#   2. GET /api/readiness/current over those 1M stored commands (wrk, p99);
#   3. GET /api/metrics/current over the same 1M commands (wrk).
# Release build; one server on an empty temporary database. Results go to
# stdout and to target/load/governance.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-plugins.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
cargo build --release --quiet -p regent-host --bin regent

out=target/load; mkdir -p "$out"; work=$(mktemp -d)
port=${LOAD_PORT:-4017}; token=load-test-admin; base="http://127.0.0.1:$port"
REGENT_ADMIN_TOKEN=$token GOVERNANCE_DB_PATH="$work/regent.db" PORT=$port RUST_LOG=warn \
  CIRCUIT_BREAKER_CHECK_INTERVAL=60000 \
  target/release/regent serve --plugins-dir target/plugins --cache-dir "$work/cache" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done

report="$out/governance.txt"; : > "$report"
say() { echo "$*" | tee -a "$report"; }
say "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD)"
say "## ingest: 100 batches x 10,000 records, 2 concurrent clients"
python3 scripts/bench/ingest.py --base "$base" --token "$token" --batches 100 --batch-size 10000 --concurrency 2 | tee -a "$report"
auth="Authorization: Bearer $token"
say "## GET /api/readiness/current over 1M stored commands (wrk -t1 -c2 -d20s)"
wrk -t1 -c2 -d20s --latency -H "$auth" "$base/api/readiness/current" | tee -a "$report"
start=$(date -u -d '8 days ago' +%FT%TZ)
say "## GET /api/metrics/current?start=8 days ago (all 1M commands) (wrk -t1 -c2 -d20s)"
wrk -t1 -c2 -d20s --latency -H "$auth" "$base/api/metrics/current?start=$start" | tee -a "$report"
say "## the same range, one request at a time (curl, 20 runs, seconds)"
for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' -H "$auth" "$base/api/metrics/current?start=$start"; done | sort -n | tee -a "$report" | awk '{a[NR]=$1} END {print "median", a[int(NR/2)+1], "max", a[NR]}' | tee -a "$report"
