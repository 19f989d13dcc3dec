#!/usr/bin/env bash
# End-to-end: `outpost sign-in --flow browser` completed by Debian's headless Chromium on the emulator's pages
# (password -> TOTP -> redirect to the CLI's own loopback listener); the vault holds the account afterwards.
# Needs: Debian packages `chromium` and `nodejs`/`npm` (Node >= 20). Never downloads a browser.
# OUTPOST_EMULATOR_BIN and OUTPOST_BIN: binaries built already (scripts/test-all.sh passes the ones
# `cargo test` built); each one that is not set is built here (debug).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null || { echo "chromium not found (apt-get install -y chromium)"; exit 1; }
emulator="${OUTPOST_EMULATOR_BIN:-}"
outpost="${OUTPOST_BIN:-}"
if [ -z "$emulator" ]; then
  (cd "$root" && cargo build -q -p outpost-emulator --bin outpost-emulator)
  emulator="$target/debug/outpost-emulator"
fi
if [ -z "$outpost" ]; then
  (cd "$root" && cargo build -q -p outpost-cli --bin outpost)
  outpost="$target/debug/outpost"
fi
for bin in "$emulator" "$outpost"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 1; }
done
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
OUTPOST_EMULATOR_BIN="$emulator" OUTPOST_BIN="$outpost" node cli-signin.mjs
