"""Forecasting on synthetic series whose answer is known."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tsunagi.wfm.forecast import (
    Calendar,
    backtest,
    forecast_aht,
    forecast_daily,
    forecast_intervals,
    japanese_holiday,
    to_intervals,
    with_busy_season,
)

NO_HOLIDAYS = Calendar(is_holiday=lambda _d: False)
SHAPE = np.array([1, 2, 4, 4, 3, 2, 1, 1], dtype=float)  # 8 half-hours from 09:00
WEEKDAY_LEVEL = [1000, 900, 850, 850, 950, 400, 300]


def synthetic(start: str, days: int, noise: float = 0.0, trend: float = 0.0) -> pd.Series:
    rng = np.random.default_rng(3)
    values: dict[pd.Timestamp, float] = {}
    for k, day in enumerate(pd.date_range(start, periods=days, freq="D")):
        total = WEEKDAY_LEVEL[day.weekday()] * (1 + trend * k)
        for slot, share in enumerate(SHAPE / SHAPE.sum()):
            ts = day + pd.Timedelta(hours=9, minutes=30 * slot)
            values[ts] = total * share * (1 + noise * rng.standard_normal())
    return pd.Series(values)


def test_profile_method_recovers_a_noiseless_pattern() -> None:
    history = synthetic("2025-01-06", 8 * 7)
    days = [date(2025, 3, 3), date(2025, 3, 8)]  # a Monday and a Saturday
    fc = forecast_intervals(history, days, calendar=NO_HOLIDAYS)
    monday = fc[fc.index.normalize() == pd.Timestamp("2025-03-03")]
    assert monday.sum() == pytest.approx(1000)
    assert monday.to_numpy() == pytest.approx(1000 * SHAPE / SHAPE.sum())
    assert fc[fc.index.normalize() == pd.Timestamp("2025-03-08")].sum() == pytest.approx(400)


def test_ets_follows_a_trend_that_the_profile_average_lags() -> None:
    history = synthetic("2025-01-06", 10 * 7, trend=0.004)
    day = date(2025, 3, 17)  # Monday, 70 days after the start
    truth = 1000 * (1 + 0.004 * 70)
    ets = forecast_daily(history, [day], method="ets", calendar=NO_HOLIDAYS).iloc[0]
    profile = forecast_daily(history, [day], method="profile", calendar=NO_HOLIDAYS).iloc[0]
    assert abs(ets - truth) < abs(profile - truth)
    assert ets == pytest.approx(truth, rel=0.03)


def test_japanese_holidays_close_the_day_and_stay_out_of_the_fit() -> None:
    assert japanese_holiday(date(2026, 1, 12))  # 成人の日
    assert not japanese_holiday(date(2026, 1, 13))
    history = synthetic("2025-12-01", 6 * 7)
    # 2026-01-12 (holiday, Monday) had a tiny volume in history; it must not drag Mondays down.
    history[history.index.normalize() == pd.Timestamp("2026-01-12")] *= 0.05
    fc = forecast_daily(history, [date(2026, 1, 12), date(2026, 1, 19)])
    assert fc.iloc[0] == 0.0
    # Monday 19 Jan is forecast from the normal Mondays only.
    assert fc.iloc[1] == pytest.approx(1000)


def test_special_days_and_busy_seasons_scale_the_forecast() -> None:
    history = synthetic("2025-01-06", 6 * 7)
    cal = Calendar(is_holiday=lambda _d: False, special_days={date(2025, 2, 18): 1.5})
    cal = with_busy_season(cal, date(2025, 2, 24), date(2025, 2, 25), 1.2)
    fc = forecast_daily(
        history, [date(2025, 2, 18), date(2025, 2, 24), date(2025, 2, 26)], calendar=cal
    )
    assert fc.tolist() == pytest.approx([900 * 1.5, 1000 * 1.2, 850])


def test_closed_weekdays() -> None:
    history = synthetic("2025-01-06", 6 * 7)
    weekdays_only = Calendar(open_weekdays=frozenset(range(5)), is_holiday=lambda _d: False)
    fc = forecast_daily(history, [date(2025, 2, 22), date(2025, 2, 24)], calendar=weekdays_only)
    assert fc.tolist() == pytest.approx([0.0, 1000])


def test_unknown_method_and_empty_history_are_refused() -> None:
    history = synthetic("2025-01-06", 14)
    with pytest.raises(ValueError, match="unknown forecasting method"):
        forecast_daily(history, [date(2025, 2, 1)], method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no normal open day"):
        forecast_daily(history.iloc[:0], [date(2025, 2, 1)])


def test_backtest_scores_noise_at_its_level() -> None:
    history = synthetic("2025-01-06", 12 * 7, noise=0.05)
    results = {r.method: r for r in backtest(history, holdout_weeks=3, calendar=NO_HOLIDAYS)}
    assert set(results) == {"profile", "ets"}
    # 5 % multiplicative noise per interval: MAPE near 0.04 (mean |N(0, .05)| = 0.04).
    assert 0.02 < results["profile"].mape_interval < 0.07
    assert results["profile"].wape_day < 0.03
    assert results["profile"].days == 21


def test_to_intervals_sums_finer_buckets() -> None:
    idx = pd.date_range("2025-01-06 09:00", periods=6, freq="5min")
    s = to_intervals(pd.Series([1, 2, 3, 4, 5, 6], index=idx), 15)
    assert s.tolist() == [6.0, 15.0]


def test_aht_forecast_is_volume_weighted() -> None:
    idx = pd.DatetimeIndex(["2025-01-06 09:00", "2025-01-13 09:00"])
    volume = pd.Series([10.0, 30.0], index=idx)
    handle = pd.Series([10 * 200.0, 30 * 300.0], index=idx)
    fc = forecast_aht(volume, handle, [date(2025, 1, 20)])
    assert fc.iloc[0] == pytest.approx((2000 + 9000) / 40)
