"""The planning API and pages through the running app on both profiles: forecasts from the
figures (one series and every queue x channel), staffing against the pure maths, an
uploaded CSV, shifts, the budget, exports, bad input and who may plan."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

import openpyxl
import pytest

from integration.wfm.wfm_history import AHT_S, seed_history, volume_at
from testkit import Browserless, LiveServer, World, run
from tsunagi.actions import wfm as actions
from tsunagi.wfm.staffing import Target, staff_intervals

FIRST = date(2026, 11, 2)  # a Monday; four weeks of history
LAST = FIRST + timedelta(weeks=4) - timedelta(days=1)
NEXT = LAST + timedelta(days=1)
HISTORY = {
    "history_from": FIRST.isoformat(),
    "history_to": LAST.isoformat(),
    "calendar": {"holidays": False},
}


def _signed_in(server: LiveServer, world: World, role: str) -> Browserless:
    client = Browserless(server.url)
    assert client.sign_in(world.account("a", role).username).status_code == 303
    return client


@pytest.fixture
def seeded(database_url: str, world: World) -> str:
    queue = run(lambda: seed_history(database_url, world, FIRST, 4, ("voice", "chat")))
    return str(queue)


def _expected_half_hour(day: date, half: int, channel: str) -> int:
    return volume_at(day, 2 * half, channel) + volume_at(day, 2 * half + 1, channel)


def test_forecast_from_the_figures(server: LiveServer, world: World, seeded: str) -> None:
    manager = _signed_in(server, world, "manager")
    body = {**HISTORY, "queue_id": seeded, "channel": "voice", "days": 7, "holdout_weeks": 1}
    response = manager.request("POST", "/api/v1/wfm/forecast", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["queue_id"] == seeded and out["interval_minutes"] == 30
    assert out["aht_s"] == pytest.approx(AHT_S)
    assert len(out["intervals"]) == 7 * 48
    # A steady weekly pattern is forecast exactly by the weekday average.
    for row in out["intervals"]:
        start = datetime.fromisoformat(row["interval_start"])
        half = (start.hour * 60 + start.minute) // 30
        assert row["volume"] == pytest.approx(_expected_half_hour(start.date(), half, "voice"))
        assert row["actual"] is None  # the future
    assert {a["method"] for a in out["accuracy"]} == {"profile", "ets"}
    profile = next(a for a in out["accuracy"] if a["method"] == "profile")
    assert profile["wape_day"] == pytest.approx(0, abs=1e-9)

    # Forecasting a week inside the history shows the actual volume beside it.
    back = manager.request(
        "POST",
        "/api/v1/wfm/forecast",
        json={**body, "start": (LAST - timedelta(days=6)).isoformat(), "holdout_weeks": None},
    ).json()
    assert all(r["actual"] is not None for r in back["intervals"])
    assert sum(r["actual"] for r in back["intervals"]) == pytest.approx(
        sum(r["volume"] for r in back["intervals"])
    )
    manager.close()


def test_batch_forecasts_per_queue_and_channel(
    server: LiveServer, world: World, seeded: str
) -> None:
    supervisor = _signed_in(server, world, "supervisor")
    response = supervisor.request(
        "POST", "/api/v1/wfm/forecasts", json={**HISTORY, "days": 1, "interval_minutes": 60}
    )
    assert response.status_code == 200, response.text
    out = response.json()
    found = {(f["queue_id"], f["channel"]): f["total"] for f in out["forecasts"]}
    expected = {
        (seeded, channel): sum(volume_at(NEXT, q, channel) for q in range(96))
        for channel in ("chat", "voice")
    }
    assert found.keys() == expected.keys()
    assert {f["queue_name"] for f in out["forecasts"]} == {"Sales"}
    for key, total in expected.items():
        assert found[key] == pytest.approx(total)
    assert out["skipped"] == {}

    # The same from a CSV with queue and channel columns; a series too short is skipped.
    lines = ["queue,channel,interval_start,volume"]
    for offset in range(14):
        day = FIRST + timedelta(days=offset)
        lines += [f"q1,voice,{day}T{h:02d}:00:00,{10 + h}" for h in range(9, 17)]
    csv_text = "\n".join(lines) + "\n"
    from_csv = supervisor.request(
        "POST",
        "/api/v1/wfm/forecasts",
        json={"history_csv": csv_text, "days": 1, "method": "ets", "calendar": {"holidays": False}},
    ).json()
    assert from_csv["forecasts"] == [] and "q1/voice" in from_csv["skipped"]
    ok = supervisor.request(
        "POST",
        "/api/v1/wfm/forecasts",
        json={"history_csv": csv_text, "days": 1, "interval_minutes": 60},
    ).json()
    assert [(f["queue_id"], f["channel"], f["total"]) for f in ok["forecasts"]] == [
        ("q1", "voice", pytest.approx(sum(10 + h for h in range(9, 17))))
    ]
    supervisor.close()


STAFF = {
    **HISTORY,
    "channel": "voice",
    "days": 7,
    "interval_minutes": 15,
    "service_level": 0.8,
    "service_seconds": 20,
    "max_occupancy": 0.85,
    "shrinkage": 0.3,
}


def test_staffing_matches_the_maths_and_exports(
    server: LiveServer, world: World, seeded: str
) -> None:
    manager = _signed_in(server, world, "manager")
    response = manager.request("POST", "/api/v1/wfm/staffing", json=STAFF)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["aht_s"] == AHT_S and len(out["intervals"]) == 7 * 96
    volumes = [Fraction(str(r["volume"])) for r in out["intervals"]]
    table = staff_intervals(
        volumes,
        aht_s=AHT_S,
        interval_minutes=15,
        target=Target(Fraction(4, 5), 20, max_occupancy=Fraction(85, 100)),
        shrinkage=Fraction(3, 10),
    )
    assert [r["agents"] for r in out["intervals"]] == table.agents.tolist()
    assert [r["agents_with_shrinkage"] for r in out["intervals"]] == (
        table.agents_with_shrinkage.tolist()
    )
    busy = [r for r in out["intervals"] if r["volume"] > 0]
    assert busy and all(r["service_level"] >= 0.8 and r["occupancy"] <= 0.85 for r in busy)
    assert len(out["days"]) == 7

    # Erlang A with the same volumes needs no more agents than Erlang C and reports abandonment.
    erlang_a = manager.request(
        "POST",
        "/api/v1/wfm/staffing",
        json={**STAFF, "days": 1, "model": "erlang-a", "patience_s": 180},
    ).json()
    assert all(r["abandon_rate"] is not None for r in erlang_a["intervals"])
    assert sum(r["agents"] for r in erlang_a["intervals"]) <= sum(
        r["agents"] for r in out["intervals"][:96]
    )

    # The page's CSV and Excel carry the same numbers as the API.
    query = {
        "run": "1",
        "channel": "voice",
        "history_from": FIRST.isoformat(),
        "history_to": LAST.isoformat(),
        "holidays": "false",
        "days": "7",
        "interval_minutes": "15",
        "service_level": "0.8",
        "service_seconds": "20",
        "max_occupancy": "0.85",
        "shrinkage": "0.3",
    }
    exported = manager.request("GET", "/wfm/plan.csv", params=query)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [int(r["agents_with_shrinkage"]) for r in rows] == [
        r["agents_with_shrinkage"] for r in out["intervals"]
    ]
    xlsx = manager.request("GET", "/wfm/plan.xlsx", params=query)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "interval_start" and len(values) == 1 + 7 * 96

    # A special day closes, a busy season doubles, as typed into the page's calendar.
    adjusted = manager.request(
        "GET",
        "/wfm/plan.csv",
        params={
            **query,
            "special_days": f"{NEXT}=0",
            "busy_seasons": f"{NEXT + timedelta(days=1)}:{NEXT + timedelta(days=1)}=2",
        },
    )
    assert adjusted.status_code == 200, adjusted.text
    by_day: dict[str, float] = {}
    for r in csv.DictReader(io.StringIO(adjusted.content.decode("utf-8-sig"))):
        day = r["interval_start"][:10]
        by_day[day] = by_day.get(day, 0.0) + float(r["volume"])
    plain = {r["day"]: r["volume"] for r in out["days"]}
    second = str(NEXT + timedelta(days=1))
    assert by_day[str(NEXT)] == 0 and by_day[second] == pytest.approx(2 * plain[second])
    bad = manager.request("GET", "/wfm", params={**query, "busy_seasons": "March"})
    assert bad.status_code == 422 and "FIRST:LAST=FACTOR" in bad.text

    page = manager.request("GET", "/wfm", params={**query, "holdout_weeks": "1"})
    assert page.status_code == 200
    assert 'data-testid="wfm-accuracy"' in page.text
    assert 'data-testid="wfm-staffing-chart"' in page.text and 'class="bar required"' in page.text
    manager.close()


def test_uploaded_history_on_the_api_and_the_page(server: LiveServer, world: World) -> None:
    manager = _signed_in(server, world, "manager")
    lines = ["interval_start,volume,handle_time_s"]
    for offset in range(21):
        day = FIRST + timedelta(days=offset)
        lines += [f"{day}T{h:02d}:00:00+09:00,20,{20 * 240}" for h in range(9, 17)]
    text = "\n".join(lines) + "\n"
    out = manager.request(
        "POST",
        "/api/v1/wfm/staffing",
        json={
            "history_csv": text,
            "days": 2,
            "interval_minutes": 60,
            "calendar": {"holidays": False},
        },
    )
    assert out.status_code == 200, out.text
    body = out.json()
    assert body["aht_s"] == 240
    opened = [r for r in body["intervals"] if r["volume"] > 0]
    assert len(opened) == 16 and all(r["volume"] == pytest.approx(20) for r in opened)

    form = {
        "_csrf": manager.csrf,
        "days": "2",
        "interval_minutes": "60",
        "holidays": "false",
        "format": "csv",
    }
    files = {"history": ("history.csv", text.encode(), "text/csv")}
    page = manager.http.post("/wfm/upload", data=form, files=files)
    assert page.status_code == 200, page.text
    rows = list(csv.DictReader(io.StringIO(page.content.decode("utf-8-sig"))))
    assert [int(r["agents"]) for r in rows] == [r["agents"] for r in body["intervals"]]
    shown = manager.http.post("/wfm/upload", data={**form, "format": "page"}, files=files)
    assert shown.status_code == 200 and "history.csv" in shown.text

    bad = manager.http.post(
        "/wfm/upload",
        data=form,
        files={"history": ("h.csv", b"interval_start,volume\nnot-a-time,3\n", "text/csv")},
    )
    assert bad.status_code == 422 and "line 2" in bad.text
    manager.close()


SHIFTS = [
    {
        "name": "early",
        "length_minutes": 300,
        "earliest_start_minutes": 540,
        "latest_start_minutes": 540,
        "hourly_cost": 1500,
    },
    {
        "name": "late",
        "length_minutes": 240,
        "earliest_start_minutes": 720,
        "latest_start_minutes": 780,
        "hourly_cost": 1600,
        "start_step_minutes": 60,
    },
]


def test_a_long_schedule_does_not_hold_up_other_requests(
    server: LiveServer, world: World, seeded: str
) -> None:
    """CP-SAT runs in the planning pool: while a week with days off is being solved (to
    its 3-second limit), the same server keeps answering."""
    manager = _signed_in(server, world, "manager")
    body = {
        **STAFF,
        "days": 7,
        "interval_minutes": 30,
        "days_per_week": 5,
        "time_limit_s": 3,
        "shifts": [
            {
                "name": "day",
                "length_minutes": 480,
                "earliest_start_minutes": 420,
                "latest_start_minutes": 600,
                "hourly_cost": 1500,
                "break_minutes": 60,
                "break_after_min": 120,
                "break_after_max": 300,
            },
            *SHIFTS,
        ],
    }
    answers: list[int] = []
    solving = threading.Thread(
        target=lambda: answers.append(
            manager.request("POST", "/api/v1/wfm/schedule", json=body).status_code
        )
    )
    other = Browserless(server.url)
    solving.start()
    try:
        healthy = other.http.get("/api/health")
        assert healthy.status_code == 200
        assert solving.is_alive(), "the schedule finished before the check could run"
    finally:
        solving.join()
        other.close()
        manager.close()
    assert answers == [200]


def test_schedule_and_budget(server: LiveServer, world: World, seeded: str) -> None:
    manager = _signed_in(server, world, "manager")
    body = {**STAFF, "days": 2, "interval_minutes": 30, "shifts": SHIFTS, "time_limit_s": 10}
    response = manager.request("POST", "/api/v1/wfm/schedule", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["status"] in ("OPTIMAL", "FEASIBLE")
    assert all(r["under"] == 0 for r in out["intervals"])  # 09:00-17:00 is reachable
    assert all(r["scheduled"] - r["required"] == r["over"] for r in out["intervals"])
    assert out["cost"] == pytest.approx(sum(s["cost"] for s in out["shifts"]))
    assert {s["shift"] for s in out["shifts"]} <= {"early", "late"}

    budget = manager.request(
        "POST",
        "/api/v1/wfm/budget",
        json={
            **STAFF,
            "interval_minutes": 60,
            "days": 59,
            "start": "2027-01-01",
            "rates": {"agent_hourly_rate": 1500, "rent_per_month": 100000},
        },
    )
    assert budget.status_code == 200, budget.text
    scenarios = budget.json()["scenarios"]
    assert [s["scenario"] for s in scenarios] == [
        "plan",
        "SL 80/20",
        "SL 90/20",
        "SL 80/20, AHT -10 %",
    ]
    plan, _, ninety, shorter = scenarios
    assert [m["month"] for m in plan["months"]] == ["2027-01", "2027-02"]
    assert plan["fixed"] == pytest.approx(200000)
    assert ninety["agent_hours"] > plan["agent_hours"] > shorter["agent_hours"]
    no_rate = manager.request("POST", "/api/v1/wfm/budget", json={**STAFF, "days": 7})
    assert no_rate.status_code == 422 and "agent_hourly_rate" in no_rate.json()["detail"]
    manager.close()


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/v1/wfm/forecast", {"interval_minutes": 20}, "interval_minutes"),
        ("/api/v1/wfm/forecast", {"history_csv": "a,b\n1,2\n"}, "interval_start"),
        (
            "/api/v1/wfm/forecast",
            {"history_from": "2026-02-01", "history_to": "2026-01-01"},
            "history",
        ),
        ("/api/v1/wfm/staffing", {"service_level": 1.2}, "service_level"),
        ("/api/v1/wfm/staffing", {"model": "erlang-a"}, "patience_s"),
        ("/api/v1/wfm/staffing", {"volumes": [], "aht_s": 300}, "volumes"),
        ("/api/v1/wfm/staffing", {"service_level": None}, "target"),
        ("/api/v1/wfm/schedule", {"shifts": []}, "shifts"),
        ("/api/v1/wfm/forecasts", {"holdout_weeks": 2}, "holdout_weeks"),
    ],
)
def test_bad_plans_are_refused_with_a_message(
    server: LiveServer, world: World, path: str, body: dict[str, Any], words: str
) -> None:
    manager = _signed_in(server, world, "manager")
    response = manager.request("POST", path, json=body)
    assert response.status_code == 422, response.text
    assert words in response.text
    manager.close()


def test_pages_name_a_bad_field_and_keep_others_out(server: LiveServer, world: World) -> None:
    manager = _signed_in(server, world, "manager")
    page = manager.http.get("/wfm")
    assert page.status_code == 200 and 'data-testid="wfm-empty"' in page.text
    bad = manager.http.get("/wfm", params={"run": "1", "shrinkage": "lots"})
    assert bad.status_code == 422 and "shrinkage" in bad.text
    for role in ("communicator", "client_viewer"):
        other = _signed_in(server, world, role)
        assert other.request("POST", "/api/v1/wfm/forecast", json={}).status_code == 403
        assert other.http.get("/wfm").status_code == 403
        other.close()
    manager.close()


def test_the_maths_runs_off_the_event_loop() -> None:
    async def name() -> str:
        return await actions.compute(lambda: threading.current_thread().name)

    assert run(name).startswith("wfm")


def test_schedule_and_budget_pages_and_exports(
    server: LiveServer, world: World, seeded: str
) -> None:
    manager = _signed_in(server, world, "manager")
    common = {
        "run": "1",
        "queue_id": seeded,
        "channel": "voice",
        "history_from": FIRST.isoformat(),
        "history_to": LAST.isoformat(),
        "holidays": "false",
        "interval_minutes": "30",
        "shrinkage": "0.3",
    }
    shifts = {
        "shift0_name": "=cmd()",  # a formula-like name is shown as text
        "shift0_length_minutes": "300",
        "shift0_earliest_start_minutes": "540",
        "shift0_latest_start_minutes": "540",
        "shift0_hourly_cost": "1500",
        "shift1_name": "late",
        "shift1_length_minutes": "240",
        "shift1_earliest_start_minutes": "720",
        "shift1_latest_start_minutes": "780",
        "shift1_hourly_cost": "1600",
    }
    page = manager.http.get("/wfm/schedule", params={**common, **shifts, "days": "2"})
    assert page.status_code == 200, page.text
    assert 'data-testid="wfm-coverage-chart"' in page.text and 'class="line scheduled"' in page.text
    assert "=cmd()" in page.text and "<script" not in page.text.split("</header>", 1)[1]
    exported = manager.http.get("/wfm/schedule.csv", params={**common, **shifts, "days": "2"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 2 * 48 and all(int(r["under"]) == 0 for r in rows)

    budget = {
        **common,
        "days": "59",
        "start": "2027-01-01",
        "rate_agent_hourly_rate": "1500",
        "supervisor_rate": "2200",
        "supervisor_per_agents": "12",
        "rate_rent_per_month": "100000",
    }
    shown = manager.http.get("/wfm/budget", params=budget)
    assert shown.status_code == 200, shown.text
    assert 'data-testid="wfm-budget-chart"' in shown.text and "SL 90/20" in shown.text
    exported = manager.http.get("/wfm/budget.xlsx", params=budget)
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("scenario", "month") and len(values) == 1 + 4 * 2
    unknown = manager.http.get("/wfm/budget", params={**budget, "shift9_colour": "red"})
    assert unknown.status_code == 422
    manager.close()
