"""Consultation: an agent asks a colleague, a queue or the supervisors while the customer
holds, then hands the customer over (consultative transfer) or comes back.

A consultation is a contact of its own (``consult_of`` = the customer's contact), routed
like any other: offered to the named agent (or to whoever the queue or the supervisors'
skill finds), with an offer timeout, using the colleague's capacity on the channel. So
each contact is still held by exactly one agent, and the routing invariants hold as they
are. Its events carry ``consult_of``; figures leave them out (the customer's contact
counts the hold time). The customer's contact stays with the first agent, on hold, until:

* **complete** — the colleague is talking on the consultation: the consultation closes
  and, in the same transaction, the customer's contact moves to the colleague
  (``contact.transferred`` with ``mode="consult"``, then ``contact.connected``); the
  first agent's part ends as after a blind transfer;
* **cancel** — the consultation ends wherever it is (waiting, offered or talking) and the
  customer's contact is resumed with the first agent.

One consultation at a time per contact. Ending the consultation from either desk closes
it (no after-call work: it is not a customer contact).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.events import emit
from tsunagi.actions.routing.contacts import NewContact, TransferTarget, create_contact_in
from tsunagi.actions.routing.rows import (
    announce_agent,
    contact_fields,
    lock_agent,
    lock_contact,
    move,
    release_assignment,
    utcnow,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import (
    RoutingAgent,
    RoutingAssignment,
    RoutingContact,
)
from tsunagi.domain.errors import ConflictError, InvalidInputError
from tsunagi.routing.events import (
    ContactAbandonedEvent,
    ContactClosedEvent,
    ContactConnectedEvent,
    ContactEndedEvent,
    ContactHeldEvent,
    ContactResumedEvent,
    ContactTransferredEvent,
)
from tsunagi.routing.lifecycle import IN_CONVERSATION, TERMINAL, ContactState

S = ContactState
# Above any ordinary priority: an agent and a customer on hold wait for this answer.
CONSULT_PRIORITY = 1000
CONSULT_SOURCE = "consult"


async def do_start_consult(
    db: Database,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    by_agent_id: UUID | None,
    target: TransferTarget,
    actor: str | None,
) -> UUID:
    """Put the customer on hold and ask ``target``; returns the consultation's id.

    ``by_agent_id`` (when given) must hold the contact; a supervisor acting for the floor
    passes ``None`` and the holder consults."""
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        # The contact first: another tenant's (or an unknown) one is simply not found.
        contact = await lock_contact(session, contact_id)
        if sum((target.agent_id is not None, target.queue_id is not None, target.escalate)) != 1:
            raise InvalidInputError(
                "a consultation needs exactly one of agent_id, queue_id, escalate"
            )
        holder = await _check_holder(contact, by_agent_id)
        if contact.consult_of is not None:
            raise ConflictError("a consultation cannot itself be consulted on")
        if target.agent_id == holder:
            raise InvalidInputError("agent_id: a consultation is with someone else")
        if await active_consult(session, contact.id) is not None:
            raise ConflictError("the contact already has a consultation")
        if contact.state == S.CONNECTED:
            await _set_conversation(session, contact, S.ON_HOLD, at, actor)
        consult = await create_contact_in(
            session,
            tenant_id,
            NewContact(
                channel=contact.channel,
                queue_id=target.queue_id or _queue_of(contact),
                priority=CONSULT_PRIORITY,
                target_agent_ids=(target.agent_id,) if target.agent_id is not None else (),
                source=CONSULT_SOURCE,
                consult_of=contact.id,
                escalate=target.escalate,
            ),
            at=at,
            actor=actor,
        )
        return consult.id


async def do_complete_consult(
    db: Database, *, tenant_id: UUID, contact_id: UUID, by_agent_id: UUID | None, actor: str | None
) -> UUID:
    """Hand the customer to the colleague on the consultation; returns the colleague's id."""
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        contact = await lock_contact(session, contact_id)
        holder = await _check_holder(contact, by_agent_id)
        consult = await _locked_consult(session, contact.id)
        if consult.state not in IN_CONVERSATION or consult.agent_id is None:
            raise ConflictError("the colleague has not answered the consultation yet")
        colleague = consult.agent_id
        # The consultation ends first, so the colleague's capacity takes the customer.
        consult_agent = await _end_consult(session, consult, at, actor, outcome="transferred")
        assignment = await session.get(RoutingAssignment, contact.id)
        assert assignment is not None  # the contact is in conversation: it is held
        first = await lock_agent(session, holder, at=at)
        second = consult_agent or await lock_agent(session, colleague, at=at)
        assignment.agent_id = colleague
        assignment.state = S.CONNECTED
        first.idle_since = at
        contact.last_agent_id = holder
        contact.agent_id = None
        contact.version += 1
        contact.updated_at = at
        fields = contact_fields(contact, at, actor)
        emit(
            session,
            ContactTransferredEvent(
                **fields, from_agent_id=holder, to_agent_id=colleague, mode="consult"
            ),
        )
        contact.agent_id = colleague
        if contact.state == S.ON_HOLD:
            move(contact, S.CONNECTED, at)
        else:
            contact.version += 1
        emit(session, ContactConnectedEvent(**contact_fields(contact, at, actor)))
        await announce_agent(session, first, at=at, actor=actor)
        await announce_agent(session, second, at=at, actor=actor)
        return colleague


async def do_cancel_consult(
    db: Database, *, tenant_id: UUID, contact_id: UUID, by_agent_id: UUID | None, actor: str | None
) -> None:
    """End the consultation wherever it is; the first agent is back with the customer."""
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        contact = await lock_contact(session, contact_id)
        await _check_holder(contact, by_agent_id)
        consult = await _locked_consult(session, contact.id)
        agent = await _end_consult(session, consult, at, actor, outcome="cancelled")
        if agent is not None:
            await announce_agent(session, agent, at=at, actor=actor)
        if contact.state == S.ON_HOLD:
            await _set_conversation(session, contact, S.CONNECTED, at, actor)


async def end_consult_in(
    session: AsyncSession, consult: RoutingContact, at: datetime, actor: str | None
) -> None:
    """The consultation's conversation ended from a desk: it closes (no after-call work)."""
    agent = await _end_consult(session, consult, at, actor, outcome="ended")
    if agent is not None:
        await announce_agent(session, agent, at=at, actor=actor)


async def active_consult(session: AsyncSession, contact_id: UUID) -> RoutingContact | None:
    """The contact's consultation that has not ended, if any."""
    found = await session.scalar(
        select(RoutingContact)
        .where(
            RoutingContact.consult_of == contact_id,
            RoutingContact.state.not_in([state.value for state in TERMINAL]),
        )
        .order_by(RoutingContact.created_at.desc())
        .limit(1)
    )
    return found


async def _locked_consult(session: AsyncSession, contact_id: UUID) -> RoutingContact:
    found = await active_consult(session, contact_id)
    if found is None:
        raise ConflictError("the contact has no consultation")
    return await lock_contact(session, found.id)


async def _check_holder(contact: RoutingContact, by_agent_id: UUID | None) -> UUID:
    if ContactState(contact.state) not in IN_CONVERSATION or contact.agent_id is None:
        raise ConflictError("only a contact in conversation can be consulted on")
    if by_agent_id is not None and contact.agent_id != by_agent_id:
        raise ConflictError("the contact is not yours")
    return contact.agent_id


def _queue_of(contact: RoutingContact) -> UUID:
    if contact.queue_id is None:
        raise InvalidInputError("queue_id: the contact has no queue; name one")
    return contact.queue_id


async def _set_conversation(
    session: AsyncSession,
    contact: RoutingContact,
    state: ContactState,
    at: datetime,
    actor: str | None,
) -> None:
    """Hold or resume the customer's contact (its assignment follows)."""
    assignment = await session.get(RoutingAssignment, contact.id)
    assert assignment is not None
    move(contact, state, at)
    assignment.state = state
    event_class = ContactHeldEvent if state == S.ON_HOLD else ContactResumedEvent
    emit(session, event_class(**contact_fields(contact, at, actor)))


async def _end_consult(
    session: AsyncSession,
    consult: RoutingContact,
    at: datetime,
    actor: str | None,
    *,
    outcome: str,
) -> RoutingAgent | None:
    """Close (or, if nobody took it yet, abandon) the consultation; returns the locked
    agent it released, whose state the caller announces."""
    state = ContactState(consult.state)
    agent = await release_assignment(session, consult, at=at)
    if state in IN_CONVERSATION:
        move(consult, S.WRAP_UP, at)
        consult.ended_at = at
        emit(session, ContactEndedEvent(**contact_fields(consult, at, actor), wrap_up_until=at))
    if state in (S.OFFERED, S.CREATED):
        move(consult, S.ABANDONED, at)
        emit(session, ContactAbandonedEvent(**contact_fields(consult, at, actor)))
        return agent
    move(consult, S.CLOSED, at)
    consult.outcome = f"consult_{outcome}"
    emit(session, ContactClosedEvent(**contact_fields(consult, at, actor), outcome=consult.outcome))
    return agent
