"""The outbox relay: numbers committed events per tenant and publishes them.

Exactly one relay is active at a time: on PostgreSQL the leader holds a session-level
advisory lock on its own connection (released by the server if the process dies); on
SQLite there is one process. Each pass has two steps:

1. *sequence*: in one transaction, give every unnumbered outbox row (in write order)
   the next number of its tenant's stream;
2. *publish*: send numbered but unpublished rows to the bus in order, then mark them.

A crash between publishing and marking re-publishes on the next pass: delivery is
at-least-once and subscribers drop numbers they have already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.aio import stop_tasks, wait_event
from tsunagi.ports.bus import EventBus

log = logging.getLogger(__name__)

RELAY_LOCK_KEY = 7_415_263_001
BATCH = 500


def tenant_channel(tenant_id: UUID) -> str:
    return f"events:{tenant_id}"


def envelope(seq: int, event_id: UUID, payload: str) -> bytes:
    """The wire form of a published event: its stream number, id and the event itself."""
    return f'{{"seq":{seq},"event_id":"{event_id}","event":{payload}}}'.encode()


class OutboxRelay:
    def __init__(self, db: Database, bus: EventBus, *, poll_interval_s: float = 0.25) -> None:
        self._db = db
        self._bus = bus
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leader_connection: AsyncConnection | None = None
        db.on_outbox_commit(self.kick)

    def kick(self) -> None:
        """Wake the relay now (called after a local transaction wrote events)."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await stop_tasks([self._task])
        self._task = None
        await self._drop_leadership()

    async def _run(self) -> None:
        while True:
            try:
                if await self._is_leader():
                    while await self.run_once() > 0:
                        pass
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                await self._drop_leadership()
            await wait_event(self._wake, self._poll_interval_s)
            self._wake.clear()

    async def _is_leader(self) -> bool:
        if self._db.is_sqlite:
            return True
        if self._leader_connection is not None:
            return True
        connection = await self._db.engine.connect()
        got = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK_KEY}
        )
        await connection.commit()
        if got:
            self._leader_connection = connection
            return True
        await connection.close()
        return False

    async def _drop_leadership(self) -> None:
        if self._leader_connection is not None:
            # Invalidated, not returned to the pool: a pooled connection would keep the
            # session's advisory lock, and no relay could lead until the pool is disposed.
            with contextlib.suppress(Exception):
                await self._leader_connection.invalidate()
            with contextlib.suppress(Exception):
                await self._leader_connection.close()
            self._leader_connection = None

    async def run_once(self) -> int:
        """One sequence + publish pass; returns how many events were published."""
        await self._sequence()
        return await self._publish()

    async def _sequence(self) -> None:
        async with self._db.system() as session, session.begin():
            rows = (
                await session.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.seq.is_(None))
                    .order_by(OutboxEvent.id)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                return
            tenants = {row.tenant_id for row in rows}
            result = await session.execute(
                select(OutboxEvent.tenant_id, func.max(OutboxEvent.seq))
                .where(OutboxEvent.tenant_id.in_(tenants))
                .group_by(OutboxEvent.tenant_id)
            )
            next_seq: dict[UUID, int] = defaultdict(int)
            next_seq.update({tenant_id: seq or 0 for tenant_id, seq in result})
            for row in rows:
                next_seq[row.tenant_id] += 1
                row.seq = next_seq[row.tenant_id]

    async def _publish(self) -> int:
        async with self._db.system() as session, session.begin():
            rows = (
                await session.execute(
                    select(
                        OutboxEvent.id,
                        OutboxEvent.tenant_id,
                        OutboxEvent.seq,
                        OutboxEvent.event_id,
                        OutboxEvent.payload,
                    )
                    .where(OutboxEvent.published_at.is_(None), OutboxEvent.seq.is_not(None))
                    .order_by(OutboxEvent.id)
                    .limit(BATCH)
                )
            ).all()
            for row in rows:
                assert row.seq is not None
                await self._bus.publish(
                    tenant_channel(row.tenant_id), envelope(row.seq, row.event_id, row.payload)
                )
            if rows:
                await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_([row.id for row in rows]))
                    .values(published_at=datetime.now(UTC))
                )
        return len(rows)
