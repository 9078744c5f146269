"""The whole voice service from settings: start, health, a dead component restarted,
clear errors for a taken port, and a call through the edge."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from voice_peers import require_tool, run_sipp

from tsunagi.adapters.telephony.edge_auth import edge_secret
from tsunagi.adapters.telephony.processes import ComponentError, free_port, free_udp_range
from tsunagi.adapters.telephony.service import VoiceService, VoiceSettings
from tsunagi.ports.telephony import CallHungUp, CallOffered, DtmfReceived

pytestmark = [pytest.mark.voice, pytest.mark.slow]

SCENARIOS = Path(__file__).parent / "scenarios"


def settings_for(tmp_path: Path, media_dir: Path) -> VoiceSettings:
    for tool, package in (("rtpengine", "rtpengine-daemon"), ("janus", "janus")):
        require_tool(tool, package)
    require_tool("kamailio", "kamailio")
    rtp = free_udp_range(200)
    mix = free_udp_range(200)
    return VoiceSettings(
        workdir=tmp_path / "voice",
        media_dir=media_dir,
        worker_sip_port=free_port(),
        edge_sip_port=free_port(),
        ng_port=free_port(),
        dtmf_log_port=free_port(),
        rtp_ports=(rtp, rtp + 199),
        mixer_http_port=free_port(socket.SOCK_STREAM),
        mixer_rtp_ports=(mix, mix + 199),
        edge_secret=edge_secret(b"s" * 32),  # desk phones' passwords; none register here
    )


async def test_service_starts_serves_a_call_through_the_edge_and_heals(
    tmp_path: Path, media_dir: Path
) -> None:
    settings = settings_for(tmp_path, media_dir)
    service = VoiceService(settings)
    engine = await service.start()
    try:
        assert service.health() == {"rtpengine": True, "worker": True, "mixer": True, "edge": True}
        events = engine.events()
        sipp = asyncio.create_task(
            asyncio.to_thread(
                run_sipp,
                SCENARIOS / "caller_info_dtmf.xml",
                f"127.0.0.1:{settings.edge_sip_port}",
                workdir=tmp_path,
            )
        )
        offered = await asyncio.wait_for(anext(events), 10)
        assert isinstance(offered, CallOffered)
        await engine.answer(offered.leg_id)
        seen = []
        while not seen or not isinstance(seen[-1], CallHungUp):
            seen.append(await asyncio.wait_for(anext(events), 10))
        assert any(isinstance(e, DtmfReceived) and e.digit == "5" for e in seen), seen
        result = await sipp
        assert result.returncode == 0, result.stdout[-1500:]

        proc = service._parts.rtpengine
        assert proc is not None
        proc.kill()
        assert service.health()["rtpengine"] is False
        await service.restart_dead()
        await asyncio.sleep(2.5)  # the engine's next health pings reach the new rtpengine
        assert service.health() == {"rtpengine": True, "worker": True, "mixer": True, "edge": True}
        assert service.restarts == {"rtpengine": 1}
    finally:
        await service.stop()
    assert service.health()["rtpengine"] is False


async def test_a_taken_port_is_named_and_nothing_is_left_running(
    tmp_path: Path, media_dir: Path
) -> None:
    settings = settings_for(tmp_path, media_dir)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", settings.edge_sip_port or 0))
        service = VoiceService(settings)
        with pytest.raises(ComponentError, match=f"port 127.0.0.1:{settings.edge_sip_port}"):
            await service.start()
    assert service.engine is None
    assert not any(service.health().values())
