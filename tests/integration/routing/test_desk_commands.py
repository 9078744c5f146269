"""Commands on the desk socket (accept, reject, end, close), through a real server, on both
database profiles: the same actions, authorization and errors as the REST routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from integration.routing.test_routing_api import add_queue, signed_in, wait_for
from testkit import Browserless, LiveServer, World, run
from tsunagi.actions import accounts
from tsunagi.adapters.storage.db import Database
from tsunagi.domain.permissions import Principal, Role


def read_only_token(database_url: str, world: World) -> str:
    """An API token of the communicator that may read the desk but not update contacts
    (communicators cannot issue tokens through the API; an integration's token would)."""
    account = world.account("a", "communicator")

    async def issue() -> str:
        db = Database(database_url)
        try:
            principal = Principal(
                user_id=account.user_id,
                tenant_id=world.tenants["a"],
                roles=frozenset({Role("communicator")}),
            )
            issued = await accounts.do_create_api_token(
                db, principal=principal, name="desk", scopes=["desk:read"], expires_in_days=1
            )
            return issued.token
        finally:
            await db.dispose()

    return run(issue)


@contextmanager
def desk(server: LiveServer, client: Browserless, **headers: str) -> Iterator[ClientConnection]:
    if not headers:
        cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies.jar)
        headers = {"Cookie": cookie}
    with connect(
        f"ws://127.0.0.1:{server.port}/ws/routing/desk",
        additional_headers=headers,
        origin=server.url,  # type: ignore[arg-type]
        open_timeout=10,
    ) as socket:
        assert json.loads(socket.recv(timeout=10))["kind"] == "snapshot"
        yield socket


def command(socket: ClientConnection, raw: str | dict[str, Any]) -> dict[str, Any]:
    """Send one command; the answer frame (event frames before it are skipped)."""
    socket.send(raw if isinstance(raw, str) else json.dumps(raw))
    while True:
        frame = json.loads(socket.recv(timeout=10))
        if frame["kind"] in ("done", "error"):
            return frame


def contact_of(client: Browserless, contact: str) -> dict[str, Any]:
    answer = client.request("GET", f"/api/v1/contacts/{contact}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ready_agent(admin: Browserless, agent: Browserless, agent_id: object, skill: str) -> None:
    profile = admin.request(
        "PATCH",
        f"/api/v1/agents/{agent_id}/profile",
        json={"skills": {skill: 5}, "capacity": {"voice": 1}},
    )
    assert profile.status_code == 200, profile.text
    ready = agent.request(
        "PATCH", f"/api/v1/agents/{agent_id}/presence", json={"presence": "ready"}
    )
    assert ready.status_code == 200, ready.text


def offered_to(client: Browserless, contact: str, agent_id: object) -> None:
    wait_for(
        lambda: (
            (body := contact_of(client, contact))["state"] == "offered"
            and body["agent_id"] == str(agent_id)
        ),
        "the offer",
    )


def test_accept_end_close_over_the_desk_socket_and_repeats_change_nothing(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "desk-cmd")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    ready_agent(admin, agent, me, "desk-cmd")
    with desk(server, agent) as socket:
        contact = admin.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        ).json()["id"]
        offered_to(agent, contact, me)
        accepted = command(socket, {"op": "accept", "contact_id": contact, "ref": 1})
        assert accepted == {
            "kind": "done",
            "op": "accept",
            "contact_id": contact,
            "ref": 1,
            "repeated": False,
        }
        assert contact_of(agent, contact)["state"] == "connected"
        version = contact_of(agent, contact)["version"]
        again = command(socket, {"op": "accept", "contact_id": contact, "ref": "retry"})
        assert again["kind"] == "done" and again["repeated"] is True and again["ref"] == "retry"
        assert contact_of(agent, contact)["version"] == version
        assert command(socket, {"op": "end", "contact_id": contact})["kind"] == "done"
        assert contact_of(agent, contact)["state"] == "wrap_up"
        closed = command(
            socket,
            {
                "op": "close",
                "contact_id": contact,
                "wrap_up": {"category": "billing-amount", "resolved_first_contact": True},
            },
        )
        assert closed["kind"] == "done" and closed["repeated"] is False, closed
        body = contact_of(agent, contact)
        assert (body["state"], body["category"], body["resolved_first_contact"]) == (
            "closed",
            "billing-amount",
            True,
        )
        for op in ("close", "end"):
            repeat = command(socket, {"op": op, "contact_id": contact})
            assert repeat["kind"] == "done" and repeat["repeated"] is True, repeat
        assert contact_of(agent, contact)["version"] == body["version"]


def test_reject_over_the_desk_socket_requeues_and_a_repeat_is_answered_done(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "desk-reject")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    ready_agent(admin, agent, me, "desk-reject")
    with desk(server, agent) as socket:
        contact = admin.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        ).json()["id"]
        offered_to(agent, contact, me)
        rejected = command(socket, {"op": "reject", "contact_id": contact, "ref": 7})
        assert rejected["kind"] == "done" and rejected["repeated"] is False, rejected
        body = contact_of(agent, contact)
        assert body["state"] == "queued" and body["agent_id"] is None
        repeat = command(socket, {"op": "reject", "contact_id": contact, "ref": 8})
        assert repeat["kind"] == "done" and repeat["repeated"] is True, repeat
        assert contact_of(agent, contact)["version"] == body["version"]
        # Having rejected, the agent cannot accept it any more.
        late = command(socket, {"op": "accept", "contact_id": contact})
        assert late["kind"] == "error" and late["status"] == 409, late
        assert contact_of(agent, contact)["version"] == body["version"]


def test_an_agent_cannot_act_on_another_agents_offer_or_another_tenants_contact(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "desk-other")
    queue_b = add_queue(database_url, world.tenants["b"], "desk-b")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    colleague = signed_in(client_factory, world, "supervisor")
    colleague_id = world.account("a", "supervisor").user_id
    ready_agent(admin, colleague, colleague_id, "desk-other")
    admin_b = client_factory()
    assert admin_b.sign_in(world.account("b", "administrator").username).status_code == 303
    foreign = admin_b.request(
        "POST", "/api/v1/contacts", json={"channel": "chat", "queue_id": queue_b}
    )
    assert foreign.status_code == 201, foreign.text
    foreign_id = foreign.json()["id"]
    foreign_before = contact_of(admin_b, foreign_id)
    with desk(server, agent) as socket:
        contact = admin.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        ).json()["id"]
        offered_to(admin, contact, colleague_id)
        before = contact_of(admin, contact)
        for op in ("accept", "reject", "end", "close"):
            answer = command(socket, {"op": op, "contact_id": contact, "ref": op})
            assert answer["kind"] == "error" and answer["status"] == 409, answer
            assert answer["ref"] == op and answer["contact_id"] == contact
            answer = command(socket, {"op": op, "contact_id": foreign_id})
            assert answer["kind"] == "error" and answer["status"] == 404, answer
        after = contact_of(admin, contact)
        assert (after["state"], after["agent_id"], after["version"]) == (
            "offered",
            str(colleague_id),
            before["version"],
        )
        other = contact_of(admin_b, foreign_id)
        assert (other["state"], other["version"]) == ("queued", foreign_before["version"])


def test_bad_commands_get_an_error_frame_and_change_nothing(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "desk-bad")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    ready_agent(admin, agent, me, "desk-bad")
    with desk(server, agent) as socket:
        contact = admin.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        ).json()["id"]
        offered_to(agent, contact, me)
        before = contact_of(agent, contact)
        bad: list[str | dict[str, Any]] = [
            "not json",
            "[1, 2]",
            {"op": "accept"},
            {"op": "explode", "contact_id": contact, "ref": "x"},
            {"op": "accept", "contact_id": "not-a-uuid"},
            {"op": "accept", "contact_id": contact, "agent_id": str(me)},
            {"op": "close", "contact_id": contact, "wrap_up": {"colour": "red"}},
            "x" * 70_000,
        ]
        for raw in bad:
            answer = command(socket, raw)
            assert answer["kind"] == "error" and answer["status"] in (413, 422), (raw, answer)
        assert command(socket, {"op": "explode", "contact_id": contact, "ref": "x"})["ref"] == "x"
        # A close while the offer is pending is the wrong state: refused, nothing changes.
        early = command(socket, {"op": "close", "contact_id": contact, "wrap_up": {}})
        assert early["kind"] == "error" and early["status"] == 409, early
        assert contact_of(agent, contact)["version"] == before["version"]
        # The socket still works after the bad commands.
        assert command(socket, {"op": "accept", "contact_id": contact})["kind"] == "done"


def test_a_token_without_contact_update_is_refused_and_the_denial_audited(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "desk-scope")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    ready_agent(admin, agent, me, "desk-scope")
    token = read_only_token(database_url, world)
    with desk(server, agent, Authorization=f"Bearer {token}") as socket:
        contact = admin.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        ).json()["id"]
        offered_to(agent, contact, me)
        answer = command(socket, {"op": "accept", "contact_id": contact, "ref": 3})
        assert answer["kind"] == "error" and answer["status"] == 403, answer
    assert contact_of(agent, contact)["state"] == "offered"
    entries = admin.request("GET", "/api/v1/audit", params={"action": "authz.denied"}).json()
    assert any(
        entry["actor_user_id"] == str(me)
        and entry["resource_type"] == "contact"
        and entry["detail"]["path"] == "/ws/routing/desk"
        for entry in entries
    ), entries


def test_open_desks_recheck_their_tokens_together_and_only_the_revoked_one_closes(
    server: LiveServer, world: World, database_url: str, monkeypatch: Any
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update
    from websockets.exceptions import ConnectionClosed

    from tsunagi.adapters.security.tokens import digest
    from tsunagi.adapters.storage.models import ApiToken
    from tsunagi.web.routing import desk as desk_module

    looked_up: list[int] = []
    real = desk_module.resolve_many

    async def counting(db: Database, **credentials: Any) -> Any:
        looked_up.append(sum(len(values) for values in credentials.values()))
        return await real(db, **credentials)

    monkeypatch.setattr(desk_module, "resolve_many", counting)
    monkeypatch.setattr(desk_module, "REVALIDATE_S", 0.2)  # the server runs in this process
    kept, revoked = read_only_token(database_url, world), read_only_token(database_url, world)

    async def revoke() -> None:
        db = Database(database_url)
        try:
            async with db.system() as session, session.begin():
                await session.execute(
                    update(ApiToken)
                    .where(ApiToken.token_hash == digest(revoked))
                    .values(revoked_at=datetime.now(UTC))
                )
        finally:
            await db.dispose()

    with (
        desk(server, None, Authorization=f"Bearer {kept}") as staying,  # type: ignore[arg-type]
        desk(server, None, Authorization=f"Bearer {revoked}") as leaving,  # type: ignore[arg-type]
    ):
        wait_for(lambda: len(looked_up) >= 2, "two periodic re-checks")
        assert max(looked_up) == 2  # one look-up carried both sockets' tokens
        run(revoke)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                leaving.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        # The other desk is still served: a command is answered (403: no contact:update).
        answer = command(staying, {"op": "accept", "contact_id": str(world.tenants["a"])})
        assert answer["kind"] == "error" and answer["status"] == 403


def test_a_desk_that_falls_behind_its_stream_is_closed_to_reconnect(
    server: LiveServer, world: World, database_url: str, client_factory: Any, monkeypatch: Any
) -> None:
    """More frames waiting for a desk than the bus keeps (``MAX_BACKLOG``, made 3 here) close
    that socket with 1013, to reconnect for a new snapshot; another user's desk open at the
    same time is still served. The frames are handed to the server's local fan-out directly
    (on its loop, faster than any socket is written): the one way to outrun the sender
    deterministically."""
    import asyncio

    from websockets.exceptions import ConnectionClosed

    from tsunagi.actions.routing.engine import desk_channel
    from tsunagi.adapters.bus import memory

    monkeypatch.setattr(memory, "MAX_BACKLOG", 3)
    token = read_only_token(database_url, world)
    agent = world.account("a", "communicator")
    supervisor = signed_in(client_factory, world, "supervisor")
    services = server.app.state.services
    loop = server.server.servers[0].get_loop()

    async def flood() -> None:
        frame = b'{"kind": "event", "event": {"type": "test.filler"}}'
        for _ in range(10):
            services.bus._fanout.deliver(desk_channel(world.tenants["a"], agent.user_id), frame)

    with (
        desk(server, None, Authorization=f"Bearer {token}") as behind,  # type: ignore[arg-type]
        desk(server, supervisor) as staying,
    ):
        asyncio.run_coroutine_threadsafe(flood(), loop).result(timeout=10)
        frames = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                behind.recv(timeout=5)
                frames += 1
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert frames <= 3
        answer = command(staying, {"op": "accept", "contact_id": str(world.tenants["a"])})
        assert answer["kind"] == "error" and answer["status"] == 404
