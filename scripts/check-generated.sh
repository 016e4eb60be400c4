#!/usr/bin/env bash
# Regenerates code from proto/ into a scratch copy and fails if it differs from what is committed
# (Python, Go, TypeScript; Java is generated at build time and never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/client/python/src/artimeta/v1" "$scratch/scripts"
cp -r proto "$scratch/"
cp scripts/gen-proto.sh scripts/gen-proto-clients.sh scripts/gen-facade.py "$scratch/scripts/"
cp pyproject.toml "$scratch/"
# The scratch copy borrows this clone's generator installs (Go plugins cache, node_modules).
(cd "$scratch" && TOOLS_ROOT="$OLDPWD" PYTHON="$OLDPWD/$PY" bash scripts/gen-proto.sh >/dev/null 2> >(grep -v "^Writing mypy" >&2))
status=0
compare() {
  if [ ! -d "$scratch/$1" ]; then
    echo "$1: not regenerated (toolchain missing), drift not checked" >&2
    return
  fi
  if ! diff -r -q -x __init__.py -x '__pycache__' "$scratch/$1" "$1"; then
    status=1
  fi
}
compare client/python/src/artimeta/v1
compare client/python/src/artimeta/rpcs
compare client/go/artimeta/v1
compare client/typescript/src/gen
if [ "$status" != 0 ]; then
  echo "generated code is out of date with proto/: run 'make proto' and commit the result" >&2
  exit 1
fi
echo "generated code matches proto/"
