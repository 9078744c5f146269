#!/usr/bin/env bash
# The whole test suite, as CI runs it: setup, services, lint, types, import rules, tests.
# With CI set (as here) a test that needs PostgreSQL, Redis or Chromium fails rather than skips.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-1}"
started=$(date +%s)

scripts/setup.sh
scripts/services.sh
source .venv/bin/activate

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import rules"; lint-imports
echo "== tests"
pytest -n "${TSUNAGI_TEST_WORKERS:-2}" -p no:cacheprovider "$@"
echo "== all checks passed in $(( $(date +%s) - started )) s"
