"""The wrap-up's extras through the API on both profiles: a follow-up or a callback saved
with the close (or nothing at all when a field is bad), the follow-up API (list, complete,
cancel with versions, authorization, other tenants), ``contact.closed`` carrying the
sub-reason and the suggested categories, and the suggestion hit rate derived from them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from integration.routing.test_routing_api import add_queue, signed_in, wait_for
from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.desk_models import ContactFollowUp
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.adapters.storage.routing_models import RoutingContact

RULES = {"required": ["category"], "sub_reasons": {"delivery-time": ["morning", "evening"]}}


def soon(hours: float = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def closed_events(database_url: str, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                rows = await session.scalars(
                    select(OutboxEvent.payload)
                    .where(OutboxEvent.type == "contact.closed")
                    .order_by(OutboxEvent.id)
                )
                return [json.loads(row) for row in rows]
        finally:
            await db.dispose()

    return run(read)


def counts(database_url: str, tenant_id: uuid.UUID) -> tuple[int, int]:
    """(follow-up rows, callback contacts)."""

    async def read() -> tuple[int, int]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                follow = await session.scalar(select(func.count()).select_from(ContactFollowUp))
                calls = await session.scalar(
                    select(func.count())
                    .select_from(RoutingContact)
                    .where(RoutingContact.channel == "callback")
                )
                return int(follow or 0), int(calls or 0)
        finally:
            await db.dispose()

    return run(read)


def in_wrap_up(
    client_factory: Any, world: World, database_url: str, *, rules: bool = True
) -> tuple[Browserless, Browserless, str, str]:
    queue_id = add_queue(database_url, world.tenants["a"], "delivery")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    assert admin.request(
        "PATCH", f"/api/v1/agents/{me}/profile", json={"skills": {"delivery": 5}}
    ).is_success
    agent.request("PATCH", f"/api/v1/agents/{me}/presence", json={"presence": "ready"})
    if rules:
        assert admin.request("PUT", f"/api/v1/queues/{queue_id}/wrap-up", json=RULES).is_success
    customer = admin.request(
        "POST",
        "/api/v1/customers",
        json={"name": "折り返し 太郎", "identifiers": [{"kind": "phone", "value": "03-5555-6666"}]},
    ).json()["id"]
    contact = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    ).json()["id"]
    assert admin.request(
        "PUT", f"/api/v1/contacts/{contact}/party", json={"kind": "phone", "address": "0355556666"}
    ).json() == {"candidates": 1}
    wait_for(
        lambda: agent.request("GET", f"/api/v1/contacts/{contact}").json()["state"] == "offered",
        "the offer",
    )
    assert agent.request("POST", f"/api/v1/contacts/{contact}/accept").status_code == 200
    assert agent.request("POST", f"/api/v1/contacts/{contact}/end").status_code == 200
    return admin, agent, customer, contact


def test_a_bad_extra_closes_nothing(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    admin, agent, _customer, contact = in_wrap_up(client_factory, world, database_url)
    tenant = world.tenants["a"]
    close = f"/api/v1/contacts/{contact}/close"
    good = {"category": "delivery-time", "sub_reason": "morning"}
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for extra, named in (
        ({"follow_up": {"due_at": past}}, "follow_up.due_at"),
        ({"follow_up": {"due_at": soon(), "note": "x" * 501}}, "follow_up.note"),
        ({"follow_up": {"due_at": "2026-12-24T10:00:00"}}, "follow_up.due_at"),
        ({"follow_up": {"due_at": soon(), "queue_id": str(uuid.uuid4())}}, "follow_up.queue_id"),
        ({"callback": {"callback_at": past}}, "callback.callback_at"),
        ({"suggested_categories": ["a", "b", "c", "d"]}, "suggested_categories"),
        ({"suggested_categories": ["a", "a"]}, "suggested_categories"),
        ({"follow_up": {"due_at": soon(), "surprise": 1}}, "surprise"),
    ):
        refused = agent.request("POST", close, json={**good, **extra})
        assert refused.status_code in (400, 422), (extra, refused.text)
        assert named in refused.text, (extra, refused.text)
        assert admin.request("GET", f"/api/v1/contacts/{contact}").json()["state"] == "wrap_up"
        assert counts(database_url, tenant) == (0, 0)
    assert closed_events(database_url, tenant) == []


def test_close_with_follow_up_callback_and_suggestions(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    admin, agent, customer, contact = in_wrap_up(client_factory, world, database_url)
    tenant = world.tenants["a"]
    me = str(world.account("a", "communicator").user_id)
    callback_at = soon(24)
    closed = agent.request(
        "POST",
        f"/api/v1/contacts/{contact}/close",
        json={
            "category": "delivery-time",
            "sub_reason": "evening",
            "resolved_first_contact": False,
            "suggested_categories": ["billing", "delivery-time"],
            "follow_up": {"due_at": soon(3), "note": "配送センターに確認して折り返す"},
            "callback": {"callback_at": callback_at},
        },
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    [event] = closed_events(database_url, tenant)
    assert (event["category"], event["sub_reason"], event["suggested_categories"]) == (
        "delivery-time",
        "evening",
        ["billing", "delivery-time"],
    )
    assert counts(database_url, tenant) == (1, 1)

    mine = agent.request("GET", "/api/v1/follow-ups").json()
    assert [(f["contact_id"], f["note"], f["owner_user_id"], f["customer_id"]) for f in mine] == [
        (contact, "配送センターに確認して折り返す", me, customer)
    ]
    assert mine[0]["due"] in ("today", "later") and mine[0]["customer_name"] == "折り返し 太郎"
    overdue = agent.request(
        "GET", "/api/v1/follow-ups", params={"due_before": datetime.now(UTC).isoformat()}
    )
    assert overdue.status_code == 200 and overdue.json() == []
    # The customer's open follow-ups (the screen-pop's "open issues").
    opened = admin.request(
        "GET", f"/api/v1/customers/{customer}/follow-ups", params={"reason": "check"}
    ).json()
    assert [f["id"] for f in opened] == [mine[0]["id"]]

    # The callback is a scheduled contact for the same customer, offered to me only.
    async def booked() -> tuple[str, str | None, list[str], uuid.UUID | None]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant, readonly=True) as session:
                row = await session.scalar(
                    select(RoutingContact).where(RoutingContact.channel == "callback")
                )
                assert row is not None
                party = await session.get(ContactParty, row.id)
                return (
                    row.state,
                    row.callback_at.isoformat() if row.callback_at else None,
                    list(row.target_agent_ids),
                    party.customer_id if party else None,
                )
        finally:
            await db.dispose()

    state, at, targets, linked = run(booked)
    assert state == "callback_scheduled"
    assert at is not None and abs(
        datetime.fromisoformat(at) - datetime.fromisoformat(callback_at)
    ) < timedelta(seconds=1)
    assert targets == [me]
    assert str(linked) == customer

    # Complete with the version seen; an older version is a conflict.
    path = f"/api/v1/follow-ups/{mine[0]['id']}"
    done = agent.request("POST", f"{path}/complete", json={"version": 1})
    assert done.status_code == 200, done.text
    assert done.json() == {"id": mine[0]["id"], "state": "done", "version": 2}
    stale = agent.request("POST", f"{path}/cancel", json={"version": 1})
    assert stale.status_code == 409, stale.text
    wrong = agent.request("POST", f"{path}/cancel", json={"version": "two"})
    assert wrong.status_code == 422 and "version" in wrong.text
    assert agent.request("GET", "/api/v1/follow-ups").json() == []
    assert (
        admin.request(
            "GET", f"/api/v1/customers/{customer}/follow-ups", params={"reason": "check"}
        ).json()
        == []
    )

    # The hit rate: one wrap-up with suggestions, the chosen category second of two.
    supervisor = signed_in(client_factory, world, "supervisor")
    rate = supervisor.request("GET", "/api/v1/figures/suggestion-hit-rate")
    assert rate.status_code == 200, rate.text
    assert {k: rate.json()[k] for k in ("count", "top1", "top3", "top1_rate", "top3_rate")} == {
        "count": 1,
        "top1": 0,
        "top3": 1,
        "top1_rate": 0.0,
        "top3_rate": 1.0,
    }
    assert agent.request("GET", "/api/v1/figures/suggestion-hit-rate").status_code == 403
    too_long = supervisor.request(
        "GET",
        "/api/v1/figures/suggestion-hit-rate",
        params={"since": "2026-01-01T00:00:00+00:00", "until": "2026-12-01T00:00:00+00:00"},
    )
    assert too_long.status_code == 422 and "period" in too_long.text
    other = client_factory()
    assert other.sign_in(world.account("b", "supervisor").username).status_code == 303
    assert other.request("GET", "/api/v1/figures/suggestion-hit-rate").json()["count"] == 0


def test_follow_up_api_authorization_and_tenants(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    admin, agent, _customer, contact = in_wrap_up(client_factory, world, database_url, rules=False)
    assert agent.request("POST", f"/api/v1/contacts/{contact}/close", json={}).status_code == 200
    [event] = closed_events(database_url, world.tenants["a"])
    assert (event["sub_reason"], event["suggested_categories"]) == (None, [])
    supervisor = signed_in(client_factory, world, "supervisor")
    created = supervisor.request(
        "POST", f"/api/v1/contacts/{contact}/follow-ups", json={"due_at": soon(), "note": "SV"}
    )
    assert created.status_code == 201, created.text
    follow_up = created.json()["id"]
    bad = supervisor.request(
        "POST", f"/api/v1/contacts/{contact}/follow-ups", json={"due_at": "2020-01-01T00:00:00Z"}
    )
    assert bad.status_code == 422 and "due_at" in bad.json()["detail"]
    # A communicator neither lists nor closes someone else's follow-up.
    assert agent.request("GET", "/api/v1/follow-ups", params={"owner": "team"}).json() == []
    assert agent.request("GET", "/api/v1/follow-ups", params={"owner": "all"}).status_code == 422
    assert (
        agent.request("POST", f"/api/v1/follow-ups/{follow_up}/complete", json={"version": 1})
    ).status_code == 404
    viewer = signed_in(client_factory, world, "client_viewer")
    assert viewer.request("GET", "/api/v1/follow-ups").status_code == 403
    # Another tenant: not there.
    other = client_factory()
    assert other.sign_in(world.account("b", "supervisor").username).status_code == 303
    assert other.request("GET", "/api/v1/follow-ups", params={"owner": "all"}).json() == []
    assert (
        other.request("POST", f"/api/v1/follow-ups/{follow_up}/cancel", json={"version": 1})
    ).status_code == 404
    assert (
        other.request("POST", f"/api/v1/contacts/{contact}/follow-ups", json={"due_at": soon()})
    ).status_code == 404
    listed = supervisor.request("GET", "/api/v1/follow-ups", params={"owner": "all"}).json()
    assert [(f["id"], f["state"], f["note"]) for f in listed] == [(follow_up, "open", "SV")]
    assert (
        admin.request("POST", f"/api/v1/follow-ups/{follow_up}/cancel", json={"version": 1}).json()[
            "state"
        ]
        == "cancelled"
    )


def test_the_knowledge_page_shows_supervisors_the_hit_rate(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    _admin, agent, _customer, contact = in_wrap_up(client_factory, world, database_url)
    closed = agent.request(
        "POST",
        f"/api/v1/contacts/{contact}/close",
        json={"category": "billing", "suggested_categories": ["billing", "delivery-time"]},
    )
    assert closed.status_code == 200, closed.text
    supervisor = signed_in(client_factory, world, "supervisor")
    page = supervisor.request("GET", "/knowledge")
    assert page.status_code == 200
    assert 'data-testid="kb-hit-rate"' in page.text
    assert "100.0%" in page.text and " 1 wrap-ups" in page.text
    assert 'data-testid="kb-hit-rate"' not in agent.request("GET", "/knowledge").text
