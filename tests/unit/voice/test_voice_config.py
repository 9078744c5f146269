"""Generated configuration of the voice components (pure text checks; the voice tests
start the real programs with it)."""

from __future__ import annotations

from pathlib import Path

from tsunagi.adapters.telephony.processes import (
    JanusSettings,
    KamailioSettings,
    RtpengineSettings,
)


def test_rtpengine_config_is_ours_not_the_system_one(tmp_path: Path) -> None:
    settings = RtpengineSettings(workdir=tmp_path, ng_port=4000, rtp_port_min=20000)
    text = settings.config_text()
    assert text.startswith("[rtpengine]\n")
    assert "listen-ng = 127.0.0.1:4000" in text
    assert "table = -1" in text  # no kernel module
    assert "recording-method = pcap" in text
    assert "listen-cli" not in text and "listen-http" not in text
    assert f"--config-file={tmp_path / 'rtpengine.conf'}" in settings.argv("rtpengine")


def test_kamailio_config_routes_to_the_worker_and_record_routes(tmp_path: Path) -> None:
    text = KamailioSettings(
        workdir=tmp_path, worker_host="127.0.0.1", worker_port=5080, port=5070, secret="s" * 43
    ).config_text()
    assert "listen=udp:127.0.0.1:5070" in text
    assert '$du = "sip:127.0.0.1:5080";' in text
    assert "record_route();" in text and "loose_route()" in text
    assert 'save("location");' in text and 'lookup("location")' in text


def test_janus_runs_only_audiobridge_over_http_on_loopback(tmp_path: Path) -> None:
    files = JanusSettings(
        workdir=tmp_path, http_port=9000, rtp_port_min=30000, rtp_port_max=30399
    ).config_files()
    main = files["janus.jcfg"]
    assert "session_timeout = 0" in main
    assert "libjanus_videoroom.so" in main  # disabled
    assert "libjanus_audiobridge.so" not in main
    bridge = files["janus.plugin.audiobridge.jcfg"]
    assert 'local_ip = "127.0.0.1"' in bridge
    assert 'rtp_port_range = "30200-30399"' in bridge
    assert "port = 9000" in files["janus.transport.http.jcfg"]
