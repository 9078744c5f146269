#!/usr/bin/env bash
# Makes sure what the integration and browser tests need is here and running:
# PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379, Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    if [[ -z "${APT_UPDATED:-}" ]]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! port_open 6379; then
    command -v redis-server >/dev/null || apt_install redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
[[ -x /usr/bin/chromium ]] || apt_install chromium
# Japanese glyphs for screenshots and PDF reports.
[[ -d /usr/share/fonts/opentype/noto ]] || apt_install fonts-noto-cjk
# Subsystems with tools of their own (SIP peers, mail servers…) add a script here.
for extra in scripts/services.d/*.sh; do
    [[ -e "$extra" ]] && bash "$extra"
done

for _ in $(seq 1 50); do
    port_open 5432 && port_open 6379 && exit 0
    sleep 0.2
done
echo "PostgreSQL or Redis did not come up" >&2
exit 1
