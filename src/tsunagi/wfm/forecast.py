"""Per-interval contact volume and handle-time forecasts from a center's history.

The model is top-down, as planners do it: a **daily total** per open day, then
an **intraday profile** (share of the day in each interval, by weekday) spreads
it over the intervals. Two daily methods are offered and compared on held-back
weeks (:func:`backtest`):

* ``profile`` - the baseline: the mean of the same weekday over the last
  ``weeks`` weeks (seasonal naive, averaged).
* ``ets`` - Holt-Winters exponential smoothing of the daily totals with a
  weekly season (statsmodels ``ExponentialSmoothing``, additive damped trend,
  multiplicative season), fitted on open days only.

Calendar effects: days on the holiday calendar (Japanese public holidays from
``jpholiday`` by default) and planner-entered special days are left out of the
fit; a forecast for such a day is the normal forecast times the planner's
factor (0 for closed days, 1.3 for a price-change rush, ...). Busy seasons are
entered the same way as a factor over a date range. Yearly seasonality is
taken from history when it covers at least two years: the ratio of each
calendar month's mean to the overall mean, applied to the daily forecast.

Interval handle time is forecast as the volume-weighted mean handle time of
the same weekday and interval over the last ``weeks`` weeks.

All functions take and return pandas objects indexed by interval start
(timezone-naive local clock time of the center).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, cast

import jpholiday
import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing

Method = Literal["profile", "ets"]
METHODS: tuple[Method, ...] = ("profile", "ets")


def japanese_holiday(day: date) -> bool:
    """Japanese public holidays (including substitute holidays)."""
    return bool(jpholiday.is_holiday(day))


@dataclass(frozen=True, slots=True)
class Calendar:
    """Which days are open and the planner's adjustments.

    ``open_weekdays`` uses Monday = 0. ``special_days`` maps a date to a factor
    applied to the normal forecast (0 closes the day). ``is_holiday`` marks
    days forecast as closed unless ``special_days`` says otherwise.
    """

    open_weekdays: frozenset[int] = frozenset(range(7))
    is_holiday: Callable[[date], bool] = japanese_holiday
    special_days: Mapping[date, float] = field(default_factory=dict)

    def factor(self, day: date) -> float:
        """Multiplier of the normal forecast for ``day``."""
        if day in self.special_days:
            return float(self.special_days[day])
        if day.weekday() not in self.open_weekdays or self.is_holiday(day):
            return 0.0
        return 1.0

    def is_normal(self, day: date) -> bool:
        """True for open days without any adjustment (used for fitting)."""
        return self.factor(day) == 1.0 and day not in self.special_days


def with_busy_season(calendar: Calendar, start: date, end: date, factor: float) -> Calendar:
    """A calendar with ``factor`` applied to every open day in ``[start, end]``."""
    days = dict(calendar.special_days)
    day = start
    while day <= end:
        if calendar.factor(day) > 0:
            days[day] = factor
        day += timedelta(days=1)
    return Calendar(calendar.open_weekdays, calendar.is_holiday, days)


def to_intervals(series: pd.Series, interval_minutes: int) -> pd.Series:
    """Sum a finer volume series into ``interval_minutes`` buckets (empty buckets dropped)."""
    index = pd.DatetimeIndex(series.index)
    grouped = series.groupby(index.floor(f"{interval_minutes}min")).sum()
    return grouped.astype(float)


def _days(series: pd.Series) -> pd.Series:
    index = pd.DatetimeIndex(series.index)
    return series.groupby(index.normalize()).sum()


def _normal_days(totals: pd.Series, calendar: Calendar) -> pd.Series:
    keep = [calendar.is_normal(ts.date()) for ts in totals.index]
    return totals[np.array(keep, dtype=bool)]


def intraday_profile(history: pd.Series, calendar: Calendar, weeks: int) -> pd.DataFrame:
    """Share of the day's volume per (weekday, time of day) over the last ``weeks`` weeks."""
    index = pd.DatetimeIndex(history.index)
    frame = pd.DataFrame(
        {"v": history.to_numpy(), "day": index.normalize(), "tod": index - index.normalize()}
    )
    normal = {d for d in frame["day"].unique() if calendar.is_normal(pd.Timestamp(d).date())}
    frame = frame[frame["day"].isin(normal)]
    last = frame["day"].max()
    frame = frame[frame["day"] > last - pd.Timedelta(weeks=weeks)]
    frame = frame.assign(share=frame["v"] / frame.groupby("day")["v"].transform("sum"))
    frame = frame.assign(wd=pd.DatetimeIndex(frame["day"]).day_of_week)
    profile = frame.groupby(["wd", "tod"])["share"].mean().unstack("tod").fillna(0.0)
    normalised: pd.DataFrame = profile.div(profile.sum(axis=1), axis=0)
    return normalised


def _daily_profile_method(normal: pd.Series, days: list[pd.Timestamp], weeks: int) -> np.ndarray:
    recent = normal[normal.index > normal.index.max() - pd.Timedelta(weeks=weeks)]
    by_wd = recent.groupby(pd.DatetimeIndex(recent.index).day_of_week).mean()
    overall = float(recent.mean())
    return np.array([float(by_wd.get(d.weekday(), overall)) for d in days])


def _daily_ets(normal: pd.Series, days: list[pd.Timestamp], calendar: Calendar) -> np.ndarray:
    period = len(calendar.open_weekdays)
    values = normal.to_numpy(dtype=float)
    if len(values) < 2 * period + 2:
        raise ValueError(f"ETS needs at least {2 * period + 2} normal days of history")
    model = ExponentialSmoothing(
        values,
        trend="add",
        damped_trend=True,
        seasonal="mul",
        seasonal_periods=period,
        initialization_method="estimated",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = model.fit(optimized=True)
    # Map each target day to its step ahead counted in open days after the last one.
    last = normal.index.max()
    steps = [
        sum(
            1
            for k in pd.date_range(last + pd.Timedelta(days=1), d)
            if k.weekday() in calendar.open_weekdays
        )
        for d in days
    ]
    horizon = max(max(steps), 1)
    path = np.asarray(fit.forecast(horizon), dtype=float)
    return np.array([path[max(s, 1) - 1] for s in steps])


def _yearly_factor(normal: pd.Series, days: list[pd.Timestamp]) -> np.ndarray:
    span = normal.index.max() - normal.index.min()
    if span < pd.Timedelta(days=730):
        return np.ones(len(days))
    by_month = normal.groupby(pd.DatetimeIndex(normal.index).month).mean() / normal.mean()
    return np.array([float(by_month.get(d.month, 1.0)) for d in days])


def forecast_daily(
    history: pd.Series,
    days: Iterable[date],
    *,
    method: Method = "profile",
    calendar: Calendar | None = None,
    weeks: int = 6,
) -> pd.Series:
    """Daily total forecast for ``days`` from an interval history."""
    cal = calendar or Calendar()
    targets = [pd.Timestamp(d) for d in days]
    normal = _normal_days(_days(history), cal)
    if normal.empty:
        raise ValueError("the history has no normal open day to learn from")
    if method == "profile":
        base = _daily_profile_method(normal, targets, weeks)
    elif method == "ets":
        base = _daily_ets(normal, targets, cal)
    else:
        raise ValueError(f"unknown forecasting method {method!r}; use one of {METHODS}")
    base = base * _yearly_factor(normal, targets)
    factors = np.array([cal.factor(d.date()) for d in targets])
    return pd.Series(np.maximum(base, 0.0) * factors, index=pd.DatetimeIndex(targets))


def forecast_intervals(
    history: pd.Series,
    days: Iterable[date],
    *,
    method: Method = "profile",
    calendar: Calendar | None = None,
    weeks: int = 6,
) -> pd.Series:
    """Per-interval volume forecast: daily total times the weekday's intraday profile."""
    cal = calendar or Calendar()
    daily = forecast_daily(history, days, method=method, calendar=cal, weeks=weeks)
    profile = intraday_profile(history, cal, weeks)
    fallback = profile.mean(axis=0)
    parts: list[pd.Series] = []
    for day, total in daily.items():
        ts = pd.Timestamp(str(day))
        shares = profile.loc[ts.weekday()] if ts.weekday() in profile.index else fallback
        shares = shares[shares.index.notna()]
        offsets = pd.TimedeltaIndex(shares.index)
        parts.append(pd.Series(total * shares.to_numpy(), index=ts + offsets))
    return pd.concat(parts) if parts else pd.Series(dtype=float)


def forecast_aht(
    volume: pd.Series, handle_time_s: pd.Series, days: Iterable[date], *, weeks: int = 6
) -> pd.Series:
    """Interval AHT: volume-weighted mean handle time by weekday and time of day.

    ``handle_time_s`` holds each interval's total handle seconds (talk + hold +
    after-call work), aligned with ``volume``.
    """
    index = pd.DatetimeIndex(volume.index)
    last = index.normalize().max()
    recent = index > last - pd.Timedelta(weeks=weeks)
    key = [index.day_of_week[recent], (index - index.normalize())[recent]]
    total_s = handle_time_s[recent].groupby(key).sum()
    calls = volume[recent].groupby(key).sum()
    aht = (total_s / calls.replace(0, np.nan)).dropna()
    overall = float(handle_time_s[recent].sum() / max(float(volume[recent].sum()), 1.0))
    rows: dict[pd.Timestamp, float] = {}
    for day in days:
        ts = pd.Timestamp(day)
        for key_, value in aht.items():
            wd, tod = cast(tuple[int, pd.Timedelta], key_)
            if wd == ts.weekday():
                rows[ts + pd.Timedelta(tod)] = float(value)
    series = pd.Series(rows, dtype=float).sort_index()
    return series if not series.empty else pd.Series({pd.Timestamp(d): overall for d in days})


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Errors of one method over the held-back weeks (shares, 0.1 = 10 %)."""

    method: str
    mape_interval: float
    wape_interval: float
    mape_day: float
    wape_day: float
    days: int


def _mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    mask = actual > 0
    return float(np.mean(np.abs(actual[mask] - predicted[mask]) / actual[mask]))


def _wape(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.abs(actual - predicted).sum() / actual.sum())


def backtest(
    history: pd.Series,
    *,
    holdout_weeks: int = 4,
    methods: Iterable[Method] = METHODS,
    calendar: Calendar | None = None,
    weeks: int = 6,
) -> list[Accuracy]:
    """Rolling-origin test: each held-back week is forecast from the data before it.

    Only normal open days of the held-back weeks are scored (a closed holiday
    would score a perfect 0 and flatter the figures).
    """
    cal = calendar or Calendar()
    index = pd.DatetimeIndex(history.index)
    end = index.normalize().max() + pd.Timedelta(days=1)
    results: list[Accuracy] = []
    for method in methods:
        actual_i: list[np.ndarray] = []
        pred_i: list[np.ndarray] = []
        actual_d: list[float] = []
        pred_d: list[float] = []
        for w in range(holdout_weeks, 0, -1):
            start = end - pd.Timedelta(weeks=w)
            stop = start + pd.Timedelta(weeks=1)
            train = history[index < start]
            test = history[(index >= start) & (index < stop)]
            days = sorted(
                {
                    ts.date()
                    for ts in pd.DatetimeIndex(test.index).normalize()
                    if cal.is_normal(ts.date())
                }
            )
            if not days:
                continue
            fc = forecast_intervals(train, days, method=method, calendar=cal, weeks=weeks)
            test = test[[ts.date() in set(days) for ts in pd.DatetimeIndex(test.index)]]
            aligned = fc.reindex(test.index).fillna(0.0)
            actual_i.append(test.to_numpy(dtype=float))
            pred_i.append(aligned.to_numpy(dtype=float))
            act_days, fc_days = _days(test), _days(aligned)
            actual_d.extend(act_days.to_numpy(dtype=float))
            pred_d.extend(fc_days.reindex(act_days.index).to_numpy(dtype=float))
        ai, pi = np.concatenate(actual_i), np.concatenate(pred_i)
        ad, pd_ = np.array(actual_d), np.array(pred_d)
        results.append(
            Accuracy(method, _mape(ai, pi), _wape(ai, pi), _mape(ad, pd_), _wape(ad, pd_), len(ad))
        )
    return results
