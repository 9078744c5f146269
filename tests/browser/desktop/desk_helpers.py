"""Shared by the desk's browser tests: a voice queue with categories, a signed-in desk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from playwright.sync_api import Browser, Page, expect

from testkit import PASSWORD, LiveServer, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Category, Queue


def seed_queue(database_url: str, tenant_id: uuid.UUID, wrap_up: dict[str, object]) -> str:
    async def write() -> str:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code="delivery",
                    name_ja="宅配",
                    name_en="Home delivery",
                    channel="voice",
                    config={"wrap_up": wrap_up} if wrap_up else {},
                    created_at=datetime.now(UTC),
                )
                session.add(queue)
                for order, (code, ja, en) in enumerate(
                    [("delivery-time", "配達時間", "Delivery time"), ("billing", "請求", "Billing")]
                ):
                    session.add(Category(code=code, name_ja=ja, name_en=en, sort_order=order))
            return str(queue.id)
        finally:
            await db.dispose()

    return run(write)


def open_desk(browser: Browser, server: LiveServer, username: str) -> Page:
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    page.locator("form.lang button[value=en]").click()
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")
    page.goto(f"{server.url}/routing/desk")
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    return page
