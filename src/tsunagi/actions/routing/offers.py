"""Offers and the life of a held contact: offer, accept, reject, hold, end, close, timers.

``do_offer_contact`` is how a routing decision takes effect: it re-checks everything the
in-memory decision assumed (the contact still waits, the agent is ready with room on the
channel and fits the contact) and inserts the assignment row, whose primary key is the
contact id. A second offer of the same contact cannot commit.

Offers carry a lease: the worker that made the offer renews it while alive
(:func:`do_renew_leases`); :func:`do_expire_offers` puts back offers whose lease ran out
(the worker died) without blaming the agent, and offers nobody answered in time with the
agent set to not ready (``missed_offer``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Select, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.events import emit
from tsunagi.actions.follow_ups import (
    WrapUpCallback,
    add_follow_up,
    book_callback_in,
    check_callback,
)
from tsunagi.actions.routing.consult import end_consult_in
from tsunagi.actions.routing.contacts import queue_contact
from tsunagi.actions.routing.core_rows import Rows, held_statement
from tsunagi.actions.routing.rows import (
    Holdings,
    announce_agent,
    contact_fields,
    lock_contact,
    locked_contact,
    move,
    need_of,
    release_assignment,
    release_for_good,
    utcnow,
)
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingAssignment, RoutingContact
from tsunagi.domain.errors import ConflictError, NotFoundError
from tsunagi.domain.follow_ups import FollowUpDraft, check_draft
from tsunagi.routing.agents import NotReadyReason, Presence
from tsunagi.routing.events import (
    AgentStateChangedEvent,
    ContactClosedEvent,
    ContactConnectedEvent,
    ContactEndedEvent,
    ContactHeldEvent,
    ContactOfferDeclinedEvent,
    ContactOfferedEvent,
    ContactResumedEvent,
)
from tsunagi.routing.lifecycle import IN_CONVERSATION, ContactState
from tsunagi.routing.queues import routing_settings
from tsunagi.routing.wrap_up import check_category, check_suggested, wrap_up_rules

S = ContactState
ENGINE_ACTOR = "system:routing"


@dataclass(frozen=True, slots=True)
class Offered:
    contact_version: int
    agent_version: int
    offer_expires_at: datetime
    events: tuple[ContactOfferedEvent, AgentStateChangedEvent]


async def do_offer_contact(
    db: Database,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    agent_id: UUID,
    worker_id: str,
    lease_s: float,
    at: datetime | None = None,
) -> Offered:
    """Make the offer a routing decision chose; raises :class:`ConflictError` if it is stale."""
    now = at or utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        rows = Rows(session)
        found = await rows.held(_TO_OFFER, contact_id)
        if found is None:
            raise NotFoundError("contact not found")
        contact, _assignment, row = found
        if contact.state != S.QUEUED:
            raise ConflictError(f"contact is {contact.state}, not queued")
        offered = await offer_in(
            rows, contact, row["q_config"], agent_id, worker_id=worker_id, lease_s=lease_s, now=now
        )
        await rows.write()
        return offered


async def offer_in(
    rows: Rows,
    contact: RoutingContact,
    config: dict[str, Any] | None,
    agent_id: UUID,
    *,
    worker_id: str,
    lease_s: float,
    now: datetime,
) -> Offered:
    """Offer a queued contact (taken by ``rows``, locked, or new in their transaction) to
    an agent in that transaction; the caller then writes the rows. ``config``: the
    contact's queue's. Raises :class:`ConflictError` before changing anything if the agent
    cannot take it."""
    # The load checked here and announced below is read under the agent's lock.
    agent, name, held = await rows.lock_agent_and_holdings(agent_id)
    need = need_of(contact)
    _check_fits(agent, need.skill, need.extras, need.agents)
    used = sum(1 for channel, _state in held.values() if channel == need.channel)
    if used >= int(agent.capacity.get(need.channel, 0)):
        raise ConflictError("the agent has no room on this channel")
    expires = now + timedelta(seconds=routing_settings(config).offer_timeout_s)
    rows.add(
        RoutingAssignment(
            tenant_id=contact.tenant_id,
            contact_id=contact.id,
            agent_id=agent_id,
            channel=need.channel,
            state=S.OFFERED,
            offered_at=now,
            offer_expires_at=expires,
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_s),
        )
    )
    # (the primary key refuses a second holder when this is inserted, at the write)
    move(contact, S.OFFERED, now)
    contact.agent_id = agent_id
    offered = ContactOfferedEvent(
        **contact_fields(contact, now, ENGINE_ACTOR), offer_expires_at=expires
    )
    emit(rows.session, offered)
    event = await announce_agent(
        rows.session,
        agent,
        at=now,
        actor=ENGINE_ACTOR,
        known=(name, {**held, contact.id: (need.channel, S.OFFERED)}),
    )
    return Offered(contact.version, event.version, expires, (offered, event))


def _check_fits(
    agent: RoutingAgent, skill: str, extras: frozenset[str], named: frozenset[Hashable]
) -> None:
    if agent.presence != Presence.READY:
        raise ConflictError("the agent is not ready")
    if named:
        if agent.user_id not in named:
            raise ConflictError("the contact waits for other named agents")
    elif skill not in agent.skills or not extras.issubset(agent.skills):
        raise ConflictError("the agent lacks a skill the contact needs")


# Built once (rows.locked_contact): the contact locked with what each action reads with it.
_HELD = locked_contact(assignment=True)
# The hot actions' twins, read and written by Core (core_rows, decision 0815).
_HELD_ROWS = held_statement()
_HELD_ROWS_WITH_CONFIG = held_statement(config=True)  # end: its queue's settings
_TO_OFFER = _HELD_ROWS_WITH_CONFIG  # offer: the offer timeout (a queued contact has no holder)
_HELD_ROWS_FOR_CLOSE = held_statement(config=True, party=True)  # the sub-reason


async def _held(
    session: AsyncSession, contact_id: UUID, agent_id: UUID | None, *states: ContactState
) -> tuple[RoutingContact, RoutingAssignment]:
    # The contact locked and its assignment read in one statement.
    found = (await session.execute(_HELD, {"contact_id": contact_id})).first()
    contact, assignment = _check_held(found, agent_id, states)
    return contact, assignment


async def _held_rows(
    rows: Rows,
    statement: Select[Any],
    contact_id: UUID,
    agent_id: UUID | None,
    *states: ContactState,
) -> tuple[RoutingContact, RoutingAssignment, RowMapping]:
    """:func:`_held` by Core (``statement``: one of the ``_HELD_ROWS`` ones), with the
    statement's row for what else it read (``q_config``, the party's columns)."""
    found = await rows.held(statement, contact_id)
    if found is None:
        raise NotFoundError("contact not found")
    contact, assignment, row = found
    _check_held((contact, assignment), agent_id, states)
    assert assignment is not None
    return contact, assignment, row


def _check_held(
    found: Any, agent_id: UUID | None, states: tuple[ContactState, ...]
) -> tuple[Any, ...]:
    """The row of a held-contact statement (contact, assignment, …), checked: the contact
    exists, is in one of ``states``, has an assignment, and (with ``agent_id``) is that
    agent's."""
    if found is None:
        raise NotFoundError("contact not found")
    contact, assignment = found[0], found[1]
    if assignment is None or contact.state not in states:
        raise ConflictError(f"the contact is {contact.state}")
    if agent_id is not None and assignment.agent_id != agent_id:
        raise ConflictError("the contact is not yours")
    return tuple(found)


async def do_accept_offer(
    db: Database, *, tenant_id: UUID, contact_id: UUID, agent_id: UUID, actor: str | None
) -> None:
    now = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        rows = Rows(session)
        contact, assignment, _row = await _held_rows(
            rows, _HELD_ROWS, contact_id, agent_id, S.OFFERED
        )
        agent, name, held = await rows.lock_agent_and_holdings(assignment.agent_id)
        move(contact, S.CONNECTED, now)
        assignment.state = S.CONNECTED
        assignment.offer_expires_at = None
        assignment.lease_owner = None
        assignment.lease_expires_at = None
        contact.connected_at = now
        contact.waited_s = (now - contact.created_at).total_seconds()
        emit(
            session,
            ContactConnectedEvent(**contact_fields(contact, now, actor), waited_s=contact.waited_s),
        )
        held[contact.id] = (assignment.channel, S.CONNECTED)
        await announce_agent(session, agent, at=now, actor=actor, known=(name, held))
        await rows.write()


async def do_reject_offer(
    db: Database, *, tenant_id: UUID, contact_id: UUID, agent_id: UUID, actor: str | None
) -> None:
    """The agent said no: the contact goes back to its place, the agent to not ready."""
    now = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        contact, _assignment = await _held(session, contact_id, agent_id, S.OFFERED)
        await _decline(session, contact, "rejected", NotReadyReason.REJECTED_OFFER, now, actor)


async def _decline(
    session: AsyncSession,
    contact: RoutingContact,
    reason: str,
    blame: NotReadyReason | None,
    now: datetime,
    actor: str | None,
) -> None:
    agent = await release_assignment(session, contact, at=now)
    assert agent is not None
    if blame is not None and agent.presence == Presence.READY:
        agent.presence = Presence.NOT_READY
        agent.reason = blame
        agent.since = now
    fields = contact_fields(contact, now, actor)
    fields.update(state=S.QUEUED, version=contact.version + 1, agent_id=None)
    emit(
        session,
        ContactOfferDeclinedEvent(**fields, declined_by=agent.user_id, reason=reason),
    )
    queue_contact(session, contact, now, actor, reason="requeued")
    await announce_agent(session, agent, at=now, actor=actor)


async def do_hold_contact(
    db: Database, *, tenant_id: UUID, contact_id: UUID, agent_id: UUID | None, actor: str | None
) -> None:
    await _toggle(db, tenant_id, contact_id, agent_id, actor, hold=True)


async def do_resume_contact(
    db: Database, *, tenant_id: UUID, contact_id: UUID, agent_id: UUID | None, actor: str | None
) -> None:
    await _toggle(db, tenant_id, contact_id, agent_id, actor, hold=False)


async def _toggle(
    db: Database,
    tenant_id: UUID,
    contact_id: UUID,
    agent_id: UUID | None,
    actor: str | None,
    *,
    hold: bool,
) -> None:
    now = utcnow()
    source, target = (S.CONNECTED, S.ON_HOLD) if hold else (S.ON_HOLD, S.CONNECTED)
    async with db.scoped(tenant_id) as session, session.begin():
        rows = Rows(session)
        contact, assignment, _row = await _held_rows(rows, _HELD_ROWS, contact_id, agent_id, source)
        move(contact, target, now)
        assignment.state = target
        event_class = ContactHeldEvent if hold else ContactResumedEvent
        emit(session, event_class(**contact_fields(contact, now, actor)))
        await rows.write()


async def do_end_contact(
    db: Database, *, tenant_id: UUID, contact_id: UUID, agent_id: UUID | None, actor: str | None
) -> datetime:
    """The conversation ended (hang-up, chat closed): after-call work starts; returns its limit."""
    now = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        rows = Rows(session)
        contact, assignment, row = await _held_rows(
            rows, _HELD_ROWS_WITH_CONFIG, contact_id, agent_id, *IN_CONVERSATION
        )
        if contact.consult_of is not None:  # (rare: through the ORM, as consult.py is)
            await end_consult_in(session, await lock_contact(session, contact_id), now, actor)
            return now
        agent, name, held = await rows.lock_agent_and_holdings(assignment.agent_id)
        settings = routing_settings(row["q_config"])
        until = now + timedelta(seconds=settings.acw_max_s)
        move(contact, S.WRAP_UP, now)
        assignment.state = S.WRAP_UP
        contact.ended_at = now
        contact.wrap_up_until = until
        emit(session, ContactEndedEvent(**contact_fields(contact, now, actor), wrap_up_until=until))
        held[contact.id] = (assignment.channel, S.WRAP_UP)
        await announce_agent(session, agent, at=now, actor=actor, known=(name, held))
        await rows.write()
        return until


async def do_close_contact(
    db: Database,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    agent_id: UUID | None,
    actor: str | None,
    category: str | None = None,
    resolved_first_contact: bool | None = None,
    sub_reason: str | None = None,
    outcome: str = "handled",
    suggested_categories: Sequence[str] = (),
    follow_up: FollowUpDraft | None = None,
    callback: WrapUpCallback | None = None,
    keyring: KeyRing | None = None,
    by_user_id: UUID | None = None,
) -> None:
    """Finish after-call work with the wrap-up form (category, sub-reason, resolved on first
    contact), optionally leaving a follow-up task and/or booking a callback contact, all in
    one transaction. ``suggested_categories`` are the categories the desk suggested (best
    first), carried in ``contact.closed`` for the suggestion hit rate. The queue's wrap-up
    rules and the extras are checked first: a bad field is an :class:`InvalidInputError`
    naming it and nothing changes. A follow-up or callback needs the ``keyring`` (its note
    and the customer's address are sealed) and ``by_user_id`` (who creates it)."""
    now = utcnow()
    check_category(category)
    suggested = check_suggested(suggested_categories)
    cipher: TenantCipher | None = None
    if follow_up is not None or callback is not None:
        # Checked before the tenant's key is opened (or made): bad input changes nothing.
        if follow_up is not None:
            check_draft(follow_up, now)
        if callback is not None:
            check_callback(callback, now)
        assert keyring is not None, "a follow-up or callback needs the keyring"
        cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id) as session, session.begin():
        rows = Rows(session)
        contact, assignment, row = await _held_rows(
            rows, _HELD_ROWS_FOR_CLOSE, contact_id, agent_id, S.WRAP_UP
        )
        party = rows.take(ContactParty, row)
        if contact.queue_id is not None:
            wrap_up_rules(row["q_config"]).check(
                category=category,
                sub_reason=sub_reason,
                resolved_first_contact=resolved_first_contact,
            )
        if sub_reason is not None:
            _keep_sub_reason(session, contact, party, sub_reason, now)
        elif party is not None:
            sub_reason = party.sub_reason
        if follow_up is not None or callback is not None:
            assert cipher is not None
            creator = by_user_id or assignment.agent_id
            if follow_up is not None:
                await add_follow_up(
                    session,
                    cipher,
                    contact=contact,
                    draft=follow_up,
                    by_user_id=creator,
                    actor=actor,
                    now=now,
                )
            if callback is not None:
                await book_callback_in(
                    session,
                    cipher,
                    contact=contact,
                    callback=callback,
                    agent_id=creator,
                    actor=actor,
                    now=now,
                )
        await _close(
            session,
            contact,
            now,
            actor,
            outcome,
            category,
            resolved_first_contact,
            released=await rows.release_for_good(contact, assignment, at=now),
            sub_reason=sub_reason,
            suggested=suggested,
        )
        await rows.write()


def _keep_sub_reason(
    session: AsyncSession,
    contact: RoutingContact,
    party: ContactParty | None,
    sub_reason: str,
    now: datetime,
) -> None:
    """The sub-reason lives with the contact's party row (no personal data in routing rows)."""
    if party is None:
        party = ContactParty(contact_id=contact.id, tenant_id=contact.tenant_id, created_at=now)
        session.add(party)
    party.sub_reason = sub_reason


async def _close(
    session: AsyncSession,
    contact: RoutingContact,
    now: datetime,
    actor: str | None,
    outcome: str,
    category: str | None,
    resolved: bool | None,
    *,
    released: tuple[RoutingAgent, str | None, Holdings] | None,
    sub_reason: str | None = None,
    suggested: list[str] | None = None,
) -> None:
    """Close a contact in wrap-up; ``released``: the agent that held it, its name and what
    it still holds (:func:`~tsunagi.actions.routing.rows.release_for_good`), or None."""
    move(contact, S.CLOSED, now)
    contact.wrap_up_until = None
    contact.outcome = outcome
    contact.category = category
    contact.resolved_first_contact = resolved
    emit(
        session,
        ContactClosedEvent(
            **contact_fields(contact, now, actor),
            outcome=outcome,
            category=category,
            resolved_first_contact=resolved,
            sub_reason=sub_reason,
            suggested_categories=suggested or [],
        ),
    )
    if released is not None:
        agent, name, held = released
        await announce_agent(session, agent, at=now, actor=actor, known=(name, held))


async def do_renew_leases(db: Database, *, worker_id: str, lease_s: float) -> int:
    """Extend every pending offer this worker made (infrastructure: all tenants)."""
    now = utcnow()
    async with db.system() as session, session.begin():
        result = await session.execute(
            update(RoutingAssignment)
            .where(
                RoutingAssignment.lease_owner == worker_id,
                RoutingAssignment.state == S.OFFERED,
            )
            .values(lease_expires_at=now + timedelta(seconds=lease_s))
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def do_expire_offers(db: Database, *, tenant_id: UUID, now: datetime) -> int:
    """Put back offers nobody answered in time or whose worker's lease ran out; end
    after-call work at its maximum. Returns how many contacts changed."""
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(RoutingAssignment.contact_id)
                .join(RoutingContact, RoutingContact.id == RoutingAssignment.contact_id)
                .where(
                    or_(
                        (RoutingAssignment.state == S.OFFERED)
                        & (
                            (RoutingAssignment.offer_expires_at <= now)
                            | (RoutingAssignment.lease_expires_at <= now)
                        ),
                        (RoutingAssignment.state == S.WRAP_UP)
                        & (RoutingContact.wrap_up_until <= now),
                    )
                )
            )
        ).all()
    changed = 0
    for (contact_id,) in rows:
        async with db.scoped(tenant_id) as session, session.begin():
            changed += await _expire_one(session, contact_id, now)
    return changed


async def _expire_one(session: AsyncSession, contact_id: UUID, now: datetime) -> int:
    contact = await lock_contact(session, contact_id)
    assignment = await session.get(RoutingAssignment, contact_id)
    if assignment is None:
        return 0
    if contact.state == S.OFFERED:
        if assignment.offer_expires_at is not None and assignment.offer_expires_at <= now:
            await _decline(
                session, contact, "timeout", NotReadyReason.MISSED_OFFER, now, ENGINE_ACTOR
            )
            return 1
        if assignment.lease_expires_at is not None and assignment.lease_expires_at <= now:
            await _decline(session, contact, "lease_lost", None, now, ENGINE_ACTOR)
            return 1
    if contact.state == S.WRAP_UP and contact.wrap_up_until and contact.wrap_up_until <= now:
        released = await release_for_good(session, contact, at=now)
        await _close(
            session, contact, now, ENGINE_ACTOR, "acw_timeout", None, None, released=released
        )
        return 1
    return 0
