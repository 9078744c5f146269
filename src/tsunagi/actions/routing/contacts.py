"""Contacts: creation (idempotent), waiting, callbacks, abandon, transfer, move.

Every function is one ``do_*`` action: one transaction that changes the rows and writes
the events to the outbox. The routing engine reacts to those events; nothing here decides
which agent gets a contact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.events import emit
from tsunagi.actions.routing.core_rows import Rows
from tsunagi.actions.routing.rows import (
    announce_agent,
    contact_fields,
    lock_contact,
    move,
    release_assignment,
    utcnow,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue, Tenant
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.domain.customers import check_opaque_reference
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.routing.agents import CHANNELS
from tsunagi.routing.events import (
    ContactAbandonedEvent,
    ContactCallbackScheduledEvent,
    ContactClosedEvent,
    ContactCreatedEvent,
    ContactQueuedEvent,
    ContactSelfServiceStartedEvent,
    ContactTransferredEvent,
)
from tsunagi.routing.lifecycle import IN_CONVERSATION, ContactState
from tsunagi.routing.queues import (
    Admission,
    OverflowAction,
    QueueRouting,
    admit,
    is_open,
    routing_settings,
)

S = ContactState
ESCALATION_SKILL = "escalation"


@dataclass(frozen=True, slots=True)
class NewContact:
    channel: str
    queue_id: UUID
    priority: int = 0
    vip: bool = False
    target_agent_ids: tuple[UUID, ...] = ()
    customer_ref: str | None = None
    source: str | None = None
    idempotency_key: str | None = None
    callback_at: datetime | None = None
    # Served by a bot (or IVR) first: the contact stays in ``ivr`` until
    # :func:`do_end_self_service` queues or closes it.
    self_service: str | None = None  # None | "bot" | "ivr"
    # A consultation about another contact (see actions/routing/consult.py).
    consult_of: UUID | None = None
    escalate: bool = False  # waits for the supervisors (skill ``escalation``)


@dataclass(frozen=True, slots=True)
class Created:
    contact_id: UUID
    created: bool  # False when the idempotency key named an existing contact
    state: str
    # The row as this call committed it (not for an existing contact): the API answers
    # with it instead of reading the contact again.
    contact: RoutingContact | None = field(default=None, compare=False)


AfterCreate = Callable[[Rows, RoutingContact, datetime], Awaitable[None]]
"""More work in a new contact's transaction (the routing engine's offer, see
``RoutingEngine.create_and_offer``): called with the transaction's rows (the new contact
is inserted by them, after this work: ``core_rows``), the contact as created (queued, or
scheduled/closed by its queue's rules) and the time of the creation."""


async def do_create_contact(
    db: Database,
    *,
    tenant_id: UUID,
    new: NewContact,
    actor: str | None,
    at: datetime | None = None,
    then: AfterCreate | None = None,
) -> Created:
    """Create a contact and queue it (or schedule/close it by the queue's hours and limits).

    With an ``idempotency_key`` a retry returns the contact made the first time (and
    ``then`` is not called).
    """
    if new.channel not in CHANNELS:
        raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}")
    if new.self_service not in (None, "bot", "ivr"):
        raise InvalidInputError("self_service must be bot or ivr")
    check_opaque_reference("customer_ref", new.customer_ref)
    if new.idempotency_key is not None:
        existing = await _find_by_key(db, tenant_id, new.idempotency_key)
        if existing is not None:
            return existing
    when = at or utcnow()
    try:
        async with db.scoped(tenant_id) as session, session.begin():
            rows = Rows(session)
            contact = await _create(session, tenant_id, new, when, actor, rows=rows)
            if then is not None:
                await then(rows, contact, when)
            await rows.write()
            return Created(contact.id, True, contact.state, contact)
    except IntegrityError:
        if new.idempotency_key is None:
            raise
        # A concurrent retry with the same key won the race: answer with its contact.
        existing = await _find_by_key(db, tenant_id, new.idempotency_key)
        if existing is None:
            raise
        return existing


async def create_contact_in(
    session: AsyncSession, tenant_id: UUID, new: NewContact, *, at: datetime, actor: str | None
) -> RoutingContact:
    """Create (and queue, schedule or hold for self-service) a contact inside the caller's
    transaction — for actions that create a contact together with rows of their own."""
    if new.channel not in CHANNELS:
        raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}")
    check_opaque_reference("customer_ref", new.customer_ref)
    contact = await _create(session, tenant_id, new, at, actor)
    # The caller's rows refer to it (conversations, parties, bookings): its row goes in
    # first — the flush orders inserts by relationships, and these rows have none to it.
    await session.flush()
    return contact


async def _find_by_key(db: Database, tenant_id: UUID, key: str) -> Created | None:
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(RoutingContact.id, RoutingContact.state).where(
                    RoutingContact.idempotency_key == key
                )
            )
        ).first()
    return None if row is None else Created(row[0], False, row[1])


_QUEUE = select(Queue).where(Queue.id == bindparam("queue_id"))  # built once: every create


async def _queue_and_settings(session: AsyncSession, queue_id: UUID) -> tuple[Queue, QueueRouting]:
    queue = await session.scalar(_QUEUE, {"queue_id": queue_id})
    if queue is None:
        raise NotFoundError("queue not found")
    return queue, routing_settings(queue.config)


async def _create(
    session: AsyncSession,
    tenant_id: UUID,
    new: NewContact,
    at: datetime,
    actor: str | None,
    *,
    rows: Rows | None = None,
) -> RoutingContact:
    """The new contact, added to ``rows`` (inserted by Core) or, without, to the session."""
    queue, settings = await _queue_and_settings(session, new.queue_id)
    priority = new.priority + queue.priority + (settings.vip_priority if new.vip else 0)
    contact = RoutingContact(
        id=new_id(),  # known now: the row is inserted once, as it ends up (no flush first)
        tenant_id=tenant_id,
        channel=new.channel,
        queue_id=queue.id,
        state=S.CREATED,
        version=1,
        priority=priority,
        vip=new.vip,
        escalated=new.escalate,
        skill=ESCALATION_SKILL if new.escalate else settings.routing_skill(queue.code, vip=new.vip),
        extra_skills=[] if new.escalate else list(settings.extra_skills),
        target_agent_ids=[str(agent_id) for agent_id in new.target_agent_ids],
        ranked_at=at,
        created_at=at,
        updated_at=at,
        idempotency_key=new.idempotency_key,
        customer_ref=new.customer_ref,
        source=new.source,
        consult_of=new.consult_of,
    )
    if rows is not None:
        rows.add(contact)
    else:
        session.add(contact)
    emit(
        session,
        ContactCreatedEvent(
            **contact_fields(contact, at, actor),
            vip=new.vip,
            customer_ref=new.customer_ref,
            source=new.source,
        ),
    )
    if new.callback_at is not None:
        _schedule_callback(session, contact, new.callback_at, at, actor, kept_place=False)
        return contact
    if new.self_service is not None:
        move(contact, S.IVR, at)
        emit(
            session,
            ContactSelfServiceStartedEvent(
                **contact_fields(contact, at, actor), by=new.self_service
            ),
        )
        return contact
    await _admit(session, contact, queue, settings, at, actor, hops=0)
    return contact


async def _admit(
    session: AsyncSession,
    contact: RoutingContact,
    queue: Queue,
    settings: QueueRouting,
    at: datetime,
    actor: str | None,
    *,
    hops: int,
) -> None:
    """Queue the contact, or apply the queue's closed/full action."""
    # Only what the queue's rules need is read (most queues have no hours or size limit).
    timezone = None
    if settings.business_hours or settings.holidays:
        timezone = await session.scalar(select(Tenant.timezone).where(Tenant.id == queue.tenant_id))
    waiting: int | None = 0
    if settings.max_size is not None:
        waiting = await session.scalar(
            select(func.count())
            .select_from(RoutingContact)
            .where(RoutingContact.queue_id == queue.id, RoutingContact.state == S.QUEUED)
        )
    verdict = admit(settings, at=at, timezone=timezone or "UTC", waiting=waiting or 0)
    if verdict is Admission.ADMIT:
        queue_contact(session, contact, at, actor, reason="new")
        return
    action = settings.closed_action if verdict is Admission.CLOSED else settings.overflow_action
    if action is OverflowAction.QUEUE and settings.overflow_queue and hops < 3:
        target = await session.scalar(select(Queue).where(Queue.code == settings.overflow_queue))
        if target is not None:
            target_settings = routing_settings(target.config)
            contact.queue_id = target.id
            contact.skill = target_settings.routing_skill(target.code, vip=contact.vip)
            contact.extra_skills = list(target_settings.extra_skills)
            await _admit(session, contact, target, target_settings, at, actor, hops=hops + 1)
            return
    if action is OverflowAction.CALLBACK:
        when = at if verdict is Admission.FULL else _next_opening(settings, at, timezone or "UTC")
        _schedule_callback(session, contact, when, at, actor, kept_place=False)
        return
    outcome = {
        Admission.CLOSED: "closed_hours",
        Admission.FULL: "voicemail" if action is OverflowAction.VOICEMAIL else "full",
    }[verdict]
    if action is OverflowAction.VOICEMAIL:
        outcome = "voicemail"
    move(contact, S.CLOSED, at)
    contact.outcome = outcome
    contact.ended_at = at
    emit(session, ContactClosedEvent(**contact_fields(contact, at, actor), outcome=outcome))


def _next_opening(settings: QueueRouting, at: datetime, timezone: str) -> datetime:
    step = timedelta(minutes=5)
    probe = at
    for _ in range(14 * 24 * 12):  # two weeks of 5-minute steps
        probe += step
        if is_open(settings, probe, timezone):
            return probe
    return at + timedelta(days=1)


def queue_contact(
    session: AsyncSession,
    contact: RoutingContact,
    at: datetime,
    actor: str | None,
    *,
    reason: str,
) -> None:
    """Move to ``queued`` (keeping ``ranked_at``) and announce what the contact needs."""
    move(contact, S.QUEUED, at)
    contact.queued_at = contact.queued_at or at
    contact.callback_at = None
    emit(
        session,
        ContactQueuedEvent(
            **contact_fields(contact, at, actor),
            skill=contact.skill,
            extra_skills=list(contact.extra_skills),
            target_agent_ids=[UUID(value) for value in contact.target_agent_ids],
            priority=contact.priority,
            ranked_at=contact.ranked_at,
            reason=reason,
        ),
    )


def _schedule_callback(
    session: AsyncSession,
    contact: RoutingContact,
    callback_at: datetime,
    at: datetime,
    actor: str | None,
    *,
    kept_place: bool,
) -> None:
    move(contact, S.CALLBACK_SCHEDULED, at)
    contact.callback_at = callback_at
    if not kept_place:
        contact.ranked_at = callback_at
    emit(
        session,
        ContactCallbackScheduledEvent(
            **contact_fields(contact, at, actor), callback_at=callback_at, kept_place=kept_place
        ),
    )


async def do_request_callback(
    db: Database,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    callback_at: datetime | None,
    actor: str | None,
) -> None:
    """A waiting customer asks to be called back: at a chosen time, or keeping their place.

    Keeping the place means the contact stays in the line with its ``ranked_at``; only its
    channel becomes ``callback`` (the agent will dial out when it reaches the front).
    """
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        contact = await lock_contact(session, contact_id)
        if contact.state != S.QUEUED:
            raise ConflictError("only a waiting contact can ask for a callback")
        if callback_at is None:
            contact.channel = "callback"
            _schedule_callback(session, contact, at, at, actor, kept_place=True)
        else:
            _schedule_callback(session, contact, callback_at, at, actor, kept_place=False)


def due_callbacks(now: datetime) -> Select[UUID]:
    """Scheduled callbacks whose time has come (the engine asks every sweep).

    Found through the partial index ``ix_routing_contacts_callbacks_due`` (migration
    0018). Through the (tenant, state) index, after an ``ANALYZE`` of a database whose
    contacts are nearly all closed, ``sqlite_stat1`` says a key matches every row and
    SQLite scans the table instead — 10 million contacts every sweep kept an idle server
    at ~0.7 of a core. (SQLite decides on the partial index with the bound state value;
    the test checks the plan of the statement as sent.)"""
    return select(RoutingContact.id).where(
        RoutingContact.state == S.CALLBACK_SCHEDULED, RoutingContact.callback_at <= now
    )


async def do_release_due_callbacks(db: Database, *, tenant_id: UUID, now: datetime) -> int:
    """Queue every callback whose time has come; returns how many."""
    async with db.scoped(tenant_id, readonly=True) as session:
        due = (await session.scalars(due_callbacks(now))).all()
    for contact_id in due:
        async with db.scoped(tenant_id) as session, session.begin():
            contact = await lock_contact(session, contact_id)
            if contact.state == S.CALLBACK_SCHEDULED:
                contact.channel = "callback"
                queue_contact(session, contact, now, "system:routing", reason="callback_due")
    return len(due)


async def do_end_self_service(
    db: Database,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    handover: bool,
    actor: str | None,
    at: datetime | None = None,
) -> str:
    """End the bot/IVR part: hand the contact to the queue (by its hours and limits) or
    close it as resolved by self-service. Returns the contact's state after; a contact no
    longer in ``ivr`` (already handed over or closed) is left as it is."""
    when = at or utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        contact = await lock_contact(session, contact_id)
        if contact.state != S.IVR:
            return contact.state
        if handover and contact.queue_id is not None:
            queue, settings = await _queue_and_settings(session, contact.queue_id)
            contact.ranked_at = when
            await _admit(session, contact, queue, settings, when, actor, hops=0)
        else:
            move(contact, S.CLOSED, when)
            contact.outcome = "self_service"
            contact.ended_at = when
            emit(
                session,
                ContactClosedEvent(**contact_fields(contact, when, actor), outcome="self_service"),
            )
        return contact.state


async def do_abandon_contact(
    db: Database, *, tenant_id: UUID, contact_id: UUID, actor: str | None
) -> None:
    """The customer left before being served (hung up, closed the chat, cancelled)."""
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        contact = await lock_contact(session, contact_id)
        if contact.state in (S.CLOSED, S.ABANDONED):
            return  # already final: a repeated hang-up signal changes nothing
        agent = await release_assignment(session, contact, at=at)
        move(contact, S.ABANDONED, at)
        contact.ended_at = at
        waited = (at - contact.created_at).total_seconds()
        contact.waited_s = waited
        emit(session, ContactAbandonedEvent(**contact_fields(contact, at, actor), waited_s=waited))
        if agent is not None:
            await announce_agent(session, agent, at=at, actor=actor)


@dataclass(frozen=True, slots=True)
class TransferTarget:
    queue_id: UUID | None = None
    agent_id: UUID | None = None
    escalate: bool = False


async def do_transfer_contact(
    db: Database,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    by_agent_id: UUID | None,
    target: TransferTarget,
    actor: str | None,
) -> None:
    """Blind transfer or escalation of a contact in conversation (or a move of a waiting one).

    The first agent's part ends at once; the contact keeps its history and its place
    (``ranked_at``) and waits for the target: a queue, a named agent, or the supervisors
    (skill ``escalation``). ``by_agent_id`` (when given) must be the agent holding it.
    """
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        contact = await lock_contact(session, contact_id)
        in_conversation = ContactState(contact.state) in IN_CONVERSATION
        if not in_conversation and contact.state != S.QUEUED:
            raise ConflictError("only a waiting contact or one in conversation can be transferred")
        if by_agent_id is not None and contact.agent_id != by_agent_id:
            raise ConflictError("the contact is not yours")
        from_agent = contact.agent_id
        agent = await release_assignment(session, contact, at=at)
        await _retarget(session, contact, target)
        emit(
            session,
            ContactTransferredEvent(
                **contact_fields(contact, at, actor),
                from_agent_id=from_agent,
                to_queue_id=target.queue_id,
                to_agent_id=target.agent_id,
                escalated=target.escalate,
            ),
        )
        reason = "escalated" if target.escalate else "transfer" if in_conversation else "moved"
        queue_contact(session, contact, at, actor, reason=reason)
        if agent is not None:
            await announce_agent(session, agent, at=at, actor=actor)


async def _retarget(session: AsyncSession, contact: RoutingContact, target: TransferTarget) -> None:
    if target.escalate:
        contact.escalated = True
        contact.skill = ESCALATION_SKILL
        contact.extra_skills = []
        contact.target_agent_ids = []
    elif target.agent_id is not None:
        contact.target_agent_ids = [str(target.agent_id)]
    elif target.queue_id is not None:
        queue, settings = await _queue_and_settings(session, target.queue_id)
        contact.queue_id = queue.id
        contact.skill = settings.routing_skill(queue.code, vip=contact.vip)
        contact.extra_skills = list(settings.extra_skills)
        contact.target_agent_ids = []
    else:
        raise InvalidInputError("a transfer needs a queue, an agent or escalate=true")


async def do_overflow_waiting(db: Database, *, tenant_id: UUID, now: datetime) -> int:
    """Apply each queue's maximum wait: move on, keep the place as a callback, or voicemail."""
    async with db.scoped(tenant_id, readonly=True) as session:
        queues = (await session.scalars(select(Queue))).all()
        late: list[UUID] = []
        for queue in queues:
            settings = routing_settings(queue.config)
            if settings.max_wait_s is None:
                continue
            limit = now - timedelta(seconds=settings.max_wait_s)
            late += (
                await session.scalars(
                    select(RoutingContact.id).where(
                        RoutingContact.queue_id == queue.id,
                        RoutingContact.state == S.QUEUED,
                        RoutingContact.channel != "callback",
                        RoutingContact.queued_at <= limit,
                    )
                )
            ).all()
    for contact_id in late:
        async with db.scoped(tenant_id) as session, session.begin():
            await _overflow_one(session, contact_id, now)
    return len(late)


async def _overflow_one(session: AsyncSession, contact_id: UUID, now: datetime) -> None:
    contact = await lock_contact(session, contact_id)
    if contact.state != S.QUEUED or contact.queue_id is None:
        return
    _queue, settings = await _queue_and_settings(session, contact.queue_id)
    actor = "system:routing"
    action = settings.overflow_action
    if action is OverflowAction.QUEUE and settings.overflow_queue:
        target = await session.scalar(select(Queue).where(Queue.code == settings.overflow_queue))
        if target is not None:
            await _retarget(session, contact, TransferTarget(queue_id=target.id))
            contact.queued_at = now  # the wait limit of the new queue counts from here
            queue_contact(session, contact, now, actor, reason="overflow")
            return
    if action is OverflowAction.CALLBACK:
        contact.channel = "callback"  # keeps its place; an agent will call back
        queue_contact(session, contact, now, actor, reason="overflow")
        return
    move(contact, S.CLOSED, now)
    contact.outcome = "voicemail" if action is OverflowAction.VOICEMAIL else "max_wait"
    contact.ended_at = now
    emit(
        session, ContactClosedEvent(**contact_fields(contact, now, actor), outcome=contact.outcome)
    )
