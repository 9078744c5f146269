#!/usr/bin/env bash
# SIP peers and the media engine for tests/voice (see scripts/voice-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v rtpengine >/dev/null || ! command -v sipp >/dev/null || ! command -v baresip >/dev/null; then
    apt-get update -qq
    sh scripts/voice-deps.sh >/dev/null
fi
