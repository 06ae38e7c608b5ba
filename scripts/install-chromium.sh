#!/usr/bin/env bash
# Debian's chromium for the browser test and the report's PNG (headless;
# no recommends, no service started).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing chromium (Debian package, about 20 s)"
  scripts/apt-no-start.sh --no-install-recommends chromium fonts-dejavu-core
fi
chromium --version 2>/dev/null
