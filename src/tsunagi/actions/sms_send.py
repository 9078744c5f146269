"""Sending SMS replies exactly once: store as ``queued``, claim, send, record.

A reply is stored first (:func:`do_queue_sms_reply`) and then sent by
:func:`do_deliver_sms`, which *claims* it under the account row's lock (the claim and
the attempt count live in the account's ``cursor["sends"]``), so two workers — the
request's background task and the retry loop, or two processes — never both send it.

* The provider certainly did not take it (connection refused, 429, 5xx): retried with
  exponential backoff, at most ``MAX_ATTEMPTS`` times, the reason in ``status_detail``.
* The outcome is unknown (timeout after the request went out, a worker that died
  holding the claim): never resent — the customer must not get it twice — flagged
  ``send_unconfirmed``; a later report from the provider (the callback URL carries our
  message id) still moves it on.
* Refused by the provider (4xx): ``failed`` with the provider's error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.conversations import MessageView, NewMessage, do_add_message
from tsunagi.actions.routing.rows import utcnow
from tsunagi.actions.sms import (
    MAX_SMS_TEXT,
    SMS,
    UNCONFIRMED,
    ProviderFactory,
    SmsAccount,
    account_of_row,
    is_opted_out,
    status_event,
)
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import (
    ChannelAccount,
    Conversation,
    ConversationMessage,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.channels.sms import Segments, count_segments, retry_delay_s
from tsunagi.channels.text import clean_text
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.ports.sms import SmsSendError

MAX_ATTEMPTS = 6
LEASE_S = 60.0  # a claim older than this belongs to a worker that died mid-send


@dataclass(frozen=True, slots=True)
class Queued:
    message: MessageView
    segments: Segments
    account_id: UUID


async def _sms_conversation(
    db: Database, keyring: KeyRing, tenant_id: UUID, conversation_id: UUID
) -> tuple[Conversation, SmsAccount, str]:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFoundError("conversation not found")
        if conversation.channel != SMS:
            raise ConflictError("this conversation is not an SMS conversation")
        row = (
            None
            if conversation.account_id is None
            else await session.get(ChannelAccount, conversation.account_id)
        )
        if row is None:
            raise ConflictError("the SMS number of this conversation is no longer configured")
        number = cipher.open(
            conversation.address_enc, table="conversations", column="address",
            row_id=conversation.id,
        )  # fmt: skip
    if number is None:
        raise ConflictError("this conversation has no phone number to answer")
    return conversation, account_of_row(row, cipher), number


async def do_queue_sms_reply(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    conversation_id: UUID,
    body: str,
    author_user_id: UUID | None,
    client_id: str | None,
    actor: str | None,
) -> Queued:
    """Store a communicator's SMS reply as ``queued`` (idempotent by ``client_id``).

    Refused with the reason, and nothing stored, when the number opted out (409), the
    text is longer than the queue allows (422) or the conversation is closed (409).
    """
    conversation, account, number = await _sms_conversation(db, keyring, tenant_id, conversation_id)
    text = clean_text(body, limit=MAX_SMS_TEXT)
    segments = count_segments(text)
    if segments.segments > account.max_segments:
        raise InvalidInputError(
            f"the message needs {segments.segments} SMS segments ({segments.encoding}, "
            f"{segments.per_segment} characters each); this queue allows at most "
            f"{account.max_segments} — shorten it"
        )
    if not account.enabled:
        raise ConflictError("the SMS number of this queue is switched off")
    if await is_opted_out(db, keyring, tenant_id=tenant_id, number=number):
        raise ConflictError(
            "this number has opted out of SMS (they replied STOP/停止); nothing was sent. "
            "It is allowed again when they reply START/再開."
        )
    message = await do_add_message(
        db, keyring, tenant_id=tenant_id, conversation_id=conversation.id,
        new=NewMessage("out", "agent", text, author_user_id=author_user_id,
                       external_id=f"sms-out:{client_id}" if client_id else None,
                       status="queued"),
        actor=actor,
    )  # fmt: skip
    if message.created:
        await _enlist(db, tenant_id, account.id, message.id)
    return Queued(message, segments, account.id)


async def _enlist(db: Database, tenant_id: UUID, account_id: UUID, message_id: UUID) -> None:
    """Put a stored reply in its account's send list (what the sender loop reads)."""
    async with db.scoped(tenant_id) as session, session.begin():
        row = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.id == account_id).with_for_update()
        )
        if row is None:
            return
        sends = _sends(row)
        if str(message_id) not in sends:
            sends[str(message_id)] = {"attempts": 0}
            _store_sends(row, sends)


@dataclass(frozen=True, slots=True)
class _Claim:
    account: SmsAccount
    number: str
    body: str
    attempt: int


def _sends(row: ChannelAccount) -> dict[str, dict[str, Any]]:
    return dict((row.cursor or {}).get("sends", {}))


def _store_sends(row: ChannelAccount, sends: dict[str, dict[str, Any]]) -> None:
    row.cursor = {**(row.cursor or {}), "sends": sends}  # a new object: JSON change tracked


async def _claim(
    db: Database, keyring: KeyRing, tenant_id: UUID, message_id: UUID, now: datetime
) -> _Claim | str:
    """Take the right to send ``message_id`` now (or say why not: done, later, busy)."""
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id) as session, session.begin():
        message = await session.get(ConversationMessage, message_id)
        if message is None:
            return "gone"
        conversation = await session.get(Conversation, message.conversation_id)
        if conversation is None or conversation.account_id is None:
            return "gone"
        row = await session.scalar(
            select(ChannelAccount)
            .where(ChannelAccount.id == conversation.account_id)
            .with_for_update()
        )
        if row is None:
            return "gone"
        await session.refresh(message)
        sends = _sends(row)
        key = str(message_id)
        if message.status != "queued" or message.provider_id or UNCONFIRMED in message.flags:
            if sends.pop(key, None) is not None:
                _store_sends(row, sends)
            return "done"
        entry = dict(sends.get(key, {"attempts": 0}))
        if entry.get("lease_until"):
            if datetime.fromisoformat(entry["lease_until"]) > now:
                return "busy"
            # A worker claimed it and never said how it went: the provider may have it.
            sends.pop(key, None)
            _store_sends(row, sends)
            _unconfirmed(session, tenant_id, message, conversation, "the sending worker stopped")
            return "done"
        if entry.get("next_at") and datetime.fromisoformat(entry["next_at"]) > now:
            return "later"
        entry["attempts"] = int(entry["attempts"]) + 1
        entry["lease_until"] = (now + timedelta(seconds=LEASE_S)).isoformat()
        sends[key] = entry
        _store_sends(row, sends)
        body = cipher.open(message.body_enc, table="conversation_messages", column="body",
                           row_id=message.id)  # fmt: skip
        number = cipher.open(conversation.address_enc, table="conversations", column="address",
                             row_id=conversation.id)  # fmt: skip
        if body is None or number is None:
            return "gone"
        return _Claim(account_of_row(row, cipher), number, body, entry["attempts"])


def _unconfirmed(
    session: AsyncSession,
    tenant_id: UUID,
    message: ConversationMessage,
    conversation: Conversation,
    why: str,
) -> None:
    message.flags = [*message.flags, UNCONFIRMED]
    message.status_detail = f"outcome unknown ({why}); not resent so it cannot arrive twice"[:200]
    status_event(session, tenant_id, message, conversation.id, None)


async def do_deliver_sms(
    db: Database,
    keyring: KeyRing,
    providers: ProviderFactory,
    *,
    tenant_id: UUID,
    message_id: UUID,
) -> str:
    """Send one queued SMS if it is due; returns what happened (``sent``, ``retry``,
    ``failed``, ``unconfirmed``, or why nothing was done: ``done``/``later``/``busy``)."""
    claim = await _claim(db, keyring, tenant_id, message_id, utcnow())
    if isinstance(claim, str):
        return claim
    account = claim.account
    try:
        provider_id = await providers(account).send(
            to=claim.number,
            sender=account.from_number,
            body=claim.body,
            status_callback=f"{account.hook_url('status')}?m={message_id}",
        )
    except SmsSendError as exc:
        return await _record_failure(db, tenant_id, message_id, account.id, claim.attempt, exc)
    await _record_sent(db, tenant_id, message_id, account.id, provider_id)
    return "sent"


async def _locked(
    session: AsyncSession, message_id: UUID, account_id: UUID
) -> tuple[ConversationMessage | None, ChannelAccount | None]:
    row = await session.scalar(
        select(ChannelAccount).where(ChannelAccount.id == account_id).with_for_update()
    )
    message = await session.scalar(
        select(ConversationMessage).where(ConversationMessage.id == message_id).with_for_update()
    )
    return message, row


async def _record_sent(
    db: Database, tenant_id: UUID, message_id: UUID, account_id: UUID, provider_id: str
) -> None:
    async with db.scoped(tenant_id) as session, session.begin():
        message, row = await _locked(session, message_id, account_id)
        if row is not None:
            sends = _sends(row)
            sends.pop(str(message_id), None)
            _store_sends(row, sends)
        if message is not None:
            message.provider_id = message.provider_id or provider_id
            message.status_detail = None


async def _record_failure(
    db: Database,
    tenant_id: UUID,
    message_id: UUID,
    account_id: UUID,
    attempt: int,
    exc: SmsSendError,
) -> str:
    now = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        message, row = await _locked(session, message_id, account_id)
        if message is None or row is None:
            return "gone"
        sends = _sends(row)
        key = str(message_id)
        if exc.retryable and attempt < MAX_ATTEMPTS:
            delay = retry_delay_s(attempt)
            sends[key] = {
                "attempts": attempt,
                "next_at": (now + timedelta(seconds=delay)).isoformat(),
            }
            _store_sends(row, sends)
            message.status_detail = (
                f"attempt {attempt} failed ({exc.detail}); next try in {delay:.0f} s"
            )[:200]
            return "retry"
        sends.pop(key, None)
        _store_sends(row, sends)
        if message.status != "queued" or message.provider_id:
            return "done"  # a report from the provider got there first
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None
        if exc.ambiguous:
            _unconfirmed(session, tenant_id, message, conversation, exc.detail)
            return "unconfirmed"
        message.status = "failed"
        tries = f" after {attempt} attempts" if attempt > 1 else ""
        message.status_detail = f"not sent{tries}: {exc.detail}"[:200]
        status_event(session, tenant_id, message, conversation.id, exc.code)
        return "failed"


async def pending_sms(db: Database, *, limit: int = 1000) -> list[tuple[UUID, UUID, UUID]]:
    """(tenant, account, message) of every outbound SMS still to send, found by scanning
    the messages: run once at start-up, to enlist a reply whose process stopped between
    storing it and enlisting it (the loop itself reads only the accounts' send lists)."""
    async with db.system(readonly=True) as session:
        rows = await session.execute(
            select(
                ConversationMessage.tenant_id,
                Conversation.account_id,
                ConversationMessage.id,
                ConversationMessage.flags,
            )
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(
                Conversation.channel == SMS,
                ConversationMessage.direction == "out",
                ConversationMessage.status == "queued",
                ConversationMessage.provider_id.is_(None),
            )
            .order_by(ConversationMessage.created_at)
            .limit(limit)
        )
        return [
            (t, a, m)
            for t, a, m, flags in rows
            if a is not None and UNCONFIRMED not in (flags or [])
        ]


async def do_enlist_pending(db: Database) -> int:
    """Enlist what :func:`pending_sms` finds; returns how many."""
    found = await pending_sms(db)
    for tenant_id, account_id, message_id in found:
        await _enlist(db, tenant_id, account_id, message_id)
    return len(found)


async def due_sms(db: Database) -> list[tuple[UUID, UUID, UUID]]:
    """(tenant, account, message) of replies due for a send attempt now, from the SMS
    accounts' send lists (a handful of rows, whatever the number of messages)."""
    now = utcnow()
    async with db.system(readonly=True) as session:
        rows = await session.execute(
            select(ChannelAccount.tenant_id, ChannelAccount.id, ChannelAccount.cursor).where(
                ChannelAccount.channel == SMS
            )
        )
        due = []
        for tenant_id, account_id, cursor in rows:
            for key, entry in ((cursor or {}).get("sends") or {}).items():
                at = entry.get("lease_until") or entry.get("next_at")
                if at is None or datetime.fromisoformat(at) <= now:
                    due.append((tenant_id, account_id, UUID(key)))
        return due


async def do_forget_sms_send(
    db: Database, *, tenant_id: UUID, account_id: UUID, message_id: UUID
) -> None:
    """Drop a send-list entry whose message is gone (deleted with its conversation)."""
    async with db.scoped(tenant_id) as session, session.begin():
        row = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.id == account_id).with_for_update()
        )
        if row is not None:
            sends = _sends(row)
            if sends.pop(str(message_id), None) is not None:
                _store_sends(row, sends)
