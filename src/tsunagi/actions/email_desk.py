"""The desk's side of email: a communicator's reply (threaded, signed, idempotent), the
late-first-answer list, and the email facts the desk shows (Message-ID, HTML, errors).

Text from an email is returned as text; :func:`message_html` gives the sanitised HTML,
which the web layer serves only with a ``sandbox`` CSP (docs/architecture/email.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import or_, select

from tsunagi.actions.conversations import MessageView
from tsunagi.actions.email_accounts import (
    find_mailbox_for_queue,
    get_mailbox,
    queue_email_settings,
)
from tsunagi.actions.email_outbox import queue_email_message
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.email import (
    OutboundEmail,
    build_email,
    header_ids,
    new_message_id,
    references_for,
    render,
    reply_subject,
    sanitise_html,
    with_signature,
)
from tsunagi.channels.email_settings import (
    QueueEmail,
    SendState,
)
from tsunagi.channels.text import clean_text
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal, Role

MAX_REPLY = 100_000
_T = "conversation_messages"

# ------------------------------------------------------------------------ replies


async def do_queue_email_reply(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    conversation_id: UUID,
    body: str | None,
    template: str | None = None,
    values: Mapping[str, str | None] | None = None,
    idempotency_key: str | None = None,
) -> MessageView:
    """A communicator's answer, written to the outbox with its final Message-ID,
    In-Reply-To and References (so the customer's mail client threads it) and the
    queue's signature. The same ``idempotency_key`` gives the same message, once."""
    tenant_id = principal.tenant_id
    conversation = await _email_conversation(db, tenant_id, conversation_id)
    # A contact that did not come in by mail (the chat widget's offline form) is answered
    # from its queue's mailbox (else any enabled one of the tenant).
    account_id = conversation.account_id or await find_mailbox_for_queue(
        db, tenant_id=tenant_id, queue_id=conversation.queue_id
    )
    if account_id is None:
        raise InvalidInputError("no mailbox is configured to answer from")
    mailbox = await get_mailbox(db, keyring, tenant_id=tenant_id, account_id=account_id)
    settings = await queue_email_settings(db, tenant_id=tenant_id, queue_id=conversation.queue_id)
    cipher = await keyring.cipher(db, tenant_id)

    def opened(column: str, value: bytes | None) -> str | None:
        return cipher.open(value, table="conversations", column=column, row_id=conversation.id)

    address = opened("address", conversation.address_enc)
    if not address:
        raise InvalidInputError("this conversation has no address to answer to")
    subject = opened("subject", conversation.subject_enc)
    fields = {
        **(await _fields(db, tenant_id, principal.user_id, conversation.queue_id)),
        "customer.name": opened("visitor_name", conversation.visitor_name_enc),
        "name": opened("visitor_name", conversation.visitor_name_enc),
        "subject": subject,
        **(values or {}),
    }
    text = _reply_text(body, template, settings, fields)
    parent_id, parent_refs = await _parent(db, keyring, tenant_id, conversation_id)
    seed = None if idempotency_key is None else f"{conversation_id}:{idempotency_key}"
    message_id = new_message_id(mailbox.config.domain, seed=seed)
    raw = build_email(
        OutboundEmail(
            from_address=mailbox.config.address,
            from_name=mailbox.config.display_name,
            to=address,
            subject=reply_subject(subject),
            message_id=message_id,
            text=text,
            in_reply_to=parent_id,
            references=references_for(parent_id, parent_refs),
        )
    )
    return await queue_email_message(
        db, keyring, tenant_id, conversation_id, raw, message_id,
        body=text, author="agent", author_user_id=principal.user_id,
        via=None if conversation.account_id else mailbox.id,
    )  # fmt: skip


def _reply_text(
    body: str | None, template: str | None, settings: QueueEmail, fields: Mapping[str, str | None]
) -> str:
    if template is not None:
        found = settings.templates.get(template)
        if found is None:
            known = ", ".join(sorted(settings.templates)) or "none"
            raise InvalidInputError(f"no template {template!r} for this queue (known: {known})")
        body = render(found, fields) + (f"\n\n{body}" if body else "")
    if body is None:
        raise InvalidInputError("a reply needs a body or a template")
    text = clean_text(body, limit=MAX_REPLY, what="reply")
    return with_signature(text, settings.signature, fields)


async def _fields(
    db: Database, tenant_id: UUID, user_id: UUID, queue_id: UUID
) -> dict[str, str | None]:
    async with db.scoped(tenant_id, readonly=True) as session:
        user = await session.get(User, user_id)
        queue = await session.get(Queue, queue_id)
    return {
        "agent.name": None if user is None else user.display_name,
        "queue.name": None if queue is None else queue.name_ja,
        "queue.name_en": None if queue is None else queue.name_en,
    }


async def _email_conversation(db: Database, tenant_id: UUID, conversation_id: UUID) -> Conversation:
    async with db.scoped(tenant_id, readonly=True) as session:
        conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFoundError("conversation not found")
    if conversation.channel != "email":
        raise InvalidInputError("this conversation is not an email")
    return conversation


async def _parent(
    db: Database, keyring: KeyRing, tenant_id: UUID, conversation_id: UUID
) -> tuple[str | None, tuple[str, ...]]:
    """The message a reply answers (the customer's latest) and its References."""
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(
                    ConversationMessage.id,
                    ConversationMessage.raw_enc,
                    ConversationMessage.external_id,
                )
                .where(
                    ConversationMessage.conversation_id == conversation_id,
                    ConversationMessage.direction == "in",
                    ConversationMessage.external_id.is_not(None),
                )
                .order_by(ConversationMessage.seq.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None, ()
    message_id, raw_enc, key = row
    if raw_enc is None:
        return (key if key and key.startswith("<") else None), ()
    cipher = await keyring.cipher(db, tenant_id)
    raw = cipher.open_bytes(raw_enc, table=_T, column="raw", row_id=message_id)
    references, own_id = header_ids(raw)
    return (own_id or (key if key and key.startswith("<") else None)), references


# ------------------------------------------------------------------------ the SLA


@dataclass(frozen=True, slots=True)
class Overdue:
    conversation_id: UUID
    contact_id: UUID | None
    queue_id: UUID
    channel: str
    due_at: datetime
    overdue_s: int


async def list_overdue(
    db: Database,
    principal: Principal,
    *,
    queue_id: UUID | None = None,
    channel: str | None = "email",
    now: datetime | None = None,
    limit: int = 500,
) -> list[Overdue]:
    """Open conversations whose first answer is late (``first_response_due_at`` passed,
    none sent yet), the most overdue first. Communicators see only their own."""
    now = now or utcnow()
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        query = (
            select(
                Conversation.id,
                Conversation.contact_id,
                Conversation.queue_id,
                Conversation.channel,
                Conversation.first_response_due_at,
            )
            .where(
                Conversation.first_response_due_at.is_not(None),
                Conversation.first_response_due_at < now,
                Conversation.first_response_at.is_(None),
                Conversation.state != "closed",
            )
            .order_by(Conversation.first_response_due_at)
            .limit(limit)
        )
        if channel is not None:
            query = query.where(Conversation.channel == channel)
        if queue_id is not None:
            query = query.where(Conversation.queue_id == queue_id)
        if not principal.roles & {Role.SUPERVISOR, Role.MANAGER, Role.ADMINISTRATOR}:
            query = query.join(RoutingContact, RoutingContact.id == Conversation.contact_id).where(
                or_(
                    RoutingContact.agent_id == principal.user_id,
                    RoutingContact.last_agent_id == principal.user_id,
                )
            )
        rows = (await session.execute(query)).all()
    return [
        Overdue(cid, contact, queue, chan, due, int((now - _aware(due)).total_seconds()))
        for cid, contact, queue, chan, due in rows
        if due is not None
    ]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# ------------------------------------------------------------------- for the desk


@dataclass(frozen=True, slots=True)
class EmailDetail:
    external_id: str | None  # the Message-ID
    has_html: bool
    error: str | None  # the last sending error, if one


async def email_details(
    db: Database, *, tenant_id: UUID, message_ids: list[UUID]
) -> dict[UUID, EmailDetail]:
    """Email facts of messages that the common message view does not carry."""
    if not message_ids:
        return {}
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(
                    ConversationMessage.id,
                    ConversationMessage.external_id,
                    ConversationMessage.html_enc.is_not(None),
                    ConversationMessage.status_detail,
                ).where(ConversationMessage.id.in_(message_ids))
            )
        ).all()
    found = {
        row[0]: EmailDetail(row[1], bool(row[2]), SendState.decode(row[3]).error) for row in rows
    }
    for message_id in message_ids:
        found.setdefault(message_id, EmailDetail(None, False, None))
    return found


async def message_html(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, conversation_id: UUID, message_id: UUID
) -> str:
    """The sanitised HTML kept of a received email (sanitised again on the way out, so
    a change of the allow-list applies to what was stored before it)."""
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        message = await session.get(ConversationMessage, message_id)
    if message is None or message.conversation_id != conversation_id or not message.html_enc:
        raise NotFoundError("this message has no HTML")
    html = cipher.open(message.html_enc, table=_T, column="html", row_id=message.id) or ""
    return sanitise_html(html)
