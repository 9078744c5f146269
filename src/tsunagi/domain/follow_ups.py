"""Follow-up tasks left at wrap-up: their states, the rules of a new one, and events.

A follow-up is work the center owes the customer after the contact ended ("ask the depot
and call back with the answer"): owned by a communicator (by default the one wrapping up)
or by a queue, due at a time, with a short note. It is *not* a scheduled callback: a
callback is a contact the routing engine offers at a time (``do_request_callback``, or a
``callback`` contact booked at wrap-up); a follow-up is a task on someone's list that may
or may not end in a call.

States: ``open`` → ``done`` | ``cancelled``, once. Every change bumps ``version``; a change
made against an older version is refused (optimistic concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event

NOTE_MAX = 500
# A due time slightly in the past is a clock difference between the desk and the server.
PAST_GRACE = timedelta(minutes=5)
HORIZON = timedelta(days=366)


class FollowUpState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class DueState(StrEnum):
    OVERDUE = "overdue"  # the due time has passed
    TODAY = "today"  # due later on the center's today
    LATER = "later"


@dataclass(frozen=True, slots=True)
class FollowUpDraft:
    """What the wrap-up form (or the API) asks for; checked by :func:`check_draft`."""

    due_at: datetime
    note: str | None = None
    owner_queue_id: UUID | None = None  # None: the communicator who creates it


def check_draft(draft: FollowUpDraft, now: datetime, *, field: str = "follow_up") -> str | None:
    """Raise :class:`InvalidInputError` naming the field (``follow_up.due_at``, or just
    ``due_at`` when ``field`` is empty); return the note, trimmed (or None)."""
    field = f"{field}." if field else ""
    if draft.due_at.tzinfo is None:
        raise InvalidInputError(f"{field}due_at must be a date-time with a UTC offset")
    if draft.due_at < now - PAST_GRACE:
        raise InvalidInputError(f"{field}due_at must not be in the past")
    if draft.due_at > now + HORIZON:
        raise InvalidInputError(f"{field}due_at must be within a year")
    note = (draft.note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidInputError(f"{field}note must be at most {NOTE_MAX} characters")
    return note


def due_state(due_at: datetime, now: datetime, today: date, *, local: datetime) -> DueState:
    """How urgent an open follow-up is: ``local`` is ``due_at`` in the center's time zone,
    ``today`` the center's date now."""
    if due_at <= now:
        return DueState.OVERDUE
    return DueState.TODAY if local.date() <= today else DueState.LATER


class FollowUpEvent(Event, frozen=True, kw_only=True, tag=False):
    """Common fields: the follow-up after the change. The note (personal data) is never in
    an event."""

    resource: ClassVar[str] = "follow_up"
    follow_up_id: UUID
    contact_id: UUID
    customer_id: UUID | None = None
    owner_user_id: UUID | None = None
    owner_queue_id: UUID | None = None
    due_at: datetime
    state: str
    version: int


class FollowUpCreatedEvent(FollowUpEvent, frozen=True, kw_only=True, tag="follow_up.created"):
    """A follow-up task was left (at wrap-up or later), open, version 1."""


class FollowUpCompletedEvent(FollowUpEvent, frozen=True, kw_only=True, tag="follow_up.completed"):
    """The follow-up was done (by ``closed_by``)."""

    closed_by: UUID | None = None


class FollowUpCancelledEvent(FollowUpEvent, frozen=True, kw_only=True, tag="follow_up.cancelled"):
    """The follow-up is no longer needed (cancelled by ``closed_by``)."""

    closed_by: UUID | None = None
