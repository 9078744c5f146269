"""A visitor chats from the widget on a client's site (another origin); a communicator in
another browser context answers with a canned reply and a knowledge link; the transcript
lands in the member's history."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from integration.routing.test_routing_api import add_queue
from testkit import PASSWORD, LiveServer, World, free_port, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Tenant

pytestmark = pytest.mark.browser


@pytest.fixture
def client_site(tmp_path: Path, server: LiveServer) -> Iterator[tuple[str, Path]]:
    """A stand-in for the client's own web site: a static server on another port."""
    port = free_port()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", tmp_path
    httpd.shutdown()
    httpd.server_close()


def sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/login")
    page.locator("form.lang button[value=en]").click()
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")


def test_visitor_and_communicator_chat_in_two_browsers(
    browser: Browser,
    server: LiveServer,
    world: World,
    database_url: str,
    client_site: tuple[str, Path],
    client_factory: Any,
) -> None:
    site, site_root = client_site
    queue_id = add_queue(database_url, world.tenants["a"], "webchat")
    mail_queue = add_queue(database_url, world.tenants["a"], "mail")
    admin = client_factory()  # closed by the fixture even when an assertion fails
    admin.sign_in(world.account("a", "administrator").username)
    communicator = world.account("a", "communicator")
    assert (
        admin.request(
            "PATCH",
            f"/api/v1/agents/{communicator.user_id}/profile",
            json={"skills": {"webchat": 5}, "capacity": {"chat": 3}},
        ).status_code
        == 200
    )
    member = admin.request(
        "POST",
        "/api/v1/customers",
        json={"name": "小川 みどり", "identifiers": [{"kind": "member_no", "value": "12345678"}]},
    ).json()["id"]
    supervisor = client_factory()
    supervisor.sign_in(world.account("a", "supervisor").username)
    canned = supervisor.request(
        "POST",
        "/api/v1/knowledge/articles",
        json={
            "title": "Greeting",
            "body": "{customer_name}様、お問い合わせありがとうございます。",
            "kind": "script",
            "publish": True,
        },
    )
    assert canned.status_code == 201, canned.text
    article = supervisor.request(
        "POST",
        "/api/v1/knowledge/articles",
        json={
            "title": "配送日の変更",
            "body": "配送日はマイページから変更できます。",
            "kind": "faq",
            "visibility": "public",
            "publish": True,
        },
    )
    assert article.status_code == 201, article.text
    widget = admin.request(
        "POST",
        "/api/v1/chat/widgets",
        json={
            "name": "co-op site",
            "topics": [
                {"code": "order", "label_ja": "ご注文", "label_en": "Orders", "queue_id": queue_id}
            ],
            "offline_queue_id": mail_queue,
            "allowed_origins": [site],
        },
    ).json()["id"]
    (site_root / "index.html").write_text(
        "<!doctype html><html><body><h1>Izumi co-op</h1>"
        f'<script src="{server.url}/static/chat/widget.js" data-widget="{widget}" '
        'data-lang="ja" async></script></body></html>',
        encoding="utf-8",
    )

    desk = browser.new_context(locale="en-US").new_page()
    desk.set_default_timeout(10_000)
    sign_in(desk, server, communicator.username)
    desk.goto(f"{server.url}/routing/desk")
    expect(desk.locator("[data-live-status]")).to_have_text("Live")
    desk.get_by_test_id("go-ready").click()

    visitor = browser.new_context(locale="ja-JP").new_page()
    visitor.set_default_timeout(10_000)
    visitor.goto(f"{site}/index.html")
    widget_root = visitor.locator("[data-tsunagi-chat]")
    widget_root.get_by_test_id("chat-launcher").click()
    form = widget_root.get_by_test_id("chat-prechat")
    form.locator("input[name=name]").fill("小川 みどり")
    form.locator("input[name=member_no]").fill("12345678")
    form.locator("button[type=submit]").click()
    widget_root.get_by_test_id("chat-input").fill(
        "配送日を変えたいです <img src=x onerror=alert(1)>"
    )
    widget_root.get_by_test_id("chat-send").click()
    expect(widget_root.get_by_test_id("chat-messages")).to_contain_text("配送日を変えたいです")

    contacts = desk.get_by_test_id("my-contacts")
    contacts.get_by_test_id("accept").click()
    pane = desk.get_by_test_id("conversation")
    expect(pane.get_by_test_id("transcript")).to_contain_text("<img src=x onerror=alert(1)>")
    expect(widget_root.get_by_test_id("chat-messages")).to_contain_text("がご対応します")
    pane.get_by_test_id("canned").select_option(label="Greeting")
    expect(pane.get_by_test_id("reply-input")).to_have_value(
        "小川 みどり様、お問い合わせありがとうございます。"
    )
    pane.get_by_test_id("reply-send").click()
    expect(widget_root.get_by_test_id("chat-messages")).to_contain_text(
        "小川 みどり様、お問い合わせありがとうございます。"
    )
    pane.get_by_test_id("kb-search").fill("配送日 変更")
    pane.get_by_test_id("kb-search").press("Enter")
    pane.get_by_test_id("insert-link").first.click()
    pane.get_by_test_id("reply-send").click()
    link = f"/help/{tenant_slug(database_url, world)}/articles/{article.json()['id']}"
    expect(widget_root.get_by_test_id("chat-messages")).to_contain_text(link)
    # The visitor's read mark and typing reach the desk.
    widget_root.get_by_test_id("chat-input").press_sequentially("あり")
    expect(pane.get_by_test_id("customer-typing")).to_contain_text("typing")
    expect(pane.locator(".read-mark").last).to_contain_text("Read")
    # Nothing the visitor wrote became markup in either page.
    assert desk.evaluate("document.querySelectorAll('.transcript img').length") == 0
    assert (
        visitor.evaluate(
            "document.querySelector('[data-tsunagi-chat]').shadowRoot.querySelectorAll('img').length"
        )
        == 0
    )

    pane.get_by_test_id("end-chat").click()
    expect(widget_root.get_by_test_id("chat-messages")).to_contain_text("終了しました")
    contacts.get_by_test_id("close").click()
    expect(contacts.locator("li")).to_have_count(0)

    history = admin.http.get(
        f"/api/v1/customers/{member}/history", params={"reason": "check"}
    ).json()
    assert [h["channel"] for h in history] == ["chat"]
    transcript = admin.http.get(
        f"/api/v1/customers/{member}/conversations/{history[0]['conversation_id']}",
        params={"reason": "check"},
    ).json()
    texts = [m["text"] for m in transcript]
    assert "配送日を変えたいです <img src=x onerror=alert(1)>" in texts
    assert "小川 みどり様、お問い合わせありがとうございます。" in texts
    assert any(link in (t or "") for t in texts)
    public = admin.http.get(link)
    assert public.status_code == 200 and "マイページから変更できます" in public.text


def tenant_slug(database_url: str, world: World) -> str:
    async def read() -> str:
        db = Database(database_url)
        try:
            async with db.system(readonly=True) as session:
                slug = await session.scalar(
                    select(Tenant.slug).where(Tenant.id == world.tenants["a"])
                )
            return str(slug)
        finally:
            await db.dispose()

    return run(read)
