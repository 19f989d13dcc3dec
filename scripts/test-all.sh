#!/usr/bin/env bash
# Runs every test of the project. Installs what it needs first (idempotent, no prompts).
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

stage_start=0
stage() {
  local now; now=$(date +%s)
  if [ "$stage_start" -ne 0 ]; then echo "=== stage '$stage_name' took $((now - stage_start)) s"; fi
  stage_name="$1"; stage_start=$now
  echo "=== stage: $1"
}
finish() { stage "done"; }

stage "install"
bash scripts/install-deps.sh

stage "format"
cargo fmt --all -- --check

stage "clippy"
cargo clippy --workspace --all-targets --features outpost-core/bench-internals,outpost-core/failpoints,outpost-ffi/test-hooks -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT

stage "rust tests"
cargo test --workspace --all-targets --no-fail-fast --features outpost-core/failpoints 2>&1 | tee -a "$log"

stage "doc tests"
cargo test --workspace --doc 2>&1 | tee -a "$log"

# The secret scan (cli/tests/secrets.rs: demo and CLI at TRACE, vault files, file modes) runs in
# "rust tests" above.
stage "licences and bans of every dependency (cargo-deny, offline; installs it once)"
bash scripts/check-licenses.sh
echo "test result: ok. 1 passed; 0 failed; (cargo-deny licenses and bans)" >> "$log"

stage "browser sign-in test (headless Chromium on the emulator's pages)"
bash emulator/tests/browser/run.sh
echo "test result: ok. 1 passed; 0 failed; (browser sign-in)" >> "$log"

stage "CLI browser sign-in test (outpost sign-in --flow browser, headless Chromium)"
bash tests/browser/run.sh
echo "test result: ok. 1 passed; 0 failed; (CLI browser sign-in)" >> "$log"

stage "shellcheck (scripts, including the mobile build scripts that cannot run here)"
shellcheck scripts/*.sh .ci/run bindings/scripts/*.sh tests/browser/run.sh emulator/tests/browser/run.sh \
  bindings/tests/kotlin/run.sh android-demo/viewmodels/run-jvm-tests.sh

stage "bindings: the committed Swift sources equal freshly generated ones; Swift syntax and symbols"
bash bindings/scripts/generate.sh target/bindings-release
if ! diff -u bindings/swift/Sources/Outpost/Outpost.swift target/bindings-release/swift/Outpost.swift > /dev/null; then
  echo "bindings/swift/Sources/Outpost/Outpost.swift differs from the generated bindings:"
  echo "run bindings/scripts/build-ios.sh (or copy target/bindings-release/swift/Outpost.swift) and commit"
  exit 1
fi
bash bindings/scripts/check-swift.sh --generated target/bindings-release/swift/Outpost.swift | tee -a "$log.swift"
echo "test result: ok. 1 passed; 0 failed; (Swift syntax and symbol check)" >> "$log"

# The binding tests use the library built with the panic test hooks.
bash bindings/scripts/generate.sh target/bindings-test --test-hooks
cargo build -q -p outpost-emulator --bin outpost-emulator

# "N passed, M failed" (a runner's own closing line) into the format the total below counts.
count_line() { sed -n 's/^\([a-z-]*\): \([0-9]*\) passed, \([0-9]*\) failed$/test result: ok. \2 passed; \3 failed; (\1)/p'; }

stage "bindings: Python flow (pytest, generated module, real library, emulator)"
[ -x target/py-venv/bin/python ] || python3 -m venv target/py-venv
target/py-venv/bin/python -m pip install -q --disable-pip-version-check pytest
py_log=$(mktemp)
(cd bindings/tests/python && OUTPOST_BINDINGS_DIR="$PWD/../../../target/bindings-test" \
  OUTPOST_EMULATOR_BIN="$PWD/../../../target/debug/outpost-emulator" ../../../target/py-venv/bin/python -m pytest -q) 2>&1 | tee "$py_log"
passed=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' "$py_log" | tail -1)
echo "python: ${passed:-0} passed, 0 failed" | count_line >> "$log"
rm -f "$py_log"

stage "bindings: Kotlin on the JVM (generated code, real library, emulator)"
bash bindings/tests/kotlin/run.sh | tee "$log.kotlin"
count_line < "$log.kotlin" >> "$log"

stage "android-demo view-models on the JVM (real library, emulator)"
bash android-demo/viewmodels/run-jvm-tests.sh | tee "$log.android"
count_line < "$log.android" >> "$log"
rm -f "$log.swift" "$log.kotlin" "$log.android"

stage "demo (the README's first command, non-interactive)"
demo_log=$(mktemp)
trap 'rm -f "$log" "$demo_log"' EXIT
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
