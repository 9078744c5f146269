"""An offered call pops the right member on the desk with history and likely products; the
communicator takes notes, wraps up with a category and 即答, and the contact is in the
member's history."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect

from testkit import PASSWORD, Browserless, LiveServer, World, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Category, Queue

pytestmark = pytest.mark.browser


def seed_queue(database_url: str, tenant_id: uuid.UUID) -> str:
    async def write() -> str:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code="delivery",
                    name_ja="宅配",
                    name_en="Home delivery",
                    channel="voice",
                    config={},
                    created_at=datetime.now(UTC),
                )
                session.add(queue)
                session.add(
                    Category(
                        code="delivery-time",
                        name_ja="配達時間",
                        name_en="Delivery time",
                        sort_order=1,
                    )
                )
            return str(queue.id)
        finally:
            await db.dispose()

    return run(write)


def test_offered_call_pops_the_member(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    queue_id = seed_queue(database_url, world.tenants["a"])
    communicator = world.account("a", "communicator")
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    profile = admin.request(
        "PATCH", f"/api/v1/agents/{communicator.user_id}/profile", json={"skills": {"delivery": 6}}
    )
    assert profile.status_code == 200, profile.text
    member = admin.request(
        "POST",
        "/api/v1/customers",
        json={
            "name": "小川 みどり",
            "vip": True,
            "identifiers": [
                {"kind": "phone", "value": "03-2222-3333"},
                {"kind": "member_no", "value": "12345678"},
            ],
        },
    ).json()["id"]
    admin.request(
        "POST",
        f"/api/v1/customers/{member}/orders",
        json={
            "number": "W-1",
            "ordered_on": "2026-11-20",
            "lines": [{"product_code": "F01", "product_name": "産直たまご", "amount_yen": 298}],
        },
    )
    neighbour = admin.request("POST", "/api/v1/customers", json={"name": "近所 の人"}).json()["id"]
    admin.request(
        "POST",
        f"/api/v1/customers/{neighbour}/orders",
        json={
            "number": "W-2",
            "ordered_on": "2026-11-21",
            "lines": [
                {"product_code": "F01", "product_name": "産直たまご", "amount_yen": 298},
                {"product_code": "F03", "product_name": "国産小麦の食パン", "amount_yen": 198},
            ],
        },
    )

    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    page.locator("form.lang button[value=en]").click()
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(communicator.username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")
    page.goto(f"{server.url}/routing/desk")
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    page.get_by_test_id("go-ready").click()

    created = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    assert created.status_code == 201, created.text
    contact = created.json()["id"]
    assert admin.request(
        "PUT", f"/api/v1/contacts/{contact}/party", json={"kind": "phone", "address": "0322223333"}
    ).json() == {"candidates": 1}

    contacts = page.get_by_test_id("my-contacts")
    contacts.get_by_test_id("accept").click()
    panel = page.get_by_test_id("customer-panel")
    expect(panel.get_by_test_id("customer-name")).to_contain_text("小川 みどり")
    expect(panel.get_by_test_id("customer-name")).to_contain_text("VIP")
    expect(panel.get_by_test_id("customer-orders")).to_contain_text("産直たまご")
    expect(panel.get_by_test_id("customer-recommended")).to_contain_text("国産小麦の食パン")
    expect(panel.get_by_test_id("customer-history")).to_contain_text("Home delivery")
    # A past call links to its recordings page (access and playback decided and audited there).
    recordings = panel.get_by_test_id("customer-history").get_by_test_id("history-recordings")
    expect(recordings.first).to_have_text("Call recordings")
    expect(recordings.first).to_have_attribute(
        "href", re.compile(r"^/contacts/[0-9a-f-]{36}/recordings$")
    )

    panel.get_by_test_id("contact-notes").fill("<script>alert(1)</script>配達を午前に変更")
    panel.get_by_role("button", name="Save notes").click()
    expect(panel).to_contain_text("Saved")
    contacts.get_by_test_id("end").click()
    contacts.get_by_test_id("wrap-category").select_option("delivery-time")
    contacts.get_by_test_id("wrap-resolved").check()
    contacts.get_by_test_id("close").click()
    expect(contacts.locator("li")).to_have_count(0)

    history = admin.http.get(
        f"/api/v1/customers/{member}/history", params={"reason": "check"}
    ).json()
    assert [(h["contact_id"], h["category"], h["resolved_first_contact"]) for h in history] == [
        (contact, "delivery-time", True)
    ]
    assert history[0]["notes"] == "<script>alert(1)</script>配達を午前に変更"
    assert page.evaluate("document.querySelectorAll('.customer-panel script').length") == 0
    admin.close()
