#!/usr/bin/env bash
# Kotlin binding tests: the generated bindings (with the test hooks) on the JVM, against the real
# library and the emulator.
#   bindings/tests/kotlin/run.sh [OUT_DIR]      (OUT_DIR defaults to target/bindings-test)
# Regenerates the bindings into OUT_DIR, builds the emulator, compiles outpost.kt + FlowTest.kt,
# runs JUnit 4 and ends with one line: "kotlin: N passed, M failed" (non-zero exit on failure).
# The JUnit output is kept in target/kotlin-tests/junit.log; it is printed when something fails,
# or always with OUTPOST_TEST_VERBOSE=1.
# Prebuilt inputs (scripts/test-all.sh): OUTPOST_EMULATOR_BIN, an emulator binary, is used instead
# of building one; OUTPOST_FFI_LIB and OUTPOST_UNIFFI_BINDGEN are passed on to generate.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${1:-$target/bindings-test}"
mkdir -p "$out"
out="$(cd "$out" && pwd)" # generate.sh runs from the workspace root: give it an absolute path

jna=/usr/share/java/jna.jar
junit=/usr/share/java/junit4.jar
hamcrest=/usr/share/java/hamcrest-core.jar
for jar in "$jna" "$junit" "$hamcrest"; do
  [ -f "$jar" ] || { echo "missing $jar (Debian: libjna-java, junit4, libhamcrest-java)" >&2; exit 2; }
done

"$root/bindings/scripts/generate.sh" "$out" --test-hooks </dev/null >/dev/null
emulator="${OUTPOST_EMULATOR_BIN:-}"
if [ -z "$emulator" ]; then
  (cd "$root" && cargo build -q -p outpost-emulator </dev/null)
  emulator="$target/debug/outpost-emulator"
fi
[ -x "$emulator" ] || { echo "not an executable: $emulator" >&2; exit 2; }
emulator="$(cd "$(dirname "$emulator")" && pwd)/$(basename "$emulator")" # the JVM runs in another directory
kotlinc="$("$root/scripts/kotlinc.sh" </dev/null)"
klib="$(cd "$(dirname "$kotlinc")/../lib" && pwd)"

build="$target/kotlin-tests"
mkdir -p "$build"
# A private copy of what the tests load: OUT_DIR is shared (other scripts regenerate it), and a
# shared library rewritten in place under a running JVM crashes it.
run="$(mktemp -d "$build/run.XXXXXX")"
cleanup() {
  # Emulators whose JVM crashed (the tests write one pid file per running emulator).
  local f
  for f in "$run"/pids/emulator-*; do
    if [ -f "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  done
  rm -rf "$run"
}
trap cleanup EXIT
mkdir -p "$run/lib" "$run/pids"
cp "$out/kotlin/io/outpost/outpost.kt" "$run/outpost.kt"
cp -R "$out/lib/." "$run/lib/"

classpath="$jna:$junit:$hamcrest:$klib/kotlinx-coroutines-core-jvm.jar"
compile() { # compile OUT.jar SOURCE...: kotlinc, or the summary line and exit 1
  local jar="$1"
  shift
  if ! "$kotlinc" -nowarn -cp "$classpath" -d "$jar" "$@" </dev/null >"$run/kotlinc.log" 2>&1; then
    cat "$run/kotlinc.log" >&2
    echo "kotlin: 0 passed, 1 failed"
    exit 1
  fi
}
# The generated outpost.kt is the slow part (about a minute on a busy 2-core machine): its jar is
# kept while the source and the compiler stay the same.
bindings_jar="$build/outpost-bindings.jar"
stamp="$(sha256sum "$run/outpost.kt" | cut -d' ' -f1) $kotlinc"
if [ ! -f "$bindings_jar" ] || [ "$(cat "$bindings_jar.stamp" 2>/dev/null)" != "$stamp" ]; then
  compile "$run/outpost-bindings.jar" "$run/outpost.kt"
  mv -f "$run/outpost-bindings.jar" "$bindings_jar"
  echo "$stamp" >"$bindings_jar.stamp"
fi
cp "$bindings_jar" "$run/outpost-bindings.jar"
classpath="$run/outpost-bindings.jar:$classpath"
compile "$run/flow-test.jar" "$here/FlowTest.kt"

log="$run/junit.log"
status=0
(
  cd "$run"
  OUTPOST_EMULATOR_BIN="$emulator" OUTPOST_TEST_PID_DIR="$run/pids" \
    timeout --kill-after=30 1800 \
    java -Djna.library.path="$run/lib" -XX:ErrorFile="$build/hs_err_pid%p.log" \
    -cp "$run/flow-test.jar:$classpath:$klib/kotlin-stdlib.jar" \
    org.junit.runner.JUnitCore io.outpost.tests.FlowTest
) </dev/null >"$log" 2>&1 || status=$?
cp "$log" "$build/junit.log"

passed=0
failed=0
if ok="$(grep -Eo '^OK \([0-9]+ tests?\)' "$log" | tail -n 1)" && [ -n "$ok" ]; then
  passed="$(grep -Eo '[0-9]+' <<<"$ok")"
elif summary="$(grep -Eo '^Tests run: [0-9]+, +Failures: [0-9]+' "$log" | tail -n 1)" && [ -n "$summary" ]; then
  total="$(sed -E 's/^Tests run: ([0-9]+),.*/\1/' <<<"$summary")"
  failed="$(sed -E 's/.*Failures: ([0-9]+)$/\1/' <<<"$summary")"
  passed=$((total - failed))
else
  failed=1 # no JUnit summary: the JVM crashed or timed out
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi

if [ "$failed" -ne 0 ] || [ "${OUTPOST_TEST_VERBOSE:-0}" = 1 ]; then
  cat "$log"
  [ "$status" -eq 0 ] || echo "JUnit exited with status $status (log: $build/junit.log)" >&2
fi
echo "kotlin: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
