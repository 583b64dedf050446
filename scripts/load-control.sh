#!/usr/bin/env bash
# Load test of the enforcement point on loopback (not part of `make test`):
# POST /api/authorize with a mix of whitelisted and other command types
# (scripts/bench/authorize.lua), wrk for 30 s at two connection counts.
# Every decision is logged durably before it is answered, so after each run
# the script checks that none was lost: the decisions counted in /metrics
# and the rows in the SQLite `decisions` table must each have grown by at
# least the number of requests wrk completed, and no response may be other
# than 200. The target is >= 20,000 req/s with p99 <= 5 ms; a miss is
# reported, a lost decision or a non-200 answer fails the script.
# Release build; one server on an empty temporary database. Results go to
# stdout and to target/load/control.txt.
#   LOAD_DURATION (30s), LOAD_RUNS ("2:16 2:64", threads:connections, with the
#   admin token, bound to no agent), LOAD_BOUND_RUN ("2:64", with a token bound
#   to agent-1), LOAD_PORT (4018)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-plugins.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
cargo build --release --quiet -p regent-host --bin regent

out=target/load; mkdir -p "$out"; work=$(mktemp -d)
port=${LOAD_PORT:-4018}; token=load-test-admin; base="http://127.0.0.1:$port"
duration=${LOAD_DURATION:-30s}; runs=${LOAD_RUNS:-"2:16 2:64"}
db="$work/regent.db"
# Adopted at L4 30 days ago: only a proposal raises a running program's phase.
printf 'initial_phase = "L4"\nphase_started_at = "%s"\n' "$(date -u -d '30 days ago' +%FT%TZ)" > "$work/regent.toml"
REGENT_ADMIN_TOKEN=$token GOVERNANCE_DB_PATH="$db" PORT=$port RUST_LOG=warn \
  CIRCUIT_BREAKER_CHECK_INTERVAL=60000 \
  target/release/regent serve --config "$work/regent.toml" --plugins-dir target/plugins --cache-dir "$work/cache" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done

report="$out/control.txt"; : > "$report"
say() { echo "$*" | tee -a "$report"; }
auth="Authorization: Bearer $token"
json="Content-Type: application/json"

# The sum of regent_authorize_decisions_total over every decision label.
metric_total() {
  curl -fs "$base/metrics" | awk '/^regent_authorize_decisions_total\{/ {s += $2} END {printf "%d\n", s}'
}
# Rows in the decision log, read from the SQLite file itself.
db_rows() {
  python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); print(c.execute("SELECT count(*) FROM decisions").fetchone()[0])' "$db"
}
# The server's CPU time so far, in clock ticks (utime + stime).
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }

say "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD)"
say "phase L4 from the config's initial_phase (whitelist: SET_POWER SET_FAN SET_DRUM SET_AIRFLOW)"
for c in SET_POWER PREHEAT; do
  say "  $c -> $(curl -fsS -X POST -H "$auth" -H "$json" -d "{\"commandType\":\"$c\"}" "$base/api/authorize")"
done

failed=0; hz=$(getconf CLK_TCK)
# One wrk run of authorize.lua with `token`: the figures, the CPU, and the
# checks that no decision was lost and every answer was a 200.
run_load() {
  local label=$1 token=$2 t=$3 c=$4
  say ""
  say "## POST /api/authorize, mixed command types, $label (wrk -t$t -c$c -d$duration --latency)"
  m0=$(metric_total); r0=$(db_rows); k0=$(server_ticks)
  wrk -t"$t" -c"$c" -d"$duration" --latency -H "Authorization: Bearer $token" -s scripts/bench/authorize.lua \
    "$base/api/authorize" > "$work/wrk.txt" &
  wrk_pid=$!
  # Halfway through, where the CPU goes: the server's threads and wrk's.
  secs=${duration%s}; sleep $((secs / 2))
  top -b -H -n2 -d3 -p "$server,$wrk_pid" > "$work/top.txt" || true
  wait $wrk_pid
  k1=$(server_ticks)
  tee -a "$report" < "$work/wrk.txt"
  say "### CPU halfway (top -H, second sample, busiest threads; 2 cores = 200%; the row with the server's PID, named regent, is its process total)"
  awk '/^top -/ {n++} n == 2' "$work/top.txt" | awk '/PID USER/ {p = 1} p' | head -12 | tee -a "$report"
  sleep 1 # answers in flight when wrk stopped are still logged
  m1=$(metric_total); r1=$(db_rows)
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  rps=$(awk '/^req_per_s:/ {print $2}' "$work/wrk.txt")
  p99=$(awk '/^p99_ms:/ {print $2}' "$work/wrk.txt")
  non200=$(awk '/^non_200:/ {print $2}' "$work/wrk.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt"); non2xx=${non2xx:-0}
  say "### checks"
  say "requests completed by wrk:          $requests"
  say "decisions in /metrics (this run):   $((m1 - m0))  (total $m1)"
  say "rows in decisions table (this run): $((r1 - r0))  (total $r1)"
  say "non-200 responses (Lua): $non200; wrk Non-2xx/3xx: $non2xx"
  say "server CPU: $(awk -v k=$((k1 - k0)) -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.1f s, %.1f us per request", k / hz, k / hz / n * 1e6}')"
  if (( m1 - m0 < requests || r1 - r0 < requests )); then say "FAIL: decisions lost"; failed=1; fi
  if (( non200 != 0 || non2xx != 0 )); then say "FAIL: non-200 responses"; failed=1; fi
  if awk -v r="$rps" -v p="$p99" 'BEGIN {exit !(r >= 20000 && p <= 5)}'; then
    say "target (>= 20,000 req/s, p99 <= 5 ms): met ($rps req/s, p99 $p99 ms)"
  else
    say "target (>= 20,000 req/s, p99 <= 5 ms): MISSED ($rps req/s, p99 $p99 ms)"
  fi
}

for run in $runs; do
  run_load "a token bound to no agent" "$token" "${run%%:*}" "${run##*:}"
done

# The same load from an agent-bound token: the binding is resolved from the
# token and the per-agent brakes are checked on every call.
curl -fsS -X POST -H "$auth" -H "$json" \
  -d '{"id":"agent-1","capabilities":["ops:fix"],"costPerHour":1,"reputation":0.9,"budget":100}' \
  "$base/api/agents" >/dev/null
bound=$(curl -fsS -X POST -H "$auth" -H "$json" \
  -d '{"name":"agent-1-token","roles":["reporter"],"agentId":"agent-1"}' "$base/api/tokens" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
bound_run=${LOAD_BOUND_RUN:-2:64}
AUTHORIZE_AGENT=agent-1 run_load "an agent-bound token" "$bound" "${bound_run%%:*}" "${bound_run##*:}"
exit $failed
