"""`tsunagi wfm ...` and `tsunagi sim run` through the real command group."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tsunagi.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[3] / "docs/wfm/example-scenario.json"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), obj={})
    return result.exit_code, result.output


@pytest.fixture
def volumes(tmp_path: Path) -> Path:
    path = tmp_path / "volumes.csv"
    path.write_text(
        "interval_start,volume\n"
        "2026-04-01T09:00,100\n2026-04-01T09:15,0\n2026-04-01T09:30,2000\n"
        "2026-04-02T09:00,50\n",
        encoding="utf-8",
    )
    return path


def test_staff_contract_columns_and_values(volumes: Path) -> None:
    code, out = run(
        "wfm",
        "staff",
        "--volumes",
        str(volumes),
        "--aht-s",
        "180",
        "--interval-minutes",
        "15",
        "--sl-target",
        "0.8",
        "--sl-seconds",
        "20",
        "--max-occupancy",
        "0.85",
        "--shrinkage",
        "0.3",
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "interval_start",
        "volume",
        "traffic_erlangs",
        "agents",
        "agents_with_shrinkage",
        "service_level",
        "asa_s",
        "occupancy",
    ]
    # 50 calls / 15 min at 180 s = 10 Erlangs: the worked example, 14 agents and 20 with shrinkage.
    assert rows[3]["agents"] == "14"
    assert rows[3]["agents_with_shrinkage"] == "20"
    assert rows[1]["agents"] == "0"


def test_staff_erlang_a_adds_abandon_rate(volumes: Path) -> None:
    code, out = run(
        "wfm",
        "staff",
        "--volumes",
        str(volumes),
        "--aht-s",
        "300",
        "--interval-minutes",
        "15",
        "--model",
        "erlang-a",
        "--patience-s",
        "180",
        "--asa-target-s",
        "15",
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert "abandon_rate" in rows[0]
    assert all(float(r["asa_s"]) <= 15 for r in rows)


def test_staff_summary_by_day(volumes: Path) -> None:
    code, out = run(
        "wfm",
        "staff",
        "--volumes",
        str(volumes),
        "--aht-s",
        "300",
        "--interval-minutes",
        "15",
        "--summary",
        "day",
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["period"] for r in rows] == ["2026-04-01", "2026-04-02"]
    assert rows[0]["volume"] == "2100"


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "Could not open file"),
        ("interval_start,calls\n", [], "missing column(s) volume"),
        ("interval_start,volume\n2026-04-01T09:00,abc\n", [], "'abc' is not a number"),
        ("interval_start,volume\nyesterday,3\n", [], "not an ISO date-time"),
        ("interval_start,volume\n2026-04-01T09:00,-3\n", [], "below 0"),
        ("interval_start,volume\n2026-04-01T09:00,3\n", ["--shrinkage", "1.5"], "outside"),
        ("interval_start,volume\n2026-04-01T09:00,3\n", ["--model", "erlang-a"], "patience"),
    ],
)
def test_staff_bad_input_is_one_clear_line(
    tmp_path: Path, content: str | None, args: list[str], message: str
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out = run(
        "wfm",
        "staff",
        "--volumes",
        str(path),
        "--aht-s",
        "300",
        "--interval-minutes",
        "15",
        *args,
    )
    assert code != 0
    assert message in out
    assert "Traceback" not in out


def test_forecast_and_backtest(tmp_path: Path) -> None:
    lines = ["interval_start,volume"]
    for day in range(1, 29):  # four weeks of February 2026, two half-hours a day
        lines += [f"2026-02-{day:02d}T09:00,{20 + day % 7}", f"2026-02-{day:02d}T09:30,10"]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run(
        "wfm", "forecast", "--history", str(path), "--days", "7", "--special-day", "2026-03-03=2"
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["interval_start"] == "2026-03-01T09:00:00"
    assert len(rows) == 14
    by_day = {r["interval_start"][:10] for r in rows}
    assert len(by_day) == 7
    code, out = run(
        "wfm", "forecast", "--history", str(path), "--backtest-weeks", "1", "--no-holidays"
    )
    assert code == 0, out
    assert out.splitlines()[0].startswith("method,mape_interval")
    code, out = run("wfm", "forecast", "--history", str(path), "--open-weekdays", "9")
    assert code != 0
    assert "weekdays are 0" in out


def test_sim_run_text_and_json() -> None:
    code, out = run("sim", "run", str(EXAMPLE), "--seed", "3")
    assert code == 0, out
    assert out.splitlines()[0].split()[:2] == ["queue", "offered"]
    code, out = run("sim", "run", str(EXAMPLE), "--seed", "3", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert set(data["queues"]) == {"general", "vip"}
    assert data["total"]["offered"] == sum(q["total"]["offered"] for q in data["queues"].values())
    again = json.loads(run("sim", "run", str(EXAMPLE), "--seed", "3", "--format", "json")[1])
    assert again == data


def test_sim_run_blended_example_prints_what_the_guide_shows() -> None:
    # docs/wfm/guide.md shows this output for the ring-time and chat-capacity example.
    blended = EXAMPLE.with_name("example-scenario-blended.json")
    code, out = run("sim", "run", str(blended), "--seed", "1")
    assert code == 0, out
    guide = EXAMPLE.with_name("guide.md").read_text(encoding="utf-8")
    for line in out.splitlines():
        assert line in guide


def test_sim_run_bad_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"queues": []}', encoding="utf-8")
    code, out = run("sim", "run", str(path))
    assert code != 0
    assert "agent_groups" in out
    assert "Traceback" not in out


DOCS = Path(__file__).resolve().parents[3] / "docs/wfm"


def test_schedule_covers_the_staff_output(tmp_path: Path) -> None:
    required = tmp_path / "required.csv"
    rows = ["interval_start,agents_with_shrinkage"]
    for day in (1, 2):
        for k, need in enumerate([2, 4, 6, 6, 5, 4, 4, 3, 2, 2, 1, 1]):
            rows.append(f"2027-03-0{day}T{9 + k // 2:02d}:{30 * (k % 2):02d},{need}")
    required.write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = [
        "wfm",
        "schedule",
        "--required",
        str(required),
        "--shifts",
        str(DOCS / "example-shifts.json"),
        "--interval-minutes",
        "30",
        "--time-limit-s",
        "5",
    ]
    code, out = run(*args)
    assert code == 0, out
    # The status line goes to stderr, which the test runner mixes into the output.
    lines = [r for r in csv.DictReader(io.StringIO(out)) if r["interval_start"][:4] == "2027"]
    assert "status OPTIMAL" in out
    assert len(lines) == 24
    assert all(int(r["scheduled"]) >= int(r["required"]) for r in lines)
    assert all(int(r["under"]) == 0 for r in lines)
    code, out = run(*args, "--show", "shifts")
    assert code == 0, out
    assert out.splitlines()[0] == "day,shift,start,end,break_start,agents,cost"
    bad = tmp_path / "shifts.json"
    bad.write_text('[{"name": "x"}]', encoding="utf-8")
    code, out = run(
        "wfm",
        "schedule",
        "--required",
        str(required),
        "--shifts",
        str(bad),
        "--interval-minutes",
        "30",
    )
    assert code != 0
    assert "length_minutes" in out


def test_budget_compares_scenarios(tmp_path: Path) -> None:
    volumes = tmp_path / "year.csv"
    rows = ["interval_start,volume"]
    for month in range(1, 13):
        for hour in range(9, 18):
            rows.append(f"2027-{month:02d}-05T{hour:02d}:00,{200 if month == 3 else 120}")
    volumes.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, out = run(
        "wfm",
        "budget",
        "--volumes",
        str(volumes),
        "--config",
        str(DOCS / "example-budget.json"),
        "--interval-minutes",
        "60",
    )
    assert code == 0, out
    assert "| SL 90/20 |" in out
    code, out = run(
        "wfm",
        "budget",
        "--volumes",
        str(volumes),
        "--config",
        str(DOCS / "example-budget.json"),
        "--interval-minutes",
        "60",
        "--format",
        "csv",
    )
    assert code == 0, out
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 36
    march = [r for r in table if r["month"] == "2027-03"]
    assert all(r["season"] == "busy" for r in march)


def test_forecast_with_handle_time(tmp_path: Path) -> None:
    lines = ["interval_start,volume,handle_s"]
    for day in range(1, 29):
        lines += [f"2026-02-{day:02d}T09:00,10,2000", f"2026-02-{day:02d}T09:30,20,6000"]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run(
        "wfm",
        "forecast",
        "--history",
        str(path),
        "--days",
        "2",
        "--handle-time-column",
        "handle_s",
        "--no-holidays",
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["aht_s"] for r in rows] == ["200.0", "300.0", "200.0", "300.0"]
    assert rows[0]["volume"] == "10.00"


def test_forecast_busy_season(tmp_path: Path) -> None:
    lines = ["interval_start,volume"]
    for day in range(1, 29):
        lines.append(f"2026-02-{day:02d}T09:00,100")
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run(
        "wfm",
        "forecast",
        "--history",
        str(path),
        "--days",
        "3",
        "--no-holidays",
        "--busy-season",
        "2026-03-02:2026-03-03=1.5",
    )
    assert code == 0, out
    volumes = [r["volume"] for r in csv.DictReader(io.StringIO(out))]
    assert volumes == ["100.00", "150.00", "150.00"]
    code, out = run("wfm", "forecast", "--history", str(path), "--busy-season", "soon")
    assert code != 0
    assert "START:END=FACTOR" in out


def test_budget_from_a_schedule(tmp_path: Path) -> None:
    volumes = tmp_path / "v.csv"
    volumes.write_text(
        "interval_start,volume\n2027-01-05T09:00,40\n2027-02-05T09:00,40\n", encoding="utf-8"
    )
    coverage = tmp_path / "coverage.csv"
    coverage.write_text(
        "interval_start,required,scheduled,over,under\n"
        "2027-01-05T09:00:00,10,12,2,0\n2027-02-05T09:00:00,10,10,0,0\n",
        encoding="utf-8",
    )
    base = [
        "wfm",
        "budget",
        "--volumes",
        str(volumes),
        "--config",
        str(DOCS / "example-budget.json"),
        "--interval-minutes",
        "60",
        "--format",
        "csv",
    ]
    code, out = run(*base, "--scheduled", str(coverage))
    assert code == 0, out
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["scenario"] == "SL 80/20"]
    assert [r["agent_hours"] for r in rows] == ["12.0", "10.0"]
    coverage.write_text("interval_start,scheduled\n2027-01-05T09:00:00,12\n", encoding="utf-8")
    code, out = run(*base, "--scheduled", str(coverage))
    assert code != 0
    assert "no scheduled count for 2027-02-05T09:00:00" in out


def test_forecast_batch_per_queue_and_channel(tmp_path: Path) -> None:
    lines = ["queue,channel,interval_start,volume"]
    for day in range(1, 29):  # four weeks of February 2026, two series and a short one
        for hour in range(9, 12):
            stamp = f"2026-02-{day:02d}T{hour:02d}:00"
            lines.append(f"sales,voice,{stamp},{10 + hour}")
            lines.append(f"sales,chat,{stamp},3")
    lines.append("tiny,voice,2026-02-28T09:00,oops")
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run("wfm", "forecast", "--history", str(path), "--by", "queue,channel")
    assert code == 1 and "line" in out and "oops" in out  # a bad cell names its line

    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        [
            "wfm",
            "forecast",
            "--history",
            str(path),
            "--by",
            "queue,channel",
            "--days",
            "2",
            "--interval-minutes",
            "60",
            "--no-holidays",
        ],
        obj={},
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(r["queue"], r["channel"]) for r in rows} == {("sales", "voice"), ("sales", "chat")}
    assert len(rows) == 2 * 2 * 24
    voice = {r["interval_start"]: float(r["volume"]) for r in rows if r["channel"] == "voice"}
    assert voice["2026-03-01T09:00:00"] == 19 and voice["2026-03-01T13:00:00"] == 0
    chat_total = sum(float(r["volume"]) for r in rows if r["channel"] == "chat")
    assert chat_total == 2 * 3 * 3

    code, out = run("wfm", "forecast", "--history", str(path), "--by", "team")
    assert code == 1 and "team" in out
