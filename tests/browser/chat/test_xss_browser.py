"""320 XSS payloads through chat messages, the visitor's name, attachment names and an
email (offline form: subject and body): none runs in the communicator's desk or the
supervisor's conversation page, checked in the browser.

Every payload calls ``pwned(n)`` if it ever executes; the pages get a ``pwned`` that
records the call, and any dialog is recorded too. The pages must also hold no element a
payload could have injected (``img``, ``svg``, ``iframe``, ``script``…).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import connect

from browser.chat.xss_corpus import payloads
from integration.routing.test_routing_api import add_queue
from testkit import PASSWORD, LiveServer, World, live_server

pytestmark = pytest.mark.browser
INJECTED = (
    "img, svg, iframe, script, object, embed, video, audio, details, marquee, math, form,"
    " input:not([type]), base, meta[http-equiv], template, noscript, x"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def server(
    database_url: str, profile: str, settings_for: Any, world: World
) -> Iterator[LiveServer]:
    """Public rate limits lifted: this test sends hundreds of messages from one address."""
    with live_server(
        settings_for(database_url, profile, public_requests_per_minute=100_000)
    ) as running:
        yield running


def watched(browser: Browser, server: LiveServer, username: str) -> tuple[Page, list[str]]:
    context = browser.new_context(locale="en-US")
    ran: list[str] = []
    context.expose_function("__record_pwned", lambda n: ran.append(f"pwned({n})"))
    context.add_init_script("window.pwned = (n) => window.__record_pwned(String(n));")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: (ran.append(f"dialog {dialog.message}"), dialog.dismiss()))
    page.goto(f"{server.url}/login")
    page.locator("form.lang button[value=en]").click()
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")
    return page, ran


def test_no_payload_runs_in_staff_pages(
    browser: Browser, server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    corpus = payloads()
    assert len(corpus) >= 300
    chat_queue = add_queue(database_url, world.tenants["a"], "webchat")
    mail_queue = add_queue(database_url, world.tenants["a"], "mail")
    admin = client_factory()  # closed by the fixture even when an assertion fails
    admin.sign_in(world.account("a", "administrator").username)
    communicator = world.account("a", "communicator")
    assert (
        admin.request(
            "PATCH",
            f"/api/v1/agents/{communicator.user_id}/profile",
            json={"skills": {"webchat": 5, "mail": 5}, "capacity": {"chat": 3, "email": 3}},
        ).status_code
        == 200
    )
    widget = admin.request(
        "POST",
        "/api/v1/chat/widgets",
        json={
            "name": "site",
            "topics": [
                {"code": "order", "label_ja": "注文", "label_en": "Orders", "queue_id": chat_queue}
            ],
            "offline_queue_id": mail_queue,
        },
    ).json()["id"]
    with httpx.Client(base_url=server.url, timeout=30) as public:
        started, expected = send_corpus(public, server, widget, corpus)

    desk, desk_ran = watched(browser, server, communicator.username)
    desk.goto(f"{server.url}/routing/desk")
    expect(desk.locator("[data-live-status]")).to_have_text("Live")
    desk.get_by_test_id("go-ready").click()
    contacts = desk.get_by_test_id("my-contacts")
    panes = desk.get_by_test_id("conversation")
    for taken in range(1, 4):  # the chat and two emails, offered one after another
        offer = contacts.locator("li[data-state=offered]").first
        offer.get_by_test_id("accept").click()
        expect(panes).to_have_count(taken)
    chat_pane = desk.locator("[data-testid=conversation][data-channel=chat]")
    expect(chat_pane.get_by_test_id("message")).to_have_count(expected + 1)  # + joined note
    expect(desk.locator("[data-channel=email] [data-testid=message]").first).to_be_visible()

    supervisor, supervisor_ran = watched(browser, server, world.account("a", "supervisor").username)
    supervisor.goto(f"{server.url}/conversations/{started['conversation_id']}")
    expect(supervisor.get_by_test_id("message")).to_have_count(expected + 1)
    emails = admin.request("GET", "/api/v1/contacts").json()
    email_contact = next(c["id"] for c in emails if c["channel"] == "email")
    email_conversation = admin.request(
        "GET", f"/api/v1/contacts/{email_contact}/conversation"
    ).json()
    assert email_conversation["subject"] in [corpus[i] for i in (0, 1, 4, 16, 25)]
    supervisor.goto(f"{server.url}/conversations/{email_conversation['id']}")
    expect(supervisor.get_by_test_id("message")).to_have_count(1)

    for page in (desk, supervisor):
        page.wait_for_timeout(1000)  # give late handlers (onerror, autofocus) their chance
        injected = page.evaluate(
            f"document.querySelectorAll('.conversations :is({INJECTED})').length"
        )
        assert injected == 0
    assert desk_ran == [] and supervisor_ran == []


def send_corpus(
    public: httpx.Client, server: LiveServer, widget: str, corpus: list[str]
) -> tuple[dict[str, Any], int]:
    """The corpus as a visitor's chat (messages, name, file names) and offline emails."""
    started = public.post(
        f"/widget/{widget}/chats", json={"topic": "order", "name": corpus[1][:100]}
    ).json()
    ws = server.url.replace("http://", "ws://") + f"/ws/widget/{widget}/chat"
    with connect(ws) as visitor:
        visitor.send(json.dumps({"type": "auth", "token": started["token"]}))
        for index, payload in enumerate(corpus):
            visitor.send(json.dumps({"type": "message", "id": f"x{index}", "text": payload}))
        for index in range(0, len(corpus), 8):  # file names carry payloads too
            answer = public.post(
                f"/widget/{widget}/chats/{started['conversation_id']}/attachments",
                params={"name": corpus[index][:200] + ".png"},
                content=PNG,
                headers={"Content-Type": "image/png", "X-Visitor-Token": started["token"]},
            )
            assert answer.status_code == 201, answer.text
        expected = len(corpus) + len(range(0, len(corpus), 8))
        # A message committed before the socket subscribed (an upload can overtake the
        # socket's auth) comes in the snapshot instead of as a frame; one committed between
        # the subscription and the snapshot comes in both. Count each message once.
        seen: set[str] = set()
        while len(seen) < expected:
            frame = json.loads(visitor.recv(timeout=30))
            assert frame.get("kind") != "error", frame
            if frame.get("kind") == "snapshot":
                shown = frame["messages"]
            elif frame.get("kind") == "message":
                shown = [frame["message"]]
            else:
                continue
            seen.update(m["id"] for m in shown if m["author"] == "customer")
    for index in (0, 1, 4, 16, 25):
        offline = public.post(
            f"/widget/{widget}/offline",
            json={
                "name": corpus[index][:100],
                "email": "visitor@example.jp",
                "subject": corpus[index][:200],
                "body": "\n".join(corpus[index : index + 40]),
                "client_id": f"offline-{index:04d}",
            },
        )
        assert offline.status_code == 201, offline.text
    return started, expected
