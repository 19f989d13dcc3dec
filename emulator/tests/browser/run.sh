#!/usr/bin/env bash
# Browser sign-in test: builds the emulator binary, installs playwright-core (no browser download) and drives
# Debian's Chromium through the sign-in pages (password -> TOTP -> consent -> loopback redirect with a code).
# Needs: Debian packages `chromium` and `nodejs`/`npm` (Node >= 20).
# OUTPOST_EMULATOR_BIN: an emulator binary built already (scripts/test-all.sh passes the one
# `cargo test` built); without it the emulator is built here (debug).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null || { echo "chromium not found (apt-get install -y chromium)"; exit 1; }
emulator="${OUTPOST_EMULATOR_BIN:-}"
if [ -z "$emulator" ]; then
  (cd "$root" && cargo build -q -p outpost-emulator --bin outpost-emulator)
  emulator="$target/debug/outpost-emulator"
fi
[ -x "$emulator" ] || { echo "not an executable: $emulator" >&2; exit 1; }
cd "$here"
# playwright-core never downloads a browser by itself; never run `npx playwright install` here.
npm ci --no-audit --no-fund --loglevel=error
OUTPOST_EMULATOR_BIN="$emulator" node signin.mjs
