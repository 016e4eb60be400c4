#!/usr/bin/env bash
# Regenerates the Go and TypeScript code from proto/ (Java generates at build time with Maven).
# Output is committed; `make proto-check` runs this in a scratch copy and fails on any difference.
# A language whose toolchain is missing is skipped with a message, never silently.
# TOOLS_ROOT is the clone holding client/typescript/node_modules (the scratch copy borrows it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
TOOLS_ROOT="${TOOLS_ROOT:-$PWD}"
GO_MODULE=github.com/artimeta/artimeta/client/go
protos=(proto/artimeta/v1/*.proto)

# Go: protoc-gen-go + protoc-gen-go-grpc, pinned in scripts/ensure-go-plugins.sh.
if plugins="$(bash "$TOOLS_ROOT/scripts/ensure-go-plugins.sh")"; then
  mkdir -p client/go/artimeta/v1
  find client/go/artimeta/v1 -name '*.pb.go' -delete
  "$PY" -m grpc_tools.protoc -I proto \
    --plugin=protoc-gen-go="$plugins/protoc-gen-go" --plugin=protoc-gen-go-grpc="$plugins/protoc-gen-go-grpc" \
    --go_out=client/go --go_opt=module=$GO_MODULE \
    --go-grpc_out=client/go --go-grpc_opt=module=$GO_MODULE \
    "${protos[@]}"
else
  echo "skipping Go code generation: Go toolchain not found" >&2
fi

# TypeScript: ts-proto (pinned in client/typescript/package-lock.json) over @grpc/grpc-js.
ts_root="$TOOLS_ROOT/client/typescript"
if command -v npm >/dev/null; then
  if [ ! -x "$ts_root/node_modules/.bin/protoc-gen-ts_proto" ]; then
    (cd "$ts_root" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  # google.rpc.Status / ErrorInfo come from googleapis-common-protos, already in the virtualenv.
  rpc_protos=$(mktemp -d)
  trap 'rm -rf "$rpc_protos"' EXIT
  rpc_dir=$("$PY" -c 'import os, google.rpc.status_pb2 as m; print(os.path.dirname(m.__file__))')
  mkdir -p "$rpc_protos/google/rpc"
  cp "$rpc_dir/status.proto" "$rpc_dir/error_details.proto" "$rpc_protos/google/rpc/"
  out=client/typescript/src/gen
  rm -rf "$out" && mkdir -p "$out"
  "$PY" -m grpc_tools.protoc -I proto -I "$rpc_protos" \
    --plugin=protoc-gen-ts_proto="$ts_root/node_modules/.bin/protoc-gen-ts_proto" \
    --ts_proto_out="$out" \
    --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,env=node,useOptionals=messages,forceLong=string \
    "${protos[@]}" google/rpc/status.proto google/rpc/error_details.proto
else
  echo "skipping TypeScript code generation: npm not found" >&2
fi
