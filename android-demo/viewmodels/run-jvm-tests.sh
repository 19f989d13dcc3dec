#!/usr/bin/env bash
# The demo's view-models on the JVM, against the real library and the real emulator (no mocks).
#   android-demo/viewmodels/run-jvm-tests.sh
# 1. Regenerates the bindings with the test hooks: bindings/scripts/generate.sh target/bindings-test --test-hooks
#    (JVM-mode Kotlin + the host liboutpost_ffi.so).
# 2. Builds the emulator (cargo build -q -p outpost-emulator), unless OUTPOST_EMULATOR_BIN names one
#    built already (scripts/test-all.sh; it also passes OUTPOST_FFI_LIB and OUTPOST_UNIFFI_BINDGEN
#    on to generate.sh, so that nothing is compiled here).
# 3. Compiles the generated outpost.kt (cached by content), then src/main + src/test with kotlinc
#    (scripts/kotlinc.sh) into target/android-viewmodels/viewmodels-tests.jar, at the Kotlin
#    language level the Gradle build pins (2.2) and JVM 17.
# 4. Runs every *Test class in the jar with JUnitCore.
# The last line printed is "android-viewmodels: N passed, M failed"; the exit status is non-zero
# on any failure (a build failure counts as one failed).
# Needs: Debian's libjna-java and junit4 (jna.jar, junit4.jar, hamcrest-core.jar in /usr/share/java,
# or JNA_JAR / JUNIT_JAR / HAMCREST_JAR), Java 17, npm (for kotlinc), cargo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/android-viewmodels"
bindings="$target/bindings-test"
result="$out/result.txt"

passed=0
failed=0
# Called by the EXIT trap (shellcheck cannot see that).
# shellcheck disable=SC2317
finish() {
  local status=$?
  if [ -s "$result" ]; then
    read -r run fail _ < "$result" || true
    passed=$((run - fail))
    failed=$fail
  fi
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "android-viewmodels: $passed passed, $failed failed"
  exit "$status"
}
trap finish EXIT

mkdir -p "$out"
rm -f "$result"
cd "$root"

bash bindings/scripts/generate.sh "$bindings" --test-hooks
emulator="${OUTPOST_EMULATOR_BIN:-}"
if [ -z "$emulator" ]; then
  cargo build -q -p outpost-emulator
  emulator="$target/debug/outpost-emulator"
fi
[ -x "$emulator" ] || { echo "not an executable: $emulator" >&2; exit 1; }

kotlinc="$(bash scripts/kotlinc.sh)"
klib="$(dirname "$kotlinc")/../lib"
coroutines="$klib/kotlinx-coroutines-core-jvm.jar"
stdlib="$klib/kotlin-stdlib.jar"
jna="${JNA_JAR:-/usr/share/java/jna.jar}"
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
for jar in "$coroutines" "$stdlib" "$jna" "$junit" "$hamcrest"; do
  if [ ! -f "$jar" ]; then
    echo "missing $jar (apt-get install libjna-java junit4, or set JNA_JAR / JUNIT_JAR / HAMCREST_JAR)" >&2
    exit 1
  fi
done
kotlin_flags=(-language-version 2.2 -api-version 2.2 -jvm-target 17)

# The generated bindings take most of the compile time: compile them once per content.
generated="$bindings/kotlin/io/outpost/outpost.kt"
hash="$(sha256sum "$generated" | cut -c1-16)"
bindings_jar="$out/bindings-$hash.jar"
if [ ! -f "$bindings_jar" ]; then
  rm -f "$out"/bindings-*.jar
  echo "compiling the generated bindings"
  "$kotlinc" "${kotlin_flags[@]}" -nowarn -cp "$jna:$coroutines" "$generated" -d "$bindings_jar.tmp.jar"
  mv "$bindings_jar.tmp.jar" "$bindings_jar"
fi

echo "compiling the view-models and their tests"
tests_jar="$out/viewmodels-tests.jar"
rm -f "$tests_jar"
"$kotlinc" "${kotlin_flags[@]}" -Werror -cp "$bindings_jar:$jna:$coroutines:$junit:$hamcrest" \
  "$here/src/main/kotlin" "$here/src/test/kotlin" -d "$tests_jar"

mapfile -t classes < <(unzip -Z1 "$tests_jar" | grep -E '^[^$]*Test\.class$' | sed -e 's/\.class$//' -e 's|/|.|g' | sort)
if [ "${#classes[@]}" -eq 0 ]; then
  echo "no test classes in $tests_jar" >&2
  exit 1
fi

echo "running ${#classes[@]} test classes against $emulator"
status=0
timeout 1800 java -Djna.library.path="$bindings/lib" -Doutpost.emulator="$emulator" \
  -cp "$tests_jar:$bindings_jar:$jna:$coroutines:$stdlib:$junit:$hamcrest" \
  io.outpost.demo.viewmodels.JvmTestMainKt "$result" "${classes[@]}" || status=$?
exit "$status"
