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
cargo clippy --workspace --all-targets --features outpost-core/bench-internals -- -D warnings

stage "rust tests"
cargo test --workspace --all-targets

stage "doc tests"
cargo test --workspace --doc

finish
