"""Vectorised Erlang A against the scalar formulas (which the birth-death chain and the
simulator check in test_erlang.py), and vectorised Erlang A staffing against the scalar
search, interval by interval."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.wfm.erlang import erlang_a_array, erlang_a_kpis
from tsunagi.wfm.staffing import Target, exact, required_agents, staff_intervals, traffic

FIELDS = ("p_wait", "service_level", "abandon_rate", "occupancy", "asa_s")


def _close(vector: float, scalar: float, rel: float, tiny: float) -> bool:
    if math.isinf(scalar) or math.isinf(vector):
        return vector == scalar
    return abs(vector - scalar) <= rel * abs(scalar) + tiny


@pytest.mark.parametrize("aht_s", [30.0, 300.0, 3000.0])
@pytest.mark.parametrize("patience_s", [5.0, 60.0, 600.0, 3600.0])
def test_vector_matches_scalar_across_loads(aht_s: float, patience_s: float) -> None:
    # From a hundredth of an Erlang to 20,000 Erlangs, a third to three times the load in
    # agents: the far tails take the scalar fall-backs (cdf and incomplete gamma underflow).
    loads = [0.01, 0.5, 3.0, 50.0, 1000.0, 20_000.0]
    ratios = [0.3, 0.8, 0.95, 1.0, 1.05, 1.3, 3.0]
    n = np.array([max(1, int(a * r)) for a in loads for r in ratios], dtype=np.int64)
    rate = np.array([a / aht_s for a in loads for _ in ratios])
    found = erlang_a_array(n, rate, aht_s, patience_s, 20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quad's round-off notes on the scalar side
        expected = [
            erlang_a_kpis(int(k), float(r), aht_s, patience_s, 20.0)
            for k, r in zip(n, rate, strict=True)
        ]
    for i, k in enumerate(expected):
        for name in FIELDS:
            # Probabilities to 1e-7 relative or 1e-8 absolute (abandonment is a difference of
            # two probabilities near 1 at high load), ASA to 1e-6 relative or 1 microsecond.
            rel, tiny = (1e-6, 1e-6) if name == "asa_s" else (1e-7, 1e-8)
            got, want = float(getattr(found, name)[i]), getattr(k, name)
            assert _close(got, want, rel, tiny), (name, int(n[i]), float(rate[i]), got, want)


def test_without_asa_the_rest_is_the_same() -> None:
    n = np.array([10, 20], dtype=np.int64)
    rate = np.array([0.03, 0.06])
    full = erlang_a_array(n, rate, 300, 180, 20)
    quick = erlang_a_array(n, rate, 300, 180, 20, with_asa=False)
    assert np.isnan(quick.asa_s).all()
    assert np.array_equal(full.service_level, quick.service_level)


TARGETS = [
    Target(Fraction(4, 5), 20, max_occupancy=exact(0.85)),
    Target(Fraction(9, 10), 10),
    Target(None, asa_s=15.0),
    Target(Fraction(4, 5), 20, max_abandon=0.02),
    Target(None, max_abandon=0.05),
    Target(Fraction(1, 2), 60),
]


@pytest.mark.parametrize("target", TARGETS)
def test_vector_staffing_equals_the_scalar_search(target: Target) -> None:
    rng = np.random.default_rng(2026)
    volumes = [0, 1, 2, *(int(v) for v in rng.integers(0, 2_001, 120))]
    table = staff_intervals(
        volumes,
        aht_s=300,
        interval_minutes=15,
        target=target,
        model="erlang-a",
        patience_s=180,
    )
    scalar = [required_agents(traffic(v, 300, 900), 300, target, "erlang-a", 180) for v in volumes]
    assert table.agents.tolist() == [k.agents for k in scalar]
    assert table.agents[0] == 0 and table.service_level[0] == 1.0  # no calls, no agents
    assert table.abandon_rate is not None
    for i, k in enumerate(scalar):
        assert table.service_level[i] == pytest.approx(k.service_level, rel=1e-9, abs=1e-12)
        assert table.abandon_rate[i] == pytest.approx(k.abandon_rate, rel=1e-7, abs=1e-12)
        assert table.asa_s[i] == pytest.approx(k.asa_s, rel=1e-6, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    volume=st.integers(1, 5_000),
    aht_s=st.integers(20, 1_200),
    patience_s=st.integers(5, 1_800),
    level=st.integers(1, 99),
    seconds=st.integers(0, 120),
)
def test_vector_and_scalar_agree_on_any_interval(
    volume: int, aht_s: int, patience_s: int, level: int, seconds: int
) -> None:
    target = Target(Fraction(level, 100), seconds)
    table = staff_intervals(
        [volume],
        aht_s=aht_s,
        interval_minutes=30,
        target=target,
        model="erlang-a",
        patience_s=patience_s,
    )
    k = required_agents(traffic(volume, aht_s, 1800), aht_s, target, "erlang-a", patience_s)
    assert int(table.agents[0]) == k.agents


def test_erlang_a_staffing_needs_a_patience_and_a_target() -> None:
    with pytest.raises(ValueError, match="patience"):
        staff_intervals([5], aht_s=300, interval_minutes=15, target=Target(), model="erlang-a")
    with pytest.raises(ValueError, match="at least one target"):
        staff_intervals(
            [5],
            aht_s=300,
            interval_minutes=15,
            target=Target(None),
            model="erlang-a",
            patience_s=60,
        )
