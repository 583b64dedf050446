#!/usr/bin/env bash
# Retention under load (not part of `make test`): wrk posts to /api/authorize
# for LOAD_SECONDS (120) against a server that keeps decisions RETENTION (20s)
# and prunes every PRUNE_EVERY (2s), so the run crosses the retention several
# times. Each connection pauses LOAD_PACE_MS (8) after each answer, so the
# offered rate (about 1,500 req/s with 12 connections) is steady on a shared
# machine: the rows a retention period holds, and so the file, depend on the
# rate. LOAD_PACE_MS= (empty) runs flat out. The load runs as back-to-back wrk runs of SAMPLE_SECONDS (5); after
# each, one row: the time, the decisions table's rows, the database's size
# (main file and WAL), the rows pruned so far and that run's p99. After the
# first crossing, the size must stay flat: SQLite reuses the pages the pruner
# frees. The script fails if the main file grows by more than 10% between the
# second crossing and the end, or if any answer was not a 200.
# It uses target/release/regent if present, else the debug build (it never
# builds release); the binary is named in the output. Results go to stdout
# and to target/load/retention.txt.
#   LOAD_SECONDS (120), SAMPLE_SECONDS (5), RETENTION (20s, in seconds),
#   PRUNE_EVERY (2s), LOAD_CONNECTIONS (12), LOAD_PACE_MS (8), LOAD_PORT (4019)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"; $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
bin=target/release/regent
if [ ! -x "$bin" ]; then
  bin=target/debug/regent
  cargo build --quiet -p regent-host --bin regent
fi
[ -d target/plugins ] || bash scripts/build-plugins.sh

out=target/load; mkdir -p "$out"; work=$(mktemp -d)
port=${LOAD_PORT:-4019}; token=load-test-admin; base="http://127.0.0.1:$port"
total=${LOAD_SECONDS:-120}; sample=${SAMPLE_SECONDS:-5}; conns=${LOAD_CONNECTIONS:-12}
export AUTHORIZE_PACE_MS=${LOAD_PACE_MS-8}
[ -n "$AUTHORIZE_PACE_MS" ] || unset AUTHORIZE_PACE_MS
retention=${RETENTION:-20s}; every=${PRUNE_EVERY:-2s}
db="$work/regent.db"
cat > "$work/regent.toml" <<TOML
initial_phase = "L4"
phase_started_at = "$(date -u -d '30 days ago' +%FT%TZ)"
[retention]
decisions = "$retention"
every = "$every"
TOML
REGENT_ADMIN_TOKEN=$token GOVERNANCE_DB_PATH="$db" PORT=$port RUST_LOG=warn \
  "$bin" serve --config "$work/regent.toml" --plugins-dir target/plugins --cache-dir "$work/cache" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do curl -fs "$base/health" >/dev/null && break; sleep 0.2; done

report="$out/retention.txt"; : > "$report"
say() { echo "$*" | tee -a "$report"; }
rows() {
  python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); print(c.execute("SELECT count(*) FROM decisions").fetchone()[0])' "$db"
}
mib() { awk -v b="$(stat -c %s "$1" 2>/dev/null || echo 0)" 'BEGIN {printf "%.1f", b / 1048576}'; }
pruned() {
  curl -fs "$base/metrics" | awk '/^regent_retention_deleted_total\{table="decisions"\}/ {print $2}'
}

say "# $(date -u +%FT%TZ) $(nproc) cores, $(git rev-parse --short HEAD), binary $bin"
say "decisions kept $retention, pruned every $every; wrk -t2 -c$conns, ${AUTHORIZE_PACE_MS:-no} ms pause per connection, ${sample} s per sample, ${total} s in all"
say ""
say "| t (s) | decisions rows | db (MiB) | wal (MiB) | pruned so far | req/s | p99 (ms) |"
say "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
failed=0; t=0; sizes=()
while (( t < total )); do
  wrk -t2 -c"$conns" -d"${sample}s" --latency -H "Authorization: Bearer $token" -s scripts/bench/authorize.lua \
    "$base/api/authorize" > "$work/wrk.txt"
  t=$((t + sample))
  rps=$(awk '/^req_per_s:/ {print $2}' "$work/wrk.txt")
  p99=$(awk '/^p99_ms:/ {print $2}' "$work/wrk.txt")
  non200=$(awk '/^non_200:/ {print $2}' "$work/wrk.txt")
  (( non200 == 0 )) || { say "FAIL: $non200 answers other than 200"; failed=1; }
  sizes+=("$(stat -c %s "$db")")
  say "| $t | $(rows) | $(mib "$db") | $(mib "$db-wal") | $(pruned) | $rps | $p99 |"
done
secs=${retention%s}
second=$(( (2 * secs + sample - 1) / sample - 1 ))
if (( second < ${#sizes[@]} - 1 )); then
  at=${sizes[$second]}; end=${sizes[${#sizes[@]} - 1]}
  growth=$(awk -v a="$at" -v b="$end" 'BEGIN {printf "%.1f", (b - a) / a * 100}')
  say ""
  say "main file from the second crossing to the end: $growth% ($at -> $end bytes)"
  awk -v g="$growth" 'BEGIN {exit !(g > 10)}' && { say "FAIL: the database keeps growing"; failed=1; }
fi
exit $failed
