#!/usr/bin/env bash
# Builds the pinned Go protoc plugins once into a version-keyed cache outside the clone and prints
# the folder holding protoc-gen-go and protoc-gen-go-grpc. Exits 3 when Go is not installed.
set -euo pipefail
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
CACHE="${ARTIMETA_CACHE:-$HOME/.cache/artimeta}"
dest="$CACHE/go-plugins/$PROTOC_GEN_GO_VERSION-$PROTOC_GEN_GO_GRPC_VERSION/bin"
if [ -x "$dest/protoc-gen-go" ] && [ -x "$dest/protoc-gen-go-grpc" ]; then
  echo "$dest"
  exit 0
fi
command -v go >/dev/null || { echo "go not found: cannot build the Go protoc plugins" >&2; exit 3; }
mkdir -p "$CACHE/go"
tmp="$dest.build.$$"
export GOBIN="$tmp" GOPATH="$CACHE/go/path" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
  GOFLAGS=-modcacherw CGO_ENABLED=0
go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION" >&2
go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION" >&2
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "$dest"
