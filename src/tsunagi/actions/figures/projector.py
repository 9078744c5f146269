"""The figures projector: folds each tenant's outbox, in ``seq`` order, into the aggregates.

One pass for a tenant (:func:`do_fold_pending`) is one transaction that

1. locks the tenant's checkpoint row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
   ``BEGIN IMMEDIATE`` already serialises writers), so any number of processes may run the
   projector and each batch is still folded exactly once;
2. reads the next events after the checkpoint, loads the records they touch, folds them
   (:class:`tsunagi.figures.fold.Fold`), writes the records and *adds* the batch's
   measures to the interval rows;
3. moves the checkpoint to the last ``seq`` read.

Because a contact contributes only once it has ended, and contributions only add, the
rows after any sequence of batches equal one fold of the whole stream —
:func:`do_rebuild` computes that fold from the outbox and compares.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.figures.store import (
    AGGREGATES,
    Aggregate,
    Calendars,
    add_rows,
    agent_record_of,
    agent_rows,
    contact_rows,
    insert_of,
    load_records,
    new_contact_row,
    record_of,
    rows_for,
    state_rows,
    write_agent,
    write_record,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import (
    FiguresAgent,
    FiguresCheckpoint,
    FiguresContact,
)
from tsunagi.adapters.storage.models import OutboxEvent, Queue, Tenant
from tsunagi.aio import stop_tasks, wait_event
from tsunagi.figures.definitions import Measures
from tsunagi.figures.fold import (
    AgentRecord,
    ContactRecord,
    Fold,
    QueueTargets,
)
from tsunagi.figures.history import ContactImportedEvent
from tsunagi.figures.surveys import SurveyAnsweredEvent
from tsunagi.routing.events import (
    AgentStateChangedEvent,
    ContactAbandonedEvent,
    ContactCallbackScheduledEvent,
    ContactClosedEvent,
    ContactConnectedEvent,
    ContactCreatedEvent,
    ContactEndedEvent,
    ContactEvent,
    ContactHeldEvent,
    ContactOfferDeclinedEvent,
    ContactOfferedEvent,
    ContactQueuedEvent,
    ContactResumedEvent,
    ContactTransferredEvent,
)

log = logging.getLogger(__name__)

BATCH = 2000

FoldedEvent = (
    AgentStateChangedEvent
    | ContactAbandonedEvent
    | ContactCallbackScheduledEvent
    | ContactClosedEvent
    | ContactConnectedEvent
    | ContactCreatedEvent
    | ContactEndedEvent
    | ContactHeldEvent
    | ContactOfferDeclinedEvent
    | ContactOfferedEvent
    | ContactQueuedEvent
    | ContactResumedEvent
    | ContactTransferredEvent
    | SurveyAnsweredEvent
    | ContactImportedEvent
)
FOLDED_TYPES = frozenset(
    cls.type_name()
    for cls in (
        AgentStateChangedEvent,
        ContactAbandonedEvent,
        ContactCallbackScheduledEvent,
        ContactClosedEvent,
        ContactConnectedEvent,
        ContactCreatedEvent,
        ContactEndedEvent,
        ContactHeldEvent,
        ContactQueuedEvent,
        ContactResumedEvent,
        ContactTransferredEvent,
        SurveyAnsweredEvent,
        ContactImportedEvent,
    )
)
_decoder: msgspec.json.Decoder[FoldedEvent] = msgspec.json.Decoder(FoldedEvent)


# ------------------------------------------------------------------- settings


async def queue_targets(session: AsyncSession) -> dict[uuid.UUID | None, QueueTargets]:
    """Each queue's service-level threshold and short-abandon limit.

    The limit is ``queues.config["figures"]["short_abandon_s"]`` (default 5 s). Changing
    a queue's threshold or limit changes how *future* contacts are counted; run a rebuild
    to recount the past with the new values.
    """
    found: dict[uuid.UUID | None, QueueTargets] = {}
    for queue in await session.scalars(select(Queue)):
        found[queue.id] = QueueTargets.of(queue.sl_threshold_s, queue.config)
    return found


async def tenant_timezone(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    return zone or "UTC"


def _lookup(targets: dict[uuid.UUID | None, QueueTargets]) -> Any:
    default = QueueTargets()
    return lambda queue_id: targets.get(queue_id, default)


# ------------------------------------------------------------------- one batch


async def _checkpoint(session: AsyncSession, tenant_id: uuid.UUID) -> FiguresCheckpoint:
    """The tenant's checkpoint row, locked; made at 0 if there is none. Two projectors
    making it at once (a new tenant, two processes): one inserts, the other's insert does
    nothing and both then lock the one row, in turn."""
    found = await session.scalar(select(FiguresCheckpoint).with_for_update())
    if found is None:
        table: Table = FiguresCheckpoint.__table__  # type: ignore[assignment]
        insert = insert_of(session.get_bind().dialect.name)
        values = {"tenant_id": tenant_id, "last_seq": 0, "updated_at": datetime.now(UTC)}
        made = insert(table).values(values).on_conflict_do_nothing(index_elements=["tenant_id"])
        await session.execute(made)
        found = await session.scalar(select(FiguresCheckpoint).with_for_update())
        assert found is not None
    return found


Version = tuple[int, datetime | None]
"""A checkpoint as a batch was planned from: its ``last_seq`` and ``updated_at`` (a
rebuild that rewrites the records moves ``updated_at`` too); ``(0, None)``: no checkpoint."""


def _version(checkpoint: FiguresCheckpoint | None) -> Version:
    return (0, None) if checkpoint is None else (checkpoint.last_seq, checkpoint.updated_at)


def _unmoved(checkpoint: FiguresCheckpoint, planned: Version) -> bool:
    """Whether the (locked) checkpoint is still the one a plan was made from; a plan made
    before there was one holds while it is at 0 (just made, here or by another)."""
    last_seq, updated_at = planned
    return checkpoint.last_seq == last_seq and updated_at in (None, checkpoint.updated_at)


async def _events_after(
    session: AsyncSession, after: int, limit: int, upto: int | None = None
) -> tuple[int, list[FoldedEvent]]:
    """(last seq read, decoded figure events) of the next ``limit`` outbox rows."""
    query = select(OutboxEvent.seq, OutboxEvent.type, OutboxEvent.payload).where(
        OutboxEvent.seq > after
    )
    if upto is not None:
        query = query.where(OutboxEvent.seq <= upto)
    rows = (await session.execute(query.order_by(OutboxEvent.seq).limit(limit))).all()
    last = after
    events: list[FoldedEvent] = []
    for seq, kind, payload in rows:
        assert seq is not None
        last = seq
        if kind in FOLDED_TYPES:
            events.append(_decoder.decode(payload))
    return last, events


@dataclass
class _Plan:
    """A batch read and folded outside the write transaction (:func:`_plan`)."""

    version: Version
    last: int
    fold: Fold
    contacts: dict[uuid.UUID, FiguresContact]  # records as read (detached, unchanged)
    agents: dict[uuid.UUID, FiguresAgent]
    timezone: str

    @property
    def read(self) -> int:
        return self.last - self.version[0]


async def _plan(db: Database, tenant_id: uuid.UUID, batch: int) -> _Plan | None:
    """Read the next batch and the records it touches in one snapshot, with no write lock,
    and fold it; None when nothing is numbered after the checkpoint."""
    async with db.scoped(tenant_id, readonly=True) as session:
        version = _version(await session.scalar(select(FiguresCheckpoint)))
        last, events = await _events_after(session, version[0], batch)
        if last == version[0]:
            return None
        contact_ids = {
            e.contact_id
            for e in events
            if isinstance(e, ContactEvent | SurveyAnsweredEvent | ContactImportedEvent)
        }
        agent_ids = {e.agent_id for e in events if isinstance(e, AgentStateChangedEvent)}
        contacts, agents = await load_records(session, contact_ids, agent_ids)
        targets = await queue_targets(session)
        timezone = await tenant_timezone(session, tenant_id)
    fold = Fold(
        targets=_lookup(targets),
        contacts={cid: record_of(row) for cid, row in contacts.items()},
        agents={aid: agent_record_of(row) for aid, row in agents.items()},
    )
    for event in events:
        fold.apply(event)
    return _Plan(version, last, fold, contacts, agents, timezone)


PLAN_TRIES = 3


async def do_fold_pending(db: Database, tenant_id: uuid.UUID, *, batch: int = BATCH) -> int:
    """Fold the next batch of the tenant's events; returns how many outbox rows it read.

    The batch is read and folded first, without the write lock (:func:`_plan`); the write
    transaction then locks the checkpoint and, if it is still the one planned from,
    writes the records and adds the measures. A checkpoint moved meanwhile (another
    projector folded the batch, or a rebuild ran) means planning again. On SQLite, whose
    write lock is the whole database's, this keeps the lock to the writes alone."""
    for _ in range(PLAN_TRIES):
        plan = await _plan(db, tenant_id, batch)
        if plan is None:
            return 0
        async with db.scoped(tenant_id) as session, session.begin():
            checkpoint = await _checkpoint(session, tenant_id)
            if not _unmoved(checkpoint, plan.version):
                continue
            _write_records(session, tenant_id, plan.fold, plan.contacts, plan.agents, plan.timezone)
            await _add_measures(session, tenant_id, plan.fold, Calendars(plan.timezone))
            checkpoint.last_seq = plan.last
            checkpoint.updated_at = datetime.now(UTC)
            return plan.read
    log.info("figures checkpoint of tenant %s kept moving; folding on the next pass", tenant_id)
    return 0


def _write_records(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    fold: Fold,
    contacts: dict[uuid.UUID, FiguresContact],
    agents: dict[uuid.UUID, FiguresAgent],
    timezone: str,
) -> None:
    """The fold's records onto their rows: a row read by :func:`_plan` (detached) is taken
    into this session as it was read (``merge(load=False)``: no statement), so the flush
    updates only what the fold changed; a record without a row gets a new one."""
    for contact_id in fold.touched_contacts:
        record = fold.contacts[contact_id]
        row = contacts.get(contact_id)
        if row is None:
            row = new_contact_row(tenant_id, record)
            session.add(row)
        else:
            row = session.sync_session.merge(row, load=False)
        write_record(row, record, timezone)
    for agent_id in fold.touched_agents:
        agent = fold.agents[agent_id]
        agent_row = agents.get(agent_id)
        if agent_row is None:
            agent_row = FiguresAgent(tenant_id=tenant_id, agent_id=agent_id, state="signed_out")
            session.add(agent_row)
        else:
            agent_row = session.sync_session.merge(agent_row, load=False)
        write_agent(agent_row, agent)


def _base_rows(
    tenant_id: uuid.UUID, fold: Fold, calendars: Calendars
) -> dict[str, list[dict[str, Any]]]:
    """The fold's 15-minute rows with every dimension, per kind of :data:`AGGREGATES`."""
    return {
        "contacts": contact_rows(tenant_id, fold.contact_rows, calendars),
        "agents": agent_rows(tenant_id, fold.agent_rows, calendars),
        "states": state_rows(tenant_id, fold.state_rows, calendars),
    }


async def _add_measures(
    session: AsyncSession, tenant_id: uuid.UUID, fold: Fold, calendars: Calendars
) -> None:
    """Add the batch's measures to every aggregate table: the 15-minute rows, the day rows
    and the roll-ups without the category."""
    await session.flush()
    base = _base_rows(tenant_id, fold, calendars)
    for aggregate in AGGREGATES:
        rows = rows_for(aggregate, base)
        await add_rows(
            session, aggregate.table, aggregate.key, aggregate.sums, aggregate.maxes, rows
        )


async def _behind(db: Database, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant has numbered events after its checkpoint (a read, no write lock:
    an idle poll must not take SQLite's writer lock)."""
    # Two statements whose answers need not agree (a checkpoint read after the stream's end
    # only ever makes "behind" false when the work is done): no snapshot, no BEGIN/ROLLBACK.
    async with db.scoped(tenant_id, readonly=True, snapshot=False) as session:
        last = await session.scalar(select(func.max(OutboxEvent.seq)))
        done = await session.scalar(select(FiguresCheckpoint.last_seq))
    return (last or 0) > (done or 0)


async def do_fold_all(db: Database, tenant_id: uuid.UUID, *, batch: int = BATCH) -> int:
    """Fold until the tenant's checkpoint reaches the end of its stream."""
    if not await _behind(db, tenant_id):
        return 0
    total = 0
    while True:
        read = await do_fold_pending(db, tenant_id, batch=batch)
        total += read
        if read < batch:  # the end of the stream: no second transaction to find nothing
            return total


# ---------------------------------------------------------------------- rebuild


@dataclass
class RebuildReport:
    """The outcome of recomputing a tenant's figures from its events."""

    tenant_id: uuid.UUID
    last_seq: int
    events: int
    rows: dict[str, int] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def equal(self) -> bool:
        return not self.differences


async def _refold(
    session: AsyncSession, upto: int, targets: dict[uuid.UUID | None, QueueTargets]
) -> tuple[Fold, int]:
    fold = Fold(targets=_lookup(targets))
    position, count = 0, 0
    while position < upto:
        last, events = await _events_after(session, position, 5000, upto)
        if last == position:
            break
        for event in events:
            fold.apply(event)
        count += len(events)
        position = last
    return fold, count


async def _stored(
    session: AsyncSession, tenant_id: uuid.UUID, aggregate: Aggregate
) -> dict[tuple[Any, ...], Measures]:
    table = aggregate.table
    names = (*aggregate.sums, *aggregate.maxes)
    found: dict[tuple[Any, ...], Measures] = {}
    statement = select(table).where(table.c.tenant_id == tenant_id)
    for row in (await session.execute(statement)).mappings():
        found[tuple(row[n] for n in aggregate.key)] = {name: int(row[name]) for name in names}
    return found


def _compare(
    label: str,
    expected: dict[Any, Measures],
    stored: dict[tuple[Any, ...], Measures],
    names: tuple[str, ...],
    out: list[str],
) -> None:
    full = {key: {n: int(m.get(n, 0)) for n in names} for key, m in expected.items()}
    for key in sorted(set(full) | set(stored), key=repr):
        if full.get(key) != stored.get(key):
            out.append(f"{label} {key}: rebuilt {full.get(key)} stored {stored.get(key)}")


async def do_rebuild(db: Database, tenant_id: uuid.UUID, *, apply: bool = False) -> RebuildReport:
    """Recompute the tenant's figures from every event folded so far and compare them with
    the maintained rows; with ``apply`` replace the rows (and records) by the rebuilt ones.

    Runs under the checkpoint lock, so the projector waits meanwhile.
    """
    async with db.scoped(tenant_id) as session, session.begin():
        checkpoint = await _checkpoint(session, tenant_id)
        fold, count = await _refold(session, checkpoint.last_seq, await queue_targets(session))
        report = RebuildReport(tenant_id, checkpoint.last_seq, count)
        calendars = Calendars(await tenant_timezone(session, tenant_id))
        base = _base_rows(tenant_id, fold, calendars)
        for aggregate in AGGREGATES:
            names = (*aggregate.sums, *aggregate.maxes)
            expected = {
                tuple(row[n] for n in aggregate.key): {n: int(row[n]) for n in names}
                for row in rows_for(aggregate, base)
            }
            stored = await _stored(session, tenant_id, aggregate)
            report.rows[aggregate.label] = len(stored)
            _compare(aggregate.label, expected, stored, names, report.differences)
        if apply and report.differences:
            await _replace(session, tenant_id, fold)
            # A batch planned before this replacement read records it replaced: a new
            # version of the checkpoint makes the projector plan again (do_fold_pending).
            checkpoint.updated_at = datetime.now(UTC)
            report.applied = True
        return report


async def _replace(session: AsyncSession, tenant_id: uuid.UUID, fold: Fold) -> None:
    for aggregate in AGGREGATES:
        table = aggregate.table
        await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    for model in (FiguresContact, FiguresAgent):
        await session.execute(delete(model))
    timezone = await tenant_timezone(session, tenant_id)
    fold.touched_contacts = set(fold.contacts)
    fold.touched_agents = set(fold.agents)
    _write_records(session, tenant_id, fold, {}, {}, timezone)
    await _add_measures(session, tenant_id, fold, Calendars(timezone))


# --------------------------------------------------------------- background loop


RETRY_MAX_S = 30.0
"""The longest pause between passes while they keep failing (doubling from ``poll_s``)."""


class FiguresProjector:
    """Runs :func:`do_fold_pending` for every tenant, every ``poll_s`` seconds (each pass
    folds everything numbered since the last one: at 50 contacts/s, ~60 events per pass)."""

    def __init__(self, db: Database, *, poll_s: float = 0.25, batch: int = BATCH) -> None:
        self.db = db
        self.poll_s = poll_s
        self.batch = batch
        self.folded = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def kick(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="figures-projector")

    async def stop(self) -> None:
        await stop_tasks([self._task])
        self._task = None

    async def run_once(self) -> int:
        # One statement (no snapshot): a tenant created a moment ago is folded at once.
        async with self.db.system(readonly=True, snapshot=False) as session:
            tenants = (await session.scalars(select(Tenant.id))).all()
        read = 0
        for tenant_id in tenants:
            read += await do_fold_all(self.db, tenant_id, batch=self.batch)
        self.folded += read
        return read

    async def _run(self) -> None:
        failures = 0  # passes failed in a row (the database down, say)
        while True:
            try:
                await self.run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.exception("figures projector pass failed; retrying")
                else:  # the traceback once; then a line a try, the tries further apart
                    log.error("figures projector pass failed %d times in a row: %r", failures, exc)
            pause = min(self.poll_s * 2**failures, RETRY_MAX_S) if failures else self.poll_s
            await wait_event(self._wake, pause)
            self._wake.clear()


__all__ = [
    "AgentRecord",
    "ContactRecord",
    "FiguresProjector",
    "RebuildReport",
    "do_fold_all",
    "do_fold_pending",
    "do_rebuild",
]
