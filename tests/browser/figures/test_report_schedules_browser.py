"""The scheduled-reports page in a real browser: a manager creates a weekly report (a bad
address is refused naming the field, nothing added), pauses, resumes and deletes it; the
page speaks Japanese; a supervisor sees the list without the form."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from testkit import PASSWORD, LiveServer, World

pytestmark = pytest.mark.browser


def _sign_in(browser: Browser, server: LiveServer, world: World, role: str) -> Page:
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(world.account("a", role).username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")
    return page


def test_manager_creates_pauses_and_deletes_a_schedule(
    browser: Browser, server: LiveServer, world: World
) -> None:
    page = _sign_in(browser, server, world, "manager")
    page.goto(f"{server.url}/figures")
    page.get_by_test_id("fig-schedules").click()
    page.wait_for_url(f"{server.url}/figures/schedules")
    expect(page.get_by_test_id("sch-empty")).to_be_visible()
    rows = page.locator("[data-testid=sch-list] tr[data-schedule]")

    page.get_by_test_id("sch-name").fill("Weekly queues")
    page.get_by_test_id("sch-by").select_option("queue")
    page.get_by_test_id("sch-format").select_option("csv")
    page.get_by_test_id("sch-cadence").select_option("weekly")
    page.get_by_test_id("sch-weekday").select_option("2")
    page.get_by_test_id("sch-time").fill("07:30")
    page.get_by_test_id("sch-recipients-input").fill("boss@center.test\nnot-an-address")
    page.get_by_test_id("sch-create").click()
    expect(page.get_by_test_id("sch-error")).to_contain_text("recipients")
    expect(rows).to_have_count(0)

    page.get_by_test_id("sch-recipients-input").fill("boss@center.test\nsv@center.test")
    page.get_by_test_id("sch-create").click()
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("Weekly queues")
    expect(row).to_contain_text("Every Wednesday at 07:30")
    expect(row.get_by_test_id("sch-recipients")).to_have_text("b***@center.test, s***@center.test")
    expect(row.get_by_test_id("sch-last")).to_have_text("—")
    expect(page.locator("body")).not_to_contain_text("boss@center.test")

    row.get_by_test_id("sch-pause").click()
    expect(rows.first.get_by_test_id("sch-paused")).to_have_text("Paused")
    rows.first.get_by_test_id("sch-resume").click()
    expect(rows.first.get_by_test_id("sch-pause")).to_be_visible()

    page.get_by_role("button", name="日本語").click()
    expect(page.locator("h1")).to_have_text("定期レポート")
    expect(rows.first).to_contain_text("毎週水曜日 07:30")
    expect(page.get_by_test_id("sch-create")).to_have_text("作成")

    page.once("dialog", lambda dialog: dialog.accept())
    rows.first.get_by_test_id("sch-delete").click()
    expect(rows).to_have_count(0)
    expect(page.get_by_test_id("sch-empty")).to_be_visible()


def test_a_supervisor_reads_without_the_form(
    browser: Browser, server: LiveServer, world: World
) -> None:
    page = _sign_in(browser, server, world, "supervisor")
    page.goto(f"{server.url}/figures/schedules")
    expect(page.locator("h1")).to_have_text("Scheduled reports")
    expect(page.get_by_test_id("sch-form")).to_have_count(0)
