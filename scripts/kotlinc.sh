#!/usr/bin/env bash
# Prints the path of a kotlinc that works here: the npm package kotlin-compiler (the full
# distribution, with kotlin-stdlib.jar and kotlinx-coroutines-core-jvm.jar in its lib/), unpacked
# once into target/tools/. Idempotent; safe to call from several scripts.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=2.4.20
dir="${CARGO_TARGET_DIR:-$root/target}/tools/kotlin-compiler-$version"
if [ ! -x "$dir/package/bin/kotlinc" ]; then
  mkdir -p "$dir"
  (
    cd "$dir"
    # A lock, so that two scripts unpacking at once do not collide.
    exec 9>"$dir/.lock"
    flock 9
    if [ ! -x package/bin/kotlinc ]; then
      npm pack --silent "kotlin-compiler@$version" >/dev/null
      tar xzf "kotlin-compiler-$version.tgz"
      rm -f "kotlin-compiler-$version.tgz"
      chmod +x package/bin/*
    fi
  ) >&2
fi
echo "$dir/package/bin/kotlinc"
