#!/usr/bin/env bash
# Regenerates the Python code (messages, gRPC stubs, mypy stubs, Connect ASGI apps and clients)
# from proto/ into the client distribution. Output is committed; `make proto-check` fails when it drifts from proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
out=client/python/src
find "$out/artimeta/v1" \( -name '*_pb2*.py*' -o -name '*_connect.py' \) -delete
bin="$(dirname "$PY")"
"$PY" -m grpc_tools.protoc -I proto \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  --plugin=protoc-gen-connectrpc="$bin/protoc-gen-connectrpc" \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  --connectrpc_out="$out" --connectrpc_opt=protobuf=google,io=async \
  proto/artimeta/v1/*.proto
# The Python client facade's typed per-RPC methods (artimeta/rpcs/), from the same descriptors.
"$PY" scripts/gen-facade.py
# Go and TypeScript (Java generates at build time with Maven).
PYTHON="$PY" bash scripts/gen-proto-clients.sh
# The README's and the TypeScript client's retry tables (a drift check's scratch copy has neither
# the script nor README.md; tests/unit/test_retry_classes.py checks both tables against the proto).
if [ -f scripts/retry-table.py ]; then "$PY" scripts/retry-table.py; fi
