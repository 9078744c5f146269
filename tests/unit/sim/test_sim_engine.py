"""The simulator against queueing theory, and its bookkeeping and reproducibility."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.sim.engine import Kpis, draw_calls, simulate
from tsunagi.sim.scenario import AgentGroup, Distribution, QueueSpec, Scenario, load_scenario
from tsunagi.wfm.erlang import erlang_a_kpis, erlang_c_kpis

EXP_180 = Distribution("exponential", 180)
INTERVALS = 48  # half a day of quarter-hours per replication
WARM_UP = 4  # intervals dropped at the start (the center opens empty)


def stationary(calls: float, agents: int, patience: Distribution | None = None) -> Scenario:
    return Scenario(
        queues=[QueueSpec("q", [calls] * INTERVALS, EXP_180, patience=patience)],
        agent_groups=[AgentGroup("g", {"q": 1}, [agents] * INTERVALS)],
    )


def steady_kpis(scenario: Scenario, seed: int) -> Kpis:
    """KPIs of calls arriving after the warm-up (a ready-made replication)."""
    rows = simulate(scenario, seed).by_interval[0][WARM_UP:]
    offered = sum(r.offered for r in rows)
    answered = sum(r.answered for r in rows)
    within = sum(round(r.service_level * r.offered) for r in rows)
    waited = sum(round(r.p_wait * r.offered) for r in rows)
    wait_sum = sum(r.asa_s * r.answered for r in rows)
    abandoned = sum(r.abandoned for r in rows)
    return Kpis.of(offered, answered, abandoned, within, waited, wait_sum)


def z_score(samples: list[float], expected: float) -> float:
    """Replication means are independent, so their standard error is s / sqrt(k)."""
    se = statistics.stdev(samples) / math.sqrt(len(samples))
    return (statistics.fmean(samples) - expected) / se


REPLICATIONS = 30


def test_single_exponential_queue_matches_erlang_c() -> None:
    # 100 calls / 15 min at AHT 180 s = 20 Erlangs on 23 agents (rho = 0.87).
    # 30 independent replications (seeds 0..29) of 11 hours each after warm-up; the
    # replication means are ~normal, so |z| < 2 holds for a correct model with ~95 %
    # probability - and with fixed seeds the outcome is deterministic, not flaky.
    theory = erlang_c_kpis(23, 20.0, 180, 20)
    runs = [steady_kpis(stationary(100, 23), seed) for seed in range(REPLICATIONS)]
    assert abs(z_score([r.service_level for r in runs], theory.service_level)) < 2
    assert abs(z_score([r.p_wait for r in runs], theory.p_wait)) < 2
    assert abs(z_score([r.asa_s for r in runs], theory.asa_s)) < 2
    assert all(r.abandoned == 0 for r in runs)


def test_single_queue_with_patience_matches_erlang_a() -> None:
    theory = erlang_a_kpis(20, 100 / 900, 180, 120, 20)
    runs = [
        steady_kpis(stationary(100, 20, Distribution("exponential", 120)), seed)
        for seed in range(REPLICATIONS)
    ]
    assert abs(z_score([r.abandon_rate for r in runs], theory.abandon_rate)) < 2
    assert abs(z_score([r.service_level for r in runs], theory.service_level)) < 2
    assert abs(z_score([r.p_wait for r in runs], theory.p_wait)) < 2
    assert abs(z_score([r.asa_s for r in runs], theory.asa_s)) < 2


def test_wrong_theory_is_rejected_by_the_same_check() -> None:
    # The z-test has power: one agent more in the theory is detected.
    wrong = erlang_c_kpis(24, 20.0, 180, 20)
    runs = [steady_kpis(stationary(100, 23), seed) for seed in range(REPLICATIONS)]
    assert abs(z_score([r.service_level for r in runs], wrong.service_level)) > 2


def two_queue_scenario() -> Scenario:
    return Scenario(
        queues=[
            QueueSpec(
                "sales",
                [60, 80, 90, 70],
                Distribution("lognormal", 200, 0.7),
                after_call_work=Distribution("constant", 20),
                patience=Distribution("exponential", 90),
            ),
            QueueSpec(
                "support",
                [40, 50, 30, 20],
                Distribution("gamma", 300, 0.5),
                patience=Distribution("exponential", 200),
                priority=1,
            ),
        ],
        agent_groups=[
            AgentGroup("sales", {"sales": 2}, [10, 12, 14, 10]),
            AgentGroup("blended", {"sales": 1, "support": 2}, [10, 10, 8, 6]),
        ],
    )


def test_same_seed_same_result_and_other_seed_differs() -> None:
    sc = two_queue_scenario()
    assert simulate(sc, 42) == simulate(sc, 42)
    assert simulate(sc, 42).total != simulate(sc, 43).total


def test_counts_reconcile_across_queues_and_intervals() -> None:
    result = simulate(two_queue_scenario(), 5)
    assert result.total.offered == result.calls
    assert result.total.offered == sum(q.offered for q in result.by_queue)
    for q, kpis in enumerate(result.by_queue):
        assert kpis.offered == sum(k.offered for k in result.by_interval[q])
        assert kpis.answered + kpis.abandoned + kpis.unfinished == kpis.offered
        assert kpis.unfinished == 0  # every caller has finite patience
    assert 0 < result.total.occupancy <= 1.05  # leavers finish calls past their shift


def test_a_long_tail_is_simulated_to_the_end_exactly() -> None:
    """One agent, first come first served, nobody abandons: every wait follows from the
    drawn calls by Lindley's recursion. The day is one quarter-hour and answering its calls
    takes about seven hours more - far past the time the event calendar is laid out for
    (two days' lengths), where later events share its last bucket."""
    sc = Scenario(
        queues=[QueueSpec("q", [100], Distribution("exponential", 240))],
        agent_groups=[AgentGroup("g", {"q": 1}, [1])],
    )
    for seed in range(3):
        calls = draw_calls(sc, seed)
        free_at, waits = 0.0, []
        for arrived, hold in zip(calls.times, calls.holds, strict=True):
            start = max(arrived, free_at)
            waits.append(start - arrived)
            free_at = start + hold
        assert free_at > 20 * 900  # the tail: many times the day's length
        result = simulate(sc, seed)
        assert result.total.answered == result.total.offered == len(waits)
        assert result.total.asa_s == pytest.approx(statistics.fmean(waits), rel=1e-12)
        assert result.total.p_wait == sum(w > 0 for w in waits) / len(waits)


def test_no_agents_means_everyone_abandons_or_waits() -> None:
    sc = Scenario(
        queues=[
            QueueSpec("a", [10, 10], EXP_180, patience=Distribution("constant", 30)),
            QueueSpec("b", [5, 5], EXP_180),
        ],
        agent_groups=[AgentGroup("g", {"a": 1}, [0, 0])],
    )
    result = simulate(sc, 1)
    assert result.by_queue[0].abandoned == result.by_queue[0].offered
    assert result.by_queue[1].unfinished == result.by_queue[1].offered
    assert result.by_queue[1].answered == 0


def test_skills_restrict_who_answers() -> None:
    sc = Scenario(
        queues=[QueueSpec("a", [50], EXP_180), QueueSpec("b", [50], EXP_180)],
        agent_groups=[AgentGroup("only-a", {"a": 1}, [30])],
    )
    result = simulate(sc, 2)
    assert result.by_queue[0].answered == result.by_queue[0].offered
    assert result.by_queue[1].answered == 0


def test_priority_queue_waits_less() -> None:
    spec = {"handle": Distribution("exponential", 240)}
    sc = Scenario(
        queues=[
            QueueSpec("low", [110] * 16, spec["handle"]),
            QueueSpec("high", [110] * 16, spec["handle"], priority=3),
        ],
        agent_groups=[AgentGroup("all", {"low": 1, "high": 1}, [61] * 16)],
        priority_step_s=600,
    )
    result = simulate(sc, 3)
    assert result.by_queue[1].asa_s < result.by_queue[0].asa_s / 3


def test_scenario_json_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        load_scenario("{")
    with pytest.raises(ValueError, match="queues"):
        load_scenario('{"agent_groups": []}')
    bad = (
        '{"queues": [{"name": "a", "arrivals_per_interval": [1, 2],'
        ' "handle_time": {"dist": "exponential", "mean_s": 60}}],'
        ' "agent_groups": [{"name": "g", "skills": {"zz": 1}, "staffing": [1, 1]}]}'
    )
    with pytest.raises(ValueError, match="unknown queue"):
        load_scenario(bad)
    with pytest.raises(ValueError, match="expected 2 intervals"):
        load_scenario(bad.replace('"staffing": [1, 1]', '"staffing": [1]'))


@settings(max_examples=25, deadline=None)
@given(
    rates=st.lists(st.floats(0, 40), min_size=1, max_size=4),
    staff_a=st.lists(st.integers(0, 6), min_size=4, max_size=4),
    staff_b=st.lists(st.integers(0, 6), min_size=4, max_size=4),
    patience=st.one_of(st.none(), st.floats(1, 600)),
    ring_s=st.one_of(st.none(), st.floats(0, 60)),
    chats=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_call_is_accounted_for_once(
    rates: list[float],
    staff_a: list[int],
    staff_b: list[int],
    patience: float | None,
    ring_s: float | None,
    chats: int,
    seed: int,
) -> None:
    # Queue y is a chat queue: group b holds up to ``chats`` chats and one call at once.
    n = len(rates)
    pat = Distribution("exponential", patience) if patience is not None else None
    ring = Distribution("exponential", ring_s) if ring_s else None
    sc = Scenario(
        queues=[
            QueueSpec(
                "x", rates, Distribution("lognormal", 120, 1.5), patience=pat, ring_time=ring
            ),
            QueueSpec(
                "y",
                rates[::-1],
                Distribution("constant", 60),
                patience=pat,
                priority=1,
                channel="chat",
                ring_time=ring,
            ),
        ],
        agent_groups=[
            AgentGroup("a", {"x": 1}, staff_a[:n]),
            AgentGroup("b", {"x": 1, "y": 2}, staff_b[:n], {"chat": chats}),
        ],
    )
    result = simulate(sc, seed)
    assert result.total.offered == result.calls
    for kpis in [*result.by_queue, result.total]:
        assert kpis.answered + kpis.abandoned + kpis.unfinished == kpis.offered
        assert 0 <= kpis.service_level <= 1
        assert kpis.asa_s >= 0
    if patience is not None:
        assert result.total.unfinished == 0
    assert simulate(sc, seed) == result
