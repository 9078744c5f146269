"""The VOC page in a real browser: the month's top terms, a category filter, the page in
Japanese, and the monthly report PDF downloaded from its form and read back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from integration.figures.test_voc import seed_for_server
from testkit import PASSWORD, LiveServer, World

pytestmark = pytest.mark.browser


def test_voc_page_top_terms_filter_language_and_pdf(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    seed_for_server(server, database_url, world)
    context = browser.new_context(locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(world.account("a", "supervisor").username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")

    page.goto(f"{server.url}/figures/voc?month=2026-10")
    top = page.get_by_test_id("voc-top")
    expect(top.locator("tr[data-term]").first).to_have_attribute("data-term", "配送")
    expect(top.locator('tr[data-term="卵"]')).to_be_visible()
    expect(page.get_by_test_id("voc-texts")).to_have_text("6")
    expect(page.get_by_test_id("voc-complaints")).to_contain_text("困ります")
    page.screenshot(path="/tmp/voc/voc-page-en.png", full_page=True)

    page.get_by_test_id("voc-category").select_option("billing")
    page.get_by_test_id("voc-apply").click()
    expect(page.get_by_test_id("voc-texts")).to_have_text("1")
    expect(page.get_by_test_id("voc-phrases")).to_contain_text("料金明細")
    expect(top.locator('tr[data-term="卵"]')).to_have_count(0)

    page.get_by_role("button", name="日本語").click()
    page.goto(f"{server.url}/figures/voc?month=2026-10")
    expect(page.locator("h1")).to_have_text("お客様の声（VOC）")
    expect(page.get_by_test_id("voc-texts")).to_have_text("6")
    page.screenshot(path="/tmp/voc/voc-page-ja.png", full_page=True)

    page.get_by_test_id("voc-actions").fill("配送業者と再発防止策を確認した")
    with page.expect_download() as download_info:
        page.get_by_test_id("voc-pdf").click()
    download = download_info.value
    assert re.fullmatch(r"voc-2026-10\.pdf", download.suggested_filename)
    path = download.path()
    text = "".join("".join(p.extract_text().split()) for p in PdfReader(str(path)).pages)
    assert "月次VOCレポート2026-10" in text and "配送業者と再発防止策を確認した" in text
    assert "舟渡" not in text and "555777" not in text
    context.close()
