"""The event stream end to end: outbox → relay → bus → /ws/events, on both profiles."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from testkit import Browserless, LiveServer, World
from tsunagi.actions.events import emit
from tsunagi.adapters.storage.db import Database
from tsunagi.domain.users import UserDeactivatedEvent


class Subscriber:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    def next(self, timeout: float = 5) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.connection.recv(timeout=timeout))
        return message

    def events(self, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        return [self.next(timeout) for _ in range(count)]

    def silent_for(self, seconds: float) -> bool:
        try:
            self.connection.recv(timeout=seconds)
        except TimeoutError:
            return True
        return False


@contextmanager
def subscribe(
    server: LiveServer,
    client: Browserless,
    last_event_id: int | None = None,
    origin: str | None = None,
) -> Iterator[Subscriber]:
    query = "" if last_event_id is None else f"?last_event_id={last_event_id}"
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies.jar)
    with connect(
        f"ws://127.0.0.1:{server.port}/ws/events{query}",
        additional_headers={"Cookie": cookie},
        origin=origin or server.url,  # type: ignore[arg-type]
        open_timeout=10,
    ) as connection:
        yield Subscriber(connection)


def signed_in(client_factory: Any, world: World, tenant: str, role: str) -> Browserless:
    client: Browserless = client_factory()
    assert client.sign_in(world.account(tenant, role).username).status_code == 303
    return client


def create_user(admin: Browserless, name: str) -> str:
    response = admin.request(
        "POST",
        "/api/v1/users",
        json={
            "username": name,
            "display_name": name,
            "password": "a-long-enough-password",
            "roles": ["communicator"],
        },
    )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_committed_action_is_delivered_once(server, client_factory, world: World) -> None:
    admin = signed_in(client_factory, world, "a", "administrator")
    with subscribe(server, admin) as stream:
        snapshot = stream.next()
        assert snapshot["kind"] == "snapshot"
        start = snapshot["last_event_id"]
        user_id = create_user(admin, unique("new"))
        event = stream.next()
        assert event["kind"] == "event"
        assert event["seq"] == start + 1
        assert event["event"]["type"] == "user.created"
        assert event["event"]["user_id"] == user_id
        assert event["event"]["tenant_id"] == str(world.tenants["a"])
        assert stream.silent_for(1.0), "the event was delivered twice"


def test_a_rolled_back_action_publishes_nothing(
    server, client_factory, world: World, database_url: str
) -> None:
    admin = signed_in(client_factory, world, "a", "administrator")
    tenant = world.tenants["a"]

    async def write(commit: bool, marker: uuid.UUID) -> None:
        db = Database(database_url)
        try:
            async with db.scoped(tenant) as session, session.begin():
                emit(
                    session,
                    UserDeactivatedEvent(
                        tenant_id=tenant,
                        occurred_at=datetime.now(UTC),
                        actor="test",
                        user_id=marker,
                    ),
                )
                if not commit:
                    await session.rollback()
        finally:
            await db.dispose()

    with subscribe(server, admin) as stream:
        start = stream.next()["last_event_id"]
        rolled_back, committed = uuid.uuid4(), uuid.uuid4()
        asyncio.run(write(False, rolled_back))
        asyncio.run(write(True, committed))
        event = stream.next()
        assert event["seq"] == start + 1
        assert event["event"]["user_id"] == str(committed)
        assert stream.silent_for(1.0)


def test_resume_gets_exactly_what_was_missed(server, client_factory, world: World) -> None:
    admin = signed_in(client_factory, world, "a", "administrator")
    with subscribe(server, admin) as stream:
        start = stream.next()["last_event_id"]
        seen = create_user(admin, unique("seen"))
        assert stream.next()["event"]["user_id"] == seen
    missed = [create_user(admin, unique("missed")) for _ in range(3)]
    time.sleep(0.3)  # let the relay publish to nobody
    with subscribe(server, admin, last_event_id=start + 1) as stream:
        replayed = stream.events(3)
        assert [e["seq"] for e in replayed] == [start + 2, start + 3, start + 4]
        assert [e["event"]["user_id"] for e in replayed] == missed
        live = create_user(admin, unique("live"))
        after = stream.next()
        assert (after["seq"], after["event"]["user_id"]) == (start + 5, live)
        assert stream.silent_for(0.5)


def test_events_stay_in_their_tenant_and_role(server, client_factory, world: World) -> None:
    admin = signed_in(client_factory, world, "a", "administrator")
    communicator = signed_in(client_factory, world, "a", "communicator")
    other_admin = signed_in(client_factory, world, "b", "administrator")
    with (
        subscribe(server, admin) as mine,
        subscribe(server, communicator) as floor,
        subscribe(server, other_admin) as theirs,
    ):
        for stream in (mine, floor, theirs):
            assert stream.next()["kind"] == "snapshot"
        create_user(admin, unique("private"))
        assert mine.next()["event"]["type"] == "user.created"
        assert floor.silent_for(0.7), "a communicator may not read user events"
        assert theirs.silent_for(0.3), "another tenant saw the event"


def test_cross_origin_subscriptions_are_refused(server, client_factory, world: World) -> None:
    admin = signed_in(client_factory, world, "a", "administrator")
    with (
        pytest.raises(InvalidStatus) as refused,
        subscribe(server, admin, origin="http://evil.example") as stream,
    ):
        stream.next()
    assert refused.value.response.status_code == 403


def test_signed_out_subscribers_are_refused(server) -> None:
    anonymous = Browserless(server.url)
    with pytest.raises(InvalidStatus) as refused, subscribe(server, anonymous) as stream:
        stream.next()
    anonymous.close()
    assert refused.value.response.status_code in (401, 403)


def test_revoking_a_session_closes_its_stream(server, client_factory, world: World) -> None:
    admin = signed_in(client_factory, world, "a", "administrator")
    supervisor = signed_in(client_factory, world, "a", "supervisor")
    user_id = str(world.account("a", "supervisor").user_id)
    with subscribe(server, supervisor) as stream:
        assert stream.next()["kind"] == "snapshot"
        changed = admin.request("PATCH", f"/api/v1/users/{user_id}", json={"roles": ["manager"]})
        assert changed.status_code == 200, changed.text
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                stream.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    assert supervisor.http.get("/api/v1/me").status_code == 401


def test_a_subscriber_that_falls_behind_is_closed_and_resumes(
    server, client_factory, world: World, monkeypatch: Any
) -> None:
    """More frames waiting for a subscriber than the bus keeps (``MAX_BACKLOG``, made 3
    here) close that socket with 1013; it reconnects with ``last_event_id`` and gets the
    next event. A subscriber of another tenant is served throughout. The frames are handed
    to the server's local fan-out directly (on its loop, faster than any socket is
    written): the one way to outrun the sender deterministically."""
    from tsunagi.adapters.bus import memory
    from tsunagi.adapters.relay import tenant_channel

    monkeypatch.setattr(memory, "MAX_BACKLOG", 3)
    admin = signed_in(client_factory, world, "a", "administrator")
    other = signed_in(client_factory, world, "b", "administrator")
    services = server.app.state.services
    loop = server.server.servers[0].get_loop()
    with subscribe(server, admin) as behind, subscribe(server, other) as staying:
        start = behind.next()["last_event_id"]
        staying.next()  # its snapshot

        async def flood() -> None:
            for seq in range(start + 1, start + 11):
                event = {"type": "user.deactivated", "user_id": str(uuid.uuid4())}
                frame = {"seq": seq, "event_id": str(uuid.uuid4()), "event": event}
                services.bus._fanout.deliver(
                    tenant_channel(world.tenants["a"]), json.dumps(frame).encode()
                )

        asyncio.run_coroutine_threadsafe(flood(), loop).result(timeout=10)
        frames = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                behind.next()
                frames += 1
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert frames <= 3
        served = create_user(other, unique("other"))
        assert staying.next()["event"]["user_id"] == served
    with subscribe(server, admin, last_event_id=start) as resumed:
        user_id = create_user(admin, unique("after"))
        event = resumed.next()
        assert (event["seq"], event["event"]["user_id"]) == (start + 1, user_id)
