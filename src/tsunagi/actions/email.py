"""Email contacts: ingest a received message, answer from the desk, automatic answers,
chat transcripts by email and the offline web form — see docs/architecture/email.md.

Idempotency is by Message-ID: a message's id is its ``external_id`` (unique per tenant)
and the id of the conversation it starts is derived from it, so fetching the same message
again — a re-delivery, or a poll repeated after a crash before the cursor moved — finds
what the first fetch made and creates nothing. Outgoing mail is an outbox: the message row
is written ``queued`` with its full MIME bytes (sealed) and sent afterwards by
:mod:`tsunagi.actions.email_outbox`; its Message-ID is fixed when it is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy import func, select

from tsunagi.actions.conversations import (
    MessageView,
    NewAttachment,
    NewConversation,
    NewMessage,
    do_add_message,
    do_start_conversation,
    list_messages,
)
from tsunagi.actions.email_accounts import (
    Mailbox,
    find_mailbox_for_queue,
    get_mailbox,
    own_addresses,
    queue_email_settings,
)
from tsunagi.actions.email_desk import (
    do_queue_email_reply,
    email_details,
    list_overdue,
    message_html,
)
from tsunagi.actions.email_outbox import queue_email_message
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.email import (
    InboundEmail,
    OutboundEmail,
    build_email,
    external_id,
    may_auto_answer,
    new_message_id,
    parse_email,
    references_for,
    render,
    thread_ids,
    thread_key,
    thread_root,
)
from tsunagi.channels.email_settings import (
    QueueEmail,
    is_address,
)
from tsunagi.channels.text import check_attachment, clean_text
from tsunagi.domain.errors import InvalidInputError, NotFoundError

MAX_REPLY = 100_000
ENDED = ("closed", "abandoned")
_T = "conversation_messages"
# The desk's side lives in email_desk; importable from here too (one entry point).
__all__ = [
    "Ingested",
    "do_create_email_contact_from_form",
    "do_ingest_email",
    "do_queue_email_reply",
    "email_details",
    "list_overdue",
    "message_html",
    "send_transcript",
]


@dataclass(frozen=True, slots=True)
class Ingested:
    conversation_id: UUID
    message_id: UUID
    created: bool  # False: this Message-ID was already in (nothing new was made)
    new_conversation: bool
    flags: tuple[str, ...]
    auto_ack: UUID | None  # the automatic answer queued for it, if one


# ------------------------------------------------------------------------- ingest


async def do_ingest_email(
    db: Database, keyring: KeyRing, *, mailbox: Mailbox, raw: bytes
) -> Ingested:
    """File one received message: in the conversation of its thread when that is still
    open, else as a new email contact of the mailbox's queue. Never drops a message: a
    malformed one is stored with its original and flagged."""
    tenant_id = mailbox.tenant_id
    email = parse_email(raw)
    key = external_id(email.message_id)
    existing = await _message_by_key(db, tenant_id, key)
    if existing is not None:
        return Ingested(existing[0], existing[1], False, False, (), None)
    settings = await queue_email_settings(db, tenant_id=tenant_id, queue_id=mailbox.queue_id)
    attachments, refused = _accepted_attachments(email, settings)
    flags = (*email.flags, *(("attachment_refused",) if refused else ()))
    conversation_id = await _open_thread(db, tenant_id, thread_ids(email))
    new_conversation = conversation_id is None
    if conversation_id is None:
        started = await do_start_conversation(
            db,
            keyring,
            tenant_id=tenant_id,
            new=NewConversation(
                channel="email",
                queue_id=mailbox.queue_id,
                source="email",
                visitor_name=email.from_name,
                address_kind="email" if email.reply_address else None,
                address=email.reply_address,
                subject=email.subject,
                thread_key=thread_key(thread_root(email)),
                account_id=mailbox.id,
                idempotency_key="email:" + hashlib.sha256(key.encode()).hexdigest()[:48],
                first_response_s=settings.first_response_s,
            ),
            actor="email",
        )
        conversation_id = started.conversation_id
    view = await do_add_message(
        db,
        keyring,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        new=NewMessage(
            direction="in",
            author="customer",
            body=email.text,
            html=email.html,
            raw=raw,
            external_id=key,
            status="received",
            flags=flags,
            attachments=attachments,
        ),
        actor="email",
    )
    ack = None
    if new_conversation and view.created and settings.auto_ack:
        ack = await _auto_ack(db, keyring, mailbox, settings, conversation_id, email)
    return Ingested(conversation_id, view.id, view.created, new_conversation, flags, ack)


async def _message_by_key(db: Database, tenant_id: UUID, key: str) -> tuple[UUID, UUID] | None:
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(ConversationMessage.conversation_id, ConversationMessage.id).where(
                    ConversationMessage.external_id == key
                )
            )
        ).first()
    return None if row is None else (row[0], row[1])


def _accepted_attachments(
    email: InboundEmail, settings: QueueEmail
) -> tuple[tuple[NewAttachment, ...], int]:
    """Attachments that are what they claim and small enough; the count refused (their
    bytes stay in the sealed original)."""
    accepted: list[NewAttachment] = []
    refused = 0
    for item in email.attachments:
        try:
            kind = check_attachment(
                item.filename,
                item.declared_type,
                item.content,
                max_bytes=settings.max_attachment_bytes,
            )
        except InvalidInputError:
            refused += 1
            continue
        accepted.append(NewAttachment(item.filename, kind.media_type, item.content))
    return tuple(accepted), refused


async def _open_thread(db: Database, tenant_id: UUID, ids: tuple[str, ...]) -> UUID | None:
    """The conversation an answer belongs to: the one holding the nearest message it
    refers to, while that conversation and its contact are still going. A reply to a
    finished conversation starts a new contact (in the same thread)."""
    if not ids:
        return None
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(
                    ConversationMessage.external_id,
                    Conversation.id,
                    Conversation.state,
                    RoutingContact.state,
                )
                .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
                .outerjoin(RoutingContact, RoutingContact.id == Conversation.contact_id)
                .where(ConversationMessage.external_id.in_(ids), Conversation.channel == "email")
            )
        ).all()
    by_id = {row[0]: row for row in rows}
    for wanted in ids:
        row = by_id.get(wanted)
        if row is None:
            continue
        _, conversation_id, state, contact_state = row
        if state != "closed" and contact_state not in ENDED:
            return conversation_id
        return None
    return None


# -------------------------------------------------------------------- auto answer


async def _auto_ack(
    db: Database,
    keyring: KeyRing,
    mailbox: Mailbox,
    settings: QueueEmail,
    conversation_id: UUID,
    email: InboundEmail,
) -> UUID | None:
    """Queue the queue's automatic acknowledgement, unless the message is automatic
    itself, from a list or from us, or its sender had ``auto_ack_per_hour`` already."""
    tenant_id = mailbox.tenant_id
    if may_auto_answer(email, await own_addresses(db, tenant_id=tenant_id)) is not None:
        return None
    target = email.reply_address
    assert target is not None
    if await _auto_answers_since(db, keyring, tenant_id, target) >= settings.auto_ack_per_hour:
        return None
    values = {
        "name": email.from_name or target,
        "customer.name": email.from_name,
        "subject": email.subject or "",
        "address": mailbox.config.address,
    }
    message_id = new_message_id(mailbox.config.domain, seed=f"ack:{external_id(email.message_id)}")
    raw = build_email(
        OutboundEmail(
            from_address=mailbox.config.address,
            from_name=mailbox.config.display_name,
            to=target,
            subject=render(settings.auto_ack_subject, values),
            message_id=message_id,
            text=render(settings.auto_ack_body, values),
            in_reply_to=email.message_id,
            references=references_for(email.message_id, email.references),
            automatic=True,
        )
    )
    view = await queue_email_message(
        db, keyring, tenant_id, conversation_id, raw, message_id,
        body=render(settings.auto_ack_body, values), author="system", flags=("auto_ack",),
    )  # fmt: skip
    return view.id


async def _auto_answers_since(db: Database, keyring: KeyRing, tenant_id: UUID, address: str) -> int:
    cipher = await keyring.cipher(db, tenant_id)
    hashed = cipher.lookup_hash("email", address)
    since = utcnow() - timedelta(hours=1)
    async with db.scoped(tenant_id, readonly=True) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ConversationMessage)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(
                Conversation.channel == "email",
                Conversation.address_hash == hashed,
                ConversationMessage.author == "system",
                ConversationMessage.direction == "out",
                ConversationMessage.created_at >= since,
            )
        )
    return int(count or 0)


# ---------------------------------------------------------------- transcript, form


async def send_transcript(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    conversation_id: UUID,
    to_address: str,
    subject: str = "チャットの記録 / Your chat transcript",
    account_id: UUID | None = None,
) -> UUID:
    """Mail the transcript of a (chat) conversation to ``to_address``.

    The mail goes through the mailbox ``account_id``, else the queue's, else any enabled
    mailbox of the tenant. It is written to the outbox as an internal note of the
    conversation (the visitor does not see it as a chat line) and sent like any reply;
    returns that note's id. Sending happens in the background (or call
    :func:`tsunagi.actions.email_outbox.send_due`)."""
    if not is_address(to_address):
        raise InvalidInputError("the transcript address is not an email address")
    async with db.scoped(tenant_id, readonly=True) as session:
        conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFoundError("conversation not found")
    account_id = account_id or conversation.account_id
    if account_id is None:
        account_id = await find_mailbox_for_queue(
            db, tenant_id=tenant_id, queue_id=conversation.queue_id
        )
    if account_id is None:
        raise InvalidInputError("no mailbox is configured to send the transcript from")
    mailbox = await get_mailbox(db, keyring, tenant_id=tenant_id, account_id=account_id)
    messages = await list_messages(
        db, keyring, tenant_id=tenant_id, conversation_id=conversation_id
    )
    text = transcript_text(messages)
    message_id = new_message_id(mailbox.config.domain)
    raw = build_email(
        OutboundEmail(
            from_address=mailbox.config.address,
            from_name=mailbox.config.display_name,
            to=to_address,
            subject=subject,
            message_id=message_id,
            text=text,
        )
    )
    view = await queue_email_message(
        db, keyring, tenant_id, conversation_id, raw, message_id,
        body=f"transcript emailed ({len(messages)} messages)", author="system",
        direction="note", flags=("transcript",), via=mailbox.id,
    )  # fmt: skip
    return view.id


def transcript_text(messages: list[MessageView]) -> str:
    who = {"customer": "お客さま / You", "agent": "担当 / Agent", "bot": "Bot", "system": "—"}
    lines = []
    for m in messages:
        if m.direction == "note" or m.text is None:
            continue
        at = m.created_at.strftime("%Y-%m-%d %H:%M")
        lines.append(f"[{at}] {who.get(m.author, m.author)}:\n{m.text}\n")
    return "\n".join(lines) or "(no messages)"


@dataclass(frozen=True, slots=True)
class FormContact:
    conversation_id: UUID
    contact_id: UUID
    message_id: UUID
    created: bool


async def do_create_email_contact_from_form(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    queue_id: UUID,
    name: str | None,
    address: str,
    subject: str | None,
    body: str,
    lang: str = "ja",
    idempotency_key: str | None = None,
    source: str = "offline_form",
) -> FormContact:
    """An offline web form (outside business hours) as an email contact of ``queue_id``:
    answered from the queue's mailbox to ``address``, threaded like any email (the form
    message has a Message-ID of its own). No automatic answer goes to a typed-in address.
    ``idempotency_key`` makes a re-submitted form the same contact."""
    address = address.strip()
    if not is_address(address):
        raise InvalidInputError("the email address is not valid")
    text = clean_text(body, limit=MAX_REPLY, what="message")
    subject = clean_text(subject, limit=200, what="subject") if subject else None
    name = clean_text(name, limit=100, what="name") if name else None
    account_id = await find_mailbox_for_queue(db, tenant_id=tenant_id, queue_id=queue_id)
    domain = "form.invalid"
    if account_id is not None:
        mailbox = await get_mailbox(db, keyring, tenant_id=tenant_id, account_id=account_id)
        domain = mailbox.config.domain
    message_id = new_message_id(
        domain, seed=None if idempotency_key is None else f"form:{queue_id}:{idempotency_key}"
    )
    settings = await queue_email_settings(db, tenant_id=tenant_id, queue_id=queue_id)
    started = await do_start_conversation(
        db,
        keyring,
        tenant_id=tenant_id,
        new=NewConversation(
            channel="email",
            queue_id=queue_id,
            source=source,
            lang=lang,
            visitor_name=name,
            address_kind="email",
            address=address,
            subject=subject,
            thread_key=thread_key(message_id),
            account_id=account_id,
            idempotency_key="form:" + hashlib.sha256(message_id.encode()).hexdigest()[:48],
            first_response_s=settings.first_response_s,
        ),
        actor="visitor",
    )
    view = await do_add_message(
        db,
        keyring,
        tenant_id=tenant_id,
        conversation_id=started.conversation_id,
        new=NewMessage(
            direction="in",
            author="customer",
            body=text,
            external_id=external_id(message_id),
            flags=("web_form",),
        ),
        actor="visitor",
    )
    return FormContact(started.conversation_id, started.contact_id, view.id, started.created)
