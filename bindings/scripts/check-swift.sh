#!/usr/bin/env bash
# Static checks of the Swift code where no Swift compiler exists: every .swift file under
# bindings/swift and ios-demo parses (tree-sitter-swift), and every Outpost symbol the
# hand-written Swift uses exists in the generated bindings (check-swift.py says exactly what).
#
#   bindings/scripts/check-swift.sh [--fresh | --generated PATH/Outpost.swift] [--verbose]
#
# --fresh          generate the bindings now (generate.sh, no test hooks, into target/swift-check)
#                  and also check that the committed Outpost.swift equals the fresh one.
# --generated P    the same comparison against an Outpost.swift generated elsewhere (CI).
# The Python packages go into the venv target/py-venv (OUTPOST_PY_VENV), created if missing;
# the grammar is pinned so that results do not change under our feet.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${OUTPOST_PY_VENV:-$root/target/py-venv}"
pins=(tree-sitter==0.26.1 tree-sitter-swift==0.7.4)

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" - "${pins[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (p.split("==") for p in sys.argv[1:])))
PY
then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
fi

args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh)
      fresh="${CARGO_TARGET_DIR:-$root/target}/swift-check"
      bash "$root/bindings/scripts/generate.sh" "$fresh" >&2
      args+=(--generated "$fresh/swift/Outpost.swift"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
# `${a[@]+"${a[@]}"}`: an empty array under `set -u` in macOS's bash 3.2.
exec "$venv/bin/python" "$root/bindings/scripts/check-swift.py" ${args[@]+"${args[@]}"}
