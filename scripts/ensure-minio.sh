#!/usr/bin/env bash
# Builds MinIO (source-only upstream) once into a version-keyed cache outside the clone and prints
# the binary's path. Reruns and CI on the same machine reuse the build.
set -euo pipefail
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${ARTIMETA_CACHE:-$HOME/.cache/artimeta}"
dest="$CACHE/minio/$MINIO_VERSION"
if [ -x "$dest/bin/minio" ]; then
  echo "$dest/bin/minio"
  exit 0
fi
command -v go >/dev/null || { echo "go not found: cannot build MinIO" >&2; exit 3; }
mkdir -p "$dest" "$CACHE/go"
tmp="$dest/.build.$$"
GOBIN="$tmp" GOPATH="$CACHE/go/path" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
  GOFLAGS=-modcacherw CGO_ENABLED=0 \
  go install "github.com/minio/minio@$MINIO_VERSION" >&2
mkdir -p "$dest/bin"
mv "$tmp/minio" "$dest/bin/minio"
rmdir "$tmp"
echo "$dest/bin/minio"
