#!/usr/bin/env bash
# Builds Helm once into ~/.cache/artimeta/helm/<version>/ and prints the binary's path (exit 3 without Go).
exec bash "$(dirname "$0")/go-tool.sh" helm helm.sh/helm/v3/cmd/helm "${HELM_VERSION:-v3.22.0}"
