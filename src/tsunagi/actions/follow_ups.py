"""Follow-up tasks left at wrap-up (``contact_follow_ups``): create, complete, cancel, list.

The note is personal data: sealed with the tenant keyring, bound to the follow-up's row,
and every listing that opens notes (or the customer's name) is audited. Each change is one
transaction that writes the row and its ``follow_up.*`` event; completing or cancelling
names the ``version`` the caller saw, and an older one is a conflict (HTTP 409).

A communicator (grant ``own``) sees and closes the follow-ups they own and those owned by
a queue; supervisors, managers (read) and administrators any.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.audit import record
from tsunagi.actions.events import emit
from tsunagi.actions.routing.contacts import NewContact, create_contact_in
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import ContactParty, Customer
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.desk_models import ContactFollowUp
from tsunagi.adapters.storage.models import Queue, Tenant, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.follow_ups import (
    PAST_GRACE,
    DueState,
    FollowUpCancelledEvent,
    FollowUpCompletedEvent,
    FollowUpCreatedEvent,
    FollowUpDraft,
    FollowUpEvent,
    FollowUpState,
    check_draft,
    due_state,
)
from tsunagi.domain.permissions import Action, Grant, Principal, grant_for

TABLE = "contact_follow_ups"
LIST_MAX = 200
CALLBACK_HORIZON = timedelta(days=92)
Owner = Literal["me", "team", "all"]
E = TypeVar("E", bound=FollowUpEvent)


@dataclass(frozen=True, slots=True)
class WrapUpCallback:
    """A callback booked at wrap-up: a new ``callback`` contact in the same queue, released
    to the line at ``callback_at`` (and offered only to this communicator when ``to_me``)."""

    callback_at: datetime
    to_me: bool = True


@dataclass(frozen=True, slots=True)
class FollowUpView:
    id: UUID
    contact_id: UUID
    customer_id: UUID | None
    customer_name: str | None
    owner_user_id: UUID | None
    owner_queue_id: UUID | None
    owner_name: str | None
    due_at: datetime
    due: DueState | None  # None once done or cancelled
    note: str | None
    state: str
    version: int
    category: str | None
    created_at: datetime
    closed_at: datetime | None


def _event(cls: type[E], row: ContactFollowUp, actor: str | None, **extra: Any) -> E:
    return cls(
        tenant_id=row.tenant_id,
        occurred_at=row.updated_at,
        actor=actor,
        follow_up_id=row.id,
        contact_id=row.contact_id,
        customer_id=row.customer_id,
        owner_user_id=row.owner_user_id,
        owner_queue_id=row.owner_queue_id,
        due_at=row.due_at,
        state=row.state,
        version=row.version,
        **extra,
    )


async def add_follow_up(
    session: AsyncSession,
    cipher: TenantCipher,
    *,
    contact: RoutingContact,
    draft: FollowUpDraft,
    by_user_id: UUID,
    actor: str | None,
    now: datetime,
    field: str = "follow_up",
) -> ContactFollowUp:
    """Create a follow-up inside the caller's transaction (the close action uses it so a
    wrap-up and its follow-up are saved together). Raises naming ``field`` on bad input."""
    note = check_draft(draft, now, field=field)
    if draft.owner_queue_id is not None:
        found = await session.scalar(select(Queue.id).where(Queue.id == draft.owner_queue_id))
        if found is None:
            prefix = f"{field}." if field else ""
            raise InvalidInputError(f"{prefix}queue_id names no queue")
    customer_id = await session.scalar(
        select(ContactParty.customer_id).where(ContactParty.contact_id == contact.id)
    )
    row = ContactFollowUp(
        tenant_id=contact.tenant_id,
        contact_id=contact.id,
        customer_id=customer_id,
        owner_user_id=None if draft.owner_queue_id is not None else by_user_id,
        owner_queue_id=draft.owner_queue_id,
        due_at=draft.due_at,
        state=FollowUpState.OPEN.value,
        version=1,
        created_by=by_user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    row.note_enc = cipher.seal(note, table=TABLE, column="note", row_id=row.id)
    emit(session, _event(FollowUpCreatedEvent, row, actor))
    return row


def check_callback(callback: WrapUpCallback, now: datetime) -> datetime:
    """Raise naming ``callback.callback_at`` unless it is an aware time in the next 92 days."""
    at = callback.callback_at
    if at.tzinfo is None:
        raise InvalidInputError("callback.callback_at must be a date-time with a UTC offset")
    if at < now - PAST_GRACE or at > now + CALLBACK_HORIZON:
        raise InvalidInputError("callback.callback_at must be in the next 92 days")
    return at


async def book_callback_in(
    session: AsyncSession,
    cipher: TenantCipher,
    *,
    contact: RoutingContact,
    callback: WrapUpCallback,
    agent_id: UUID,
    actor: str | None,
    now: datetime,
) -> RoutingContact:
    """Schedule a callback contact for the customer of ``contact`` inside the caller's
    transaction; the new contact gets the same party (address re-sealed to its own row,
    same customer), so it pops the same customer when offered."""
    at = check_callback(callback, now)
    if contact.queue_id is None:
        raise InvalidInputError("callback: the contact has no queue to call back from")
    booked = await create_contact_in(
        session,
        contact.tenant_id,
        NewContact(
            channel="callback",
            queue_id=contact.queue_id,
            vip=contact.vip,
            target_agent_ids=(agent_id,) if callback.to_me else (),
            customer_ref=contact.customer_ref,
            source="wrap_up",
            callback_at=max(at, now),
        ),
        at=now,
        actor=actor,
    )
    party = await session.get(ContactParty, contact.id)
    if party is not None:
        address = cipher.open(
            party.address_enc, table="contact_parties", column="address", row_id=contact.id
        )
        session.add(
            ContactParty(
                tenant_id=contact.tenant_id,
                contact_id=booked.id,
                kind=party.kind,
                address_enc=cipher.seal(
                    address, table="contact_parties", column="address", row_id=booked.id
                ),
                address_hash=party.address_hash,
                customer_id=party.customer_id,
                matched_by=party.matched_by,
                candidates=party.candidates,
                created_at=now,
            )
        )
    return booked


async def do_create_follow_up(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    contact_id: UUID,
    draft: FollowUpDraft,
) -> UUID:
    """A follow-up for a contact in any state (after the wrap-up, from the history)."""
    now = datetime.now(UTC)
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        if await session.get(RoutingContact, contact_id) is None:
            raise NotFoundError("contact not found")
    check_draft(draft, now, field="")  # bad input changes nothing, not even the keyring
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        contact = await session.get(RoutingContact, contact_id)
        if contact is None:
            raise NotFoundError("contact not found")
        row = await add_follow_up(
            session,
            cipher,
            contact=contact,
            draft=draft,
            by_user_id=principal.user_id,
            actor=principal.actor,
            now=now,
            field="",
        )
        return row.id


async def do_complete_follow_up(
    db: Database, *, principal: Principal, follow_up_id: UUID, version: int
) -> int:
    """Mark it done; returns the new version."""
    return await _finish(db, principal, follow_up_id, version, FollowUpState.DONE)


async def do_cancel_follow_up(
    db: Database, *, principal: Principal, follow_up_id: UUID, version: int
) -> int:
    """It is no longer needed; returns the new version."""
    return await _finish(db, principal, follow_up_id, version, FollowUpState.CANCELLED)


async def _finish(
    db: Database, principal: Principal, follow_up_id: UUID, version: int, state: FollowUpState
) -> int:
    now = datetime.now(UTC)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        row = await session.scalar(
            select(ContactFollowUp).where(ContactFollowUp.id == follow_up_id).with_for_update()
        )
        if row is None or not _may_touch(principal, row, Action.UPDATE):
            raise NotFoundError("follow-up not found")
        if row.version != version:
            raise ConflictError(
                f"the follow-up changed meanwhile (version {row.version}, not {version})"
            )
        if row.state != FollowUpState.OPEN:
            raise ConflictError(f"the follow-up is already {row.state}")
        row.state = state.value
        row.version += 1
        row.updated_at = now
        row.closed_at = now
        row.closed_by = principal.user_id
        event_class: type[FollowUpCompletedEvent | FollowUpCancelledEvent] = (
            FollowUpCompletedEvent if state is FollowUpState.DONE else FollowUpCancelledEvent
        )
        emit(session, _event(event_class, row, principal.actor, closed_by=principal.user_id))
        return row.version


def _sees_all(principal: Principal, action: Action) -> bool:
    return grant_for(principal.roles, "follow_up", action) is Grant.ALL


def _may_touch(principal: Principal, row: ContactFollowUp, action: Action) -> bool:
    """``own``: the owner, or anyone when a queue owns it (the team's work)."""
    if _sees_all(principal, action):
        return True
    return row.owner_user_id == principal.user_id or row.owner_queue_id is not None


async def list_follow_ups(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    owner: Owner = "me",
    state: FollowUpState | None = FollowUpState.OPEN,
    due_before: datetime | None = None,
    customer_id: UUID | None = None,
    queue_id: UUID | None = None,
    limit: int = 50,
    reason: str = "follow-ups",
    _whoever_owns: bool = False,
) -> list[FollowUpView]:
    """Follow-ups, soonest due first. ``owner``: ``me`` (mine), ``team`` (mine and the
    queues'), ``all`` (anyone's; supervisors and up). Opening their notes and customers'
    names is audited once per listing with ``reason``."""
    if not 1 <= limit <= LIST_MAX:
        raise InvalidInputError(f"limit must be between 1 and {LIST_MAX}")
    sees_all = _whoever_owns or _sees_all(principal, Action.READ)
    if owner == "all" and not sees_all:
        raise InvalidInputError("owner=all is for supervisors; use me or team")
    query = (
        select(
            ContactFollowUp,
            RoutingContact.category,
            Customer.name_enc,
            User.display_name,
            Queue.name_ja,
            Queue.name_en,
        )
        .join(RoutingContact, RoutingContact.id == ContactFollowUp.contact_id)
        .outerjoin(Customer, Customer.id == ContactFollowUp.customer_id)
        .outerjoin(User, User.id == ContactFollowUp.owner_user_id)
        .outerjoin(Queue, Queue.id == ContactFollowUp.owner_queue_id)
        .order_by(ContactFollowUp.due_at, ContactFollowUp.id)
        .limit(limit)
    )
    mine = ContactFollowUp.owner_user_id == principal.user_id
    if owner == "me":
        query = query.where(mine)
    elif owner == "team":
        query = query.where(or_(mine, ContactFollowUp.owner_queue_id.is_not(None)))
    if not sees_all:
        query = query.where(or_(mine, ContactFollowUp.owner_queue_id.is_not(None)))
    if state is not None:
        query = query.where(ContactFollowUp.state == state.value)
    if due_before is not None:
        query = query.where(ContactFollowUp.due_at < due_before)
    if customer_id is not None:
        query = query.where(ContactFollowUp.customer_id == customer_id)
    if queue_id is not None:
        query = query.where(ContactFollowUp.owner_queue_id == queue_id)
    cipher = await keyring.cipher(db, principal.tenant_id)
    # Read on the read side; the audit row is written (and committed) only when notes or
    # names are about to be shown, so an empty list takes no write lock.
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        rows = (await session.execute(query)).all()
        if not rows:  # the usual screen-pop: one indexed query, nothing else
            return []
        zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == principal.tenant_id))
    async with db.scoped(principal.tenant_id) as session, session.begin():
        record(
            session,
            tenant_id=principal.tenant_id,
            action="follow_up.list_read",
            resource_type="follow_up",
            resource_id=str(customer_id) if customer_id else None,
            outcome="ok",
            actor_user_id=principal.user_id,
            reason=reason,
            detail={"follow_ups": [str(row[0].id) for row in rows]},
        )
    now = datetime.now(UTC)
    tz = ZoneInfo(zone or "Asia/Tokyo")
    today = now.astimezone(tz).date()
    japanese = principal.locale != "en"
    return [
        FollowUpView(
            id=row.id,
            contact_id=row.contact_id,
            customer_id=row.customer_id,
            customer_name=cipher.open(
                name_enc, table="customers", column="name", row_id=row.customer_id
            )
            if name_enc is not None and row.customer_id is not None
            else None,
            owner_user_id=row.owner_user_id,
            owner_queue_id=row.owner_queue_id,
            owner_name=user_name or (queue_ja if japanese else queue_en),
            due_at=row.due_at,
            due=due_state(row.due_at, now, today, local=row.due_at.astimezone(tz))
            if row.state == FollowUpState.OPEN
            else None,
            note=cipher.open(row.note_enc, table=TABLE, column="note", row_id=row.id),
            state=row.state,
            version=row.version,
            category=category,
            created_at=row.created_at,
            closed_at=row.closed_at,
        )
        for row, category, name_enc, user_name, queue_ja, queue_en in rows
    ]


async def open_follow_ups_of_customer(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    customer_id: UUID,
    reason: str,
    customer_known: bool = False,
) -> list[FollowUpView]:
    """The customer's open follow-ups, whoever owns them ("open issues" on the screen-pop).
    Everyone who may open the customer sees them: they are the customer's, not a list of
    someone's work. ``customer_known``: the caller has just opened the customer (the
    screen-pop), so it is not looked up again."""
    if not customer_known:
        async with db.scoped(principal.tenant_id, readonly=True) as session:
            found = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
        if found is None:
            raise NotFoundError("customer not found")
    return await list_follow_ups(
        db,
        keyring,
        principal=principal,
        owner="all",
        customer_id=customer_id,
        reason=reason,
        _whoever_owns=True,
    )
