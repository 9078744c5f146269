"""A supervisor plans in a real browser: forecast against the actual volume, required agents,
a changed target that moves the requirement, shifts covering it, the budget's scenarios side
by side, and Excel downloads read back with openpyxl."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from browser.test_sign_in_pages import sign_in
from integration.wfm.wfm_history import seed_history
from testkit import LiveServer, World, run
from tsunagi.web.wfm.exports import STAFFING_COLUMNS

pytestmark = pytest.mark.browser


def submit(page: Page, testid: str) -> None:
    """Press a form's button and wait for the computed page (plans take seconds)."""
    with page.expect_navigation():
        page.get_by_test_id(testid).click()


def excel_rows(page: Page, testid: str, saved: Path) -> list[dict[str, object]]:
    """Click a download link, save the workbook and read its first sheet back."""
    with page.expect_download() as info:
        page.get_by_test_id(testid).click()
    assert info.value.suggested_filename.endswith(".xlsx")
    info.value.save_as(saved)
    sheet = load_workbook(saved).worksheets[0]
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return [dict(zip(header, r, strict=True)) for r in rows]


def test_supervisor_plans_staffs_schedules_budgets_and_downloads_excel(
    browser: Browser, server: LiveServer, world: World, database_url: str, tmp_path: Path
) -> None:
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    run(lambda: seed_history(database_url, world, today - timedelta(weeks=5), 5, ("voice",)))
    context = browser.new_context(locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, server, world.account("a", "supervisor").username)
    page.wait_for_url(f"{server.url}/home/**")

    # Forecast a past week: the chart shows the forecast bars and the actual volume line.
    page.get_by_role("link", name="Planning").click()
    plan = page.get_by_test_id("wfm-form")
    plan.get_by_test_id("wfm-channel").select_option("voice")
    plan.get_by_test_id("wfm-interval").select_option("60")
    plan.get_by_test_id("wfm-start").fill((today - timedelta(days=7)).isoformat())
    plan.get_by_test_id("wfm-days").fill("7")
    plan.get_by_test_id("wfm-holidays").select_option("false")
    submit(page, "wfm-run")
    forecast = page.get_by_test_id("wfm-forecast-chart")
    expect(forecast.locator("rect.bar.forecast")).to_have_count(7 * 24)
    expect(forecast.locator("polyline.line.actual")).to_have_count(1)
    staffing = page.get_by_test_id("wfm-staffing-chart")
    expect(staffing.locator("rect.bar.required")).to_have_count(7 * 24)
    expect(staffing.locator("polyline.line.net")).to_have_count(1)
    peak_80 = int(page.get_by_test_id("wfm-peak").inner_text())
    assert peak_80 > 0

    # A stricter target needs more agents at the peak.
    page.get_by_test_id("wfm-form").get_by_test_id("wfm-service_level").fill("0.95")
    submit(page, "wfm-run")
    expect(page.get_by_test_id("wfm-form").get_by_test_id("wfm-service_level")).to_have_value(
        "0.95"
    )
    peak_95 = int(page.get_by_test_id("wfm-peak").inner_text())
    assert peak_95 > peak_80

    rows = excel_rows(page, "wfm-xlsx", tmp_path / "staffing.xlsx")
    assert list(rows[0]) == STAFFING_COLUMNS  # the CLI contract plus actual, abandon_rate
    assert len(rows) == 7 * 24
    assert max(int(r["agents_with_shrinkage"]) for r in rows) == peak_95  # type: ignore[call-overload]
    assert all(float(r["service_level"]) >= 0.95 for r in rows if r["volume"])  # type: ignore[arg-type]
    assert sum(1 for r in rows if r["actual"] is not None) == 7 * 24

    # A bad value keeps the form and names the field.
    page.get_by_test_id("wfm-form").get_by_test_id("wfm-shrinkage").fill("1.5")
    submit(page, "wfm-run")
    expect(page.get_by_test_id("wfm-error")).to_contain_text("shrinkage")
    expect(page.get_by_test_id("wfm-form")).to_be_visible()
    page.get_by_test_id("wfm-form").get_by_test_id("wfm-shrinkage").fill("0.3")
    submit(page, "wfm-run")
    expect(page.get_by_test_id("wfm-peak")).to_have_text(str(peak_95))

    # Shifts for two days: required bars and the scheduled line on one chart.
    page.get_by_role("link", name="Shift schedule").click()
    shifts = page.get_by_test_id("wfm-schedule-form")
    shifts.get_by_test_id("wfm-days").fill("2")
    submit(page, "wfm-schedule-run")
    expect(page.get_by_test_id("wfm-status")).to_have_text("OPTIMAL")
    coverage = page.get_by_test_id("wfm-coverage-chart")
    expect(coverage.locator("rect.bar.required")).to_have_count(2 * 24)
    expect(coverage.locator("polyline.line.scheduled")).to_have_count(1)
    cover = excel_rows(page, "wfm-schedule-xlsx", tmp_path / "schedule.xlsx")
    assert len(cover) == 2 * 24
    assert all(int(r["scheduled"]) >= int(r["required"]) for r in cover)  # type: ignore[call-overload]

    # The budget: twelve whole months, the plan and the standard variants side by side.
    page.get_by_role("link", name="Annual budget").click()
    expect(page.get_by_test_id("wfm-start")).to_have_value(
        (today.replace(day=1) + timedelta(days=32)).replace(day=1).isoformat()
    )
    submit(page, "wfm-budget-run")
    table = page.get_by_test_id("wfm-scenarios")
    expect(table.locator("tbody tr")).to_have_count(4)
    for name in ("SL 80/20", "SL 90/20", "SL 80/20, AHT -10 %"):
        expect(table).to_contain_text(name)
    expect(page.locator('[data-testid="wfm-budget-chart"] rect.bar')).to_have_count(4 * 12)
    months = excel_rows(page, "wfm-budget-xlsx", tmp_path / "budget.xlsx")
    totals: dict[str, float] = {}
    for row in months:
        totals[str(row["scenario"])] = totals.get(str(row["scenario"]), 0.0) + float(row["total"])  # type: ignore[arg-type]
    assert len(months) == 4 * 12
    assert totals["SL 90/20"] > totals["SL 80/20"] > totals["SL 80/20, AHT -10 %"]
    context.close()
