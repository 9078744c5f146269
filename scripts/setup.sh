#!/usr/bin/env bash
# Sets up a development environment: uv, a Python 3.11 venv in .venv with the pinned,
# hash-checked dependencies, and Tsunagi installed in editable mode. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
if ! command -v uv >/dev/null 2>&1 || [[ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]]; then
    python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
if [[ ! -x .venv/bin/python ]]; then
    uv venv --quiet .venv --python 3.11
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements/base.txt requirements/dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    uv pip install --quiet --python .venv/bin/python --require-hashes \
        -r requirements/base.txt -r requirements/dev.txt
    uv pip install --quiet --python .venv/bin/python --no-deps -e .
    echo "$want" > "$stamp"
fi
