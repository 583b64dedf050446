#!/usr/bin/env bash
# What budgets cost the enforcement point (not part of `make test`):
# POST /api/authorize (scripts/bench/authorize.lua's mix) with wrk -c16,
# alternately with no budgets ("off") and with budgets that every
# autonomous decision draws on ("on"), in one run on one server, so the
# ratio is measured under the same conditions. "On" is a rate budget keyed
# `all` (too large to run out during the run: every autonomous decision is
# settled and counted) and a concurrency budget keyed `all` of 150 leases
# of 1 s (full most of the time: decisions over it are denied, having been
# settled against it). The target is on/off <= 1.5x in p99 and in
# throughput. Release build, SQLite, an empty temporary database. Results
# go to stdout and to target/load/budgets.txt.
#   LOAD_DURATION (20s), LOAD_ROUNDS (2: off,on pairs), LOAD_PORT (4019)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-plugins.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
cargo build --release --quiet -p regent-host --bin regent

out=target/load; mkdir -p "$out"; work=$(mktemp -d)
port=${LOAD_PORT:-4019}; token=load-test-admin; base="http://127.0.0.1:$port"
duration=${LOAD_DURATION:-20s}; rounds=${LOAD_ROUNDS:-2}
printf 'initial_phase = "L4"\nphase_started_at = "%s"\n' "$(date -u -d '30 days ago' +%FT%TZ)" > "$work/regent.toml"
REGENT_ADMIN_TOKEN=$token GOVERNANCE_DB_PATH="$work/regent.db" PORT=$port RUST_LOG=warn \
  target/release/regent serve --config "$work/regent.toml" --plugins-dir target/plugins --cache-dir "$work/cache" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done

report="$out/budgets.txt"; : > "$report"
say() { echo "$*" | tee -a "$report"; }
auth="Authorization: Bearer $token"
json="Content-Type: application/json"
budgets() {
  if [ "$1" = on ]; then
    curl -fsS -X PUT -H "$auth" -H "$json" -d '{"key":"all","limit":1000000000,"window":"1h"}' "$base/api/budgets/rates/everything" >/dev/null
    curl -fsS -X PUT -H "$auth" -H "$json" -d '{"key":"all","limit":150,"leaseTtl":"1s"}' "$base/api/budgets/concurrency/in-flight" >/dev/null
  else
    curl -fs -X DELETE -H "$auth" "$base/api/budgets/rates/everything" >/dev/null || true
    curl -fs -X DELETE -H "$auth" "$base/api/budgets/concurrency/in-flight" >/dev/null || true
  fi
}
decisions() {
  curl -fs "$base/metrics" | awk '/^regent_authorize_decisions_total\{/ {split($1, a, "\""); printf "%s=%d ", a[2], $2} END {print ""}'
}

say "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD), wrk -t2 -c16 -d$duration, $rounds rounds"
declare -A rps p99
for round in $(seq "$rounds"); do
  for mode in off on; do
    budgets "$mode"
    before=$(decisions)
    wrk -t2 -c16 -d"$duration" --latency -H "$auth" -s scripts/bench/authorize.lua "$base/api/authorize" > "$work/wrk.txt"
    r=$(awk '/^req_per_s:/ {print $2}' "$work/wrk.txt"); p=$(awk '/^p99_ms:/ {print $2}' "$work/wrk.txt")
    non200=$(awk '/^non_200:/ {print $2}' "$work/wrk.txt")
    rps[$mode]="${rps[$mode]:-} $r"; p99[$mode]="${p99[$mode]:-} $p"
    say "round $round budgets $mode: $r req/s, p99 $p ms, non-200 $non200"
    say "  decisions before: $before"
    say "  decisions after:  $(decisions)"
    if [ "$non200" != 0 ]; then say "FAIL: non-200 answers"; exit 1; fi
  done
done
budgets on
say "budgets at the end: $(curl -fsS -H "$auth" "$base/api/budgets/overview" | head -c 600)"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
off_r=$(echo "${rps[off]}" | median); on_r=$(echo "${rps[on]}" | median)
off_p=$(echo "${p99[off]}" | median); on_p=$(echo "${p99[on]}" | median)
say ""
say "median off: $off_r req/s, p99 $off_p ms; median on: $on_r req/s, p99 $on_p ms"
awk -v a="$off_r" -v b="$on_r" -v c="$off_p" -v d="$on_p" 'BEGIN {
  t = a / b; l = d / c
  printf "cost of budgets: throughput off/on %.2fx, p99 on/off %.2fx (target <= 1.5x each): %s\n", t, l, (t <= 1.5 && l <= 1.5) ? "met" : "MISSED"
}' | tee -a "$report"
