"""Report queries over the interval aggregates: any grain, any one or two dimensions.

The database sums 15-minute rows grouped by the stored calendar column of the grain
(``interval_start``, ``local_day``, ``local_week`` or ``local_month``) and the chosen
dimensions; 30- and 60-minute buckets merge 15-minute groups here. Figures are then
computed from the summed measures by :mod:`tsunagi.figures.definitions` — the same code
for today's live view and for last year.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import (
    NIL,
    FiguresAgentDay,
    FiguresAgentInterval,
    FiguresAgentState,
    FiguresAgentStateDay,
    FiguresContact,
    FiguresContactDay,
    FiguresContactInterval,
)
from tsunagi.adapters.storage.models import Category, Queue, Tenant, User
from tsunagi.adapters.storage.team_models import Team, TeamMember
from tsunagi.domain.errors import InvalidInputError
from tsunagi.figures.definitions import (
    AGENT_MAXES,
    AGENT_SUMS,
    CONTACT_MAXES,
    CONTACT_SUMS,
    FigureOptions,
    Measures,
    add_into,
    agent_figures,
    contact_figures,
)
from tsunagi.figures.intervals import GRAINS, interval_start
from tsunagi.figures.teams import NO_TEAM

TABLES = ("contacts", "agents")
DIMENSIONS = {
    "contacts": ("queue", "channel", "category"),
    "agents": ("agent", "team", "queue", "channel", "category"),
}
MAX_DAYS = 400
MAX_DRILL = 1000
# Drill-down by survey answer: which scores each choice selects (docs/figures.md).
SURVEY_FILTERS = ("answered", "promoter", "passive", "detractor", "satisfied", "unsatisfied")


@dataclass(frozen=True, slots=True)
class ReportQuery:
    day_from: date
    day_to: date
    table: str = "contacts"
    grain: str = "day"
    by: tuple[str, ...] = ()
    queue_id: uuid.UUID | None = None
    channel: str | None = None
    category: str | None = None
    agent_id: uuid.UUID | None = None
    exclude_short_abandons: bool = True
    team_id: uuid.UUID | None = None

    def validated(self) -> ReportQuery:
        if self.table not in TABLES:
            raise InvalidInputError(f"table must be one of {', '.join(TABLES)}")
        if self.grain not in GRAINS:
            raise InvalidInputError(f"grain must be one of {', '.join(GRAINS)}")
        allowed = DIMENSIONS[self.table]
        if len(self.by) > 2 or any(name not in allowed for name in self.by):
            raise InvalidInputError(f"by: up to two of {', '.join(allowed)}")
        if len(set(self.by)) != len(self.by):
            raise InvalidInputError("by: a dimension may appear once")
        if self.day_to < self.day_from:
            raise InvalidInputError("day_to is before day_from")
        if (self.day_to - self.day_from).days > MAX_DAYS:
            raise InvalidInputError(f"at most {MAX_DAYS} days per report")
        if self.agent_id is not None and self.table != "agents":
            raise InvalidInputError("an agent filter needs table=agents")
        if self.team_id is not None and self.table != "agents":
            raise InvalidInputError("team: a team filter needs table=agents")
        if "team" in self.by and "agent" in self.by:
            raise InvalidInputError("by: team and agent together is by agent (one team each)")
        return self


@dataclass(slots=True)
class ReportRow:
    bucket: str
    keys: tuple[str, ...]
    measures: Measures = field(default_factory=dict)
    figures: dict[str, float | None] = field(default_factory=dict)


INTERVAL_GRAINS = ("15", "30", "60")


def _model(kind: str, grain: str) -> Any:
    """15/30/60-minute reports read the interval rows; day and longer the day rows."""
    fine = grain in INTERVAL_GRAINS
    return {
        "contacts": FiguresContactInterval if fine else FiguresContactDay,
        "agents": FiguresAgentInterval if fine else FiguresAgentDay,
        "states": FiguresAgentState if fine else FiguresAgentStateDay,
    }[kind]


def _time_column(model: Any, grain: str) -> ColumnElement[Any] | None:
    if grain in ("15", "30", "60"):
        column: ColumnElement[Any] = model.interval_start
        return column
    return {
        "day": model.local_day,
        "week": model.local_week,
        "month": model.local_month,
    }.get(grain)


_DIMENSION_COLUMNS = {
    "queue": "queue_id",
    "channel": "channel",
    "category": "category",
    "agent": "agent_id",
}


def _dimension(model: Any, name: str) -> ColumnElement[Any] | None:
    """The column of dimension ``name`` (``None`` where the table has none: agent in the
    contact tables, category in the roll-ups)."""
    column: ColumnElement[Any] | None = getattr(model, _DIMENSION_COLUMNS[name], None)
    return column


def _filtered(
    statement: Select[Any], model: Any, query: ReportQuery, agents: list[uuid.UUID] | None = None
) -> Select[Any]:
    statement = statement.where(model.local_day >= query.day_from, model.local_day <= query.day_to)
    if agents is not None:  # a team's members
        statement = statement.where(model.agent_id.in_(agents))
    if query.queue_id is not None and hasattr(model, "queue_id"):
        statement = statement.where(model.queue_id == query.queue_id)
    if query.channel is not None and hasattr(model, "channel"):
        statement = statement.where(model.channel == query.channel)
    if query.category is not None and hasattr(model, "category"):
        statement = statement.where(model.category == query.category)
    if query.agent_id is not None:
        statement = statement.where(model.agent_id == query.agent_id)
    return statement


def _label(value: Any, grain: str) -> str:
    if value is None:
        return "total"
    if isinstance(value, datetime):
        start = value if value.tzinfo else value.replace(tzinfo=UTC)
        if grain != "15":  # stored starts are already 15-minute aligned
            start = interval_start(start, int(grain))
        return start.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _key_text(value: Any) -> str:
    if value is None or value == NIL:
        return ""
    return str(value)


async def _grouped(
    session: AsyncSession,
    model: Any,
    query: ReportQuery,
    dims: tuple[str, ...],
    sums: tuple[str, ...],
    maxes: tuple[str, ...],
    agents: list[uuid.UUID] | None = None,
) -> dict[tuple[str, tuple[str, ...]], Measures]:
    time = _time_column(model, query.grain)
    columns = [_dimension(model, name) for name in dims]
    groups = [c for c in (time, *columns) if c is not None]
    aggregates = [func.sum(getattr(model, n)).label(n) for n in sums]
    aggregates += [func.max(getattr(model, n)).label(n) for n in maxes]
    statement = _filtered(select(*groups, *aggregates), model, query, agents)
    if groups:
        statement = statement.group_by(*groups)
    found: dict[tuple[str, tuple[str, ...]], Measures] = {}
    width = len(groups)
    names = (*sums, *maxes)
    for row in await session.execute(statement):
        values = tuple(row)
        if time is None:
            bucket, keys = "total", values[:width]
        else:
            bucket, keys = _label(values[0], query.grain), values[1:width]
        measures = {n: int(v or 0) for n, v in zip(names, values[width:], strict=True)}
        key = (bucket, tuple(_key_text(k) for k in keys))
        target = found.get(key)
        if target is None:
            found[key] = measures  # the usual case: one group per bucket
        else:
            add_into(target, measures, maxes)  # 30/60-minute buckets merge 15-minute groups
    return found


async def report(db: Database, tenant_id: uuid.UUID, query: ReportQuery) -> list[ReportRow]:
    """Rows of (bucket, dimension values) with summed measures and their figures."""
    query = query.validated()
    options = FigureOptions(exclude_short_abandons=query.exclude_short_abandons)
    async with db.scoped(tenant_id, readonly=True) as session:
        if query.table == "contacts":
            grouped = await _grouped(
                session,
                _model("contacts", query.grain),
                query,
                query.by,
                CONTACT_SUMS,
                CONTACT_MAXES,
            )
            rows = [
                ReportRow(bucket, keys, m, contact_figures(m, options))
                for (bucket, keys), m in grouped.items()
            ]
        elif "team" in query.by or query.team_id is not None:
            rows = await _team_rows(session, query)
        else:
            grouped = await _grouped(
                session, _model("agents", query.grain), query, query.by, AGENT_SUMS, AGENT_MAXES
            )
            states = await _states(session, query)
            rows = []
            for (bucket, keys), m in grouped.items():
                state_key = (bucket, keys[query.by.index("agent")] if "agent" in query.by else "")
                held = None if states is None else states.get(state_key, {})
                rows.append(ReportRow(bucket, keys, m, agent_figures(m, held)))
    rows.sort(key=lambda r: (r.bucket, r.keys))
    return rows


async def _team_rows(session: AsyncSession, query: ReportQuery) -> list[ReportRow]:
    """Per-communicator rows summed into their (current) teams: counts and milliseconds
    add exactly, and the figures are computed from the sums (never averages of
    averages). Communicators in no team are the team key ``""``."""
    members = (await session.execute(select(TeamMember.user_id, TeamMember.team_id))).all()
    team_of = {str(row.user_id): str(row.team_id) for row in members}
    agents = (
        None
        if query.team_id is None
        else [row.user_id for row in members if row.team_id == query.team_id]
    )
    inner = replace(query, by=tuple("agent" if d == "team" else d for d in query.by))
    grouped = await _grouped(
        session, _model("agents", query.grain), inner, inner.by, AGENT_SUMS, AGENT_MAXES, agents
    )
    states = await _states(session, inner, agents)
    at = query.by.index("team") if "team" in query.by else None

    def team_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
        if at is None:
            return keys
        return (*keys[:at], team_of.get(keys[at], NO_TEAM), *keys[at + 1 :])

    summed: dict[tuple[str, tuple[str, ...]], Measures] = {}
    for (bucket, keys), m in grouped.items():
        add_into(summed.setdefault((bucket, team_keys(keys)), {}), m, AGENT_MAXES)
    held: dict[tuple[str, str], dict[str, int]] | None = None
    if states is not None:
        held = {}
        for (bucket, agent), times in states.items():
            team = team_of.get(agent, NO_TEAM) if at is not None else ""
            add_into(held.setdefault((bucket, team), {}), times)
    rows = []
    for (bucket, keys), m in summed.items():
        state_key = (bucket, keys[at] if at is not None else "")
        found = None if held is None else held.get(state_key, {})
        rows.append(ReportRow(bucket, keys, m, agent_figures(m, found)))
    return rows


def states_apply(query: ReportQuery) -> bool:
    """Whether agent-state times belong in the report: not when a queue, channel or
    category narrows it (agent states do not belong to one of those)."""
    return (
        query.queue_id is None
        and query.channel is None
        and query.category is None
        and all(name == "agent" for name in query.by)
    )


def state_times(
    rows: Any, query: ReportQuery, timed: bool, per_agent: bool
) -> dict[tuple[str, str], dict[str, int]]:
    """Rows of (bucket?, agent?, state, ms) as time in each state per (bucket, agent)."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        values = list(row)
        bucket = _label(values.pop(0), query.grain) if timed else "total"
        agent = _key_text(values.pop(0)) if per_agent else ""
        state, total = values
        slot = found.setdefault((bucket, agent), {})
        slot[state] = slot.get(state, 0) + int(total or 0)
    return found


async def _states(
    session: AsyncSession, query: ReportQuery, agents: list[uuid.UUID] | None = None
) -> dict[tuple[str, str], dict[str, int]] | None:
    """Time in each state per (bucket, agent or ""); ``None`` when a queue, channel or
    category narrows the report (:func:`states_apply`)."""
    if not states_apply(query):
        return None
    model = _model("states", query.grain)
    time = _time_column(model, query.grain)
    per_agent = "agent" in query.by
    groups = [
        c for c in (time, model.agent_id if per_agent else None, model.state) if c is not None
    ]
    statement = _filtered(
        select(*groups, func.sum(model.state_ms)).group_by(*groups), model, query, agents
    )
    return state_times(await session.execute(statement), query, time is not None, per_agent)


# ------------------------------------------------------------------- names & drill


async def names(db: Database, tenant_id: uuid.UUID, locale: str) -> dict[str, dict[str, str]]:
    """Display names of queues, categories and communicators, by their report key."""
    japanese = locale == "ja"
    async with db.scoped(tenant_id, readonly=True) as session:
        queues = (await session.scalars(select(Queue))).all()
        categories = (await session.scalars(select(Category))).all()
        users = (await session.scalars(select(User))).all()
        teams = (await session.scalars(select(Team))).all()
    return {
        "queue": {str(q.id): q.name_ja if japanese else q.name_en for q in queues},
        "category": {c.code: c.name_ja if japanese else c.name_en for c in categories},
        "agent": {str(u.id): u.display_name for u in users},
        "team": {
            NO_TEAM: "(チームなし)" if japanese else "(no team)",
            **{str(t.id): t.name for t in teams},
        },
    }


async def tenant_today(db: Database, tenant_id: uuid.UUID) -> date:
    async with db.system(readonly=True) as session:
        zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    return datetime.now(ZoneInfo(zone or "UTC")).date()


@dataclass(frozen=True, slots=True)
class DrillQuery:
    day_from: date
    day_to: date
    bucket: str | None = None  # an interval start (ISO) of a 15/30/60 report
    grain: str = "day"
    queue_id: uuid.UUID | None = None
    channel: str | None = None
    category: str | None = None
    agent_id: uuid.UUID | None = None
    outcome: str | None = None
    survey: str | None = None  # one of SURVEY_FILTERS
    limit: int = 200


def _survey_filter(model: Any, choice: str) -> ColumnElement[bool]:
    nps, csat = model.nps_score, model.csat_score
    conditions: dict[str, ColumnElement[bool]] = {
        "answered": nps.is_not(None) | csat.is_not(None),
        "promoter": nps >= 9,
        "passive": nps.between(7, 8),
        "detractor": nps <= 6,
        "satisfied": csat >= 4,
        "unsatisfied": csat <= 3,
    }
    found = conditions.get(choice)
    if found is None:
        raise InvalidInputError(f"survey must be one of {', '.join(SURVEY_FILTERS)}")
    return found


async def contacts_behind(
    db: Database, tenant_id: uuid.UUID, query: DrillQuery
) -> list[FiguresContact]:
    """The ended contacts behind a number: same days, bucket and dimensions."""
    model = FiguresContact
    statement = select(model).where(
        model.local_day >= query.day_from, model.local_day <= query.day_to
    )
    if query.bucket and query.grain in ("15", "30", "60"):
        try:
            start = datetime.fromisoformat(query.bucket)
        except ValueError as error:
            raise InvalidInputError("bucket must be an ISO interval start") from error
        statement = statement.where(
            model.interval_start >= start,
            model.interval_start < start + timedelta(minutes=int(query.grain)),
        )
    if query.queue_id is not None:
        statement = statement.where(model.queue_id == query.queue_id)
    if query.channel is not None:
        statement = statement.where(model.channel == query.channel)
    if query.category is not None:
        category = query.category or None
        statement = statement.where(
            model.category == category if category else model.category.is_(None)
        )
    if query.agent_id is not None:
        statement = statement.where(
            (model.answered_by == query.agent_id) | (model.last_agent_id == query.agent_id)
        )
    if query.outcome is not None:
        statement = statement.where(model.outcome == query.outcome)
    if query.survey is not None:
        statement = statement.where(_survey_filter(model, query.survey))
    limit = max(1, min(query.limit, MAX_DRILL))
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.scalars(statement.order_by(model.ended_at.desc()).limit(limit))
        return list(found.all())


async def in_progress(db: Database, tenant_id: uuid.UUID) -> dict[str, int]:
    """Contacts not yet ended, by state, as the fold last saw them."""
    model = FiguresContact
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = await session.execute(
            select(model.state, func.count())
            .where(model.state.not_in(["closed", "abandoned"]))
            .group_by(model.state)
        )
        return {state: int(count) for state, count in rows}


async def handle_times(
    db: Database,
    tenant_id: uuid.UUID,
    query: ReportQuery,
    *,
    limit: int = 50_000,
) -> list[float]:
    """Handle time (talk + hold + after-call work, seconds) of each answered contact."""
    model = FiguresContact
    statement = select(model.talk_ms + model.hold_ms + model.acw_ms).where(
        model.local_day >= query.day_from,
        model.local_day <= query.day_to,
        model.answered_at.is_not(None),
        model.state == "closed",
    )
    if query.queue_id is not None:
        statement = statement.where(model.queue_id == query.queue_id)
    if query.channel is not None:
        statement = statement.where(model.channel == query.channel)
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.scalars(statement.limit(limit))
        return [int(value) / 1000 for value in found]
