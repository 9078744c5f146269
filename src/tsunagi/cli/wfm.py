"""``tsunagi wfm`` - staffing, forecasts, schedules and budgets from CSV/JSON files.

Every command reads files and writes CSV (or Markdown) to standard output; a
problem with the input is reported as one line naming it, with a non-zero
exit code and no traceback.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
import msgspec

from tsunagi.wfm.staffing import Model, Target, exact, staff_intervals, summarize


def _fraction(value: str, name: str, *, low: float = 0, high: float = 1) -> Fraction:
    try:
        number = Fraction(Decimal(value))
    except (InvalidOperation, ValueError) as exc:
        raise click.BadParameter(f"{value!r} is not a number", param_hint=name) from exc
    if not low <= number <= high:
        raise click.BadParameter(f"{value} is outside [{low}, {high}]", param_hint=name)
    return number


def _rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """CSV rows with their line numbers; the header must name every required column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise click.FileError(str(path), hint=exc.strerror) from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise click.ClickException(f"{path}: missing column(s) {', '.join(missing)}")
    yield from enumerate(reader, start=2)


def _timestamp(value: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise click.ClickException(f"{where}: {value!r} is not an ISO date-time") from exc


def _number(value: str, where: str, *, minimum: float = 0) -> Fraction:
    try:
        number = Fraction(Decimal(value.strip()))
    except (InvalidOperation, ValueError) as exc:
        raise click.ClickException(f"{where}: {value!r} is not a number") from exc
    if number < minimum:
        raise click.ClickException(f"{where}: {value} is below {minimum}")
    return number


def read_series(path: Path, column: str) -> tuple[list[datetime], list[Fraction]]:
    """``interval_start`` and one numeric column of a CSV file."""
    starts: list[datetime] = []
    values: list[Fraction] = []
    for line, row in _rows(path, ["interval_start", column]):
        where = f"{path}:{line}"
        starts.append(_timestamp(row["interval_start"], where))
        values.append(_number(row[column], f"{where} {column}"))
    if not starts:
        raise click.ClickException(f"{path}: no rows")
    return starts, values


@click.group()
def wfm() -> None:
    """Workforce planning: staffing, forecasts, schedules, budgets."""


@wfm.command()
@click.option(
    "--volumes",
    "volumes_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV with columns interval_start,volume.",
)
@click.option(
    "--aht-s",
    required=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Average handle time in seconds (talk + hold + after-call work).",
)
@click.option("--interval-minutes", required=True, type=click.IntRange(min=1))
@click.option(
    "--sl-target",
    default="0.8",
    show_default=True,
    help="Share of calls to answer within --sl-seconds.",
)
@click.option("--sl-seconds", default=20.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--max-occupancy", default=None, help="Cap on agent occupancy, e.g. 0.85.")
@click.option(
    "--shrinkage",
    default="0",
    show_default=True,
    help="Share of paid time not available for calls, e.g. 0.3.",
)
@click.option(
    "--model", type=click.Choice(["erlang-c", "erlang-a"]), default="erlang-c", show_default=True
)
@click.option(
    "--patience-s",
    type=click.FloatRange(min=0, min_open=True),
    help="Mean caller patience (Erlang A).",
)
@click.option(
    "--asa-target-s",
    type=click.FloatRange(min=0, min_open=True),
    help="Also require the mean wait of answered calls to be at most this.",
)
@click.option(
    "--summary",
    type=click.Choice(["day", "week", "year"]),
    help="Print totals per day, ISO week or year instead of intervals.",
)
def staff(
    volumes_path: Path,
    aht_s: float,
    interval_minutes: int,
    sl_target: str,
    sl_seconds: float,
    max_occupancy: str | None,
    shrinkage: str,
    model: Model,
    patience_s: float | None,
    asa_target_s: float | None,
    summary: str | None,
) -> None:
    """Required agents per interval (Erlang C or A), written as CSV."""
    if model == "erlang-a" and patience_s is None:
        raise click.UsageError("--model erlang-a needs --patience-s")
    target = Target(
        service_level=_fraction(sl_target, "--sl-target", high=0.9999),
        service_seconds=sl_seconds,
        asa_s=asa_target_s,
        max_occupancy=(
            _fraction(max_occupancy, "--max-occupancy", low=0.01)
            if max_occupancy is not None
            else None
        ),
    )
    shrink = _fraction(shrinkage, "--shrinkage", high=0.99)
    starts, volumes = read_series(volumes_path, "volume")
    table = staff_intervals(
        volumes,
        aht_s=exact(str(aht_s)),
        interval_minutes=interval_minutes,
        target=target,
        shrinkage=shrink,
        model=model,
        patience_s=patience_s,
    )
    out = csv.writer(sys.stdout, lineterminator="\n")
    if summary is not None:
        labels = [_period(ts, summary) for ts in starts]
        out.writerow(
            [
                "period",
                "volume",
                "workload_hours",
                "agent_hours",
                "scheduled_hours",
                "service_level",
                "asa_s",
                "abandon_rate",
                "occupancy",
                "peak_agents",
            ]
        )
        for p in summarize(table, labels):
            out.writerow(
                [
                    p.label,
                    _g(p.volume),
                    f"{p.workload_hours:.2f}",
                    f"{p.agent_hours:.2f}",
                    f"{p.scheduled_hours:.2f}",
                    f"{p.service_level:.4f}",
                    f"{p.asa_s:.2f}",
                    f"{p.abandon_rate:.4f}",
                    f"{p.occupancy:.4f}",
                    p.peak_agents,
                ]
            )
        return
    header = [
        "interval_start",
        "volume",
        "traffic_erlangs",
        "agents",
        "agents_with_shrinkage",
        "service_level",
        "asa_s",
        "occupancy",
    ]
    if table.abandon_rate is not None:
        header.append("abandon_rate")
    out.writerow(header)
    for i, ts in enumerate(starts):
        row: list[Any] = [
            ts.isoformat(),
            _g(table.volume[i]),
            f"{table.traffic_erlangs[i]:.4f}",
            int(table.agents[i]),
            int(table.agents_with_shrinkage[i]),
            f"{table.service_level[i]:.4f}",
            f"{table.asa_s[i]:.2f}",
            f"{table.occupancy[i]:.4f}",
        ]
        if table.abandon_rate is not None:
            row.append(f"{table.abandon_rate[i]:.4f}")
        out.writerow(row)


def _g(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.4f}"


def _period(ts: datetime, period: str) -> str:
    if period == "day":
        return ts.date().isoformat()
    if period == "week":
        year, week, _ = ts.isocalendar()
        return f"{year}-W{week:02d}"
    return str(ts.year)


def _special_days(values: Sequence[str]) -> dict[date, float]:
    out: dict[date, float] = {}
    for item in values:
        day, sep, factor = item.partition("=")
        try:
            out[date.fromisoformat(day)] = float(factor) if sep else 0.0
        except ValueError as exc:
            raise click.BadParameter(
                f"{item!r}: use DATE=FACTOR, e.g. 2026-03-31=1.4", param_hint="--special-day"
            ) from exc
    return out


def _weekdays(value: str) -> frozenset[int]:
    try:
        days: set[int] = set()
        for part in value.split(","):
            lo, _, hi = part.partition("-")
            days.update(range(int(lo), int(hi or lo) + 1))
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r}: use e.g. 0-4 or 0,1,2,3,4,5", param_hint="--open-weekdays"
        ) from exc
    if not days or not days <= set(range(7)):
        raise click.BadParameter(
            "weekdays are 0 (Monday) to 6 (Sunday)", param_hint="--open-weekdays"
        )
    return frozenset(days)


@wfm.command()
@click.option(
    "--history",
    "history_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV with interval_start,volume (finer intervals are summed).",
)
@click.option("--interval-minutes", default=30, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--start",
    "start_day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day to forecast (default: the day after the history).",
)
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 800))
@click.option(
    "--method", type=click.Choice(["profile", "ets"]), default="profile", show_default=True
)
@click.option(
    "--weeks",
    default=6,
    show_default=True,
    type=click.IntRange(1, 104),
    help="Weeks of history in the weekday averages and intraday profile.",
)
@click.option(
    "--open-weekdays", default="0-6", show_default=True, help="Open weekdays, 0 = Monday, e.g. 0-4."
)
@click.option("--no-holidays", is_flag=True, help="Do not close Japanese public holidays.")
@click.option(
    "--special-day",
    "special",
    multiple=True,
    help="DATE=FACTOR for a planner adjustment (0 closes the day); repeatable.",
)
@click.option(
    "--busy-season",
    "busy",
    multiple=True,
    help="START:END=FACTOR for a busy period, e.g. 2026-09-15:2026-09-30=1.3; repeatable.",
)
@click.option(
    "--backtest-weeks",
    type=click.IntRange(1, 52),
    help="Instead of forecasting, score both methods on the last N weeks.",
)
@click.option(
    "--handle-time-column",
    help="Column of total handle seconds per interval; adds an aht_s forecast column.",
)
@click.option(
    "--by",
    "by_columns",
    help="Forecast each series named by these columns in one run, e.g. queue,channel; "
    "the output starts with those columns.",
)
def forecast(
    history_path: Path,
    interval_minutes: int,
    start_day: datetime | None,
    days: int,
    method: str,
    weeks: int,
    open_weekdays: str,
    no_holidays: bool,
    special: tuple[str, ...],
    busy: tuple[str, ...],
    backtest_weeks: int | None,
    handle_time_column: str | None,
    by_columns: str | None,
) -> None:
    """Forecast volume per interval (CSV interval_start,volume), or backtest the methods."""
    import pandas as pd

    if by_columns is not None:
        _forecast_batch(
            history_path,
            [c.strip() for c in by_columns.split(",") if c.strip()],
            interval_minutes=interval_minutes,
            start_day=start_day,
            days=days,
            method=method,
            weeks=weeks,
            open_weekdays=open_weekdays,
            no_holidays=no_holidays,
            special=special,
            busy=busy,
        )
        return

    from tsunagi.wfm.forecast import (
        Calendar,
        backtest,
        forecast_aht,
        forecast_intervals,
        japanese_holiday,
        to_intervals,
        with_busy_season,
    )

    starts, volumes = read_series(history_path, "volume")
    history = pd.Series([float(v) for v in volumes], index=pd.DatetimeIndex(starts))
    history = to_intervals(history, interval_minutes)
    calendar = Calendar(
        open_weekdays=_weekdays(open_weekdays),
        is_holiday=(lambda _d: False) if no_holidays else japanese_holiday,
        special_days=_special_days(special),
    )
    for item in busy:
        span, sep, factor = item.partition("=")
        first_day, _, last_day = span.partition(":")
        try:
            calendar = with_busy_season(
                calendar, date.fromisoformat(first_day), date.fromisoformat(last_day), float(factor)
            )
        except ValueError as exc:
            raise click.BadParameter(
                f"{item!r}: use START:END=FACTOR, e.g. 2026-09-15:2026-09-30=1.3",
                param_hint="--busy-season",
            ) from exc
        if not sep:
            raise click.BadParameter(f"{item!r}: missing =FACTOR", param_hint="--busy-season")
    out = csv.writer(sys.stdout, lineterminator="\n")
    try:
        if backtest_weeks is not None:
            out.writerow(
                ["method", "mape_interval", "wape_interval", "mape_day", "wape_day", "days"]
            )
            for r in backtest(
                history, holdout_weeks=backtest_weeks, calendar=calendar, weeks=weeks
            ):
                out.writerow(
                    [
                        r.method,
                        f"{r.mape_interval:.4f}",
                        f"{r.wape_interval:.4f}",
                        f"{r.mape_day:.4f}",
                        f"{r.wape_day:.4f}",
                        r.days,
                    ]
                )
            return
        first = start_day.date() if start_day else max(starts).date() + timedelta(days=1)
        targets = [first + timedelta(days=k) for k in range(days)]
        fc = forecast_intervals(
            history,
            targets,
            method=method,  # type: ignore[arg-type]
            calendar=calendar,
            weeks=weeks,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if handle_time_column is None:
        out.writerow(["interval_start", "volume"])
        for ts, value in fc.items():
            out.writerow([pd.Timestamp(str(ts)).isoformat(), f"{value:.2f}"])
        return
    _, handle = read_series(history_path, handle_time_column)
    handle_s = to_intervals(
        pd.Series([float(v) for v in handle], index=pd.DatetimeIndex(starts)), interval_minutes
    )
    aht = forecast_aht(history, handle_s.reindex(history.index).fillna(0.0), targets, weeks=weeks)
    overall = float(handle_s.sum() / max(float(history.sum()), 1.0))
    out.writerow(["interval_start", "volume", "aht_s"])
    for ts, value in fc.items():
        stamp = pd.Timestamp(str(ts))
        out.writerow([stamp.isoformat(), f"{value:.2f}", f"{float(aht.get(stamp, overall)):.1f}"])


def _busy_seasons(values: Sequence[str]) -> tuple[tuple[date, date, float], ...]:
    seasons = []
    for item in values:
        span, sep, factor = item.partition("=")
        first_day, _, last_day = span.partition(":")
        try:
            if not sep:
                raise ValueError("missing =FACTOR")
            seasons.append(
                (date.fromisoformat(first_day), date.fromisoformat(last_day), float(factor))
            )
        except ValueError as exc:
            raise click.BadParameter(
                f"{item!r}: use START:END=FACTOR, e.g. 2026-09-15:2026-09-30=1.3",
                param_hint="--busy-season",
            ) from exc
    return tuple(seasons)


def _forecast_batch(
    path: Path,
    by: list[str],
    *,
    interval_minutes: int,
    start_day: datetime | None,
    days: int,
    method: str,
    weeks: int,
    open_weekdays: str,
    no_holidays: bool,
    special: tuple[str, ...],
    busy: tuple[str, ...],
) -> None:
    """One forecast per value of the ``by`` columns; series that cannot be forecast are
    named on standard error and left out."""
    from tsunagi.wfm.plan import CalendarSpec, ForecastSpec, forecast_many, parse_histories_csv

    if not by:
        raise click.BadParameter("name at least one column, e.g. queue,channel", param_hint="--by")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise click.FileError(str(path), hint=exc.strerror) from exc
    spec = ForecastSpec(
        interval_minutes=interval_minutes,
        start=start_day.date() if start_day else None,
        days=days,
        method=method,  # type: ignore[arg-type]
        weeks=weeks,
        calendar=CalendarSpec(
            open_weekdays=_weekdays(open_weekdays),
            holidays=not no_holidays,
            special_days=_special_days(special),
            busy_seasons=_busy_seasons(busy),
        ),
    )
    try:
        done, failed = forecast_many(parse_histories_csv(text, by), spec)
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow([*by, "interval_start", "volume"])
    for key, table in done.items():
        for ts, value in zip(table.starts, table.volume, strict=True):
            out.writerow([*key, ts.isoformat(), f"{value:.2f}"])
    sys.stdout.flush()
    for key, why in failed.items():
        click.echo(f"skipped {'/'.join(key)}: {why}", err=True)


def _day_grid(
    starts: Sequence[datetime], values: Sequence[Fraction], interval_minutes: int
) -> tuple[list[date], int, list[list[int]]]:
    """Days x intervals of whole agents; the grid spans the earliest to the latest time of day."""
    step = timedelta(minutes=interval_minutes)
    offsets = [ts - datetime.combine(ts.date(), datetime.min.time()) for ts in starts]
    if any(o % step for o in offsets):
        raise click.ClickException(
            f"interval starts must fall on the {interval_minutes}-minute grid"
        )
    first = min(offsets) // step
    width = max(offsets) // step - first + 1
    days = sorted({ts.date() for ts in starts})
    index = {d: k for k, d in enumerate(days)}
    grid = [[0] * width for _ in days]
    for ts, off, value in zip(starts, offsets, values, strict=True):
        grid[index[ts.date()]][off // step - first] = -((-value.numerator) // value.denominator)
    return days, first * interval_minutes, grid


@wfm.command("schedule")
@click.option(
    "--required",
    "required_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV with interval_start and the agents to cover (e.g. `wfm staff` output).",
)
@click.option(
    "--column",
    default="agents_with_shrinkage",
    show_default=True,
    help="Column holding the agents required.",
)
@click.option(
    "--shifts",
    "shifts_path",
    required=True,
    type=click.Path(path_type=Path),
    help="JSON list of shift types (see docs/wfm/guide.md).",
)
@click.option("--interval-minutes", required=True, type=click.IntRange(min=1))
@click.option(
    "--days-per-week",
    type=click.IntRange(1, 7),
    help="Plan weekly rotations with days off (needs exactly 7 days).",
)
@click.option("--time-limit-s", default=20.0, show_default=True, type=click.FloatRange(min=1))
@click.option(
    "--show", type=click.Choice(["coverage", "shifts"]), default="coverage", show_default=True
)
def schedule_command(
    required_path: Path,
    column: str,
    shifts_path: Path,
    interval_minutes: int,
    days_per_week: int | None,
    time_limit_s: float,
    show: str,
) -> None:
    """Choose shifts covering the required agents at least cost; print coverage or shifts."""
    from tsunagi.wfm.schedule import ShiftType, schedule

    starts, values = read_series(required_path, column)
    days, day_start, grid = _day_grid(starts, values, interval_minutes)
    try:
        shifts = msgspec.json.decode(shifts_path.read_bytes(), type=list[ShiftType])
    except OSError as exc:
        raise click.FileError(str(shifts_path), hint=exc.strerror) from exc
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise click.ClickException(f"{shifts_path}: {exc}") from exc
    # Shift windows are given on the clock; the grid starts at the first interval of the day.
    shifts = [
        replace(
            s,
            earliest_start_minutes=max(0, s.earliest_start_minutes - day_start),
            latest_start_minutes=s.latest_start_minutes - day_start,
        )
        for s in shifts
    ]
    try:
        result = schedule(
            grid,
            shifts,
            interval_minutes=interval_minutes,
            days_per_week=days_per_week,
            time_limit_s=time_limit_s,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    out = csv.writer(sys.stdout, lineterminator="\n")
    step = timedelta(minutes=interval_minutes)
    if show == "shifts":
        out.writerow(["day", "shift", "start", "end", "break_start", "agents", "cost"])
        for d, pattern, n in result.shifts:
            begin = (
                datetime.combine(days[d], datetime.min.time())
                + timedelta(minutes=day_start)
                + pattern.start * step
            )
            end = begin + timedelta(minutes=pattern.shift.length_minutes)
            brk = (
                (begin + (pattern.break_start - pattern.start) * step).time().isoformat("minutes")
                if pattern.break_start is not None
                else ""
            )
            out.writerow(
                [
                    days[d].isoformat(),
                    pattern.shift.name,
                    begin.time().isoformat("minutes"),
                    end.time().isoformat("minutes"),
                    brk,
                    n,
                    f"{pattern.cost * n:.2f}",
                ]
            )
        return
    out.writerow(["interval_start", "required", "scheduled", "over", "under"])
    over, under = result.over(), result.under()
    for d, day in enumerate(days):
        base = datetime.combine(day, datetime.min.time()) + timedelta(minutes=day_start)
        for t in range(len(grid[d])):
            out.writerow(
                [
                    (base + t * step).isoformat(),
                    grid[d][t],
                    result.coverage[d][t],
                    over[d][t],
                    under[d][t],
                ]
            )
    sys.stdout.flush()
    click.echo(f"status {result.status}, cost {result.cost:.2f}, heads {result.heads}", err=True)


class _RoleConfig(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    hourly_rate: float
    per_agents: float


class _RatesConfig(msgspec.Struct, forbid_unknown_fields=True):
    agent_hourly_rate: float
    roles: list[_RoleConfig] = []
    telephony_per_minute: float = 0.0
    licence_per_seat_month: float = 0.0
    rent_per_month: float = 0.0
    depreciation_per_month: float = 0.0
    paid_hours_per_head_month: float = 160.0
    busy_threshold: float = 0.1


class _ScenarioConfig(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    aht_s: str
    sl_target: str = "0.8"
    sl_seconds: float = 20.0
    max_occupancy: str | None = None
    shrinkage: str = "0"
    aht_factor: str = "1"
    model: Model = "erlang-c"
    patience_s: float | None = None


class _BudgetConfig(msgspec.Struct, forbid_unknown_fields=True):
    rates: _RatesConfig
    scenarios: list[_ScenarioConfig]


@wfm.command("budget")
@click.option(
    "--volumes",
    "volumes_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV interval_start,volume for the year (e.g. `wfm forecast` output).",
)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="JSON with rates and scenarios (see docs/wfm/example-budget.json).",
)
@click.option("--interval-minutes", required=True, type=click.IntRange(min=1))
@click.option(
    "--scheduled",
    "scheduled_path",
    type=click.Path(path_type=Path),
    help="Coverage CSV from `wfm schedule` (interval_start,scheduled): cost the shifts "
    "actually planned instead of the staffing requirement.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown", show_default=True
)
def budget_command(
    volumes_path: Path,
    config_path: Path,
    interval_minutes: int,
    scheduled_path: Path | None,
    fmt: str,
) -> None:
    """Annual budget by month for each scenario, side by side."""
    from tsunagi.wfm.budget import CostRates, Role, Scenario, annual_budget, compare

    try:
        config = msgspec.json.decode(config_path.read_bytes(), type=_BudgetConfig)
    except OSError as exc:
        raise click.FileError(str(config_path), hint=exc.strerror) from exc
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise click.ClickException(f"{config_path}: {exc}") from exc
    r = config.rates
    rates = CostRates(
        agent_hourly_rate=r.agent_hourly_rate,
        roles=tuple(Role(x.name, x.hourly_rate, x.per_agents) for x in r.roles),
        telephony_per_minute=r.telephony_per_minute,
        licence_per_seat_month=r.licence_per_seat_month,
        rent_per_month=r.rent_per_month,
        depreciation_per_month=r.depreciation_per_month,
        paid_hours_per_head_month=r.paid_hours_per_head_month,
        busy_threshold=r.busy_threshold,
    )
    starts, volumes = read_series(volumes_path, "volume")
    scheduled: list[int] | None = None
    if scheduled_path is not None:
        plan_starts, plan = read_series(scheduled_path, "scheduled")
        by_start = dict(zip(plan_starts, plan, strict=True))
        missing = [ts for ts in starts if ts not in by_start]
        if missing:
            raise click.ClickException(
                f"{scheduled_path}: no scheduled count for {missing[0].isoformat()}"
                f" ({len(missing)} interval(s) missing)"
            )
        scheduled = [int(by_start[ts]) for ts in starts]
    budgets = []
    for sc in config.scenarios:
        where = f"scenario {sc.name!r}"
        target = Target(
            service_level=_fraction(sc.sl_target, f"{where} sl_target", high=0.9999),
            service_seconds=sc.sl_seconds,
            max_occupancy=(
                _fraction(sc.max_occupancy, f"{where} max_occupancy", low=0.01)
                if sc.max_occupancy
                else None
            ),
        )
        scenario = Scenario(
            sc.name,
            target,
            aht_s=_number(sc.aht_s, f"{where} aht_s"),
            shrinkage=_fraction(sc.shrinkage, f"{where} shrinkage", high=0.99),
            aht_factor=_number(sc.aht_factor, f"{where} aht_factor"),
            model=sc.model,
            patience_s=sc.patience_s,
        )
        try:
            budgets.append(
                annual_budget(
                    starts,
                    volumes,
                    interval_minutes=interval_minutes,
                    scenario=scenario,
                    rates=rates,
                    scheduled=scheduled,
                )
            )
        except ValueError as exc:
            raise click.ClickException(f"{where}: {exc}") from exc
    if fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        roles = [x.name for x in r.roles]
        out.writerow(
            [
                "scenario",
                "month",
                "season",
                "calls",
                "agent_hours",
                "agent_heads",
                *[f"labour_{x}" for x in ["agents", *roles]],
                "telephony",
                "licences",
                "rent",
                "depreciation",
                "variable",
                "fixed",
                "total",
                "labour_share",
            ]
        )
        for b in budgets:
            for m in b.months:
                out.writerow(
                    [
                        b.scenario,
                        m.month,
                        "busy" if m.busy else "normal",
                        _g(m.calls),
                        f"{m.agent_hours:.1f}",
                        f"{m.agent_heads:.2f}",
                        *[f"{m.labour[x]:.0f}" for x in ["agents", *roles]],
                        f"{m.telephony:.0f}",
                        f"{m.licences:.0f}",
                        f"{m.rent:.0f}",
                        f"{m.depreciation:.0f}",
                        f"{m.variable:.0f}",
                        f"{m.fixed:.0f}",
                        f"{m.total:.0f}",
                        f"{m.labour_share:.4f}",
                    ]
                )
        return
    click.echo(
        "| scenario | calls | agent hours | mean heads | variable | fixed | total |"
        " labour share | busy months | busy-month cost |"
    )
    click.echo("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in compare(budgets):
        click.echo(
            f"| {row['scenario']} | {row['calls']:,.0f} | {row['agent_hours']:,.0f} |"
            f" {row['mean_agent_heads']:.1f} | {row['variable']:,.0f} | {row['fixed']:,.0f} |"
            f" {row['total']:,.0f} | {row['labour_share']:.1%} | {row['busy_months']} |"
            f" {row['busy_month_cost']:,.0f} |"
        )
    for b in budgets:
        click.echo(f"\n### {b.scenario}\n")
        click.echo(
            "| month | season | calls | heads | labour | telephony | licences | fixed |"
            " total | labour share |"
        )
        click.echo("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for m in b.months:
            click.echo(
                f"| {m.month} | {'busy' if m.busy else 'normal'} | {m.calls:,.0f} |"
                f" {m.agent_heads:.1f} | {sum(m.labour.values()):,.0f} | {m.telephony:,.0f} |"
                f" {m.licences:,.0f} | {m.fixed:,.0f} | {m.total:,.0f} | {m.labour_share:.1%} |"
            )
