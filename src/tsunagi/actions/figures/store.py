"""Between the fold's records and measures and the figures tables.

Aggregate rows are *added to* with one upsert per batch (``INSERT … ON CONFLICT DO
UPDATE SET x = x + excluded.x``, a maximum for the longest wait), the same statement on
SQLite and PostgreSQL apart from the name of the two-argument maximum.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Table, cast, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.adapters.storage.figures_models import (
    NIL,
    FiguresAgent,
    FiguresAgentDay,
    FiguresAgentInterval,
    FiguresAgentQueueDay,
    FiguresAgentQueueInterval,
    FiguresAgentQueueMonth,
    FiguresAgentState,
    FiguresAgentStateDay,
    FiguresAgentStateMonth,
    FiguresContact,
    FiguresContactDay,
    FiguresContactInterval,
    FiguresQueueDay,
    FiguresQueueInterval,
    FiguresQueueMonth,
)
from tsunagi.figures.definitions import (
    AGENT_MAXES,
    AGENT_SUMS,
    CONTACT_MAXES,
    CONTACT_SUMS,
    STATE_SUMS,
    Measures,
)
from tsunagi.figures.fold import (
    AgentKey,
    AgentRecord,
    ContactKey,
    ContactRecord,
    Segment,
    StateKey,
)
from tsunagi.figures.intervals import Calendar, calendar_of, interval_start

CONTACT_DIMS = ("queue_id", "channel", "category")
AGENT_DIMS = ("agent_id", "queue_id", "channel", "category")
STATE_DIMS = ("agent_id", "state", "reason")
QUEUE_DIMS = ("queue_id", "channel")
AGENT_QUEUE_DIMS = ("agent_id", "queue_id", "channel")
CONTACT_KEY = ("interval_start", *CONTACT_DIMS)
AGENT_KEY = ("interval_start", *AGENT_DIMS)
STATE_KEY = ("interval_start", *STATE_DIMS)


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


CONTACT_TABLE = _table(FiguresContactInterval)
AGENT_TABLE = _table(FiguresAgentInterval)
STATE_TABLE = _table(FiguresAgentState)
CONTACT_DAY_TABLE = _table(FiguresContactDay)
AGENT_DAY_TABLE = _table(FiguresAgentDay)
STATE_DAY_TABLE = _table(FiguresAgentStateDay)
QUEUE_TABLE = _table(FiguresQueueInterval)
QUEUE_DAY_TABLE = _table(FiguresQueueDay)
AGENT_QUEUE_TABLE = _table(FiguresAgentQueueInterval)
AGENT_QUEUE_DAY_TABLE = _table(FiguresAgentQueueDay)
QUEUE_MONTH_TABLE = _table(FiguresQueueMonth)
AGENT_QUEUE_MONTH_TABLE = _table(FiguresAgentQueueMonth)
STATE_MONTH_TABLE = _table(FiguresAgentStateMonth)


CALENDAR = ("local_day", "local_week", "local_month")


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A table of summed measures: its time column, dimensions and measures, and which
    rows of the fold it sums (``contacts``, ``agents`` or ``states``)."""

    label: str
    table: Table
    source: str
    time: str  # "interval_start", "local_day" or "local_month"
    dims: tuple[str, ...]
    sums: tuple[str, ...]
    maxes: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return (self.time, *self.dims)

    @property
    def fixed(self) -> tuple[str, ...]:
        """The columns that are not measures: calendar and dimensions."""
        if self.time == "local_month":
            return ("tenant_id", "local_month", *self.dims)
        time = ("interval_start",) if self.time == "interval_start" else ()
        return ("tenant_id", *time, *CALENDAR, *self.dims)

    def rows(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` (15-minute rows with every dimension) summed into this table's rows."""
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        fixed, sums, maxes, key = self.fixed, self.sums, self.maxes, self.key
        for row in rows:
            at = tuple(row[name] for name in key)
            target = merged.get(at)
            if target is None:
                merged[at] = {name: row[name] for name in (*fixed, *sums, *maxes)}
                continue
            for name in sums:
                target[name] += row[name]
            for name in maxes:
                target[name] = max(target[name], row[name])
        return list(merged.values())


_CONTACTS = (CONTACT_SUMS, CONTACT_MAXES)
_AGENTS = (AGENT_SUMS, AGENT_MAXES)
_STATES = (STATE_SUMS, ())
_15 = "interval_start"
_DAY = "local_day"
_MONTH = "local_month"

# Every table the projector keeps, in the order it writes them: the 15-minute rows with
# every dimension, the same per local day, then the roll-ups without the category.
AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("contacts", CONTACT_TABLE, "contacts", _15, CONTACT_DIMS, *_CONTACTS),
    Aggregate("agents", AGENT_TABLE, "agents", _15, AGENT_DIMS, *_AGENTS),
    Aggregate("states", STATE_TABLE, "states", _15, STATE_DIMS, *_STATES),
    Aggregate("contact days", CONTACT_DAY_TABLE, "contacts", _DAY, CONTACT_DIMS, *_CONTACTS),
    Aggregate("agent days", AGENT_DAY_TABLE, "agents", _DAY, AGENT_DIMS, *_AGENTS),
    Aggregate("state days", STATE_DAY_TABLE, "states", _DAY, STATE_DIMS, *_STATES),
    Aggregate("queue intervals", QUEUE_TABLE, "contacts", _15, QUEUE_DIMS, *_CONTACTS),
    Aggregate("queue days", QUEUE_DAY_TABLE, "contacts", _DAY, QUEUE_DIMS, *_CONTACTS),
    Aggregate(
        "agent queue intervals", AGENT_QUEUE_TABLE, "agents", _15, AGENT_QUEUE_DIMS, *_AGENTS
    ),
    Aggregate(
        "agent queue days", AGENT_QUEUE_DAY_TABLE, "agents", _DAY, AGENT_QUEUE_DIMS, *_AGENTS
    ),
    Aggregate("queue months", QUEUE_MONTH_TABLE, "contacts", _MONTH, QUEUE_DIMS, *_CONTACTS),
    Aggregate(
        "agent queue months",
        AGENT_QUEUE_MONTH_TABLE,
        "agents",
        _MONTH,
        AGENT_QUEUE_DIMS,
        *_AGENTS,
    ),
    Aggregate("state months", STATE_MONTH_TABLE, "states", _MONTH, STATE_DIMS, *_STATES),
)
# Each roll-up and the finer table it sums: the same time without the category, or the
# month from the day rows.
ROLLUPS: tuple[tuple[Aggregate, Aggregate], ...] = (
    (AGGREGATES[6], AGGREGATES[0]),
    (AGGREGATES[7], AGGREGATES[3]),
    (AGGREGATES[8], AGGREGATES[1]),
    (AGGREGATES[9], AGGREGATES[4]),
    (AGGREGATES[10], AGGREGATES[3]),
    (AGGREGATES[11], AGGREGATES[4]),
    (AGGREGATES[12], AGGREGATES[5]),
)


SOURCE_KEYS = {"contacts": CONTACT_KEY, "agents": AGENT_KEY, "states": STATE_KEY}


def rows_for(
    aggregate: Aggregate, base: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The rows to add to ``aggregate``'s table from the batch's 15-minute rows."""
    rows = base[aggregate.source]
    return rows if aggregate.key == SOURCE_KEYS[aggregate.source] else aggregate.rows(rows)


def by_day(
    rows: list[dict[str, Any]], dims: Sequence[str], maxes: Sequence[str]
) -> list[dict[str, Any]]:
    """The same rows summed per local day (for the day tables)."""
    if not rows:
        return []
    fixed = {"tenant_id", "interval_start", *CALENDAR, *dims}
    sums = tuple(name for name in rows[0] if name not in fixed and name not in maxes)
    day = Aggregate("", CONTACT_DAY_TABLE, "", "local_day", tuple(dims), sums, tuple(maxes))
    return day.rows(rows)


# ----------------------------------------------------------------------- records


def record_of(row: FiguresContact) -> ContactRecord:
    return ContactRecord(
        contact_id=row.contact_id,
        version=row.version,
        state=row.state,
        channel=row.channel,
        queue_id=row.queue_id,
        created_at=row.created_at,
        offered_at=row.offered_at,
        wait_from=row.wait_from,
        answered_at=row.answered_at,
        answered_by=row.answered_by,
        phase_since=row.phase_since,
        ended_at=row.ended_at,
        wait_ms=row.wait_ms,
        callback=row.callback,
        transfers=row.transfers,
        escalations=row.escalations,
        outcome=row.outcome,
        category=row.category,
        resolved=row.resolved,
        segments=[
            Segment(
                agent_id=uuid.UUID(item["agent_id"]),
                talk_ms=item["talk_ms"],
                hold_ms=item["hold_ms"],
                holds=item["holds"],
                acw_ms=item["acw_ms"],
                transferred=item["transferred"],
            )
            for item in row.segments
        ],
        nps=row.nps_score,
        csat=row.csat_score,
        customer_key=row.customer_key,
    )


def write_record(row: FiguresContact, record: ContactRecord, timezone: str) -> None:
    """Copy the record onto its row, with the figures of an ended contact for drill-down."""
    row.version = record.version
    row.state = record.state
    row.channel = record.channel
    row.queue_id = record.queue_id
    row.created_at = record.created_at
    row.offered_at = record.offered_at
    row.wait_from = record.wait_from
    row.answered_at = record.answered_at
    row.answered_by = record.answered_by
    row.phase_since = record.phase_since
    row.ended_at = record.ended_at
    row.wait_ms = record.wait_ms
    row.callback = record.callback
    row.transfers = record.transfers
    row.escalations = record.escalations
    row.outcome = record.outcome
    row.category = record.category
    row.resolved = record.resolved
    row.nps_score = record.nps
    row.csat_score = record.csat
    row.customer_key = record.customer_key
    segments = record.segments
    row.talk_ms = sum(s.talk_ms for s in segments)
    row.hold_ms = sum(s.hold_ms for s in segments)
    row.holds = sum(s.holds for s in segments)
    row.acw_ms = sum(s.acw_ms for s in segments)
    row.last_agent_id = segments[-1].agent_id if segments else None
    row.segments = [
        {
            "agent_id": str(s.agent_id),
            "talk_ms": s.talk_ms,
            "hold_ms": s.hold_ms,
            "holds": s.holds,
            "acw_ms": s.acw_ms,
            "transferred": s.transferred,
        }
        for s in segments
    ]
    if record.ended_at is not None:
        start = interval_start(record.ended_at)
        row.interval_start = start
        row.local_day = calendar_of(start, timezone).day


def new_contact_row(tenant_id: uuid.UUID, record: ContactRecord) -> FiguresContact:
    return FiguresContact(tenant_id=tenant_id, contact_id=record.contact_id, segments=[])


def agent_record_of(row: FiguresAgent) -> AgentRecord:
    return AgentRecord(row.agent_id, row.version, row.state, row.reason, row.since)


def write_agent(row: FiguresAgent, record: AgentRecord) -> None:
    row.version = record.version
    row.state = record.state
    row.reason = record.reason
    row.since = record.since


async def load_records(
    session: AsyncSession, contact_ids: Iterable[uuid.UUID], agent_ids: Iterable[uuid.UUID]
) -> tuple[dict[uuid.UUID, FiguresContact], dict[uuid.UUID, FiguresAgent]]:
    contacts: dict[uuid.UUID, FiguresContact] = {}
    wanted = list(contact_ids)
    for chunk in _chunks(wanted, 500):
        for row in await session.scalars(
            select(FiguresContact).where(FiguresContact.contact_id.in_(chunk))
        ):
            contacts[row.contact_id] = row
    agents: dict[uuid.UUID, FiguresAgent] = {}
    for chunk in _chunks(list(agent_ids), 500):
        for agent in await session.scalars(
            select(FiguresAgent).where(FiguresAgent.agent_id.in_(chunk))
        ):
            agents[agent.agent_id] = agent
    return contacts, agents


def _chunks(items: Sequence[uuid.UUID], size: int) -> Iterable[Sequence[uuid.UUID]]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


# -------------------------------------------------------------------- aggregates


class Calendars:
    """Local calendar keys per interval start, cached (one zone per tenant)."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self._cache: dict[datetime, Calendar] = {}

    def __call__(self, start: datetime) -> Calendar:
        found = self._cache.get(start)
        if found is None:
            found = self._cache[start] = calendar_of(start, self.timezone)
        return found


def _interval_values(start: datetime, calendars: Calendars) -> dict[str, Any]:
    calendar = calendars(start)
    return {
        "interval_start": start,
        "local_day": calendar.day,
        "local_week": calendar.week,
        "local_month": calendar.month,
    }


def contact_rows(
    tenant_id: uuid.UUID, rows: Mapping[ContactKey, Measures], calendars: Calendars
) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            **_interval_values(start, calendars),
            "queue_id": queue_id or NIL,
            "channel": channel,
            "category": category,
            **_full(measures, CONTACT_SUMS + CONTACT_MAXES),
        }
        for (start, queue_id, channel, category), measures in rows.items()
    ]


def agent_rows(
    tenant_id: uuid.UUID, rows: Mapping[AgentKey, Measures], calendars: Calendars
) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            **_interval_values(start, calendars),
            "agent_id": agent_id,
            "queue_id": queue_id or NIL,
            "channel": channel,
            "category": category,
            **_full(measures, AGENT_SUMS + AGENT_MAXES),
        }
        for (start, agent_id, queue_id, channel, category), measures in rows.items()
    ]


def state_rows(
    tenant_id: uuid.UUID, rows: Mapping[StateKey, Measures], calendars: Calendars
) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            **_interval_values(start, calendars),
            "agent_id": agent_id,
            "state": state,
            "reason": reason,
            **_full(measures, STATE_SUMS),
        }
        for (start, agent_id, state, reason), measures in rows.items()
    ]


def _full(measures: Mapping[str, int], names: Iterable[str]) -> dict[str, int]:
    return {name: int(measures.get(name, 0)) for name in names}


async def add_rows(
    session: AsyncSession,
    table: Table,
    key: Sequence[str],
    sums: Sequence[str],
    maxes: Sequence[str],
    rows: list[dict[str, Any]],
) -> None:
    """Add measures to existing rows of ``table`` (by ``key``) or insert them."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _upsert(dialect, table, tuple(key), tuple(sums), tuple(maxes))
    await session.execute(statement, rows)


def insert_of(dialect: str) -> Any:
    """The dialect's INSERT construct (with ``on_conflict_do_…``): PostgreSQL's or SQLite's."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def _upsert(
    dialect: str, table: Table, key: tuple[str, ...], sums: tuple[str, ...], maxes: tuple[str, ...]
) -> Any:
    """The upsert of :func:`add_rows`, built once per table and dialect: building it
    (the ``excluded`` alias of every column, one expression per measure) was ~60 % of a
    projector pass's CPU outside the database (py-spy, 2026-12-04)."""
    insert = insert_of(dialect)
    greatest = func.greatest if dialect == "postgresql" else func.max
    statement = insert(table)
    update: dict[str, Any] = {name: table.c[name] + statement.excluded[name] for name in sums}
    update.update({name: greatest(table.c[name], statement.excluded[name]) for name in maxes})
    return statement.on_conflict_do_update(index_elements=["tenant_id", *key], set_=update)


async def refresh_rollups(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Recompute the tenant's roll-ups from its finer rows (as migration 0016 fills them):
    for data written into the 15-minute and day tables by other means than the projector
    — a bulk load, a test's seeded rows."""
    for rollup, source in ROLLUPS:
        table = source.table
        names = (*rollup.fixed, *rollup.sums, *rollup.maxes)
        groups = [table.c[name] for name in rollup.fixed]
        query = (
            select(
                *groups,
                *(cast(func.sum(table.c[name]), BigInteger) for name in rollup.sums),
                *(func.max(table.c[name]) for name in rollup.maxes),
            )
            .where(table.c.tenant_id == tenant_id)
            .group_by(*groups)
        )
        await session.execute(delete(rollup.table).where(rollup.table.c.tenant_id == tenant_id))
        await session.execute(insert(rollup.table).from_select(list(names), query))
