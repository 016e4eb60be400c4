#!/usr/bin/env bash
# Builds Helm once into a version-keyed cache outside the clone and prints the binary's path.
# Reruns and CI on the same machine reuse the build; without Go it exits 3 with the reason.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${ARTIMETA_CACHE:-$HOME/.cache/artimeta}"
dest="$CACHE/helm/$HELM_VERSION"
if [ -x "$dest/bin/helm" ]; then
  echo "$dest/bin/helm"
  exit 0
fi
command -v go >/dev/null || { echo "go not found: cannot build helm" >&2; exit 3; }
mkdir -p "$dest" "$CACHE/go"
tmp="$dest/.build.$$"
GOBIN="$tmp" GOPATH="$CACHE/go/path" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
  GOFLAGS=-modcacherw CGO_ENABLED=0 \
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
mkdir -p "$dest/bin"
mv "$tmp/helm" "$dest/bin/helm"
rmdir "$tmp"
echo "$dest/bin/helm"
