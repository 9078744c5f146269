"""The planner's path: history CSV, filled interval grid, forecast with actuals, shifts on
the clock, batch forecasts and the budget's scenarios."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest

from tsunagi.wfm.budget import CostRates, Scenario
from tsunagi.wfm.plan import (
    CalendarSpec,
    ForecastSpec,
    History,
    StaffingSpec,
    accuracy,
    budget_scenarios,
    forecast,
    forecast_many,
    parse_histories_csv,
    parse_history_csv,
    plan_shifts,
    resolve_aht,
    staff,
)
from tsunagi.wfm.schedule import ShiftType

OPEN = CalendarSpec(holidays=False)


def steady(days: int, first: date = date(2026, 2, 2), per_hour: float = 10) -> History:
    starts, volume = [], []
    for d in range(days):
        for hour in range(9, 17):
            starts.append(
                datetime.combine(first + timedelta(days=d), datetime.min.time()).replace(hour=hour)
            )
            volume.append(per_hour + d % 7)
    return History(tuple(starts), tuple(volume), tuple(v * 300 for v in volume))


def test_csv_history_with_offsets_and_handle_times() -> None:
    text = "\ufeffinterval_start,volume,handle_time_s\n2026-02-02T09:00:00+09:00,4,1200\n"
    history = parse_history_csv(text)
    assert history.starts == (datetime(2026, 2, 2, 9),)  # wall clock kept
    assert history.volume == (4.0,) and history.mean_aht_s() == 300


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("start,volume\n", "interval_start"),
        ("interval_start,volume\n", "no rows"),
        ("interval_start,volume\n2026-02-02T09:00,-1\n", "line 2 volume"),
        ("interval_start,volume\n2026-02-02T09:00,1\nyesterday,1\n", "line 3"),
        ("interval_start,volume\n2026-02-02T09:00,NaN\n", "line 2"),
    ],
)
def test_bad_csv_names_the_problem(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_history_csv(text)


def test_csv_row_limit() -> None:
    text = "interval_start,volume\n" + "2026-02-02T09:00,1\n" * 3
    with pytest.raises(ValueError, match="more than 2 rows"):
        parse_history_csv(text, max_rows=2)


def test_histories_by_key_in_any_order() -> None:
    text = (
        "q,interval_start,volume\n"
        "b,2026-02-02T09:00,1\na,2026-02-02T09:00,2\nb,2026-02-02T09:30,3\n"
    )
    found = parse_histories_csv(text, ("q",))
    assert found[("b",)].volume == (1.0, 3.0) and found[("a",)].volume == (2.0,)


def test_series_is_summed_and_every_day_filled() -> None:
    history = History(
        (datetime(2026, 2, 2, 9, 0), datetime(2026, 2, 2, 9, 15), datetime(2026, 2, 3, 23, 45)),
        (1.0, 2.0, 5.0),
    )
    series = history.series(30)
    assert len(series) == 2 * 48
    assert series[datetime(2026, 2, 2, 9)] == 3 and series[datetime(2026, 2, 3, 23, 30)] == 5
    assert float(series.sum()) == 8


def test_forecast_of_a_steady_history_and_its_actuals() -> None:
    history = steady(28)
    spec = ForecastSpec(interval_minutes=60, days=7, calendar=OPEN)
    table = forecast(history, spec)
    assert table.starts[0] == datetime(2026, 3, 2) and len(table.starts) == 7 * 24
    assert table.total == pytest.approx(8 * sum(10 + d for d in range(7)))
    assert table.actual == [None] * len(table.starts) and table.aht_s == 300
    back = forecast(
        history, ForecastSpec(interval_minutes=60, days=7, start=date(2026, 2, 23), calendar=OPEN)
    )
    assert back.actual[9] == 10 and back.actual[0] == 0  # known, including closed hours
    assert back.volume == pytest.approx([a or 0 for a in back.actual])


def test_accuracy_needs_more_history_than_it_holds_back() -> None:
    spec = ForecastSpec(interval_minutes=60, calendar=OPEN)
    scores = accuracy(steady(42), spec, 2)
    assert {row["method"] for row in scores} == {"profile", "ets"}
    assert all(row["days"] == 14 for row in scores)
    with pytest.raises(ValueError, match="need at least 5 weeks"):
        accuracy(steady(28), spec, 4)


def test_forecast_spec_bounds() -> None:
    with pytest.raises(ValueError, match="interval_minutes"):
        forecast(steady(14), ForecastSpec(interval_minutes=20))
    with pytest.raises(ValueError, match="days"):
        forecast(steady(14), ForecastSpec(days=0))
    with pytest.raises(ValueError, match="weekdays"):
        forecast(steady(14), ForecastSpec(calendar=CalendarSpec(open_weekdays=frozenset())))


def test_batch_skips_a_series_it_cannot_forecast() -> None:
    done, failed = forecast_many(
        {"long": steady(28), "short": steady(3)},
        ForecastSpec(method="ets", interval_minutes=60, days=1, calendar=OPEN),
    )
    assert list(done) == ["long"] and "ETS needs" in failed["short"]


def test_staffing_targets_and_handle_time() -> None:
    with pytest.raises(ValueError, match="history has no handle time"):
        resolve_aht(StaffingSpec(), None)
    assert resolve_aht(StaffingSpec(), 241.26) == Fraction("241.3")
    assert resolve_aht(StaffingSpec(aht_s=Fraction(180)), 241.26) == 180
    with pytest.raises(ValueError, match="at least one target"):
        staff([10], 30, StaffingSpec(service_level=None), Fraction(300))
    with pytest.raises(ValueError, match="patience"):
        staff([10], 30, StaffingSpec(model="erlang-a"), Fraction(300))
    table = staff([0, 100], 30, StaffingSpec(shrinkage=Fraction(3, 10)), Fraction(180))
    assert table.agents.tolist() == [0, 14] and table.agents_with_shrinkage.tolist() == [0, 20]


DAY = ShiftType("day", 240, 540, 600, 1000.0, start_step_minutes=60)


def test_shifts_are_planned_on_the_clock() -> None:
    first = datetime(2026, 3, 2)
    starts = [first + timedelta(hours=h) for h in range(24)]
    required = [2 if 9 <= h < 13 else 0 for h in range(24)]
    plan = plan_shifts(starts, required, [DAY], interval_minutes=60)
    assert plan.status == "OPTIMAL"
    assert plan.scheduled == required and plan.under == [0] * 24
    assert plan.shifts == [
        {
            "day": "2026-03-02",
            "shift": "day",
            "start": "09:00",
            "end": "13:00",
            "break_start": "",
            "agents": 2,
            "cost": 8000.0,
        }
    ]
    late = [0] * 24
    late[20] = 1  # no shift may start after 10:00: the gap shows
    plan = plan_shifts(
        starts, [a + b for a, b in zip(required, late, strict=True)], [DAY], interval_minutes=60
    )
    assert plan.under[20] == 1


def test_a_shift_longer_than_the_open_hours_still_fits() -> None:
    first = datetime(2026, 3, 2)
    starts = [first + timedelta(hours=h) for h in range(24)]
    required = [1 if 10 <= h < 12 else 0 for h in range(24)]
    long_day = ShiftType("long", 480, 480, 480, 1000.0, start_step_minutes=60)
    plan = plan_shifts(starts, required, [long_day], interval_minutes=60)
    assert plan.under == [0] * 24
    assert plan.scheduled == [1 if 8 <= h < 16 else 0 for h in range(24)]
    assert sum(plan.over) == 6


def test_shift_input_problems() -> None:
    first = datetime(2026, 3, 2)
    with pytest.raises(ValueError, match="grid"):
        plan_shifts([first + timedelta(minutes=10)], [1], [DAY], interval_minutes=60)
    with pytest.raises(ValueError, match="at most 14 days"):
        plan_shifts(
            [first + timedelta(days=d) for d in range(15)], [1] * 15, [DAY], interval_minutes=60
        )


def test_budget_scenarios_side_by_side() -> None:
    starts = [datetime(2027, 1, 1) + timedelta(hours=h) for h in range(24 * 59)]
    volumes = [50.0 if 9 <= ts.hour < 17 else 0.0 for ts in starts]
    rows, months = budget_scenarios(
        starts,
        volumes,
        interval_minutes=60,
        base=Scenario("plan", StaffingSpec().target(), aht_s=300, shrinkage=Fraction(3, 10)),
        rates=CostRates(agent_hourly_rate=1500, rent_per_month=100),
    )
    assert [r["scenario"] for r in rows] == ["plan", "SL 80/20", "SL 90/20", "SL 80/20, AHT -10 %"]
    assert [m["month"] for m in months[0][1]] == ["2027-01", "2027-02"]
    assert rows[0]["fixed"] == 200
