"""Conversations on the written channels: start, add messages, read marks, close.

Every channel adapter (the chat widget, the IMAP ingest, the SMS webhook) and the desk
go through these actions, so a chat, an email and an SMS are contacts of the same
routing engine and lines of the same customer history. Each action is one transaction
that writes the rows and an event without text; message text is sealed with the
tenant's key. :func:`message_wire` is what the live transports carry after commit (the
bus is never the truth: a client that missed it reads :func:`list_messages`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.audit import record
from tsunagi.actions.desktop import do_identify_party
from tsunagi.actions.events import emit
from tsunagi.actions.routing.contacts import (
    NewContact,
    create_contact_in,
    do_abandon_contact,
    do_end_self_service,
)
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import (
    Conversation,
    ConversationMessage,
    MessageAttachment,
)
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.events import (
    ConversationClosedEvent,
    ConversationHandedOverEvent,
    ConversationMessageAddedEvent,
    ConversationStartedEvent,
)
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.domain.permissions import Principal, Role
from tsunagi.routing.lifecycle import ContactState

S = ContactState
CHANNELS = ("chat", "email", "sms")
DIRECTIONS = ("in", "out", "note")
AUTHORS = ("customer", "agent", "bot", "system")
_T = "conversation_messages"


def token_hash(token: str) -> str:
    """How a chat visitor's bearer token is stored (it is random: no key needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewConversation:
    channel: str
    queue_id: UUID
    source: str
    lang: str = "ja"
    topic: str | None = None
    visitor_name: str | None = None
    # Where the customer writes from on this channel (email address, phone number).
    address_kind: str | None = None
    address: str | None = None
    member_no: str | None = None
    # The member number / address was vouched for by the client's site (signed identity).
    identity_verified: bool = False
    subject: str | None = None
    thread_key: str | None = None
    account_id: UUID | None = None
    widget_id: UUID | None = None
    visitor_token: str | None = None
    bot: bool = False
    idempotency_key: str | None = None
    first_response_s: int | None = None
    # A chat asks for its transcript by email at ``address`` when it closes.
    transcript_requested: bool = False


@dataclass(frozen=True, slots=True)
class Started:
    conversation_id: UUID
    contact_id: UUID
    state: str
    contact_state: str
    created: bool


@dataclass(frozen=True, slots=True)
class NewAttachment:
    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class NewMessage:
    direction: str
    author: str
    body: str | None
    author_user_id: UUID | None = None
    html: str | None = None
    raw: bytes | None = None
    external_id: str | None = None
    provider_id: str | None = None
    status: str = "received"
    flags: tuple[str, ...] = ()
    attachments: tuple[NewAttachment, ...] = ()


@dataclass(frozen=True, slots=True)
class AttachmentView:
    id: UUID
    filename: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class MessageView:
    id: UUID
    conversation_id: UUID
    seq: int
    direction: str
    author: str
    author_user_id: UUID | None
    text: str | None
    status: str
    flags: list[str]
    created_at: datetime
    attachments: list[AttachmentView] = field(default_factory=list)
    created: bool = True  # False when an idempotency key named an existing message


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: UUID
    channel: str
    state: str
    contact_id: UUID | None
    queue_id: UUID
    customer_id: UUID | None
    lang: str
    topic: str | None
    subject: str | None
    visitor_name: str | None
    address: str | None
    visitor_read_seq: int
    agent_read_seq: int
    bot_outcome: str | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    transcript_requested: bool = False


# --------------------------------------------------------------------------- start


async def do_start_conversation(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, new: NewConversation, actor: str | None
) -> Started:
    """Open a conversation and its contact in one transaction (idempotent by key).

    With ``bot`` the contact waits in self-service (``ivr``) until handed over; else it is
    queued by the queue's hours and limits (or closed/scheduled, as for any channel).
    """
    if new.channel not in CHANNELS:
        raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}")
    if new.idempotency_key is not None:
        existing = await _started_by_key(db, tenant_id, new.idempotency_key)
        if existing is not None:
            return existing
    cipher = await keyring.cipher(db, tenant_id)
    at = utcnow()
    try:
        async with db.scoped(tenant_id) as session, session.begin():
            conversation, contact = await _start(session, cipher, tenant_id, new, at, actor)
            started = Started(conversation.id, contact.id, conversation.state, contact.state, True)
    except IntegrityError:
        if new.idempotency_key is None:
            raise
        existing = await _started_by_key(db, tenant_id, new.idempotency_key)
        if existing is None:
            raise
        return existing
    kind, address = _party_of(new)
    if kind is not None and address is not None:
        await do_identify_party(
            db, keyring, tenant_id=tenant_id, contact_id=started.contact_id, kind=kind,
            address=address, verified=new.identity_verified,
        )  # fmt: skip
        await _copy_customer(db, tenant_id, started.conversation_id)
    return started


def _party_of(new: NewConversation) -> tuple[str | None, str | None]:
    if new.member_no:
        return "member_no", new.member_no
    if new.address_kind in ("email", "phone") and new.address:
        return new.address_kind, new.address
    return None, None


async def _start(
    session: AsyncSession,
    cipher: TenantCipher,
    tenant_id: UUID,
    new: NewConversation,
    at: datetime,
    actor: str | None,
) -> tuple[Conversation, RoutingContact]:
    contact = await create_contact_in(
        session,
        tenant_id,
        NewContact(
            channel=new.channel,
            queue_id=new.queue_id,
            source=new.source,
            idempotency_key=new.idempotency_key,
            self_service="bot" if new.bot else None,
        ),
        at=at,
        actor=actor,
    )
    conversation = Conversation(
        tenant_id=tenant_id,
        channel=new.channel,
        contact_id=contact.id,
        queue_id=new.queue_id,
        account_id=new.account_id,
        widget_id=new.widget_id,
        state="bot" if new.bot else ("closed" if contact.state == S.CLOSED else "open"),
        lang=new.lang,
        topic=new.topic,
        thread_key=new.thread_key,
        visitor_token_hash=token_hash(new.visitor_token) if new.visitor_token else None,
        transcript_requested=new.transcript_requested,
        first_response_due_at=(
            at + timedelta(seconds=new.first_response_s) if new.first_response_s else None
        ),
        created_at=at,
        updated_at=at,
        closed_at=at if contact.state == S.CLOSED else None,
    )
    session.add(conversation)
    await session.flush()
    row = conversation.id
    conversation.subject_enc = cipher.seal(
        new.subject, table="conversations", column="subject", row_id=row
    )
    conversation.visitor_name_enc = cipher.seal(
        new.visitor_name, table="conversations", column="visitor_name", row_id=row
    )
    if new.address is not None and new.address_kind is not None:
        conversation.address_enc = cipher.seal(
            new.address, table="conversations", column="address", row_id=row
        )
        conversation.address_hash = cipher.lookup_hash(new.address_kind, new.address)
    emit(
        session,
        ConversationStartedEvent(
            tenant_id=tenant_id,
            occurred_at=at,
            actor=actor,
            conversation_id=row,
            contact_id=contact.id,
            channel=new.channel,
            queue_id=new.queue_id,
            state=conversation.state,
            topic=new.topic,
            identified=_party_of(new)[0] is not None,
        ),
    )
    return conversation, contact


async def _started_by_key(db: Database, tenant_id: UUID, key: str) -> Started | None:
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(Conversation.id, RoutingContact.id, Conversation.state, RoutingContact.state)
                .join(RoutingContact, RoutingContact.id == Conversation.contact_id)
                .where(RoutingContact.idempotency_key == key)
            )
        ).first()
    return None if row is None else Started(row[0], row[1], row[2], row[3], False)


async def _copy_customer(db: Database, tenant_id: UUID, conversation_id: UUID) -> None:
    """Record on the conversation the customer its contact was matched to (if one)."""
    async with db.scoped(tenant_id) as session, session.begin():
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or conversation.contact_id is None:
            return
        party = await session.get(ContactParty, conversation.contact_id)
        if party is not None and party.customer_id is not None:
            conversation.customer_id = party.customer_id


# ------------------------------------------------------------------------ messages


async def do_add_message(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    conversation_id: UUID,
    new: NewMessage,
    actor: str | None,
) -> MessageView:
    """Append a message (idempotent by ``external_id``): the next number of the
    conversation, its text and attachments sealed, an event without text."""
    if new.direction not in DIRECTIONS:
        raise InvalidInputError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if new.author not in AUTHORS:
        raise InvalidInputError(f"author must be one of {', '.join(AUTHORS)}")
    if new.body is None and not new.attachments and new.raw is None:
        raise InvalidInputError("a message needs text, an attachment or its original")
    cipher = await keyring.cipher(db, tenant_id)
    at = utcnow()
    try:
        # A repeat (same external_id) fails on the unique index and rolls back whole,
        # numbering included; only then is the stored message read. One round trip less
        # per message than looking first.
        async with db.scoped(tenant_id) as session, session.begin():
            return await _add(session, cipher, tenant_id, conversation_id, new, at, actor)
    except IntegrityError:
        if new.external_id is None:
            raise
        found = await _message_by_external_id(db, cipher, tenant_id, new.external_id)
        if found is None:
            raise
        return found


async def _lock_conversation(session: AsyncSession, conversation_id: UUID) -> Conversation:
    conversation = await session.scalar(
        select(Conversation).where(Conversation.id == conversation_id).with_for_update()
    )
    if conversation is None:
        raise NotFoundError("conversation not found")
    return conversation


async def _add(
    session: AsyncSession,
    cipher: TenantCipher,
    tenant_id: UUID,
    conversation_id: UUID,
    new: NewMessage,
    at: datetime,
    actor: str | None,
) -> MessageView:
    # Take the next number with one atomic UPDATE … RETURNING (a row lock on PostgreSQL,
    # the write lock on SQLite): two writers can never get the same seq.
    numbered = (
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.tenant_id == tenant_id)
            .values(next_seq=Conversation.next_seq + 1, updated_at=at)
            .returning(
                Conversation.next_seq,
                Conversation.state,
                Conversation.channel,
                Conversation.contact_id,
                Conversation.first_response_at,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    if numbered is None:
        raise NotFoundError("conversation not found")
    next_seq, state, channel, contact_id, first_response_at = numbered
    seq = next_seq - 1
    if state == "closed" and new.direction == "out" and new.author != "system":
        raise ConflictError("the conversation is closed")
    if new.direction == "out" and new.author == "agent" and first_response_at is None:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.first_response_at.is_(None))
            .values(first_response_at=at)
            .execution_options(synchronize_session=False)
        )
    row = new_id()
    # A Core INSERT, not an ORM object: the hot path of every chat message (no unit of
    # work to flush, no instance to track).
    message = {
        "id": row,
        "tenant_id": tenant_id,
        "conversation_id": conversation_id,
        "seq": seq,
        "direction": new.direction,
        "author": new.author,
        "author_user_id": new.author_user_id,
        "external_id": new.external_id,
        "provider_id": new.provider_id,
        "status": new.status,
        "flags": list(new.flags),
        "created_at": at,
        "sent_at": at if new.status in ("sent", "delivered") else None,
        "body_enc": cipher.seal(new.body, table=_T, column="body", row_id=row),
        "html_enc": cipher.seal(new.html, table=_T, column="html", row_id=row),
        "raw_enc": (
            cipher.seal_bytes(new.raw, table=_T, column="raw", row_id=row)
            if new.raw is not None
            else None
        ),
    }
    await session.execute(insert(ConversationMessage), [message])
    attachments = [_attach(session, cipher, tenant_id, row, item, at) for item in new.attachments]
    emit(
        session,
        ConversationMessageAddedEvent(
            tenant_id=tenant_id,
            occurred_at=at,
            actor=actor,
            conversation_id=conversation_id,
            contact_id=contact_id,
            channel=channel,
            message_id=row,
            seq=seq,
            direction=new.direction,
            author=new.author,
            attachments=len(attachments),
            flags=list(new.flags),
        ),
    )
    return MessageView(
        id=row,
        conversation_id=conversation_id,
        seq=seq,
        direction=new.direction,
        author=new.author,
        author_user_id=new.author_user_id,
        text=new.body,
        status=new.status,
        flags=list(new.flags),
        created_at=at,
        attachments=attachments,
    )


def _attach(
    session: AsyncSession,
    cipher: TenantCipher,
    tenant_id: UUID,
    message_id: UUID,
    item: NewAttachment,
    at: datetime,
) -> AttachmentView:
    attachment = MessageAttachment(
        tenant_id=tenant_id,
        message_id=message_id,
        media_type=item.media_type,
        size=len(item.content),
        sha256=hashlib.sha256(item.content).hexdigest(),
        created_at=at,
    )
    attachment.id = new_id()
    attachment.filename_enc = cipher.seal(
        item.filename, table="message_attachments", column="filename", row_id=attachment.id
    )
    attachment.content_enc = cipher.seal_bytes(
        item.content, table="message_attachments", column="content", row_id=attachment.id
    )
    session.add(attachment)
    return AttachmentView(attachment.id, item.filename, item.media_type, len(item.content))


async def _message_by_external_id(
    db: Database, cipher: TenantCipher, tenant_id: UUID, external_id: str
) -> MessageView | None:
    async with db.scoped(tenant_id, readonly=True) as session:
        message = await session.scalar(
            select(ConversationMessage).where(ConversationMessage.external_id == external_id)
        )
        if message is None:
            return None
        views = await _views(session, cipher, [message])
    view = views[0]
    return MessageView(**{**_fields(view), "created": False})


def _fields(view: MessageView) -> dict[str, Any]:
    return {name: getattr(view, name) for name in MessageView.__slots__}


async def _views(
    session: AsyncSession, cipher: TenantCipher, messages: list[ConversationMessage]
) -> list[MessageView]:
    ids = [m.id for m in messages]
    attachments: dict[UUID, list[AttachmentView]] = {}
    if ids:
        rows = await session.execute(
            select(
                MessageAttachment.id,
                MessageAttachment.message_id,
                MessageAttachment.filename_enc,
                MessageAttachment.media_type,
                MessageAttachment.size,
            ).where(MessageAttachment.message_id.in_(ids))
        )
        for att_id, message_id, name_enc, media_type, size in rows:
            name = cipher.open(
                name_enc, table="message_attachments", column="filename", row_id=att_id
            )
            attachments.setdefault(message_id, []).append(
                AttachmentView(att_id, name or "", media_type, size)
            )
    return [
        MessageView(
            id=m.id,
            conversation_id=m.conversation_id,
            seq=m.seq,
            direction=m.direction,
            author=m.author,
            author_user_id=m.author_user_id,
            text=cipher.open(m.body_enc, table=_T, column="body", row_id=m.id),
            status=m.status,
            flags=list(m.flags or []),
            created_at=m.created_at,
            attachments=attachments.get(m.id, []),
        )
        for m in messages
    ]


async def list_messages(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    conversation_id: UUID,
    after_seq: int = 0,
    limit: int = 500,
    include_notes: bool = False,
) -> list[MessageView]:
    """Messages after ``after_seq`` in order (internal notes only for staff)."""
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        query = (
            select(ConversationMessage)
            .where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.seq > after_seq,
            )
            .order_by(ConversationMessage.seq)
            .limit(limit)
        )
        if not include_notes:
            query = query.where(ConversationMessage.direction != "note")
        messages = list(await session.scalars(query))
        return await _views(session, cipher, messages)


async def attachment_content(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, conversation_id: UUID, attachment_id: UUID
) -> tuple[AttachmentView, bytes]:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(MessageAttachment)
                .join(ConversationMessage, ConversationMessage.id == MessageAttachment.message_id)
                .where(
                    MessageAttachment.id == attachment_id,
                    ConversationMessage.conversation_id == conversation_id,
                )
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError("attachment not found")
        name = cipher.open(
            row.filename_enc, table="message_attachments", column="filename", row_id=row.id
        )
        content = cipher.open_bytes(
            row.content_enc, table="message_attachments", column="content", row_id=row.id
        )
        return AttachmentView(row.id, name or "", row.media_type, row.size), content


# -------------------------------------------------------------------- conversations


async def conversation_view(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, conversation_id: UUID
) -> ConversationView:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        c = await session.get(Conversation, conversation_id)
        if c is None:
            raise NotFoundError("conversation not found")
        return _conversation_view(cipher, c)


def _conversation_view(cipher: TenantCipher | None, c: Conversation) -> ConversationView:
    """The conversation as the API shows it; without a cipher its sealed fields are None."""

    def opened(column: str, value: bytes | None) -> str | None:
        if cipher is None:
            return None
        return cipher.open(value, table="conversations", column=column, row_id=c.id)

    return ConversationView(
        id=c.id,
        channel=c.channel,
        state=c.state,
        contact_id=c.contact_id,
        queue_id=c.queue_id,
        customer_id=c.customer_id,
        lang=c.lang,
        topic=c.topic,
        subject=opened("subject", c.subject_enc),
        visitor_name=opened("visitor_name", c.visitor_name_enc),
        address=opened("address", c.address_enc),
        visitor_read_seq=c.visitor_read_seq,
        agent_read_seq=c.agent_read_seq,
        bot_outcome=c.bot_outcome,
        first_response_due_at=c.first_response_due_at,
        first_response_at=c.first_response_at,
        created_at=c.created_at,
        closed_at=c.closed_at,
        transcript_requested=c.transcript_requested,
    )


async def conversation_by_token(db: Database, *, tenant_id: UUID, token: str) -> UUID:
    """The conversation a chat visitor's token opens (NotFound for any other token)."""
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.scalar(
            select(Conversation.id).where(Conversation.visitor_token_hash == token_hash(token))
        )
    if found is None:
        raise NotFoundError("conversation not found")
    return found


async def conversation_for_contact(db: Database, *, tenant_id: UUID, contact_id: UUID) -> UUID:
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.scalar(
            select(Conversation.id).where(Conversation.contact_id == contact_id)
        )
    if found is None:
        raise NotFoundError("this contact has no conversation")
    return found


async def check_staff_access(
    db: Database, principal: Principal, conversation_id: UUID, *, write: bool
) -> Conversation:
    """The conversation, if ``principal`` may see it (``write``: answer in it).

    Supervisors (and, to read, managers and administrators) see every conversation of
    their tenant; a communicator only one whose contact they hold or held last.
    """
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        found = (
            await session.execute(
                select(Conversation, RoutingContact.agent_id, RoutingContact.last_agent_id)
                .outerjoin(RoutingContact, RoutingContact.id == Conversation.contact_id)
                .where(Conversation.id == conversation_id)
            )
        ).first()
    if found is None:
        raise NotFoundError("conversation not found")
    conversation, agent_id, last_agent_id = found
    roles = principal.roles
    if Role.SUPERVISOR in roles or (Role.ADMINISTRATOR in roles):
        return conversation
    if not write and Role.MANAGER in roles:
        return conversation
    if Role.COMMUNICATOR in roles and principal.user_id in (agent_id, last_agent_id):
        return conversation
    raise NotFoundError("conversation not found")


async def customer_transcript(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    customer_id: UUID,
    conversation_id: UUID,
    reason: str,
) -> list[MessageView]:
    """A conversation from the customer's history, read as part of their record: any staff
    member who may read customers may read it, and the read is audited with ``reason``."""
    async with db.scoped(principal.tenant_id) as session, session.begin():
        owner = await session.scalar(
            select(ContactParty.customer_id)
            .join(Conversation, Conversation.contact_id == ContactParty.contact_id)
            .where(Conversation.id == conversation_id)
        )
        if owner != customer_id:
            raise NotFoundError("conversation not found")
        record(
            session,
            tenant_id=principal.tenant_id,
            action="customer.transcript_read",
            resource_type="customer",
            resource_id=str(customer_id),
            outcome="ok",
            actor_user_id=principal.user_id,
            reason=reason,
        )
    return await list_messages(
        db, keyring, tenant_id=principal.tenant_id, conversation_id=conversation_id,
        include_notes=True,
    )  # fmt: skip


async def do_mark_read(
    db: Database, *, tenant_id: UUID, conversation_id: UUID, side: str, seq: int
) -> int:
    """Move a side's read mark forward (never back); returns the mark after."""
    if side not in ("visitor", "agent"):
        raise InvalidInputError("side must be visitor or agent")
    async with db.scoped(tenant_id) as session, session.begin():
        conversation = await _lock_conversation(session, conversation_id)
        highest = conversation.next_seq - 1
        seq = max(0, min(seq, highest))
        if side == "visitor":
            conversation.visitor_read_seq = max(conversation.visitor_read_seq, seq)
            return conversation.visitor_read_seq
        conversation.agent_read_seq = max(conversation.agent_read_seq, seq)
        return conversation.agent_read_seq


async def do_hand_over(
    db: Database, *, tenant_id: UUID, conversation_id: UUID, reason: str, actor: str | None
) -> str:
    """The bot gives the conversation to a communicator: its contact is queued (by the
    queue's hours and limits). Returns the contact's state after."""
    async with db.scoped(tenant_id) as session, session.begin():
        conversation = await _lock_conversation(session, conversation_id)
        if conversation.state != "bot" or conversation.contact_id is None:
            raise ConflictError("the conversation is not with the bot")
        conversation.state = "open"
        conversation.bot_outcome = "handed_over"
        conversation.updated_at = utcnow()
        contact_id = conversation.contact_id
        emit(
            session,
            ConversationHandedOverEvent(
                tenant_id=tenant_id,
                occurred_at=conversation.updated_at,
                actor=actor,
                conversation_id=conversation.id,
                contact_id=contact_id,
                channel=conversation.channel,
                bot_turns=conversation.bot_turns,
                reason=reason,
            ),
        )
    return await do_end_self_service(
        db, tenant_id=tenant_id, contact_id=contact_id, handover=True, actor=actor
    )


async def do_count_bot_turn(db: Database, *, tenant_id: UUID, conversation_id: UUID) -> int:
    async with db.scoped(tenant_id) as session, session.begin():
        conversation = await _lock_conversation(session, conversation_id)
        conversation.bot_turns += 1
        return conversation.bot_turns


async def do_close_conversation(
    db: Database, *, tenant_id: UUID, conversation_id: UUID, by: str, actor: str | None
) -> ConversationView | None:
    """Close a conversation (the customer left, or the communicator finished).

    Its contact follows: still with the bot → closed as self-service; still waiting →
    abandoned; with a communicator → left to them to end and wrap up. Closing twice
    changes nothing (returns None the second time).
    """
    if by not in ("customer", "agent", "system"):
        raise InvalidInputError("by must be customer, agent or system")
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        conversation = await _lock_conversation(session, conversation_id)
        if conversation.state == "closed":
            return None
        was_bot = conversation.state == "bot"
        conversation.state = "closed"
        conversation.closed_at = at
        conversation.updated_at = at
        if was_bot:
            conversation.bot_outcome = "resolved" if conversation.bot_turns > 0 else None
        contact_id = conversation.contact_id
        emit(
            session,
            ConversationClosedEvent(
                tenant_id=tenant_id,
                occurred_at=at,
                actor=actor,
                conversation_id=conversation.id,
                contact_id=contact_id,
                channel=conversation.channel,
                by=by,
                bot_outcome=conversation.bot_outcome,
            ),
        )
        contact_state = None
        if contact_id is not None:
            contact = await session.get(RoutingContact, contact_id)
            contact_state = None if contact is None else contact.state
    if contact_id is not None and by == "customer":
        if contact_state == S.IVR:
            await do_end_self_service(
                db, tenant_id=tenant_id, contact_id=contact_id, handover=False, actor=actor
            )
        elif contact_state in (S.QUEUED, S.OFFERED, S.CALLBACK_SCHEDULED, S.CREATED):
            await do_abandon_contact(db, tenant_id=tenant_id, contact_id=contact_id, actor=actor)
    return await _plain_view(db, tenant_id, conversation_id)


async def _plain_view(db: Database, tenant_id: UUID, conversation_id: UUID) -> ConversationView:
    """A view without personal data (for callers that only need states)."""
    async with db.scoped(tenant_id, readonly=True) as session:
        c = await session.get(Conversation, conversation_id)
        if c is None:
            raise NotFoundError("conversation not found")
        return _conversation_view(None, c)


def message_wire(view: MessageView, *, author_name: str | None = None) -> dict[str, Any]:
    """A message as the live transports and the REST API show it."""
    return {
        "id": str(view.id),
        "conversation_id": str(view.conversation_id),
        "seq": view.seq,
        "direction": view.direction,
        "author": view.author,
        "author_name": author_name,
        "text": view.text,
        "status": view.status,
        "flags": view.flags,
        "at": view.created_at.isoformat(),
        "attachments": [
            {"id": str(a.id), "filename": a.filename, "media_type": a.media_type, "size": a.size}
            for a in view.attachments
        ],
    }
