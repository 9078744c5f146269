"""Forecast accuracy on a real series: the US bank's 5-minute call counts (2003).

The data live outside the repo (../shared/data); see its README for the source.
The thresholds are the figures reached when this test was written (recorded in
benchmarks/wfm/RESULTS.md) plus a margin, so a regression in the method fails.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tsunagi.wfm.forecast import Calendar, backtest, to_intervals

DATA = Path(__file__).resolve().parents[3].parent / "shared/data/us_bank_calls_5min/bank_calls.csv"
US_HOLIDAYS = {date(2003, 5, 26), date(2003, 7, 4)}


def load() -> pd.Series:
    frame = pd.read_csv(DATA)
    index = pd.to_datetime(frame["DateTime"].str.rstrip("Z"))
    return pd.Series(frame["Calls"].to_numpy(dtype=float), index=index)


def test_last_four_weeks_accuracy_at_30_minutes() -> None:
    assert DATA.exists(), f"real data missing at {DATA}"
    series = to_intervals(load(), 30)
    calendar = Calendar(open_weekdays=frozenset(range(5)), is_holiday=US_HOLIDAYS.__contains__)
    results = {r.method: r for r in backtest(series, holdout_weeks=4, calendar=calendar)}
    assert results["profile"].days == 20
    for method in ("profile", "ets"):
        assert results[method].wape_day < 0.06
        assert results[method].wape_interval < 0.07
        assert results[method].mape_interval < 0.08
    # The intraday profile explains most of the interval error only once the day is right:
    assert results["profile"].wape_interval > results["profile"].wape_day


@pytest.mark.parametrize("minutes", [15, 30])
def test_interval_totals_reconcile_with_raw_counts(minutes: int) -> None:
    raw = load()
    assert to_intervals(raw, minutes).sum() == raw.sum()
