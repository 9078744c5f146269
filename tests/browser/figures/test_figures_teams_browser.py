"""The dashboard's team filter in a real browser: the "By team" table sums the team's
communicators, and choosing the team narrows the communicator table to its members."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Browser, expect

from testkit import PASSWORD, LiveServer, World, run
from tsunagi.actions.teams import do_create_team
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import NIL, FiguresAgentDay

pytestmark = pytest.mark.browser

DAY = date(2026, 3, 2)


async def _seed(database_url: str, world: World) -> None:
    db = Database(database_url)
    tenant = world.tenants["a"]
    # handled, talk ms: 1 × 120 s and 3 × 60 s → the team's AHT is 75 s (not 90 s)
    parts = {"communicator": (1, 120_000), "supervisor": (3, 180_000), "manager": (4, 400_000)}
    try:
        async with db.scoped(tenant) as session, session.begin():
            for role, (handled, talk) in parts.items():
                session.add(
                    FiguresAgentDay(
                        local_day=DAY,
                        local_week=DAY,
                        local_month=DAY.replace(day=1),
                        agent_id=world.account("a", role).user_id,
                        queue_id=NIL,
                        channel="voice",
                        category="",
                        handled=handled,
                        talk_ms=talk,
                    )
                )
        await do_create_team(
            db,
            tenant_id=tenant,
            name="早番チーム",
            members=[world.account("a", r).user_id for r in ("communicator", "supervisor")],
            actor_user_id=None,
        )
    finally:
        await db.dispose()


def test_team_filter_and_by_team_table(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    run(lambda: _seed(database_url, world))
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(world.account("a", "supervisor").username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")

    page.goto(f"{server.url}/figures?day_from={DAY}&day_to={DAY}&grain=day")
    teams = page.locator("[data-testid=fig-teams] tbody tr")
    expect(teams).to_have_count(2)  # the team and "(no team)"
    team_row = teams.filter(has_text="早番チーム")
    expect(team_row).to_contain_text("75")  # AHT from the sums
    expect(team_row).to_contain_text("4")  # handled 1 + 3
    expect(page.locator("[data-testid=fig-agents] tbody tr")).to_have_count(3)

    page.get_by_test_id("fig-team").select_option(label="早番チーム")
    page.get_by_test_id("fig-apply").click()
    expect(page.locator("[data-testid=fig-agents] tbody tr")).to_have_count(2)
    expect(teams).to_have_count(1)
    expect(page.get_by_test_id("fig-team").locator("option:checked")).to_have_text("早番チーム")
    # the contact exports stay valid (a team narrows communicator tables only)
    assert "team=" not in (page.get_by_test_id("fig-csv").get_attribute("href") or "")


def test_manager_makes_changes_and_deletes_a_team(
    browser: Browser, server: LiveServer, world: World
) -> None:
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(world.account("a", "manager").username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")
    communicator = world.account("a", "communicator")
    supervisor = world.account("a", "supervisor")

    page.goto(f"{server.url}/figures")
    page.get_by_test_id("fig-teams-link").click()
    page.wait_for_url(f"{server.url}/figures/teams")
    expect(page.get_by_test_id("team-empty")).to_be_visible()
    rows = page.locator("[data-testid=team-list] tr[data-team]")

    page.get_by_test_id("team-save").click()  # no name: the browser asks for one
    expect(rows).to_have_count(0)
    page.get_by_test_id("team-name").fill("Early shift")
    page.locator(f"input[name=members][value='{communicator.user_id}']").check()
    page.get_by_test_id("team-save").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Early shift")

    page.get_by_test_id("team-name").fill("Early shift")  # the name is taken
    page.get_by_test_id("team-save").click()
    expect(page.get_by_test_id("team-error")).to_contain_text("exists")
    expect(rows).to_have_count(1)

    page.reload()
    rows.first.get_by_test_id("team-edit").click()
    expect(page.get_by_test_id("team-name")).to_have_value("Early shift")
    page.get_by_test_id("team-name").fill("Morning")
    page.locator(f"input[name=members][value='{supervisor.user_id}']").check()
    page.get_by_test_id("team-save").click()
    expect(rows.first).to_contain_text("Morning")
    members = rows.first.get_by_test_id("team-members")
    expect(members).to_contain_text(",")  # two members now
    expect(rows).to_have_count(1)

    page.get_by_role("button", name="日本語").click()
    expect(page.locator("h1")).to_have_text("チーム")
    page.once("dialog", lambda dialog: dialog.accept())
    rows.first.get_by_test_id("team-delete").click()
    expect(rows).to_have_count(0)
