#!/usr/bin/env bash
# Runs every test of the project. Installs what it needs first (idempotent, no prompts).
# This is the README's test command; .ci/run calls it.
#
# Builds: each `cargo build -p CRATE` resolves the dependencies' features for that crate alone, so
# it recompiles much of the tree (the C libraries included) once more. So the debug binaries and
# libraries the later stages run come from the builds the tests make anyway, copied into
# target/ci-prebuilt (later builds cannot replace them there) and passed to the scripts by
# environment (OUTPOST_EMULATOR_BIN, OUTPOST_BIN, OUTPOST_FFI_LIB, OUTPOST_UNIFFI_BINDGEN); each
# script still builds what it needs when run on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
root="$PWD"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
prebuilt="$target/ci-prebuilt"
case "$(uname -s)" in
  Darwin) ffi_lib=liboutpost_ffi.dylib ;;
  *) ffi_lib=liboutpost_ffi.so ;;
esac

stage_names=()
stage_secs=()
stage_name=""
stage_start=0
stage() {
  local now; now=$(date +%s)
  if [ "$stage_start" -ne 0 ]; then
    echo "=== stage '$stage_name' took $((now - stage_start)) s"
    stage_names+=("$stage_name")
    stage_secs+=("$((now - stage_start))")
  fi
  stage_name="$1"; stage_start=$now
  echo "=== stage: $1"
}
summary() { # one table: every stage's time, and their sum
  local i total=0
  echo "=== stage times"
  for i in "${!stage_names[@]}"; do
    printf '%6d s  %s\n' "${stage_secs[$i]}" "${stage_names[$i]}"
    total=$((total + stage_secs[i]))
  done
  printf '%6d s  %s\n' "$total" "total"
}
finish() { stage "done"; stage_start=0; summary; }

log=$(mktemp)
demo_log=""
# Called by the EXIT trap (shellcheck cannot see that).
# shellcheck disable=SC2317
on_exit() {
  local status=$?
  if [ "$stage_start" -ne 0 ]; then # a stage failed: its time so far, and the table up to it
    echo "=== stage '$stage_name' failed after $(( $(date +%s) - stage_start )) s"
    stage_names+=("$stage_name (failed)")
    stage_secs+=("$(( $(date +%s) - stage_start ))")
    summary
  fi
  rm -f "$log" "$log".* ${demo_log:+"$demo_log"}
  exit "$status"
}
trap on_exit EXIT

# build_and_stash NAME ARGS...: `cargo build ARGS`, then copies of the binaries and of outpost-ffi's
# shared library it built (at the paths cargo reports: a library built only as a dependency is not
# copied to target/debug, and target/debug/deps/liboutpost_ffi.so has no hash in its name) into
# target/ci-prebuilt/NAME, where no later build with other features can replace them.
build_and_stash() {
  local dir="$prebuilt/$1"
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  cargo build --message-format=json-render-diagnostics "$@" > "$log.cargo.json"
  python3 - "$log.cargo.json" "$dir" <<'PY'
import json, os, shutil, sys
messages, out = sys.argv[1], sys.argv[2]
for line in open(messages, encoding="utf-8"):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or m["profile"]["test"]:
        continue
    kinds = m["target"]["kind"]
    files = [m["executable"]] if "bin" in kinds and m.get("executable") else []
    if m["target"]["name"] == "outpost_ffi" and "cdylib" in kinds:
        files = [f for f in m["filenames"] if f.endswith((".so", ".dylib"))]
    for f in files:
        shutil.copy2(f, os.path.join(out, os.path.basename(f)))
PY
}

# "N passed, M failed" (a runner's own closing line) into the format the total below counts.
count_line() { sed -n 's/^\([a-z-]*\): \([0-9]*\) passed, \([0-9]*\) failed$/test result: ok. \2 passed; \3 failed; (\1)/p'; }

stage "install"
bash scripts/install-deps.sh

stage "format"
cargo fmt --all -- --check

stage "clippy"
cargo clippy --workspace --all-targets --features outpost-core/bench-internals,outpost-core/failpoints,outpost-ffi/test-hooks -- -D warnings

stage "rust tests"
# First every target is built (the same units `cargo test` builds, plus the binaries as binaries:
# uniffi-bindgen's too), then the tests run on that build.
test_features=outpost-core/failpoints
build_and_stash tested --workspace --all-targets --features "$test_features"
emulator_bin="$prebuilt/tested/outpost-emulator"
outpost_bin="$prebuilt/tested/outpost"
bindgen_bin="$prebuilt/tested/uniffi-bindgen"
cargo test --workspace --all-targets --no-fail-fast --features "$test_features" 2>&1 | tee -a "$log"

stage "randomized multi-device trials (time-boxed)"
if [ -f scripts/trials.sh ]; then
  OUTPOST_EMULATOR_BIN="$emulator_bin" OUTPOST_BIN="$outpost_bin" bash scripts/trials.sh --ci 2>&1 | tee "$log.trials"
  closing=$(grep -E '^trials: [0-9]+ passed, [0-9]+ failed$' "$log.trials" | tail -n 1 || true)
  if [ -z "$closing" ]; then echo "scripts/trials.sh --ci printed no closing line 'trials: N passed, M failed'"; exit 1; fi
  count_line <<< "$closing" >> "$log"
else
  echo "skipped: no scripts/trials.sh"
fi

stage "doc tests"
cargo test --workspace --doc 2>&1 | tee -a "$log"

# The secret scan (cli/tests/secrets.rs: demo and CLI at TRACE, vault files, file modes) runs in
# "rust tests" above.
stage "licences and bans of every dependency (cargo-deny, offline; installs it once)"
bash scripts/check-licenses.sh
echo "test result: ok. 1 passed; 0 failed; (cargo-deny licenses and bans)" >> "$log"

stage "browser sign-in test (headless Chromium on the emulator's pages)"
OUTPOST_EMULATOR_BIN="$emulator_bin" bash emulator/tests/browser/run.sh
echo "test result: ok. 1 passed; 0 failed; (browser sign-in)" >> "$log"

stage "CLI browser sign-in test (outpost sign-in --flow browser, headless Chromium)"
# The outpost binary the CLI tests of "rust tests" ran (with the inert `failpoints` feature).
OUTPOST_EMULATOR_BIN="$emulator_bin" OUTPOST_BIN="$outpost_bin" bash tests/browser/run.sh
echo "test result: ok. 1 passed; 0 failed; (CLI browser sign-in)" >> "$log"

stage "shellcheck (scripts, including the mobile build scripts that cannot run here)"
shellcheck scripts/*.sh .ci/run bindings/scripts/*.sh tests/browser/run.sh emulator/tests/browser/run.sh \
  bindings/tests/kotlin/run.sh android-demo/viewmodels/run-jvm-tests.sh

stage "bindings: the committed Swift sources equal freshly generated ones; Swift syntax and symbols"
# From the library the tests built (without the test hooks: generate.sh checks): its exported
# interface, which is all the bindings are generated from, does not depend on the core's
# `failpoints` feature.
OUTPOST_FFI_LIB="$prebuilt/tested/$ffi_lib" OUTPOST_UNIFFI_BINDGEN="$bindgen_bin" \
  bash bindings/scripts/generate.sh "$target/bindings-release"
if ! diff -u bindings/swift/Sources/Outpost/Outpost.swift "$target/bindings-release/swift/Outpost.swift" > /dev/null; then
  echo "bindings/swift/Sources/Outpost/Outpost.swift differs from the generated bindings:"
  echo "run bindings/scripts/build-ios.sh (or copy target/bindings-release/swift/Outpost.swift) and commit"
  exit 1
fi
bash bindings/scripts/check-swift.sh --generated "$target/bindings-release/swift/Outpost.swift" | tee -a "$log.swift"
echo "test result: ok. 1 passed; 0 failed; (Swift syntax and symbol check)" >> "$log"

# The binding tests use the library built with the panic test hooks. Built for the examples, so
# that the dependencies resolve as for the tests above and only outpost-core and outpost-ffi are
# compiled again (with the hooks); `cargo build -p outpost-ffi` would recompile much of the tree.
build_and_stash hooks -q --workspace --examples --features outpost-ffi/test-hooks
# The Kotlin and android-demo scripts regenerate these bindings from the same library.
bindings_test_env=(OUTPOST_FFI_LIB="$prebuilt/hooks/$ffi_lib" OUTPOST_UNIFFI_BINDGEN="$bindgen_bin" OUTPOST_EMULATOR_BIN="$emulator_bin")
env "${bindings_test_env[@]}" bash bindings/scripts/generate.sh "$target/bindings-test" --test-hooks

stage "bindings: Python flow (pytest, generated module, real library, emulator)"
# The venv bindings/scripts/check-swift.sh uses too.
[ -x target/py-venv/bin/python ] || python3 -m venv target/py-venv
target/py-venv/bin/python -m pip install -q --disable-pip-version-check pytest
(cd bindings/tests/python && OUTPOST_BINDINGS_DIR="$target/bindings-test" \
  OUTPOST_EMULATOR_BIN="$emulator_bin" "$root/target/py-venv/bin/python" -m pytest -q) 2>&1 | tee "$log.python"
passed=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' "$log.python" | tail -1)
echo "python: ${passed:-0} passed, 0 failed" | count_line >> "$log"

stage "bindings: Kotlin on the JVM (generated code, real library, emulator)"
env "${bindings_test_env[@]}" bash bindings/tests/kotlin/run.sh | tee "$log.kotlin"
count_line < "$log.kotlin" >> "$log"

stage "android-demo view-models on the JVM (real library, emulator)"
env "${bindings_test_env[@]}" bash android-demo/viewmodels/run-jvm-tests.sh | tee "$log.android"
count_line < "$log.android" >> "$log"

stage "demo (the README's first command, non-interactive)"
demo_log=$(mktemp)
cargo run -q --release -p outpost-cli -- demo --auto 2>&1 | tee "$demo_log"
# The summary's numbers: every server row synced, one conflict shown, one password refused.
synced=$(sed -n 's/^  rows synced: \([0-9]*\) of \([0-9]*\) on the server$/\1 \2/p' "$demo_log")
read -r got want <<< "$synced" || true
if [ -z "${got:-}" ] || [ "$got" != "$want" ] || [ "$got" -lt 20000 ]; then
  echo "demo: rows synced '${got:-?}' of '${want:-?}'"; exit 1
fi
grep -qx '  conflicts: 1' "$demo_log" || { echo "demo: expected one conflict"; exit 1; }
grep -qx '  passwords refused: 1' "$demo_log" || { echo "demo: expected one refused password"; exit 1; }
echo "test result: ok. 1 passed; 0 failed; (demo summary: $got rows, 1 conflict, 1 refused password)" >> "$log"

finish
# One plain closing line with the totals of every runner above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
