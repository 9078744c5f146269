"""SMS: a queue's number, inbound messages, replies that are sent exactly once, reports.

* **Accounts** — a queue's SMS number is a ``channel_accounts`` row (channel ``sms``):
  non-secret settings in ``config``, the provider's auth token sealed in ``secret_enc``.
* **Inbound** — a message continues the open SMS conversation of the same number on the
  same account, else starts one (a routing contact in the account's queue, the customer
  identified by the number). The provider's message id is the idempotency key: a
  retried webhook adds nothing. Keywords (``STOP``, 「停止」, ``START``, ``HELP`` …) are
  handled here and start no contact.
* **Outbound** — replies are stored, then sent exactly once: ``tsunagi.actions.sms_send``.
* **Reports** — a delivery report only moves a message forward
  (``channels.sms.advances``); reports arriving out of order change nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.conversations import (
    NewConversation,
    NewMessage,
    do_add_message,
    do_close_conversation,
    do_start_conversation,
)
from tsunagi.actions.events import emit
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import (
    ChannelAccount,
    ChannelOptOut,
    Conversation,
    ConversationMessage,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.sms import (
    Keyword,
    SmsAccountConfiguredEvent,
    SmsOptOutChangedEvent,
    SmsStatusChangedEvent,
    advances,
    keyword_of,
)
from tsunagi.channels.text import clean_text
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.ports.sms import DeliveryReport, InboundSms, SmsProvider
from tsunagi.routing.lifecycle import TERMINAL

SMS = "sms"
MAX_SMS_TEXT = 1600  # characters: what providers accept in one request
UNCONFIRMED = "send_unconfirmed"  # flag: the send's outcome is unknown; never resent
DEFAULT_HELP = (
    "こちらはお問い合わせ窓口のSMSです。配信停止は「停止」、再開は「再開」と返信してください。"
    " Reply STOP to opt out, START to opt back in."
)
_SECRET = ("channel_accounts", "secret")


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class SmsSettings:
    """What an administrator sets for a queue's SMS number (the token only to change it)."""

    account_sid: str
    from_number: str
    webhook_base_url: str
    api_base_url: str
    auth_token: str | None = None
    max_segments: int = 5
    help_text: str | None = None
    opt_out_reply: str | None = None
    opt_in_reply: str | None = None
    enabled: bool = True
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SmsAccount:
    id: UUID
    tenant_id: UUID
    queue_id: UUID
    name: str
    account_sid: str
    from_number: str
    webhook_base_url: str
    api_base_url: str
    auth_token: str | None
    max_segments: int
    help_text: str
    opt_out_reply: str | None
    opt_in_reply: str | None
    enabled: bool

    def hook_url(self, kind: str) -> str:
        """The URL the provider calls (``inbound`` or ``status``) — and signs."""
        return f"{self.webhook_base_url.rstrip('/')}/hooks/sms/{self.id}/{kind}"


ProviderFactory = Callable[[SmsAccount], SmsProvider]


def account_of_row(row: ChannelAccount, cipher: TenantCipher) -> SmsAccount:
    config = row.config or {}
    token = cipher.open(row.secret_enc, table=_SECRET[0], column=_SECRET[1], row_id=row.id)
    return SmsAccount(
        id=row.id,
        tenant_id=row.tenant_id,
        queue_id=row.queue_id,
        name=row.name,
        account_sid=str(config.get("account_sid", "")),
        from_number=str(config.get("from_number", "")),
        webhook_base_url=str(config.get("webhook_base_url", "")),
        api_base_url=str(config.get("api_base_url", "")),
        auth_token=token,
        max_segments=int(config.get("max_segments", 5)),
        help_text=str(config.get("help_text") or DEFAULT_HELP),
        opt_out_reply=config.get("opt_out_reply"),
        opt_in_reply=config.get("opt_in_reply"),
        enabled=row.enabled,
    )


async def find_sms_account(db: Database, keyring: KeyRing, account_id: UUID) -> SmsAccount | None:
    """The account a webhook names (its URL carries no tenant: the account's row tells).

    Only the tenant id is read across tenants; everything else in the tenant's scope.
    """
    async with db.system(readonly=True) as session:
        tenant_id = await session.scalar(
            select(ChannelAccount.tenant_id).where(
                ChannelAccount.id == account_id, ChannelAccount.channel == SMS
            )
        )
    if tenant_id is None:
        return None
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        row = await session.get(ChannelAccount, account_id)
        return None if row is None else account_of_row(row, cipher)


async def sms_account_of_queue(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, queue_id: UUID
) -> SmsAccount | None:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        if await session.get(Queue, queue_id) is None:
            raise NotFoundError("queue not found")
        row = await session.scalar(
            select(ChannelAccount)
            .where(ChannelAccount.channel == SMS, ChannelAccount.queue_id == queue_id)
            .order_by(ChannelAccount.created_at)
            .limit(1)
        )
        return None if row is None else account_of_row(row, cipher)


def _check_settings(new: SmsSettings, *, creating: bool) -> None:
    if not new.account_sid.strip() or len(new.account_sid) > 64:
        raise InvalidInputError("account_sid must be 1 to 64 characters")
    number = new.from_number
    if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
        raise InvalidInputError("from_number must be an E.164 number such as +815012345678")
    for field_name in ("webhook_base_url", "api_base_url"):
        url = getattr(new, field_name)
        if not url.startswith(("https://", "http://")) or len(url) > 300:
            raise InvalidInputError(f"{field_name} must be an http(s) URL")
    if not 1 <= new.max_segments <= 10:
        raise InvalidInputError("max_segments must be between 1 and 10")
    if creating and not new.auth_token:
        raise InvalidInputError("auth_token is required for a new SMS number")
    for field_name in ("help_text", "opt_out_reply", "opt_in_reply"):
        text = getattr(new, field_name)
        if text is not None and len(text) > 320:
            raise InvalidInputError(f"{field_name} is at most 320 characters")


async def do_configure_sms_account(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    queue_id: UUID,
    new: SmsSettings,
    actor: str | None,
) -> SmsAccount:
    """Create or change a queue's SMS number (the token is kept when none is given)."""
    cipher = await keyring.cipher(db, tenant_id)
    at = utcnow()
    try:
        async with db.scoped(tenant_id) as session, session.begin():
            if await session.get(Queue, queue_id) is None:
                raise NotFoundError("queue not found")
            row = await session.scalar(
                select(ChannelAccount)
                .where(ChannelAccount.channel == SMS, ChannelAccount.queue_id == queue_id)
                .with_for_update()
            )
            _check_settings(new, creating=row is None)
            if row is None:
                row = ChannelAccount(
                    channel=SMS, queue_id=queue_id, cursor={}, created_at=at, config={}
                )
                session.add(row)
            row.name = (new.name or new.from_number)[:100]
            row.config = {
                "account_sid": new.account_sid.strip(),
                "from_number": new.from_number,
                "webhook_base_url": new.webhook_base_url.rstrip("/"),
                "api_base_url": new.api_base_url.rstrip("/"),
                "max_segments": new.max_segments,
                "help_text": new.help_text,
                "opt_out_reply": new.opt_out_reply,
                "opt_in_reply": new.opt_in_reply,
            }
            row.enabled = new.enabled
            row.updated_at = at
            await session.flush()
            if new.auth_token:
                row.secret_enc = cipher.seal(
                    new.auth_token, table=_SECRET[0], column=_SECRET[1], row_id=row.id
                )
            emit(
                session,
                SmsAccountConfiguredEvent(
                    tenant_id=tenant_id, occurred_at=at, actor=actor, account_id=row.id,
                    queue_id=queue_id, enabled=row.enabled,
                ),
            )  # fmt: skip
            return account_of_row(row, cipher)
    except IntegrityError as exc:
        raise ConflictError("another SMS number of this tenant already has that name") from exc


# ---------------------------------------------------------------------------- opt-out


async def is_opted_out(db: Database, keyring: KeyRing, *, tenant_id: UUID, number: str) -> bool:
    cipher = await keyring.cipher(db, tenant_id)
    address_hash = cipher.lookup_hash("phone", number)
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.scalar(
            select(ChannelOptOut.id).where(
                ChannelOptOut.channel == SMS, ChannelOptOut.address_hash == address_hash
            )
        )
    return found is not None


async def do_set_sms_opt_out(
    db: Database,
    *,
    tenant_id: UUID,
    account_id: UUID,
    address_hash: str,
    opted_out: bool,
    keyword: str,
    actor: str | None,
) -> bool:
    """Record that a number opted out (or back in); returns whether anything changed."""
    at = utcnow()
    try:
        async with db.scoped(tenant_id) as session, session.begin():
            row = await session.scalar(
                select(ChannelOptOut).where(
                    ChannelOptOut.channel == SMS, ChannelOptOut.address_hash == address_hash
                )
            )
            if (row is not None) == opted_out:
                return False
            if opted_out:
                session.add(
                    ChannelOptOut(
                        channel=SMS, address_hash=address_hash, keyword=keyword[:32],
                        created_at=at,
                    )
                )  # fmt: skip
            else:
                await session.delete(row)
            emit(
                session,
                SmsOptOutChangedEvent(
                    tenant_id=tenant_id, occurred_at=at, actor=actor, account_id=account_id,
                    opted_out=opted_out, keyword=keyword,
                ),
            )  # fmt: skip
            return True
    except IntegrityError:
        return False  # the same opt-out recorded by a concurrent retry


# ---------------------------------------------------------------------------- inbound


@dataclass(frozen=True, slots=True)
class Received:
    outcome: str  # message | duplicate | opt_out | opt_in | help
    conversation_id: UUID | None = None
    contact_id: UUID | None = None
    message_id: UUID | None = None
    reply: str | None = None  # what to answer the customer in the webhook's response


def external_id_of(provider_id: str) -> str:
    return f"sms:{provider_id}"


@dataclass(frozen=True, slots=True)
class _Latest:
    id: UUID
    contact_id: UUID | None
    state: str
    contact_state: str | None


async def _latest_conversation(
    db: Database, tenant_id: UUID, account_id: UUID, address_hash: str
) -> _Latest | None:
    """The number's newest SMS conversation on the account, with its contact's state."""
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(
                    Conversation.id, Conversation.contact_id, Conversation.state,
                    RoutingContact.state,
                )
                .outerjoin(RoutingContact, RoutingContact.id == Conversation.contact_id)
                .where(
                    Conversation.channel == SMS,
                    Conversation.account_id == account_id,
                    Conversation.address_hash == address_hash,
                )
                .order_by(Conversation.created_at.desc(), Conversation.id.desc())
                .limit(1)
            )
        ).first()  # fmt: skip
    return None if row is None else _Latest(row[0], row[1], row[2], row[3])


def _start_key(account_id: UUID, address_hash: str, latest: _Latest | None) -> str:
    """The idempotency key of the number's next conversation: it names the newest one
    before it, so two texts arriving at once from a new number start one, not two."""
    after = "first" if latest is None else str(latest.id)
    digest = hashlib.sha256(f"{account_id}|{address_hash}|{after}".encode()).hexdigest()
    return f"sms-conversation:{digest[:48]}"


async def _continuing(
    db: Database, tenant_id: UUID, account_id: UUID, address_hash: str
) -> tuple[UUID, UUID | None] | str:
    """The open conversation a text joins (id, contact), or the key to start one with.

    A conversation whose contact has ended (closed, abandoned) is closed here: a new text
    after that is a new contact, not a line nobody will read.
    """
    latest = await _latest_conversation(db, tenant_id, account_id, address_hash)
    if latest is not None and latest.state != "closed":
        if latest.contact_state not in TERMINAL:
            return latest.id, latest.contact_id
        await do_close_conversation(
            db, tenant_id=tenant_id, conversation_id=latest.id, by="system", actor="sms"
        )
    return _start_key(account_id, address_hash, latest)


async def _existing(db: Database, tenant_id: UUID, external_id: str) -> Received | None:
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(ConversationMessage.id, Conversation.id, Conversation.contact_id)
                .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
                .where(ConversationMessage.external_id == external_id)
            )
        ).first()
    return None if row is None else Received("duplicate", row[1], row[2], row[0])


def _inbound_text(body: str) -> str:
    try:
        return clean_text(body, limit=MAX_SMS_TEXT)
    except InvalidInputError:
        return body.strip()[:MAX_SMS_TEXT]


async def do_receive_sms(
    db: Database, keyring: KeyRing, *, account: SmsAccount, inbound: InboundSms
) -> Received:
    """Take in one received SMS (idempotent by the provider's message id)."""
    tenant_id = account.tenant_id
    external_id = external_id_of(inbound.provider_id)
    found = await _existing(db, tenant_id, external_id)
    if found is not None:
        return found
    cipher = await keyring.cipher(db, tenant_id)
    address_hash = cipher.lookup_hash("phone", inbound.sender)
    matched = keyword_of(inbound.body)
    reply: str | None = None
    if matched is not None:
        kind, word = matched
        if kind is not Keyword.HELP:
            await do_set_sms_opt_out(
                db, tenant_id=tenant_id, account_id=account.id, address_hash=address_hash,
                opted_out=kind is Keyword.OPT_OUT, keyword=word, actor="sms",
            )  # fmt: skip
        reply = {
            Keyword.HELP: account.help_text,
            Keyword.OPT_OUT: account.opt_out_reply,
            Keyword.OPT_IN: account.opt_in_reply,
        }[kind]
    open_one = await _continuing(db, tenant_id, account.id, address_hash)
    if isinstance(open_one, str) and matched is not None:
        # A keyword alone is not a request for a communicator: no contact for it.
        return Received(matched[0].value, reply=reply)
    if isinstance(open_one, str):
        started = await do_start_conversation(
            db,
            keyring,
            tenant_id=tenant_id,
            new=NewConversation(
                channel=SMS, queue_id=account.queue_id, source="sms", lang=_lang_of(inbound.body),
                address_kind="phone", address=inbound.sender, account_id=account.id,
                idempotency_key=open_one,
            ),
            actor="sms",
        )  # fmt: skip
        open_one = (started.conversation_id, started.contact_id)
    conversation_id, contact_id = open_one
    flags = (matched[0].value,) if matched is not None else ()
    message = await do_add_message(
        db, keyring, tenant_id=tenant_id, conversation_id=conversation_id,
        new=NewMessage("in", "customer", _inbound_text(inbound.body), external_id=external_id,
                       provider_id=inbound.provider_id, status="received", flags=flags),
        actor="sms",
    )  # fmt: skip
    if reply is not None:
        await do_add_message(
            db, keyring, tenant_id=tenant_id, conversation_id=conversation_id,
            new=NewMessage("out", "system", reply, external_id=f"sms-reply:{inbound.provider_id}",
                           status="sent", flags=("auto_reply",)),
            actor="sms",
        )  # fmt: skip
    outcome = "message" if matched is None else matched[0].value
    if not message.created:
        outcome = "duplicate"
    return Received(outcome, conversation_id, contact_id, message.id, reply)


def _lang_of(body: str) -> str:
    return "en" if body.isascii() else "ja"


# ----------------------------------------------------------------------------- events


def status_event(
    session: AsyncSession,
    tenant_id: UUID,
    message: ConversationMessage,
    conversation_id: UUID,
    error_code: str | None,
) -> None:
    emit(
        session,
        SmsStatusChangedEvent(
            tenant_id=tenant_id, occurred_at=utcnow(), actor="sms",
            conversation_id=conversation_id, message_id=message.id, status=message.status,
            error_code=error_code,
        ),
    )  # fmt: skip


# ---------------------------------------------------------------------------- reports


async def do_record_sms_report(
    db: Database,
    *,
    account: SmsAccount,
    report: DeliveryReport,
    message_id: UUID | None,
) -> str | None:
    """Apply a delivery report; returns the message's status after (None: not ours).

    The message is found by the provider's id, or by our id in the callback URL when
    the report outran the send's answer. Only a forward move changes anything.
    """
    tenant_id = account.tenant_id
    async with db.scoped(tenant_id) as session, session.begin():
        message = await session.scalar(
            select(ConversationMessage)
            .where(ConversationMessage.provider_id == report.provider_id)
            .with_for_update()
        )
        if message is None and message_id is not None:
            message = await session.scalar(
                select(ConversationMessage)
                .where(
                    ConversationMessage.id == message_id,
                    ConversationMessage.provider_id.is_(None),
                )
                .with_for_update()
            )
        if message is None or message.direction != "out":
            return None
        conversation = await session.get(Conversation, message.conversation_id)
        if conversation is None or conversation.account_id != account.id:
            return None
        message.provider_id = message.provider_id or report.provider_id
        if not advances(message.status, report.status):
            return message.status
        message.status = report.status
        if report.status in ("sent", "delivered") and message.sent_at is None:
            message.sent_at = utcnow()
        if report.status == "failed":
            code = f" error {report.error_code}" if report.error_code else ""
            message.status_detail = f"{report.provider_status}{code}"[:200]
        elif UNCONFIRMED not in message.flags:
            message.status_detail = None
        status_event(session, tenant_id, message, conversation.id, report.error_code)
        return message.status
