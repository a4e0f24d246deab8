#!/usr/bin/env bash
# One command: install everything the tests need, make sure PostgreSQL and Redis are up, run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/services.sh
# -rA prints every test's outcome plus the figures tests report (precision/recall, timings).
# Two workers, each taking whole modules (a module shares one server per backend); most of the
# suite waits on servers, browsers and timers, so two halve the time (41 → 20 minutes, 2 cores).
# --durations shows where the time goes, so a slow new test is noticed.
set +e
.venv/bin/python -m pytest -rA -p no:cacheprovider -n "${MV_TEST_WORKERS:-2}" --dist loadscope --durations=25 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"
