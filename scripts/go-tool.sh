#!/usr/bin/env bash
# go-tool.sh NAME PACKAGE VERSION: builds a Go program once into
# ~/.cache/artimeta/NAME/VERSION/bin/NAME (ARTIMETA_CACHE overrides the root) and prints its path.
# Reruns and CI on the same machine reuse the build; without Go it exits 3 with the reason.
set -euo pipefail
name="$1" package="$2" version="$3"
CACHE="${ARTIMETA_CACHE:-$HOME/.cache/artimeta}"
dest="$CACHE/$name/$version"
if [ -x "$dest/bin/$name" ]; then
  echo "$dest/bin/$name"
  exit 0
fi
command -v go >/dev/null || { echo "go not found: cannot build $name" >&2; exit 3; }
mkdir -p "$dest" "$CACHE/go"
tmp="$dest/.build.$$"
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" GOPATH="$CACHE/go/path" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
  GOFLAGS=-modcacherw CGO_ENABLED=0 \
  go install "$package@$version" >&2
mkdir -p "$dest/bin"
mv "$tmp/$name" "$dest/bin/$name"
echo "$dest/bin/$name"
