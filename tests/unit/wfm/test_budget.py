"""Annual budget: month lines reconcile with the staffing, seasons, scenarios."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

import pytest

from tsunagi.wfm.budget import CostRates, Role, Scenario, annual_budget, compare, scenario_variants
from tsunagi.wfm.staffing import Target, staff_intervals

RATES = CostRates(
    agent_hourly_rate=1500,
    roles=(Role("supervisor", 2200, per_agents=12),),
    telephony_per_minute=3,
    licence_per_seat_month=10_000,
    rent_per_month=1_500_000,
    depreciation_per_month=800_000,
)
BASE = Scenario("base", Target(Fraction(4, 5), 20), aht_s=300, shrinkage="0.3")


def year(busy_month: int = 3) -> tuple[list[datetime], list[int]]:
    starts, volumes = [], []
    t = datetime(2027, 1, 1)
    while t.year == 2027:
        if 9 <= t.hour < 18 and t.weekday() < 5:
            starts.append(t)
            volumes.append(150 if t.month == busy_month else 100)
        t += timedelta(minutes=30)
    return starts, volumes


def test_month_lines_reconcile_with_staffing() -> None:
    starts, volumes = year()
    budget = annual_budget(starts, volumes, interval_minutes=30, scenario=BASE, rates=RATES)
    assert [m.month for m in budget.months] == [f"2027-{k:02d}" for k in range(1, 13)]
    table = staff_intervals(
        volumes, aht_s=300, interval_minutes=30, target=BASE.target, shrinkage="0.3"
    )
    assert budget.total("agent_hours") == pytest.approx(table.agents_with_shrinkage.sum() * 0.5)
    jan = budget.months[0]
    assert jan.agent_heads == pytest.approx(jan.agent_hours / 160)
    assert jan.role_heads["supervisor"] == pytest.approx(jan.agent_heads / 12)
    assert jan.labour["agents"] == pytest.approx(jan.agent_hours * 1500)
    assert jan.fixed == 2_300_000
    assert jan.total == pytest.approx(jan.variable + jan.fixed)
    # Telephony covers at least the talk minutes (queue minutes come on top).
    assert jan.telephony >= jan.calls * 5 * 3
    assert 0.6 < budget.labour_share < 0.9  # seed 003: labour is 60-80 % of the budget


def test_busy_season_is_flagged_and_costs_more() -> None:
    starts, volumes = year(busy_month=3)
    budget = annual_budget(starts, volumes, interval_minutes=30, scenario=BASE, rates=RATES)
    busy = [m.month for m in budget.months if m.busy]
    assert busy == ["2027-03"]
    march, april = budget.months[2], budget.months[3]
    assert march.variable / march.calls < april.variable / april.calls  # economies of scale
    assert march.total > april.total


def test_scenarios_side_by_side() -> None:
    starts, volumes = year()
    budgets = [
        annual_budget(starts, volumes, interval_minutes=30, scenario=s, rates=RATES)
        for s in scenario_variants(BASE)
    ]
    rows = {r["scenario"]: r for r in compare(budgets)}
    assert set(rows) == {"SL 80/20", "SL 90/20", "SL 80/20, AHT -10 %"}
    assert rows["SL 90/20"]["total"] > rows["SL 80/20"]["total"]
    assert rows["SL 80/20, AHT -10 %"]["total"] < rows["SL 80/20"]["total"]
    assert rows["SL 80/20"]["fixed"] == rows["SL 90/20"]["fixed"] == 12 * 2_300_000


def test_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="one volume per interval"):
        annual_budget([datetime(2027, 1, 1)], [], interval_minutes=30, scenario=BASE, rates=RATES)


def test_scheduled_coverage_replaces_the_requirement() -> None:
    starts, volumes = year()
    required = annual_budget(starts, volumes, interval_minutes=30, scenario=BASE, rates=RATES)
    table = staff_intervals(
        volumes, aht_s=300, interval_minutes=30, target=BASE.target, shrinkage="0.3"
    )
    planned = [int(n) + 1 for n in table.agents_with_shrinkage]  # one agent over everywhere
    costed = annual_budget(
        starts, volumes, interval_minutes=30, scenario=BASE, rates=RATES, scheduled=planned
    )
    extra_hours = len(starts) * 0.5
    assert costed.total("agent_hours") == pytest.approx(required.total("agent_hours") + extra_hours)
    assert costed.total() > required.total()
    with pytest.raises(ValueError, match="scheduled count"):
        annual_budget(
            starts, volumes, interval_minutes=30, scenario=BASE, rates=RATES, scheduled=[1]
        )
