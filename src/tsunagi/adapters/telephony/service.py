"""The voice service: every component of the built-in engine, started and supervised.

One object that a command (``tsunagi voice`` or ``serve``) creates from settings:
rtpengine, Janus (optional: barge/whisper), the Python engine (SIP worker) and
kamailio (optional: the edge phones and trunks talk to), each with generated
configuration under ``workdir``. :meth:`VoiceService.supervise` restarts a component
that died; :meth:`VoiceService.health` feeds the status page. Start-up fails with a
:class:`ComponentError` naming the missing package or the taken port, and leaves
nothing running behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tsunagi.adapters.telephony.engine import SippyRtpengineEngine, VoiceWorkerConfig
from tsunagi.adapters.telephony.processes import (
    ComponentError,
    JanusSettings,
    KamailioSettings,
    ManagedProcess,
    RtpengineSettings,
    ensure_free,
    start_janus,
    start_kamailio,
    start_rtpengine,
)

log = logging.getLogger(__name__)
_S = TypeVar("_S")


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    workdir: Path
    media_dir: Path
    host: str = "127.0.0.1"
    worker_sip_port: int = 5080
    edge_sip_port: int | None = 5060
    """kamailio's port; ``None`` runs no edge (a trunk then talks to the worker)."""
    ng_port: int = 2223
    dtmf_log_port: int = 2224
    rtp_ports: tuple[int, int] = (30000, 30999)
    mixer_http_port: int | None = 8088
    """Janus's HTTP API port; ``None`` runs no mixer (no barge or whisper)."""
    mixer_rtp_ports: tuple[int, int] = (34000, 34399)
    keep_captures: bool = False
    """Keep rtpengine's unencrypted pcaps after each recording's WAV is made."""
    media_learning: str = "off"
    """rtpengine's endpoint learning (see :class:`RtpengineSettings.endpoint_learning`)."""
    softphone_ws_port: int | None = None
    """kamailio's SIP-over-WebSocket port for the desk's browser softphones; none when unset."""
    edge_secret: str = ""
    """The edge secret (``edge_auth``): softphone credentials and desk phone passwords are
    checked with it; required when the edge runs."""
    web_origin: str | None = None
    """Only pages of this origin may open the softphone WebSocket."""


@dataclass(slots=True)
class _Components:
    rtpengine: ManagedProcess | None = None
    janus: ManagedProcess | None = None
    kamailio: ManagedProcess | None = None
    restarts: dict[str, int] = field(default_factory=dict)


class VoiceService:
    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        s = settings
        self._rtpengine = RtpengineSettings(
            workdir=s.workdir / "rtpengine",
            host=s.host,
            ng_port=s.ng_port,
            rtp_port_min=s.rtp_ports[0],
            rtp_port_max=s.rtp_ports[1],
            dtmf_log_port=s.dtmf_log_port,
            endpoint_learning=s.media_learning,
        )
        self._janus = (
            JanusSettings(
                workdir=s.workdir / "janus",
                host=s.host,
                http_port=s.mixer_http_port,
                rtp_port_min=s.mixer_rtp_ports[0],
                rtp_port_max=s.mixer_rtp_ports[1],
            )
            if s.mixer_http_port is not None
            else None
        )
        self._kamailio = (
            KamailioSettings(
                workdir=s.workdir / "kamailio",
                worker_host=s.host,
                worker_port=s.worker_sip_port,
                host=s.host,
                port=s.edge_sip_port,
                ws_port=s.softphone_ws_port,
                secret=s.edge_secret,
                ws_origin=s.web_origin,
            )
            if s.edge_sip_port is not None
            else None
        )
        self._parts = _Components()
        self.engine: SippyRtpengineEngine | None = None

    async def start(self) -> SippyRtpengineEngine:
        try:
            ensure_free(self.settings.host, self.settings.worker_sip_port, "voice worker SIP")
            self._parts.rtpengine = await asyncio.to_thread(start_rtpengine, self._rtpengine)
            if self._janus is not None:
                self._parts.janus = await asyncio.to_thread(start_janus, self._janus)
            engine = SippyRtpengineEngine(self._worker_config())
            await engine.start()
            self.engine = engine
            if self._kamailio is not None:
                self._parts.kamailio = await asyncio.to_thread(start_kamailio, self._kamailio)
        except BaseException:
            await self.stop()
            raise
        return engine

    def _worker_config(self) -> VoiceWorkerConfig:
        s = self.settings
        return VoiceWorkerConfig(
            sip_host=s.host,
            sip_port=s.worker_sip_port,
            ng_host=s.host,
            ng_port=s.ng_port,
            dtmf_log_host=s.host,
            dtmf_log_port=s.dtmf_log_port,
            media_dir=s.media_dir,
            recording_dir=self._rtpengine.recording_dir,
            media_host=s.host,
            mixer_url=self._janus.url if self._janus else None,
            mixer_host=s.host,
            keep_captures=s.keep_captures,
        )

    def health(self) -> dict[str, bool]:
        """Per component: is it up (for the status page)."""
        parts = self._parts
        status = {
            "rtpengine": parts.rtpengine is not None and parts.rtpengine.running(),
            "worker": self.engine is not None and self.engine.media_healthy,
        }
        if self._janus is not None:
            status["mixer"] = parts.janus is not None and parts.janus.running()
        if self._kamailio is not None:
            status["edge"] = parts.kamailio is not None and parts.kamailio.running()
        return status

    @property
    def restarts(self) -> dict[str, int]:
        return dict(self._parts.restarts)

    async def supervise(self, interval_s: float = 1.0) -> None:
        """Restart any component that died, until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self.restart_dead()

    async def restart_dead(self) -> None:
        parts = self._parts
        if parts.rtpengine is not None and not parts.rtpengine.running():
            parts.rtpengine = await self._restart("rtpengine", start_rtpengine, self._rtpengine)
        if self._janus and parts.janus is not None and not parts.janus.running():
            parts.janus = await self._restart("janus", start_janus, self._janus)
        if self._kamailio and parts.kamailio is not None and not parts.kamailio.running():
            parts.kamailio = await self._restart("kamailio", start_kamailio, self._kamailio)

    async def _restart(
        self, name: str, starter: Callable[[_S], ManagedProcess], settings: _S
    ) -> ManagedProcess:
        log.error("voice component %s died; restarting it", name)
        self._parts.restarts[name] = self._parts.restarts.get(name, 0) + 1
        return await asyncio.to_thread(starter, settings)

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        for name in ("kamailio", "janus", "rtpengine"):
            proc: ManagedProcess | None = getattr(self._parts, name)
            if proc is not None:
                await asyncio.to_thread(proc.stop)
                setattr(self._parts, name, None)


__all__ = ["ComponentError", "VoiceService", "VoiceSettings"]
