#!/usr/bin/env bash
# Browser sign-in test: builds the emulator binary, installs playwright-core (no browser download) and drives
# Debian's Chromium through the sign-in pages (password -> TOTP -> consent -> loopback redirect with a code).
# Needs: Debian packages `chromium` and `nodejs`/`npm` (Node >= 20).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null || { echo "chromium not found (apt-get install -y chromium)"; exit 1; }
(cd "$root" && cargo build -q -p outpost-emulator --bin outpost-emulator)
cd "$here"
# playwright-core never downloads a browser by itself; never run `npx playwright install` here.
npm ci --no-audit --no-fund --loglevel=error
OUTPOST_EMULATOR_BIN="$target/debug/outpost-emulator" node signin.mjs
