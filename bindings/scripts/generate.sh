#!/usr/bin/env bash
# Build outpost-ffi and generate its Kotlin, Python and Swift bindings.
#   bindings/scripts/generate.sh OUT_DIR [--test-hooks]
# OUT_DIR/{kotlin,python,swift} receive the generated sources and OUT_DIR/lib the shared library.
# --test-hooks builds the library with the panic test hooks (binding tests only, never shipped).
# Names come from bindings/uniffi.toml (read by uniffi-bindgen from the crate's root).
#
# Prebuilt inputs (scripts/test-all.sh builds them once, with the workspace's tests, instead of
# once more here with other dependency features): OUTPOST_FFI_LIB, the library to generate from
# (built without the hooks, or with them for --test-hooks), and OUTPOST_UNIFFI_BINDGEN, the
# uniffi-bindgen binary. Either one that is set is used as it is, and not built.
# Whichever library is used, the generated sources are checked to have the test hooks exactly when
# --test-hooks is given, so a library of the wrong kind fails here and is never used silently.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: generate.sh OUT_DIR [--test-hooks]}"
hooks=0
features=()
if [ "${2:-}" = "--test-hooks" ]; then hooks=1; features=(--features test-hooks); fi
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
lib="${OUTPOST_FFI_LIB:-}"
if [ -z "$lib" ]; then
  cargo build -q -p outpost-ffi ${features[@]+"${features[@]}"}  # (bash 3.2-safe empty array)
  case "$(uname -s)" in
    Darwin) lib="$target/debug/liboutpost_ffi.dylib" ;;
    *) lib="$target/debug/liboutpost_ffi.so" ;;
  esac
fi
bindgen="${OUTPOST_UNIFFI_BINDGEN:-}"
if [ -z "$bindgen" ]; then
  cargo build -q -p uniffi-bindgen
  bindgen="$target/debug/uniffi-bindgen"
fi
[ -f "$lib" ] || { echo "generate.sh: no library at $lib" >&2; exit 1; }
[ -x "$bindgen" ] || { echo "generate.sh: no uniffi-bindgen at $bindgen" >&2; exit 1; }
# Generate into a fresh directory, then swap it in: a process that has the old library loaded,
# or is compiling the old sources, never sees a half-written file (cp over a loaded .so crashes it).
mkdir -p "$out"
tmp="$(mktemp -d "$out/.generate.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
for language in kotlin python swift; do
  "$bindgen" generate --library "$lib" --language "$language" --out-dir "$tmp/$language" --no-format
done
# The hook is `OutpostClient.debug_panic` (`debugPanic` in Kotlin and Swift).
if grep -rqs 'def debug_panic' "$tmp/python"; then has_hooks=1; else has_hooks=0; fi
if [ "$has_hooks" != "$hooks" ]; then
  if [ "$hooks" = 1 ]; then
    echo "generate.sh: --test-hooks, but $lib was built without the test-hooks feature" >&2
  else
    echo "generate.sh: $lib was built with the test-hooks feature (never for shipped bindings)" >&2
  fi
  exit 1
fi
mkdir -p "$tmp/lib"
cp "$lib" "$tmp/lib/"
for part in kotlin python swift lib; do
  if [ -e "$out/$part" ]; then mv "$out/$part" "$tmp/old-$part"; fi
  mv "$tmp/$part" "$out/$part"
done
echo "generated bindings in $out"
