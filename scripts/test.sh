#!/usr/bin/env bash
# One command: install everything the tests need, make sure PostgreSQL and Redis are up, run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/services.sh
# -rA prints every test's outcome plus the figures tests report (precision/recall, timings).
set +e
.venv/bin/python -m pytest -rA -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"
