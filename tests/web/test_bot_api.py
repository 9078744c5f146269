"""The FAQ bot's API through a real server on both profiles: the per-queue switch
(administrators only, validated, default off) and the figures for supervisors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from integration.routing.test_routing_api import add_queue, signed_in
from testkit import LiveServer, World, run
from tsunagi.actions.bot import do_bot_turn, do_request_human
from tsunagi.actions.conversations import (
    NewConversation,
    NewMessage,
    do_add_message,
    do_close_conversation,
    do_start_conversation,
)
from tsunagi.actions.knowledge import do_create_article
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.domain.permissions import Principal, Role


def bot_conversations(server: LiveServer, database_url: str, world: World, queue: str) -> None:
    """One conversation the bot resolves and one it hands over (the button)."""
    settings = server.app.state.services.settings
    keyring = KeyRing(load_or_create_master_key(settings.effective_master_key_file, create=False))
    tenant = world.tenants["a"]
    editor = world.account("a", "supervisor")

    async def write() -> None:
        db = Database(database_url)
        try:
            await do_create_article(
                db,
                Principal(
                    user_id=editor.user_id, tenant_id=tenant, roles=frozenset({Role.SUPERVISOR})
                ),
                title="お店の営業時間",
                body="多くの店舗は午前10時から午後8時まで営業しています。",
                visibility="public",
                publish=True,
            )
            for leaves in (True, False):
                new = NewConversation(
                    channel="chat", queue_id=uuid.UUID(queue), source="widget", bot=True
                )
                started = await do_start_conversation(
                    db, keyring, tenant_id=tenant, new=new, actor="visitor"
                )
                ids = {"tenant_id": tenant, "conversation_id": started.conversation_id}
                if leaves:
                    await do_add_message(
                        db, keyring, **ids, new=NewMessage("in", "customer", "お店の営業時間"),
                        actor="visitor",
                    )  # fmt: skip
                    turn = await do_bot_turn(db, keyring, **ids, text="お店の営業時間", lang="ja")
                    assert not turn.handed_over and turn.messages
                    await do_close_conversation(db, **ids, by="customer", actor="visitor")
                else:
                    assert (await do_request_human(db, keyring, **ids, lang="ja")).handed_over
        finally:
            await db.dispose()

    run(write)


def test_the_queue_switch_is_for_administrators_and_validated(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue = add_queue(database_url, world.tenants["a"], "webchat")
    admin = signed_in(client_factory, world, "administrator")
    supervisor = signed_in(client_factory, world, "supervisor")
    path = f"/api/v1/queues/{queue}/bot"

    off = supervisor.request("GET", path)
    assert off.status_code == 200, off.text
    assert off.json() == {"enabled": False, "min_confidence": 0.75, "max_turns": 3}
    assert supervisor.request("PATCH", path, json={"enabled": True}).status_code == 403

    on = admin.request("PATCH", path, json={"enabled": True, "max_turns": 4})
    assert on.status_code == 200, on.text
    assert on.json() == {"enabled": True, "min_confidence": 0.75, "max_turns": 4}
    for bad, status in (
        ({"max_turns": 0}, 422),
        ({"max_turns": 99}, 422),
        ({"min_confidence": -0.1}, 422),
        ({"enabled": "yes"}, 422),
        ({"greeting": "hi"}, 422),
    ):
        refused = admin.request("PATCH", path, json=bad)
        assert refused.status_code == status, (bad, refused.text)
        assert refused.json()["detail"]
    assert admin.request("GET", path).json()["max_turns"] == 4  # unchanged by refusals
    other_tenant = f"/api/v1/queues/{world.tenants['b']}/bot"
    assert admin.request("PATCH", other_tenant, json={"enabled": True}).status_code == 404


def test_the_stats_count_resolved_and_handed_over(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue = add_queue(database_url, world.tenants["a"], "webchat")
    bot_conversations(server, database_url, world, queue)
    today = datetime.now(UTC).date()
    params = {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
        "queue_id": queue,
    }
    supervisor = signed_in(client_factory, world, "supervisor")
    stats = supervisor.request("GET", "/api/v1/channels/bot/stats", params=params)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    [row] = body["rows"]
    assert row["queue_id"] == queue
    assert (row["conversations"], row["resolved"], row["handed_over"]) == (2, 1, 1)
    assert row["handover_rate"] == 0.5 and row["resolved_share"] == 0.5
    assert body["total"]["conversations"] == 2 and body["total"]["day"] is None

    communicator = signed_in(client_factory, world, "communicator")
    assert (
        communicator.request("GET", "/api/v1/channels/bot/stats", params=params).status_code == 403
    )
    backwards = {**params, "from": params["to"], "to": params["from"]}
    assert (
        supervisor.request("GET", "/api/v1/channels/bot/stats", params=backwards).status_code == 422
    )
    missing = supervisor.request("GET", "/api/v1/channels/bot/stats", params={"to": params["to"]})
    assert missing.status_code == 422
