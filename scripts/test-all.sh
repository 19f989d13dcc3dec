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
cargo clippy --workspace --all-targets --features outpost-core/bench-internals,outpost-core/failpoints -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT

stage "rust tests"
cargo test --workspace --all-targets --features outpost-core/failpoints 2>&1 | tee -a "$log"

stage "doc tests"
cargo test --workspace --doc 2>&1 | tee -a "$log"

stage "browser sign-in test (headless Chromium on the emulator's pages)"
bash emulator/tests/browser/run.sh
echo "test result: ok. 1 passed; 0 failed; (browser sign-in)" >> "$log"

stage "CLI browser sign-in test (outpost sign-in --flow browser, headless Chromium)"
bash tests/browser/run.sh
echo "test result: ok. 1 passed; 0 failed; (CLI browser sign-in)" >> "$log"

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
