"""The telephony port: what the platform asks of a voice engine, and what it hears back.

The platform (IVR interpreter, queueing, desktop call controls) talks to calls only
through this interface, so the built-in engine (sippy + rtpengine, see
``tsunagi.adapters.telephony``) can be replaced by an Asterisk, FreeSWITCH or cloud
telephony adapter without touching the core.

The model is deliberately small:

* A **leg** is one SIP dialog between the engine and one party (a customer calling
  in, an agent's phone, a supervisor). Legs have opaque string ids chosen by the
  engine.
* A **bridge** joins two legs so their audio flows: ``full`` both ways,
  ``listen`` (the second leg only hears the first), ``whisper`` (the second leg is
  heard by the first leg only, e.g. a supervisor coaching an agent), ``barge`` (the
  second leg joins the first leg's conversation: three-way).
* **Media** is named, never a path: ``play(leg, "prompts/welcome")``. The adapter
  resolves names through its own media library.
* Everything the engine observes arrives as a typed :data:`TelephonyEvent` from
  :meth:`TelephonyEngine.events`; commands never block on the far end (ringing,
  answering) — their outcome is an event.

Queue order, agent choice, IVR menus, wrap-up and figures stay in the platform.
This module is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import msgspec


class BridgeMode(StrEnum):
    FULL = "full"
    """Both legs hear each other."""
    LISTEN = "listen"
    """The second leg hears the first (and, when the first is bridged and the engine can
    mix, the first's whole conversation); nobody hears the second leg."""
    WHISPER = "whisper"
    """The first leg hears the second leg (in addition to what it already hears)."""
    BARGE = "barge"
    """The second leg joins the conversation the first leg is in: everyone hears
    everyone (three-way). When only two legs remain they are bridged ``full`` again."""


class DtmfMethod(StrEnum):
    RFC2833 = "rfc2833"
    SIP_INFO = "sip_info"


class HangupCause(StrEnum):
    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    MEDIA_TIMEOUT = "media_timeout"
    ENGINE_FAILURE = "engine_failure"


class LegDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class _TelephonyEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    leg_id: str
    occurred_at: datetime


class CallOffered(_TelephonyEvent, frozen=True, kw_only=True, tag="call.offered"):
    """A new inbound call waits for :meth:`TelephonyEngine.answer` (or hangup)."""

    caller: str
    """The caller's number or user part (``From``), for screen-pop."""
    callee: str
    """The dialled number (request URI user part): selects tenant and IVR."""
    caller_name: str | None = None
    call_ref: str | None = None
    """The signalling's own id of the call (the SIP Call-ID): the same on every retry
    of the offer, so the platform keys the call's contact by it."""


class CallAnswered(_TelephonyEvent, frozen=True, kw_only=True, tag="call.answered"):
    """An inbound leg was answered by us, or an originated leg by the far end."""

    direction: LegDirection


class DtmfReceived(_TelephonyEvent, frozen=True, kw_only=True, tag="dtmf.received"):
    digit: str
    """One of ``0-9``, ``*``, ``#``, ``A-D``."""
    method: DtmfMethod


class PlaybackDone(_TelephonyEvent, frozen=True, kw_only=True, tag="playback.done"):
    playback_id: str
    stopped: bool = False
    """True when ended by :meth:`TelephonyEngine.stop_playback` or hangup, not by its end."""


class CallHungUp(_TelephonyEvent, frozen=True, kw_only=True, tag="call.hung_up"):
    cause: HangupCause
    by_remote: bool
    """True when the party hung up; False when we did."""


class RecordingReady(_TelephonyEvent, frozen=True, kw_only=True, tag="recording.ready"):
    recording_id: str
    location: str
    """Where the adapter left the audio (a file path for the built-in engine)."""
    duration_s: float


class OriginateFailed(_TelephonyEvent, frozen=True, kw_only=True, tag="originate.failed"):
    cause: HangupCause
    sip_status: int | None = None


TelephonyEvent = (
    CallOffered
    | CallAnswered
    | DtmfReceived
    | PlaybackDone
    | CallHungUp
    | RecordingReady
    | OriginateFailed
)


class TelephonyEngine(Protocol):
    """A running voice engine. Methods raise ``tsunagi.domain.errors.NotFoundError``
    for an unknown or ended leg and ``ConflictError`` for a leg in the wrong state.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Hang up every leg and release the engine's resources."""
        ...

    def events(self) -> AsyncIterator[TelephonyEvent]:
        """Every event in the order the engine observed it (one consumer)."""
        ...

    async def answer(self, leg_id: str) -> None: ...

    async def hangup(self, leg_id: str, cause: HangupCause = HangupCause.NORMAL) -> None: ...

    async def play(self, leg_id: str, media: str, *, loop: bool = False) -> str:
        """Start playing ``media`` to the leg's party; returns the playback id."""
        ...

    async def stop_playback(self, leg_id: str) -> None: ...

    async def originate(
        self,
        target: str,
        *,
        caller_id: str,
        timeout_s: float,
        auth: tuple[str, str] | None = None,
    ) -> str:
        """Call ``target`` (a SIP URI or a registered user); returns the new leg id.

        ``auth`` (user name, password) answers a digest challenge (401/407) from the
        far end, e.g. a SIP trunk; without it a challenge fails the call.
        The outcome is :class:`CallAnswered` or :class:`OriginateFailed`.
        """
        ...

    async def bridge(self, first: str, second: str, mode: BridgeMode = BridgeMode.FULL) -> str:
        """Join two answered legs; returns the bridge id."""
        ...

    async def unbridge(self, bridge_id: str) -> None: ...

    async def start_recording(self, leg_id: str) -> str:
        """Record what the leg's party says and hears; returns the recording id."""
        ...

    async def pause_recording(self, recording_id: str) -> None:
        """Stop capturing until :meth:`resume_recording` (e.g. while a customer gives
        payment details): the paused span is silence in the file and holds no DTMF."""
        ...

    async def resume_recording(self, recording_id: str) -> None: ...

    async def stop_recording(self, recording_id: str) -> None:
        """Stop; :class:`RecordingReady` follows when the file is complete."""
        ...

    async def transfer(self, leg_id: str, target: str, *, caller_id: str, timeout_s: float) -> str:
        """Server-side blind transfer of whatever ``leg_id`` is bridged to.

        Originates ``target``; when it answers, the party bridged with ``leg_id`` is
        re-bridged to it and ``leg_id`` is hung up. Returns the new leg id.
        """
        ...
