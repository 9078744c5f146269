"""Workforce planning on the center's own history (issue 5).

Plans are computed on demand and not stored, so nothing here writes or emits events:
history is read from the figures' 15-minute aggregates (one tenant-scoped query), and
the maths of :mod:`tsunagi.wfm.plan` runs in a small worker pool so a forecast, an
Erlang A year or a CP-SAT schedule never blocks the event loop. The pool has two
threads: planners wait in line rather than starving the contact-handling work of CPU.
CP-SAT releases the GIL while it searches and stops at its own time limit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.adapters.storage.models import Tenant
from tsunagi.domain.errors import InvalidInputError
from tsunagi.wfm.budget import CostRates, Scenario
from tsunagi.wfm.plan import (
    ForecastSpec,
    ForecastTable,
    History,
    ShiftPlan,
    StaffingSpec,
    accuracy,
    budget_scenarios,
    forecast,
    forecast_many,
    parse_histories_csv,
    parse_history_csv,
    plan_shifts,
    resolve_aht,
    staff,
)
from tsunagi.wfm.schedule import ShiftType
from tsunagi.wfm.staffing import StaffingTable

T = TypeVar("T")
EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wfm")
MAX_HISTORY_DAYS = 800
MAX_BATCH_ROWS = 1_000_000  # interval rows over all series of one batch forecast
SeriesKey = tuple[uuid.UUID, str]  # (queue id, channel); the nil UUID for "no queue"


async def compute(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run pure planning maths in the worker pool; its ``ValueError`` is bad input."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(EXECUTOR, partial(fn, *args, **kwargs))
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """Which past days to learn from, and which series (``None`` = all summed)."""

    day_from: date
    day_to: date
    queue_id: uuid.UUID | None = None
    channel: str | None = None

    def checked(self) -> HistoryWindow:
        if self.day_to < self.day_from:
            raise InvalidInputError("history_to is before history_from")
        if (self.day_to - self.day_from).days >= MAX_HISTORY_DAYS:
            raise InvalidInputError(f"at most {MAX_HISTORY_DAYS} days of history")
        return self


async def tenant_zone(db: Database, tenant_id: uuid.UUID) -> ZoneInfo:
    async with db.system(readonly=True) as session:
        zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    return ZoneInfo(zone or "UTC")


async def default_window(db: Database, tenant_id: uuid.UUID, weeks: int) -> tuple[date, date]:
    """The last ``weeks`` whole weeks before today in the center's zone."""
    today = datetime.now(await tenant_zone(db, tenant_id)).date()
    return today - timedelta(weeks=weeks), today - timedelta(days=1)


def _local(start: datetime, zone: ZoneInfo) -> datetime:
    aware = start if start.tzinfo else start.replace(tzinfo=UTC)
    return aware.astimezone(zone).replace(tzinfo=None)


def _history(rows: list[tuple[datetime, int, int, int]], zone: ZoneInfo) -> History:
    rows = sorted(rows)
    return History(
        starts=tuple(_local(r[0], zone) for r in rows),
        volume=tuple(float(r[1]) for r in rows),
        handle_s=tuple(r[2] / 1000 for r in rows),
        answered=tuple(float(r[3]) for r in rows),
    )


def _measures() -> list[Any]:
    model = FiguresContactInterval
    return [
        func.sum(model.offered - model.short_abandoned),
        func.sum(model.talk_ms + model.hold_ms + model.acw_ms),
        func.sum(model.answered),
    ]


async def read_history(db: Database, tenant_id: uuid.UUID, window: HistoryWindow) -> History:
    """Offered contacts (short abandons left out), handle time and answered contacts per
    15-minute interval, summed over the chosen queue and channel, on the local clock.

    Figures count a contact in the interval in which it ended (decision 0500), so the
    series lags arrivals by about one handle time; at 15 minutes and more that moves few
    contacts across a boundary.
    """
    window = window.checked()
    model = FiguresContactInterval
    statement = select(model.interval_start, *_measures()).where(
        model.local_day >= window.day_from, model.local_day <= window.day_to
    )
    if window.queue_id is not None:
        statement = statement.where(model.queue_id == window.queue_id)
    if window.channel is not None:
        statement = statement.where(model.channel == window.channel)
    zone = await tenant_zone(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        result = await session.execute(statement.group_by(model.interval_start))
        rows = [(r[0], int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in result]
    if not rows:
        raise InvalidInputError("no contacts in the history for this queue and channel")
    return _history(rows, zone)


async def read_histories(
    db: Database, tenant_id: uuid.UUID, window: HistoryWindow
) -> dict[SeriesKey, History]:
    """One history per (queue, channel) with contacts in the window, in one query."""
    window = window.checked()
    model = FiguresContactInterval
    statement = (
        select(model.queue_id, model.channel, model.interval_start, *_measures())
        .where(model.local_day >= window.day_from, model.local_day <= window.day_to)
        .group_by(model.queue_id, model.channel, model.interval_start)
    )
    if window.queue_id is not None:
        statement = statement.where(model.queue_id == window.queue_id)
    if window.channel is not None:
        statement = statement.where(model.channel == window.channel)
    zone = await tenant_zone(db, tenant_id)
    grouped: dict[SeriesKey, list[tuple[datetime, int, int, int]]] = {}
    async with db.scoped(tenant_id, readonly=True) as session:
        found = (await session.execute(statement.limit(MAX_BATCH_ROWS + 1))).all()
    if len(found) > MAX_BATCH_ROWS:
        raise InvalidInputError(
            f"more than {MAX_BATCH_ROWS:,} interval rows: shorten the history or pick a queue"
        )
    for row in found:
        grouped.setdefault((row[0], str(row[1])), []).append(
            (row[2], int(row[3] or 0), int(row[4] or 0), int(row[5] or 0))
        )
    return {key: _history(rows, zone) for key, rows in sorted(grouped.items(), key=str)}


# --------------------------------------------------------------------- plans on demand

Source = HistoryWindow | str  # the figures of a window, or an uploaded CSV's text


async def load_history(db: Database, tenant_id: uuid.UUID, source: Source) -> History:
    if isinstance(source, str):
        return await compute(parse_history_csv, source)
    return await read_history(db, tenant_id, source)


@dataclass(frozen=True, slots=True)
class StaffingPlan:
    forecast: ForecastTable
    table: StaffingTable
    aht_s: Fraction


def given_volumes(
    starts: list[datetime], volumes: list[float], interval_minutes: int
) -> ForecastTable:
    """Volumes the planner typed or uploaded, in the shape of a forecast."""
    if not starts:
        raise InvalidInputError("volumes: at least one interval")
    return ForecastTable(
        starts=starts,
        volume=volumes,
        actual=[None] * len(starts),
        aht_s=None,
        method="given",
        interval_minutes=interval_minutes,
    )


def _staffed(
    history: History | None,
    fixed: ForecastTable | None,
    fspec: ForecastSpec,
    sspec: StaffingSpec,
) -> StaffingPlan:
    table = fixed if fixed is not None else forecast(_present(history), fspec)
    aht = resolve_aht(sspec, table.aht_s)
    return StaffingPlan(table, staff(table.volume, table.interval_minutes, sspec, aht), aht)


def _present(history: History | None) -> History:
    if history is None:
        raise ValueError("no history to forecast from")
    return history


async def plan_forecast(
    db: Database,
    tenant_id: uuid.UUID,
    source: Source,
    spec: ForecastSpec,
    holdout_weeks: int | None = None,
) -> tuple[ForecastTable, list[dict[str, float]]]:
    """A forecast and, when asked, both methods' accuracy on held-back weeks."""
    history = await load_history(db, tenant_id, source)
    table = await compute(forecast, history, spec)
    scores = [] if holdout_weeks is None else await compute(accuracy, history, spec, holdout_weeks)
    return table, scores


async def plan_forecasts(
    db: Database, tenant_id: uuid.UUID, source: Source, spec: ForecastSpec
) -> tuple[dict[tuple[str, str], ForecastTable], dict[tuple[str, str], str]]:
    """One forecast per (queue, channel): of the figures, or of a CSV with queue and
    channel columns. Keys are the queue id (or the CSV's queue text) and the channel."""
    histories: dict[tuple[str, str], History]
    if isinstance(source, str):
        parsed = await compute(parse_histories_csv, source, ("queue", "channel"))
        histories = {(k[0], k[1]): h for k, h in parsed.items()}
    else:
        found = await read_histories(db, tenant_id, source)
        histories = {(str(q), c): h for (q, c), h in found.items()}
    return await compute(forecast_many, histories, spec)


async def plan_staffing(
    db: Database,
    tenant_id: uuid.UUID,
    source: Source | None,
    fspec: ForecastSpec,
    sspec: StaffingSpec,
    fixed: ForecastTable | None = None,
) -> StaffingPlan:
    """Required agents per interval of a forecast (or of ``fixed`` volumes)."""
    history = (
        None if fixed is not None or source is None else await load_history(db, tenant_id, source)
    )
    return await compute(_staffed, history, fixed, fspec, sspec)


async def plan_schedule(
    plan: StaffingPlan,
    shifts: list[ShiftType],
    *,
    days_per_week: int | None,
    time_limit_s: float,
) -> ShiftPlan:
    """Shifts covering the plan's agents with shrinkage, CP-SAT bounded by ``time_limit_s``."""
    required = [int(n) for n in plan.table.agents_with_shrinkage]
    return await compute(
        plan_shifts,
        plan.forecast.starts,
        required,
        shifts,
        interval_minutes=plan.forecast.interval_minutes,
        days_per_week=days_per_week,
        time_limit_s=time_limit_s,
    )


async def plan_budget(
    plan: StaffingPlan, base: Scenario, rates: CostRates, *, variants: bool
) -> tuple[list[dict[str, float | str]], list[tuple[str, list[dict[str, float | str]]]]]:
    """The annual budget of the plan's volumes for the base scenario and its variants."""
    return await compute(
        budget_scenarios,
        plan.forecast.starts,
        plan.forecast.volume,
        interval_minutes=plan.forecast.interval_minutes,
        base=base,
        rates=rates,
        variants=variants,
    )
