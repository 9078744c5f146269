"""Forecast accuracy on the US bank series (last 4 weeks held back, rolling origin).

Run: ``python benchmarks/wfm/bench_forecast.py`` from the repo root; the data are
read from ../shared/data/us_bank_calls_5min/.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pandas as pd

from tsunagi.wfm.forecast import Calendar, backtest, to_intervals

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/us_bank_calls_5min/bank_calls.csv"
# Memorial Day and Independence Day 2003 are absent from the series (bank closed).
CALENDAR = Calendar(
    open_weekdays=frozenset(range(5)),
    is_holiday={date(2003, 5, 26), date(2003, 7, 4)}.__contains__,
)


def main() -> None:
    frame = pd.read_csv(DATA)
    raw = pd.Series(
        frame["Calls"].to_numpy(dtype=float),
        index=pd.to_datetime(frame["DateTime"].str.rstrip("Z")),
    )
    print("| interval | method | MAPE interval | WAPE interval | MAPE day | WAPE day | days |")
    print("|---|---|---|---|---|---|---|")
    for minutes in (15, 30):
        t0 = time.perf_counter()
        for r in backtest(to_intervals(raw, minutes), holdout_weeks=4, calendar=CALENDAR):
            print(
                f"| {minutes} min | {r.method} | {r.mape_interval:.1%} | {r.wape_interval:.1%} |"
                f" {r.mape_day:.1%} | {r.wape_day:.1%} | {r.days} |"
            )
        print(f"<!-- {minutes} min backtest took {time.perf_counter() - t0:.1f} s -->")


if __name__ == "__main__":
    main()
