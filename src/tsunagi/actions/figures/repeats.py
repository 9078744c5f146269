"""The repeat-contact check of 即答率, computed when a report asks (``figures.repeats``).

The customer of an imported contact is its ``figures_contacts.customer_key``; of a live
contact, the keyed hash of the address it came from (``contact_parties``, written by the
CRM side). Both are ``kind:hash`` of the tenant's lookup key, so a customer who called
before the center went live and again after is one customer. No identifier is read in
plain, so nothing here is a personal-data read.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, null, or_, select

from tsunagi.actions.figures.reports import ReportQuery, ReportRow
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContact
from tsunagi.adapters.storage.models import Queue
from tsunagi.domain.errors import InvalidInputError
from tsunagi.figures.definitions import repeat_figures
from tsunagi.figures.repeats import DEFAULT_REPEAT_DAYS, Visit, repeat_counts

MAX_WINDOW_DAYS = 90
GRAINS = ("day", "week", "month", "total")


def _bucket(day: date, grain: str) -> str:
    if grain == "day":
        return day.isoformat()
    if grain == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if grain == "month":
        return day.replace(day=1).isoformat()
    return "total"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


async def _windows(session: Any, window_days: int | None) -> dict[uuid.UUID | None, timedelta]:
    found: dict[uuid.UUID | None, timedelta] = {}
    for queue_id, config in await session.execute(select(Queue.id, Queue.config)):
        days = window_days or ((config or {}).get("figures") or {}).get("repeat_window_days")
        found[queue_id] = timedelta(days=int(days or DEFAULT_REPEAT_DAYS))
    return found


async def repeat_check(
    db: Database, tenant_id: uuid.UUID, query: ReportQuery, *, window_days: int | None = None
) -> list[ReportRow]:
    """Rows of (bucket, dimension values) with ``repeat_judged``, ``repeated`` and
    ``repeat_pending`` and the figure ``fcr_repeat_rate``; the bucket is the local day
    (week, month) the judged contact ended. ``window_days`` overrides the queues' windows.
    """
    query = query.validated()
    if query.grain not in GRAINS:
        raise InvalidInputError(f"the repeat check has grains {', '.join(GRAINS)}")
    if "team" in query.by or query.team_id is not None:
        raise InvalidInputError("by: the repeat check is by communicator, not yet by team")
    if window_days is not None and not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise InvalidInputError(f"the repeat window is 1 to {MAX_WINDOW_DAYS} days")
    model = FiguresContact
    async with db.scoped(tenant_id, readonly=True) as session:
        windows = await _windows(session, window_days)
        longest = max([*windows.values(), timedelta(days=window_days or DEFAULT_REPEAT_DAYS)])
        horizon = await session.scalar(select(func.max(model.created_at)))
        last_day = query.day_to + longest + timedelta(days=1)
        # Ids are read only when a filter, a dimension or per-queue windows need them
        # (turning text into UUIDs is most of the cost of a month's check).
        need_queue = (
            query.queue_id is not None or "queue" in query.by or len(set(windows.values())) > 1
        )
        need_agent = query.agent_id is not None or "agent" in query.by
        statement = (
            select(
                model.customer_key,
                ContactParty.kind,
                ContactParty.address_hash,
                model.created_at,
                model.offered_at.is_not(None),
                model.answered_at.is_not(None),
                model.ended_at,
                model.local_day,
                model.queue_id if need_queue else null(),
                model.channel,
                model.category,
                model.last_agent_id if need_agent else null(),
            )
            .outerjoin(ContactParty, ContactParty.contact_id == model.contact_id)
            .where(
                or_(model.customer_key.is_not(None), ContactParty.address_hash.is_not(None)),
                or_(
                    model.local_day.between(query.day_from, last_day),
                    model.local_day.is_(None),  # still in progress: may be a repeat
                ),
            )
        )
        rows = (await session.execute(statement)).all()
    if horizon is None:
        return []
    default_window = next(
        iter(windows.values()), timedelta(days=window_days or DEFAULT_REPEAT_DAYS)
    )
    visits = [
        visit for row in rows if (visit := _visit(row, query, windows, default_window)) is not None
    ]
    found = [
        ReportRow(keys[0], keys[1:], measures, repeat_figures(measures))
        for keys, measures in repeat_counts(visits, _aware(horizon)).items()
    ]
    found.sort(key=lambda r: (r.bucket, r.keys))
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _visit(
    row: Any,
    query: ReportQuery,
    windows: dict[uuid.UUID | None, timedelta],
    default_window: timedelta,
) -> Visit | None:
    (
        customer_key,
        kind,
        address_hash,
        created_at,
        offered,
        answered,
        ended_at,
        local_day,
        queue_id,
        channel,
        category,
        last_agent_id,
    ) = row
    customer = customer_key or f"{kind}:{address_hash}"
    if created_at is None:
        return None
    arrived = _aware(created_at)
    judged = (
        answered
        and ended_at is not None
        and local_day is not None
        and query.day_from <= local_day <= query.day_to
        and (query.queue_id is None or queue_id == query.queue_id)
        and (query.channel is None or channel == query.channel)
        and (query.category is None or (category or "") == query.category)
        and (query.agent_id is None or last_agent_id == query.agent_id)
    )
    values = {
        "agent": _text(last_agent_id),
        "queue": _text(queue_id),
        "channel": _text(channel),
        "category": _text(category),
    }
    bucket = _bucket(local_day, query.grain) if judged else ""
    return Visit(
        customer=customer,
        arrived=arrived,
        ended=_aware(ended_at) if ended_at is not None else arrived,
        offered=bool(offered),
        judged=judged,
        keys=(bucket, *(values[name] for name in query.by)),
        window=windows.get(queue_id, default_window),
    )
