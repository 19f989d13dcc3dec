#!/usr/bin/env bash
# Runs every cargo-fuzz target of outpost-wire (wire/fuzz) for SECONDS each (default 60).
# Optional, not in CI: it needs the nightly toolchain and installs cargo-fuzz if missing.
# The committed seeds (wire/fuzz/corpus/<target>) are read only; what the fuzzer finds goes to
# wire/fuzz/target/corpus/<target> (ignored by git). A crash stops the run with the reproducer
# in wire/fuzz/artifacts/<target>/; docs/fuzzing.md says what to do with it.
#
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../wire/fuzz"
export CARGO_TERM_COLOR=never
# Two cores shared with others: build with one job unless told otherwise.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
shift || true
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=(filter page batch keyslot org); fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

for target in "${targets[@]}"; do
  found="target/corpus/$target"
  mkdir -p "$found"
  log="target/fuzz-$target.log"
  echo "=== fuzz $target for $seconds s (log: wire/fuzz/$log)"
  if ! cargo +nightly fuzz run "$target" "$found" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "=== fuzz $target FAILED: reproducer in wire/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  # The start and end lines (coverage, features, corpus), and the final statistics.
  grep -E '(INITED|DONE) |^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
done
echo "=== fuzz: every target ran $seconds s without a crash"
