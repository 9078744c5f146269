"""VOC mining for one tenant and month: gather the texts, open them, mask them, analyse.

Texts: the communicators' wrap-up notes (``contact_parties.notes``), what customers
wrote on chat, email (subject and body, quoted lines dropped) and SMS
(``conversation_messages`` with ``direction = in`` and ``author = customer``), and the
comments of survey answers (``survey_responses.comment``, dated when answered). Each text is
dated by its contact's (note) or message's creation in the tenant's time zone and carries
its contact's wrap-up category.

Personal data: the texts and the customer's known values (name, kana, address, phone
numbers, e-mail addresses, member and contract numbers; the conversation's visitor name
and address; the contact's own address) are opened with the tenant keyring here, used to
mask the texts, and dropped: only masked text leaves :func:`gather`. Every run writes one
audit entry (``voc.read``: who, which month, why, how many texts) in its own transaction,
not one per message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Executable, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.audit import record
from tsunagi.actions.figures import reports
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.crm_models import ContactParty, Customer, CustomerIdentifier
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Tenant
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.storage.survey_models import SurveyResponse
from tsunagi.domain.permissions import Principal
from tsunagi.figures import voc
from tsunagi.figures.voc_text import mask

BASELINE_MONTHS = 3  # months before the report month that rising topics compare with
TREND_MONTHS = 6  # months of contact volumes in the report
PER_MONTH = 5_000  # of each source (notes, messages, survey comments) per month; beyond
# it an even sample of the month
_QUOTED = re.compile(r"^\s*>.*$|^-- $[\s\S]*", re.MULTILINE)


@dataclass
class VocMonth:
    """A month's VOC: the text summary, contact volumes from the figures, actions."""

    summary: voc.MonthSummary
    contacts: dict[str, dict[str, int]]  # category → month → answered contacts
    categories: dict[str, str]  # code → display name
    outcomes: list[tuple[str, str, int]]  # (category, wrap-up sub-reason, contacts)
    actions: list[str] = field(default_factory=list)  # entered by a supervisor
    available: int = 0  # the month's texts before sampling (see PER_MONTH)


async def _zone(db: Database, tenant_id: UUID) -> ZoneInfo:
    async with db.system(readonly=True) as session:
        name = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    return ZoneInfo(name or "UTC")


def _bounds(zone: ZoneInfo, first: str, last: str) -> tuple[datetime, datetime]:
    """UTC instants from the local start of ``first`` to the local start after ``last``."""
    start = datetime.combine(voc.month_first_day(first), time(), zone)
    end = datetime.combine(voc.month_first_day(voc.shift_month(last, 1)), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _local_month(moment: datetime, zone: ZoneInfo) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone).strftime("%Y-%m")


async def _known_values(
    session: AsyncSession, cipher: TenantCipher, customer_ids: set[UUID]
) -> dict[UUID, list[tuple[str, str]]]:
    """Each customer's own values, opened for masking only."""
    known: dict[UUID, list[tuple[str, str]]] = {cid: [] for cid in customer_ids}
    if not customer_ids:
        return known
    ids = sorted(customer_ids)
    for customer in (await session.scalars(select(Customer).where(Customer.id.in_(ids)))).all():
        for column, kind in (("name", "name"), ("name_kana", "name"), ("address", "address")):
            value = cipher.open(
                getattr(customer, f"{column}_enc"),
                table="customers",
                column=column,
                row_id=customer.id,
            )
            if value:
                known[customer.id].append((kind, value))
    identifiers = await session.scalars(
        select(CustomerIdentifier).where(CustomerIdentifier.customer_id.in_(ids))
    )
    for row in identifiers.all():
        value = cipher.open(
            row.value_enc, table="customer_identifiers", column="value", row_id=row.id
        )
        if value:
            known[row.customer_id].append((row.kind, value))
    return known


def _party_value(kind: str | None, value: str | None) -> list[tuple[str, str]]:
    if not value or kind is None:
        return []
    return [("email" if kind == "chat_login" else kind, value)]


@dataclass
class Gathered:
    texts: list[voc.VocText]
    available: dict[str, int]  # texts per month before sampling


async def _sampled_ids(
    session: AsyncSession, statement: Any, zone: ZoneInfo, cap: int, available: Counter[str]
) -> list[UUID]:
    """Ids of (id, created_at) rows, an even sample of at most ``cap`` per local month."""
    by_month: dict[str, list[UUID]] = {}
    for row_id, created in (await session.execute(statement)).all():
        by_month.setdefault(_local_month(created, zone), []).append(row_id)
    chosen: list[UUID] = []
    for month in sorted(by_month):
        available[month] += len(by_month[month])
        chosen.extend(voc.even_sample(by_month[month], cap))
    return chosen


async def _rows_in_chunks(
    session: AsyncSession, ids: list[UUID], query: Callable[[list[UUID]], Executable]
) -> list[Any]:
    """The rows ``query(chunk)`` selects for every chunk of ``ids`` (bounded IN lists)."""
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows += (await session.execute(query(chunk))).all()
    return rows


def _chunks(ids: list[UUID], size: int = 500) -> list[list[UUID]]:
    return [ids[index : index + size] for index in range(0, len(ids), size)]


async def gather(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    first: str,
    last: str,
    per_month: int = PER_MONTH,
) -> Gathered:
    """The tenant's masked texts from month ``first`` to ``last`` (inclusive): at most
    ``per_month`` notes and ``per_month`` messages of each month, evenly spread over it."""
    zone = await _zone(db, tenant_id)
    start, end = _bounds(zone, first, last)
    cipher = await keyring.cipher(db, tenant_id)
    party = ContactParty
    note_in_range = (
        party.notes_enc.is_not(None),
        RoutingContact.created_at >= start,
        RoutingContact.created_at < end,
    )
    message_in_range = (
        ConversationMessage.direction == "in",
        ConversationMessage.author == "customer",
        ConversationMessage.body_enc.is_not(None),
        ConversationMessage.created_at >= start,
        ConversationMessage.created_at < end,
    )
    available: Counter[str] = Counter()
    async with db.scoped(tenant_id, readonly=True) as session:
        note_ids = await _sampled_ids(
            session,
            select(RoutingContact.id, RoutingContact.created_at)
            .join(party, party.contact_id == RoutingContact.id)
            .where(*note_in_range)
            .order_by(RoutingContact.created_at, RoutingContact.id),
            zone,
            per_month,
            available,
        )
        message_ids = await _sampled_ids(
            session,
            select(ConversationMessage.id, ConversationMessage.created_at)
            .where(*message_in_range)
            .order_by(ConversationMessage.created_at, ConversationMessage.id),
            zone,
            per_month,
            available,
        )
        survey_ids = await _sampled_ids(
            session,
            select(SurveyResponse.id, SurveyResponse.answered_at)
            .where(
                SurveyResponse.comment_enc.is_not(None),
                SurveyResponse.answered_at >= start,
                SurveyResponse.answered_at < end,
            )
            .order_by(SurveyResponse.answered_at, SurveyResponse.id),
            zone,
            per_month,
            available,
        )
        surveys = await _rows_in_chunks(
            session,
            survey_ids,
            lambda chunk: (
                select(
                    SurveyResponse.id,
                    SurveyResponse.answered_at,
                    SurveyResponse.comment_enc,
                    RoutingContact.category,
                    party.customer_id,
                    party.kind,
                    party.address_enc,
                    party.contact_id,
                )
                .outerjoin(RoutingContact, RoutingContact.id == SurveyResponse.contact_id)
                .outerjoin(party, party.contact_id == SurveyResponse.contact_id)
                .where(SurveyResponse.id.in_(chunk))
            ),
        )
        notes = await _rows_in_chunks(
            session,
            note_ids,
            lambda chunk: (
                select(
                    RoutingContact.id,
                    RoutingContact.created_at,
                    RoutingContact.category,
                    party.notes_enc,
                    party.customer_id,
                    party.kind,
                    party.address_enc,
                )
                .join(party, party.contact_id == RoutingContact.id)
                .where(RoutingContact.id.in_(chunk))
            ),
        )
        messages = await _rows_in_chunks(
            session,
            message_ids,
            lambda chunk: (
                select(
                    ConversationMessage.id,
                    ConversationMessage.created_at,
                    ConversationMessage.body_enc,
                    ConversationMessage.seq,
                    Conversation,
                    RoutingContact.category,
                )
                .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
                .outerjoin(RoutingContact, RoutingContact.id == Conversation.contact_id)
                .where(ConversationMessage.id.in_(chunk))
            ),
        )
        customers = {row.customer_id for row in notes if row.customer_id is not None}
        customers |= {row[4].customer_id for row in messages if row[4].customer_id is not None}
        customers |= {row.customer_id for row in surveys if row.customer_id is not None}
        known = await _known_values(session, cipher, customers)

    texts: list[voc.VocText] = []
    for contact_id, created, category, notes_enc, customer_id, kind, address_enc in notes:
        address = cipher.open(
            address_enc, table="contact_parties", column="address", row_id=contact_id
        )
        values = [*known.get(customer_id, []), *_party_value(kind, address)] if customer_id else []
        values = values or _party_value(kind, address)
        body = cipher.open(notes_enc, table="contact_parties", column="notes", row_id=contact_id)
        texts.append(
            voc.VocText(
                key=f"n:{contact_id}",
                month=_local_month(created, zone),
                category=category or voc.UNCATEGORISED,
                source="note",
                text=mask(body or "", values),
            )
        )
    for message_id, created, body_enc, seq, conversation, category in messages:
        values = list(known.get(conversation.customer_id, [])) if conversation.customer_id else []
        for column, kind in (("visitor_name", "name"), ("address", conversation.channel)):
            opened = cipher.open(
                getattr(conversation, f"{column}_enc"),
                table="conversations",
                column=column,
                row_id=conversation.id,
            )
            if opened:
                values.append(("phone" if kind == "sms" else kind, opened))
        body = cipher.open(
            body_enc, table="conversation_messages", column="body", row_id=message_id
        )
        if conversation.channel == "email":
            body = _QUOTED.sub("", body or "")
            if seq == 1 and conversation.subject_enc is not None:
                subject = cipher.open(
                    conversation.subject_enc,
                    table="conversations",
                    column="subject",
                    row_id=conversation.id,
                )
                body = f"{subject or ''}\n{body}"
        texts.append(
            voc.VocText(
                key=f"m:{message_id}",
                month=_local_month(created, zone),
                category=category or voc.UNCATEGORISED,
                source=conversation.channel,
                text=mask(body or "", values),
            )
        )
    for (
        response_id,
        answered,
        comment_enc,
        category,
        customer_id,
        kind,
        address_enc,
        contact,
    ) in surveys:
        address = (
            cipher.open(address_enc, table="contact_parties", column="address", row_id=contact)
            if contact is not None
            else None
        )
        values = [*known.get(customer_id, []), *_party_value(kind, address)]
        comment = cipher.open(
            comment_enc, table="survey_responses", column="comment", row_id=response_id
        )
        texts.append(
            voc.VocText(
                key=f"s:{response_id}",
                month=_local_month(answered, zone),
                category=category or voc.UNCATEGORISED,
                source="survey",
                text=mask(comment or "", values),
            )
        )
    texts.sort(key=lambda t: (t.month, t.key))
    return Gathered(texts, dict(sorted(available.items())))


async def _audit(
    db: Database, principal: Principal, month: str, reason: str, texts: int, category: str | None
) -> None:
    async with db.scoped(principal.tenant_id) as session, session.begin():
        record(
            session,
            tenant_id=principal.tenant_id,
            action="voc.read",
            resource_type="figures",
            resource_id=month,
            outcome="ok",
            actor_user_id=principal.user_id,
            reason=reason,
            detail={"texts": texts, **({"category": category} if category is not None else {})},
        )


async def _sub_reasons(
    db: Database, tenant_id: UUID, zone: ZoneInfo, month: str, category: str | None
) -> list[tuple[str, str, int]]:
    start, end = _bounds(zone, month, month)
    statement = (
        select(RoutingContact.category, ContactParty.sub_reason)
        .join(ContactParty, ContactParty.contact_id == RoutingContact.id)
        .where(
            ContactParty.sub_reason.is_not(None),
            RoutingContact.created_at >= start,
            RoutingContact.created_at < end,
        )
    )
    if category is not None:
        statement = statement.where(RoutingContact.category == (category or None))
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (await session.execute(statement)).all()
    counts = Counter((cat or "", reason or "") for cat, reason in rows)
    return [(cat, reason, n) for (cat, reason), n in sorted(counts.items(), key=_by_count)]


def _by_count(item: tuple[tuple[str, str], int]) -> tuple[int, str, str]:
    (category, reason), count = item
    return (-count, category, reason)


async def _contact_volumes(db: Database, tenant_id: UUID, month: str) -> dict[str, dict[str, int]]:
    """Answered contacts per category and month, from the figures (the same numbers as the
    dashboard), over the trend months."""
    first = voc.shift_month(month, 1 - TREND_MONTHS)
    last_day = voc.month_first_day(voc.shift_month(month, 1))
    query = reports.ReportQuery(
        day_from=voc.month_first_day(first),
        day_to=last_day.fromordinal(last_day.toordinal() - 1),
        grain="month",
        by=("category",),
    )
    found: dict[str, dict[str, int]] = {}
    for row in await reports.report(db, tenant_id, query.validated()):
        slot = found.setdefault(row.keys[0], {})
        slot[row.bucket[:7]] = int(row.figures.get("answered") or 0)
    return found


async def voc_month(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    month: str,
    category: str | None = None,
    reason: str,
    locale: str = "ja",
    actions: Sequence[str] = (),
) -> VocMonth:
    """The month's VOC for the principal's tenant; reads sealed text, so audited."""
    month = voc.parse_month(month)
    tenant_id = principal.tenant_id
    gathered = await gather(
        db,
        keyring,
        tenant_id=tenant_id,
        first=voc.shift_month(month, -BASELINE_MONTHS),
        last=month,
    )
    await _audit(db, principal, month, reason, len(gathered.texts), category)
    summary = voc.summarise(voc.documents(gathered.texts), month, category=category)
    names = await reports.names(db, tenant_id, locale)
    return VocMonth(
        summary=summary,
        contacts=await _contact_volumes(db, tenant_id, month),
        categories=names.get("category", {}),
        outcomes=await _sub_reasons(db, tenant_id, await _zone(db, tenant_id), month, category),
        actions=[line.strip() for line in actions if line.strip()],
        available=gathered.available.get(month, 0),
    )
