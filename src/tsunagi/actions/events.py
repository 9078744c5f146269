"""Writing events: the outbox half of every ``do_*`` action."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.domain.events import Event, encode_event


def emit(session: AsyncSession, event: Event) -> None:
    """Queue ``event`` in the caller's transaction; it is published only if that commits."""
    session.add(
        OutboxEvent(
            tenant_id=event.tenant_id,
            type=event.type_name(),
            payload=encode_event(event).decode(),
            occurred_at=event.occurred_at,
        )
    )
