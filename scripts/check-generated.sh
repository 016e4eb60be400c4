#!/usr/bin/env bash
# Regenerates code from proto/ into a scratch copy and fails if it differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/client/python/src/artimeta/v1" "$scratch/scripts"
cp -r proto "$scratch/"
cp scripts/gen-proto.sh "$scratch/scripts/"
(cd "$scratch" && PYTHON="$OLDPWD/$PY" bash scripts/gen-proto.sh >/dev/null 2>&1)
if ! diff -r -q -x __init__.py -x '__pycache__' "$scratch/client/python/src/artimeta/v1" client/python/src/artimeta/v1; then
  echo "generated code is out of date with proto/: run 'make proto' and commit the result" >&2
  exit 1
fi
echo "generated code matches proto/"
