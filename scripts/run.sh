#!/usr/bin/env bash
# One command: install, then run the server (SQLite + in-process Socket.IO by default).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m server "$@"
