"""Request and response bodies of the planning API, and their translation to the specs of
:mod:`tsunagi.wfm.plan`. One nested family: a staffing request is a forecast request plus
targets, a schedule or budget request is a staffing request plus shifts or rates, so the
page form, the API and the exports read the same fields."""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from tsunagi.actions.wfm import HistoryWindow, Source
from tsunagi.domain.errors import InvalidInputError
from tsunagi.web.api.schemas import Input, Output
from tsunagi.wfm.budget import CostRates, Role, Scenario
from tsunagi.wfm.plan import CalendarSpec, ForecastSpec, StaffingSpec
from tsunagi.wfm.schedule import ShiftType

Weekday = Annotated[int, Meta(ge=0, le=6)]
Factor = Annotated[float, Meta(ge=0, le=10)]
Money = Annotated[float, Meta(ge=0, le=1e12)]
MAX_CSV_CHARS = 10_000_000  # the app's request body limit
MAX_VOLUMES = 40_000


class BusySeasonIn(Input):
    first: date
    last: date
    factor: Factor


class CalendarIn(Input):
    open_weekdays: Annotated[list[Weekday], Meta(min_length=1, max_length=7)] = msgspec.field(
        default_factory=lambda: list(range(7))
    )
    holidays: bool = True  # Japanese public holidays are closed unless a special day says
    special_days: Annotated[dict[date, Factor], Meta(max_length=400)] = msgspec.field(
        default_factory=dict
    )
    busy_seasons: Annotated[list[BusySeasonIn], Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class ForecastIn(Input):
    """Where the history comes from and what to forecast.

    History: the center's figures for ``queue_id``/``channel`` (all when empty) over
    ``history_from``..``history_to`` (default: the last ``history_weeks`` weeks), or the
    text of an interval CSV in ``history_csv`` (``interval_start,volume[,handle_time_s]``).
    """

    queue_id: UUID | None = None
    channel: Annotated[str, Meta(max_length=16)] | None = None
    history_from: date | None = None
    history_to: date | None = None
    history_weeks: Annotated[int, Meta(ge=1, le=104)] = 8
    history_csv: Annotated[str, Meta(max_length=MAX_CSV_CHARS)] | None = None
    interval_minutes: Literal[15, 30, 60] = 30
    start: date | None = None
    days: Annotated[int, Meta(ge=1, le=400)] = 7
    method: Literal["profile", "ets"] = "profile"
    weeks: Annotated[int, Meta(ge=1, le=104)] = 6
    calendar: CalendarIn = msgspec.field(default_factory=CalendarIn)
    holdout_weeks: Annotated[int, Meta(ge=1, le=12)] | None = None


class VolumeIn(Input):
    interval_start: datetime
    volume: Annotated[float, Meta(ge=0, le=1e7)]


class StaffingIn(ForecastIn):
    """A forecast (or the given ``volumes``) and the targets to staff it for."""

    volumes: Annotated[list[VolumeIn], Meta(max_length=MAX_VOLUMES)] | None = None
    aht_s: Annotated[float, Meta(gt=0, le=36_000)] | None = None
    service_level: Annotated[float, Meta(ge=0, lt=1)] | None = 0.8
    service_seconds: Annotated[float, Meta(ge=0, le=3600)] = 20.0
    asa_s: Annotated[float, Meta(gt=0, le=3600)] | None = None
    max_occupancy: Annotated[float, Meta(gt=0, le=1)] | None = None
    shrinkage: Annotated[float, Meta(ge=0, lt=1)] = 0.0
    model: Literal["erlang-c", "erlang-a"] = "erlang-c"
    patience_s: Annotated[float, Meta(gt=0, le=36_000)] | None = None


class ShiftIn(Input):
    """A shift type; times are minutes after local midnight."""

    name: Annotated[str, Meta(min_length=1, max_length=40)]
    length_minutes: Annotated[int, Meta(ge=15, le=720)]
    earliest_start_minutes: Annotated[int, Meta(ge=0, le=1440)]
    latest_start_minutes: Annotated[int, Meta(ge=0, le=1440)]
    hourly_cost: Money
    start_step_minutes: Annotated[int, Meta(ge=15, le=240)] = 30
    break_minutes: Annotated[int, Meta(ge=0, le=240)] = 0
    break_after_min: Annotated[int, Meta(ge=0, le=720)] = 0
    break_after_max: Annotated[int, Meta(ge=0, le=720)] = 0
    paid_break: bool = False


class ScheduleIn(StaffingIn, kw_only=True):
    shifts: Annotated[list[ShiftIn], Meta(min_length=1, max_length=10)]
    days_per_week: Annotated[int, Meta(ge=1, le=7)] | None = None
    time_limit_s: Annotated[float, Meta(ge=1, le=60)] = 10.0


class RoleIn(Input):
    name: Annotated[str, Meta(min_length=1, max_length=40)]
    hourly_rate: Money
    per_agents: Annotated[float, Meta(gt=0, le=1000)]


class RatesIn(Input):
    agent_hourly_rate: Money
    roles: Annotated[list[RoleIn], Meta(max_length=10)] = msgspec.field(default_factory=list)
    telephony_per_minute: Money = 0.0
    licence_per_seat_month: Money = 0.0
    rent_per_month: Money = 0.0
    depreciation_per_month: Money = 0.0
    paid_hours_per_head_month: Annotated[float, Meta(gt=0, le=744)] = 160.0
    busy_threshold: Annotated[float, Meta(ge=0, le=10)] = 0.1


class BudgetIn(StaffingIn):
    """The staffing of a year (by default 365 days from ``start``) costed month by month."""

    rates: RatesIn = msgspec.field(default_factory=lambda: RatesIn(agent_hourly_rate=0.0))
    variants: bool = True  # also SL 80/20, 90/20 and AHT -10 %
    days: Annotated[int, Meta(ge=1, le=400)] = 365


# ------------------------------------------------------------------------- outputs


class IntervalOut(Output):
    interval_start: datetime
    volume: float
    actual: float | None


class AccuracyOut(Output):
    method: str
    mape_interval: float
    wape_interval: float
    mape_day: float
    wape_day: float
    days: int


class ForecastOut(Output):
    queue_id: str | None  # the queue's id (from the figures) or the CSV's queue text
    channel: str | None
    queue_name: str | None  # in the caller's language, for queues of the center
    method: str
    interval_minutes: int
    aht_s: float | None
    total: float
    intervals: list[IntervalOut]
    accuracy: list[AccuracyOut] = msgspec.field(default_factory=list)


class BatchForecastOut(Output):
    forecasts: list[ForecastOut]
    skipped: dict[str, str]  # "queue/channel" -> why it could not be forecast


class StaffIntervalOut(Output):
    interval_start: datetime
    volume: float
    actual: float | None
    traffic_erlangs: float
    agents: int
    agents_with_shrinkage: int
    service_level: float
    asa_s: float | None
    occupancy: float
    abandon_rate: float | None


class DayOut(Output):
    day: date
    volume: float
    agent_hours: float
    scheduled_hours: float
    peak_agents: int
    service_level: float
    occupancy: float


class StaffingOut(Output):
    model: str
    aht_s: float
    interval_minutes: int
    intervals: list[StaffIntervalOut]
    days: list[DayOut]


class CoverageOut(Output):
    interval_start: datetime
    required: int
    scheduled: int
    over: int
    under: int


class ShiftOut(Output):
    day: date
    shift: str
    start: str
    end: str
    break_start: str
    agents: int
    cost: float


class ScheduleOut(Output):
    status: str
    cost: float
    heads: int
    intervals: list[CoverageOut]
    shifts: list[ShiftOut]


class BudgetMonthOut(Output):
    month: str
    season: str
    calls: float
    agent_hours: float
    agent_heads: float
    labour: float
    telephony: float
    licences: float
    fixed: float
    total: float
    labour_share: float
    service_level: float


class BudgetScenarioOut(Output):
    scenario: str
    calls: float
    agent_hours: float
    mean_agent_heads: float
    variable: float
    fixed: float
    total: float
    labour_share: float
    busy_months: int
    busy_month_cost: float
    months: list[BudgetMonthOut]


class BudgetOut(Output):
    aht_s: float
    scenarios: list[BudgetScenarioOut]


# --------------------------------------------------------------------- translation


def _exact(value: float | None) -> Fraction | None:
    return None if value is None else Fraction(str(value))


def forecast_spec(data: ForecastIn) -> ForecastSpec:
    cal = data.calendar
    return ForecastSpec(
        interval_minutes=data.interval_minutes,
        start=data.start,
        days=data.days,
        method=data.method,
        weeks=data.weeks,
        calendar=CalendarSpec(
            open_weekdays=frozenset(cal.open_weekdays),
            holidays=cal.holidays,
            special_days=dict(cal.special_days),
            busy_seasons=tuple((b.first, b.last, b.factor) for b in cal.busy_seasons),
        ),
    )


def staffing_spec(data: StaffingIn) -> StaffingSpec:
    if data.model == "erlang-a" and data.patience_s is None:
        raise InvalidInputError("patience_s: Erlang A needs the callers' mean patience")
    return StaffingSpec(
        aht_s=_exact(data.aht_s),
        service_level=_exact(data.service_level),
        service_seconds=data.service_seconds,
        asa_s=data.asa_s,
        max_occupancy=_exact(data.max_occupancy),
        shrinkage=Fraction(str(data.shrinkage)),
        model=data.model,
        patience_s=data.patience_s,
    )


def source(data: ForecastIn, default_window: tuple[date, date]) -> Source:
    """The CSV text if one was given, else the figures window (explicit or default)."""
    if data.history_csv is not None:
        return data.history_csv
    first, last = default_window
    return HistoryWindow(
        day_from=data.history_from or first,
        day_to=data.history_to or last,
        queue_id=data.queue_id,
        channel=data.channel or None,
    )


def shift_types(data: ScheduleIn) -> list[ShiftType]:
    if not data.shifts:
        raise InvalidInputError("shifts: give at least one shift type")
    found = []
    for s in data.shifts:
        if s.latest_start_minutes < s.earliest_start_minutes:
            raise InvalidInputError(f"shift {s.name!r}: latest start is before earliest start")
        if s.break_after_max < s.break_after_min:
            raise InvalidInputError(f"shift {s.name!r}: break window ends before it starts")
        found.append(ShiftType(**msgspec.structs.asdict(s)))
    return found


def cost_rates(data: RatesIn) -> CostRates:
    return CostRates(
        agent_hourly_rate=data.agent_hourly_rate,
        roles=tuple(Role(r.name, r.hourly_rate, r.per_agents) for r in data.roles),
        telephony_per_minute=data.telephony_per_minute,
        licence_per_seat_month=data.licence_per_seat_month,
        rent_per_month=data.rent_per_month,
        depreciation_per_month=data.depreciation_per_month,
        paid_hours_per_head_month=data.paid_hours_per_head_month,
        busy_threshold=data.busy_threshold,
    )


def base_scenario(spec: StaffingSpec, aht_s: Fraction) -> Scenario:
    return Scenario(
        name="plan",
        target=spec.target(),
        aht_s=aht_s,
        shrinkage=spec.shrinkage,
        model=spec.model,
        patience_s=spec.patience_s,
    )
