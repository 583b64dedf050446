#!/usr/bin/env bash
# Authorize against its floor, in one run of one release server:
# wrk on GET /health, then on POST /api/authorize (authorize.lua), each
# BENCH_REPEAT times, alternating, so both see the same machine state.
# Builds nothing: it expects target/release/regent and target/plugins.
#   BENCH_DURATION (20s), BENCH_CONNS (16), BENCH_REPEAT (2), BENCH_PORT (4019)
#   BENCH_PERF=1 then records `perf record -g` of the server during one
#   more authorize run (not counted), into target/load/authorize.perf.data.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
port=${BENCH_PORT:-4019}; token=load-test-admin; base="http://127.0.0.1:$port"
duration=${BENCH_DURATION:-20s}; conns=${BENCH_CONNS:-16}; repeat=${BENCH_REPEAT:-2}
out=target/load; mkdir -p "$out"
printf 'initial_phase = "L4"\nphase_started_at = "%s"\n' "$(date -u -d '30 days ago' +%FT%TZ)" > "$work/regent.toml"
REGENT_ADMIN_TOKEN=$token GOVERNANCE_DB_PATH="$work/regent.db" PORT=$port RUST_LOG=warn \
  CIRCUIT_BREAKER_CHECK_INTERVAL=60000 \
  target/release/regent serve --config "$work/regent.toml" --plugins-dir target/plugins --cache-dir "$work/cache" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 150); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done
curl -fsS -X POST -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  -d '{"commandType":"SET_POWER"}' "$base/api/authorize"; echo

# One wrk run; prints "label req/s p99_ms".
run() {
  local label=$1; shift
  wrk -t2 -c"$conns" -d"$duration" --latency "$@" > "$work/wrk.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' "$work/wrk.txt")
  if grep -q "Non-2xx" "$work/wrk.txt"; then echo "FAIL: non-2xx in $label"; grep Non-2xx "$work/wrk.txt"; fi
  echo "$label $rps $p99"
}
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD), -c$conns $duration"
for i in $(seq "$repeat"); do
  h0=$(server_ticks)
  line=$(run "health#$i" "$base/health")
  h1=$(server_ticks)
  n=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
  echo "$line cpu_us_per_req=$(awk -v k=$((h1 - h0)) -v hz="$(getconf CLK_TCK)" -v rps="$n" -v d="${duration%s}" 'BEGIN {printf "%.1f", k / hz / (rps * d) * 1e6}')"
  k0=$(server_ticks)
  line=$(run "authorize#$i" -H "Authorization: Bearer $token" -s scripts/bench/authorize.lua "$base/api/authorize")
  k1=$(server_ticks)
  n=$(awk '/^requests_completed:/ {print $2}' "$work/wrk.txt")
  bad=$(awk '/^non_200:/ {print $2}' "$work/wrk.txt")
  echo "$line cpu_us_per_req=$(awk -v k=$((k1 - k0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN {printf "%.1f", k / hz / n * 1e6}') non_200=$bad"
done
if [[ ${BENCH_PERF:-} == 1 ]]; then
  perf record -F 999 -g -p "$server" -o "$out/authorize.perf.data" -- sleep "${duration%s}" 2>"$work/perf.err" &
  perf_pid=$!
  run "authorize(perf)" -H "Authorization: Bearer $token" -s scripts/bench/authorize.lua "$base/api/authorize"
  wait "$perf_pid" || cat "$work/perf.err"
fi
