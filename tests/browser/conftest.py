"""Playwright driving Debian's Chromium, headless, against a live server on SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit import CHROMIUM, require

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - playwright is in the dev requirements
    sync_playwright = None

ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while
    it is open, which would break asyncio in the tests that follow on the same worker."""
    require(sync_playwright is not None and Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS, env={**os.environ, "HOME": "/tmp"}
        )
        yield launched
        launched.close()


@pytest.fixture(params=["sqlite"])
def profile(request: pytest.FixtureRequest) -> str:
    """Pages are the same on both profiles; the browser tests run on the embedded one."""
    value: str = request.param
    return value


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
