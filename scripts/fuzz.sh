#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo fuzz (libFuzzer): each target in fuzz/
# for FUZZ_SECONDS (default 60), seeded with the plugins' manifests, fixture
# inputs and conditions. Not part of `make test`: the instrumented build of
# wasmtime alone takes many minutes; `cargo test` runs the same targets for
# a fixed number of inputs instead (host/src/fuzz.rs).
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh manifest
#
# A crash leaves its input in fuzz/artifacts/<target>/; replay it with
# `cargo fuzz run -s none <target> <file>` from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(expression manifest multipart_upload plugin_input)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install --locked cargo-fuzz >/dev/null
fi
# cargo fuzz passes unstable flags; a stable toolchain accepts them with
# RUSTC_BOOTSTRAP. No sanitizer (-s none): the host has no unsafe code of
# its own, and the targets check their invariants with assertions.
rustc --version | grep -q nightly || export RUSTC_BOOTSTRAP=1

seed() { # seed <target> <files...>: copy seeds into the target's corpus
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do cp "$f" "$dir/seed-$(sha256sum "$f" | cut -c1-16)"; done
}
seed manifest plugins/*/*.toml tests/fixtures/*/*.toml
mkdir -p fuzz/corpus/expression fuzz/corpus/plugin_input fuzz/corpus/multipart_upload
grep -ho '"condition": *"[^"]*"' plugins/expression/fixtures/*.json plugins/expression/*.toml 2>/dev/null \
  | sed 's/.*: *"\(.*\)"/\1/' | while read -r c; do
    printf '%s' "$c" > "fuzz/corpus/expression/seed-$(printf '%s' "$c" | sha256sum | cut -c1-16)"
  done
# plugin_input: the first byte picks the kind, in PluginKind::ALL's order.
kinds=(checklist-item breaker-condition risk-scorer task-matcher checklist-bundle)
for manifest in plugins/*/*.toml; do
  [ "$(basename "$manifest")" = Cargo.toml ] && continue
  kind=$(sed -n 's/^kind *= *"\(.*\)"/\1/p' "$manifest")
  for i in "${!kinds[@]}"; do [ "${kinds[$i]}" = "$kind" ] && selector=$i; done
  for fixture in "$(dirname "$manifest")"/fixtures/*.json; do
    [ -f "$fixture" ] || continue
    out="fuzz/corpus/plugin_input/seed-$(sha256sum "$fixture" | cut -c1-16)"
    { printf "\\x$(printf '%02x' "$selector")"; python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["input"]))' "$fixture"; } > "$out"
  done
done
printf -- '--regent-fuzz-boundary\r\nContent-Disposition: form-data; name="wasm"\r\n\r\n\0asm\r\n--regent-fuzz-boundary\r\nContent-Disposition: form-data; name="manifest"\r\n\r\nname = "p"\nkind = "risk-scorer"\nversion = "1"\n\r\n--regent-fuzz-boundary--\r\n' \
  > fuzz/corpus/multipart_upload/seed-upload

for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s" >&2
  cargo fuzz run -s none "$target" -- -max_total_time="$seconds" -max_len=65536
done
