#!/usr/bin/env bash
# End-to-end: `outpost sign-in --flow browser` completed by Debian's headless Chromium on the emulator's pages
# (password -> TOTP -> redirect to the CLI's own loopback listener); the vault holds the account afterwards.
# Needs: Debian packages `chromium` and `nodejs`/`npm` (Node >= 20). Never downloads a browser.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null || { echo "chromium not found (apt-get install -y chromium)"; exit 1; }
(cd "$root" && cargo build -q -p outpost-emulator --bin outpost-emulator && cargo build -q -p outpost-cli --bin outpost)
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
OUTPOST_EMULATOR_BIN="$target/debug/outpost-emulator" OUTPOST_BIN="$target/debug/outpost" node cli-signin.mjs
