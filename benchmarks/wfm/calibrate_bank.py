"""Calibrate the simulator on the Anonymous Bank log and replay recorded days.

Run: ``python benchmarks/wfm/calibrate_bank.py`` from the repo root (reads
../shared/data/anonymous_bank_callcenter/; Technion SEELab, Mandelbaum & Guedj).

Distributions are fitted on January 1999; each weekday (Sunday-Thursday) of
February 1999 is then replayed: the simulator gets that day's arrival counts
per half hour and the staffing seen in the log, and its KPIs are set beside
the recorded ones.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from tsunagi.sim.calibrate import (
    Calibration,
    anonymous_bank_calls,
    calibrate,
    day_scenario,
    recorded_kpis,
)
from tsunagi.sim.engine import Kpis, simulate

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/anonymous_bank_callcenter"


def load(name: str) -> pd.DataFrame:
    return anonymous_bank_calls(pd.read_csv(DATA / name, sep="\t", dtype=str))


def replay(
    month: pd.DataFrame, cal: Calibration, interval_minutes: int, seeds: int
) -> list[tuple[object, Kpis, Kpis]]:
    """(day, recorded, simulated mean) for every full weekday (Sunday-Thursday)."""
    out = []
    for day, rows in month.groupby("day"):
        if pd.Timestamp(day).day_of_week in (4, 5):  # Friday half day, Saturday closed
            continue
        rec = recorded_kpis(rows)
        sc = day_scenario(rows, cal, interval_minutes=interval_minutes)
        sims = [simulate(sc, seed).total for seed in range(seeds)]
        mean = Kpis.of(
            offered=round(statistics.fmean(s.offered for s in sims)),
            answered=round(statistics.fmean(s.answered for s in sims)),
            abandoned=round(statistics.fmean(s.abandoned for s in sims)),
            within=round(statistics.fmean(s.service_level * s.offered for s in sims)),
            waited=round(statistics.fmean(s.p_wait * s.offered for s in sims)),
            wait_sum=statistics.fmean(s.asa_s * s.answered for s in sims),
        )
        out.append((day, rec, mean))
    return out


def mean_abs(rows: list[tuple[object, Kpis, Kpis]], field: str) -> float:
    return statistics.fmean(abs(getattr(s, field) - getattr(r, field)) for _d, r, s in rows)


def main() -> None:
    january = load("anonymous_bank_january_1999.tsv")
    february = load("anonymous_bank_february_1999.tsv")
    cal = calibrate(january)
    print("Fitted on January 1999:")
    for q in sorted(cal.handle_time):
        h, p = cal.handle_time[q], cal.patience.get(q)
        print(
            f"- {q}: handle time lognormal mean {h.mean_s:.0f} s cv {h.cv:.2f};"
            f" patience exponential mean {p.mean_s if p else float('inf'):.0f} s"
        )
    sizes = {g: sum(1 for v in cal.server_groups.values() if v == g) for g in cal.group_skills}
    print(f"- agent groups (agents): {sizes}")
    print()
    print(
        "| interval | ACW s | Jan abandon MAE (points) | Jan ASA MAE (s) | Jan SL20 MAE (points) |"
    )
    print("|---|---|---|---|---|")
    best: tuple[float, int, float] | None = None
    for minutes in (10, 30):
        for acw in (0.0, 20.0, 40.0, 60.0, 90.0):
            rows = replay(january, cal.with_after_call_work(acw), minutes, seeds=2)
            err = mean_abs(rows, "abandon_rate")
            print(
                f"| {minutes} min | {acw:.0f} | {err * 100:.1f} | {mean_abs(rows, 'asa_s'):.1f} |"
                f" {mean_abs(rows, 'service_level') * 100:.1f} |",
                flush=True,
            )
            if best is None or err < best[0]:
                best = (err, minutes, acw)
    assert best is not None
    _err, minutes, acw = best
    print(f"\nChosen on January: {minutes}-minute intervals, after-call work {acw:.0f} s.")
    print("\nFebruary 1999 replayed (5 seeds per day, mean):\n")
    print(
        "| day | offered rec/sim | abandon rec | abandon sim | ASA rec s | ASA sim s |"
        " SL20 rec | SL20 sim |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = replay(february, cal.with_after_call_work(acw), minutes, seeds=5)
    for day, rec, sim in rows:
        print(
            f"| {day} | {rec.offered}/{sim.offered} | {rec.abandon_rate:.1%} |"
            f" {sim.abandon_rate:.1%} | {rec.asa_s:.0f} | {sim.asa_s:.0f} |"
            f" {rec.service_level:.1%} | {sim.service_level:.1%} |"
        )
    print()
    for field, label, scale in (
        ("abandon_rate", "abandon rate (points)", 100),
        ("asa_s", "ASA (s)", 1),
        ("service_level", "SL 20 s (points)", 100),
    ):
        bias = statistics.fmean(getattr(s, field) - getattr(r, field) for _d, r, s in rows)
        print(
            f"- {label}: mean error {bias * scale:+.1f}, mean absolute error"
            f" {mean_abs(rows, field) * scale:.1f} over {len(rows)} days"
        )
    rec_all = [r for _d, r, _s in rows]
    sim_all = [s for _d, _r, s in rows]
    for name, group in (("recorded", rec_all), ("simulated", sim_all)):
        off = sum(k.offered for k in group)
        answered = sum(k.answered for k in group)
        print(
            f"- month {name}: abandon {sum(k.abandoned for k in group) / off:.1%},"
            f" SL20 {sum(k.service_level * k.offered for k in group) / off:.1%},"
            f" ASA {sum(k.asa_s * k.answered for k in group) / answered:.0f} s"
        )


if __name__ == "__main__":
    main()
