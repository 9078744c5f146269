"""The fast path of reports (``actions.figures.tables``, ``GET /api/v1/figures/table``)
gives exactly the table of ``reports.report`` on both profiles: random interval and day
rows of two tenants, every grain, dimensions, filters, contacts and agents (with agent
states), compared value for value and type for type; the other tenant's rows never count."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from testkit import Browserless, LiveServer, World, run
from tsunagi.actions.figures import reports, tables
from tsunagi.actions.figures.store import refresh_rollups
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import (
    NIL,
    FiguresAgentDay,
    FiguresAgentInterval,
    FiguresAgentState,
    FiguresAgentStateDay,
    FiguresContactDay,
    FiguresContactInterval,
)
from tsunagi.figures.definitions import AGENT_STATES, AGENT_SUMS, CONTACT_SUMS

FIRST = date(2025, 2, 24)  # a Monday; ten days cross a week and a month
DAYS = 10
CHANNELS = ("voice", "chat")
CATEGORIES = ("", "a", "B", "é", "z-1")  # case and non-ASCII: the order must match
TOKYO = timedelta(hours=9)


def _calendar(start: datetime) -> dict[str, date]:
    day = (start + TOKYO).date()
    return {
        "local_day": day,
        "local_week": day - timedelta(days=day.weekday()),
        "local_month": day.replace(day=1),
    }


def _contact_measures(rng: random.Random) -> dict[str, int]:
    answered = rng.choice((0, 0, 1, 2, 5))
    abandoned = rng.choice((0, 0, 1, 3))
    short = rng.randint(0, abandoned)
    values = {name: rng.randint(0, 3) for name in CONTACT_SUMS}
    values.update(
        offered=answered + abandoned,
        answered=answered,
        abandoned=abandoned,
        short_abandoned=short,
        answered_in_sl=rng.randint(0, answered),
        wait_answered_ms=rng.randint(0, 90_000) * answered,
        wait_abandoned_ms=rng.randint(0, 90_000) * abandoned,
        talk_ms=rng.randint(0, 600_000) * answered,
        hold_ms=rng.randint(0, 60_000) * answered,
        acw_ms=rng.randint(0, 120_000) * answered,
        csat_score_sum=rng.randint(0, 15),
        wait_max_ms=rng.randint(0, 200_000),
    )
    return values


def _agent_measures(rng: random.Random) -> dict[str, int]:
    handled = rng.choice((0, 1, 1, 3))
    values = {name: rng.randint(0, 3) for name in AGENT_SUMS}
    values.update(
        handled=handled,
        talk_ms=rng.randint(0, 600_000) * handled,
        hold_ms=rng.randint(0, 60_000) * handled,
        acw_ms=rng.randint(0, 120_000) * handled,
    )
    return values


def _added(target: dict[Any, dict[str, int]], key: Any, measures: dict[str, int]) -> None:
    slot = target.setdefault(key, dict.fromkeys(measures, 0))
    for name, value in measures.items():
        slot[name] = max(slot[name], value) if name == "wait_max_ms" else slot[name] + value


async def _seed(db: Database, tenant: uuid.UUID, seed: int) -> dict[str, list[uuid.UUID]]:
    """Random 15-minute rows of one tenant and the day rows that sum them."""
    rng = random.Random(seed)
    queues = [NIL, *(uuid.uuid4() for _ in range(3))]
    agents = [uuid.uuid4() for _ in range(4)]
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    contacts: dict[Any, dict[str, int]] = {}
    agent_rows: dict[Any, dict[str, int]] = {}
    state_rows: dict[Any, dict[str, int]] = {}
    for day in range(DAYS):
        for slot in rng.sample(range(40), 12):
            at = start + timedelta(days=day, minutes=15 * slot)
            for _ in range(rng.randint(1, 6)):
                key = (at, rng.choice(queues), rng.choice(CHANNELS), rng.choice(CATEGORIES))
                _added(contacts, key, _contact_measures(rng))
            for _ in range(rng.randint(0, 4)):
                key = (
                    at,
                    rng.choice(agents),
                    rng.choice(queues),
                    rng.choice(CHANNELS),
                    rng.choice(CATEGORIES),
                )
                _added(agent_rows, key, _agent_measures(rng))
            for agent in rng.sample(agents, 3):
                state = rng.choice(AGENT_STATES)
                key = (at, agent, state, rng.choice(("", "break")))
                _added(state_rows, key, {"state_ms": rng.randint(1, 900_000)})
    rows: list[Any] = []
    contact_days: dict[Any, dict[str, int]] = {}
    for (at, queue, channel, category), m in contacts.items():
        where = {"queue_id": queue, "channel": channel, "category": category}
        rows.append(FiguresContactInterval(interval_start=at, **_calendar(at), **where, **m))
        _added(contact_days, (_calendar(at)["local_day"], queue, channel, category), m)
    for (day, queue, channel, category), m in contact_days.items():
        where = {"queue_id": queue, "channel": channel, "category": category}
        rows.append(FiguresContactDay(**_calendar(_midnight(day)), **where, **m))
    agent_days: dict[Any, dict[str, int]] = {}
    for (at, agent, queue, channel, category), m in agent_rows.items():
        where = {"agent_id": agent, "queue_id": queue, "channel": channel, "category": category}
        rows.append(FiguresAgentInterval(interval_start=at, **_calendar(at), **where, **m))
        _added(agent_days, (_calendar(at)["local_day"], agent, queue, channel, category), m)
    for (day, agent, queue, channel, category), m in agent_days.items():
        where = {"agent_id": agent, "queue_id": queue, "channel": channel, "category": category}
        rows.append(FiguresAgentDay(**_calendar(_midnight(day)), **where, **m))
    state_days: dict[Any, dict[str, int]] = {}
    for (at, agent, state, reason), m in state_rows.items():
        where = {"agent_id": agent, "state": state, "reason": reason}
        rows.append(FiguresAgentState(interval_start=at, **_calendar(at), **where, **m))
        _added(state_days, (_calendar(at)["local_day"], agent, state, reason), m)
    for (day, agent, state, reason), m in state_days.items():
        where = {"agent_id": agent, "state": state, "reason": reason}
        rows.append(FiguresAgentStateDay(**_calendar(_midnight(day)), **where, **m))
    async with db.scoped(tenant) as session, session.begin():
        session.add_all(rows)
        await session.flush()
        # The roll-ups without the category, as migration 0016 fills them from these
        # rows: the fast path reads them when a report neither groups nor filters by
        # category, so the comparison below checks them against the category rows.
        await refresh_rollups(session, tenant)
    return {"queues": queues, "agents": agents}


def _midnight(day: date) -> datetime:
    """A UTC time whose Tokyo day is ``day`` (for ``_calendar``)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _queries(made: dict[str, list[uuid.UUID]]) -> list[reports.ReportQuery]:
    span = {"day_from": FIRST, "day_to": FIRST + timedelta(days=DAYS - 1)}
    found = []
    for grain in ("15", "30", "60", "day", "week", "month", "total"):
        for by in ((), ("queue",), ("queue", "category"), ("channel", "category")):
            found.append(reports.ReportQuery(**span, grain=grain, by=by))
        for by in ((), ("agent",), ("agent", "queue"), ("category",)):
            found.append(reports.ReportQuery(**span, table="agents", grain=grain, by=by))
    # Spans with whole months (read from the month rows) and edge days (from the day rows).
    for day_from, day_to in (
        (date(2025, 2, 1), date(2025, 3, 31)),
        (date(2025, 2, 25), date(2025, 3, 31)),
        (date(2025, 1, 15), date(2025, 3, 3)),
        (date(2024, 12, 31), date(2025, 3, 1)),
    ):
        for grain in ("month", "total"):
            edges = {"day_from": day_from, "day_to": day_to, "grain": grain}
            found += [
                reports.ReportQuery(**edges, by=("queue",)),
                reports.ReportQuery(**edges, table="agents", by=("agent",)),
                reports.ReportQuery(**edges, table="agents", by=("agent", "queue")),
                reports.ReportQuery(**edges, table="agents"),
            ]
    found += [
        reports.ReportQuery(**span, grain="15", by=("queue",), exclude_short_abandons=False),
        reports.ReportQuery(**span, grain="15", by=("category",), queue_id=made["queues"][1]),
        reports.ReportQuery(**span, grain="day", by=("queue",), channel="chat", category="é"),
        reports.ReportQuery(**span, grain="15", by=("queue",), queue_id=NIL),
        reports.ReportQuery(
            **span, table="agents", grain="total", by=("agent",), agent_id=made["agents"][0]
        ),
        reports.ReportQuery(**span, table="agents", grain="15", by=("agent",), category="a"),
        reports.ReportQuery(day_from=FIRST, day_to=FIRST, grain="15", by=("queue",)),
        reports.ReportQuery(day_from=date(2030, 1, 1), day_to=date(2030, 1, 2), grain="15"),
        reports.ReportQuery(day_from=date(2030, 1, 1), day_to=date(2030, 1, 2), grain="total"),
        reports.ReportQuery(
            day_from=date(2030, 1, 1), day_to=date(2030, 1, 2), table="agents", grain="total"
        ),
    ]
    return found


def _exact(rows: list[reports.ReportRow]) -> list[Any]:
    """Rows with each value's type, so 1 and 1.0 (or 0 and None) are told apart."""
    return [
        (
            r.bucket,
            r.keys,
            [(n, type(v).__name__, v) for n, v in r.measures.items()],
            [(n, type(v).__name__, v) for n, v in r.figures.items()],
        )
        for r in rows
    ]


async def test_the_fast_path_gives_the_reports_table(database_url: str, world: World) -> None:
    db = Database(database_url)
    try:
        made = await _seed(db, world.tenants["a"], seed=6)
        await _seed(db, world.tenants["b"], seed=7)  # the other tenant: never counted
        compared = fast = 0
        for query in _queries(made):
            expected = await reports.report(db, world.tenants["a"], query)
            found = await tables.report_table(db, world.tenants["a"], query)
            assert _exact(found.rows()) == _exact(expected), query
            compared += len(expected)
            fast += tables.is_fast(query)
        assert compared > 5_000 and fast >= 40
        # What the comparison covers: zero denominators (None) and agent states.
        total = await tables.report_table(
            db,
            world.tenants["a"],
            reports.ReportQuery(
                day_from=FIRST, day_to=FIRST + timedelta(days=DAYS - 1), grain="15", by=("queue",)
            ),
        )
        figures = total.columns()[1]
        assert None in figures["asa_s"] and None not in figures["longest_wait_s"]
        agents = await tables.report_table(db, world.tenants["a"], _agents_query())
        assert all(value is not None for value in agents.columns()[1]["occupancy"])
        # Tenant b's table is its own: not a's, not a's plus b's.
        other = await tables.report_table(db, world.tenants["b"], _agents_query())
        assert set(other.keys[0]).isdisjoint(agents.keys[0])
        assert _exact(other.rows()) == _exact(
            await reports.report(db, world.tenants["b"], _agents_query())
        )
    finally:
        await db.dispose()


def _agents_query() -> reports.ReportQuery:
    return reports.ReportQuery(
        day_from=FIRST,
        day_to=FIRST + timedelta(days=DAYS - 1),
        table="agents",
        grain="total",
        by=("agent",),
    )


def test_the_table_api_equals_the_report_api(
    server: LiveServer, world: World, database_url: str
) -> None:
    async def seed() -> None:
        db = Database(database_url)
        try:
            await _seed(db, world.tenants["a"], seed=11)
            await _seed(db, world.tenants["b"], seed=12)
        finally:
            await db.dispose()

    run(seed)
    client = Browserless(server.url)
    try:
        assert client.sign_in(world.account("a", "manager").username).status_code == 303
        span = {"day_from": FIRST.isoformat(), "day_to": (FIRST + timedelta(days=9)).isoformat()}
        for params in (
            {"grain": "15", "by": "queue"},
            {"grain": "15", "by": "queue", "exclude_short_abandons": "false"},
            {"table": "agents", "grain": "total", "by": "agent"},
            {"table": "agents", "grain": "day", "by": "agent,category"},
            {"grain": "60", "by": "category"},
            {"table": "agents", "grain": "day", "by": "team"},  # left to reports.report
        ):
            asked = {**span, **params}
            rows = client.request("GET", "/api/v1/figures/report", params=asked)
            columns = client.request("GET", "/api/v1/figures/table", params=asked)
            assert rows.status_code == columns.status_code == 200
            assert _from_columns(columns.json()) == _typed(rows.json()["rows"]), params
            assert columns.json()["rows"] == len(rows.json()["rows"]) > 0
        refused = client.request("GET", "/api/v1/figures/table", params={"grain": "7"})
        assert refused.status_code in (400, 422)
    finally:
        client.close()
    communicator = Browserless(server.url)
    try:
        assert communicator.sign_in(world.account("a", "communicator").username).status_code == 303
        denied = communicator.request("GET", "/api/v1/figures/table", params=span)
        assert denied.status_code == 403
    finally:
        communicator.close()


def _typed(rows: list[dict[str, Any]]) -> list[Any]:
    return [
        (
            row["bucket"],
            row["keys"],
            row["labels"],
            [(n, type(v).__name__, v) for n, v in row["measures"].items()],
            [(n, type(v).__name__, v) for n, v in row["figures"].items()],
        )
        for row in rows
    ]


def _from_columns(body: dict[str, Any]) -> list[Any]:
    size = body["rows"]
    measures, figures = body["measures"], body["figures"]
    return [
        (
            body["buckets"][i],
            [keys[i] for keys in body["keys"]],
            [labels[i] for labels in body["labels"]],
            [(n, type(values[i]).__name__, values[i]) for n, values in measures.items()],
            [(n, type(values[i]).__name__, values[i]) for n, values in figures.items()],
        )
        for i in range(size)
    ]
