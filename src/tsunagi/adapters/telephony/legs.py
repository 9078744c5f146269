"""The worker's configuration and its record of each leg (state the engine keeps)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tsunagi.ports.telephony import LegDirection


@dataclass(frozen=True, slots=True)
class VoiceWorkerConfig:
    sip_host: str
    sip_port: int
    ng_host: str
    ng_port: int
    dtmf_log_host: str
    dtmf_log_port: int
    media_dir: Path
    """Prompts and music: ``play(leg, "welcome")`` plays ``media_dir/welcome.wav``."""
    recording_dir: Path
    """rtpengine's ``--recording-dir``; WAV files are written next to its pcaps."""
    media_host: str = "127.0.0.1"
    mixer_url: str | None = None
    """Janus HTTP API (``http://host:port/janus``) for barge; None: no mixing."""
    mixer_host: str = "127.0.0.1"
    health_interval_s: float = 1.0
    """How often rtpengine is pinged; when it stops answering, every leg is ended."""
    keep_captures: bool = True
    """Keep rtpengine's pcaps after the WAV is made. Production sets False: the pcaps
    are unencrypted audio (the WAV is handed to encrypted storage)."""


class LegState(StrEnum):
    """offered → answering → answered (inbound); calling → answered (outbound); → ended."""

    OFFERED = "offered"
    ANSWERING = "answering"
    CALLING = "calling"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(slots=True)
class Leg:
    leg_id: str
    direction: LegDirection
    state: LegState
    remote_sdp: str | None = None
    playback_id: str | None = None
    playback_timer: asyncio.TimerHandle | None = None
    recording_id: str | None = None
    recording_paused: bool = False
    bridge_id: str | None = None
    listening: str | None = None
    """The LISTEN bridge in which this leg is the listener."""
    replaces: str | None = None
    """For a transfer target: the leg whose peer moves to this leg when it answers."""
