#!/usr/bin/env bash
# Sets up Tsunagi and starts the demo center on the embedded database (SQLite in var/demo).
# Open the printed address; every demo account's password is printed too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/tsunagi demo --data-dir "${TSUNAGI_DEMO_DIR:-var/demo}" "$@"
