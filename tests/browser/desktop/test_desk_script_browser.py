"""On a connected voice call the desk offers the published call scripts, filled with the
member's name and number and the communicator's name; a field the desk does not know stays
visible and marked, and the script is drawn as text (no markup from the member's record)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from browser.desktop.desk_helpers import open_desk, seed_queue
from testkit import Browserless, LiveServer, World

pytestmark = pytest.mark.browser

SCRIPT = (
    "お電話ありがとうございます。{agent.name}でございます。{customer.name}様、"
    "組合員番号{customer.member_no}でお間違いないでしょうか。お誕生日は{customer.birthday}ですね。"
)


def test_a_connected_call_shows_the_filled_script(
    browser: Browser, server: LiveServer, world: World, database_url: str, admin: Browserless
) -> None:
    queue_id = seed_queue(database_url, world.tenants["a"], {})
    for title, kind, publish in (
        ("本人確認のトーク", "script", True),
        ("下書きのトーク", "script", False),
        ("配送のFAQ", "faq", True),
    ):
        made = admin.request(
            "POST",
            "/api/v1/knowledge/articles",
            json={"title": title, "body": SCRIPT, "kind": kind, "publish": publish},
        )
        assert made.status_code == 201, made.text
    admin.request(
        "POST",
        "/api/v1/customers",
        json={
            "name": "<b>小川</b> みどり",
            "identifiers": [
                {"kind": "phone", "value": "03-2222-3333"},
                {"kind": "member_no", "value": "12345678"},
            ],
        },
    )
    page = open_desk(browser, server, world.account("a", "communicator").username)
    page.get_by_test_id("go-ready").click()
    contact_id = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    ).json()["id"]
    admin.request(
        "PUT",
        f"/api/v1/contacts/{contact_id}/party",
        json={"kind": "phone", "address": "0322223333"},
    )
    script = page.get_by_test_id("desk-script")
    row = page.locator(f"[data-my-contacts] li[data-contact-id='{contact_id}']")
    expect(row).to_have_attribute("data-state", "offered")
    expect(script).to_be_hidden()  # offered, not connected yet
    row.get_by_test_id("accept").click()
    expect(script).to_be_visible()
    picker = page.get_by_test_id("script-picker")
    expect(picker.locator("option")).to_have_text(["–", "本人確認のトーク"])
    expect(page.get_by_test_id("customer-name")).to_contain_text("みどり")
    picker.select_option(label="本人確認のトーク")
    text = page.get_by_test_id("script-text")
    expect(text).to_contain_text("communicator of aでございます。<b>小川</b> みどり様")
    expect(text).to_contain_text("組合員番号12345678で")
    expect(text.locator("mark.missing-field")).to_have_text(["{customer.birthday}"])
    expect(page.get_by_test_id("script-missing")).to_contain_text("customer.birthday")
    assert page.evaluate("document.querySelectorAll('[data-testid=script-text] b').length") == 0

    row.get_by_test_id("end").click()
    expect(script).to_be_hidden()
    page.context.close()
