#!/usr/bin/env bash
# Extracts translatable messages and merges them into the Japanese catalogue; then
# translate the new empty entries (tests/unit/test_i18n.py fails while one is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
pot=$(mktemp --suffix=.pot)
pybabel -q extract -F babel.cfg -k N_ --no-location --sort-output -o "$pot" . >/dev/null
pybabel -q update -i "$pot" -d src/tsunagi/i18n -l ja --no-fuzzy-matching --ignore-obsolete
rm -f "$pot"
grep -c '^msgstr ""$' src/tsunagi/i18n/ja/LC_MESSAGES/messages.po | xargs -I{} echo "entries to translate (header included): {}"
