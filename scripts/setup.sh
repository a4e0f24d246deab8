#!/usr/bin/env bash
# Installs what MentalVerse Live needs on a fresh machine: a virtualenv with the Python package
# and its extras, and the npm packages (socket.io-client for the web client).
# Usage: scripts/setup.sh [--test]   (--test also installs test-only tools: Debian chromium, iproute2)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e ".[dev]"
# python-magic (shared files' types are read from their bytes) needs Debian's libmagic.
if ! .venv/bin/python -c "import magic" >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmagic1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq file
fi

if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent

if [ "${1:-}" = "--test" ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi
