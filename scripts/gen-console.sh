#!/usr/bin/env bash
# Builds the web console: TypeScript types from proto/ (protoc-gen-es), then one bundle (esbuild)
# into the server package, where it is committed, so installing the server needs no Node.
# `scripts/gen-console.sh check` rebuilds into a scratch copy and fails if anything drifted.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PY="${PYTHON:-$root/.venv/bin/python}"
[[ "$PY" = /* ]] || PY="$root/$PY"
mode="${1:-build}"

if [ ! -x console/node_modules/.bin/esbuild ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
fi

build() {  # $1: the console source folder, $2: where the served files go
  local src="$1" out="$2"
  local rpc_protos
  rpc_protos="$("$PY" -c 'import pathlib; from google.rpc import error_details_pb2 as m; print(pathlib.Path(m.__file__).parent.parent.parent)')"
  rm -rf "$src/src/gen" && mkdir -p "$src/src/gen" "$out/assets"
  "$PY" -m grpc_tools.protoc -I "$root/proto" -I "$rpc_protos" \
    --plugin=protoc-gen-es="$root/console/node_modules/.bin/protoc-gen-es" \
    --es_out="$src/src/gen" --es_opt=target=ts \
    "$root"/proto/artimeta/v1/*.proto google/api/field_behavior.proto google/rpc/error_details.proto google/rpc/status.proto
  "$root/console/node_modules/.bin/esbuild" "$src/src/main.ts" --bundle --minify --format=iife \
    --target=es2020 --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$out/assets/app.js"
  cp "$src/index.html" "$out/index.html"
  cp "$src/app.css" "$out/assets/app.css"
}

if [ "$mode" = check ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  mkdir -p "$scratch/console"
  (cd console && cp -r index.html app.css tsconfig.json src "$scratch/console/")
  ln -s "$root/console/node_modules" "$scratch/console/node_modules"
  build "$scratch/console" "$scratch/served"
  status=0
  diff -r -q "$scratch/console/src/gen" console/src/gen || status=1
  diff -r -q "$scratch/served" service/src/artimeta_server/console || status=1
  if [ $status -ne 0 ]; then
    echo "the console bundle is out of date with console/ or proto/: run 'make console' and commit the result" >&2
    exit 1
  fi
  (cd console && node_modules/.bin/tsc --noEmit -p .)
  echo "console bundle matches its sources"
else
  build console service/src/artimeta_server/console
  (cd console && node_modules/.bin/tsc --noEmit -p .)
fi
