"""The wrap-up category suggestion's hit rate, measured live from ``contact.closed`` events.

The desk sends the categories it suggested (best first, at most three) with the wrap-up;
the close action carries them in ``contact.closed`` as ``suggested_categories`` next to the
chosen ``category``. This module reads those events back from the outbox (the event log)
for a period and counts how often the chosen category was the first suggestion (top-1) or
among the three (top-3). Only wrap-ups saved with a category while suggestions were shown
count. No side table: the events are the record.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select

from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.permissions import Principal
from tsunagi.knowledge.suggest import HitRate, hit_rate

PERIOD_MAX = timedelta(days=92)
BATCH = 5000


class _Closed(msgspec.Struct):
    """The two fields of ``contact.closed`` the hit rate needs (old events lack the list)."""

    category: str | None = None
    suggested_categories: list[str] = msgspec.field(default_factory=list)


_decode = msgspec.json.Decoder(_Closed).decode


async def suggestion_hit_rate(
    db: Database, *, principal: Principal, since: datetime, until: datetime
) -> HitRate:
    """Top-1 and top-3 hits among the wrap-ups closed in ``[since, until)``."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInputError("since and until must be date-times with a UTC offset")
    if until <= since:
        raise InvalidInputError("until must be after since")
    if until - since > PERIOD_MAX:
        raise InvalidInputError(f"the period is at most {PERIOD_MAX.days} days")
    pairs: list[tuple[list[str], str]] = []
    after = 0
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        while True:
            rows = (
                await session.execute(
                    select(OutboxEvent.id, OutboxEvent.payload)
                    .where(
                        OutboxEvent.type == "contact.closed",
                        OutboxEvent.occurred_at >= since,
                        OutboxEvent.occurred_at < until,
                        OutboxEvent.payload.contains('"suggested_categories":["'),
                        OutboxEvent.id > after,
                    )
                    .order_by(OutboxEvent.id)
                    .limit(BATCH)
                )
            ).all()
            for _id, payload in rows:
                closed = _decode(payload)
                if closed.category and closed.suggested_categories:
                    pairs.append((closed.suggested_categories, closed.category))
            if len(rows) < BATCH:
                break
            after = rows[-1][0]
    return hit_rate(pairs)
