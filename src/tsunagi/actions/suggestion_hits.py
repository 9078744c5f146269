"""The wrap-up category suggestion's hit rate, measured live from ``contact.closed`` events.

The desk sends the categories it suggested (best first, at most three) with the wrap-up;
the close action carries them in ``contact.closed`` as ``suggested_categories`` next to the
chosen ``category``. This module counts, in the database, over those events in the outbox
(the event log) of a period, how often the chosen category was the first suggestion (top-1) or
among the three (top-3). Only wrap-ups saved with a category while suggestions were shown
count. No side table: the events are the record.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Text, case, cast, column, func, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB

from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.permissions import Principal
from tsunagi.knowledge.suggest import HitRate

PERIOD_MAX = timedelta(days=92)
MARKER = '"suggested_categories":["'  # in the payload only when suggestions were shown


def _fields(db: Database) -> tuple[Any | None, ColumnElement[Any], list[ColumnElement[Any]]]:
    """What to select from, the chosen category and the three suggestions, read from the
    payload in SQL (on PostgreSQL the payload is parsed once per row)."""
    payload = OutboxEvent.payload
    if db.engine.dialect.name == "postgresql":
        record = (
            func.jsonb_to_record(cast(payload, JSONB))
            .table_valued(column("category", Text), column("suggested_categories", ARRAY(Text)))
            .render_derived(name="closed", with_types=True)
        )
        chosen = record.c.category
        return record, chosen, [record.c.suggested_categories[n + 1] for n in range(3)]
    return (
        None,
        func.json_extract(payload, "$.category"),
        [func.json_extract(payload, f"$.suggested_categories[{n}]") for n in range(3)],
    )


async def suggestion_hit_rate(
    db: Database, *, principal: Principal, since: datetime, until: datetime
) -> HitRate:
    """Top-1 and top-3 hits among the wrap-ups closed in ``[since, until)``, counted in the
    database (one row comes back, whatever the number of events)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInputError("since and until must be date-times with a UTC offset")
    if until <= since:
        raise InvalidInputError("until must be after since")
    if until - since > PERIOD_MAX:
        raise InvalidInputError(f"the period is at most {PERIOD_MAX.days} days")
    joined, chosen, suggested = _fields(db)
    first = case((suggested[0] == chosen, 1), else_=0)
    any_of = case((or_(*(s == chosen for s in suggested)), 1), else_=0)
    query = (
        select(func.count(), func.sum(first), func.sum(any_of))
        .select_from(OutboxEvent)
        .where(
            # Explicit as well as the scope's criteria (which follow ORM entities).
            OutboxEvent.tenant_id == principal.tenant_id,
            OutboxEvent.type == "contact.closed",
            OutboxEvent.occurred_at >= since,
            OutboxEvent.occurred_at < until,
            OutboxEvent.payload.contains(MARKER),
            chosen.is_not(None),
        )
    )
    if joined is not None:
        query = query.join(joined, true())
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        total, top1, top3 = (await session.execute(query)).one()
    return HitRate(total=int(total or 0), top1=int(top1 or 0), top3=int(top3 or 0))
