#!/usr/bin/env bash
# Makes sure a system Chromium exists for the browser tests (Playwright drives it; its own browser
# download is not used). Installs Debian's package when missing and we are root; prints the path.
set -euo pipefail
for candidate in "${ARTIMETA_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "no chromium found and cannot install it (needs root and apt-get): the browser tests will be skipped" >&2
  exit 1
fi
echo "installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
echo /usr/bin/chromium
