#!/usr/bin/env bash
# Load test of hot swaps (not part of `make test`): plugins are swapped while
# the service is under sustained load, and no request may fail.
#   1. Fresh uploads: swap-item 1.0.0 (a checklist item) and swap-breaker
#      1.0.0 (a breaker condition), each uploaded and activated in one
#      PUT /api/plugins/{name}: upload-to-live as the client sees it (curl)
#      and as the server measures it (activation.elapsedMs). Their 2.0.0
#      (target/fixtures/v2) are uploaded with ?activate=false, and a breaker
#      rule "Swapped" is created on swap-breaker.
#   2. Activations of stored versions on an idle server
#      (POST /api/plugins/{name}/activate).
#   3. Baseline: two wrk in parallel for LOAD_DURATION, POST /api/authorize
#      (scripts/bench/authorize.lua) and GET /api/readiness/current (the whole
#      checklist through Wasm, scripts/bench/readiness.lua), after a short
#      warm-up.
#   4. The same two wrk runs while a loop activates swap-item 2.0.0/1.0.0
#      and swap-breaker 2.0.0/1.0.0 in turn, one activation every
#      SWAP_INTERVAL seconds plus its own time, for the whole run; after each
#      return of swap-breaker to 1.0.0 the unresolved "Swapped" breaker
#      events are resolved, so that the next 2.0.0 can trip again.
#   5. The baseline again, to tell swap effects from drift (the database
#      grows by every decision and every assessment).
# Version 1.0.0 of swap-item passes and 2.0.0 fails; each readiness reply's
# swap-item line must match its pluginVersion (a mismatch would be a reply
# decided by two versions). swap-breaker 1.0.0 never trips and 2.0.0 always
# does; the breaker loop runs every SWAP_BREAKER_INTERVAL ms, so every
# "Swapped" event must carry pluginVersion 2.0.0.
# Failures (exit 1): any answer other than 200 or socket error in any wrk
# run, any activation not answered 200, a torn readiness reply, a "Swapped"
# event from a version other than 2.0.0, fewer than SWAP_MIN swaps.
# Reported, not failures: p99 during swaps above 2x the baseline's, a fresh
# upload-to-live above 100 ms.
# Release build; one server on an empty temporary database. Results go to
# stdout and to target/load/swap.txt.
#   LOAD_DURATION (30s, in seconds), LOAD_PORT (4019),
#   SWAP_AUTHORIZE_CONNECTIONS (8), SWAP_READINESS_CONNECTIONS (4),
#   SWAP_INTERVAL (0.2 s between activations), SWAP_MIN (50),
#   SWAP_IDLE_ROUNDS (5), SWAP_BREAKER_INTERVAL (200 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-plugins.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq >/dev/null; }
cargo build --release --quiet -p regent-host --bin regent

out=target/load; mkdir -p "$out"; work=$(mktemp -d)
port=${LOAD_PORT:-4019}; token=load-swap-admin; base="http://127.0.0.1:$port"
duration=${LOAD_DURATION:-30s}; secs=${duration%s}
if ! [[ $secs =~ ^[0-9]+$ ]] || (( secs < 5 )); then
  echo "LOAD_DURATION must be whole seconds, at least 5 (e.g. 30s)" >&2; exit 2
fi
auth_conns=${SWAP_AUTHORIZE_CONNECTIONS:-8}; ready_conns=${SWAP_READINESS_CONNECTIONS:-4}
interval=${SWAP_INTERVAL:-0.2}; min_swaps=${SWAP_MIN:-50}
idle_rounds=${SWAP_IDLE_ROUNDS:-5}; check_ms=${SWAP_BREAKER_INTERVAL:-200}
fixtures=target/fixtures; fixtures_v2=target/fixtures/v2
db="$work/regent.db"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Adopted at L4 30 days ago: only a proposal raises a running program's phase.
printf 'initial_phase = "L4"\nphase_started_at = "%s"\n' "$(date -u -d '30 days ago' +%FT%TZ)" > "$work/regent.toml"
REGENT_ADMIN_TOKEN=$token GOVERNANCE_DB_PATH="$db" PORT=$port RUST_LOG=warn \
  CIRCUIT_BREAKER_CHECK_INTERVAL=$check_ms \
  target/release/regent serve --config "$work/regent.toml" --plugins-dir target/plugins --cache-dir "$work/cache" > "$work/server.log" 2>&1 &
server=$!
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done

report="$out/swap.txt"; : > "$report"
say() { echo "$*" | tee -a "$report"; }
auth="Authorization: Bearer $token"
json="Content-Type: application/json"
failed=0
fail() { say "FAIL: $*"; failed=1; }
# Milliseconds from curl's seconds.
ms() { awk -v s="$1" 'BEGIN {printf "%.1f", s * 1000}'; }
# The server's CPU time so far, in clock ticks (utime + stime).
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
hz=$(getconf CLK_TCK)

say "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host 2>/dev/null || echo ' (host/ has uncommitted changes)')"
say "load average before the server started: $load_before"
say "phase L4 from the config's initial_phase (for authorize.lua's whitelisted command types)"

# --- 1. fresh uploads -------------------------------------------------------
say ""
say "## 1. fresh uploads (PUT /api/plugins/{name}, server idle, empty compile cache)"
# upload NAME DIR ACTIVATE: prints "curl_ms server_elapsed_ms activation_elapsed_ms".
upload() {
  local name=$1 dir=$2 activate=$3 body="$work/upload-$1-$3.json" res
  res=$(curl -sS -o "$body" -w '%{http_code} %{time_total}' -X PUT -H "$auth" \
    -F "wasm=@$dir/$name.wasm" -F "manifest=<$dir/$name.toml" \
    "$base/api/plugins/$name?activate=$activate") || true
  if [ "${res%% *}" != 200 ]; then
    echo "FAIL: upload of $dir/$name.wasm (activate=$activate) answered ${res%% *}: $(head -c 400 "$body")" | tee -a "$report" >&2
    exit 1
  fi
  echo "$(ms "${res#* }") $(jq -r '"\(.elapsedMs) \(.activation.elapsedMs // "-")"' "$body")"
}
fresh_line() { # LABEL "curl server activation"
  local c s a; read -r c s a <<<"$2"
  [ "$a" = - ] || a=$(printf '%.1f' "$a")
  printf '%-42s curl %8.1f ms   server elapsedMs %8.1f   activation.elapsedMs %8s\n' "$1" "$c" "$s" "$a"
}
verdict() { awk -v x="$1" 'BEGIN {print (x <= 100 ? "met" : "MISSED")}'; }
fresh_item=$(upload swap-item "$fixtures" true)
fresh_breaker=$(upload swap-breaker "$fixtures" true)
stored_item=$(upload swap-item "$fixtures_v2" false)
stored_breaker=$(upload swap-breaker "$fixtures_v2" false)
{
  fresh_line "swap-item 1.0.0, ?activate=true" "$fresh_item"
  fresh_line "swap-breaker 1.0.0, ?activate=true" "$fresh_breaker"
  fresh_line "swap-item 2.0.0, ?activate=false" "$stored_item"
  fresh_line "swap-breaker 2.0.0, ?activate=false" "$stored_breaker"
  for f in "swap-item $fresh_item" "swap-breaker $fresh_breaker"; do
    read -r n c _ a <<<"$f"; a=$(printf '%.1f' "$a")
    echo "  $n 1.0.0 upload-to-live <= 100 ms: server (activation.elapsedMs) $a ms: $(verdict "$a"); client (curl) $c ms: $(verdict "$c")"
  done
  echo "  wasm sizes: swap-item $(stat -c %s "$fixtures/swap-item.wasm") B, swap-breaker $(stat -c %s "$fixtures/swap-breaker.wasm") B"
} | tee -a "$report"
curl -fsS -X POST -H "$auth" -H "$json" \
  -d '{"name":"Swapped","enabled":true,"condition":"any","plugin":"swap-breaker","window":"5m","action":"alert_only","alertSeverity":"HIGH"}' \
  "$base/api/circuit-breaker/rules" >/dev/null
say "breaker rule \"Swapped\" on swap-breaker created (checked every $check_ms ms)"

# --- activations ------------------------------------------------------------
acts="$work/activations.txt"; : > "$acts"; mkdir -p "$work/act"
seq_no=0; act_failures=0
declare -A swaps_made=([swap-item]=1 [swap-breaker]=1)   # the fresh uploads
# activate PHASE NAME VERSION: one POST activate; its body is kept for later.
# Back to 1.0.0 after 2.0.0 served is a downgrade, which takes force.
activate() {
  local res force=false
  [ "$3" = 1.0.0 ] && force=true
  seq_no=$((seq_no + 1))
  res=$(curl -sS -o "$work/act/$seq_no.json" -w '%{http_code} %{time_total}' -X POST -H "$auth" -H "$json" \
    -d "{\"version\":\"$3\"}" "$base/api/plugins/$2/activate?force=$force") || res="000 0"
  printf '%s %s %s %s %s %s\n' "$1" "$seq_no" "$2" "$3" "${res%% *}" "${res#* }" >> "$acts"
  if [ "${res%% *}" != 200 ]; then
    act_failures=$((act_failures + 1))
    echo "activation $2@$3 answered ${res%% *}: $(head -c 300 "$work/act/$seq_no.json")" >> "$work/act-errors.txt"
  else
    swaps_made[$2]=$((${swaps_made[$2]} + 1))
  fi
}
resolved=0
# Resolves every unresolved "Swapped" event, so that the next 2.0.0 trips anew.
resolve_swapped() {
  local id
  for id in $(curl -fsS -H "$auth" "$base/api/circuit-breaker/events/unresolved" | jq -r '.[] | select(.ruleName == "Swapped") | .id'); do
    curl -fsS -o /dev/null -X POST -H "$auth" -H "$json" -d '{"resolution":"load-swap: swap-breaker back on 1.0.0"}' \
      "$base/api/circuit-breaker/events/$id/resolve" && resolved=$((resolved + 1))
  done
}
# One step of the swap cycle: item 2, breaker 2, item 1, breaker 1 (+ resolve).
swap_step() {
  case $(( $2 % 4 )) in
    0) activate "$1" swap-item 2.0.0 ;;
    1) activate "$1" swap-breaker 2.0.0 ;;
    2) activate "$1" swap-item 1.0.0 ;;
    3) activate "$1" swap-breaker 1.0.0; resolve_swapped ;;
  esac
}

say ""
say "## 2. activations of stored versions, server idle ($idle_rounds rounds of the 4-step cycle)"
for (( i = 0; i < 4 * idle_rounds; i++ )); do swap_step idle "$i"; sleep 0.05; done
say "idle activations: $(grep -c '^idle ' "$acts"), not 200: $act_failures"

readiness_sample() { # LABEL
  curl -fsS -H "$auth" "$base/api/readiness/current" > "$work/ready.json"
  say "$1: pluginGeneration $(jq -r .pluginGeneration "$work/ready.json"), $(jq -r '.items | length' "$work/ready.json") items, swap-item: $(jq -c '.items[] | select(.id == "swap-item") | {passed, pluginVersion, detail}' "$work/ready.json")"
  jq -r .pluginGeneration "$work/ready.json" > "$work/generation"
}
say ""
readiness_sample "readiness before the load"
gen_before=$(cat "$work/generation")

# --- load -------------------------------------------------------------------
# run_wrk PHASE DURATION: both wrk in the background; their pids in wrk_pids.
run_wrk() {
  wrk -t1 -c"$auth_conns" -d"$2" --timeout 5s --latency -H "$auth" -s scripts/bench/authorize.lua \
    "$base/api/authorize" > "$work/$1-authorize.txt" &
  wrk_a=$!
  wrk -t1 -c"$ready_conns" -d"$2" --timeout 5s --latency -H "$auth" -s scripts/bench/readiness.lua \
    "$base/api/readiness/current" > "$work/$1-readiness.txt" &
  wrk_r=$!
  pids=("$wrk_a" "$wrk_r")
}
wait_wrk() { wait "$wrk_a"; wait "$wrk_r"; pids=(); }
val() { awk -v k="$2:" '$1 == k {print $2}' "$1"; }
declare -A cpu
check_run() { # PHASE: fails on any non-200 or socket error
  local f bad sock non2xx
  for f in "$work/$1-authorize.txt" "$work/$1-readiness.txt"; do
    bad=$(val "$f" non_200); sock=$(val "$f" socket_errors)
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$f"); non2xx=${non2xx:-0}
    if [ -z "$bad" ]; then fail "$1: wrk printed no figures: $(head -c 400 "$f")"; continue; fi
    if (( bad != 0 || sock != 0 || non2xx != 0 )); then
      fail "$1 $(basename "$f" .txt): non-200 $bad, Non-2xx/3xx $non2xx, socket errors $sock $(grep first_non_200 "$f" || true)"
    fi
    if [ "$(val "$f" swap_item_torn)" != "" ] && (( $(val "$f" swap_item_torn) + $(val "$f" swap_item_missing) != 0 )); then
      fail "$1: readiness replies whose swap-item verdict does not match its version: $(val "$f" swap_item_torn), without swap-item: $(val "$f" swap_item_missing) $(grep first_torn "$f" || true)"
    fi
  done
}
load_phase() { # PHASE TITLE
  say ""
  say "## $2 (wrk -t1 -c$auth_conns POST /api/authorize + wrk -t1 -c$ready_conns GET /api/readiness/current, $duration, in parallel)"
  local k0; k0=$(server_ticks)
  run_wrk "$1" "$duration"
  if [ "$1" = swaps ]; then
    # Swaps from 0.5 s after wrk starts to about 1.5 s before it stops, in
    # whole cycles, so both plugins are back on 1.0.0 at the end.
    local t0 end i=0
    t0=$EPOCHREALTIME; end=$(( ${t0/./} + secs * 1000000 - 1500000 ))
    sleep 0.5
    while (( ${EPOCHREALTIME/./} < end || i % 4 != 0 )); do
      swap_step swaps "$i"; i=$((i + 1))
      sleep "$interval"
    done
    swap_span=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
  fi
  wait_wrk
  cpu[$1]=$(( $(server_ticks) - k0 ))
  check_run "$1"
}

say ""
say "## warm-up (5 s, not reported)"
run_wrk warmup 5s; wait_wrk; check_run warmup
load_phase baseline "3. baseline, no swaps"
load_phase swaps "4. with swaps"
say "swaps during the run: $(grep -c '^swaps ' "$acts") in ${swap_span} s (one every ${interval} s plus the activation's own time), not 200: $act_failures; breaker events resolved so far: $resolved"
load_phase after "5. baseline again, no swaps"
sleep 1

readiness_sample "readiness after the load"
gen_after=$(cat "$work/generation")
n_swaps=$(grep -c '^swaps ' "$acts")
# Swaps between the two samples: those of the loop (the idle ones came before).
if (( gen_after - gen_before == n_swaps )); then
  say "pluginGeneration moved $gen_before -> $gen_after: +$((gen_after - gen_before)), one per swap of the loop ($n_swaps)"
else
  say "NOTE: pluginGeneration moved $gen_before -> $gen_after (+$((gen_after - gen_before))), but the loop made $n_swaps swaps"
fi

# --- report -----------------------------------------------------------------
say ""
say "## per run"
{
  printf '%-28s %-9s %9s %9s %9s %9s %9s %8s %8s\n' endpoint run requests req/s p50_ms p99_ms max_ms non-2xx sockerr
  for ep in authorize readiness; do
    for phase in baseline swaps after; do
      f="$work/$phase-$ep.txt"
      non2xx=$(awk '/Non-2xx/ {print $NF}' "$f"); non2xx=${non2xx:-0}
      printf '%-28s %-9s %9s %9s %9s %9s %9s %8s %8s\n' \
        "$([ $ep = authorize ] && echo 'POST /api/authorize' || echo 'GET /api/readiness/current')" "$phase" \
        "$(val "$f" requests_completed)" "$(val "$f" req_per_s)" "$(val "$f" p50_ms)" "$(val "$f" p99_ms)" \
        "$(val "$f" max_ms)" "$(( $(val "$f" non_200) + non2xx ))" "$(val "$f" socket_errors)"
    done
  done
  for phase in baseline swaps after; do
    f="$work/$phase-readiness.txt"
    echo "readiness replies by swap-item version, $phase: 1.0.0 (passed) $(val "$f" swap_item_v1), 2.0.0 (failed) $(val "$f" swap_item_v2), torn $(val "$f" swap_item_torn), without swap-item $(val "$f" swap_item_missing)"
  done
  for phase in baseline swaps after; do
    echo "server CPU, $phase: $(awk -v k="${cpu[$phase]}" -v hz="$hz" -v d="$secs" -v n="$(nproc)" 'BEGIN {printf "%.1f s (%.0f%% of one core; %d cores, shared with both wrk)", k / hz, k / hz / d * 100, n}')"
  done
} | tee -a "$report"

say ""
say "## p99 during swaps vs. without (target: during swaps <= 2x baseline)"
for ep in authorize readiness; do
  b=$(val "$work/baseline-$ep.txt" p99_ms); s=$(val "$work/swaps-$ep.txt" p99_ms); a=$(val "$work/after-$ep.txt" p99_ms)
  name=$([ $ep = authorize ] && echo 'POST /api/authorize' || echo 'GET /api/readiness/current')
  awk -v n="$name" -v b="$b" -v s="$s" -v a="$a" 'BEGIN {
    r = s / b; r2 = s / a
    printf "%-28s baseline %8.3f ms   swaps %8.3f ms   ratio %5.2fx  %s   (baseline again %8.3f ms, ratio %5.2fx)\n",
      n, b, s, r, (r <= 2 ? "met" : "MISSED"), a, r2 }' | tee -a "$report"
done

say ""
say "## activation times (POST /api/plugins/{name}/activate; server: elapsedMs, request start to new version serving; client: curl time_total)"
python3 - "$acts" "$work/act" <<'EOF' | tee -a "$report"
import json, math, sys
acts, bodies = sys.argv[1], sys.argv[2]
rows = {}
for line in open(acts):
    phase, seq, name, version, code, total = line.split()
    if code != "200":
        continue
    body = json.load(open(f"{bodies}/{seq}.json"))
    rows.setdefault(phase, []).append((name, float(body["elapsedMs"]), float(total) * 1000))
def stats(xs):
    xs = sorted(xs); n = len(xs)
    med = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    p99 = xs[max(0, math.ceil(0.99 * n) - 1)]
    return f"median {med:7.2f}  p99 {p99:7.2f}  max {xs[-1]:7.2f} ms"
for phase, title in (("idle", "server idle"), ("swaps", "during the load")):
    r = rows.get(phase, [])
    if not r:
        print(f"{title}: none"); continue
    for who in (None, "swap-item", "swap-breaker"):
        sel = [x for x in r if who is None or x[0] == who]
        label = f"{title}, {who or 'all'} (n={len(sel)})"
        print(f"{label:42s} server {stats([x[1] for x in sel])}")
        print(f"{'':42s} client {stats([x[2] for x in sel])}")
EOF
if (( act_failures != 0 )); then fail "$act_failures activations not answered 200:"; tee -a "$report" < "$work/act-errors.txt"; fi
if (( n_swaps < min_swaps )); then fail "only $n_swaps swaps during the load (at least $min_swaps wanted)"; fi

say ""
say "## breaker events of rule \"Swapped\" (GET /api/circuit-breaker/events?limit=1000)"
curl -fsS -H "$auth" "$base/api/circuit-breaker/events?limit=1000" > "$work/events.json"
n_events=$(jq '[.[] | select(.ruleName == "Swapped")] | length' "$work/events.json")
not_v2=$(jq '[.[] | select(.ruleName == "Swapped" and .pluginVersion != "2.0.0")] | length' "$work/events.json")
say "events: $n_events (resolved by this script: $resolved), by plugin version: $(jq -c '[.[] | select(.ruleName == "Swapped") | .pluginVersion] | group_by(.) | map({(.[0]): length}) | add // {}' "$work/events.json")"
if (( n_events == 0 )); then say "NOTE: swap-breaker 2.0.0 never tripped"; fi
if (( not_v2 != 0 )); then fail "$not_v2 \"Swapped\" events from a version other than 2.0.0 (1.0.0 never trips)"; fi

say ""
say "## /metrics: regent_plugin_swaps_total"
curl -fsS "$base/metrics" > "$work/metrics.txt"
grep '^regent_plugin_swaps_total' "$work/metrics.txt" | tee -a "$report" || fail "no regent_plugin_swaps_total in /metrics"
for name in swap-item swap-breaker; do
  counted=$(awk -v p="regent_plugin_swaps_total{plugin=\"$name\"}" '$1 == p {print $2}' "$work/metrics.txt")
  if [ "$counted" = "${swaps_made[$name]}" ]; then
    say "$name: $counted in /metrics, as many as this script made active (fresh upload included)"
  else
    say "NOTE: $name: ${counted:-none} in /metrics, but this script made ${swaps_made[$name]} versions active (fresh upload included)"
  fi
done

say ""
say "## server log (RUST_LOG=warn)"
sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" > "$work/server.txt"
say "lines: $(wc -l < "$work/server.txt"), of which \"circuit breaker tripped\": $(grep -c 'circuit breaker tripped' "$work/server.txt" || true), ERROR: $(grep -c ' ERROR ' "$work/server.txt" || true)"
grep ' ERROR ' "$work/server.txt" | head -n 10 | tee -a "$report" || true

say ""
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if (( failed == 0 )); then say "result: PASS (no failed request, no failed activation)"; else say "result: FAIL"; fi
exit $failed
