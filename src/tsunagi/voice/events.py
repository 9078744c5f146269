"""Requests to the voice worker, carried as events through the outbox.

The web process has no call in memory; the voice worker (``tsunagi voice serve``) does.
A request is written to the outbox in the same transaction as its authorization check
and audit; the worker reads new ones by outbox id (both database profiles, worker in
its own process) and acts on the live call. A request for a call that has ended is
dropped (logged): there is nothing left to act on.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from tsunagi.domain.events import Event


class CallRecordingPauseRequestedEvent(
    Event, frozen=True, kw_only=True, tag="call.recording_pause_requested"
):
    """Stop (``paused``) or restart capturing a call's audio — payment details are read out."""

    resource: ClassVar[str] = "contact"

    contact_id: UUID
    paused: bool
    requested_by: UUID


class CallMonitorRequestedEvent(Event, frozen=True, kw_only=True, tag="call.monitor_requested"):
    """A supervisor asks to join a live call from their phone: ``listen`` (hears both,
    unheard), ``whisper`` (heard by the communicator only) or ``barge`` (three-way)."""

    resource: ClassVar[str] = "contact"

    contact_id: UUID
    mode: str
    requested_by: UUID


MONITOR_MODES = ("listen", "whisper", "barge")
COMMAND_TYPES = (
    CallRecordingPauseRequestedEvent.type_name(),
    CallMonitorRequestedEvent.type_name(),
)

__all__ = [
    "COMMAND_TYPES",
    "MONITOR_MODES",
    "CallMonitorRequestedEvent",
    "CallRecordingPauseRequestedEvent",
]
