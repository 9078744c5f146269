"""Staffing: targets, exact shrinkage ceilings, vectorised vs scalar search, summaries."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.wfm.erlang import erlang_c_kpis
from tsunagi.wfm.staffing import (
    Model,
    Number,
    Target,
    exact,
    required_agents,
    staff_intervals,
    summarize,
    traffic,
    with_shrinkage,
    with_shrinkage_array,
)

SL_80_20 = Target(service_level=Fraction(4, 5), service_seconds=20)


def test_worked_example_with_occupancy_and_shrinkage() -> None:
    # Call Centre Helper's worked example (also pyworkforce's test case):
    # 100 calls / 30 min, AHT 180 s, 80/20, occupancy <= 85 %, shrinkage 30 % -> 14 and 20.
    a = traffic(100, 180, 1800)
    assert a == 10
    target = Target(Fraction(4, 5), 20, max_occupancy=exact(0.85))
    k = required_agents(a, 180, target)
    assert k.agents == 14
    assert with_shrinkage(k.agents, 0.3) == 20
    # With occupancy <= 70 % the cap binds: ceil(10 / 0.7) = 15 agents, 22 scheduled.
    capped = required_agents(a, 180, Target(Fraction(4, 5), 20, max_occupancy=exact(0.7)))
    assert capped.agents == 15
    assert with_shrinkage(15, "0.3") == 22


def test_shrinkage_ceiling_is_exact_where_floats_round_up() -> None:
    assert math.ceil(21 / 0.7) == 31  # the float trap the exact path avoids
    assert with_shrinkage(21, 0.3) == 30
    assert with_shrinkage(21, Fraction(3, 10)) == 30
    assert with_shrinkage(22, 0.3) == 32  # 31.43 -> 32
    got = with_shrinkage_array(np.array([0, 7, 21, 22, 70], dtype=np.int64), 0.3)
    assert got.tolist() == [0, 10, 30, 32, 100]


def test_occupancy_cap_is_exact_at_the_boundary() -> None:
    # 21 Erlangs at max occupancy 0.7 needs exactly 30 agents; floats say 31.
    assert math.ceil(21 / 0.7) == 31
    target = Target(service_level=None, max_occupancy=exact(0.7))
    assert required_agents(Fraction(21), 300, target).agents == 30
    assert required_agents(Fraction(21), 300, target).occupancy == pytest.approx(0.7)


def test_asa_target() -> None:
    target = Target(service_level=None, asa_s=15)
    k = required_agents(Fraction(10), 180, target)
    assert k.asa_s <= 15
    assert erlang_c_kpis(k.agents - 1, 10.0, 180, 20).asa_s > 15


def test_bad_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="shrinkage"):
        with_shrinkage(10, 1)
    with pytest.raises(ValueError, match="occupancy"):
        Target(max_occupancy=Fraction(0))
    with pytest.raises(ValueError, match="patience"):
        required_agents(Fraction(5), 300, SL_80_20, model="erlang-a")


def test_erlang_a_needs_fewer_agents_than_erlang_c() -> None:
    a = traffic(400, 300, 900)
    c = required_agents(a, 300, SL_80_20)
    ea = required_agents(a, 300, SL_80_20, model="erlang-a", patience_s=180)
    assert ea.agents <= c.agents
    assert ea.service_level >= 0.8
    assert 0 < ea.abandon_rate < 0.05


def test_zero_volume_intervals() -> None:
    table = staff_intervals(
        [0, 10, 0], aht_s=300, interval_minutes=15, target=SL_80_20, shrinkage=0.3
    )
    assert table.agents.tolist()[0] == 0
    assert table.agents.tolist()[2] == 0
    assert table.agents[1] > 0
    assert table.service_level[0] == 1.0
    a_table = staff_intervals(
        [0, 10],
        aht_s=300,
        interval_minutes=15,
        target=SL_80_20,
        model="erlang-a",
        patience_s=120,
    )
    assert a_table.agents.tolist()[0] == 0
    assert a_table.abandon_rate is not None


def test_vectorised_search_matches_scalar_search() -> None:
    rng = np.random.default_rng(7)
    volumes = [int(v) for v in rng.integers(0, 2_001, 300)]
    target = Target(Fraction(4, 5), 20, asa_s=30, max_occupancy=exact(0.85))
    table = staff_intervals(volumes, aht_s=300, interval_minutes=15, target=target)
    for v, n in zip(volumes, table.agents.tolist(), strict=True):
        assert required_agents(traffic(v, 300, 900), 300, target).agents == n


def test_large_traffic_staffing() -> None:
    # 100,000 Erlangs: staffing stays finite and barely above the load.
    table = staff_intervals(
        [300_000], aht_s=300, interval_minutes=15, target=Target(Fraction(9, 10), 20)
    )
    n = int(table.agents[0])
    assert 100_000 < n < 100_000 + 400
    assert table.service_level[0] >= 0.9


@settings(max_examples=40, deadline=None)
@given(v=st.integers(0, 5_000), extra=st.integers(1, 500))
def test_agents_monotone_in_volume(v: int, extra: int) -> None:
    t = staff_intervals([v, v + extra], aht_s=240, interval_minutes=30, target=SL_80_20)
    assert t.agents[0] <= t.agents[1]
    assert (t.service_level >= 0.8).all()
    assert (t.agents_with_shrinkage >= t.agents).all()


def test_summaries_by_day_reconcile_with_intervals() -> None:
    volumes = [0, 20, 40, 10] * 2
    labels = ["mon"] * 4 + ["tue"] * 4
    t = staff_intervals(volumes, aht_s=300, interval_minutes=30, target=SL_80_20, shrinkage=0.25)
    days = summarize(t, labels)
    assert [d.label for d in days] == ["mon", "tue"]
    assert days[0].volume == 70
    assert days[0].agent_hours == pytest.approx(t.agents[:4].sum() * 0.5)
    assert days[0].workload_hours == pytest.approx(70 * 300 / 3600)
    assert 0.8 <= days[0].service_level <= 1
    whole = summarize(t, ["week"] * 8)[0]
    assert whole.agent_hours == pytest.approx(days[0].agent_hours + days[1].agent_hours)


@settings(max_examples=40, deadline=None)
@given(
    volumes=st.lists(st.integers(0, 5000), min_size=1, max_size=30),
    aht=st.sampled_from([300, 287.3, "181.25", Fraction(1000, 3), 1]),
    occupancy=st.sampled_from([None, 0.85, Fraction(2, 3), 1]),
    minutes=st.sampled_from([15, 30, 60]),
    model=st.sampled_from(["erlang-c", "erlang-a"]),
)
def test_whole_number_volumes_take_the_integer_path_to_the_same_table(
    volumes: list[int], aht: Number, occupancy: Number | None, minutes: int, model: Model
) -> None:
    target = Target(
        Fraction(4, 5), 20, max_occupancy=None if occupancy is None else exact(occupancy)
    )
    kwargs = {"aht_s": aht, "interval_minutes": minutes, "target": target, "shrinkage": 0.3}
    patience = 180.0 if model == "erlang-a" else None
    fast = staff_intervals(volumes, model=model, patience_s=patience, **kwargs)
    exact_path = staff_intervals(
        [Fraction(v) for v in volumes], model=model, patience_s=patience, **kwargs
    )
    for name in ("volume", "traffic_erlangs", "agents", "agents_with_shrinkage"):
        assert np.array_equal(getattr(fast, name), getattr(exact_path, name)), name
    as_array = staff_intervals(np.array(volumes), model=model, patience_s=patience, **kwargs)
    assert np.array_equal(as_array.agents, fast.agents)
    with pytest.raises(ValueError, match="volumes must be >= 0"):
        staff_intervals([*volumes, -1], model=model, patience_s=patience, **kwargs)
