"""Writing events: the outbox half of every ``do_*`` action."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.adapters.storage.db import queue_outbox_row
from tsunagi.domain.events import Event, encode_event
from tsunagi.domain.ids import new_id

_emitted: ContextVar[list[Event] | None] = ContextVar("emitted", default=None)


def emit(session: AsyncSession, event: Event) -> None:
    """Queue ``event`` in the caller's transaction; it is published only if that commits.

    The outbox rows of a transaction are written together, in emit order, by one insert
    just before it commits (``adapters/storage/db.py``): no ORM object per event."""
    queue_outbox_row(
        session.sync_session,
        {
            "tenant_id": event.tenant_id,
            "event_id": new_id(),
            "type": event.type_name(),
            "payload": encode_event(event).decode(),
            "occurred_at": event.occurred_at,
        },
    )
    collected = _emitted.get()
    if collected is not None:
        collected.append(event)


@contextmanager
def collecting() -> Iterator[list[Event]]:
    """The events :func:`emit` queues inside the block, in order — for the caller of an
    action that commits once (the events are then exactly what was committed): the desk
    socket hands them to the local routing engine, which applies them as if it had read
    them from the outbox, instead of reading the changed rows again."""
    events: list[Event] = []
    token = _emitted.set(events)
    try:
        yield events
    finally:
        _emitted.reset(token)
