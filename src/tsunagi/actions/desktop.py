"""The communicator's desktop: who is calling (screen-pop), their history across channels,
recent orders, products they are likely to want, and the sealed wrap-up notes.

A channel adapter calls :func:`do_identify_party` right after creating a contact; the
desktop calls :func:`screen_pop` when the contact is offered. Every customer record opened
here is audited with the contact as the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Integer, Row, Select, Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.customers import (
    LOOKUP_LIMIT,
    CustomerView,
    Opened,
    check_reason,
    customer_view,
    do_audit_reads,
    list_orders,
    load_customers,
    open_by_identifier,
    read_customers,
)
from tsunagi.actions.follow_ups import FollowUpView, open_follow_ups_of_customer
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation
from tsunagi.adapters.storage.crm_models import (
    ContactParty,
    Customer,
    CustomerIdentifier,
    Order,
    OrderLine,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.domain.customers import IDENTIFIER_KINDS
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal

HISTORY_PAGE = 20
RECOMMENDATIONS = 5
RECENT_DAYS = 30
PARTY_KINDS = (*IDENTIFIER_KINDS, "chat_login")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    contact_id: UUID
    channel: str
    queue: str | None
    created_at: datetime
    state: str
    category: str | None
    outcome: str | None
    resolved_first_contact: bool | None
    communicator: str | None
    notes: str | None
    conversation_id: UUID | None = None  # chat, email, SMS: its transcript
    sub_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ScreenPop:
    contact_id: UUID
    address_kind: str | None
    address: str | None
    customer: CustomerView | None
    candidates: list[CustomerView]
    history: list[HistoryEntry]
    orders: list[dict[str, Any]]
    recommended: list[dict[str, Any]]
    # The customer's open follow-ups ("open issues"), whoever owns them.
    follow_ups: list[FollowUpView] = field(default_factory=list)


async def do_identify_party(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    kind: str | None,
    address: str | None,
    verified: bool = False,
) -> int:
    """Record where ``contact_id`` came from and match it to customers; returns how many
    customers matched (one: linked; several: the communicator chooses; none: create).
    ``verified``: the address was vouched for (a visitor signed in on the client's site),
    so a single match is marked ``sign_in`` rather than ``lookup``."""
    if (kind is None) != (address is None) or (kind is not None and kind not in PARTY_KINDS):
        raise InvalidInputError(f"kind must be one of {', '.join(PARTY_KINDS)} with an address")
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id) as session, session.begin():
        if await session.get(RoutingContact, contact_id) is None:
            raise NotFoundError("contact not found")
        return await identify_party_in(
            session, cipher, contact_id, kind, address, verified=verified
        )


async def identify_party_in(
    session: AsyncSession,
    cipher: TenantCipher,
    contact_id: UUID,
    kind: str | None,
    address: str | None,
    *,
    verified: bool = False,
) -> int:
    """:func:`do_identify_party` inside the caller's transaction (a contact created with
    its party in one commit, e.g. an outbound call)."""
    lookup_kind = "email" if kind == "chat_login" else kind
    address_hash = (
        cipher.lookup_hash(lookup_kind, address) if lookup_kind is not None and address else None
    )
    matches: list[UUID] = []
    if address_hash is not None and lookup_kind is not None:
        matches = await _matching(session, lookup_kind, address_hash)
    party = await session.get(ContactParty, contact_id)
    if party is None:
        party = ContactParty(contact_id=contact_id, created_at=datetime.now(UTC))
        session.add(party)
    party.kind = kind
    party.address_enc = cipher.seal(
        address, table="contact_parties", column="address", row_id=contact_id
    )
    party.address_hash = address_hash
    party.candidates = len(matches)
    party.customer_id = matches[0] if len(matches) == 1 else None
    party.matched_by = ("sign_in" if verified else "lookup") if len(matches) == 1 else None
    return len(matches)


async def _matching(
    session: AsyncSession, kind: str, value_hash: str, *, limit: int = 100
) -> list[UUID]:
    """Customers (not merged away) with an identifier of ``kind`` hashing to ``value_hash``."""
    found = await session.scalars(
        select(CustomerIdentifier.customer_id)
        .join(Customer, Customer.id == CustomerIdentifier.customer_id)
        .where(
            CustomerIdentifier.kind == kind,
            CustomerIdentifier.value_hash == value_hash,
            Customer.merged_into_id.is_(None),
        )
        .distinct()
        .limit(limit)
    )
    return list(found)


async def do_link_customer(
    db: Database, *, principal: Principal, contact_id: UUID, customer_id: UUID
) -> None:
    """The communicator says who it is (after choosing among several, or creating one)."""
    async with db.scoped(principal.tenant_id) as session, session.begin():
        if await session.get(RoutingContact, contact_id) is None:
            raise NotFoundError("contact not found")
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.merged_into_id is not None:
            raise NotFoundError("customer not found")
        party = await session.get(ContactParty, contact_id)
        if party is None:
            party = ContactParty(contact_id=contact_id, created_at=datetime.now(UTC))
            session.add(party)
        party.customer_id = customer_id
        party.matched_by = "communicator"


async def do_save_notes(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    contact_id: UUID,
    notes: str | None,
    sub_reason: str | None,
) -> None:
    """The wrap-up's free text (sealed) and sub-reason for a contact. ``sub_reason=None``
    keeps the one already set (the close action may have written it)."""
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        if await session.get(RoutingContact, contact_id) is None:
            raise NotFoundError("contact not found")
        party = await session.get(ContactParty, contact_id)
        if party is None:
            party = ContactParty(contact_id=contact_id, created_at=datetime.now(UTC))
            session.add(party)
        party.notes_enc = cipher.seal(
            notes or None, table="contact_parties", column="notes", row_id=contact_id
        )
        if sub_reason is not None:
            party.sub_reason = sub_reason


async def screen_pop(
    db: Database, keyring: KeyRing, *, principal: Principal, contact_id: UUID, ip: str | None = None
) -> ScreenPop:
    """Everything the desktop shows when ``contact_id`` is offered."""
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        if await session.get(RoutingContact, contact_id) is None:
            raise NotFoundError("contact not found")
        party = await session.get(ContactParty, contact_id)
        candidate_ids: list[UUID] = []
        if party is not None and party.customer_id is None and party.address_hash:
            lookup_kind = "email" if party.kind == "chat_login" else (party.kind or "")
            candidate_ids = await _matching(session, lookup_kind, party.address_hash, limit=10)
    reason = f"contact {contact_id}"
    linked = party.customer_id if party is not None else None
    history: list[HistoryEntry] = []
    if linked is not None:  # the record and its first page: one read, one audit commit
        pop = await _open_with_page(
            db,
            cipher,
            principal,
            lambda session: load_customers(session, [linked]),
            reason=reason,
            ip=ip,
        )
        if pop.customer is None:
            raise NotFoundError("customer not found")
        customer, candidates, history = pop.customer, [], pop.history
    else:
        customer = None
        candidates = await read_customers(
            db, keyring, principal=principal, customer_ids=candidate_ids, reason=reason, ip=ip
        )
    address = (
        cipher.open(party.address_enc, table="contact_parties", column="address", row_id=contact_id)
        if party is not None
        else None
    )
    if customer is None:
        return ScreenPop(
            contact_id, party.kind if party else None, address, None, candidates, [], [], []
        )
    return ScreenPop(
        contact_id=contact_id,
        address_kind=party.kind if party else None,
        address=address,
        customer=customer,
        candidates=[],
        history=history,
        orders=await list_orders(db, principal=principal, customer_id=customer.id, limit=5),
        recommended=await recommend_products(db, principal=principal, customer_id=customer.id),
        follow_ups=await open_follow_ups_of_customer(
            db,
            keyring,
            principal=principal,
            customer_id=customer.id,
            reason=reason,
            customer_known=True,
        ),
    )


async def customer_history(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    customer_id: UUID,
    limit: int = HISTORY_PAGE,
    before: datetime | None = None,
    audit_reason: str | None = None,
    ip: str | None = None,
) -> list[HistoryEntry]:
    """The customer's contacts on every channel, newest first (a page of ``limit``). Pass
    ``audit_reason`` unless the caller has just audited opening this customer."""
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id, readonly=True, snapshot=False) as session:
        rows = await _history_rows(session, principal, customer_id, limit, before)
        # No page: a customer without (more) contacts, or no such customer in this tenant.
        if not rows and await session.get(Customer, customer_id) is None:
            raise NotFoundError("customer not found")
    if audit_reason is not None:  # committed before anything is returned
        await do_audit_reads(
            db, principal, [("customer.history_read", customer_id)], audit_reason, ip
        )
    return _entries(cipher, rows)


def _history_statement(english: bool) -> Select[*tuple[Any, ...]]:
    """One page of history: only the columns shown (not whole rows), read by walking
    ix_contact_parties_customer backwards from the newest contact."""
    return (
        select(
            RoutingContact.id.label("contact_id"),
            RoutingContact.channel,
            RoutingContact.created_at,
            RoutingContact.state,
            RoutingContact.category,
            RoutingContact.outcome,
            RoutingContact.resolved_first_contact,
            ContactParty.notes_enc,
            ContactParty.sub_reason,
            (Queue.name_en if english else Queue.name_ja).label("queue"),
            User.display_name,
            Conversation.id.label("conversation_id"),
        )
        .select_from(ContactParty)
        .join(RoutingContact, RoutingContact.id == ContactParty.contact_id)
        .outerjoin(Conversation, Conversation.contact_id == RoutingContact.id)
        .outerjoin(Queue, Queue.id == RoutingContact.queue_id)
        .outerjoin(User, User.id == RoutingContact.last_agent_id)
        .where(ContactParty.customer_id == bindparam("customer_id", type_=Uuid))
        .order_by(ContactParty.created_at.desc())
        .limit(bindparam("page", type_=Integer))
    )


# Built once per language (every screen-pop runs one): reused as they are, so SQLAlchemy
# neither rebuilds them nor recomputes their cache keys; the scoped session still adds
# the tenant criterion to every table on each execution.
_HISTORY = {english: _history_statement(english) for english in (False, True)}


async def _history_rows(
    session: AsyncSession,
    principal: Principal,
    customer_id: UUID,
    limit: int,
    before: datetime | None = None,
) -> list[Row[Any]]:
    query = _HISTORY[principal.locale == "en"]
    if before is not None:
        query = query.where(ContactParty.created_at < before)
    return list(await session.execute(query, {"customer_id": customer_id, "page": limit}))


def _entries(cipher: TenantCipher, rows: list[Row[Any]]) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            contact_id=row.contact_id,
            channel=row.channel,
            queue=row.queue,
            created_at=row.created_at,
            state=row.state,
            category=row.category,
            outcome=row.outcome,
            resolved_first_contact=row.resolved_first_contact,
            communicator=row.display_name,
            notes=cipher.open(
                row.notes_enc, table="contact_parties", column="notes", row_id=row.contact_id
            ),
            conversation_id=row.conversation_id,
            sub_reason=row.sub_reason,
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class CallerPop:
    """A screen-pop from the caller's number (or e-mail, member or contract number): the one
    customer found with the first page of their history, or the candidates when several
    records share it (the communicator chooses), or nobody."""

    customer: CustomerView | None
    candidates: list[CustomerView]
    history: list[HistoryEntry]


async def screen_pop_by_identifier(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    kind: str,
    value: str,
    reason: str,
    ip: str | None = None,
    limit: int = HISTORY_PAGE,
    candidates: int = LOOKUP_LIMIT,
) -> CallerPop:
    """Find the customers with this identifier and, when exactly one is found, the first
    page of their history — read together on the read side, then one short write
    transaction with an audit row for each record opened (``customer.read``) and one for
    the page (``customer.history_read``), committed before anything is returned."""
    check_reason(reason)
    if kind not in IDENTIFIER_KINDS:
        raise InvalidInputError(f"kind must be one of {', '.join(IDENTIFIER_KINDS)}")
    cipher = await keyring.cipher(db, principal.tenant_id)
    return await _open_with_page(
        db,
        cipher,
        principal,
        lambda session: open_by_identifier(session, cipher, kind, value, candidates),
        reason=reason,
        ip=ip,
        limit=limit,
    )


async def _open_with_page(
    db: Database,
    cipher: TenantCipher,
    principal: Principal,
    find: Callable[[AsyncSession], Awaitable[Opened]],
    *,
    reason: str,
    ip: str | None,
    limit: int = HISTORY_PAGE,
) -> CallerPop:
    """The customers ``find`` reads and, when it finds exactly one, the first page of
    their history, read together on the read side; then one short write transaction
    with a ``customer.read`` row per record opened and a ``customer.history_read`` row
    for the page, committed before anything is returned."""
    # Two statements without a transaction around them (no BEGIN/ROLLBACK round trips):
    # the page is of the customer just found, whatever was committed in between. Both are
    # index lookups of a few rows: inline (on SQLite, on the loop's thread, no hand-overs).
    async with db.scoped(
        principal.tenant_id, readonly=True, snapshot=False, inline=True
    ) as session:
        found = await find(session)
        only = next(iter(found)) if len(found) == 1 else None
        rows = await _history_rows(session, principal, only, limit) if only else []
    reads = [("customer.read", customer_id) for customer_id in found]
    if only is not None:
        reads.append(("customer.history_read", only))
    await do_audit_reads(db, principal, reads, reason, ip)  # both rows, one commit
    views = [customer_view(cipher, *found[cid]) for cid in found]
    if only is None:
        return CallerPop(customer=None, candidates=views, history=[])
    return CallerPop(customer=views[0], candidates=[], history=_entries(cipher, rows))


async def recommend_products(
    db: Database, *, principal: Principal, customer_id: UUID, today: date | None = None
) -> list[dict[str, Any]]:
    """Products the customer is likely to want: what customers who bought the same things
    also bought (item-to-item co-occurrence over recent orders), minus what this customer
    bought in the last 30 days; their own regular purchases fill the list if it is short."""
    today = today or datetime.now(UTC).date()
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        own = (
            await session.execute(
                select(OrderLine.product_code, OrderLine.product_name, Order.ordered_on)
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.customer_id == customer_id)
                .order_by(Order.ordered_on.desc())
                .limit(200)
            )
        ).all()
        if not own:
            return []
        bought = {code for code, _name, _day in own}
        recent = {code for code, _name, day in own if day >= today - timedelta(days=RECENT_DAYS)}
        peers = (
            select(Order.id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.product_code.in_(bought), Order.customer_id != customer_id)
            .order_by(Order.ordered_on.desc())
            .limit(2000)
        )
        together = (
            await session.execute(
                select(OrderLine.product_code, OrderLine.product_name).where(
                    OrderLine.order_id.in_(peers), OrderLine.product_code.not_in(bought)
                )
            )
        ).all()
    names: dict[str, str] = {}
    names.update((code, name) for code, name in together)
    names.update({code: name for code, name, _day in own})
    scores = Counter(code for code, _name in together)
    regular = Counter(code for code, _name, _day in own if code not in recent)
    ranked = [code for code, _count in scores.most_common()]
    ranked += [code for code, _count in regular.most_common() if code not in ranked]
    return [
        {
            "product_code": code,
            "product_name": names[code],
            "why": "co-purchase" if code in scores else "regular",
        }
        for code in ranked[:RECOMMENDATIONS]
    ]
