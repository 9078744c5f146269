"""A communicator wraps up a call with a suggested category and a follow-up task, sees it in
"My follow-ups", sees it as an open issue when the same customer calls again, and completes
it; an overdue follow-up is highlighted."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from browser.desktop.desk_helpers import open_desk, seed_queue
from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.adapters.storage.routing_models import RoutingContact

pytestmark = pytest.mark.browser

NOTE = "配送センターに確認して折り返す"


def closed_payloads(database_url: str, tenant_id: uuid.UUID) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                rows = await session.scalars(
                    select(OutboxEvent.payload).where(OutboxEvent.type == "contact.closed")
                )
                return [json.loads(row) for row in rows]
        finally:
            await db.dispose()

    return run(read)


def call_in(admin: Browserless, queue_id: str) -> str:
    created = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    assert created.status_code == 201, created.text
    contact: str = created.json()["id"]
    party = admin.request(
        "PUT", f"/api/v1/contacts/{contact}/party", json={"kind": "phone", "address": "0344445555"}
    )
    assert party.json() == {"candidates": 1}, party.text
    return contact


@pytest.fixture
def admin(server: LiveServer, world: World) -> Iterator[Browserless]:
    """An administrator's API client; the communicator has the "delivery" skill."""
    client = Browserless(server.url)
    try:
        client.sign_in(world.account("a", "administrator").username)
        communicator = world.account("a", "communicator")
        assert client.request(
            "PATCH",
            f"/api/v1/agents/{communicator.user_id}/profile",
            json={"skills": {"delivery": 6}},
        ).is_success
        yield client
    finally:
        client.close()


def add_member(admin: Browserless) -> str:
    member: str = admin.request(
        "POST",
        "/api/v1/customers",
        json={"name": "宮本 さくら", "identifiers": [{"kind": "phone", "value": "03-4444-5555"}]},
    ).json()["id"]
    return member


def ready_desk(browser: Browser, server: LiveServer, username: str) -> Page:
    page = open_desk(browser, server, username)
    page.get_by_test_id("go-ready").click()
    expect(page.get_by_test_id("my-state")).to_contain_text("Available")
    return page


def test_wrap_up_with_a_follow_up_then_complete_it(
    browser: Browser,
    server: LiveServer,
    world: World,
    database_url: str,
    admin: Browserless,
) -> None:
    queue_id = seed_queue(database_url, world.tenants["a"], {})
    communicator = world.account("a", "communicator")
    agent_api = Browserless(server.url)
    try:
        agent_api.sign_in(communicator.username)
        # Published articles with categories train the wrap-up suggester.
        for title, body, code in (
            (
                "配達時間の変更",
                "配達時間を午前や午後に変更したい。配達 時間 変更 午前",
                "delivery-time",
            ),
            ("お届け時間帯", "お届けの時間帯を夕方に。配達 時間 夕方", "delivery-time"),
            ("請求書の再発行", "請求書をなくした。請求 金額 引き落とし", "billing"),
            ("引き落とし日", "引き落としの日を知りたい。請求 口座", "billing"),
        ):
            made = admin.request(
                "POST",
                "/api/v1/knowledge/articles",
                json={"title": title, "body": body, "category_code": code, "publish": True},
            )
            assert made.status_code == 201, made.text
        customer = add_member(admin)
        page = ready_desk(browser, server, communicator.username)
        first = call_in(admin, queue_id)
        contacts = page.get_by_test_id("my-contacts")
        contacts.get_by_test_id("accept").click()
        panel = page.get_by_test_id("customer-panel")
        expect(panel.get_by_test_id("customer-name")).to_contain_text("宮本 さくら")
        panel.get_by_test_id("contact-notes").fill("配達の時間を午前に変更したい")
        contacts.get_by_test_id("end").click()

        # The suggester's first choice is offered as a button that picks the category.
        suggestion = contacts.get_by_test_id("wrap-suggestion").first
        expect(suggestion).to_have_attribute("data-code", "delivery-time")
        suggestion.click()
        expect(contacts.get_by_test_id("wrap-category")).to_have_value("delivery-time")
        contacts.get_by_test_id("wrap-next").select_option("follow_up")
        expect(contacts.get_by_test_id("wrap-follow-up-due")).to_be_visible()
        expect(contacts.get_by_test_id("wrap-callback-at")).to_be_hidden()
        contacts.get_by_test_id("wrap-follow-up-note").fill(NOTE)
        contacts.get_by_test_id("close").click()
        expect(contacts.locator("li")).to_have_count(0)

        mine = page.get_by_test_id("my-follow-ups")
        item = mine.locator("li", has_text=NOTE)
        expect(item).to_have_count(1)
        expect(item).to_contain_text("宮本 さくら · Delivery time")
        # Sent once: a second close would have answered 409 by the time the list reloaded.
        assert page.get_by_test_id("desk-error").text_content() == ""
        [closed] = closed_payloads(database_url, world.tenants["a"])
        assert closed["category"] == "delivery-time"
        assert closed["suggested_categories"][0] == "delivery-time"  # type: ignore[index]

        # An overdue follow-up (due two seconds from now, then waited for) is highlighted.
        due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        quick = agent_api.request(
            "POST", f"/api/v1/contacts/{first}/follow-ups", json={"due_at": due, "note": "至急"}
        )
        assert quick.status_code == 201, quick.text
        time.sleep(2.5)
        page.evaluate("document.dispatchEvent(new CustomEvent('desk:closed'))")
        urgent = mine.locator("li", has_text="至急")
        expect(urgent).to_have_class("due-overdue")
        expect(urgent).to_contain_text("Overdue")

        # The same customer calls again: the open follow-ups are on the screen-pop.
        call_in(admin, queue_id)
        contacts.get_by_test_id("accept").click()
        expect(panel.get_by_test_id("customer-name")).to_contain_text("宮本 さくら")
        expect(panel.get_by_test_id("customer-follow-ups")).to_contain_text(NOTE)
        expect(panel.get_by_test_id("customer-follow-ups")).to_contain_text("至急")

        # Done: it leaves my list and the customer's open follow-ups.
        item.get_by_test_id("follow-up-complete").click()
        expect(mine.locator("li", has_text=NOTE)).to_have_count(0)
        urgent.get_by_test_id("follow-up-cancel").click()
        expect(mine.locator("li")).to_have_count(0)
        still_open = admin.request(
            "GET", f"/api/v1/customers/{customer}/follow-ups", params={"reason": "check"}
        ).json()
        assert still_open == []
        done = agent_api.request("GET", "/api/v1/follow-ups", params={"state": "done"}).json()
        assert [f["note"] for f in done] == [NOTE]
    finally:
        agent_api.close()


def test_wrap_up_books_a_callback_instead(
    browser: Browser,
    server: LiveServer,
    world: World,
    database_url: str,
    admin: Browserless,
) -> None:
    queue_id = seed_queue(database_url, world.tenants["a"], {})
    communicator = world.account("a", "communicator")
    customer = add_member(admin)
    page = ready_desk(browser, server, communicator.username)
    call_in(admin, queue_id)
    contacts = page.get_by_test_id("my-contacts")
    contacts.get_by_test_id("accept").click()
    contacts.get_by_test_id("end").click()
    contacts.get_by_test_id("wrap-category").select_option("billing")
    contacts.get_by_test_id("wrap-next").select_option("callback")
    expect(contacts.get_by_test_id("wrap-follow-up-due")).to_be_hidden()
    when = contacts.get_by_test_id("wrap-callback-at")
    expect(when).to_be_visible()
    when.fill("")
    expect(contacts.get_by_test_id("close")).to_be_disabled()  # a callback needs a time
    when.fill("2030-01-15T14:30")  # too far ahead: refused, naming the field
    contacts.get_by_test_id("close").click()
    expect(page.get_by_test_id("desk-error")).to_contain_text("callback.callback_at")
    expect(contacts.locator("li")).to_have_count(1)
    local = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT14:30")
    when.fill(local)
    contacts.get_by_test_id("close").click()
    expect(contacts.locator("li")).to_have_count(0)

    async def read() -> list[dict[str, object]]:
        db = Database(database_url)
        try:
            async with db.scoped(world.tenants["a"], readonly=True) as session:
                rows = await session.scalars(
                    select(RoutingContact).where(RoutingContact.channel == "callback")
                )
                return [
                    {
                        "state": r.state,
                        "callback_at": r.callback_at,
                        "targets": list(r.target_agent_ids),
                    }
                    for r in rows
                ]
        finally:
            await db.dispose()

    scheduled = run(read)
    [callback] = scheduled
    assert callback["state"] == "callback_scheduled"
    assert callback["targets"] == [str(communicator.user_id)]
    # 14:30 in the browser's time zone, whatever it is, sent as an instant.
    expected = page.evaluate(f"new Date('{local}').toISOString()")
    assert callback["callback_at"] == datetime.fromisoformat(expected)
    # No follow-up was left; the customer's history has the booked callback (newest)
    # and the closed contact.
    assert page.get_by_test_id("my-follow-ups").locator("li").count() == 0
    history = admin.request(
        "GET", f"/api/v1/customers/{customer}/history", params={"reason": "check"}
    ).json()
    assert [(h["channel"], h["state"], h["category"]) for h in history] == [
        ("callback", "callback_scheduled", None),
        ("voice", "closed", "billing"),
    ]
