"""Planning in a real browser: a manager opens /wfm, forecasts and staffs a week from the
center's own figures, sees the charts, downloads the CSV; the page speaks Japanese."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from integration.wfm.wfm_history import seed_history
from testkit import PASSWORD, LiveServer, World, run

pytestmark = pytest.mark.browser


def test_planner_forecasts_staffs_and_downloads(
    browser: Browser, server: LiveServer, world: World, database_url: str, tmp_path: Path
) -> None:
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    first = today - timedelta(weeks=4)
    run(lambda: seed_history(database_url, world, first, 4, ("voice",)))
    context = browser.new_context(locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(world.account("a", "manager").username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")

    page.get_by_role("link", name="Planning").click()
    expect(page.get_by_test_id("wfm-empty")).to_be_visible()
    plan = page.get_by_test_id("wfm-form")
    plan.get_by_test_id("wfm-channel").select_option("voice")
    plan.get_by_test_id("wfm-interval").select_option("60")
    plan.get_by_test_id("wfm-days").fill("7")
    plan.get_by_test_id("wfm-shrinkage").fill("0.3")
    plan.get_by_test_id("wfm-run").click()

    bars = page.locator('[data-testid="wfm-staffing-chart"] rect.bar.required')
    expect(bars).to_have_count(7 * 24)
    forecast = page.locator('[data-testid="wfm-forecast-chart"] rect.bar.forecast')
    expect(forecast).to_have_count(7 * 24)
    expect(page.get_by_test_id("wfm-aht")).to_have_text("300.0s")
    expect(page.locator("[data-testid=wfm-days] tbody tr")).to_have_count(7)
    peak = int(page.get_by_test_id("wfm-peak").inner_text())
    assert peak > 0

    with page.expect_download() as info:
        page.get_by_test_id("wfm-csv").click()
    saved = tmp_path / "plan.csv"
    info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 7 * 24
    assert max(int(r["agents_with_shrinkage"]) for r in rows) == peak

    page.get_by_role("button", name="日本語").click()
    expect(page.locator("h1")).to_have_text("要員計画")
    context.close()
