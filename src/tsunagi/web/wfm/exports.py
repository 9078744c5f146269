"""Rows of the planning exports (CSV and Excel through the figures' writers, so every
text cell is made inert against formula injection)."""

from __future__ import annotations

from typing import Any

from tsunagi.web.wfm import schemas as s

STAFFING_COLUMNS = [
    "interval_start",
    "volume",
    "actual",
    "traffic_erlangs",
    "agents",
    "agents_with_shrinkage",
    "service_level",
    "asa_s",
    "occupancy",
    "abandon_rate",
]


def staffing_table(out: s.StaffingOut) -> tuple[list[str], list[list[Any]]]:
    """The columns of ``tsunagi wfm staff`` plus the actual volume where it is known."""
    rows = [
        [
            r.interval_start.isoformat(),
            r.volume,
            r.actual,
            r.traffic_erlangs,
            r.agents,
            r.agents_with_shrinkage,
            round(r.service_level, 4),
            None if r.asa_s is None else round(r.asa_s, 2),
            round(r.occupancy, 4),
            None if r.abandon_rate is None else round(r.abandon_rate, 4),
        ]
        for r in out.intervals
    ]
    return STAFFING_COLUMNS, rows


def schedule_table(out: s.ScheduleOut) -> tuple[list[str], list[list[Any]]]:
    header = ["interval_start", "required", "scheduled", "over", "under"]
    rows = [
        [r.interval_start.isoformat(), r.required, r.scheduled, r.over, r.under]
        for r in out.intervals
    ]
    return header, rows


def budget_table(out: s.BudgetOut) -> tuple[list[str], list[list[Any]]]:
    header = ["scenario", *s.BudgetMonthOut.__struct_fields__]
    rows = [
        [sc.scenario, *(getattr(m, name) for name in s.BudgetMonthOut.__struct_fields__)]
        for sc in out.scenarios
        for m in sc.months
    ]
    return header, rows
