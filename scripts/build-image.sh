#!/usr/bin/env bash
# Opt-in (`make image`): builds the server image from deploy/Containerfile without Docker and
# without a container registry, then prints its name. Container registries are out of reach
# here, so the base image is a Debian bookworm root filesystem made by mmdebstrap from Debian's
# package mirror (python3 3.11, the same ABI as the wheels), cached in
# ~/.cache/artimeta/image-base/<suite>/; the wheels are downloaded on the host (pip cannot reach
# the index from inside a build step) and mounted into the build.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE="${IMAGE_BASE_SUITE:-bookworm}"
TAG="${IMAGE_TAG:-localhost/artimeta-server:dev}"
CACHE="${ARTIMETA_CACHE:-$HOME/.cache/artimeta}"
PY="${PYTHON:-.venv/bin/python}"

missing=()
for tool in buildah podman mmdebstrap runc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman mmdebstrap runc >&2
  else
    echo "needs ${missing[*]} (Debian: apt-get install buildah podman mmdebstrap)" >&2
    exit 3
  fi
fi

base_dir="$CACHE/image-base/$SUITE"
base="localhost/artimeta-base:$SUITE"
if [ ! -s "$base_dir/rootfs.tar" ]; then
  mkdir -p "$base_dir"
  mmdebstrap --format=tar --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$base_dir/rootfs.tar.part" >&2
  mv "$base_dir/rootfs.tar.part" "$base_dir/rootfs.tar"
fi
if ! podman image exists "$base"; then
  podman import "$base_dir/rootfs.tar" "$base" >&2
fi

key=$(cat requirements/dev.txt service/pyproject.toml client/python/pyproject.toml | sha256sum | cut -c1-12)
wheels="$CACHE/image-wheels/$key"
if [ ! -e "$wheels/.done" ]; then
  mkdir -p "$wheels"
  "$PY" -m pip download -q -d "$wheels" -c requirements/dev.txt \
    "./client/python" "./service[otel]" hatchling >&2
  touch "$wheels/.done"
fi

buildah bud --isolation chroot --layers=false \
  --volume "$wheels:/wheels:ro" \
  --build-arg "PYTHON_IMAGE=$base" \
  --build-arg "PIP_EXTRA=--no-index --find-links /wheels" \
  -f deploy/Containerfile -t "$TAG" . >&2
echo "$TAG"
