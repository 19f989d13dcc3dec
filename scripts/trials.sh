#!/usr/bin/env bash
# Randomized multi-device sync trials with shrinking (cli/tests/trials.rs): devices with real
# vaults against one emulator, random operations and faults, then the user-level invariants.
#
#   scripts/trials.sh [N]     N trials (default 10000), a random base seed, 2 trials at once
#   scripts/trials.sh --ci    at least 200 trials within 4 minutes (fixed base seed)
#   options: --seed S (base seed), --jobs J, --seconds S (no new trial after S seconds),
#            --kills P (percentage of trials with SIGKILLed child syncs), --shrink S (seconds)
#
# A failing trial prints its seed, its operations, the shrunk list and the command that replays
# it (OUTPOST_TRIAL_SEED=… [OUTPOST_TRIAL_KEEP=…] cargo test --workspace … --test trials). The last line is
# `trials: N passed, M failed`; the exit status is non-zero on any violation.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

trials=10000
seed=""
jobs=2
seconds=""
kills=10
shrink=""
ci=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) ci=1; trials=200; seed=20261201 ;;
    --seed) seed="$2"; shift ;;
    --jobs) jobs="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --kills) kills="$2"; shift ;;
    --shrink) shrink="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *[!0-9]*|"") echo "usage: scripts/trials.sh [N | --ci] [--seed S] [--jobs J] [--seconds S] [--kills P] [--shrink S]" >&2; exit 2 ;;
    *) trials="$1" ;;
  esac
  shift
done
if [ "$ci" = 1 ]; then
  # 4 minutes in all: trials start for 190 s, shrinking gets 30 s.
  seconds="${seconds:-190}"
  shrink="${shrink:-30}"
else
  seed="${seed:-$(( $(date +%s) * 1000 + RANDOM ))}"
  seconds="${seconds:-$(( trials * 3 + 60 ))}"
  shrink="${shrink:-300}"
fi

# The feature set and the package selection of scripts/test-all.sh's test build, so nothing is
# rebuilt between the two (`-p outpost-cli` would resolve the dependencies' features for that
# package alone and recompile much of the tree: about 3 minutes on a 2-core machine).
build=(cargo test --workspace --features outpost-core/failpoints --test trials)
"${build[@]}" --no-run -q

log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$(date +%s)
status=0
OUTPOST_TRIALS="$trials" OUTPOST_TRIALS_BASE_SEED="$seed" OUTPOST_TRIALS_JOBS="$jobs" \
  OUTPOST_TRIALS_SECONDS="$seconds" OUTPOST_TRIALS_KILL_PERCENT="$kills" OUTPOST_TRIALS_SHRINK_SECONDS="$shrink" \
  "${build[@]}" -q -- --nocapture --exact randomized_multi_device_trials 2>&1 | tee "$log" || status=$?
took=$(( $(date +%s) - started ))

line=$(grep -E '^trials: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
if [ -z "$line" ]; then
  echo "the trial run ended without its summary (exit status $status); see above"
  echo "trials: 0 passed, 1 failed"
  exit 1
fi
read -r _ passed _ failed _ <<< "${line//,/}"
ran=$(( passed + failed ))
echo "base seed $seed, $jobs at once: $ran trials in $took s"
if [ "$ci" = 1 ] && { [ "$ran" -lt 200 ] || [ "$took" -gt 240 ]; }; then
  echo "--ci: $ran trials in $took s; the mode promises at least 200 within 240 s (machine too busy?)"
  [ "$status" -ne 0 ] || status=3
fi
echo "$line"
if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then status=1; fi
exit "$status"
