"""``POST /api/v1/calls`` (click-to-call) on both profiles: the contact and its sealed
number in one commit, who may place calls for whom, and clear refusals. The live SIP
path of a placed call is in tests/voice/test_voice_contacts.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from integration.routing.test_routing_api import add_queue, signed_in
from testkit import LiveServer, World, run
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import RoutingContact


def _rows(database_url: str, tenant_id: Any) -> list[tuple[RoutingContact, ContactParty | None]]:
    async def read() -> list[tuple[RoutingContact, ContactParty | None]]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                rows = await session.execute(
                    select(RoutingContact, ContactParty)
                    .outerjoin(ContactParty, ContactParty.contact_id == RoutingContact.id)
                    .where(RoutingContact.source == "click_to_call")
                )
                return [(c, p) for c, p in rows]
        finally:
            await db.dispose()

    return run(read)


def test_a_communicator_places_a_call_for_themselves_only(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    tenant = world.tenants["a"]
    queue_id = add_queue(database_url, tenant, "outbound")
    admin = signed_in(client_factory, world, "administrator")
    agent = signed_in(client_factory, world, "communicator")
    me = world.account("a", "communicator").user_id
    supervisor_id = world.account("a", "supervisor").user_id

    no_phone = agent.request(
        "POST", "/api/v1/calls", json={"queue_id": queue_id, "number": "0312345678"}
    )
    assert no_phone.status_code == 409, no_phone.text
    assert "voice capacity" in no_phone.text
    profile = admin.request(
        "PATCH",
        f"/api/v1/agents/{me}/profile",
        json={"skills": {"outbound": 5}, "capacity": {"voice": 1}},
    )
    assert profile.status_code == 200, profile.text

    bad = agent.request("POST", "/api/v1/calls", json={"queue_id": queue_id, "number": "soon"})
    assert bad.status_code == 422, bad.text
    assert "number" in bad.text
    for_someone_else = agent.request(
        "POST",
        "/api/v1/calls",
        json={"queue_id": queue_id, "number": "0312345678", "agent_id": str(supervisor_id)},
    )
    assert for_someone_else.status_code == 403, for_someone_else.text
    assert _rows(database_url, tenant) == []  # refusals wrote nothing

    placed = agent.request(
        "POST", "/api/v1/calls", json={"queue_id": queue_id, "number": "03-1234-5678"}
    )
    assert placed.status_code == 201, placed.text
    ((contact, party),) = _rows(database_url, tenant)
    assert str(contact.id) == placed.json()["contact_id"]
    assert contact.channel == "callback" and contact.target_agent_ids == [str(me)]
    assert party is not None and party.kind == "phone"
    assert b"1234" not in party.address_enc  # the number is sealed

    supervisor = signed_in(client_factory, world, "supervisor")
    for_agent = supervisor.request(
        "POST",
        "/api/v1/calls",
        json={"queue_id": queue_id, "number": "0312345678", "agent_id": str(me)},
    )
    assert for_agent.status_code == 201, for_agent.text
    viewer = signed_in(client_factory, world, "client_viewer")
    assert (
        viewer.request(
            "POST", "/api/v1/calls", json={"queue_id": queue_id, "number": "0312345678"}
        ).status_code
        == 403
    )


def test_pausing_a_recording_needs_a_call_in_conversation(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> None:
    queue_id = add_queue(database_url, world.tenants["a"], "pay")
    supervisor = signed_in(client_factory, world, "supervisor")
    waiting = supervisor.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    ).json()["id"]
    refused = supervisor.request("POST", f"/api/v1/contacts/{waiting}/recording/pause")
    assert refused.status_code == 409, refused.text
    assert "in conversation" in refused.text
    viewer = signed_in(client_factory, world, "client_viewer")
    assert viewer.request("POST", f"/api/v1/contacts/{waiting}/recording/pause").status_code == 403
    other_tenant = client_factory()
    assert other_tenant.sign_in(world.account("b", "supervisor").username).status_code == 303
    missing = other_tenant.request("POST", f"/api/v1/contacts/{waiting}/recording/resume")
    assert missing.status_code == 404, missing.text
