#!/usr/bin/env bash
# One command: install everything the tests need, make sure PostgreSQL and Redis are up, run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/services.sh
# -rA prints every test's outcome plus the figures tests report (precision/recall, timings).
exec .venv/bin/python -m pytest -rA -p no:cacheprovider "$@"
