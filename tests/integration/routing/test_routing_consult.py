"""Consultation and consultative transfer on SQLite + memory bus and PostgreSQL + Redis."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from integration.routing.routing_floor import Floor, events_of
from tsunagi.actions.routing.consult import (
    do_cancel_consult,
    do_complete_consult,
    do_start_consult,
)
from tsunagi.actions.routing.contacts import TransferTarget
from tsunagi.actions.routing.offers import do_accept_offer, do_end_contact
from tsunagi.adapters.storage.routing_models import RoutingAssignment
from tsunagi.domain.errors import ConflictError, InvalidInputError
from tsunagi.domain.events import decode_event
from tsunagi.figures.fold import Fold
from tsunagi.routing.agents import Presence
from tsunagi.routing.events import ContactEvent


async def _talking(floor: Floor, agent: str) -> uuid.UUID:
    """A new billing contact, offered to and accepted by ``agent``."""
    contact_id = await floor.create("billing")
    offered = await floor.wait_state(contact_id, "offered")
    assert offered.agent_id == floor.agents[agent]
    await _accept(floor, contact_id, agent)
    return contact_id


async def _accept(floor: Floor, contact_id: uuid.UUID, agent: str) -> None:
    await do_accept_offer(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=contact_id,
        agent_id=floor.agents[agent],
        actor=agent,
    )


async def _holders(floor: Floor) -> dict[uuid.UUID, uuid.UUID]:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        rows = await session.execute(
            select(RoutingAssignment.contact_id, RoutingAssignment.agent_id)
        )
    return {row[0]: row[1] for row in rows}


async def test_consultative_transfer_hands_the_customer_to_the_colleague(floor: Floor) -> None:
    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    contact_id = await _talking(floor, "aiko")
    await floor.add_agent("ren", {"billing": 5}, ready=False)
    tenant, aiko, ren = floor.tenant_id, floor.agents["aiko"], floor.agents["ren"]

    consult_id = await do_start_consult(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        by_agent_id=aiko,
        target=TransferTarget(agent_id=ren),
        actor="aiko",
    )
    assert (await floor.contact(contact_id)).state == "on_hold"
    consult = await floor.contact(consult_id)
    assert consult.consult_of == contact_id and consult.state == "queued"
    # Not answered yet: the hand-over is refused and changes nothing.
    with pytest.raises(ConflictError):
        await do_complete_consult(
            floor.db, tenant_id=tenant, contact_id=contact_id, by_agent_id=aiko, actor="aiko"
        )
    await floor.presence("ren", Presence.READY)
    offered = await floor.wait_state(consult_id, "offered")
    assert offered.agent_id == ren
    await _accept(floor, consult_id, "ren")

    handed = await do_complete_consult(
        floor.db, tenant_id=tenant, contact_id=contact_id, by_agent_id=aiko, actor="aiko"
    )
    assert handed == ren
    customer = await floor.contact(contact_id)
    assert (customer.state, customer.agent_id, customer.last_agent_id) == ("connected", ren, aiko)
    assert (await floor.contact(consult_id)).state == "closed"
    # Each contact has one holder; Aiko holds nothing, Ren the customer only.
    assert await _holders(floor) == {contact_id: ren}
    types = [e["type"] for e in await events_of(floor, contact_id)]
    assert types[-4:] == [
        "contact.connected",
        "contact.held",
        "contact.transferred",
        "contact.connected",
    ]
    transferred = [
        e for e in await events_of(floor, contact_id) if e["type"] == "contact.transferred"
    ]
    assert transferred[0]["mode"] == "consult"
    assert transferred[0]["from_agent_id"] == str(aiko)
    assert transferred[0]["to_agent_id"] == str(ren)

    # Ren ends the call: Ren's after-call work, and the consultation left no trace in the
    # figures — one offered, one answered, one transfer, two communicators' segments.
    await do_end_contact(
        floor.db, tenant_id=tenant, contact_id=contact_id, agent_id=ren, actor="ren"
    )
    fold = await _folded(floor, [contact_id, consult_id])
    record = fold.contacts[contact_id]
    assert consult_id not in fold.contacts
    assert record.transfers == 1
    assert [s.agent_id for s in record.segments] == [aiko, ren]
    assert record.segments[0].hold_ms > 0


async def test_cancelling_brings_the_agent_back_and_the_colleague_may_hang_up(
    floor: Floor,
) -> None:
    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    contact_id = await _talking(floor, "aiko")
    await floor.add_agent("sv", {"escalation": 5})
    tenant, aiko = floor.tenant_id, floor.agents["aiko"]

    # Escalation consult: the supervisors' skill finds the supervisor.
    first = await do_start_consult(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        by_agent_id=aiko,
        target=TransferTarget(escalate=True),
        actor="aiko",
    )
    offered = await floor.wait_state(first, "offered")
    assert offered.agent_id == floor.agents["sv"] and offered.escalated
    # A second one while the first runs is refused.
    with pytest.raises(ConflictError):
        await do_start_consult(
            floor.db,
            tenant_id=tenant,
            contact_id=contact_id,
            by_agent_id=aiko,
            target=TransferTarget(escalate=True),
            actor="aiko",
        )
    await do_cancel_consult(
        floor.db, tenant_id=tenant, contact_id=contact_id, by_agent_id=aiko, actor="aiko"
    )
    assert (await floor.contact(first)).state == "abandoned"
    back = await floor.contact(contact_id)
    assert (back.state, back.agent_id) == ("connected", aiko)
    assert await _holders(floor) == {contact_id: aiko}

    # Again; the supervisor answers and hangs up: the consultation closes without
    # after-call work, and Aiko still has the customer, on hold until she resumes.
    second = await do_start_consult(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        by_agent_id=aiko,
        target=TransferTarget(escalate=True),
        actor="aiko",
    )
    await floor.wait_state(second, "offered")
    await _accept(floor, second, "sv")
    await do_end_contact(
        floor.db, tenant_id=tenant, contact_id=second, agent_id=floor.agents["sv"], actor="sv"
    )
    ended = await floor.contact(second)
    assert (ended.state, ended.outcome) == ("closed", "consult_ended")
    assert (await floor.contact(contact_id)).state == "on_hold"
    assert await _holders(floor) == {contact_id: aiko}
    with pytest.raises(ConflictError):  # nothing left to hand over
        await do_complete_consult(
            floor.db, tenant_id=tenant, contact_id=contact_id, by_agent_id=aiko, actor="aiko"
        )


async def test_bad_consultations_are_refused_and_change_nothing(floor: Floor) -> None:
    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    contact_id = await _talking(floor, "aiko")
    await floor.add_agent("ren", {"billing": 5}, ready=False)
    tenant, aiko, ren = floor.tenant_id, floor.agents["aiko"], floor.agents["ren"]
    before = (await floor.contact(contact_id)).version
    bad = [
        (aiko, TransferTarget(agent_id=aiko), InvalidInputError),  # with oneself
        (aiko, TransferTarget(), InvalidInputError),  # nobody named
        (aiko, TransferTarget(agent_id=ren, escalate=True), InvalidInputError),  # two targets
        (ren, TransferTarget(agent_id=aiko), ConflictError),  # not Ren's contact
    ]
    for by, target, error in bad:
        with pytest.raises(error):
            await do_start_consult(
                floor.db,
                tenant_id=tenant,
                contact_id=contact_id,
                by_agent_id=by,
                target=target,
                actor="t",
            )
    customer = await floor.contact(contact_id)
    assert (customer.state, customer.version) == ("connected", before)
    with pytest.raises(ConflictError):
        await do_cancel_consult(
            floor.db, tenant_id=tenant, contact_id=contact_id, by_agent_id=aiko, actor="aiko"
        )


async def _folded(floor: Floor, contact_ids: list[uuid.UUID]) -> Fold:
    """The figures' fold over the contacts' events, in stream order."""
    fold = Fold()
    for contact_id in contact_ids:
        for raw in await events_of(floor, contact_id):
            event = decode_event(json.dumps(raw))
            assert isinstance(event, ContactEvent)
            fold.apply(event)
    return fold
