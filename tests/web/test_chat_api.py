"""Web chat through a real server: widget config, pre-chat, the visitor's socket, the
communicator's socket and REST, attachments, CORS, rate limits — on both profiles."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from integration.routing.test_routing_api import add_queue, signed_in, wait_for
from testkit import Browserless, LiveServer, World, live_server, run
from tsunagi.actions.conversations import NewMessage, do_add_message
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.storage.conversation_models import Conversation
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.channels.identity import sign_identity

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def ws_url(server: LiveServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


_BACKLOG: dict[int, list[dict[str, Any]]] = {}


def frames(socket: ClientConnection, want: int, *, kind: str | None = None) -> list[dict[str, Any]]:
    """The next ``want`` frames of ``kind``; frames of other kinds wait for their turn."""
    backlog = _BACKLOG.setdefault(id(socket), [])
    got: list[dict[str, Any]] = []
    for frame in list(backlog):
        if len(got) < want and (kind is None or frame["kind"] == kind):
            got.append(frame)
            backlog.remove(frame)
    while len(got) < want:
        frame = json.loads(socket.recv(timeout=10))
        if kind is None or frame["kind"] == kind:
            got.append(frame)
        else:
            backlog.append(frame)
    return got


class Center:
    def __init__(self, server: LiveServer, world: World, database_url: str, factory: Any) -> None:
        self.server = server
        self.queue_id = add_queue(database_url, world.tenants["a"], "webchat")
        self.mail_queue = add_queue(database_url, world.tenants["a"], "mail")
        self.admin = signed_in(factory, world, "administrator")
        self.agent = signed_in(factory, world, "communicator")
        self.agent_id = world.account("a", "communicator").user_id
        made = self.admin.request(
            "POST",
            "/api/v1/chat/widgets",
            json={
                "name": "site",
                "topics": [
                    {
                        "code": "order",
                        "label_ja": "注文",
                        "label_en": "Orders",
                        "queue_id": self.queue_id,
                    }
                ],
                "offline_queue_id": self.mail_queue,
                "allowed_origins": ["https://shop.example.jp"],
            },
        )
        assert made.status_code == 201, made.text
        self.widget = made.json()["id"]
        self.public = httpx.Client(base_url=server.url, timeout=10)

    def ready_agent(self) -> None:
        profile = self.admin.request(
            "PATCH",
            f"/api/v1/agents/{self.agent_id}/profile",
            json={"skills": {"webchat": 5}, "capacity": {"chat": 3}},
        )
        assert profile.status_code == 200, profile.text
        ready = self.agent.request(
            "PATCH", f"/api/v1/agents/{self.agent_id}/presence", json={"presence": "ready"}
        )
        assert ready.status_code == 200, ready.text

    def start(self, **extra: Any) -> dict[str, Any]:
        body = {"topic": "order", "name": "山田花子", "lang": "ja", **extra}
        started = self.public.post(f"/widget/{self.widget}/chats", json=body)
        assert started.status_code == 201, started.text
        return dict(started.json())


@pytest.fixture
def server(
    database_url: str, profile: str, settings_for: Any, world: World
) -> Iterator[LiveServer]:
    """Public limits lifted: on PostgreSQL the limiter lives in the Redis every test server
    shares, so one test's starts would count against another's. The limits themselves are
    tested in tests/web/test_public_rate_limits.py."""
    with live_server(
        settings_for(database_url, profile, public_requests_per_minute=100_000)
    ) as running:
        yield running


@pytest.fixture
def center(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> Iterator[Center]:
    made = Center(server, world, database_url, client_factory)
    yield made
    made.public.close()


def test_a_visitor_and_a_communicator_chat(center: Center, server: LiveServer) -> None:
    config = center.public.get(f"/widget/{center.widget}/config")
    assert config.status_code == 200, config.text
    assert config.json()["topics"] == [
        {"code": "order", "label_ja": "注文", "label_en": "Orders", "open": True}
    ]
    center.ready_agent()
    started = center.start(member_no="00112233", client_id="client-000001")
    assert started["contact_state"] == "queued"

    with connect(ws_url(server, f"/ws/widget/{center.widget}/chat")) as visitor:
        visitor.send(json.dumps({"type": "auth", "token": started["token"]}))
        snapshot = frames(visitor, 1)[0]
        assert snapshot["kind"] == "snapshot" and snapshot["messages"] == []
        visitor.send(json.dumps({"type": "message", "id": "m1", "text": "配送が来ません <b>x</b>"}))
        visitor.send(json.dumps({"type": "message", "id": "m1", "text": "配送が来ません <b>x</b>"}))
        mine, repeat = (f["message"] for f in frames(visitor, 2, kind="message"))
        assert mine["seq"] == 1 and mine["text"] == "配送が来ません <b>x</b>"
        assert repeat["id"] == mine["id"]  # the retried frame got the same message back

        contact_id = wait_for(
            lambda: next(
                (
                    c["id"]
                    for c in center.agent.request("GET", "/api/v1/contacts").json()
                    if c["state"] == "offered" and c["channel"] == "chat"
                ),
                None,
            ),
            "the chat offered to the agent",
        )
        accepted = center.agent.request("POST", f"/api/v1/contacts/{contact_id}/accept")
        assert accepted.status_code == 200, accepted.text
        seen = center.agent.request("GET", f"/api/v1/contacts/{contact_id}/conversation")
        assert seen.status_code == 200, seen.text
        conversation = seen.json()
        assert conversation["visitor_name"] == "山田花子"
        assert [m["text"] for m in conversation["messages"]] == ["配送が来ません <b>x</b>"]

        cookie = "; ".join(f"{k}={v}" for k, v in center.agent.http.cookies.items())
        with connect(
            ws_url(server, f"/ws/conversations/{conversation['id']}"),
            additional_headers={"Cookie": cookie},
        ) as desk:
            assert frames(desk, 1)[0]["kind"] == "snapshot"
            joined = center.agent.request(
                "POST", f"/api/v1/conversations/{conversation['id']}/join"
            )
            assert joined.status_code == 200, joined.text
            desk.send(json.dumps({"type": "typing", "on": True}))
            typing = frames(visitor, 1, kind="typing")[0]
            assert typing["side"] == "agent"
            reply = center.agent.request(
                "POST",
                f"/api/v1/conversations/{conversation['id']}/messages",
                json={"text": "お調べします", "client_id": "reply-0001"},
            )
            assert reply.status_code == 201, reply.text
            note = center.agent.request(
                "POST",
                f"/api/v1/conversations/{conversation['id']}/messages",
                json={"text": "社内メモ", "note": True},
            )
            assert note.status_code == 201, note.text
            got = [f["message"] for f in frames(visitor, 2, kind="message")]
            assert [m["author"] for m in got] == ["system", "agent"]
            assert got[1]["text"] == "お調べします" and "author_user_id" not in got[1]
            visitor.send(json.dumps({"type": "typing", "on": True}))
            sides = [f["side"] for f in frames(desk, 2, kind="typing")]
            assert sides == ["agent", "visitor"]  # its own echo first, then the visitor's
            desk.send(json.dumps({"type": "read", "seq": 3}))
            assert frames(visitor, 1, kind="read")[0]["seq"] == 3

            upload = center.public.post(
                f"/widget/{center.widget}/chats/{conversation['id']}/attachments",
                params={"name": "receipt.png"},
                content=PNG,
                headers={"Content-Type": "image/png", "X-Visitor-Token": started["token"]},
            )
            assert upload.status_code == 201, upload.text
            attachment = upload.json()["attachments"][0]
            fetched = center.agent.request(
                "GET", f"/api/v1/conversations/{conversation['id']}/attachments/{attachment['id']}"
            )
            assert fetched.content == PNG
            assert fetched.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in fetched.headers["content-security-policy"]
            lying = center.public.post(
                f"/widget/{center.widget}/chats/{conversation['id']}/attachments",
                params={"name": "invoice.pdf"},
                content=b"<script>alert(1)</script>",
                headers={"Content-Type": "application/pdf", "X-Visitor-Token": started["token"]},
            )
            assert lying.status_code == 422 and "not accepted" in lying.json()["detail"]
            stranger = center.public.post(
                f"/widget/{center.widget}/chats/{conversation['id']}/attachments",
                params={"name": "receipt.png"},
                content=PNG,
                headers={"Content-Type": "image/png", "X-Visitor-Token": "guess"},
            )
            assert stranger.status_code == 404

            visitor.send(json.dumps({"type": "close"}))
            assert frames(desk, 1, kind="state")[0]["state"] == "closed"

    final = center.agent.request("GET", f"/api/v1/conversations/{conversation['id']}").json()
    assert final["state"] == "closed"
    assert [m["seq"] for m in final["messages"]] == [1, 2, 3, 4, 5]
    assert [m["direction"] for m in final["messages"]] == ["in", "out", "out", "note", "in"]


def test_visitors_are_kept_apart(
    center: Center, server: LiveServer, world: World, client_factory: Any
) -> None:
    first = center.start()
    with connect(ws_url(server, f"/ws/widget/{center.widget}/chat")) as socket:
        socket.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=10)
    other_agent = signed_in(client_factory, world, "communicator")
    b_supervisor = Browserless(server.url)
    b_supervisor.sign_in(world.account("b", "supervisor").username)
    # A communicator who never held the chat and another tenant's supervisor see nothing.
    assert (
        other_agent.request("GET", f"/api/v1/conversations/{first['conversation_id']}").status_code
        == 404
    )
    assert (
        b_supervisor.request("GET", f"/api/v1/conversations/{first['conversation_id']}").status_code
        == 404
    )
    b_supervisor.close()


def test_cross_origin_only_for_allowed_sites(center: Center) -> None:
    allowed = center.public.options(
        f"/widget/{center.widget}/chats",
        headers={
            "Origin": "https://shop.example.jp",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.jp"
    assert "access-control-allow-credentials" not in allowed.headers
    refused = center.public.options(
        f"/widget/{center.widget}/chats",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    direct = center.public.get(
        f"/widget/{center.widget}/config", headers={"Origin": "https://evil.example"}
    )
    assert direct.status_code == 403


def test_bad_pre_chat_input_changes_nothing(center: Center) -> None:
    for body, fragment in (
        ({"topic": "nope", "name": "x"}, "unknown topic"),
        ({"topic": "order", "name": "   "}, "name is empty"),
        ({"topic": "order", "name": "x", "transcript": True}, "transcript needs an email"),
        ({"topic": "order", "name": "x", "email": "not-an-address"}, "email"),
        ({"topic": "order", "name": "x", "extra": 1}, "extra"),
    ):
        answer = center.public.post(f"/widget/{center.widget}/chats", json=body)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert fragment in answer.text, (fragment, answer.text)
    assert center.public.get(f"/widget/{uuid.uuid4()}/config").status_code == 404
    offline = center.public.post(
        f"/widget/{center.widget}/offline",
        json={"name": "佐藤", "email": "sato@example.jp", "subject": "返品", "body": "返品したい"},
    )
    assert offline.status_code == 201, offline.text
    listed = center.admin.request("GET", "/api/v1/contacts").json()
    assert sorted(c["channel"] for c in listed) == ["email"]


def test_the_bot_greets_and_hands_over_on_request(center: Center, server: LiveServer) -> None:
    switched = center.admin.request(
        "PATCH", f"/api/v1/queues/{center.queue_id}/bot", json={"enabled": True}
    )
    assert switched.status_code == 200, switched.text
    started = center.start()
    assert (started["state"], started["contact_state"]) == ("bot", "ivr")
    with connect(ws_url(server, f"/ws/widget/{center.widget}/chat")) as visitor:
        visitor.send(json.dumps({"type": "auth", "token": started["token"]}))
        snapshot = frames(visitor, 1, kind="snapshot")[0]
        assert snapshot["conversation"]["state"] == "bot"
        assert [m["author"] for m in snapshot["messages"]] == ["bot"]  # the greeting
        visitor.send(json.dumps({"type": "message", "id": "h1", "text": "オペレーターと話したい"}))
        state = frames(visitor, 1, kind="state")[0]
        assert (state["state"], state["contact_state"]) == ("open", "queued")
        said = [f["message"]["author"] for f in frames(visitor, 2, kind="message")]
        assert said == ["customer", "bot"]  # the question, then the bot's hand-over line


def test_a_transcript_asked_for_without_a_mailbox_leaves_a_note(center: Center) -> None:
    started = center.start(email="hanako@example.jp", transcript=True)
    staff = center.admin  # administrators may answer and close any conversation
    closed = staff.request("POST", f"/api/v1/conversations/{started['conversation_id']}/close")
    assert closed.status_code == 200, closed.text
    final = staff.request("GET", f"/api/v1/conversations/{started['conversation_id']}").json()
    assert final["state"] == "closed" and final["transcript_requested"]
    assert [m["text"] for m in final["messages"] if m["direction"] == "note"] == [
        "transcript asked for, not sent: no mailbox"
    ]


def test_an_email_pane_follows_messages_stored_by_other_processes(
    center: Center, server: LiveServer, database_url: str
) -> None:
    """Email and SMS messages are stored by workers and webhooks that do not publish on
    the conversation's channel: the staff socket follows the committed events instead."""
    offline = center.public.post(
        f"/widget/{center.widget}/offline",
        json={"name": "佐藤", "email": "sato@example.jp", "subject": "返品", "body": "返品したい"},
    )
    assert offline.status_code == 201, offline.text
    contact = next(
        c for c in center.admin.request("GET", "/api/v1/contacts").json() if c["channel"] == "email"
    )
    conversation = center.admin.request(
        "GET", f"/api/v1/contacts/{contact['id']}/conversation"
    ).json()
    settings = server.app.state.services.settings
    cookie = "; ".join(f"{k}={v}" for k, v in center.admin.http.cookies.items())
    with connect(
        ws_url(server, f"/ws/conversations/{conversation['id']}"),
        additional_headers={"Cookie": cookie},
    ) as pane:
        assert [m["text"] for m in frames(pane, 1, kind="snapshot")[0]["messages"]] == [
            "返品したい"
        ]

        async def ingest() -> None:  # as the IMAP worker of another process would
            db = Database(database_url)
            try:
                await do_add_message(
                    db,
                    KeyRing(master_key_for(settings)),
                    tenant_id=await tenant_of(db, conversation["id"]),
                    conversation_id=uuid.UUID(conversation["id"]),
                    new=NewMessage("in", "customer", "追伸：箱は捨てました"),
                    actor="test",
                )
            finally:
                await db.dispose()

        run(ingest)
        arrived = frames(pane, 1, kind="message")[0]["message"]
        assert (arrived["seq"], arrived["text"]) == (2, "追伸：箱は捨てました")


async def tenant_of(db: Database, conversation_id: str) -> uuid.UUID:
    async with db.system(readonly=True) as session:
        found = await session.scalar(
            select(Conversation.tenant_id).where(Conversation.id == uuid.UUID(conversation_id))
        )
    assert found is not None
    return found


def test_a_visitor_signed_in_on_the_site_is_matched_as_verified(
    center: Center, database_url: str, world: World
) -> None:
    made = center.admin.request(
        "POST",
        "/api/v1/customers",
        json={
            "name": "山田 花子",
            "identifiers": [{"kind": "member_no", "value": "00445566"}],
        },
    )
    assert made.status_code == 201, made.text
    secret = center.admin.request("GET", f"/api/v1/chat/widgets/{center.widget}/identity-secret")
    assert secret.status_code == 200, secret.text
    key = bytes.fromhex(secret.json()["secret_hex"])
    assert (
        center.agent.request(
            "GET", f"/api/v1/chat/widgets/{center.widget}/identity-secret"
        ).status_code
        == 403
    )
    claims = {"member_no": "00445566", "name": "山田 花子", "exp": int(time.time()) + 600}

    forged = sign_identity(b"guess" * 7, claims)
    refused = center.public.post(
        f"/widget/{center.widget}/chats",
        json={"topic": "order", "name": "x", "identity": forged},
    )
    assert refused.status_code == 422, refused.text
    assert "identity" in refused.text

    # The visitor typed another number: the signed claim wins.
    started = center.start(identity=sign_identity(key, claims), member_no="00000000")

    async def party() -> tuple[Any, Any]:
        db = Database(database_url)
        try:
            tenant = await tenant_of(db, started["conversation_id"])
            async with db.scoped(tenant, readonly=True) as session:
                conversation = await session.get(
                    Conversation, uuid.UUID(started["conversation_id"])
                )
                assert conversation is not None and conversation.contact_id is not None
                row = await session.get(ContactParty, conversation.contact_id)
                assert row is not None
                return row.customer_id, row.matched_by
        finally:
            await db.dispose()

    customer_id, matched_by = run(party)
    assert (str(customer_id), matched_by) == (made.json()["id"], "sign_in")
