#!/usr/bin/env bash
# Makes sure the PostgreSQL server the tests use answers (docs/testing.md,
# "PostgreSQL"). Called by scripts/setup.sh, so by `make test` and `make run`;
# quick and silent when a server is already there.
#
# In order:
#   1. REGENT_TEST_DATABASE_URL is set: the tests use that server; nothing
#      is started.
#   2. Something answers on 127.0.0.1:5432: the tests use it (as user
#      `postgres`, trust auth). A running server is never stopped or
#      reconfigured.
#   3. A Debian cluster on port 5432 exists but is down: it is started with
#      pg_ctlcluster.
#   4. Otherwise Regent's own cluster, under var/postgres (initdb, trust
#      auth, listening only on 127.0.0.1:5432), is created once and started;
#      Debian's `postgresql` package is installed first when there is no
#      PostgreSQL at all.
# REGENT_SKIP_POSTGRES=1 skips all of it (the SQLite-only tests still run).
set -euo pipefail
cd "$(dirname "$0")/.."

[[ ${REGENT_SKIP_POSTGRES:-} == 1 ]] && exit 0
if [[ -n ${REGENT_TEST_DATABASE_URL:-} ]]; then
  if command -v pg_isready >/dev/null && ! pg_isready -q -d "$REGENT_TEST_DATABASE_URL"; then
    echo "postgres: REGENT_TEST_DATABASE_URL is set but its server does not answer; the PostgreSQL tests will fail" >&2
  fi
  exit 0
fi

host=127.0.0.1
# Only for trying this script next to a server that already holds 5432;
# the tests look for 5432 unless REGENT_TEST_DATABASE_URL says otherwise.
port=${REGENT_LOCAL_PG_PORT:-5432}
own="$PWD/var/postgres"
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"

answers() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$host" -p "$port"
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

# Trust auth for `postgres` is what the tests expect; say so when it is
# missing rather than let every PostgreSQL test fail on a password prompt.
check_login() {
  command -v psql >/dev/null || return 0
  if ! psql -h "$host" -p "$port" -U postgres -w -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
    echo "postgres: $host:$port answers, but user postgres cannot sign in without a password;" >&2
    echo "postgres: set REGENT_TEST_DATABASE_URL=postgres://user:password@host:port/postgres (a role that may CREATE DATABASE)" >&2
    return 1
  fi
}

wait_up() {
  for _ in $(seq 100); do
    answers && return 0
    sleep 0.1
  done
  echo "postgres: the server on $host:$port did not come up" >&2
  return 1
}

if answers; then
  check_login
  exit 0
fi

# 3. A Debian cluster on this port that is down (after a reboot without
# systemd, say): start it as it is.
if command -v pg_lsclusters >/dev/null; then
  cluster=$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$port" '$3 == p && $4 == "down" {print $1 " " $2; exit}')
  if [[ -n $cluster ]]; then
    echo "postgres: starting the Debian cluster $cluster on port $port" >&2
    # shellcheck disable=SC2086 # version and name, two words
    $sudo pg_ctlcluster $cluster start
    wait_up
    check_login
    exit 0
  fi
fi

# 4. Regent's own cluster. The binaries: the newest Debian version, else
# whatever is on PATH.
bindir() {
  local d
  d=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
  if [[ -n $d && -x $d/initdb ]]; then
    echo "$d"
  elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
  fi
}
bin=$(bindir)
if [[ -z $bin ]]; then
  echo "postgres: nothing answers on $host:$port; installing Debian's postgresql" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # The package may have created and started its own cluster on 5432.
  if answers; then
    check_login && exit 0
    # A cluster this run just installed (Debian's default is password
    # auth on TCP): give `postgres` trust on loopback, as the project's
    # machines have it.
    conf=$(pg_lsclusters --no-header | awk -v p="$port" '$3 == p {print "/etc/postgresql/" $1 "/" $2 "/pg_hba.conf"; exit}')
    if [[ -n $conf && -f $conf ]]; then
      $sudo sed -i "1i host all postgres $host/32 trust" "$conf"
      # shellcheck disable=SC2046 # version and name, two words
      $sudo pg_ctlcluster $(pg_lsclusters --no-header | awk -v p="$port" '$3 == p {print $1, $2; exit}') reload
      sleep 0.5
    fi
    check_login
    exit 0
  fi
  bin=$(bindir)
  [[ -n $bin ]] || { echo "postgres: installed postgresql but found no initdb" >&2; exit 1; }
fi

# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# `postgres` system user (the package creates it).
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  getent passwd postgres >/dev/null || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  as_owner=(runuser -u postgres --)
fi
if [[ ! -s $own/data/PG_VERSION ]]; then
  echo "postgres: creating Regent's own cluster in $own (trust auth, $host:$port)" >&2
  mkdir -p "$own"
  [ ${#as_owner[@]} -gt 0 ] && chown postgres: "$own"
  if [ ${#as_owner[@]} -gt 0 ] && ! "${as_owner[@]}" test -w "$own"; then
    echo "postgres: user postgres cannot write $own (a parent directory is closed to it); set REGENT_TEST_DATABASE_URL instead" >&2
    exit 1
  fi
  "${as_owner[@]}" "$bin/initdb" -D "$own/data" -U postgres --auth=trust -E UTF8 --no-locale >"$own/initdb.log"
  # Only loopback; the socket beside the data, not in /var/run. Enough
  # connections for the cluster tests: three replicas with their pools,
  # beside the conformance suite's stores.
  cat >>"$own/data/postgresql.conf" <<EOF
listen_addresses = '$host'
port = $port
unix_socket_directories = '$own'
max_connections = 300
EOF
fi
echo "postgres: starting Regent's own cluster ($own, $host:$port)" >&2
"${as_owner[@]}" "$bin/pg_ctl" -D "$own/data" -l "$own/server.log" -w -t 30 start >/dev/null
wait_up
check_login
