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
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

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
    "--backtest-weeks",
    type=click.IntRange(1, 52),
    help="Instead of forecasting, score both methods on the last N weeks.",
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
    backtest_weeks: int | None,
) -> None:
    """Forecast volume per interval (CSV interval_start,volume), or backtest the methods."""
    import pandas as pd

    from tsunagi.wfm.forecast import (
        Calendar,
        backtest,
        forecast_intervals,
        japanese_holiday,
        to_intervals,
    )

    starts, volumes = read_series(history_path, "volume")
    history = pd.Series([float(v) for v in volumes], index=pd.DatetimeIndex(starts))
    history = to_intervals(history, interval_minutes)
    calendar = Calendar(
        open_weekdays=_weekdays(open_weekdays),
        is_holiday=(lambda _d: False) if no_holidays else japanese_holiday,
        special_days=_special_days(special),
    )
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
    out.writerow(["interval_start", "volume"])
    for ts, value in fc.items():
        out.writerow([pd.Timestamp(str(ts)).isoformat(), f"{value:.2f}"])
