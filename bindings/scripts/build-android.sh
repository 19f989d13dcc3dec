#!/usr/bin/env bash
# Build Outpost for Android: the library for three ABIs, its Kotlin bindings, the Android library.
#   bindings/scripts/build-android.sh [--no-gradle]
#
# Prerequisites (not on the Linux build machines; CI installs them, see .github/workflows/android.yml):
#   - Android NDK r26 or newer: ANDROID_NDK_HOME (or ANDROID_NDK_ROOT, or the newest
#     $ANDROID_HOME/ndk/<version>)
#   - cargo-ndk: cargo install cargo-ndk --locked
#   - Rust targets: rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
#   - JDK 17 and the Android SDK (platform 36) for the Gradle step
#   - perl and make: the vendored OpenSSL (SQLCipher's crypto) is compiled for each ABI
#
# What it does:
#   1. cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o bindings/android/src/main/jniLibs \
#        build --profile mobile -p outpost-ffi
#      The `mobile` profile (Cargo.toml): LTO, opt-level "z" (Argon2 at 3), stripped, unwinding kept.
#      The 64-bit ABIs are linked with 16 KB page alignment (Android 15+ devices with 16 KB pages;
#      NDK r28+ does this by default).
#   2. Generates the Kotlin bindings (library mode, from a host build of the same crate: the
#      metadata are the same on every target; android.rs has no uniffi exports):
#      - Android mode (bindings/android/uniffi-android.toml sets `[bindings.kotlin] android = true`
#        through uniffi 0.32's global --config format) into
#        bindings/android/src/main/kotlin/io/outpost/outpost.kt;
#      - plain-JVM mode into android-demo/bindings-jvm/src/main/kotlin/io/outpost/outpost.kt, the
#        compile-only API of the demo's plain-Kotlin view-models.
#   3. Builds the Android library from the demo's Gradle build (skipped with --no-gradle):
#        (cd android-demo && ./gradlew :bindings-android:assembleRelease)
#      → bindings/android/build/outputs/aar/bindings-android-release.aar. Without the wrapper yet
#      (android-demo/README.md: `gradle wrapper`), a `gradle` 8.13+ on PATH is used.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
android="$root/bindings/android"
jni_libs="$android/src/main/jniLibs"
run_gradle=1
for arg in "$@"; do
  case "$arg" in
    --no-gradle) run_gradle=0 ;;
    *) echo "usage: build-android.sh [--no-gradle]" >&2; exit 2 ;;
  esac
done
cd "$root"

fail() { echo "build-android.sh: $*" >&2; exit 1; }

# --- prerequisites -------------------------------------------------------------------------
ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
if [ -z "$ndk" ] && [ -d "${ANDROID_HOME:-}/ndk" ]; then
  ndk="$(find "$ANDROID_HOME/ndk" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n 1)"
fi
if [ -z "$ndk" ] || [ ! -f "$ndk/source.properties" ]; then
  fail "no Android NDK: set ANDROID_NDK_HOME (NDK r26 or newer)"
fi
ndk_major="$(sed -n 's/^Pkg.Revision *= *\([0-9]*\).*/\1/p' "$ndk/source.properties")"
[ "${ndk_major:-0}" -ge 26 ] || fail "NDK $ndk is r${ndk_major:-?}; r26 or newer is needed"
export ANDROID_NDK_HOME="$ndk"
cargo ndk --version >/dev/null 2>&1 || fail "cargo-ndk is missing: cargo install cargo-ndk --locked"
installed="$(rustup target list --installed)"
for triple in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android; do
  grep -qx "$triple" <<< "$installed" || fail "Rust target $triple is missing: rustup target add $triple"
done
grep -q '^\[profile\.mobile\]' Cargo.toml || fail "the workspace has no [profile.mobile] (Cargo.toml)"

# --- 1. the library for each ABI -------------------------------------------------------------
page_16k="-C link-arg=-Wl,-z,max-page-size=16384"
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS:-$page_16k}"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS:-$page_16k}"
rm -rf "$jni_libs"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$jni_libs" build --profile mobile -p outpost-ffi
for abi in arm64-v8a armeabi-v7a x86_64; do
  [ -f "$jni_libs/$abi/liboutpost_ffi.so" ] || fail "cargo ndk left no $jni_libs/$abi/liboutpost_ffi.so"
done

# 16 KB alignment check of the 64-bit libraries (a warning: the app still runs on 4 KB devices).
readelf="$(find "$ndk/toolchains/llvm/prebuilt" -name llvm-readelf -type f 2>/dev/null | head -n 1 || true)"
if [ -n "$readelf" ]; then
  for abi in arm64-v8a x86_64; do
    while read -r align; do
      if [ $((align)) -lt 16384 ]; then
        echo "warning: $abi/liboutpost_ffi.so has a LOAD segment aligned to $align (< 16 KB)" >&2
      fi
    done < <("$readelf" -lW "$jni_libs/$abi/liboutpost_ffi.so" | awk '$1 == "LOAD" { print $NF }')
  done
fi

# --- 2. the Kotlin bindings ------------------------------------------------------------------
host_out="$target/bindings-android-host"
bash bindings/scripts/generate.sh "$host_out"
case "$(uname -s)" in
  Darwin) host_lib="$target/debug/liboutpost_ffi.dylib" ;;
  *) host_lib="$target/debug/liboutpost_ffi.so" ;;
esac
android_kotlin="$target/bindings-android-kotlin"
rm -rf "$android_kotlin"
"$target/debug/uniffi-bindgen" generate --library "$host_lib" --language kotlin --out-dir "$android_kotlin" \
  --no-format --config "$android/uniffi-android.toml"
grep -q '^import android.os.Build' "$android_kotlin/io/outpost/outpost.kt" \
  || fail "the Android-mode bindings were not generated in Android mode (check uniffi-android.toml)"
mkdir -p "$android/src/main/kotlin/io/outpost" "$root/android-demo/bindings-jvm/src/main/kotlin/io/outpost"
cp "$android_kotlin/io/outpost/outpost.kt" "$android/src/main/kotlin/io/outpost/outpost.kt"
cp "$host_out/kotlin/io/outpost/outpost.kt" "$root/android-demo/bindings-jvm/src/main/kotlin/io/outpost/outpost.kt"

echo "libraries:"
for abi in arm64-v8a armeabi-v7a x86_64; do
  echo "  $abi: $(du -h "$jni_libs/$abi/liboutpost_ffi.so" | cut -f1)"
done

# --- 3. the Android library ------------------------------------------------------------------
if [ "$run_gradle" -eq 1 ]; then
  cd "$root/android-demo"
  if [ -x ./gradlew ]; then
    ./gradlew --no-daemon :bindings-android:assembleRelease
  elif command -v gradle >/dev/null 2>&1; then
    gradle --no-daemon :bindings-android:assembleRelease
  else
    fail "no Gradle: generate the wrapper (android-demo/README.md) or put Gradle 8.13+ on PATH"
  fi
  echo "built $android/build/outputs/aar/bindings-android-release.aar"
fi
