"""Figures by team on both databases, checked by hand: a team's counts and milliseconds are
the sums over its members' rows, and its averages and rates come from those sums — not
from averaging the members' figures (which would give other numbers here)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from testkit import Browserless, World, run
from tsunagi.actions.figures import reports
from tsunagi.actions.figures.exports import report_file
from tsunagi.actions.teams import do_create_team, do_update_team, list_teams
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import NIL, FiguresAgentDay, FiguresAgentStateDay
from tsunagi.domain.errors import ConflictError, InvalidInputError

DAY = date(2026, 3, 2)  # a Monday
# handled, talk, hold, acw (ms), 即答 yes, no — per communicator
MEASURES = {
    "communicator": (1, 100_000, 0, 20_000, 1, 0),  # AHT 120 s, FCR 100 %
    "supervisor": (3, 150_000, 0, 30_000, 1, 2),  # AHT 60 s, FCR 33 %
    "manager": (2, 200_000, 40_000, 0, 2, 0),  # AHT 120 s
    "administrator": (5, 500_000, 0, 0, 0, 0),  # AHT 100 s, in no team
}
# on_contact, available (ms): occupancy 0.6 and 0.3
STATES = {"communicator": (120_000, 80_000), "supervisor": (180_000, 420_000)}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    opened = Database(database_url)
    try:
        yield opened
    finally:
        await opened.dispose()


async def _seed(db: Database, world: World) -> tuple[uuid.UUID, uuid.UUID]:
    tenant = world.tenants["a"]
    user = {role: world.account("a", role).user_id for role in MEASURES}
    async with db.scoped(tenant) as session, session.begin():
        for role, (handled, talk, hold, acw, yes, no) in MEASURES.items():
            session.add(
                FiguresAgentDay(
                    local_day=DAY,
                    local_week=DAY,
                    local_month=DAY.replace(day=1),
                    agent_id=user[role],
                    queue_id=NIL,
                    channel="voice",
                    category="",
                    handled=handled,
                    talk_ms=talk,
                    hold_ms=hold,
                    acw_ms=acw,
                    fcr_yes=yes,
                    fcr_no=no,
                )
            )
        for role, (busy, idle) in STATES.items():
            for state, ms in (("on_contact", busy), ("available", idle)):
                session.add(
                    FiguresAgentStateDay(
                        local_day=DAY,
                        local_week=DAY,
                        local_month=DAY.replace(day=1),
                        agent_id=user[role],
                        state=state,
                        reason="",
                        state_ms=ms,
                    )
                )
    manager = world.account("a", "manager").user_id
    a = await do_create_team(
        db,
        tenant_id=tenant,
        name="Team A",
        members=[user["communicator"], user["supervisor"]],
        actor_user_id=manager,
    )
    b = await do_create_team(
        db, tenant_id=tenant, name="Team B", members=[user["manager"]], actor_user_id=manager
    )
    return a.id, b.id


def _query(**changes: object) -> reports.ReportQuery:
    values: dict[str, object] = {
        "day_from": DAY,
        "day_to": DAY,
        "table": "agents",
        "grain": "total",
        **changes,
    }
    return reports.ReportQuery(**values)  # type: ignore[arg-type]


async def test_team_figures_are_sums_over_members(db: Database, world: World) -> None:
    tenant = world.tenants["a"]
    team_a, team_b = await _seed(db, world)
    rows = await reports.report(db, tenant, _query(by=("team",)))
    by_team = {row.keys[0]: row for row in rows}
    assert set(by_team) == {str(team_a), str(team_b), ""}

    a = by_team[str(team_a)]
    # handled 1 + 3; handle time (100 + 20) + (150 + 30) s = 300 s → 75 s each, not the
    # 90 s an average of the two AHTs (120, 60) would say.
    assert a.measures["handled"] == 4
    assert a.measures["talk_ms"] == 250_000 and a.measures["acw_ms"] == 50_000
    assert a.figures["aht_s"] == 75.0
    assert a.figures["fcr_rate"] == 0.5  # 2 of 4, not the mean of 100 % and 33 %
    # busy 120 + 180 s of staffed 200 + 600 s → 0.375, not the mean 0.45
    assert a.figures["occupancy"] == 0.375

    b = by_team[str(team_b)]
    assert (b.measures["handled"], b.figures["aht_s"], b.figures["fcr_rate"]) == (2, 120.0, 1.0)
    nobody = by_team[""]
    assert (nobody.measures["handled"], nobody.figures["aht_s"]) == (5, 100.0)

    # The teams add up to the whole center.
    (whole,) = await reports.report(db, tenant, _query())
    assert whole.measures["handled"] == sum(r.measures["handled"] for r in rows) == 11

    # One team's filter: its members only, per communicator or together.
    members = await reports.report(db, tenant, _query(by=("agent",), team_id=team_a))
    assert {r.keys[0] for r in members} == {
        str(world.account("a", "communicator").user_id),
        str(world.account("a", "supervisor").user_id),
    }
    (together,) = await reports.report(db, tenant, _query(team_id=team_a))
    assert together.measures == a.measures and together.figures == a.figures

    # Moving the manager into team A moves their history with them (current membership).
    await do_update_team(
        db,
        tenant_id=tenant,
        team_id=team_a,
        name="Team A",
        members=[
            world.account("a", "communicator").user_id,
            world.account("a", "supervisor").user_id,
            world.account("a", "manager").user_id,
        ],
        actor_user_id=None,
    )
    moved = {r.keys[0]: r for r in await reports.report(db, tenant, _query(by=("team",)))}
    assert moved[str(team_a)].measures["handled"] == 6 and str(team_b) not in moved
    assert [t.members for t in await list_teams(db, tenant_id=tenant) if t.id == team_b] == [[]]


async def test_the_export_names_teams_and_bad_requests_are_refused(
    db: Database, world: World
) -> None:
    tenant = world.tenants["a"]
    team_a, _ = await _seed(db, world)
    found = await report_file(
        db, tenant, _query(by=("team",), grain="day"), locale="en", file_format="csv"
    )
    table = list(csv.DictReader(io.StringIO(found.content.decode("utf-8-sig"))))
    names = {row["team"]: (row["team_name"], row["aht_s"]) for row in table}
    assert names[str(team_a)] == ("Team A", "75.0")
    assert names[""] == ("(no team)", "100.0")

    with pytest.raises(InvalidInputError, match=r"^by: team and agent"):
        await reports.report(db, tenant, _query(by=("team", "agent")))
    with pytest.raises(InvalidInputError, match=r"^team: a team filter needs table=agents"):
        await reports.report(db, tenant, _query(table="contacts", team_id=team_a))
    with pytest.raises(InvalidInputError, match=r"^by: up to two of"):
        await reports.report(db, tenant, _query(table="contacts", by=("team",)))
    with pytest.raises(ConflictError):
        await do_create_team(db, tenant_id=tenant, name="Team A", members=[], actor_user_id=None)
    with pytest.raises(InvalidInputError, match=r"^members: no such user"):
        await do_create_team(
            db, tenant_id=tenant, name="Team C", members=[uuid.uuid4()], actor_user_id=None
        )
    assert [t.name for t in await list_teams(db, tenant_id=tenant)] == ["Team A", "Team B"]


def test_teams_api_report_and_dashboard(
    client_factory: Any, world: World, database_url: str
) -> None:
    def signed_in(role: str) -> Browserless:
        client: Browserless = client_factory()
        assert client.sign_in(world.account("a", role).username).status_code == 303
        return client

    async def seed() -> None:
        opened = Database(database_url)
        try:
            async with opened.scoped(world.tenants["a"]) as session, session.begin():
                session.add(
                    FiguresAgentDay(
                        local_day=DAY,
                        local_week=DAY,
                        local_month=DAY.replace(day=1),
                        agent_id=world.account("a", "communicator").user_id,
                        queue_id=NIL,
                        channel="voice",
                        category="",
                        handled=2,
                        talk_ms=100_000,
                        acw_ms=20_000,
                    )
                )
        finally:
            await opened.dispose()

    run(seed)
    manager, supervisor = signed_in("manager"), signed_in("supervisor")
    communicator = world.account("a", "communicator").user_id
    body = {"name": "早番", "members": [str(communicator)]}
    assert supervisor.request("POST", "/api/v1/teams", json=body).status_code == 403
    created = manager.request("POST", "/api/v1/teams", json=body)
    assert created.status_code == 201, created.text
    team_id = created.json()["id"]
    assert manager.request("POST", "/api/v1/teams", json=body).status_code == 409
    bad = manager.request("POST", "/api/v1/teams", json={"name": " ", "members": []})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("name")
    assert [t["name"] for t in supervisor.request("GET", "/api/v1/teams").json()] == ["早番"]

    params = {"table": "agents", "grain": "total", "by": "team", "day_from": str(DAY)}
    rows = supervisor.request("GET", "/api/v1/figures/report", params=params).json()["rows"]
    assert [(r["keys"], r["labels"], r["figures"]["aht_s"]) for r in rows] == [
        ([team_id], ["早番"], 60.0)
    ]
    filtered = supervisor.request(
        "GET", "/api/v1/figures/report", params={**params, "by": "agent", "team": team_id}
    ).json()["rows"]
    assert [r["keys"] for r in filtered] == [[str(communicator)]]
    exported = supervisor.request("GET", "/api/v1/figures/report.csv", params=params)
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(r["team"], r["team_name"], r["handled"]) for r in table] == [(team_id, "早番", "2")]
    refused = supervisor.request(
        "GET", "/api/v1/figures/report", params={"by": "team", "day_from": str(DAY)}
    )
    assert refused.status_code == 422 and refused.json()["detail"].startswith("by:")

    page = supervisor.request(
        "GET", "/figures", params={"day_from": str(DAY), "day_to": str(DAY), "team": team_id}
    )
    assert page.status_code == 200
    assert 'data-testid="fig-teams"' in page.text and f'data-team="{team_id}"' in page.text
    assert f'<option value="{team_id}" selected>早番</option>' in page.text
    assert "team=" not in page.text.split('data-testid="fig-csv"')[0].rsplit("href=", 1)[1]
