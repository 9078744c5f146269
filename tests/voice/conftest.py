"""Fixtures for tests against real SIP/RTP components (marker ``voice``).

Every component is a child process started here on free ports and stopped by PID
when the test ends. The voice worker (sippy) runs in this process.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tsunagi.adapters.telephony.engine import SippyRtpengineEngine, VoiceWorkerConfig
from tsunagi.adapters.telephony.processes import (
    ComponentError,
    JanusSettings,
    ManagedProcess,
    RtpengineSettings,
    free_port,
    free_udp_range,
    start_janus,
    start_rtpengine,
)
from tsunagi.ports.telephony import TelephonyEvent

# The helpers next to this file are plain modules (tests/ is not a package).
sys.path.insert(0, str(Path(__file__).parent))
from voice_peers import require_tool, write_tone

PROMPT_HZ = 440.0
MUSIC_HZ = 350.0
MENU_HZ = 800.0
T = TypeVar("T")


class MediaPlane:
    """The test's rtpengine: its settings and process, which a test may kill and restart."""

    def __init__(self, settings: RtpengineSettings) -> None:
        self.settings = settings
        self.proc: ManagedProcess = start_rtpengine(settings)

    def kill(self) -> None:
        self.proc.kill()

    def restart(self) -> None:
        self.proc.stop()
        self.proc = start_rtpengine(self.settings)


@pytest.fixture
def rtpengine(tmp_path: Path) -> Iterator[MediaPlane]:
    require_tool("rtpengine", "rtpengine-daemon")
    plane = _started_plane(tmp_path / "rtpengine")
    yield plane
    plane.proc.stop()


def _started_plane(workdir: Path) -> MediaPlane:
    """rtpengine on ports free a moment ago; the other test process may take one before
    rtpengine binds it, so a taken port means: choose again (at most three times)."""
    for attempt in range(3):
        base = free_udp_range(200)
        settings = RtpengineSettings(
            workdir=workdir,
            ng_port=free_port(),
            dtmf_log_port=free_port(),
            rtp_port_min=base,
            rtp_port_max=base + 199,
        )
        try:
            return MediaPlane(settings)
        except ComponentError as exc:
            if "Address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "media"
    directory.mkdir()
    write_tone(directory / "welcome.wav", PROMPT_HZ, 1.0)
    write_tone(directory / "music.wav", MUSIC_HZ, 2.0)
    write_tone(directory / "menu.wav", MENU_HZ, 1.0)
    write_tone(directory / "invalid.wav", MENU_HZ, 0.5)
    write_tone(directory / "closed.wav", MENU_HZ, 0.5)
    return directory


class EventLog:
    """Collects the engine's events so a test can wait for the one it expects."""

    def __init__(self, engine: SippyRtpengineEngine) -> None:
        self.engine = engine
        self.events: list[TelephonyEvent] = []
        self._new = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self.engine.events():
            self.events.append(event)
            self._new.set()

    async def wait_for(self, kind: type[T], timeout_s: float = 10.0, **match: object) -> T:
        async with asyncio.timeout(timeout_s):
            while True:
                for event in self.events:
                    if isinstance(event, kind) and all(
                        getattr(event, k) == v for k, v in match.items()
                    ):
                        return event
                self._new.clear()
                await self._new.wait()

    async def changed(self, timeout_s: float = 1.0) -> None:
        """Wait (at most ``timeout_s``) for the next event."""
        self._new.clear()
        try:
            async with asyncio.timeout(timeout_s):
                await self._new.wait()
        except TimeoutError:
            pass

    def of(self, kind: type[object], leg_id: str | None = None) -> list[TelephonyEvent]:
        return [
            e for e in self.events if isinstance(e, kind) and (leg_id is None or e.leg_id == leg_id)
        ]

    async def close(self) -> None:
        """Stop collecting (idempotent)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def worker_config(plane: RtpengineSettings, media_dir: Path, **extra: Any) -> VoiceWorkerConfig:
    return VoiceWorkerConfig(
        sip_host="127.0.0.1",
        sip_port=free_port(),
        ng_host=plane.host,
        ng_port=plane.ng_port,
        dtmf_log_host=plane.host,
        dtmf_log_port=plane.dtmf_log_port,
        media_dir=media_dir,
        recording_dir=plane.recording_dir,
        **extra,
    )


async def _running(
    config: VoiceWorkerConfig,
) -> AsyncIterator[tuple[SippyRtpengineEngine, EventLog]]:
    worker = SippyRtpengineEngine(config)
    await worker.start()
    log = EventLog(worker)
    yield worker, log
    await log.close()
    await worker.stop()


@pytest.fixture
async def engine(
    rtpengine: MediaPlane, media_dir: Path
) -> AsyncIterator[tuple[SippyRtpengineEngine, EventLog]]:
    async for running in _running(worker_config(rtpengine.settings, media_dir)):
        yield running


@pytest.fixture
def janus(tmp_path: Path) -> Iterator[JanusSettings]:
    require_tool("janus", "janus")
    base = free_udp_range(400)
    settings = JanusSettings(
        workdir=tmp_path / "janus",
        http_port=free_port(socket.SOCK_STREAM),
        rtp_port_min=base,
        rtp_port_max=base + 399,
    )
    proc = start_janus(settings)
    yield settings
    proc.stop()


@pytest.fixture
async def mixing_engine(
    rtpengine: MediaPlane, media_dir: Path, janus: JanusSettings
) -> AsyncIterator[tuple[SippyRtpengineEngine, EventLog]]:
    config = worker_config(rtpengine.settings, media_dir, mixer_url=janus.url)
    async for running in _running(config):
        yield running
