"""The calibrated simulator replays real days of the Anonymous Bank (Technion SEELab).

Fit on January 1999, replay Sunday 7 - Thursday 11 February 1999 (out of sample) with
each day's arrival counts and observed staffing, and compare the week's KPIs with the
record. After-call work (absent from the log) is the 60 s that
benchmarks/wfm/calibrate_bank.py chose on January. Tolerances: the full-month replay in
benchmarks/wfm/RESULTS.md is within 0.3 points (abandonment), 0 s (ASA) and 3.3 points
(SL); one week is noisier, so the bounds here are a few times wider.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from tsunagi.sim.calibrate import anonymous_bank_calls, calibrate, day_scenario, recorded_kpis
from tsunagi.sim.engine import simulate

DATA = Path(__file__).resolve().parents[3].parent / "shared/data/anonymous_bank_callcenter"


def load(name: str) -> pd.DataFrame:
    return anonymous_bank_calls(pd.read_csv(DATA / name, sep="\t", dtype=str))


def test_replayed_week_matches_the_record() -> None:
    assert DATA.exists(), f"real data missing at {DATA}"
    cal = calibrate(load("anonymous_bank_january_1999.tsv")).with_after_call_work(60)
    february = load("anonymous_bank_february_1999.tsv")
    week = [date(1999, 2, d) for d in range(7, 12)]
    rec: dict[str, float] = {"offered": 0, "abandoned": 0, "within": 0, "wait": 0, "answered": 0}
    sim: dict[str, float] = dict.fromkeys(rec, 0.0)
    for day in week:
        rows = february[february["day"] == day]
        runs = [(rec, recorded_kpis(rows), 1.0)]
        runs += [(sim, simulate(day_scenario(rows, cal), seed).total, 0.5) for seed in (1, 2)]
        for target, k, weight in runs:
            target["offered"] += weight * k.offered
            target["abandoned"] += weight * k.abandoned
            target["within"] += weight * k.service_level * k.offered
            target["wait"] += weight * k.asa_s * k.answered
            target["answered"] += weight * k.answered
    assert abs(sim["offered"] - rec["offered"]) / rec["offered"] < 0.03  # Poisson redraw
    abandon = (rec["abandoned"] / rec["offered"], sim["abandoned"] / sim["offered"])
    asa = (rec["wait"] / rec["answered"], sim["wait"] / sim["answered"])
    sl = (rec["within"] / rec["offered"], sim["within"] / sim["offered"])
    assert abs(abandon[1] - abandon[0]) < 0.03, abandon
    assert abs(asa[1] - asa[0]) < 12, asa
    assert abs(sl[1] - sl[0]) < 0.08, sl
