"""The routing REST API and the live floor over /ws/events, through a real server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.sync.client import connect

from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue


def add_queue(database_url: str, tenant_id: uuid.UUID, code: str) -> str:
    async def write() -> str:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code=code,
                    name_ja=code,
                    name_en=code,
                    channel="voice",
                    sl_threshold_s=20,
                    config={},
                    created_at=datetime.now(UTC),
                )
                session.add(queue)
            return str(queue.id)
        finally:
            await db.dispose()

    return run(write)


def signed_in(client_factory: Callable[[], Browserless], world: World, role: str) -> Browserless:
    client = client_factory()
    assert client.sign_in(world.account("a", role).username).status_code == 303
    return client


def wait_for(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_offer_accept_wrap_up_close_through_the_api(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "billing")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    supervisor = signed_in(client_factory, world, "supervisor")
    me = world.account("a", "communicator").user_id
    profile = admin.request(
        "PATCH",
        f"/api/v1/agents/{me}/profile",
        json={"skills": {"billing": 7}, "capacity": {"voice": 1}},
    )
    assert profile.status_code == 200, profile.text
    ready = agent.request("PATCH", f"/api/v1/agents/{me}/presence", json={"presence": "ready"})
    assert ready.status_code == 200, ready.text
    created = supervisor.request(
        "POST",
        "/api/v1/contacts",
        json={"channel": "voice", "queue_id": queue_id},
        headers={"Idempotency-Key": "call-1"},
    )
    assert created.status_code == 201, created.text
    again = supervisor.request(
        "POST",
        "/api/v1/contacts",
        json={"channel": "voice", "queue_id": queue_id},
        headers={"Idempotency-Key": "call-1"},
    )
    assert again.json()["id"] == created.json()["id"]
    assert again.json()["created"] is False
    contact = created.json()["id"]

    def offered() -> bool:
        body = agent.request("GET", f"/api/v1/contacts/{contact}").json()
        return body["state"] == "offered" and body["agent_id"] == str(me)

    wait_for(offered, "the offer")
    # Only the offered agent answers; a supervisor's accept is refused.
    assert supervisor.request("POST", f"/api/v1/contacts/{contact}/accept").status_code == 409
    assert agent.request("POST", f"/api/v1/contacts/{contact}/accept").status_code == 200
    assert agent.request("POST", f"/api/v1/contacts/{contact}/end").status_code == 200
    closed = agent.request(
        "POST",
        f"/api/v1/contacts/{contact}/close",
        json={"category": "billing-amount", "resolved_first_contact": True},
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    floor = supervisor.request("GET", "/api/v1/floor").json()
    billing = next(q for q in floor["queues"] if q["code"] == "billing")
    assert [o["answered"] for o in billing["outcomes"]] == [True]


def test_communicators_act_only_on_their_own(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "q")
    agent = signed_in(client_factory, world, "communicator")
    supervisor = signed_in(client_factory, world, "supervisor")
    other = world.account("a", "supervisor").user_id
    refused = agent.request("PATCH", f"/api/v1/agents/{other}/presence", json={"presence": "ready"})
    assert refused.status_code == 403
    contact = supervisor.request(
        "POST", "/api/v1/contacts", json={"channel": "chat", "queue_id": queue_id}
    ).json()["id"]
    assert agent.request("POST", f"/api/v1/contacts/{contact}/abandon").status_code == 403
    assert agent.request("POST", f"/api/v1/contacts/{contact}/end").status_code == 409
    abandoned = supervisor.request("POST", f"/api/v1/contacts/{contact}/abandon")
    assert abandoned.json()["state"] == "abandoned"
    bad = agent.request(
        "PATCH",
        f"/api/v1/agents/{world.account('a', 'communicator').user_id}/presence",
        json={"presence": "not_ready", "reason": "napping"},
    )
    assert bad.status_code == 422


def test_a_phone_number_or_address_as_customer_ref_is_refused(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    """customer_ref travels in events and logs: personal data must go as the (sealed) party."""
    queue_id = add_queue(database_url, world.tenants["a"], "refs")
    supervisor = signed_in(client_factory, world, "supervisor")
    for ref, what in [
        ("090-1234-5678", "phone number"),
        ("+81 3 1234 5678", "phone number"),
        ("hanako@example.jp", "e-mail address"),
    ]:
        refused = supervisor.request(
            "POST",
            "/api/v1/contacts",
            json={"channel": "voice", "queue_id": queue_id, "customer_ref": ref},
        )
        assert refused.status_code == 422, refused.text
        assert "customer_ref" in refused.text and what in refused.text
    listed = supervisor.request("GET", f"/api/v1/contacts?queue_id={queue_id}")
    assert listed.json() == []  # nothing was created
    kept = supervisor.request(
        "POST",
        "/api/v1/contacts",
        json={"channel": "voice", "queue_id": queue_id, "customer_ref": "CRM-00042"},
    )
    assert kept.status_code == 201, kept.text


def test_the_floor_snapshot_then_contact_events_on_the_socket(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "gas")
    supervisor = signed_in(client_factory, world, "supervisor")
    page = supervisor.request("GET", "/routing/wallboard")
    assert page.status_code == 200
    assert 'data-testid="queue-gas-waiting"' in page.text
    cookie = "; ".join(f"{c.name}={c.value}" for c in supervisor.http.cookies.jar)
    with connect(
        f"ws://127.0.0.1:{server.port}/ws/events",
        additional_headers={"Cookie": cookie},
        origin=server.url,
        open_timeout=10,
    ) as socket:  # type: ignore[arg-type]
        snapshot = json.loads(socket.recv(timeout=10))
        assert snapshot["kind"] == "snapshot"
        gas = next(q for q in snapshot["data"]["routing"]["queues"] if q["code"] == "gas")
        assert gas["waiting"] == []
        contact = supervisor.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        ).json()["id"]
        seen: list[str] = []
        while "contact.queued" not in seen:
            message = json.loads(socket.recv(timeout=5))
            if message["kind"] == "event" and message["event"].get("contact_id") == contact:
                seen.append(message["event"]["type"])
        assert seen == ["contact.created", "contact.queued"]


def test_pages_by_role(server: LiveServer, world: World, client_factory: Any) -> None:
    expectations = {
        "communicator": {"/routing/desk": 200, "/routing/floor": 403, "/routing/wallboard": 200},
        "supervisor": {"/routing/desk": 200, "/routing/floor": 200, "/routing/wallboard": 200},
        "client_viewer": {"/routing/desk": 403, "/routing/floor": 403, "/routing/wallboard": 403},
    }
    for role, pages in expectations.items():
        client = signed_in(client_factory, world, role)
        for path, status in pages.items():
            assert client.request("GET", path).status_code == status, f"{role} {path}"


def test_the_desk_socket_delivers_the_offer_and_only_the_agents_own(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "desk")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    admin.request("PATCH", f"/api/v1/agents/{me}/profile", json={"skills": {"desk": 5}})
    cookie = "; ".join(f"{c.name}={c.value}" for c in agent.http.cookies.jar)
    with connect(
        f"ws://127.0.0.1:{server.port}/ws/routing/desk",
        additional_headers={"Cookie": cookie},
        origin=server.url,  # type: ignore[arg-type]
        open_timeout=10,
    ) as socket:
        snapshot = json.loads(socket.recv(timeout=10))
        assert snapshot["kind"] == "snapshot"
        assert snapshot["mine"] == []
        agent.request("PATCH", f"/api/v1/agents/{me}/presence", json={"presence": "ready"})
        contact = admin.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        ).json()["id"]
        kinds: list[tuple[str, str | None]] = []
        while ("contact.offered", contact) not in kinds:
            event = json.loads(socket.recv(timeout=5))["event"]
            kinds.append((event["type"], event.get("contact_id")))
            assert event.get("agent_id") in (str(me), None) or event.get("last_agent_id") == str(me)
        assert ("contact.created", contact) not in kinds  # not the agent's business yet


def test_the_desk_socket_closes_when_the_session_ends(
    server: LiveServer, world: World, client_factory: Any, monkeypatch: Any
) -> None:
    from websockets.exceptions import ConnectionClosed

    from tsunagi.web.routing import desk

    monkeypatch.setattr(desk, "REVALIDATE_S", 0.2)  # the server runs in this process
    agent = signed_in(client_factory, world, "communicator")
    cookie = "; ".join(f"{c.name}={c.value}" for c in agent.http.cookies.jar)
    with connect(
        f"ws://127.0.0.1:{server.port}/ws/routing/desk",
        additional_headers={"Cookie": cookie},
        origin=server.url,  # type: ignore[arg-type]
        open_timeout=10,
    ) as socket:
        assert json.loads(socket.recv(timeout=10))["kind"] == "snapshot"
        assert agent.request("POST", "/logout").status_code == 303
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001, closed.value
        assert time.monotonic() - started < 5


def test_consultative_transfer_to_the_supervisor_through_the_api(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "billing")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    supervisor = signed_in(client_factory, world, "supervisor")
    me = world.account("a", "communicator").user_id
    boss = world.account("a", "supervisor").user_id
    for who, skills in ((me, {"billing": 5}), (boss, {"escalation": 5})):
        profile = admin.request(
            "PATCH",
            f"/api/v1/agents/{who}/profile",
            json={"skills": skills, "capacity": {"voice": 1}},
        )
        assert profile.status_code == 200, profile.text
    assert (
        agent.request(
            "PATCH", f"/api/v1/agents/{me}/presence", json={"presence": "ready"}
        ).status_code
        == 200
    )
    contact = supervisor.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    ).json()["id"]
    wait_for(
        lambda: agent.request("GET", f"/api/v1/contacts/{contact}").json()["state"] == "offered",
        "the offer",
    )
    assert agent.request("POST", f"/api/v1/contacts/{contact}/accept").status_code == 200

    nobody = agent.request("POST", f"/api/v1/contacts/{contact}/consult", json={})
    assert nobody.status_code == 422 and "agent_id" in nobody.text
    assert agent.request("GET", f"/api/v1/contacts/{contact}").json()["state"] == "connected"
    started = agent.request("POST", f"/api/v1/contacts/{contact}/consult", json={"escalate": True})
    assert started.status_code == 201, started.text
    assert started.json()["contact"]["state"] == "on_hold"
    consult = started.json()["consult_id"]
    again = agent.request("POST", f"/api/v1/contacts/{contact}/consult", json={"escalate": True})
    assert again.status_code == 409
    early = agent.request("POST", f"/api/v1/contacts/{contact}/consult/complete")
    assert early.status_code == 409
    assert (
        supervisor.request(
            "PATCH", f"/api/v1/agents/{boss}/presence", json={"presence": "ready"}
        ).status_code
        == 200
    )
    wait_for(
        lambda: (
            supervisor.request("GET", f"/api/v1/contacts/{consult}").json()["state"] == "offered"
        ),
        "the consultation's offer",
    )
    shown = supervisor.request("GET", f"/api/v1/contacts/{consult}").json()
    assert shown["consult_of"] == contact and shown["agent_id"] == str(boss)
    assert supervisor.request("POST", f"/api/v1/contacts/{consult}/accept").status_code == 200
    done = agent.request("POST", f"/api/v1/contacts/{contact}/consult/complete")
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["agent_id"]) == ("connected", str(boss))
    # The communicator's part is over: the contact is no longer theirs to act on.
    assert agent.request("POST", f"/api/v1/contacts/{contact}/end").status_code == 409


def test_creates_beyond_the_admission_limit_are_answered_503_and_nothing_is_created(
    server: LiveServer, world: World, database_url: str, client_factory: Any, monkeypatch: Any
) -> None:
    from tsunagi.web.routing import api

    queue_id = add_queue(database_url, world.tenants["a"], "admission")
    supervisor = signed_in(client_factory, world, "supervisor")
    body = {"channel": "voice", "queue_id": queue_id}
    # As if the server process were handling the limit's worth of creates right now.
    monkeypatch.setattr(api._Admission, "in_flight", api.CREATES_IN_FLIGHT_MAX)
    refused = supervisor.request(
        "POST", "/api/v1/contacts", json=body, headers={"Idempotency-Key": "admit-1"}
    )
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == str(api.CREATE_RETRY_AFTER_S)
    listed = supervisor.request("GET", f"/api/v1/contacts?queue_id={queue_id}")
    assert listed.status_code == 200 and listed.json() == []
    monkeypatch.setattr(api._Admission, "in_flight", api.CREATES_IN_FLIGHT_MAX - 1)
    again = supervisor.request(
        "POST", "/api/v1/contacts", json=body, headers={"Idempotency-Key": "admit-1"}
    )
    assert again.status_code == 201, again.text
    assert api._Admission.in_flight == api.CREATES_IN_FLIGHT_MAX - 1  # released after
    listed = supervisor.request("GET", f"/api/v1/contacts?queue_id={queue_id}")
    assert [c["id"] for c in listed.json()] == [again.json()["id"]]
