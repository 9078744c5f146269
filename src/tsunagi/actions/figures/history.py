"""Starting with the past: historical contacts from a CSV file into the tenant's outbox.

Every good row becomes one ``contact.imported`` event (:mod:`tsunagi.figures.history`),
written in batches of a few thousand, one transaction each; the figures projector folds
them like any other event, so ``tsunagi figures rebuild`` recounts them too. Bad rows are
reported with their line and field, good rows are imported regardless.

* **Idempotent.** A row's contact id — and the outbox ``event_id`` of its event — is
  derived from the tenant and the row's source key, so a row imported before is found
  and counted as a duplicate; the outbox's unique ``event_id`` stops a concurrent import
  of the same rows.
* **Streamed.** Only the current batch is held; the file is read line by line.
* **Personal data.** The customer identifier is replaced by the tenant's keyed lookup
  hash before the event is built; it is never stored or emitted in plain.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.audit import record
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import OUTBOX_WRITTEN_KEY, Database
from tsunagi.adapters.storage.models import OutboxEvent, Queue, Tenant, User
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.events import encode_event
from tsunagi.figures.history import (
    FORMATS,
    ContactImportedEvent,
    HistoryRow,
    RowError,
    Skipped,
    communicator_id_of,
    imported_event,
    read_history,
)

IMPORT_BATCH = 2000
MAX_REPORTED_ERRORS = 1000
_CHECK_CHUNK = 500
OUTBOX_TABLE = cast(Table, OutboxEvent.__table__)


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    fmt: str = "tsunagi"
    # Source queue (the bank log's ``type``) → tenant queue code; ``*`` maps the rest.
    queue_map: Mapping[str, str] = field(default_factory=dict)
    # Source communicator name → tenant username (others: matched by username, or a
    # stable id of their own).
    agent_map: Mapping[str, str] = field(default_factory=dict)
    create_queues: bool = False
    timezone: str | None = None  # the file's zone; default: the tenant's
    dry_run: bool = False
    batch: int = IMPORT_BATCH


@dataclass(slots=True)
class HistoryImportReport:
    batch_id: uuid.UUID
    dry_run: bool
    timezone: str
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    warned: int = 0
    warnings: list[RowError] = field(default_factory=list)  # fields left out of good rows
    queues: dict[str, str] = field(default_factory=dict)  # source queue → tenant queue code
    created_queues: list[str] = field(default_factory=list)
    first_ended: datetime | None = None  # UTC, of the rows read (imported or duplicate)
    last_ended: datetime | None = None

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)

    def warn(self, notes: tuple[RowError, ...]) -> None:
        self.warned += len(notes)
        room = MAX_REPORTED_ERRORS - len(self.warnings)
        self.warnings.extend(notes[: max(0, room)])

    def saw(self, event: ContactImportedEvent) -> None:
        ended = event.ended_at
        self.first_ended = ended if self.first_ended is None else min(self.first_ended, ended)
        self.last_ended = ended if self.last_ended is None else max(self.last_ended, ended)


@dataclass
class _Context:
    """What the rows are mapped with: the tenant's zone, queues, users and cipher."""

    db: Database
    tenant_id: uuid.UUID
    options: HistoryOptions
    zone: ZoneInfo
    cipher: TenantCipher
    queues: dict[str, uuid.UUID]  # lower-case code → id
    users: dict[str, uuid.UUID]  # lower-case username → id
    report: HistoryImportReport
    actor: str | None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    async def queue_of(self, row: HistoryRow, field_name: str) -> uuid.UUID | RowError:
        mapping = self.options.queue_map
        target = mapping.get(row.queue) or mapping.get("*") or row.queue
        found = self.queues.get(target.lower())
        if found is None:
            if not self.options.create_queues:
                return RowError(
                    row.line,
                    field_name,
                    f"no queue {target!r} (map it with --queue-map or use --create-queues)",
                )
            found = await self._create_queue(target, row.channel)
        self.report.queues.setdefault(row.queue, target)
        return found

    async def _create_queue(self, code: str, channel: str) -> uuid.UUID:
        queue_id = uuid.uuid4()
        self.queues[code.lower()] = queue_id
        self.report.created_queues.append(code)
        if self.options.dry_run:
            return queue_id
        async with self.db.scoped(self.tenant_id) as session, session.begin():
            session.add(
                Queue(
                    id=queue_id,
                    tenant_id=self.tenant_id,
                    code=code,
                    name_ja=code,
                    name_en=code,
                    channel=channel if channel != "callback" else "voice",
                    created_at=self.now,
                )
            )
        return queue_id

    def agent_of(self, name: str | None) -> uuid.UUID | None:
        if name is None:
            return None
        username = self.options.agent_map.get(name, name)
        return self.users.get(username.lower()) or communicator_id_of(self.tenant_id, name)

    def customer_key(self, row: HistoryRow) -> str | None:
        if row.customer is None or row.customer_kind is None:
            return None
        return self.cipher.lookup_hash(row.customer_kind, row.customer)


async def do_import_history(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: uuid.UUID,
    lines: Iterable[str],
    options: HistoryOptions,
    actor: str | None,
) -> HistoryImportReport:
    """Import a history file (streamed); with ``dry_run`` the report is the preview."""
    if options.fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}")
    if options.batch < 1:
        raise InvalidInputError("batch must be at least 1")
    context = await _context(db, keyring, tenant_id, options, actor)
    report = context.report
    field_name = "type" if options.fmt == "anonymous-bank" else "queue"
    pending: dict[uuid.UUID, ContactImportedEvent] = {}
    for parsed in read_history(options.fmt, lines):
        if isinstance(parsed, RowError):
            if parsed.field == "header":
                raise InvalidInputError(str(parsed))
            report.rows += 1
            report.reject(parsed)
            continue
        report.rows += 1
        if isinstance(parsed, Skipped):
            report.skipped += 1
            continue
        queue = await context.queue_of(parsed, field_name)
        if isinstance(queue, RowError):
            report.reject(queue)
            continue
        report.warn(parsed.notes)
        event = imported_event(
            parsed,
            tenant_id=tenant_id,
            batch_id=report.batch_id,
            zone=context.zone,
            queue_id=queue,
            agent_id=context.agent_of(parsed.communicator),
            customer_key=context.customer_key(parsed),
            imported_at=context.now,
            actor=actor,
        )
        report.saw(event)
        if event.contact_id in pending:
            report.duplicates += 1  # the same key twice in one batch
            continue
        pending[event.contact_id] = event
        if len(pending) >= options.batch:
            await _flush(context, pending)
            pending = {}
    if pending:
        await _flush(context, pending)
    if not options.dry_run:
        await _audit(context)
    return report


async def _context(
    db: Database,
    keyring: KeyRing,
    tenant_id: uuid.UUID,
    options: HistoryOptions,
    actor: str | None,
) -> _Context:
    async with db.scoped(tenant_id, readonly=True) as session:
        tenant_zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
        queues = {
            code.lower(): qid for qid, code in await session.execute(select(Queue.id, Queue.code))
        }
        users = {
            name.lower(): uid for uid, name in await session.execute(select(User.id, User.username))
        }
    zone_name = options.timezone or tenant_zone or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInputError(f"unknown time zone {zone_name!r}") from error
    for source, username in options.agent_map.items():
        if username.lower() not in users:
            raise NotFoundError(f"no user {username!r} (mapped from {source!r})")
    return _Context(
        db=db,
        tenant_id=tenant_id,
        options=options,
        zone=zone,
        cipher=await keyring.cipher(db, tenant_id),
        queues=queues,
        users=users,
        report=HistoryImportReport(uuid.uuid4(), options.dry_run, zone_name),
        actor=actor,
    )


async def _known(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among ``ids`` already in the outbox (imported before)."""
    found: set[uuid.UUID] = set()
    for begin in range(0, len(ids), _CHECK_CHUNK):
        chunk = ids[begin : begin + _CHECK_CHUNK]
        found.update(
            await session.scalars(
                select(OutboxEvent.event_id).where(OutboxEvent.event_id.in_(chunk))
            )
        )
    return found


async def _flush(context: _Context, pending: dict[uuid.UUID, ContactImportedEvent]) -> None:
    """One batch, one transaction: events not imported before go to the outbox."""
    report, db, tenant_id = context.report, context.db, context.tenant_id
    ids = list(pending)
    if context.options.dry_run:
        async with db.scoped(tenant_id, readonly=True) as session:
            known = await _known(session, ids)
        report.duplicates += len(known)
        report.imported += len(ids) - len(known)
        return
    for attempt in range(2):
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                known = await _known(session, ids)
                rows = [
                    {
                        "tenant_id": tenant_id,
                        "event_id": contact_id,
                        "type": event.type_name(),
                        "payload": encode_event(event).decode(),
                        "occurred_at": event.occurred_at,
                    }
                    for contact_id, event in pending.items()
                    if contact_id not in known
                ]
                if rows:
                    # One executemany (not one ORM insert per row); wake the relay as
                    # ``emit`` does.
                    await session.execute(insert(OUTBOX_TABLE), rows)
                    session.info[OUTBOX_WRITTEN_KEY] = True
        except IntegrityError:
            if attempt:  # a concurrent import of the same rows won twice: give up loudly
                raise
            continue  # it committed some of these rows first: check again
        report.duplicates += len(known)
        report.imported += len(ids) - len(known)
        return


async def _audit(context: _Context) -> None:
    report = context.report
    async with context.db.scoped(context.tenant_id) as session, session.begin():
        record(
            session,
            tenant_id=context.tenant_id,
            action="figures.history_imported",
            resource_type="figures",
            outcome="ok",
            resource_id=str(report.batch_id),
            detail={
                "actor": context.actor,
                "format": context.options.fmt,
                "rows": report.rows,
                "imported": report.imported,
                "duplicates": report.duplicates,
                "rejected": report.rejected,
                "skipped": report.skipped,
                "created_queues": report.created_queues,
            },
        )
