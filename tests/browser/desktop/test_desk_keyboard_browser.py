"""The desk works from the keyboard alone: ready, accept, hold/resume, end, wrap-up with a
category and 即答, close. Letter shortcuts do not fire while typing or while an IME is
composing; the help dialog lists them; buttons announce them (aria-keyshortcuts)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from browser.desktop.desk_helpers import open_desk, seed_queue
from testkit import Browserless, LiveServer, World

pytestmark = pytest.mark.browser


def test_a_contact_from_offer_to_close_by_keyboard_only(
    browser: Browser, server: LiveServer, world: World, database_url: str, admin: Browserless
) -> None:
    queue_id = seed_queue(database_url, world.tenants["a"], {})
    page = open_desk(browser, server, world.account("a", "communicator").username)
    keyboard = page.keyboard

    keyboard.press("?")
    help_dialog = page.get_by_test_id("shortcut-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.locator("tr[data-shortcut]")).to_have_count(11)
    expect(help_dialog.locator("tr[data-shortcut=close]")).to_contain_text("Ctrl+Enter")
    keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    keyboard.press("s")
    expect(page.get_by_test_id("my-state")).to_have_text("Available")
    keyboard.press("s")
    expect(page.get_by_test_id("my-state")).to_contain_text("Not ready")
    keyboard.press("s")
    expect(page.get_by_test_id("my-state")).to_have_text("Available")
    keyboard.press("/")
    search = page.get_by_test_id("desk-kb-search")
    expect(search).to_be_focused()
    keyboard.type("as")  # letters typed into the search, not shortcuts
    expect(search).to_have_value("as")
    keyboard.press("Escape")
    expect(search).not_to_be_focused()
    expect(page.get_by_test_id("my-state")).to_have_text("Available")
    contact = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["id"]
    row = page.locator(f"[data-my-contacts] li[data-contact-id='{contact_id}']")
    expect(row).to_have_attribute("data-state", "offered")
    expect(row.get_by_test_id("accept")).to_have_attribute("aria-keyshortcuts", "A")

    keyboard.press("a")
    expect(row).to_have_attribute("data-state", "connected")
    # Typing in the notes box is typing, not shortcuts: "e" does not end, "h" does not hold.
    notes = page.get_by_test_id("contact-notes")
    expect(notes).to_be_visible()  # the customer panel is drawn
    keyboard.press("n")
    expect(notes).to_be_focused()
    keyboard.type("hello there")
    expect(notes).to_have_value("hello there")
    keyboard.press("Escape")
    expect(notes).not_to_be_focused()
    # A key the IME is composing is not a shortcut either: the "e" below must not end it.
    page.evaluate(
        """document.body.dispatchEvent(new KeyboardEvent("keydown",
           {key: "e", isComposing: true, bubbles: true, cancelable: true}))"""
    )
    keyboard.press("h")
    expect(row).to_have_attribute("data-state", "on_hold")
    keyboard.press("h")
    expect(row).to_have_attribute("data-state", "connected")
    assert admin.http.get(f"/api/v1/contacts/{contact_id}").json()["state"] == "connected"

    keyboard.press("e")
    expect(row).to_have_attribute("data-state", "wrap_up")
    keyboard.press("c")
    category = row.get_by_test_id("wrap-category")
    expect(category).to_be_focused()
    keyboard.press("ArrowDown")  # "–" → the first category
    expect(category).to_have_value("delivery-time")
    keyboard.press("Tab")
    expect(row.get_by_test_id("wrap-resolved")).to_be_focused()
    keyboard.press("Space")
    expect(row.get_by_test_id("wrap-resolved")).to_be_checked()
    keyboard.press("Control+Enter")
    expect(page.locator("[data-my-contacts] li")).to_have_count(0)

    closed = admin.http.get(f"/api/v1/contacts/{contact_id}").json()
    assert (closed["state"], closed["category"], closed["resolved_first_contact"]) == (
        "closed",
        "delivery-time",
        True,
    )

    second = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    ).json()["id"]
    expect(page.locator(f"[data-my-contacts] li[data-contact-id='{second}']")).to_be_visible()
    keyboard.press("r")
    expect(page.locator("[data-my-contacts] li")).to_have_count(0)
    expect(page.get_by_test_id("my-state")).to_contain_text("Not ready")
    assert admin.http.get(f"/api/v1/contacts/{second}").json()["state"] == "queued"
    page.context.close()


def test_letter_shortcuts_can_be_turned_off(
    browser: Browser, server: LiveServer, world: World
) -> None:
    page = open_desk(browser, server, world.account("a", "communicator").username)
    page.get_by_test_id("shortcut-help-open").click()
    page.get_by_test_id("shortcuts-off").check()
    page.keyboard.press("Escape")
    page.keyboard.press("s")  # off: stays signed out
    page.keyboard.press("/")
    expect(page.get_by_test_id("desk-kb-search")).not_to_be_focused()
    page.get_by_test_id("go-ready").click()
    expect(page.get_by_test_id("my-state")).to_have_text("Available")
    page.reload()
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    page.keyboard.press("s")
    page.keyboard.press("/")
    expect(page.get_by_test_id("desk-kb-search")).not_to_be_focused()
    expect(page.get_by_test_id("my-state")).to_have_text("Available")
    page.context.close()


def test_the_wrap_up_shows_the_queues_required_fields_and_sub_reasons(
    browser: Browser, server: LiveServer, world: World, database_url: str, admin: Browserless
) -> None:
    queue_id = seed_queue(
        database_url,
        world.tenants["a"],
        {
            "required": ["category", "sub_reason", "resolved_first_contact"],
            "sub_reasons": {"delivery-time": ["午前", "夜間"]},
        },
    )
    page = open_desk(browser, server, world.account("a", "communicator").username)
    page.get_by_test_id("go-ready").click()
    contact = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    contact_id = contact.json()["id"]
    row = page.locator(f"[data-my-contacts] li[data-contact-id='{contact_id}']")
    row.get_by_test_id("accept").click()
    row.get_by_test_id("end").click()
    expect(row).to_have_attribute("data-state", "wrap_up")
    form = row.get_by_test_id("wrap-up")
    close = row.get_by_test_id("close")
    # Category and 即答 (a yes/no answer, not a checkbox) now; sub-reason once it applies.
    expect(form.locator("label.required:visible")).to_have_count(2)
    expect(row.get_by_test_id("wrap-resolved")).to_be_hidden()
    expect(close).to_be_disabled()
    sub_reason = row.get_by_test_id("wrap-sub-reason")
    expect(sub_reason).to_be_hidden()  # no category chosen yet

    row.get_by_test_id("wrap-category").select_option("billing")  # no sub-reasons
    expect(sub_reason).to_be_hidden()
    row.get_by_test_id("wrap-resolved-answer").select_option("no")
    expect(close).to_be_enabled()
    row.get_by_test_id("wrap-category").select_option("delivery-time")
    expect(sub_reason).to_be_visible()
    expect(sub_reason.locator("option")).to_have_text(["–", "午前", "夜間"])
    expect(sub_reason).to_have_attribute("aria-required", "true")
    expect(form.locator("label.required:visible")).to_have_count(3)
    expect(close).to_be_disabled()
    page.keyboard.press("Control+Enter")  # refused on the page: close is disabled
    expect(row).to_have_attribute("data-state", "wrap_up")
    sub_reason.select_option("夜間")
    expect(close).to_be_enabled()
    close.click()
    expect(page.locator("[data-my-contacts] li")).to_have_count(0)
    closed = admin.http.get(f"/api/v1/contacts/{contact_id}").json()
    assert (closed["state"], closed["category"], closed["resolved_first_contact"]) == (
        "closed",
        "delivery-time",
        False,
    )
    page.context.close()
