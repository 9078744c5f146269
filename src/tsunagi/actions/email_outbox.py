"""Sending queued email: claim, send through SMTP, record ``sent`` or try again later.

A queued message row holds the exact bytes to send (sealed ``raw``, its Message-ID fixed
when it was written) and its outbox state in ``status_detail`` (:class:`SendState`).
Sending one:

1. *claim* — a compare-and-set on ``status_detail`` counts the attempt and sets a lease
   (``next``); only one process wins, so two workers never send the same row at once;
2. *send* — the bytes go to the SMTP server;
3. *mark* — ``sent``; or, after a temporary failure, ``queued`` again with the next try
   (30 s, 2 min, 10 min, 30 min, 1 h, 3 h); after a permanent refusal or the last try,
   ``failed`` (shown to staff, who can queue it again).

A process dying between 2 and 3 leaves the lease to expire and the row is sent again:
delivery is at-least-once, and a repeat carries the same Message-ID, which receiving
systems and mail clients use to recognise a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Protocol
from uuid import UUID

from sqlalchemy import select, update

from tsunagi.actions.conversations import MessageView, NewMessage, do_add_message
from tsunagi.actions.email_accounts import Mailbox, get_mailbox
from tsunagi.actions.events import emit
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.mail.smtp import PermanentSendError, SmtpSender, TransientSendError
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.db import Database
from tsunagi.channels.email import (
    external_id,
)
from tsunagi.channels.email_settings import (
    EmailStatusChangedEvent,
    SendState,
    retry_delay_s,
)
from tsunagi.domain.errors import ConflictError, NotFoundError

LEASE_S = 300
_T = "conversation_messages"


class Sender(Protocol):
    async def send(self, raw: bytes, *, mail_from: str, to: list[str]) -> None: ...


SenderFor = Callable[[Mailbox], Sender]


def smtp_sender(mailbox: Mailbox) -> Sender:
    return SmtpSender(mailbox.smtp())


@dataclass(frozen=True, slots=True)
class Outcome:
    message_id: UUID
    status: str  # sent | queued (to try again) | failed | skipped (another process has it)
    error: str | None = None


async def send_due(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    senders: SenderFor = smtp_sender,
    now: datetime | None = None,
    limit: int = 100,
) -> list[Outcome]:
    """Send every queued email of the tenant whose time has come."""
    now = now or utcnow()
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(ConversationMessage.id, ConversationMessage.status_detail)
                .where(
                    ConversationMessage.status == "queued",
                    ConversationMessage.direction.in_(("out", "note")),
                    ConversationMessage.raw_enc.is_not(None),
                )
                .order_by(ConversationMessage.created_at)
                .limit(limit * 4)
            )
        ).all()
    due = [
        message_id
        for message_id, detail in rows
        if (at := SendState.decode(detail).next_at) is None or _aware(at) <= now
    ][:limit]
    return [
        await send_message(db, keyring, tenant_id=tenant_id, message_id=m, senders=senders, now=now)
        for m in due
    ]


async def send_message(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    message_id: UUID,
    senders: SenderFor = smtp_sender,
    now: datetime | None = None,
) -> Outcome:
    """Claim, send and mark one queued email (see the module docstring)."""
    now = now or utcnow()
    claimed = await _claim(db, keyring, tenant_id, message_id, now)
    if claimed is None:
        return Outcome(message_id, "skipped")
    state, raw, mailbox_id = claimed
    try:
        mailbox = await get_mailbox(db, keyring, tenant_id=tenant_id, account_id=mailbox_id)
        mail_from, recipients = _envelope(raw, mailbox.config.address)
        await senders(mailbox).send(raw, mail_from=mail_from, to=recipients)
    except PermanentSendError as exc:
        return await _mark(db, tenant_id, message_id, state, "failed", str(exc))
    except (TransientSendError, NotFoundError) as exc:
        delay = retry_delay_s(state.attempts)
        if delay is None or isinstance(exc, NotFoundError):
            return await _mark(db, tenant_id, message_id, state, "failed", str(exc))
        retry = SendState(state.attempts, now + timedelta(seconds=delay), str(exc), state.via)
        return await _mark(db, tenant_id, message_id, retry, "queued", str(exc))
    return await _mark(db, tenant_id, message_id, state, "sent", None)


async def _claim(
    db: Database, keyring: KeyRing, tenant_id: UUID, message_id: UUID, now: datetime
) -> tuple[SendState, bytes, UUID] | None:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id) as session, session.begin():
        row = (
            await session.execute(
                select(ConversationMessage, Conversation.account_id)
                .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
                .where(ConversationMessage.id == message_id)
            )
        ).first()
        if row is None:
            raise NotFoundError("message not found")
        message, account_id = row
        before = message.status_detail
        state = SendState.decode(before)
        if message.status != "queued" or message.raw_enc is None:
            return None
        if state.next_at is not None and _aware(state.next_at) > now:
            return None
        claimed = SendState(
            state.attempts + 1, now + timedelta(seconds=LEASE_S), "sending", state.via
        )
        same = (
            ConversationMessage.status_detail.is_(None)
            if before is None
            else ConversationMessage.status_detail == before
        )
        result = await session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.id == message_id, ConversationMessage.status == "queued", same
            )
            .values(status_detail=claimed.encode())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        raw = cipher.open_bytes(message.raw_enc, table=_T, column="raw", row_id=message.id)
    mailbox_id = UUID(state.via) if state.via else account_id
    if mailbox_id is None:
        await _mark(db, tenant_id, message_id, claimed, "failed", "no mailbox to send from")
        return None
    return claimed, raw, mailbox_id


def _envelope(raw: bytes, mailbox_address: str) -> tuple[str, list[str]]:
    """Envelope sender and recipients: the mailbox, and the To/Cc the message was built with."""
    headers = BytesParser(policy=policy.SMTP).parsebytes(raw, headersonly=True)
    values = [str(v) for name in ("To", "Cc") for v in headers.get_all(name, [])]
    recipients = list(dict.fromkeys(a for _, a in getaddresses(values) if "@" in a))
    if not recipients:
        raise PermanentSendError("the message has no recipient")
    return mailbox_address, recipients


async def _mark(
    db: Database,
    tenant_id: UUID,
    message_id: UUID,
    state: SendState,
    status: str,
    error: str | None,
) -> Outcome:
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        row = (
            await session.execute(
                select(ConversationMessage, Conversation.contact_id, Conversation.channel)
                .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
                .where(ConversationMessage.id == message_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise NotFoundError("message not found")
        message, contact_id, channel = row
        message.status = status
        kept = SendState(
            state.attempts, state.next_at if status == "queued" else None, error, state.via
        )
        message.status_detail = kept.encode()
        if status == "sent":
            message.sent_at = at
        if status in ("sent", "failed"):
            emit(
                session,
                EmailStatusChangedEvent(
                    tenant_id=tenant_id,
                    occurred_at=at,
                    conversation_id=message.conversation_id,
                    contact_id=contact_id,
                    channel=channel,
                    message_id=message_id,
                    status=status,
                    attempts=state.attempts,
                ),
            )
    return Outcome(message_id, status, error)


async def do_retry_email(
    db: Database, *, tenant_id: UUID, conversation_id: UUID, message_id: UUID
) -> None:
    """Queue a failed email again (staff asked for it): the same bytes, the same id."""
    async with db.scoped(tenant_id) as session, session.begin():
        message = await session.get(ConversationMessage, message_id, with_for_update=True)
        if message is None or message.raw_enc is None or message.conversation_id != conversation_id:
            raise NotFoundError("message not found")
        if message.status != "failed":
            raise ConflictError(f"the message is {message.status}, not failed")
        state = SendState.decode(message.status_detail)
        message.status = "queued"
        message.status_detail = SendState(0, None, None, state.via).encode()


async def queue_email_message(
    db: Database,
    keyring: KeyRing,
    tenant_id: UUID,
    conversation_id: UUID,
    raw: bytes,
    message_id: str,
    *,
    body: str,
    author: str,
    author_user_id: UUID | None = None,
    direction: str = "out",
    flags: tuple[str, ...] = (),
    via: UUID | None = None,
) -> MessageView:
    """Write an outgoing email to the outbox: a message row ``queued`` with its final
    MIME bytes and Message-ID (the idempotency key); ``via`` names the mailbox to send
    through when it is not the conversation's own (a chat transcript)."""
    view = await do_add_message(
        db,
        keyring,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        new=NewMessage(
            direction=direction,
            author=author,
            author_user_id=author_user_id,
            body=body,
            raw=raw,
            external_id=external_id(message_id),
            status="queued",
            flags=("email", *flags),
        ),
        actor=None if author_user_id is None else str(author_user_id),
    )
    if via is not None and view.created:
        async with db.scoped(tenant_id) as session, session.begin():
            row = await session.get(ConversationMessage, view.id)
            if row is not None:
                row.status_detail = SendState(via=str(via)).encode()
    return view


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
