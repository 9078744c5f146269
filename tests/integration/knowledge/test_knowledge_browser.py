"""The knowledge page in a real browser (Debian's Chromium): a communicator searches in
Japanese with the keyboard, opens the FAQ, and fills a script; a supervisor writes an
article that is found at once.

The browser fixtures are those of ``tests/browser/conftest.py``, repeated here because
this package's tests live beside the other knowledge integration tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit import CHROMIUM, PASSWORD, LiveServer, World, require, run

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - playwright is in the dev requirements
    sync_playwright = None

pytestmark = pytest.mark.browser

ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(sync_playwright is not None and Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS, env={**os.environ, "HOME": "/tmp"}
        )
        yield launched
        launched.close()


@pytest.fixture(params=["sqlite"])
def profile(request: pytest.FixtureRequest) -> str:
    """The page is the same on both profiles; the browser runs on the embedded one."""
    value: str = request.param
    return value


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


@pytest.fixture
def demo_articles(database_url: str, world: World) -> None:
    from tsunagi.adapters.storage.db import Database
    from tsunagi.demo.knowledge import load_knowledge

    async def load() -> None:
        db = Database(database_url)
        try:
            await load_knowledge(db, world.tenants["a"])
        finally:
            await db.dispose()

    run(load)


def sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/login")
    page.locator("form.lang button[value=en]").click()
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")


def test_search_open_and_fill_a_script(
    page: Page, server: LiveServer, world: World, demo_articles: None
) -> None:
    sign_in(page, server, world.account("a", "communicator").username)
    page.goto(f"{server.url}/knowledge")
    page.keyboard.press("/")
    page.keyboard.type("配送 来ない")
    first = page.get_by_test_id("kb-results").locator("li").first
    expect(first).to_contain_text("今日の配送が来ない")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("kb-article")).to_contain_text("eフレンズのマイページ")

    search = page.get_by_test_id("kb-search")
    search.fill("第一声 本人確認")
    expect(page.get_by_test_id("kb-results").locator("li").first).to_contain_text("第一声")
    search.press("Enter")
    article = page.get_by_test_id("kb-article")
    article.locator("input[name='customer.name']").fill("山田花子")
    page.get_by_test_id("kb-fill").click()
    expect(article).to_contain_text("山田花子様でいらっしゃいますね")
    expect(article).to_contain_text("agent.name")  # still to ask, listed


def test_a_supervisor_writes_an_article_found_at_once(
    page: Page, server: LiveServer, world: World
) -> None:
    sign_in(page, server, world.account("a", "supervisor").username)
    page.goto(f"{server.url}/knowledge")
    page.get_by_test_id("kb-new-title").fill("卵が割れていたとき")
    page.get_by_test_id("kb-new-body").fill("お詫びし、返金または交換します。<script>x</script>")
    page.get_by_test_id("kb-create").click()
    article = page.get_by_test_id("kb-article")
    expect(article).to_contain_text("卵が割れていたとき")
    expect(article).to_contain_text("<script>x</script>")  # shown as text, not run
    page.get_by_test_id("kb-search").fill("卵 割れた")
    expect(page.get_by_test_id("kb-results").locator("li").first).to_contain_text("卵が割れて")
