"""A planner's run end to end: history -> forecast -> staffing -> shifts -> budget.

The pieces (``forecast``, ``staffing``, ``schedule``, ``budget``) each take their own
shapes; this module joins them on one interval grid so the API, the pages and the CLI
share one path. History is a plain sequence of (local interval start, volume, total
handle seconds); it comes from the figures aggregates or from an uploaded CSV
(:func:`parse_history_csv`). Times are the center's local clock, timezone-naive, as in
``forecast``. Every problem with the input raises ``ValueError`` naming it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from tsunagi.wfm.budget import CostRates, Scenario, annual_budget, compare, scenario_variants
from tsunagi.wfm.forecast import (
    Calendar,
    Method,
    backtest,
    forecast_intervals,
    japanese_holiday,
    to_intervals,
    with_busy_season,
)
from tsunagi.wfm.schedule import ShiftType, schedule
from tsunagi.wfm.staffing import Model, StaffingTable, Target, staff_intervals

K = TypeVar("K")
MAX_HISTORY_ROWS = 200_000  # two years of 5-minute rows
MAX_FORECAST_DAYS = 400


@dataclass(frozen=True, slots=True)
class History:
    """Volume (and optionally total handle seconds) per local interval start."""

    starts: tuple[datetime, ...]
    volume: tuple[float, ...]
    handle_s: tuple[float, ...] | None = None
    answered: tuple[float, ...] | None = None  # contacts the handle time belongs to

    def series(self, interval_minutes: int) -> pd.Series:
        """Volumes summed into ``interval_minutes`` buckets, every day filled with zeros."""
        return _filled(self._raw(self.volume), interval_minutes)

    def handle_series(self, interval_minutes: int) -> pd.Series | None:
        if self.handle_s is None:
            return None
        return _filled(self._raw(self.handle_s), interval_minutes)

    def mean_aht_s(self) -> float | None:
        """Overall handle time per answered contact (per contact without an answered
        count); ``None`` without handle times or contacts."""
        handled = sum(self.answered if self.answered is not None else self.volume)
        if self.handle_s is None or handled <= 0:
            return None
        return sum(self.handle_s) / handled

    def _raw(self, values: Sequence[float]) -> pd.Series:
        return pd.Series(list(values), index=pd.DatetimeIndex(list(self.starts)), dtype=float)


def _filled(series: pd.Series, interval_minutes: int) -> pd.Series:
    summed = to_intervals(series, interval_minutes)
    index = pd.DatetimeIndex(summed.index)
    first = index.min().normalize()
    last = index.max().normalize() + pd.Timedelta(days=1)
    grid = pd.date_range(first, last, freq=f"{interval_minutes}min", inclusive="left")
    return summed.reindex(grid, fill_value=0.0)


def _decimal(text: str, where: str) -> float:
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"{where}: {text!r} is not a number") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"{where}: {text!r} must be a number >= 0")
    return float(value)


def parse_history_csv(text: str, *, max_rows: int = MAX_HISTORY_ROWS) -> History:
    """History from CSV text: ``interval_start,volume`` and optionally ``handle_time_s``
    (total handle seconds of the interval) and ``answered``. Time stamps are ISO; an
    offset is dropped (the wall-clock time is kept, as the center reads it)."""
    return parse_histories_csv(text, (), max_rows=max_rows)[()]


def parse_histories_csv(
    text: str, by: Sequence[str], *, max_rows: int = MAX_HISTORY_ROWS
) -> dict[tuple[str, ...], History]:
    """Like :func:`parse_history_csv`, one history per value of the ``by`` columns
    (e.g. ``("queue", "channel")``); rows of one key may come in any order."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = reader.fieldnames or []
    missing = [c for c in ("interval_start", "volume", *by) if c not in columns]
    if missing:
        raise ValueError(f"the CSV lacks the column(s) {', '.join(missing)}")
    optional = [c for c in ("handle_time_s", "answered") if c in columns]
    rows: dict[tuple[str, ...], dict[str, list[Any]]] = {}
    for line, row in enumerate(reader, start=2):
        if line - 1 > max_rows:
            raise ValueError(f"the CSV has more than {max_rows} rows")
        where = f"line {line}"
        try:
            start = datetime.fromisoformat((row["interval_start"] or "").strip())
        except ValueError as exc:
            raise ValueError(f"{where}: interval_start is not an ISO date-time") from exc
        key = tuple((row[c] or "").strip() for c in by)
        slot = rows.setdefault(key, {"starts": [], "volume": [], **{c: [] for c in optional}})
        slot["starts"].append(start.replace(tzinfo=None))
        slot["volume"].append(_decimal(row["volume"] or "", f"{where} volume"))
        for name in optional:
            slot[name].append(_decimal(row[name] or "0", f"{where} {name}"))
    if not rows:
        raise ValueError("the CSV has no rows")
    return {
        key: History(
            tuple(slot["starts"]),
            tuple(slot["volume"]),
            tuple(slot["handle_time_s"]) if "handle_time_s" in slot else None,
            tuple(slot["answered"]) if "answered" in slot else None,
        )
        for key, slot in rows.items()
    }


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """The planner's calendar: open weekdays (Monday = 0), public holidays closed or not,
    special days (date -> factor, 0 closes) and busy seasons (first, last, factor)."""

    open_weekdays: frozenset[int] = frozenset(range(7))
    holidays: bool = True
    special_days: Mapping[date, float] = field(default_factory=dict)
    busy_seasons: tuple[tuple[date, date, float], ...] = ()

    def build(self) -> Calendar:
        if not self.open_weekdays or not self.open_weekdays <= set(range(7)):
            raise ValueError("open weekdays are 0 (Monday) to 6 (Sunday), at least one")
        if any(f < 0 for f in self.special_days.values()):
            raise ValueError("a special day's factor must be >= 0")
        calendar = Calendar(
            open_weekdays=self.open_weekdays,
            is_holiday=japanese_holiday if self.holidays else _never,
            special_days=dict(self.special_days),
        )
        for first, last, factor in self.busy_seasons:
            if last < first or factor < 0:
                raise ValueError("a busy season needs first <= last and a factor >= 0")
            calendar = with_busy_season(calendar, first, last, factor)
        return calendar


def _never(_day: date) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class ForecastSpec:
    interval_minutes: int = 30
    start: date | None = None  # default: the day after the history
    days: int = 7
    method: Method = "profile"
    weeks: int = 6
    calendar: CalendarSpec = field(default_factory=CalendarSpec)

    def checked(self) -> ForecastSpec:
        if self.interval_minutes not in (15, 30, 60):
            raise ValueError("interval_minutes must be 15, 30 or 60")
        if not 1 <= self.days <= MAX_FORECAST_DAYS:
            raise ValueError(f"days must be 1 to {MAX_FORECAST_DAYS}")
        if not 1 <= self.weeks <= 104:
            raise ValueError("weeks must be 1 to 104")
        if self.method not in ("profile", "ets"):
            raise ValueError("method must be profile or ets")
        return self


@dataclass(frozen=True, slots=True)
class ForecastTable:
    """Forecast per interval, with the history's actual volume where it overlaps."""

    starts: list[datetime]
    volume: list[float]
    actual: list[float | None]
    aht_s: float | None  # the history's overall handle time per contact
    method: str
    interval_minutes: int

    @property
    def total(self) -> float:
        return float(sum(self.volume))


def forecast(history: History, spec: ForecastSpec) -> ForecastTable:
    """Volume per interval for ``spec.days`` days from ``spec.start``."""
    spec = spec.checked()
    series = history.series(spec.interval_minutes)
    calendar = spec.calendar.build()
    first = spec.start or (pd.DatetimeIndex(series.index).max().date() + timedelta(days=1))
    days = [first + timedelta(days=k) for k in range(spec.days)]
    predicted = forecast_intervals(
        series, days, method=spec.method, calendar=calendar, weeks=spec.weeks
    )
    grid = pd.date_range(
        pd.Timestamp(first),
        pd.Timestamp(days[-1] + timedelta(days=1)),
        freq=f"{spec.interval_minutes}min",
        inclusive="left",
    )
    predicted = predicted.reindex(grid, fill_value=0.0)
    known = series.reindex(grid)
    return ForecastTable(
        starts=[ts.to_pydatetime() for ts in grid],
        volume=[float(v) for v in predicted.to_numpy()],
        actual=[None if pd.isna(v) else float(v) for v in known.to_numpy()],
        aht_s=history.mean_aht_s(),
        method=spec.method,
        interval_minutes=spec.interval_minutes,
    )


def accuracy(history: History, spec: ForecastSpec, holdout_weeks: int) -> list[dict[str, float]]:
    """MAPE/WAPE per method on the last ``holdout_weeks`` weeks (rolling origin)."""
    spec = spec.checked()
    if not 1 <= holdout_weeks <= 12:
        raise ValueError("holdout_weeks must be 1 to 12")
    span = max(history.starts) - min(history.starts)
    if span < timedelta(weeks=holdout_weeks + 1) - timedelta(days=1):
        raise ValueError(
            f"holdout_weeks: {holdout_weeks} held-back week(s) need at least"
            f" {holdout_weeks + 1} weeks of history"
        )
    results = backtest(
        history.series(spec.interval_minutes),
        holdout_weeks=holdout_weeks,
        calendar=spec.calendar.build(),
        weeks=spec.weeks,
    )
    return [
        {
            "method": r.method,  # type: ignore[dict-item]
            "mape_interval": r.mape_interval,
            "wape_interval": r.wape_interval,
            "mape_day": r.mape_day,
            "wape_day": r.wape_day,
            "days": r.days,
        }
        for r in results
    ]


@dataclass(frozen=True, slots=True)
class StaffingSpec:
    """Targets of a staffing run; ``aht_s=None`` takes the history's handle time."""

    aht_s: Fraction | None = None
    service_level: Fraction | None = Fraction(4, 5)
    service_seconds: float = 20.0
    asa_s: float | None = None
    max_occupancy: Fraction | None = None
    shrinkage: Fraction = Fraction(0)
    model: Model = "erlang-c"
    patience_s: float | None = None

    def target(self) -> Target:
        if self.service_level is not None and not 0 <= self.service_level < 1:
            raise ValueError("service_level must be in [0, 1)")
        if self.max_occupancy is not None and not 0 < self.max_occupancy <= 1:
            raise ValueError("max_occupancy must be in (0, 1]")
        if self.service_level is None and self.asa_s is None and self.max_occupancy is None:
            raise ValueError("give at least one target: service level, ASA or occupancy")
        return Target(
            service_level=self.service_level,
            service_seconds=self.service_seconds,
            asa_s=self.asa_s,
            max_occupancy=self.max_occupancy,
        )


def staff(
    volumes: Sequence[float], interval_minutes: int, spec: StaffingSpec, aht_s: Fraction
) -> StaffingTable:
    """Required agents per interval for ``spec`` (one handle time for all intervals)."""
    if not 0 <= spec.shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    if spec.model == "erlang-a" and spec.patience_s is None:
        raise ValueError("Erlang A needs the mean patience (patience_s)")
    if aht_s <= 0:
        raise ValueError("aht_s must be > 0")
    return staff_intervals(
        [Fraction(str(v)) for v in volumes],
        aht_s=aht_s,
        interval_minutes=interval_minutes,
        target=spec.target(),
        shrinkage=spec.shrinkage,
        model=spec.model,
        patience_s=spec.patience_s,
    )


def resolve_aht(spec: StaffingSpec, history_aht_s: float | None) -> Fraction:
    """The planner's handle time, else the history's (rounded to 0.1 s)."""
    if spec.aht_s is not None:
        return spec.aht_s
    if history_aht_s is None or history_aht_s <= 0:
        raise ValueError("the history has no handle time: give aht_s")
    return Fraction(str(round(history_aht_s, 1)))


@dataclass(frozen=True, slots=True)
class ShiftPlan:
    """Coverage per interval (aligned with the input starts) and the shifts chosen."""

    status: str
    starts: list[datetime]
    required: list[int]
    scheduled: list[int]
    shifts: list[dict[str, str | int | float]]
    cost: float
    heads: int

    @property
    def over(self) -> list[int]:
        return [max(0, s - r) for s, r in zip(self.scheduled, self.required, strict=True)]

    @property
    def under(self) -> list[int]:
        return [max(0, r - s) for s, r in zip(self.scheduled, self.required, strict=True)]


MAX_SCHEDULE_DAYS = 14


def plan_shifts(
    starts: Sequence[datetime],
    required: Sequence[int],
    shifts: Sequence[ShiftType],
    *,
    interval_minutes: int,
    days_per_week: int | None = None,
    time_limit_s: float = 10.0,
) -> ShiftPlan:
    """Cover ``required`` agents per interval with ``shifts`` (windows on the clock).

    The day grid runs from the earliest interval with a requirement or a shift start to
    the latest with a requirement or a shift end (within the day), so closed night hours
    cost the solver nothing and a shift longer than the open hours still fits; its hours
    outside the requirement show as over-staffing.
    """
    if len(starts) != len(required) or not starts:
        raise ValueError("one required count per interval start is needed")
    if any(r < 0 for r in required):
        raise ValueError("required agents must be >= 0")
    if not shifts:
        raise ValueError("give at least one shift type")
    step = timedelta(minutes=interval_minutes)
    midnight = [datetime.combine(ts.date(), datetime.min.time()) for ts in starts]
    slots = [(ts - m) // step for ts, m in zip(starts, midnight, strict=True)]
    if any((ts - m) % step for ts, m in zip(starts, midnight, strict=True)):
        raise ValueError(f"interval starts must fall on the {interval_minutes}-minute grid")
    days = sorted({ts.date() for ts in starts})
    if len(days) > MAX_SCHEDULE_DAYS:
        raise ValueError(f"schedules cover at most {MAX_SCHEDULE_DAYS} days")
    busy = [s for s, r in zip(slots, required, strict=True) if r > 0]
    per_day = 24 * 60 // interval_minutes
    reach = [
        (
            s.earliest_start_minutes // interval_minutes,
            -(-(s.latest_start_minutes + s.length_minutes) // interval_minutes),
        )
        for s in shifts
    ]
    first = max(0, min([*busy, *(lo for lo, _hi in reach)], default=0))
    width = min(per_day, max([*(b + 1 for b in busy), *(hi for _lo, hi in reach)])) - first
    index = {d: k for k, d in enumerate(days)}
    grid = [[0] * width for _ in days]
    for ts, slot, need in zip(starts, slots, required, strict=True):
        if first <= slot < first + width:
            grid[index[ts.date()]][slot - first] = int(need)
    day_start = first * interval_minutes
    moved = [
        replace(
            s,
            earliest_start_minutes=max(0, s.earliest_start_minutes - day_start),
            latest_start_minutes=s.latest_start_minutes - day_start,
        )
        for s in shifts
    ]
    result = schedule(
        grid,
        moved,
        interval_minutes=interval_minutes,
        days_per_week=days_per_week,
        time_limit_s=time_limit_s,
    )
    scheduled = [
        result.coverage[index[ts.date()]][slot - first] if first <= slot < first + width else 0
        for ts, slot in zip(starts, slots, strict=True)
    ]
    chosen: list[dict[str, str | int | float]] = []
    for d, pattern, n in result.shifts:
        begin = datetime.combine(days[d], datetime.min.time()) + (first + pattern.start) * step
        brk = (
            begin + (pattern.break_start - pattern.start) * step
            if pattern.break_start is not None
            else None
        )
        chosen.append(
            {
                "day": days[d].isoformat(),
                "shift": pattern.shift.name,
                "start": begin.time().isoformat("minutes"),
                "end": (begin + timedelta(minutes=pattern.shift.length_minutes))
                .time()
                .isoformat("minutes"),
                "break_start": brk.time().isoformat("minutes") if brk else "",
                "agents": n,
                "cost": round(pattern.cost * n, 2),
            }
        )
    return ShiftPlan(
        status=result.status,
        starts=list(starts),
        required=[int(r) for r in required],
        scheduled=scheduled,
        shifts=chosen,
        cost=result.cost,
        heads=result.heads,
    )


def budget_scenarios(
    starts: Sequence[datetime],
    volumes: Sequence[float],
    *,
    interval_minutes: int,
    base: Scenario,
    rates: CostRates,
    variants: bool = True,
) -> tuple[list[dict[str, float | str]], list[tuple[str, list[dict[str, float | str]]]]]:
    """The base scenario and (optionally) the standard variants, side by side, and each
    scenario's months."""
    scenarios = [base, *(scenario_variants(base) if variants else [])]
    exact_volumes = [Fraction(str(v)) for v in volumes]
    budgets = [
        annual_budget(
            list(starts),
            exact_volumes,
            interval_minutes=interval_minutes,
            scenario=s,
            rates=rates,
        )
        for s in scenarios
    ]
    months = [
        (
            b.scenario,
            [
                {
                    "month": m.month,
                    "season": "busy" if m.busy else "normal",
                    "calls": m.calls,
                    "agent_hours": m.agent_hours,
                    "agent_heads": m.agent_heads,
                    "labour": sum(m.labour.values()),
                    "telephony": m.telephony,
                    "licences": m.licences,
                    "fixed": m.fixed,
                    "total": m.total,
                    "labour_share": m.labour_share,
                    "service_level": m.service_level,
                }
                for m in b.months
            ],
        )
        for b in budgets
    ]
    return compare(budgets), months


def day_totals(starts: Sequence[datetime], values: Sequence[float]) -> dict[date, float]:
    """Sum of ``values`` per local day (for the per-day rows of a page)."""
    out: dict[date, float] = {}
    for ts, v in zip(starts, values, strict=True):
        out[ts.date()] = out.get(ts.date(), 0.0) + float(v)
    return out


def finite(values: Sequence[float] | np.ndarray) -> list[float | None]:
    """Floats for JSON: infinities and NaN become ``None``."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def forecast_many(
    histories: Mapping[K, History], spec: ForecastSpec
) -> tuple[dict[K, ForecastTable], dict[K, str]]:
    """One forecast per series (e.g. per queue and channel); a series that cannot be
    forecast (too little history) is reported by its error instead of failing the batch."""
    spec = spec.checked()
    done: dict[K, ForecastTable] = {}
    failed: dict[K, str] = {}
    for key, history in histories.items():
        try:
            done[key] = forecast(history, spec)
        except ValueError as exc:
            failed[key] = str(exc)
    return done, failed
