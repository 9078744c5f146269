"""Web callback booking in a real browser: a customer books a slot on the public page and
sees the reference; a supervisor finds the booking in the staff list; the routing contact
waits in ``callback_scheduled`` for the slot."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from integration.booking.conftest import make_queue, slot_after
from testkit import PASSWORD, LiveServer, World, run
from tsunagi.adapters.storage.conversation_models import CallbackBooking
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Tenant
from tsunagi.adapters.storage.routing_models import RoutingContact

pytestmark = pytest.mark.browser


def slug_of(database_url: str, tenant_id: uuid.UUID) -> str:
    async def read() -> str:
        db = Database(database_url)
        try:
            async with db.system(readonly=True) as session:
                slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
            assert slug is not None
            return slug
        finally:
            await db.dispose()

    return run(read)


def contact_of(database_url: str, tenant_id: uuid.UUID, reference: str) -> RoutingContact:
    async def read() -> RoutingContact:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                booking = await session.scalar(
                    select(CallbackBooking).where(CallbackBooking.reference == reference)
                )
                assert booking is not None and booking.contact_id is not None
                contact = await session.get(RoutingContact, booking.contact_id)
            assert contact is not None
            return contact
        finally:
            await db.dispose()

    return run(read)


def signed_in(browser: Browser, server: LiveServer, username: str) -> Page:
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")
    return page


def test_a_customer_books_and_a_supervisor_sees_it(
    browser: Browser, page: Page, server: LiveServer, world: World, database_url: str
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id, booking={"topics": ["Billing", "Delivery"]})
    slot = slot_after(3)
    local_day = (slot + timedelta(hours=9)).date().isoformat()
    slug = slug_of(database_url, tenant_id)

    page.goto(f"{server.url}/book/{slug}?lang=en")
    expect(page.get_by_role("heading", name="Book a callback")).to_be_visible()
    page.get_by_test_id("booking-day").select_option(local_day)
    page.get_by_role("button", name="Show times").click()
    page.wait_for_url(re.compile(rf".*day={local_day}.*"))
    page.locator(f'input[name=slot][value="{slot.isoformat()}"]').check()
    page.get_by_label("Topic").select_option("Billing")
    page.get_by_label("Name").fill("佐藤 一郎")
    page.get_by_label("Phone number").fill("080-1111-2222")
    page.get_by_label("Member number (optional)").fill("C-778")
    page.get_by_label("Note (optional)").fill("配達日の変更")
    # The submit refuses without consent (the browser's own check on a required box).
    page.get_by_test_id("booking-submit").click()
    expect(page.get_by_test_id("booking-reference")).to_have_count(0)
    page.get_by_label(re.compile("I agree to be called back")).check()
    page.get_by_test_id("booking-submit").click()

    reference_box = page.get_by_test_id("booking-reference")
    expect(reference_box).to_have_text(re.compile(r"^[2-9A-HJ-NP-Z]{8}$"))
    reference = reference_box.inner_text()
    expect(page.get_by_test_id("booking-time")).to_contain_text(
        (slot + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")
    )

    contact = contact_of(database_url, tenant_id, reference)
    assert (contact.state, contact.channel, contact.callback_at) == (
        "callback_scheduled",
        "callback",
        slot,
    )
    assert contact.queue_id == queue_id

    supervisor = signed_in(browser, server, world.account("a", "supervisor").username)
    supervisor.get_by_role("link", name="Bookings").click()
    supervisor.wait_for_url(f"{server.url}/booking")
    supervisor.get_by_label("Day").fill(local_day)
    supervisor.get_by_role("button", name="Show").click()
    row = supervisor.locator(f'[data-testid="booking-row"][data-reference="{reference}"]')
    expect(row).to_contain_text("佐藤 一郎")
    expect(row).to_contain_text("08011112222")
    expect(row).to_contain_text("C-778")
    expect(row).to_contain_text("callback_scheduled")

    # The customer phones in to cancel; the supervisor cancels from the list.
    row.get_by_test_id("booking-cancel").click()
    expect(row).to_contain_text("Cancelled")
    expect(row.get_by_test_id("booking-cancel")).to_have_count(0)
    cancelled = contact_of(database_url, tenant_id, reference)
    assert (cancelled.state, cancelled.outcome) == ("closed", "cancelled")
    supervisor.context.close()


def test_the_page_works_from_the_keyboard_in_japanese(
    page: Page, server: LiveServer, world: World, database_url: str
) -> None:
    tenant_id = world.tenants["a"]
    make_queue(database_url, tenant_id)
    slug = slug_of(database_url, tenant_id)
    page.set_viewport_size({"width": 375, "height": 740})  # a phone
    page.goto(f"{server.url}/book/{slug}?lang=ja")
    expect(page.get_by_role("heading", name="電話予約")).to_be_visible()
    first = page.locator("input[name=slot]:not([disabled])").first
    first.focus()
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    page.get_by_label("名前").fill("山田")  # labelled fields are reachable by name
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375, "the page scrolls sideways on a phone"
