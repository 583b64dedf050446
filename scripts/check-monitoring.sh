#!/usr/bin/env bash
# Checks the monitoring examples with promtool: the alerting rules in
# examples/monitoring/alerts.yml and the Prometheus configuration in
# examples/monitoring/prometheus.yml (which loads alerts.yml; rule_files paths
# are relative to the configuration file).
#
# Usage: scripts/check-monitoring.sh [FILE]
#   FILE  a scrape of /metrics in the Prometheus text format ("-" for stdin),
#         e.g. `curl -s -H "Authorization: Bearer $TOKEN" 127.0.0.1:4007/metrics
#         > /tmp/regent.prom` (a scraper token, needed with require_token); it is
#         linted with `promtool check metrics` and any problem fails the run.
#
# Installs Debian's prometheus package (which ships promtool) when promtool
# is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 1 ]; then
  echo "usage: $0 [FILE]" >&2
  exit 2
fi

if ! command -v promtool >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
  echo "check-monitoring: installing prometheus (for promtool)" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  command -v promtool >/dev/null || { echo "check-monitoring: promtool still missing" >&2; exit 1; }
fi

promtool check rules --lint-fatal examples/monitoring/alerts.yml
promtool check config --lint-fatal examples/monitoring/prometheus.yml

if [ $# -eq 1 ]; then
  file=$1
  if [ "$file" = "-" ]; then file=/dev/stdin; fi
  [ -r "$file" ] || { echo "check-monitoring: cannot read $1" >&2; exit 2; }
  echo "Checking metrics in $1"
  # promtool exits 3 when it finds lint problems and 1 when the text does not
  # parse; it prints either on stderr. Fail on any output as well, so that a
  # problem is never passed over whatever the exit code.
  rc=0
  out=$(promtool check metrics <"$file" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    echo "check-monitoring: promtool check metrics found problems in $1 (exit $rc)" >&2
    exit 1
  fi
  echo "  SUCCESS: no problems found"
fi
