"""Staffing speed and agreement: Tsunagi vs pyworkforce's ErlangC, side by side.

Run: ``python benchmarks/wfm/bench_staffing.py`` (needs ``pyworkforce`` installed).
Scenario of issue 5: a week of 672 quarter-hours, volumes up to 2,000 calls per
interval, AHT 300 s, 80/20, occupancy <= 0.85, shrinkage 0.3; then a year of
35,040 quarter-hours, and one interval of 100,000 Erlangs. Then Erlang A (patience
180 s) on the same week and year: the vectorised search against the scalar one it
replaced (``required_agents`` per interval), side by side, with the agent counts compared.
``--no-scalar-year`` skips the scalar Erlang A year (about a minute and a half).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np
from pyworkforce.queuing import ErlangC

from tsunagi.wfm.staffing import Target, exact, required_agents, staff_intervals, traffic

TARGET = Target(Fraction(4, 5), 20, max_occupancy=exact(0.85))
SL_ONLY = Target(Fraction(4, 5), 20)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ours(volumes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    t = staff_intervals(volumes, aht_s=300, interval_minutes=15, target=TARGET, shrinkage=0.3)
    return t.agents, t.agents_with_shrinkage


def reference(volumes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    raw, shrunk = [], []
    for v in volumes:
        if v == 0:
            raw.append(0)
            shrunk.append(0)
            continue
        r = ErlangC(transactions=v, aht=5, asa=20 / 60, interval=15, shrinkage=0.3)
        res = r.required_positions(service_level=0.8, max_occupancy=0.85)
        raw.append(res["raw_positions"])
        shrunk.append(res["positions"])
    return np.array(raw), np.array(shrunk)


def erlang_a(volumes: list[int], target: Target) -> np.ndarray:
    t = staff_intervals(
        volumes,
        aht_s=300,
        interval_minutes=15,
        target=target,
        shrinkage=0.3,
        model="erlang-a",
        patience_s=180,
    )
    return t.agents


def erlang_a_scalar(volumes: list[int], target: Target) -> np.ndarray:
    return np.array(
        [
            required_agents(traffic(v, 300, 900), 300, target, "erlang-a", 180).agents
            for v in volumes
        ]
    )


def bench_erlang_a(week: list[int], year: list[int], scalar_year: bool) -> None:
    for label, target in (("80/20, occ<=0.85", TARGET), ("80/20, no cap", SL_ONLY)):
        t_vec = best_of(lambda t=target: erlang_a(week, t), 5)  # type: ignore[misc]
        t0 = time.perf_counter()
        old = erlang_a_scalar(week, target)
        t_sca = time.perf_counter() - t0
        same = int((erlang_a(week, target) == old).sum())
        print(
            f"Erlang A {label}, week 672 intervals: vectorised {t_vec * 1e3:.1f} ms,"
            f" scalar {t_sca:.2f} s, ratio {t_sca / t_vec:.0f}x; agents identical in {same}/672"
        )
        t_year = statistics.median(
            [best_of(lambda t=target: erlang_a(year, t), 1) for _ in range(3)]  # type: ignore[misc]
        )
        line = f"Erlang A {label}, year 35,040 intervals: vectorised {t_year:.3f} s (median of 3)"
        if scalar_year:
            t0 = time.perf_counter()
            old = erlang_a_scalar(year, target)
            t_old = time.perf_counter() - t0
            same = int((erlang_a(year, target) == old).sum())
            line += (
                f", scalar {t_old:.1f} s, ratio {t_old / t_year:.0f}x;"
                f" agents identical in {same}/35040"
            )
        print(line)


def main() -> None:
    rng = np.random.default_rng(2026)
    week = [int(v) for v in rng.integers(0, 2_001, 672)]
    t_ours = best_of(lambda: ours(week), 5)
    t_ref = best_of(lambda: reference(week), 3)
    a_ours, s_ours = ours(week)
    a_ref, s_ref = reference(week)
    raw_same = int((a_ours == a_ref).sum())
    diff = np.flatnonzero(s_ours != s_ref)
    exact_ok = all(s_ours[i] == math.ceil(Fraction(int(a_ours[i])) / Fraction(7, 10)) for i in diff)
    print(
        f"week 672 intervals: tsunagi {t_ours * 1e3:.1f} ms, pyworkforce {t_ref * 1e3:.1f} ms,"
        f" ratio {t_ref / t_ours:.1f}x"
    )
    print(
        f"  agents identical in {raw_same}/672 intervals;"
        f" after shrinkage {672 - len(diff)}/672 (pyworkforce one higher in {len(diff)},"
        f" float ceil; ours exact: {exact_ok})"
    )
    if len(diff):
        i = int(diff[0])
        print(f"  e.g. {a_ours[i]} agents / 0.7: exact {s_ours[i]}, pyworkforce {s_ref[i]}")
    year = [int(v) for v in rng.integers(0, 2_001, 35_040)]
    t_year = [best_of(lambda: ours(year), 1) for _ in range(3)]
    c0 = time.process_time()
    ours(year)
    cpu = time.process_time() - c0
    print(
        f"year 35,040 intervals: tsunagi {statistics.median(t_year):.3f} s wall (median of 3),"
        f" {cpu:.3f} s CPU"
    )
    # A forecast is fractional: those volumes take the exact-rational path for the bounds.
    forecast = [v + 0.37 for v in year]
    t_fc = statistics.median([best_of(lambda: ours(forecast), 1) for _ in range(3)])  # type: ignore[arg-type]
    c0 = time.process_time()
    ours(forecast)  # type: ignore[arg-type]
    cpu_fc = time.process_time() - c0
    print(
        f"year 35,040 intervals, fractional (forecast) volumes: tsunagi {t_fc:.3f} s wall"
        f" (median of 3), {cpu_fc:.3f} s CPU"
    )
    big = traffic(300_000, 300, 900)
    for label, target in (
        ("80/20, occ<=0.85", TARGET),
        ("90/10, no cap", Target(Fraction(9, 10), 10)),
    ):
        t_big = best_of(lambda t=target: required_agents(big, 300, t), 3)  # type: ignore[misc]
        k = required_agents(big, 300, target)
        print(
            f"100,000 Erlangs ({label}): {k.agents} agents, SL {k.service_level:.4f},"
            f" in {t_big * 1e3:.2f} ms"
        )
    bench_erlang_a(week, year, "--no-scalar-year" not in sys.argv)


if __name__ == "__main__":
    main()
