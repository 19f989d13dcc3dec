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

finish
# One plain closing line with the totals of every runner above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
