#!/usr/bin/env bash
# Replicas on PostgreSQL under load, in one run (`make load-cluster`; not
# part of `make test`; docs/benchmarks.md, "Replicas on PostgreSQL"):
#   1. POST /api/authorize throughput and p99 (wrk, scripts/bench/authorize.lua)
#      a. one replica on SQLite,
#      b. one replica on PostgreSQL,
#      c. two replicas on one PostgreSQL database, wrk's threads spread
#         over both (scripts/bench/spread.lua),
#      each alone on the machine, each on a fresh store.
#   2. Propagation between the two replicas of (c), idle: an emergency
#      stop and its resume, and a plugin activation, committed through one
#      and measured at the first decision of the other that reflects it
#      (scripts/bench/propagation.py): p50, p99 and max over
#      LOAD_CHANGES changes of each kind.
#   3. The decision log under `kill -9`: load spread over both replicas,
#      each acknowledged decision id recorded by the load generator; halfway
#      through one replica is killed; afterwards every recorded id must be
#      in the `decisions` table.
# Failures (exit 1): a non-200 answer in 1 (other than from the killed
# replica in 3), an acknowledged decision missing from the log, a probe
# that never sees a change. Reported, not failures: the issue's goal of
# p99 propagation <= 100 ms.
# Needs PostgreSQL: REGENT_TEST_DATABASE_URL's server, else 127.0.0.1:5432
# (scripts/setup.sh makes sure of one); each store is a database of its own,
# dropped at the end. Release build. Results go to stdout and to
# target/load/cluster.txt.
#   LOAD_DURATION (20s), LOAD_THREADS (2), LOAD_CONNECTIONS (32),
#   LOAD_CHANGES (200), LOAD_KILL_DURATION (20s), LOAD_PORT (4031: it and
#   the next three)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-plugins.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
command -v psql >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client >/dev/null; }
cargo build --release --quiet -p regent-host --bin regent

out=target/load; mkdir -p "$out"; work=$(mktemp -d)
port0=${LOAD_PORT:-4031}; token=load-cluster-admin
duration=${LOAD_DURATION:-20s}; threads=${LOAD_THREADS:-2}; conns=${LOAD_CONNECTIONS:-32}
changes=${LOAD_CHANGES:-200}; kill_duration=${LOAD_KILL_DURATION:-20s}
kill_secs=${kill_duration%s}
if ! [[ $kill_secs =~ ^[0-9]+$ ]] || (( kill_secs < 4 )); then
  echo "LOAD_KILL_DURATION must be whole seconds, at least 4 (e.g. 20s)" >&2; exit 2
fi
if (( threads % 2 != 0 )); then
  echo "LOAD_THREADS must be even: wrk's threads are split between two replicas" >&2; exit 2
fi
server_url=${REGENT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# Adopted at L4 30 days ago: authorize.lua's mix has whitelisted types.
printf 'initial_phase = "L4"\nphase_started_at = "%s"\n' "$(date -u -d '30 days ago' +%FT%TZ)" > "$work/regent.toml"

pids=(); databases=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for d in "${databases[@]}"; do psql "$server_url" -qAtc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

report="$out/cluster.txt"; : > "$report"
say() { echo "$*" | tee -a "$report"; }
failed=0
fail() { say "FAIL: $*"; failed=1; }
auth="Authorization: Bearer $token"
json="Content-Type: application/json"

# `url` with its database replaced by $1 (the query, if any, kept).
database_url() {
  python3 - "$server_url" "$1" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + sys.argv[2], u.query, u.fragment)))
PY
}
# new_database LABEL: creates it (dropped at exit); sets $db_url.
new_database() {
  local name="regent_load_$1_$$"
  psql "$server_url" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $name" >/dev/null
  databases+=("$name")
  db_url=$(database_url "$name")
}

# start NAME PORT [serve args...]: a release replica, its log in $work; sets $pid.
start() {
  local name=$1 port=$2; shift 2
  mkdir -p "$work/$name"
  REGENT_ADMIN_TOKEN=$token PORT=$port RUST_LOG=warn CIRCUIT_BREAKER_CHECK_INTERVAL=60000 \
    target/release/regent serve --config "$work/regent.toml" --plugins-dir target/plugins \
    --cache-dir "$work/$name/cache" --db "$work/$name/regent.db" "$@" > "$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  say "FAIL: $name did not become ready:"; tail -20 "$work/$name.log" | tee -a "$report"
  exit 1
}
stop() { kill "$@" 2>/dev/null || true; for p in "$@"; do wait "$p" 2>/dev/null || true; done; }
ticks() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$s"; }
hz=$(getconf CLK_TCK)

# load LABEL PORTS PIDS...: wrk on authorize.lua, threads spread over PORTS
# (comma-separated); prints and records req/s and p99, checks every answer.
load() {
  local label=$1 ports=$2; shift 2
  local k0 k1
  k0=$(ticks "$@")
  REPLICA_PORTS=$ports wrk -t"$threads" -c"$conns" -d"$duration" --latency -H "$auth" \
    -s scripts/bench/spread.lua "http://127.0.0.1:${ports%%,*}/api/authorize" > "$work/wrk.txt"
  k1=$(ticks "$@")
  local rps p50 p99 n bad errors
  rps=$(awk '/^req_per_s:/ {print $2}' "$work/wrk.txt")
  p50=$(awk '/^p50_ms:/ {print $2}' "$work/wrk.txt")
  p99=$(awk '/^p99_ms:/ {print $2}' "$work/wrk.txt")
  n=$(awk '/^requests_completed:/ {print $2}' "$work/wrk.txt")
  bad=$(awk '/^non_200:/ {print $2}' "$work/wrk.txt")
  errors=$(awk '/^socket_errors:/ {print $2}' "$work/wrk.txt")
  printf '%-44s %8s req/s  p50 %7s ms  p99 %7s ms  server CPU %5.1f us/req  non-200 %s  socket errors %s\n' \
    "$label" "$rps" "$p50" "$p99" "$(awk -v k=$((k1 - k0)) -v hz="$hz" -v n="$n" 'BEGIN {print k / hz / n * 1e6}')" \
    "$bad" "$errors" | tee -a "$report"
  if (( bad != 0 || errors != 0 )); then
    fail "$label: $(awk '/^first_non_200:/' "$work/wrk.txt")"
  fi
}

say "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host 2>/dev/null || echo ' (host/ has uncommitted changes)')"
say "PostgreSQL: $(psql "$server_url" -qAtc 'SHOW server_version'), synchronous_commit=$(psql "$server_url" -qAtc 'SHOW synchronous_commit'), on this machine"
say "wrk -t$threads -c$conns -d$duration, scripts/bench/authorize.lua (mixed command types, phase L4)"
say ""
say "## 1. POST /api/authorize"

start sqlite $port0
load "a. one replica, SQLite" "$port0" "$pid"
stop "$pid"

new_database one
start pg-one $((port0 + 1)) --database-url "$db_url"
load "b. one replica, PostgreSQL" "$((port0 + 1))" "$pid"
stop "$pid"

new_database pair; pair_url=$db_url
a_port=$((port0 + 2)); b_port=$((port0 + 3))
start pg-a $a_port --database-url "$pair_url"; a_pid=$pid
start pg-b $b_port --database-url "$pair_url"; b_pid=$pid
load "c. two replicas, one PostgreSQL database" "$a_port,$b_port" "$a_pid" "$b_pid"

say ""
say "## 2. Propagation from replica A to replica B (idle; $changes changes of each kind; ms from just before the change was sent to A)"
curl -fsS -o /dev/null -X PUT -H "$auth" -F "wasm=@target/fixtures/swap-item.wasm" \
  -F "manifest=<target/fixtures/swap-item.toml" "http://127.0.0.1:$a_port/api/plugins/swap-item?activate=true"
curl -fsS -o /dev/null -X PUT -H "$auth" -F "wasm=@target/fixtures/v2/swap-item.wasm" \
  -F "manifest=<target/fixtures/v2/swap-item.toml" "http://127.0.0.1:$a_port/api/plugins/swap-item?activate=false"
for kind in stop plugin; do
  if python3 scripts/bench/propagation.py "$kind" "$a_port" "$b_port" "$token" "$changes" > "$work/probe.txt" 2>&1; then
    while read -r line; do
      p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")
      verdict=$(awk -v p="$p99" 'BEGIN {print (p <= 100 ? "goal p99 <= 100 ms: met" : "goal p99 <= 100 ms: MISSED")}')
      say "$line  ($verdict)"
    done < "$work/probe.txt"
  else
    fail "the $kind probe: $(tail -3 "$work/probe.txt")"
  fi
done

say ""
say "## 3. The decision log under kill -9 of replica B, halfway through $kill_duration of load over A and B"
acked="$work/acked"; mkdir -p "$acked"
before=$(psql "$pair_url" -qAtc 'SELECT COALESCE(MAX(id), 0) FROM decisions')
ACKED_DIR=$acked REPLICA_PORTS="$a_port,$b_port" wrk -t"$threads" -c"$conns" -d"$kill_duration" \
  -H "$auth" -s scripts/bench/spread.lua "http://127.0.0.1:$a_port/api/authorize" > "$work/wrk-kill.txt" &
wrk_pid=$!
sleep $((kill_secs / 2))
kill -9 "$b_pid"
killed_at=$(date +%s.%N)
wait "$wrk_pid" || true
# Answers to requests sent before the kill may still be in flight to wrk
# from A; wrk has stopped, so what it recorded is final.
sort -n "$acked"/acked-*.txt > "$work/acked.txt"
psql "$pair_url" -qAtc "SELECT id FROM decisions WHERE id > $before ORDER BY id" > "$work/logged.txt"
sort -n -u "$work/acked.txt" > "$work/acked-unique.txt"
n_acked=$(wc -l < "$work/acked.txt")
n_unique=$(wc -l < "$work/acked-unique.txt")
n_logged=$(wc -l < "$work/logged.txt")
missing=$(comm -23 <(sort "$work/acked-unique.txt") <(sort "$work/logged.txt") | wc -l)
say "requests completed by wrk:             $(awk '/^requests_completed:/ {print $2}' "$work/wrk-kill.txt") (socket errors after the kill: $(awk '/^socket_errors:/ {print $2}' "$work/wrk-kill.txt"))"
say "decisions acknowledged (200 with an id): $n_acked, distinct ids: $n_unique"
say "decisions in the log from this run:     $n_logged (the rest: answered by B after its commit but lost in flight, or never answered)"
say "acknowledged but not in the log:        $missing"
say "replica A still ready after the kill:   $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$a_port/ready") (B killed at $(date -u -d "@${killed_at%.*}" +%T))"
(( n_acked > 0 )) || fail "no decision was acknowledged"
(( n_acked == n_unique )) || fail "a decision id was acknowledged twice"
(( missing == 0 )) || fail "$missing acknowledged decisions are not in the log"
stop "$a_pid"
exit $failed
