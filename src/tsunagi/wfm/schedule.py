"""Shift scheduling: choose shift patterns that cover the required agents at least cost.

Integer program (solved with OR-Tools CP-SAT):

* A **pattern** is a shift type at one start time with one break position:
  it covers the intervals from start to start + length except the break.
* ``x[p, d]`` agents work pattern *p* on day *d*; ``under[d, t]`` is the
  shortfall at interval *t* of day *d*.
* Coverage: ``sum_p covers(p, t) * x[p, d] + under[d, t] >= required[d][t]``.
* Days off (optional, for a week of 7 days): ``y[w]`` agents work the weekly
  rotation *w* (``days_per_week`` working days, the days off consecutive when
  asked); the agents on duty on day *d* equal ``sum_w works(w, d) * y[w]``.
* Objective: paid cost of all shifts + ``under_penalty`` per missing
  agent-interval. The penalty keeps the model feasible when the shift rules
  cannot reach every interval, and shows the gap instead of failing; by
  default it is dearer than any whole shift, so coverage is complete wherever
  some shift can reach. A lower penalty trades service for cost.

Times are minutes after the start of the planning day (``day_start_minutes``
sets what interval 0 is on the clock); a shift may not run past the day's
last interval.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model


@dataclass(frozen=True, slots=True)
class ShiftType:
    """A kind of shift: length, break, allowed start window and cost per paid hour.

    ``break_minutes`` is unpaid when ``paid_break`` is false. The break starts
    between ``break_after_min`` and ``break_after_max`` minutes after the shift
    starts (every interval in between is an option for the solver).
    """

    name: str
    length_minutes: int
    earliest_start_minutes: int
    latest_start_minutes: int
    hourly_cost: float
    start_step_minutes: int = 30
    break_minutes: int = 0
    break_after_min: int = 0
    break_after_max: int = 0
    paid_break: bool = False

    def paid_hours(self) -> float:
        unpaid = 0 if self.paid_break else self.break_minutes
        return (self.length_minutes - unpaid) / 60


@dataclass(frozen=True, slots=True)
class Pattern:
    shift: ShiftType
    start: int  # interval index
    covered: tuple[int, ...]  # interval indices on duty
    break_start: int | None = None  # interval index where the break begins

    @property
    def cost(self) -> float:
        return self.shift.hourly_cost * self.shift.paid_hours()


def build_patterns(
    shifts: Sequence[ShiftType], interval_minutes: int, intervals_per_day: int
) -> list[Pattern]:
    """Every (shift type, start, break position) that fits in the day on the interval grid."""
    patterns: list[Pattern] = []
    for shift in shifts:
        for value, what in (
            (shift.length_minutes, "length"),
            (shift.start_step_minutes, "start step"),
            (shift.break_minutes, "break"),
            (shift.earliest_start_minutes, "earliest start"),
        ):
            if value % interval_minutes:
                raise ValueError(
                    f"shift {shift.name!r}: {what} {value} min is not a multiple of the "
                    f"{interval_minutes}-minute interval"
                )
        length = shift.length_minutes // interval_minutes
        brk = shift.break_minutes // interval_minutes
        step = max(1, shift.start_step_minutes // interval_minutes)
        first = shift.earliest_start_minutes // interval_minutes
        last = min(shift.latest_start_minutes // interval_minutes, intervals_per_day - length)
        offsets = [0]
        if brk:
            lo = -(-shift.break_after_min // interval_minutes)
            hi = shift.break_after_max // interval_minutes
            offsets = list(range(lo, min(hi, length - brk) + 1)) or [lo]
        for start in range(first, last + 1, step):
            for off in offsets:
                on = [start + k for k in range(length) if not (brk and off <= k < off + brk)]
                patterns.append(Pattern(shift, start, tuple(on), start + off if brk else None))
    if not patterns:
        raise ValueError("no shift fits inside the planning day")
    return patterns


def weekly_rotations(days_per_week: int, consecutive_off: bool) -> list[tuple[int, ...]]:
    """0/1 tuples over 7 days with ``days_per_week`` working days."""
    if not 1 <= days_per_week <= 7:
        raise ValueError("days_per_week must be 1..7")
    off = 7 - days_per_week
    if consecutive_off:
        return (
            [tuple(0 if (d - s) % 7 < off else 1 for d in range(7)) for s in range(7)]
            if off
            else [(1,) * 7]
        )
    return [
        tuple(0 if d in rest else 1 for d in range(7))
        for rest in itertools.combinations(range(7), off)
    ]


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    """The chosen shifts and the coverage they give, per day and interval."""

    status: str
    shifts: list[tuple[int, Pattern, int]]  # (day, pattern, agents)
    coverage: list[list[int]]
    required: list[list[int]]
    cost: float
    agents_per_day: list[int]
    rotations: list[tuple[tuple[int, ...], int]]  # (works on day d, agents)

    def over(self) -> list[list[int]]:
        return [
            [max(0, c - r) for c, r in zip(cov, req, strict=True)]
            for cov, req in zip(self.coverage, self.required, strict=True)
        ]

    def under(self) -> list[list[int]]:
        return [
            [max(0, r - c) for c, r in zip(cov, req, strict=True)]
            for cov, req in zip(self.coverage, self.required, strict=True)
        ]

    @property
    def heads(self) -> int:
        """Distinct agents needed: the rotation total, or the busiest day without one."""
        if self.rotations:
            return sum(n for _w, n in self.rotations)
        return max(self.agents_per_day, default=0)


def schedule(
    required: Sequence[Sequence[int]],
    shifts: Sequence[ShiftType],
    *,
    interval_minutes: int,
    days_per_week: int | None = None,
    consecutive_days_off: bool = True,
    under_penalty: float | None = None,
    time_limit_s: float = 20.0,
    seed: int = 0,
) -> ScheduleResult:
    """Cover ``required[day][interval]`` at least cost (see the module docstring)."""
    days = len(required)
    if days == 0:
        raise ValueError("nothing to schedule")
    per_day = len(required[0])
    if any(len(r) != per_day for r in required):
        raise ValueError("every day needs the same number of intervals")
    if days_per_week is not None and days != 7:
        raise ValueError("days off are planned over exactly 7 days")
    patterns = build_patterns(shifts, interval_minutes, per_day)
    if under_penalty is None:  # dearer than any whole shift: gaps stay only where no shift fits
        under_penalty = 2 * max(p.cost for p in patterns) + 1
    model = cp_model.CpModel()
    peak = max((max(r, default=0) for r in required), default=0)
    x = {
        (p, d): model.new_int_var(0, peak, f"x{p}_{d}")
        for p in range(len(patterns))
        for d in range(days)
    }
    under = {
        (d, t): model.new_int_var(0, required[d][t], f"u{d}_{t}")
        for d in range(days)
        for t in range(per_day)
        if required[d][t] > 0
    }
    covering: dict[int, list[int]] = {t: [] for t in range(per_day)}
    for p, pattern in enumerate(patterns):
        for t in pattern.covered:
            covering[t].append(p)
    for (d, t), short in under.items():
        model.add(sum(x[p, d] for p in covering[t]) + short >= required[d][t])
    rotations = weekly_rotations(days_per_week, consecutive_days_off) if days_per_week else []
    y = [model.new_int_var(0, peak * 7, f"y{w}") for w in range(len(rotations))]
    for d in range(days if rotations else 0):
        model.add(
            sum(x[p, d] for p in range(len(patterns)))
            == sum(y[w] for w, rot in enumerate(rotations) if rot[d])
        )
    scale = 100  # CP-SAT wants integer coefficients: cost in hundredths
    model.minimize(
        sum(
            round(pattern.cost * scale) * x[p, d]
            for (p, d), _v in x.items()
            for pattern in (patterns[p],)
        )
        + sum(round(under_penalty * scale) * u for u in under.values())
    )
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = 1  # deterministic for a given seed
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise ValueError(f"no schedule found ({solver.status_name(status)})")
    chosen = [
        (d, patterns[p], int(solver.value(var)))
        for (p, d), var in x.items()
        if solver.value(var) > 0
    ]
    coverage = [[0] * per_day for _ in range(days)]
    for d, pattern, n in chosen:
        for t in pattern.covered:
            coverage[d][t] += n
    return ScheduleResult(
        status=solver.status_name(status),
        shifts=sorted(chosen, key=lambda c: (c[0], c[1].start, c[1].shift.name)),
        coverage=coverage,
        required=[list(r) for r in required],
        cost=sum(p.cost * n for _d, p, n in chosen),
        agents_per_day=[sum(n for dd, _p, n in chosen if dd == d) for d in range(days)],
        rotations=[
            (rot, int(solver.value(y[w])))
            for w, rot in enumerate(rotations)
            if solver.value(y[w]) > 0
        ],
    )
