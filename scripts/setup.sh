#!/usr/bin/env bash
# Installs what building and testing Regent needs on a fresh Debian machine:
# a C compiler (for the bundled SQLite), make, python3 with pip (for the
# Python plugin), and a Rust toolchain with rustfmt and clippy. The wasm32
# toolchain is handled by scripts/build-plugins.sh (rustup target, else
# Debian's rustc-web). Last, a PostgreSQL server for the tests
# (scripts/ensure-postgres.sh).
set -euo pipefail
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# Debian keeps ensurepip, which `python3 -m venv` needs, in python3-venv;
# scripts/schemathesis.sh installs schemathesis into a venv.
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "setup: installing Rust with rustup" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
# `make test` checks formatting and runs clippy before the tests; rustup's
# minimal profile leaves both out.
if command -v rustup >/dev/null; then
  installed="$(rustup component list --installed)"
  for component in rustfmt clippy; do
    if ! grep -q "^$component" <<<"$installed"; then
      echo "setup: adding the $component component" >&2
      rustup component add "$component"
    fi
  done
fi
for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    echo "setup: \`cargo $tool\` is not available and there is no rustup to add it; install it, then run make again" >&2
    exit 1
  fi
done
# The PostgreSQL backend's tests need a server: the one
# REGENT_TEST_DATABASE_URL names, else 127.0.0.1:5432, else one this starts
# (installing Debian's postgresql if need be).
bash "$(dirname "$0")/ensure-postgres.sh"
