"""The email API on a live app: a queue's mailbox and settings (admin), the desk's reply
(threaded, signed, sent once per client id), the email view with text only, the HTML
served inert, the late-first-answer list and ``tsunagi email poll --once``."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from integration.email.conftest import CUSTOMER, DESK, MailWorld, message
from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.storage.conversation_models import Conversation
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue
from tsunagi.cli.main import cli

XSS_SUBJECT = '<img src=x onerror="alert(1)">お問い合わせ'
XSS_HTML = (
    "<html><head><script>alert('head')</script><style>p{}</style></head><body>"
    "<p onclick=\"alert('p')\">ご注文の件</p><script>alert('body')</script>"
    '<img src=x onerror=alert(2)><a href="javascript:alert(3)">link</a>'
    '<iframe src="https://evil.example"></iframe><svg onload=alert(4)></svg>'
    '<a href="https://example.org/faq">FAQ</a></body></html>'
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def until(check: Any, *, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def add_queue(database_url: str, tenant_id: uuid.UUID, code: str) -> uuid.UUID:
    async def go() -> uuid.UUID:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code=code, name_ja="お客様窓口", name_en="Desk", channel="email", config={},
                    created_at=datetime.now(UTC),
                )  # fmt: skip
                session.add(queue)
            return queue.id
        finally:
            await db.dispose()

    found: uuid.UUID = run(go)
    return found


def conversations(database_url: str, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    async def go() -> list[uuid.UUID]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                return list(
                    await session.scalars(select(Conversation.id).order_by(Conversation.created_at))
                )
        finally:
            await db.dispose()

    found: list[uuid.UUID] = run(go)
    return found


def signed_in(client_factory: Any, world: World, role: str) -> Browserless:
    client: Browserless = client_factory()
    client.sign_in(world.account("a", role).username)
    return client


def mailbox_body(mail: MailWorld, **changes: Any) -> dict[str, Any]:
    config = mail.config()
    return {
        "address": config.address,
        "display_name": config.display_name,
        "imap_host": config.imap_host,
        "imap_port": config.imap_port,
        "imap_tls": "none",
        "username": config.username,
        "smtp_host": config.smtp_host,
        "smtp_port": config.smtp_port,
        "smtp_tls": "none",
        "smtp_username": "",
        "password": "desk-secret",
        **changes,
    }


def test_the_desk_answers_an_email_through_the_api(
    server: LiveServer,
    world: World,
    database_url: str,
    client_factory: Any,
    mail: MailWorld,
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = add_queue(database_url, tenant_id, "mail")
    admin = signed_in(client_factory, world, "administrator")
    supervisor = signed_in(client_factory, world, "supervisor")
    communicator = signed_in(client_factory, world, "communicator")

    settings = admin.request(
        "PUT",
        f"/api/v1/queues/{queue_id}/email-settings",
        json={
            "first_response_s": 1,
            "auto_ack": False,
            "signature": "-- \n{agent.name}\n{queue.name}",
            "templates": {"thanks": "{name}様\n\nお問い合わせありがとうございます。"},
        },
    )
    assert settings.status_code == 200, settings.text
    bad = admin.request(
        "PUT", f"/api/v1/queues/{queue_id}/mailbox", json=mailbox_body(mail, address="nope")
    )
    assert bad.status_code == 422 and "not an email address" in bad.text
    configured = admin.request("PUT", f"/api/v1/queues/{queue_id}/mailbox", json=mailbox_body(mail))
    assert configured.status_code == 200, configured.text
    assert configured.json()["has_password"] is True
    assert "desk-secret" not in configured.text
    assert communicator.request("GET", f"/api/v1/queues/{queue_id}/mailbox").status_code == 403

    raw, first_id = message(
        XSS_SUBJECT,
        "ご注文の件",
        html=XSS_HTML,
        attachments=[("<script>alert(5)</script>.png", "image/png", PNG)],
    )
    mail.customer_sends(raw)

    def polled() -> list[uuid.UUID]:
        response = admin.request("POST", f"/api/v1/queues/{queue_id}/mailbox/poll")
        assert response.status_code == 200, response.text
        return conversations(database_url, tenant_id)

    (conversation_id,) = until(polled, what="the email to become a conversation")
    base = f"/api/v1/conversations/{conversation_id}"

    view = supervisor.request("GET", f"{base}/email")
    assert view.status_code == 200, view.text
    data = view.json()
    assert data["subject"] == XSS_SUBJECT  # text, to be shown with textContent
    assert data["address"] == CUSTOMER and data["templates"] == ["thanks"]
    (first,) = data["messages"]
    assert first["message_id_header"] == first_id and first["has_html"] is True
    assert "<" not in (first["text"] or "") or "<script" not in first["text"]
    assert [a["media_type"] for a in first["attachments"]] == ["image/png"]

    html = supervisor.request("GET", f"{base}/email/messages/{first['id']}/html")
    assert html.status_code == 200
    assert html.headers["content-security-policy"].startswith("sandbox")
    assert html.headers["x-content-type-options"] == "nosniff"
    body = html.text.lower()
    for bad_markup in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<svg"):
        assert bad_markup not in body, bad_markup
    assert "https://example.org/faq" in body and "ご注文の件" in html.text

    # First answer late (SLA 1 s): listed until someone answers.
    time.sleep(1.2)
    late = supervisor.request("GET", "/api/v1/email/overdue")
    assert [o["conversation_id"] for o in late.json()] == [str(conversation_id)]
    assert communicator.request("GET", "/api/v1/email/overdue").json() == []

    # A communicator who does not hold the contact cannot answer it.
    denied = communicator.request("POST", f"{base}/email-reply", json={"text": "x"})
    assert denied.status_code == 404

    reply = supervisor.request(
        "POST",
        f"{base}/email-reply",
        json={"template": "thanks", "text": "配達は明日です。", "client_id": "desk-1"},
    )
    assert reply.status_code == 202, reply.text
    sent_id = reply.json()["message_id_header"]
    inbox = until(mail.customer_inbox, what="the reply in the customer's mailbox")
    answer = BytesParser(policy=policy.default).parsebytes(inbox[0])
    assert answer["Message-ID"] == sent_id and answer["In-Reply-To"] == first_id
    text = answer.get_body(preferencelist=("plain",)).get_content()
    assert "山田花子様" in text and "配達は明日です。" in text
    assert "supervisor of a" in text and "お客様窓口" in text  # the signature
    assert answer["From"].addresses[0].addr_spec == DESK

    again = supervisor.request(
        "POST",
        f"{base}/email-reply",
        json={"template": "thanks", "text": "配達は明日です。", "client_id": "desk-1"},
    )
    assert again.status_code == 202 and again.json()["created"] is False
    assert again.json()["message_id_header"] == sent_id
    assert supervisor.request("GET", "/api/v1/email/overdue").json() == []

    def sent_status() -> bool:
        messages = supervisor.request("GET", f"{base}/email").json()["messages"]
        return bool(messages[-1]["status"] == "sent")

    until(sent_status, what="the reply marked sent")
    assert len(mail.customer_inbox()) == 1
    unknown = supervisor.request("POST", f"{base}/email-reply", json={"template": "nope"})
    assert unknown.status_code == 422 and "thanks" in unknown.text

    # The CLI reads the same mailbox: the customer's answer joins the conversation.
    follow, _ = message("Re: x", "了解です", headers={"In-Reply-To": sent_id})
    mail.customer_sends(follow)
    result = CliRunner().invoke(
        cli,
        ["email", "poll", "--once"],
        env={
            "TSUNAGI_DATABASE_URL": database_url,
            "TSUNAGI_DATA_DIR": str(server.app.state.services.settings.data_dir),
        },
        obj={},
    )
    assert result.exit_code == 0, result.output
    assert '"created": 1' in result.output or "skipped" in result.output
    until(
        lambda: len(supervisor.request("GET", f"{base}/email").json()["messages"]) == 3,
        what="the customer's answer in the conversation",
    )
    assert conversations(database_url, tenant_id) == [conversation_id]
