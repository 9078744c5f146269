"""Annual budget by month from a volume forecast and the staffing it needs.

The budget follows the usual split of a center's running costs:

* **Variable costs** move with demand: labour (agents from the staffing
  result; supervisors and other roles as a ratio to agents; each at its own
  hourly rate), telephony per minute (talk plus time in queue), and licences
  per seat (one per agent head and per role head).
* **Fixed costs** do not: rent and the depreciation of systems, per month.

For each month: calls, workload, scheduled agent hours (staffed hours grossed
up by shrinkage), heads as full-time equivalents (scheduled hours over paid
hours per head per month), the cost lines, their total and the labour share.
A month is *busy* when its calls exceed the mean month by ``busy_threshold``.

Scenarios (service target, AHT change, shrinkage ...) are run on the same
volumes and set side by side by :func:`compare`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from fractions import Fraction

import numpy as np

from tsunagi.wfm.staffing import Model, Number, Target, exact, staff_intervals


@dataclass(frozen=True, slots=True)
class Role:
    """A non-agent role paid by the hour, sized as ``per_agents`` agents per head."""

    name: str
    hourly_rate: float
    per_agents: float


@dataclass(frozen=True, slots=True)
class CostRates:
    agent_hourly_rate: float
    roles: tuple[Role, ...] = ()
    telephony_per_minute: float = 0.0
    licence_per_seat_month: float = 0.0
    rent_per_month: float = 0.0
    depreciation_per_month: float = 0.0
    paid_hours_per_head_month: float = 160.0
    busy_threshold: float = 0.1


@dataclass(frozen=True, slots=True)
class Scenario:
    """How the center is staffed; ``aht_factor`` 0.9 models "AHT -10 %"."""

    name: str
    target: Target
    aht_s: Number
    shrinkage: Number = 0
    aht_factor: Number = 1
    model: Model = "erlang-c"
    patience_s: float | None = None


@dataclass(frozen=True, slots=True)
class MonthBudget:
    month: str  # YYYY-MM
    calls: float
    workload_hours: float
    agent_hours: float  # scheduled, with shrinkage
    agent_heads: float  # full-time equivalents
    role_heads: dict[str, float]
    labour: dict[str, float]  # role name -> cost ("agents" included)
    telephony: float
    licences: float
    rent: float
    depreciation: float
    busy: bool
    service_level: float

    @property
    def variable(self) -> float:
        return sum(self.labour.values()) + self.telephony + self.licences

    @property
    def fixed(self) -> float:
        return self.rent + self.depreciation

    @property
    def total(self) -> float:
        return self.variable + self.fixed

    @property
    def labour_share(self) -> float:
        return sum(self.labour.values()) / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Budget:
    scenario: str
    months: list[MonthBudget] = field(default_factory=list)

    def total(self, attr: str = "total") -> float:
        return float(sum(getattr(m, attr) for m in self.months))

    @property
    def labour_share(self) -> float:
        labour = sum(sum(m.labour.values()) for m in self.months)
        total = self.total()
        return labour / total if total else 0.0


def annual_budget(
    starts: Sequence[datetime],
    volumes: Sequence[Number],
    *,
    interval_minutes: int,
    scenario: Scenario,
    rates: CostRates,
    scheduled: Sequence[int] | None = None,
) -> Budget:
    """Staff every interval for ``scenario`` and cost the result month by month.

    ``scheduled`` (agents on duty per interval from a shift schedule, over-staffing
    included) replaces the staffing's ``agents_with_shrinkage`` as the paid hours.
    """
    if len(starts) != len(volumes):
        raise ValueError("one volume per interval start is needed")
    if scheduled is not None and len(scheduled) != len(starts):
        raise ValueError("one scheduled count per interval start is needed")
    aht = exact(scenario.aht_s) * exact(scenario.aht_factor)
    table = staff_intervals(
        volumes,
        aht_s=aht,
        interval_minutes=interval_minutes,
        target=scenario.target,
        shrinkage=scenario.shrinkage,
        model=scenario.model,
        patience_s=scenario.patience_s,
    )
    hours = interval_minutes / 60
    paid = (
        np.asarray(scheduled, dtype=np.int64)
        if scheduled is not None
        else table.agents_with_shrinkage
    )
    months = np.array([ts.strftime("%Y-%m") for ts in starts])
    calls_by_month = {m: float(table.volume[months == m].sum()) for m in dict.fromkeys(months)}
    mean_calls = float(np.mean(list(calls_by_month.values()))) if calls_by_month else 0.0
    answered = table.volume * (1 - (table.abandon_rate if table.abandon_rate is not None else 0))
    out: list[MonthBudget] = []
    for month, calls in calls_by_month.items():
        m = months == month
        agent_hours = float(paid[m].sum() * hours)
        heads = agent_hours / rates.paid_hours_per_head_month
        role_heads = {r.name: heads / r.per_agents for r in rates.roles}
        labour = {"agents": agent_hours * rates.agent_hourly_rate}
        for r in rates.roles:
            labour[r.name] = role_heads[r.name] * rates.paid_hours_per_head_month * r.hourly_rate
        talk_min = float((answered[m] * float(aht)).sum() / 60)
        queue_min = float((table.volume[m] * table.asa_s[m]).sum() / 60)
        seats = math.ceil(heads) + sum(math.ceil(h) for h in role_heads.values())
        weights = table.volume[m] / calls if calls else np.zeros(int(m.sum()))
        out.append(
            MonthBudget(
                month=str(month),
                calls=calls,
                workload_hours=float(table.traffic_erlangs[m].sum() * hours),
                agent_hours=agent_hours,
                agent_heads=heads,
                role_heads=role_heads,
                labour=labour,
                telephony=(talk_min + queue_min) * rates.telephony_per_minute,
                licences=seats * rates.licence_per_seat_month,
                rent=rates.rent_per_month,
                depreciation=rates.depreciation_per_month,
                busy=calls > mean_calls * (1 + rates.busy_threshold),
                service_level=float((weights * table.service_level[m]).sum()),
            )
        )
    return Budget(scenario.name, out)


def scenario_variants(base: Scenario) -> list[Scenario]:
    """The comparisons planners ask for first: 80/20, 90/20 and AHT -10 %."""
    return [
        replace(
            base,
            name="SL 80/20",
            target=replace(base.target, service_level=Fraction(4, 5), service_seconds=20),
        ),
        replace(
            base,
            name="SL 90/20",
            target=replace(base.target, service_level=Fraction(9, 10), service_seconds=20),
        ),
        replace(
            base,
            name="SL 80/20, AHT -10 %",
            aht_factor=Fraction(9, 10),
            target=replace(base.target, service_level=Fraction(4, 5), service_seconds=20),
        ),
    ]


def compare(budgets: Sequence[Budget]) -> list[dict[str, float | str]]:
    """One row per scenario with the yearly figures, for a side-by-side table."""
    rows: list[dict[str, float | str]] = []
    for b in budgets:
        busy = [m for m in b.months if m.busy]
        rows.append(
            {
                "scenario": b.scenario,
                "calls": b.total("calls"),
                "agent_hours": b.total("agent_hours"),
                "mean_agent_heads": b.total("agent_heads") / max(1, len(b.months)),
                "variable": b.total("variable"),
                "fixed": b.total("fixed"),
                "total": b.total(),
                "labour_share": b.labour_share,
                "busy_months": len(busy),
                "busy_month_cost": sum(m.total for m in busy),
            }
        )
    return rows
