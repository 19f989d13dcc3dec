#!/usr/bin/env bash
# Build OutpostFFI.xcframework (outpost-ffi as static libraries for iOS devices, iOS simulators
# and macOS) and regenerate the Swift sources of the Swift package in bindings/swift.
#
#   bindings/scripts/build-ios.sh [--profile NAME] [--no-macos]
#
# Prerequisites (this runs on macOS only):
#   - macOS 13 or later with Xcode 15 or later, selected (`xcode-select -p`; `xcodebuild -version`).
#   - rustup, with the workspace's toolchain (rust-version 1.89+) and these targets:
#       rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios \
#                         aarch64-apple-darwin x86_64-apple-darwin
#     (the two darwin targets only without --no-macos).
#   - bash 4.4+ on PATH (`brew install bash`): generate.sh, which this calls, expands an empty
#     array under `set -u`, which macOS's own bash 3.2 rejects.
#   - Nothing else: SQLCipher uses CommonCrypto on Apple targets (no OpenSSL), and aws-lc-sys
#     (rustls) compiles its C with Xcode's clang. Should a future aws-lc-sys ask for CMake or
#     bindgen on an Apple target, `brew install cmake` / `cargo install bindgen-cli`.
#
# What it does:
#   1. cargo builds the staticlib for aarch64-apple-ios, aarch64-apple-ios-sim, x86_64-apple-ios
#      (and aarch64/x86_64-apple-darwin) with the workspace's `mobile` profile (Cargo.toml:
#      opt-level "z", LTO, one codegen unit, stripped, panic = "unwind" so that panics become
#      `OutpostError.Internal`; Argon2 kept at opt-level 3). Never with the test-hooks feature.
#   2. lipo: one fat simulator library (arm64 + x86_64), one fat macOS library.
#   3. generate.sh (a host debug build, no test hooks) writes Outpost.swift, OutpostFFI.h and
#      OutpostFFI.modulemap; the module map becomes Headers/module.modulemap of every slice.
#   4. xcodebuild -create-xcframework → bindings/swift/OutpostFFI.xcframework (not committed),
#      and Outpost.swift → bindings/swift/Sources/Outpost/Outpost.swift (committed: commit it
#      when it changed; CI checks it equals a fresh one).
#
# The macOS slice is not shipped in the iOS app; `swift test` runs the package's tests on the
# Mac itself, which needs it (and it makes the package usable from macOS apps, as Package.swift
# declares). --no-macos skips it (then only `xcodebuild test` on a simulator can run the tests).
#
# Deployment targets follow Package.swift (iOS 15, macOS 12): the C code inside (SQLCipher,
# aws-lc) is compiled for them too, so the linker does not warn about newer object files.
set -euo pipefail

profile=mobile
macos=1
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    --no-macos) macos=0; shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "build-ios.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ "$(uname -s)" != "Darwin" ]; then
  echo "build-ios.sh: needs macOS with Xcode (xcodebuild, lipo)" >&2
  exit 1
fi
for tool in cargo rustup xcodebuild lipo xcrun; do
  command -v "$tool" >/dev/null || { echo "build-ios.sh: $tool not found (see the prerequisites at the top)" >&2; exit 1; }
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
package="$root/bindings/swift"
work="$target_dir/ios-xcframework"
lib=liboutpost_ffi.a

ios_targets=(aarch64-apple-ios)
sim_targets=(aarch64-apple-ios-sim x86_64-apple-ios)
mac_targets=()
if [ "$macos" -eq 1 ]; then mac_targets=(aarch64-apple-darwin x86_64-apple-darwin); fi

installed="$(rustup target list --installed)"
# `${a[@]+"${a[@]}"}`: an empty array under `set -u` in macOS's bash 3.2.
all_targets=("${ios_targets[@]}" "${sim_targets[@]}" ${mac_targets[@]+"${mac_targets[@]}"})
for t in "${all_targets[@]}"; do
  if ! grep -qx "$t" <<< "$installed"; then
    echo "build-ios.sh: the Rust target $t is not installed: rustup target add $t" >&2
    exit 1
  fi
done

export IPHONEOS_DEPLOYMENT_TARGET=15.0
export MACOSX_DEPLOYMENT_TARGET=12.0

cd "$root"

# 1. The static libraries. `cargo rustc --crate-type staticlib` builds only the staticlib (the
#    crate also declares cdylib and lib); rustc prints the system libraries it needs
#    (native-static-libs) when it rebuilds: they must match Package.swift's linkerSettings.
build() {
  local t="$1"
  echo "=== cargo ($profile) for $t"
  cargo rustc -p outpost-ffi --lib --crate-type staticlib --profile "$profile" --target "$t" \
    -- --print native-static-libs
  if [ ! -f "$target_dir/$t/$profile/$lib" ]; then
    echo "build-ios.sh: the build for $t produced no $lib" >&2
    exit 1
  fi
}
for t in "${all_targets[@]}"; do
  build "$t"
done

# 2. Fat libraries per platform (one slice of an xcframework holds one library).
rm -rf "$work"
mkdir -p "$work/ios" "$work/ios-simulator" "$work/macos" "$work/headers" "$work/generated"
cp "$target_dir/aarch64-apple-ios/$profile/$lib" "$work/ios/$lib"
lipo -create "$target_dir/aarch64-apple-ios-sim/$profile/$lib" "$target_dir/x86_64-apple-ios/$profile/$lib" \
  -output "$work/ios-simulator/$lib"
if [ "$macos" -eq 1 ]; then
  lipo -create "$target_dir/aarch64-apple-darwin/$profile/$lib" "$target_dir/x86_64-apple-darwin/$profile/$lib" \
    -output "$work/macos/$lib"
fi

# 3. Swift sources, C header and module map, from the same sources (the checksums the Swift code
#    verifies at start-up are those of this source tree, whatever the profile or target).
bash "$root/bindings/scripts/generate.sh" "$work/generated"
swift_out="$work/generated/swift"
cp "$swift_out/OutpostFFI.h" "$work/headers/OutpostFFI.h"
# An xcframework slice's module map must be called module.modulemap. uniffi 0.32's module map
# also `use`s clang's builtin modules (_Builtin_stdbool, _Builtin_stdint), which newer Xcode
# releases no longer provide as separate modules (mozilla/uniffi-rs#2917): the FFI module then
# fails to build and `canImport(OutpostFFI)` is false. The `use` lines only matter under
# -fmodules-decluse, which Xcode and SwiftPM do not pass: leave them out.
grep -v '^[[:space:]]*use "_Builtin_' "$swift_out/OutpostFFI.modulemap" > "$work/headers/module.modulemap"
grep -q 'header "OutpostFFI.h"' "$work/headers/module.modulemap" || {
  echo "build-ios.sh: unexpected module map:" >&2; cat "$work/headers/module.modulemap" >&2; exit 1
}

# 4. The xcframework (xcodebuild refuses to overwrite one) and the committed Swift source.
libraries=(-library "$work/ios/$lib" -headers "$work/headers"
           -library "$work/ios-simulator/$lib" -headers "$work/headers")
if [ "$macos" -eq 1 ]; then libraries+=(-library "$work/macos/$lib" -headers "$work/headers"); fi
rm -rf "$package/OutpostFFI.xcframework"
xcodebuild -create-xcframework "${libraries[@]}" -output "$package/OutpostFFI.xcframework"

mkdir -p "$package/Sources/Outpost"
if cmp -s "$swift_out/Outpost.swift" "$package/Sources/Outpost/Outpost.swift"; then
  echo "Sources/Outpost/Outpost.swift is up to date"
else
  cp "$swift_out/Outpost.swift" "$package/Sources/Outpost/Outpost.swift"
  echo "Sources/Outpost/Outpost.swift regenerated: commit it"
fi

for slice in "$package"/OutpostFFI.xcframework/*/; do
  [ -d "$slice" ] || continue
  printf '  %-40s %s\n' "$(basename "$slice")" "$(du -sh "$slice" | cut -f1)"
done
echo "built $package/OutpostFFI.xcframework ($profile profile)"
