"""Sign-in, the home page of every role and the language switch, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from testkit import PASSWORD, LiveServer, World

pytestmark = pytest.mark.browser

HEADINGS = {
    "communicator": "My desk",
    "supervisor": "Floor",
    "manager": "Center overview",
    "administrator": "Administration",
    "client_viewer": "Client reports",
}


def sign_in(page: Page, server: LiveServer, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()


def switch_to_english(page: Page) -> None:
    page.locator("form.lang button[value=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize("role", list(HEADINGS))
def test_each_role_sees_its_home(page: Page, server: LiveServer, world: World, role: str) -> None:
    failed: list[str] = []  # every file the pages ask for is there
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{server.url}/login")
    switch_to_english(page)
    sign_in(page, server, world.account("a", role).username)
    expect(page).to_have_url(f"{server.url}/home/{role}")
    expect(page.get_by_test_id("home-heading")).to_have_text(HEADINGS[role])
    expect(page.get_by_test_id("who")).to_contain_text(f"{role} of a")
    expect(page.get_by_test_id("feed-status")).not_to_have_text("Connecting…", timeout=5000)
    assert failed == []
    icon = page.locator("link[rel=icon]").get_attribute("href")  # no /favicon.ico 404s
    assert icon is not None and page.request.get(f"{server.url}{icon}").ok


def test_a_wrong_password_shows_an_error(page: Page, server: LiveServer, world: World) -> None:
    page.goto(f"{server.url}/login")
    switch_to_english(page)
    sign_in(page, server, world.account("a", "manager").username, "not-the-password")
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong username or password.")
    assert not any(c["name"] == "tsunagi_session" for c in page.context.cookies())
    page.goto(f"{server.url}/home/manager")
    expect(page).to_have_url(f"{server.url}/login?next=/home/manager")


def test_switching_to_japanese(page: Page, server: LiveServer, world: World) -> None:
    page.goto(f"{server.url}/login")
    switch_to_english(page)
    sign_in(page, server, world.account("a", "supervisor").username)
    expect(page.get_by_test_id("home-heading")).to_have_text("Floor")
    page.locator("form.lang button[value=ja]").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_test_id("home-heading")).to_have_text("フロア")
    expect(page.get_by_test_id("sign-out")).to_have_text("ログアウト")
    page.reload()
    expect(page.get_by_test_id("home-heading")).to_have_text("フロア")


def test_the_live_feed_says_so_until_something_happens(
    page: Page, server: LiveServer, world: World
) -> None:
    """An empty feed is not an empty box: it says nothing has happened yet, until the first
    event the user may see arrives."""
    from testkit import Browserless

    page.goto(f"{server.url}/login")
    switch_to_english(page)
    sign_in(page, server, world.account("a", "administrator").username)
    expect(page.get_by_test_id("feed-status")).to_have_text("Live", timeout=5000)
    expect(page.get_by_test_id("feed-empty")).to_be_visible()
    expect(page.get_by_test_id("event-feed").locator("li")).to_have_count(0)
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    created = admin.request(
        "POST",
        "/api/v1/users",
        json={
            "username": "feed-newcomer",
            "display_name": "Newcomer",
            "password": "a-long-enough-password",
            "roles": ["communicator"],
        },
    )
    admin.close()
    assert created.status_code == 201, created.text
    expect(page.get_by_test_id("event-feed").locator("li").first).to_contain_text("user.created")
    expect(page.get_by_test_id("feed-empty")).to_have_count(0)
