#!/usr/bin/env bash
# Builds every plugin crate in the repository into a component, once:
#   plugins/*          -> target/plugins/<name>.wasm + <name>.toml  (what `regent serve` loads)
#                         except checklist items, which the readiness-checklist
#                         bundle serves: they go to target/plugins/items, to be
#                         dropped into target/plugins one by one to take an item
#                         over from the bundle
#   tests/fixtures/*   -> target/fixtures/<name>.wasm + <name>.toml (hostile plugins for tests)
#                         and, for the hot-swap fixtures, their version 2
#                         (feature `v2`) in target/fixtures/v2
#   examples/rust-*    -> target/examples/<name>.wasm + <name>.toml
#
# It uses rustup's wasm32 target when it has it or can add it; otherwise
# Debian's rustc-web toolchain (installed with apt-get when missing), which
# builds std from source. Cargo is incremental, so a second run is quick.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target=wasm32-unknown-unknown
# A 64 KiB shadow stack instead of 1 MiB: fewer pages to touch and reset.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C link-arg=-zstack-size=65536"

wasm_cargo=()
if rustup target list --installed 2>/dev/null | grep -qx "$target" \
   || rustup target add "$target" >/dev/null 2>&1; then
  wasm_cargo=(cargo)
else
  if [ ! -x /usr/bin/cargo ] || [ ! -d /usr/lib/rustlib/src/rust/library ] || ! command -v wasm-ld-22 >/dev/null && [ ! -e /usr/bin/wasm-ld-22 ] && [ ! -e /usr/lib/llvm-22/bin/wasm-ld ]; then
    echo "build-plugins: rustup cannot add $target; installing Debian's rustc-web toolchain" >&2
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 >/dev/null
  fi
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  unset RUSTUP_TOOLCHAIN
  wasm_cargo=(/usr/bin/cargo -Zbuild-std=std,panic_abort)
fi

crates=()
for dir in plugins/*/ tests/fixtures/*/ examples/rust-*/; do
  [ -f "$dir/Cargo.toml" ] && crates+=("$dir")
done
# A plugin crate's package name is its plugin name: the stem of the one
# manifest (`<name>.toml`) beside Cargo.toml.
plugin_name() { basename "$(ls "$1"/*.toml | grep -v '/Cargo.toml$' | head -n 1)" .toml; }
plugin_kind() { sed -n 's/^kind *= *"\(.*\)"/\1/p' "$1/$(plugin_name "$1").toml" | head -n 1; }
packages=()
bundles=()
for dir in "${crates[@]}"; do
  if [ "$(plugin_kind "$dir")" = checklist-bundle ]; then
    bundles+=(-p "$(plugin_name "$dir")")
  else
    packages+=(-p "$(plugin_name "$dir")")
  fi
done

echo "build-plugins: compiling ${#crates[@]} plugin crates for $target" >&2
# Bundles first, in a build of their own: they link their items without the
# items' own exports (`default-features = false`), and cargo would unify that
# with the items' default features if both were in one build. The items'
# own components come from the second build.
if [ ${#bundles[@]} -gt 0 ]; then
  "${wasm_cargo[@]}" build --quiet --profile plugin --target "$target" --target-dir target/wasm "${bundles[@]}"
fi
"${wasm_cargo[@]}" build --quiet --profile plugin --target "$target" --target-dir target/wasm "${packages[@]}"

# Componentize in-process with `regent plugin build` (the wit-component crate).
cargo build --quiet -p regent-host --bin regent
regent=target/debug/regent
# The workspace's `plugin` profile (Cargo.toml): fat LTO, panic=abort.
modules=target/wasm/$target/plugin
for dir in "${crates[@]}"; do
  name="$(plugin_name "$dir")"
  case "$dir" in
    plugins/*)
      out=target/plugins
      if [ "$(plugin_kind "$dir")" = checklist-item ]; then out=target/plugins/items; fi ;;
    tests/fixtures/*) out=target/fixtures ;;
    *) out=target/examples ;;
  esac
  mkdir -p "$out"
  module="$modules/${name//-/_}.wasm"
  if [ ! -f "$out/$name.wasm" ] || [ "$module" -nt "$out/$name.wasm" ]; then
    "$regent" plugin build --out-dir "$out" "$module" >/dev/null
  fi
  cp "$dir/$name.toml" "$out/$name.toml"
done
# Version 2.0.0 of the hot-swap fixtures (feature `v2`), which the tests
# load over 1.0.0. A path crate's cdylib has no hash in its file name, so
# both versions build to the same module, and cargo rebuilds it whenever the
# features change: each run rebuilds the two small crates twice, and the
# mtime checks componentize each version right after its own build.
v2_fixtures=(swap-item swap-breaker)
v2_args=()
for name in "${v2_fixtures[@]}"; do
  v2_args+=(-p "$name" --features "$name/v2")
done
"${wasm_cargo[@]}" build --quiet --profile plugin --target "$target" --target-dir target/wasm "${v2_args[@]}"
mkdir -p target/fixtures/v2
for name in "${v2_fixtures[@]}"; do
  out=target/fixtures/v2
  module="$modules/${name//-/_}.wasm"
  if [ ! -f "$out/$name.wasm" ] || [ "$module" -nt "$out/$name.wasm" ]; then
    "$regent" plugin build --out-dir "$out" "$module" >/dev/null
  fi
  sed 's/^version *=.*/version = "2.0.0"/' "tests/fixtures/$name/$name.toml" >"$out/$name.toml"
done
# Items built before they moved to items/ would otherwise shadow the bundle.
for toml in target/plugins/items/*.toml; do
  [ -e "$toml" ] && rm -f "target/plugins/$(basename "$toml" .toml)".{wasm,toml}
done
echo "build-plugins: components in target/plugins (items in target/plugins/items), target/fixtures (v2 in target/fixtures/v2), target/examples" >&2
