#!/usr/bin/env bash
# SIP peers and the media engine for tests/voice (see scripts/voice-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=0
for tool in rtpengine sipp baresip janus kamailio; do
    command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] || missing=1
done
# The desk softphone's SIP-over-WebSocket edge (websocket) and its credential check (crypto).
for module in websocket crypto; do
    [[ -f "/usr/lib/x86_64-linux-gnu/kamailio/modules/$module.so" ]] || missing=1
done
if [[ $missing == 1 ]]; then
    apt-get update -qq
    sh scripts/voice-deps.sh >/dev/null
fi
