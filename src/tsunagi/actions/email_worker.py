"""The email ingest: poll each enabled mailbox, file what came, send what is due.

:func:`poll_mailbox` is one pass over one mailbox: fetch the messages after the cursor
(IMAP UIDVALIDITY + last UID), ingest each (idempotent by Message-ID), move the cursor
after each batch, then send the tenant's due outbox. A crash anywhere repeats at most one
batch's ingest, which then finds what the first one made.

:class:`MailWorker` runs the passes forever, one task per enabled mailbox, waiting with
IMAP IDLE where the server offers it (else ``poll_interval_s``). On PostgreSQL, a mailbox
is read by one process at a time: its task holds a session-level advisory lock keyed by
the mailbox on a connection of its own (the server releases it if the process dies), and
a process that cannot take it leaves that mailbox to the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tsunagi.actions.email import do_ingest_email
from tsunagi.actions.email_accounts import (
    Mailbox,
    do_save_cursor,
    enabled_mailboxes,
    get_mailbox,
)
from tsunagi.actions.email_outbox import SenderFor, send_due, send_message, smtp_sender
from tsunagi.adapters.mail.imap import Fetched, ImapMailbox, ImapSettings, MailServerError
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.aio import stop_tasks

log = logging.getLogger(__name__)

MAILBOX_LOCK_SPACE = 0x6D61696C  # "mail": the first key of the two-key advisory lock


class MailSource(Protocol):
    uidvalidity: int

    @property
    def supports_idle(self) -> bool: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def fetch_after(self, last_uid: int, *, limit: int = 100) -> list[Fetched]: ...

    async def wait_for_news(self, timeout_s: float) -> bool: ...


SourceFor = Callable[[ImapSettings], MailSource]


@dataclass(frozen=True, slots=True)
class PollResult:
    fetched: int
    created: int
    duplicates: int
    malformed: int
    sent: int


async def poll_mailbox(
    db: Database,
    keyring: KeyRing,
    mailbox: Mailbox,
    source: MailSource,
    *,
    senders: SenderFor = smtp_sender,
    batch: int = 100,
) -> PollResult:
    """One pass over an open mailbox (see the module docstring)."""
    cursor = dict(mailbox.cursor)
    if cursor.get("uidvalidity") != source.uidvalidity:
        # A new mailbox, or the server renumbered it: read it all again (the Message-ID
        # keeps what is already in from coming in twice).
        cursor = {"uidvalidity": source.uidvalidity, "last_uid": 0}
    fetched = created = duplicates = malformed = 0
    while True:
        found = await source.fetch_after(int(cursor.get("last_uid", 0)), limit=batch)
        for item in found:
            result = await do_ingest_email(db, keyring, mailbox=mailbox, raw=item.raw)
            fetched += 1
            created += int(result.created)
            duplicates += int(not result.created)
            malformed += int("malformed" in result.flags)
            cursor["last_uid"] = item.uid
        if found:  # after each batch: a crash repeats at most one batch, harmlessly
            await do_save_cursor(
                db, tenant_id=mailbox.tenant_id, account_id=mailbox.id, cursor=cursor
            )
        if len(found) < batch:
            break
    if cursor != mailbox.cursor:
        await do_save_cursor(db, tenant_id=mailbox.tenant_id, account_id=mailbox.id, cursor=cursor)
    outcomes = await send_due(db, keyring, tenant_id=mailbox.tenant_id, senders=senders)
    sent = sum(1 for o in outcomes if o.status == "sent")
    return PollResult(fetched, created, duplicates, malformed, sent)


async def poll_once(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    account_id: UUID,
    sources: SourceFor = ImapMailbox,
    senders: SenderFor = smtp_sender,
) -> PollResult | None:
    """Open the mailbox, make one pass, close it. None when another process holds the
    mailbox (PostgreSQL)."""
    async with MailboxLock(db, account_id) as held:
        if not held:
            return None
        mailbox = await get_mailbox(db, keyring, tenant_id=tenant_id, account_id=account_id)
        source = sources(mailbox.imap())
        await source.open()
        try:
            return await poll_mailbox(db, keyring, mailbox, source, senders=senders)
        finally:
            await source.close()


class MailboxLock:
    """The advisory lock that makes one process the reader of a mailbox (PostgreSQL);
    on SQLite (one process) it is always held."""

    def __init__(self, db: Database, account_id: UUID) -> None:
        self._db = db
        key = int.from_bytes(account_id.bytes[:4], "big") ^ int.from_bytes(
            account_id.bytes[4:8], "big"
        )
        self._params = {
            "space": MAILBOX_LOCK_SPACE,
            "key": key - (1 << 32) if key >= 1 << 31 else key,
        }
        self._connection: AsyncConnection | None = None
        self.held = False

    async def __aenter__(self) -> bool:
        if self._db.is_sqlite:
            self.held = True
            return True
        connection = await self._db.engine.connect()
        got = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:space, :key)"), self._params
        )
        await connection.commit()
        if got:
            self._connection = connection
            self.held = True
        else:
            await connection.close()
        return self.held

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            # The pool keeps the connection (and a session lock with it): unlock first.
            # A process that dies loses its connection, and the server drops its locks.
            with contextlib.suppress(Exception):
                await self._connection.scalar(
                    text("SELECT pg_advisory_unlock(:space, :key)"), self._params
                )
                await self._connection.commit()
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
        self.held = False


class MailWorker:
    """Runs the ingest of every enabled mailbox of every tenant (see the module doc)."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        *,
        rescan_s: float = 30.0,
        retry_s: float = 30.0,
        send_interval_s: float = 5.0,
        sources: SourceFor = ImapMailbox,
        senders: SenderFor = smtp_sender,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._rescan_s = rescan_s
        self._retry_s = retry_s
        self._send_interval_s = send_interval_s
        self._sending: set[asyncio.Task[None]] = set()
        self._sender: asyncio.Task[None] | None = None
        self._sources = sources
        self._senders = senders
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._main: asyncio.Task[None] | None = None
        self.passes: dict[UUID, int] = {}

    async def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="mail-worker")
        self._sender = asyncio.create_task(self._send_loop(), name="mail-sender")

    def send_soon(self, tenant_id: UUID, message_id: UUID) -> None:
        """Send a just-queued email now, in a task (the request does not wait for SMTP)."""
        task = asyncio.create_task(self._send_one(tenant_id, message_id))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_one(self, tenant_id: UUID, message_id: UUID) -> None:
        try:
            await send_message(
                self._db, self._keyring, tenant_id=tenant_id, message_id=message_id,
                senders=self._senders,
            )  # fmt: skip
        except Exception:  # the send loop tries again
            log.exception("sending email %s failed", message_id)

    async def _send_loop(self) -> None:
        """Whatever is queued and due — retries, and replies of a process that stopped
        before sending — goes out even while a mailbox cannot be read."""
        while True:
            await asyncio.sleep(self._send_interval_s)
            try:
                tenants = {t for t, _ in await enabled_mailboxes(self._db)}
                for tenant_id in tenants:
                    await send_due(
                        self._db, self._keyring, tenant_id=tenant_id, senders=self._senders
                    )
            except Exception:
                log.exception("the email send loop failed; trying again")

    async def stop(self) -> None:
        tasks = [
            t
            for t in (self._main, self._sender, *self._tasks.values(), *self._sending)
            if t is not None
        ]
        await stop_tasks(tasks)
        self._tasks.clear()
        self._main = self._sender = None

    async def _run(self) -> None:
        while True:
            wanted: dict[UUID, UUID | None]
            try:
                wanted = {a: t for t, a in await enabled_mailboxes(self._db)}
            except Exception:
                log.exception("listing mailboxes failed")
                wanted = dict.fromkeys(self._tasks)
            for account_id, task in list(self._tasks.items()):
                if account_id not in wanted or task.done():
                    task.cancel()
                    del self._tasks[account_id]
            for account_id, tenant_id in wanted.items():
                if account_id not in self._tasks and tenant_id is not None:
                    self._tasks[account_id] = asyncio.create_task(
                        self._mailbox(tenant_id, account_id), name=f"mailbox-{account_id}"
                    )
            await asyncio.sleep(self._rescan_s)

    async def _mailbox(self, tenant_id: UUID, account_id: UUID) -> None:
        while True:
            try:
                async with MailboxLock(self._db, account_id) as held:
                    if held:
                        await self._serve(tenant_id, account_id)
            except asyncio.CancelledError:
                raise
            except MailServerError as exc:
                log.warning("mailbox %s: %s", account_id, exc)
            except Exception:
                log.exception("mailbox %s failed; retrying", account_id)
            await asyncio.sleep(self._retry_s)

    async def _serve(self, tenant_id: UUID, account_id: UUID) -> None:
        """Poll, wait (IDLE or sleep), poll again — on one connection, while it lasts."""
        mailbox = await get_mailbox(
            self._db, self._keyring, tenant_id=tenant_id, account_id=account_id
        )
        source_settings = mailbox.imap()
        source = self._sources(source_settings)
        await source.open()
        try:
            while True:
                mailbox = await get_mailbox(
                    self._db, self._keyring, tenant_id=tenant_id, account_id=account_id
                )
                if not mailbox.enabled or mailbox.imap() != source_settings:
                    return  # disabled, or its server changed: the loop reconnects
                await poll_mailbox(self._db, self._keyring, mailbox, source, senders=self._senders)
                self.passes[account_id] = self.passes.get(account_id, 0) + 1
                interval = float(mailbox.config.poll_interval_s)
                if mailbox.config.idle and source.supports_idle:
                    await source.wait_for_news(interval)
                else:
                    await asyncio.sleep(interval)
        finally:
            await source.close()


def describe(result: PollResult | None) -> dict[str, Any]:
    if result is None:
        return {"skipped": "another process reads this mailbox"}
    return {
        "fetched": result.fetched,
        "created": result.created,
        "duplicates": result.duplicates,
        "malformed": result.malformed,
        "sent": result.sent,
    }
