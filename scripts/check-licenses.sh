#!/usr/bin/env bash
# Licence and ban check of every dependency with cargo-deny (deny.toml at the root).
# Uses a cargo-deny of the pinned version from PATH or cargo's bin directory if there is one;
# otherwise installs it there (compiled from crates.io with --locked: ~5.5 min on one core, less
# on both), like the apt packages of install-deps.sh: once per machine, not once per clone. The advisory database cannot be fetched here, so only the
# `licenses` and `bans` checks run, offline (docs/versioning.md).
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.20.2
tools="${CARGO_HOME:-$HOME/.cargo}"
deny="$tools/bin/cargo-deny"
is_pinned() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qx "cargo-deny $version"; }
if on_path=$(command -v cargo-deny 2>/dev/null) && is_pinned "$on_path"; then
  deny="$on_path"
elif ! is_pinned "$deny"; then
  start=$(date +%s)
  echo "installing cargo-deny $version into $tools/bin (compiles from source, once per machine)"
  # cargo-deny's own release profile asks for fat LTO and one codegen unit: the slowest build
  # there is, for a tool that runs for seconds. Overridden for this install only (still
  # opt-level 3): a few minutes less on a fresh CI machine, and the same checks.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_INCREMENTAL=false \
    cargo install --locked -j "${CARGO_BUILD_JOBS:-$(nproc)}" --root "$tools" --version "$version" cargo-deny
  echo "cargo-deny installed in $(( $(date +%s) - start )) s"
fi
"$deny" --version
# `--offline` needs every package of the lock file, the other platforms' ones too (Android, iOS,
# Windows: `cargo metadata` lists them), and a build fetches only the host's: fetch them all first
# (from the registry, or nothing to do when they are there already).
cargo fetch --locked -q
"$deny" --offline --config deny.toml check licenses bans
