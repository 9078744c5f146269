"""Queue mailboxes (``channel_accounts`` rows with ``channel = 'email'``).

The settings are plain JSON (:class:`~tsunagi.channels.email.MailboxConfig`); the password
is sealed with the tenant's key and only opened to talk to the mail servers — it is never
returned by the API. The ingest cursor (IMAP UIDVALIDITY and the last UID handled) lives
on the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select

from tsunagi.actions.events import emit
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.mail.imap import ImapSettings
from tsunagi.adapters.mail.smtp import SmtpSettings
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import ChannelAccount
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue
from tsunagi.channels.email_settings import (
    MailboxConfig,
    MailboxConfiguredEvent,
    QueueEmail,
    QueueEmailChangedEvent,
    queue_email,
)
from tsunagi.domain.errors import InvalidInputError, NotFoundError

CHANNEL = "email"


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A queue's mailbox with its password opened (for talking to the servers only)."""

    id: UUID
    tenant_id: UUID
    queue_id: UUID
    name: str
    config: MailboxConfig
    password: str | None
    cursor: dict[str, Any]
    enabled: bool

    def imap(self) -> ImapSettings:
        c = self.config
        return ImapSettings(
            host=c.imap_host,
            port=c.imap_port,
            username=c.username,
            password=self.password or "",
            tls=c.imap_tls,
            folder=c.folder,
        )

    def smtp(self) -> SmtpSettings:
        c = self.config
        username = c.username if c.smtp_username is None else c.smtp_username
        return SmtpSettings(
            host=c.smtp_host,
            port=c.smtp_port,
            username=username or None,
            password=self.password,
            tls=c.smtp_tls,
        )


@dataclass(frozen=True, slots=True)
class MailboxView:
    """What the admin API shows: never the password, only whether one is set."""

    id: UUID
    queue_id: UUID
    name: str
    config: dict[str, Any]
    has_password: bool
    enabled: bool
    cursor: dict[str, Any]


def mailbox_config(raw: dict[str, Any]) -> MailboxConfig:
    try:
        return msgspec.convert(raw, MailboxConfig).validated()
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"mailbox settings: {exc}") from exc


async def do_configure_mailbox(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    queue_id: UUID,
    name: str,
    config: MailboxConfig,
    password: str | None,
    enabled: bool = True,
    actor: str | None,
) -> UUID:
    """Create the queue mailbox called ``name`` or change it (``password`` None keeps the
    stored one). Changing the IMAP server, user or folder starts reading afresh (the
    Message-ID keeps messages already taken from coming in twice)."""
    config = config.validated()
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInputError("the mailbox name must be 1 to 100 characters")
    cipher = await keyring.cipher(db, tenant_id)
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        if await session.get(Queue, queue_id) is None:
            raise NotFoundError("queue not found")
        account = await session.scalar(
            select(ChannelAccount)
            .where(ChannelAccount.channel == CHANNEL, ChannelAccount.name == name)
            .with_for_update()
        )
        created = account is None
        if account is None:
            account = ChannelAccount(channel=CHANNEL, name=name, cursor={}, created_at=at)
            session.add(account)
        elif _source(account.config) != _source(msgspec.to_builtins(config)):
            account.cursor = {}
        account.queue_id = queue_id
        account.config = msgspec.to_builtins(config)
        account.enabled = enabled
        account.updated_at = at
        await session.flush()
        if password is not None:
            account.secret_enc = cipher.seal(
                password, table="channel_accounts", column="secret", row_id=account.id
            )
        emit(
            session,
            MailboxConfiguredEvent(
                tenant_id=tenant_id,
                occurred_at=at,
                actor=actor,
                account_id=account.id,
                queue_id=queue_id,
                enabled=enabled,
                created=created,
            ),
        )
        return account.id


def _source(config: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(config.get(k) for k in ("imap_host", "imap_port", "username", "folder"))


async def get_mailbox(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, account_id: UUID
) -> Mailbox:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        account = await session.get(ChannelAccount, account_id)
    if account is None or account.channel != CHANNEL:
        raise NotFoundError("mailbox not found")
    return Mailbox(
        id=account.id,
        tenant_id=tenant_id,
        queue_id=account.queue_id,
        name=account.name,
        config=mailbox_config(account.config),
        password=cipher.open(
            account.secret_enc, table="channel_accounts", column="secret", row_id=account.id
        ),
        cursor=dict(account.cursor or {}),
        enabled=account.enabled,
    )


async def find_mailbox_for_queue(db: Database, *, tenant_id: UUID, queue_id: UUID) -> UUID | None:
    """The enabled mailbox of a queue (the first by name), else any enabled one."""
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(ChannelAccount.id, ChannelAccount.queue_id)
                .where(ChannelAccount.channel == CHANNEL, ChannelAccount.enabled.is_(True))
                .order_by(ChannelAccount.name)
            )
        ).all()
    for account_id, queue in rows:
        if queue == queue_id:
            return account_id
    return rows[0][0] if rows else None


async def list_mailboxes(db: Database, *, tenant_id: UUID) -> list[MailboxView]:
    async with db.scoped(tenant_id, readonly=True) as session:
        accounts = (
            await session.scalars(
                select(ChannelAccount)
                .where(ChannelAccount.channel == CHANNEL)
                .order_by(ChannelAccount.name)
            )
        ).all()
    return [
        MailboxView(
            id=a.id,
            queue_id=a.queue_id,
            name=a.name,
            config=dict(a.config),
            has_password=a.secret_enc is not None,
            enabled=a.enabled,
            cursor=dict(a.cursor or {}),
        )
        for a in accounts
    ]


async def own_addresses(db: Database, *, tenant_id: UUID) -> list[str]:
    """Every address of the tenant's mailboxes (never answered automatically)."""
    async with db.scoped(tenant_id, readonly=True) as session:
        configs = (
            await session.scalars(
                select(ChannelAccount.config).where(ChannelAccount.channel == CHANNEL)
            )
        ).all()
    return [str(c.get("address", "")).lower() for c in configs if c.get("address")]


async def enabled_mailboxes(db: Database) -> list[tuple[UUID, UUID]]:
    """(tenant, account) of every enabled mailbox of every tenant — for the ingest."""
    async with db.system(readonly=True) as session:
        rows = (
            await session.execute(
                select(ChannelAccount.tenant_id, ChannelAccount.id).where(
                    ChannelAccount.channel == CHANNEL, ChannelAccount.enabled.is_(True)
                )
            )
        ).all()
    return [(tenant_id, account_id) for tenant_id, account_id in rows]


async def do_save_cursor(
    db: Database, *, tenant_id: UUID, account_id: UUID, cursor: dict[str, Any]
) -> None:
    async with db.scoped(tenant_id) as session, session.begin():
        account = await session.get(ChannelAccount, account_id)
        if account is not None:
            account.cursor = dict(cursor)
            account.updated_at = utcnow()


async def mailbox_of_queue(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, queue_id: UUID
) -> Mailbox | None:
    """The queue's own mailbox (the first by name), enabled or not."""
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.scalar(
            select(ChannelAccount.id)
            .where(ChannelAccount.channel == CHANNEL, ChannelAccount.queue_id == queue_id)
            .order_by(ChannelAccount.name)
            .limit(1)
        )
    if found is None:
        return None
    return await get_mailbox(db, keyring, tenant_id=tenant_id, account_id=found)


async def queue_email_settings(db: Database, *, tenant_id: UUID, queue_id: UUID) -> QueueEmail:
    async with db.scoped(tenant_id, readonly=True) as session:
        queue = await session.get(Queue, queue_id)
    if queue is None:
        raise NotFoundError("queue not found")
    return queue_email(queue.config)


async def do_set_queue_email(
    db: Database, *, tenant_id: UUID, queue_id: UUID, settings: QueueEmail, actor: str | None
) -> QueueEmail:
    """Replace a queue's email behaviour (``Queue.config["email"]``)."""
    settings = settings.validated()
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        queue = await session.scalar(select(Queue).where(Queue.id == queue_id).with_for_update())
        if queue is None:
            raise NotFoundError("queue not found")
        queue.config = {**(queue.config or {}), "email": msgspec.to_builtins(settings)}
        emit(
            session,
            QueueEmailChangedEvent(
                tenant_id=tenant_id, occurred_at=at, actor=actor, queue_id=queue_id,
                auto_ack=settings.auto_ack, first_response_s=settings.first_response_s,
            ),
        )  # fmt: skip
    return settings
