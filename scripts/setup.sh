#!/usr/bin/env bash
# Sets up a development environment: uv, a Python 3.11 venv in .venv with the pinned,
# hash-checked dependencies, and Tsunagi installed in editable mode. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
if ! command -v uv >/dev/null 2>&1 || [[ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]]; then
    python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
# The interpreter: Debian's python3.11 when there is one. It is built with profile-guided
# and link-time optimisation; a Python built from source without them (pyenv's default)
# runs our server 20-40 % slower (decision 0011). Otherwise any Python 3.11 uv finds.
python=3.11
if [[ -x /usr/bin/python3.11 ]]; then python=/usr/bin/python3.11; fi
if [[ -x .venv/bin/python && "$(cat .venv/.interpreter 2>/dev/null)" != "$python" ]]; then
    rm -rf .venv   # made with another interpreter: made again below
fi
if [[ ! -x .venv/bin/python ]]; then
    uv venv --quiet .venv --python "$python"
    echo "$python" > .venv/.interpreter
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements/base.txt requirements/dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    uv pip install --quiet --python .venv/bin/python --require-hashes \
        -r requirements/base.txt -r requirements/dev.txt
    uv pip install --quiet --python .venv/bin/python --no-deps -e .
    echo "$want" > "$stamp"
fi

# Browser libraries (package.json, exact versions) served under /static/vendor/: the
# desk softphone's SIP stack (JsSIP, bundled by esbuild). No lock file is written (it would record registry
# URLs); node_modules/ is ignored by git.
if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
want_js=$(sha256sum package.json | cut -d' ' -f1)
if [[ ! -f node_modules/.package.sha256 || "$(cat node_modules/.package.sha256)" != "$want_js" ]]; then
    npm install --no-package-lock --ignore-scripts --no-audit --no-fund --silent
    # JsSIP ships CommonJS only: one ES module for the browser, node_modules/.vendor/jssip.js.
    npm run --silent vendor >/dev/null
    echo "$want_js" > node_modules/.package.sha256
fi
