#!/usr/bin/env bash
# The one benchmark command (issue 8): builds the emulator (a separate process during the bench)
# and the stripped mobile build of the bindings library (for its size), then runs the headline
# bench, which prints one table and, with OUTPOST_BENCH_WRITE_DOCS=1 (the default here), rewrites
# its block of docs/performance.md.
#
#   bash scripts/bench.sh                       # 100,000 rows, plus the 1,000,000-row RSS child
#   OUTPOST_BENCH_ROWS=20000 OUTPOST_BENCH_RSS_ROWS=0 OUTPOST_BENCH_GB_ROWS=0 bash scripts/bench.sh
#
# Not part of CI: a full run takes 10-15 minutes on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export OUTPOST_BENCH_WRITE_DOCS="${OUTPOST_BENCH_WRITE_DOCS:-1}"

echo "=== bench: building the emulator (release) and the bindings library (mobile profile)"
cargo build --release -q -p outpost-emulator --bin outpost-emulator
cargo build --profile mobile -q -p outpost-ffi

echo "=== bench: running"
cargo bench -q -p outpost-core --features bench-internals --bench headline
