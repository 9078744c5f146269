#!/bin/sh
# Debian packages the voice tests (tests/voice, marker "voice") and the voice
# benchmark need. Owned by the voice subsystem; called from the test setup script.
# The Python side (sippy) comes from the pinned requirements.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get install -y --no-install-recommends \
    rtpengine-daemon \
    sip-tester \
    baresip-core \
    kamailio \
    kamailio-websocket-modules \
    kamailio-tls-modules \
    janus
# The services these packages may register are not used: the tests start their own
# processes with generated configuration on free ports.
