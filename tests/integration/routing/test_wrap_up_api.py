"""Wrap-up rules per queue on both profiles: administrators set the required fields and the
sub-reasons of each category; closing a contact that misses one is refused with the field
named and nothing changed; a complete wrap-up closes it and keeps the sub-reason."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from integration.routing.test_routing_api import add_queue, signed_in, wait_for
from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue

RULES = {
    "required": ["category", "sub_reason", "resolved_first_contact"],
    "sub_reasons": {"delivery-time": ["morning", "evening"], "billing": []},
}


def queue_config(database_url: str, tenant_id: uuid.UUID, queue_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                config = await session.scalar(
                    select(Queue.config).where(Queue.id == uuid.UUID(queue_id))
                )
                return dict(config or {})
        finally:
            await db.dispose()

    return run(read)


def sub_reason_of(database_url: str, tenant_id: uuid.UUID, contact_id: str) -> str | None:
    async def read() -> str | None:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                party = await session.get(ContactParty, uuid.UUID(contact_id))
                return None if party is None else party.sub_reason
        finally:
            await db.dispose()

    return run(read)


def test_rules_are_set_by_administrators_and_validated(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "delivery")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    path = f"/api/v1/queues/{queue_id}/wrap-up"
    assert admin.request("GET", path).json() == {"required": [], "sub_reasons": {}}

    saved = admin.request("PUT", path, json=RULES)
    assert saved.status_code == 200, saved.text
    assert saved.json() == RULES
    assert admin.request("GET", path).json() == RULES
    assert queue_config(database_url, world.tenants["a"], queue_id)["wrap_up"] == RULES

    assert agent.request("PUT", path, json={"required": []}).status_code == 403
    for bad in (
        {"required": ["follow_up"]},
        {"required": ["category", "category"]},
        {"sub_reasons": {"billing": ["late", "late"]}},
        {"sub_reasons": {"billing": ["x" * 64]}},
        {"sub_reasons": {"": ["late"]}},
        {"required": [], "surprise": True},
    ):
        refused = admin.request("PUT", path, json=bad)
        assert refused.status_code in (400, 422), (bad, refused.text)
        assert refused.json()["detail"], bad
    assert admin.request("GET", path).json() == RULES
    missing = admin.request("GET", f"/api/v1/queues/{uuid.uuid4()}/wrap-up")
    assert missing.status_code == 404


def in_wrap_up(
    client_factory: Callable[[], Browserless], world: World, database_url: str
) -> tuple[Browserless, Browserless, str, str]:
    queue_id = add_queue(database_url, world.tenants["a"], "delivery")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    profile = admin.request(
        "PATCH", f"/api/v1/agents/{me}/profile", json={"skills": {"delivery": 5}}
    )
    assert profile.status_code == 200, profile.text
    assert agent.request("PATCH", f"/api/v1/agents/{me}/presence", json={"presence": "ready"})
    assert admin.request("PUT", f"/api/v1/queues/{queue_id}/wrap-up", json=RULES).is_success
    created = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    contact = created.json()["id"]
    wait_for(
        lambda: agent.request("GET", f"/api/v1/contacts/{contact}").json()["state"] == "offered",
        "the offer",
    )
    assert agent.request("POST", f"/api/v1/contacts/{contact}/accept").status_code == 200
    assert agent.request("POST", f"/api/v1/contacts/{contact}/end").status_code == 200
    return admin, agent, queue_id, contact


def test_closing_needs_every_required_field(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    admin, agent, _queue_id, contact = in_wrap_up(client_factory, world, database_url)
    assert agent.request("GET", f"/api/v1/contacts/{contact}/wrap-up").json() == RULES
    close = f"/api/v1/contacts/{contact}/close"
    for body, named in (
        ({"sub_reason": "morning", "resolved_first_contact": True}, "category"),
        ({"category": "delivery-time", "resolved_first_contact": True}, "sub_reason"),
        (
            {"category": "delivery-time", "sub_reason": "night", "resolved_first_contact": True},
            "sub_reason",
        ),
        ({"category": "delivery-time", "sub_reason": "morning"}, "resolved_first_contact"),
        ({"category": "x" * 64, "resolved_first_contact": True}, "category"),
    ):
        refused = agent.request("POST", close, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert named in refused.json()["detail"], (body, refused.text)
        after = admin.request("GET", f"/api/v1/contacts/{contact}").json()
        assert (after["state"], after["category"]) == ("wrap_up", None)
    assert sub_reason_of(database_url, world.tenants["a"], contact) is None

    closed = agent.request(
        "POST",
        close,
        json={
            "category": "delivery-time",
            "sub_reason": "evening",
            "resolved_first_contact": False,
        },
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["state"], body["category"], body["resolved_first_contact"]) == (
        "closed",
        "delivery-time",
        False,
    )
    assert sub_reason_of(database_url, world.tenants["a"], contact) == "evening"
    # Notes saved afterwards keep the sub-reason the close wrote.
    noted = agent.request("PUT", f"/api/v1/contacts/{contact}/notes", json={"notes": "夜に再配達"})
    assert noted.status_code == 204, noted.text
    assert sub_reason_of(database_url, world.tenants["a"], contact) == "evening"


def test_a_category_without_sub_reasons_needs_none(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    _admin, agent, _queue_id, contact = in_wrap_up(client_factory, world, database_url)
    closed = agent.request(
        "POST",
        f"/api/v1/contacts/{contact}/close",
        json={"category": "billing", "resolved_first_contact": True},
    )
    assert closed.status_code == 200, closed.text
    assert sub_reason_of(database_url, world.tenants["a"], contact) is None


def test_another_tenant_cannot_read_or_set_the_rules(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "delivery")
    other = client_factory()
    assert other.sign_in(world.account("b", "administrator").username).status_code == 303
    assert other.request("GET", f"/api/v1/queues/{queue_id}/wrap-up").status_code == 404
    assert other.request("PUT", f"/api/v1/queues/{queue_id}/wrap-up", json=RULES).status_code == 404
    assert "wrap_up" not in queue_config(database_url, world.tenants["a"], queue_id)
