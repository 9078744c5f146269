"""Calibration fits on synthetic call logs whose true parameters are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsunagi.sim.calibrate import (
    calibrate,
    day_scenario,
    fit_handle_time,
    fit_patience,
    observed_staffing,
    recorded_kpis,
)


def test_censored_patience_estimate_recovers_the_mean() -> None:
    rng = np.random.default_rng(11)
    patience = rng.exponential(200.0, 50_000)
    offered_wait = rng.exponential(150.0, 50_000)  # time until an agent would answer
    answered = offered_wait < patience
    wait = np.minimum(patience, offered_wait)
    fitted = fit_patience(wait, answered)
    assert fitted.mean_s == pytest.approx(200.0, rel=0.03)
    # The naive mean of abandoners' waits is badly biased (shows why censoring matters).
    assert wait[~answered].mean() < 120


def test_handle_time_fit_and_errors() -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(5.0, 0.6, 40_000)
    fitted = fit_handle_time(values)
    assert fitted.dist == "lognormal"
    assert fitted.mean_s == pytest.approx(np.exp(5.0 + 0.18), rel=0.02)
    assert fitted.cv == pytest.approx(np.sqrt(np.exp(0.36) - 1), rel=0.03)
    with pytest.raises(ValueError, match="too few"):
        fit_handle_time(np.array([3.0]))
    with pytest.raises(ValueError, match="no abandonment"):
        fit_patience(np.array([1.0, 2.0]), np.array([True, True]))


def log() -> pd.DataFrame:
    rows = [
        # queue, arrival, wait, answered, service, server
        ("retail", 7 * 3600 + 10, 5, True, 100, "ANN"),
        ("retail", 7 * 3600 + 20, 30, False, 0, ""),
        ("retail", 7 * 3600 + 1900, 0, True, 50, "BOB"),
        ("internet", 7 * 3600 + 100, 15, True, 2000, "ANN"),
        ("retail", 7 * 3600 + 3000, 0, True, 60, "ANN"),
    ] + [("internet", 8 * 3600, 1, True, 10, "ANN")] * 10
    return pd.DataFrame(
        rows, columns=["queue", "arrival_s", "wait_s", "answered", "service_s", "server"]
    )


def test_recorded_kpis_and_observed_staffing() -> None:
    calls = log()
    k = recorded_kpis(calls.iloc[:4], service_seconds=20)
    assert (k.offered, k.answered, k.abandoned) == (4, 3, 1)
    assert k.service_level == pytest.approx(3 / 4)
    assert k.asa_s == pytest.approx((5 + 0 + 15) / 3)
    edges = np.arange(7 * 3600, 9 * 3600 + 1, 1800)
    staffing = observed_staffing(calls, {"ANN": "x", "BOB": "y"}, edges)
    # ANN serves 07:01:55 -> 07:35:15 (two intervals) and at 08:00; BOB at 07:31:40.
    assert staffing["x"] == [1, 1, 1, 0]
    assert staffing["y"] == [0, 1, 0, 0]


def test_calibrate_groups_agents_by_the_queues_they_answer() -> None:
    cal = calibrate(log())
    assert cal.server_groups == {"ANN": "internet+retail", "BOB": "retail"}
    assert cal.group_skills["internet+retail"] == {"internet": 1, "retail": 1}
    sc = day_scenario(log(), cal.with_after_call_work(30), interval_minutes=30)
    sc.validate()
    assert sc.queues[0].after_call_work.mean_s == 30
    assert sum(sum(q.arrivals_per_interval) for q in sc.queues) == len(log())
