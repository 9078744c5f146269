"""Workforce planning API: forecasts (one series or every queue x channel), staffing,
shift schedules and the annual budget, computed on demand from the center's figures or
from an uploaded interval CSV. Nothing is stored; every call is a read of the plans."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from tsunagi.actions import wfm as actions
from tsunagi.actions.figures import reports
from tsunagi.domain.errors import InvalidInputError
from tsunagi.web.auth import require_principal
from tsunagi.web.i18n import current_locale
from tsunagi.web.services import services_of
from tsunagi.web.wfm import schemas as s
from tsunagi.wfm.plan import ForecastTable, ShiftPlan, finite
from tsunagi.wfm.staffing import summarize

AnyRequest = Request[Any, Any, Any]
PLAN = {"authz": ("read", "wfm")}
TAGS = ["wfm"]
BASE = "/api/v1/wfm"


def forecast_out(
    table: ForecastTable,
    queue_id: str | None,
    channel: str | None,
    scores: list[dict[str, float]] | None = None,
    names: dict[str, str] | None = None,
) -> s.ForecastOut:
    return s.ForecastOut(
        queue_id=queue_id,
        channel=channel,
        queue_name=(names or {}).get(queue_id or ""),
        method=table.method,
        interval_minutes=table.interval_minutes,
        aht_s=table.aht_s,
        total=table.total,
        intervals=[
            s.IntervalOut(interval_start=ts, volume=round(v, 3), actual=a)
            for ts, v, a in zip(table.starts, table.volume, table.actual, strict=True)
        ],
        accuracy=[s.AccuracyOut(**row) for row in scores or []],  # type: ignore[arg-type]
    )


async def source_of(request: AnyRequest, data: s.ForecastIn) -> actions.Source:
    principal = require_principal(request)
    window = await actions.default_window(
        services_of(request).db, principal.tenant_id, data.history_weeks
    )
    return s.source(data, window)


@post(f"{BASE}/forecast", opt=PLAN, tags=TAGS, status_code=200)
async def make_forecast(request: AnyRequest, data: JSONBody[s.ForecastIn]) -> s.ForecastOut:
    """Contacts per interval for a queue and channel (or all), with the history's actual
    volume where it overlaps; ``holdout_weeks`` adds both methods' MAPE/WAPE."""
    principal = require_principal(request)
    table, scores = await actions.plan_forecast(
        services_of(request).db,
        principal.tenant_id,
        await source_of(request, data),
        s.forecast_spec(data),
        data.holdout_weeks,
    )
    queue = str(data.queue_id) if data.queue_id and data.history_csv is None else None
    return forecast_out(table, queue, data.channel, scores, await _queue_names(request))


async def _queue_names(request: AnyRequest) -> dict[str, str]:
    principal = require_principal(request)
    found = await reports.names(services_of(request).db, principal.tenant_id, current_locale.get())
    return found["queue"]


@post(f"{BASE}/forecasts", opt=PLAN, tags=TAGS, status_code=200)
async def make_forecasts(request: AnyRequest, data: JSONBody[s.ForecastIn]) -> s.BatchForecastOut:
    """One forecast per queue and channel with history, in one call. From the figures, or
    from ``history_csv`` with ``queue`` and ``channel`` columns."""
    if data.holdout_weeks is not None:
        raise InvalidInputError("holdout_weeks: score one series at a time with /forecast")
    principal = require_principal(request)
    done, failed = await actions.plan_forecasts(
        services_of(request).db,
        principal.tenant_id,
        await source_of(request, data),
        s.forecast_spec(data),
    )
    names = await _queue_names(request)
    return s.BatchForecastOut(
        forecasts=[forecast_out(table, q, c, names=names) for (q, c), table in done.items()],
        skipped={f"{q}/{c}": why for (q, c), why in failed.items()},
    )


async def staffing_plan(request: AnyRequest, data: s.StaffingIn) -> actions.StaffingPlan:
    """The staffing of ``data``: of the given volumes, else of a forecast."""
    principal = require_principal(request)
    fspec, sspec = s.forecast_spec(data), s.staffing_spec(data)
    try:
        sspec.target()  # refuse a bad target before any history is read
        fspec.checked()
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    fixed = None
    if data.volumes is not None:
        rows = sorted(data.volumes, key=lambda v: v.interval_start)
        fixed = actions.given_volumes(
            [v.interval_start.replace(tzinfo=None) for v in rows],
            [v.volume for v in rows],
            data.interval_minutes,
        )
        return await actions.plan_staffing(
            services_of(request).db, principal.tenant_id, None, fspec, sspec, fixed
        )
    return await actions.plan_staffing(
        services_of(request).db,
        principal.tenant_id,
        await source_of(request, data),
        fspec,
        sspec,
    )


def staffing_out(plan: actions.StaffingPlan, model: str) -> s.StaffingOut:
    t, fc = plan.table, plan.forecast
    asa = finite(t.asa_s)
    abandon = None if t.abandon_rate is None else finite(t.abandon_rate)
    intervals = [
        s.StaffIntervalOut(
            interval_start=ts,
            volume=round(float(t.volume[i]), 3),
            actual=fc.actual[i],
            traffic_erlangs=round(float(t.traffic_erlangs[i]), 4),
            agents=int(t.agents[i]),
            agents_with_shrinkage=int(t.agents_with_shrinkage[i]),
            service_level=float(t.service_level[i]),
            asa_s=asa[i],
            occupancy=float(t.occupancy[i]),
            abandon_rate=None if abandon is None else abandon[i],
        )
        for i, ts in enumerate(fc.starts)
    ]
    return s.StaffingOut(
        model=model,
        aht_s=float(plan.aht_s),
        interval_minutes=fc.interval_minutes,
        intervals=intervals,
        days=day_rows(plan),
    )


def day_rows(plan: actions.StaffingPlan) -> list[s.DayOut]:
    labels = [ts.date().isoformat() for ts in plan.forecast.starts]
    return [
        s.DayOut(
            day=date.fromisoformat(p.label),
            volume=round(p.volume, 3),
            agent_hours=p.agent_hours,
            scheduled_hours=p.scheduled_hours,
            peak_agents=p.peak_agents,
            service_level=p.service_level,
            occupancy=p.occupancy,
        )
        for p in summarize(plan.table, labels)
    ]


@post(f"{BASE}/staffing", opt=PLAN, tags=TAGS, status_code=200)
async def make_staffing(request: AnyRequest, data: JSONBody[s.StaffingIn]) -> s.StaffingOut:
    """Required agents per interval (Erlang C or A) for a service-level, ASA and occupancy
    target, with shrinkage; per-day totals."""
    return staffing_out(await staffing_plan(request, data), data.model)


def schedule_out(plan: ShiftPlan) -> s.ScheduleOut:
    over, under = plan.over, plan.under
    return s.ScheduleOut(
        status=plan.status,
        cost=round(plan.cost, 2),
        heads=plan.heads,
        intervals=[
            s.CoverageOut(interval_start=ts, required=r, scheduled=c, over=over[i], under=under[i])
            for i, (ts, r, c) in enumerate(
                zip(plan.starts, plan.required, plan.scheduled, strict=True)
            )
        ],
        shifts=[s.ShiftOut(**row) for row in plan.shifts],  # type: ignore[arg-type]
    )


async def schedule_plan(
    request: AnyRequest, data: s.ScheduleIn
) -> tuple[actions.StaffingPlan, ShiftPlan]:
    shifts = s.shift_types(data)
    plan = await staffing_plan(request, data)
    shifted = await actions.plan_schedule(
        plan, shifts, days_per_week=data.days_per_week, time_limit_s=data.time_limit_s
    )
    return plan, shifted


@post(f"{BASE}/schedule", opt=PLAN, tags=TAGS, status_code=200)
async def make_schedule(request: AnyRequest, data: JSONBody[s.ScheduleIn]) -> s.ScheduleOut:
    """Shift patterns covering the staffing (agents with shrinkage) at least cost: CP-SAT in
    a worker thread, stopped at ``time_limit_s``; coverage and over/under per interval."""
    _plan, shifted = await schedule_plan(request, data)
    return schedule_out(shifted)


async def budget_of(request: AnyRequest, data: s.BudgetIn) -> s.BudgetOut:
    if data.rates.agent_hourly_rate <= 0:
        raise InvalidInputError("rates.agent_hourly_rate: give the agents' hourly rate")
    plan = await staffing_plan(request, data)
    base = s.base_scenario(s.staffing_spec(data), plan.aht_s)
    rows, months = await actions.plan_budget(
        plan, base, s.cost_rates(data.rates), variants=data.variants
    )
    by_name = dict(months)
    return s.BudgetOut(
        aht_s=float(plan.aht_s),
        scenarios=[
            s.BudgetScenarioOut(
                **row,  # type: ignore[arg-type]
                months=[s.BudgetMonthOut(**m) for m in by_name[str(row["scenario"])]],  # type: ignore[arg-type]
            )
            for row in rows
        ],
    )


@post(f"{BASE}/budget", opt=PLAN, tags=TAGS, status_code=200)
async def make_budget(request: AnyRequest, data: JSONBody[s.BudgetIn]) -> s.BudgetOut:
    """Annual budget by month (labour, telephony, licences, fixed costs) for the plan's
    scenario and, with ``variants``, SL 80/20, 90/20 and AHT -10 % side by side."""
    return await budget_of(request, data)


ROUTES = [make_forecast, make_forecasts, make_staffing, make_schedule, make_budget]
