#!/usr/bin/env bash
# Dovecot (IMAP) for tests/integration/email and benchmarks/email. The tests start their
# own unprivileged-config instance on a free port; nothing is started here.
set -euo pipefail
if ! command -v dovecot >/dev/null && [[ ! -x /usr/sbin/dovecot ]]; then
    [[ -n "${APT_UPDATED:-}" ]] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
fi
