"""The figures dashboard in a real browser: charts drawn, a filter changes them, a number
opens the contacts behind it, and the page speaks Japanese."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from integration.figures.figures_seed import one_handled_contact
from testkit import PASSWORD, LiveServer, World, run

pytestmark = pytest.mark.browser


def test_dashboard_charts_filter_and_drill_down(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    run(lambda: one_handled_contact(database_url, world, "billing"))
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(world.account("a", "manager").username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")

    bars = page.locator('[data-testid="fig-volume"] rect.bar.answered')
    for _ in range(50):  # the projector folds in the background: reload until it has
        page.goto(f"{server.url}/figures")
        if bars.count() > 0:
            break
        page.wait_for_timeout(200)
    expect(bars).to_have_count(1)
    expect(page.get_by_test_id("fig-offered")).to_have_text("1")
    expect(page.get_by_test_id("fig-fcr")).to_have_text("100.0%")

    page.get_by_test_id("fig-channel").select_option("chat")
    page.get_by_test_id("fig-apply").click()
    expect(page.get_by_test_id("fig-no-data")).to_be_visible()
    expect(bars).to_have_count(0)
    expect(page.get_by_test_id("fig-offered")).to_have_text("0")

    page.get_by_test_id("fig-channel").select_option("")
    page.get_by_test_id("fig-apply").click()
    expect(bars).to_have_count(1)
    page.get_by_test_id("fig-queues").get_by_role("link", name="1").click()
    expect(page.locator("[data-testid=fig-contacts] tr[data-contact]")).to_have_count(1)
    expect(page.get_by_test_id("fig-contacts")).to_contain_text("billing")
    # The call behind the number links to its recordings (played and audited there).
    expect(page.get_by_test_id("fig-contact-recordings")).to_have_attribute(
        "href", re.compile(r"^/contacts/[0-9a-f-]{36}/recordings$")
    )

    page.goto(f"{server.url}/figures")
    page.get_by_role("button", name="日本語").click()
    expect(page.locator("h1")).to_have_text("数値")  # the navigation label "Figures"
    expect(page.get_by_test_id("fig-totals")).to_contain_text("即答率")
