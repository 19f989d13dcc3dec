#!/usr/bin/env bash
# Installs what the build and tests need on a fresh Debian 12 machine. Idempotent, no prompts.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v perl >/dev/null 2>&1 || need+=(perl)        # vendored OpenSSL's build
command -v make >/dev/null 2>&1 || need+=(make)
[ -x /usr/bin/chromium ] || need+=(chromium)               # browser sign-in test (Debian's build)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)     # drives it with playwright-core
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)   # Kotlin binding tests on the JVM
[ -f /usr/share/java/jna.jar ] || need+=(libjna-java)      # JNA, which the generated Kotlin uses
[ -f /usr/share/java/junit4.jar ] || need+=(junit4)        # JUnit 4 (and hamcrest) for those tests
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck) # build scripts that cannot run here
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)  # pytest, tree-sitter
command -v flock >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy 2>/dev/null || true
echo "dependencies present"
