#!/usr/bin/env bash
# Build outpost-ffi and generate its Kotlin, Python and Swift bindings.
#   bindings/scripts/generate.sh OUT_DIR [--test-hooks]
# OUT_DIR/{kotlin,python,swift} receive the generated sources and OUT_DIR/lib the shared library.
# --test-hooks builds the library with the panic test hooks (binding tests only, never shipped).
# Names come from bindings/uniffi.toml (read by uniffi-bindgen from the crate's root).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: generate.sh OUT_DIR [--test-hooks]}"
features=()
if [ "${2:-}" = "--test-hooks" ]; then features=(--features test-hooks); fi
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build -q -p outpost-ffi ${features[@]+"${features[@]}"}  # (bash 3.2-safe empty array)
cargo build -q -p uniffi-bindgen
case "$(uname -s)" in
  Darwin) lib="$target/debug/liboutpost_ffi.dylib" ;;
  *) lib="$target/debug/liboutpost_ffi.so" ;;
esac
# Generate into a fresh directory, then swap it in: a process that has the old library loaded,
# or is compiling the old sources, never sees a half-written file (cp over a loaded .so crashes it).
mkdir -p "$out"
tmp="$(mktemp -d "$out/.generate.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
for language in kotlin python swift; do
  "$target/debug/uniffi-bindgen" generate --library "$lib" --language "$language" --out-dir "$tmp/$language" --no-format
done
mkdir -p "$tmp/lib"
cp "$lib" "$tmp/lib/"
for part in kotlin python swift lib; do
  if [ -e "$out/$part" ]; then mv "$out/$part" "$tmp/old-$part"; fi
  mv "$tmp/$part" "$out/$part"
done
echo "generated bindings in $out"
