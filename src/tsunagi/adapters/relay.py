"""The outbox relay: numbers committed events per tenant and publishes them.

Exactly one relay is active at a time: on PostgreSQL the leader holds a session-level
advisory lock on its own connection (released by the server if the process dies); on
SQLite there is one process. Each pass is **one transaction** followed by the publishing:

1. *sequence*: give every unnumbered outbox row (in write order, up to :data:`BATCH`)
   the next number of its tenant's stream, and mark the rows published by the previous
   pass as published;
2. *publish*: after the commit, send the rows just numbered (already in hand, not read
   again) to the bus in order.

A crash between publishing and the next pass's mark re-publishes them when a relay
(this one after an error, or the next leader) starts: delivery is at-least-once and
subscribers drop numbers they have already seen.

Passes are batched: a kick (a local commit wrote events) wakes the relay, but a pass
starts at most every ``min_interval_s`` (50 ms), so under load one pass numbers and
publishes the events of many transactions (at 50 contacts/s, ~250 commits/s: one pass
per ~12 events instead of one or two per commit). The routing engine does not wait for
the relay on its own process's changes (hints, ADR 0202/0206).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, func, select, text, update
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
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        poll_interval_s: float = 0.25,
        min_interval_s: float = 0.05,
    ) -> None:
        self._db = db
        self._bus = bus
        self._poll_interval_s = poll_interval_s
        self._min_interval_s = min(min_interval_s, poll_interval_s)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leader_connection: AsyncConnection | None = None
        # Rows this relay published whose ``published_at`` the next pass sets.
        self._to_mark: list[int] = []
        # The next number of each tenant's stream, known while this relay leads.
        self._next_seq: dict[UUID, int] = {}
        # Numbered rows a relay may have left unpublished (a crash): published first.
        self._recover = True
        self._passing = asyncio.Lock()
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
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                if await self._is_leader():
                    while await self.run_once() >= BATCH:
                        pass
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                await self._drop_leadership()
            # Batching: whatever commits during the pause is numbered by the next pass.
            await asyncio.sleep(max(0.0, started + self._min_interval_s - loop.time()))
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
        self._forget()
        if self._leader_connection is not None:
            # Invalidated, not returned to the pool: a pooled connection would keep the
            # session's advisory lock, and no relay could lead until the pool is disposed.
            with contextlib.suppress(Exception):
                await self._leader_connection.invalidate()
            with contextlib.suppress(Exception):
                await self._leader_connection.close()
            self._leader_connection = None

    def _forget(self) -> None:
        """Drop what this relay assumed while leading (after an error or resigning)."""
        self._next_seq.clear()
        self._to_mark.clear()
        self._recover = True

    async def run_once(self) -> int:
        """One pass: number and publish the next unnumbered rows (and, first after a start
        or an error, re-publish rows left numbered but unpublished); returns how many
        events were published."""
        async with self._passing:  # one pass at a time (a caller may run one meanwhile)
            published = 0
            if self._recover:
                published = await self._publish_left_over()
                self._recover = False
            rows = await self._sequence()
            if rows:
                await self._bus.publish_many(_messages(rows))
            self._to_mark.extend(row.id for row in rows)
            return published + len(rows)

    async def _sequence(self) -> list[_Numbered]:
        now = datetime.now(UTC)
        async with self._db.system() as session, session.begin():
            marks, self._to_mark = self._to_mark, []
            if marks:  # (lost with an error: the left-over pass publishes and marks them)
                await session.execute(_MARK, {"ids": marks, "now": now})
            found = (await session.execute(_UNNUMBERED, {"limit": BATCH})).all()
            if not found:
                return []
            unknown = {row.tenant_id for row in found} - self._next_seq.keys()
            if unknown:
                result = await session.execute(
                    select(OutboxEvent.tenant_id, func.max(OutboxEvent.seq))
                    .where(OutboxEvent.tenant_id.in_(unknown))
                    .group_by(OutboxEvent.tenant_id)
                )
                known = {tenant_id: seq or 0 for tenant_id, seq in result}
                for tenant_id in unknown:
                    self._next_seq[tenant_id] = known.get(tenant_id, 0) + 1
            numbered: list[_Numbered] = []
            for row in found:
                seq = self._next_seq[row.tenant_id]
                self._next_seq[row.tenant_id] = seq + 1
                numbered.append(_Numbered(row.id, row.tenant_id, seq, row.event_id, row.payload))
            try:
                # One statement for the batch (a unique (tenant, seq) refuses a number
                # given twice, should two relays ever believe they lead).
                await session.execute(_NUMBER, [{"b_id": r.id, "b_seq": r.seq} for r in numbered])
            except Exception:
                self._next_seq.clear()
                raise
        return numbered

    async def _publish_left_over(self) -> int:
        """Publish every numbered row not marked published, in order, and mark them."""
        total = 0
        while True:
            async with self._db.system() as session, session.begin():
                rows = (await session.execute(_LEFT_OVER, {"limit": BATCH})).all()
                if rows:
                    await self._bus.publish_many(_messages(rows))
                    await session.execute(
                        _MARK, {"ids": [row.id for row in rows], "now": datetime.now(UTC)}
                    )
            total += len(rows)
            if len(rows) < BATCH:
                return total


def _messages(rows: Sequence[Any]) -> list[tuple[str, bytes]]:
    """The bus messages of numbered rows (with ``tenant_id``, ``seq``, ``event_id`` and
    ``payload``), in order."""
    return [
        (tenant_channel(row.tenant_id), envelope(row.seq, row.event_id, row.payload))
        for row in rows
    ]


class _Numbered(NamedTuple):
    id: int
    tenant_id: UUID
    seq: int
    event_id: UUID
    payload: str


# Built once (a system session adds no criteria): no new statement or cache key per pass.
_OUTBOX = cast(Table, OutboxEvent.__table__)
_UNNUMBERED = (
    select(OutboxEvent.id, OutboxEvent.tenant_id, OutboxEvent.event_id, OutboxEvent.payload)
    .where(OutboxEvent.seq.is_(None))
    .order_by(OutboxEvent.id)
    .limit(bindparam("limit"))
)
_LEFT_OVER = (
    select(
        OutboxEvent.id,
        OutboxEvent.tenant_id,
        OutboxEvent.seq,
        OutboxEvent.event_id,
        OutboxEvent.payload,
    )
    .where(OutboxEvent.published_at.is_(None), OutboxEvent.seq.is_not(None))
    .order_by(OutboxEvent.id)
    .limit(bindparam("limit"))
)
_NUMBER = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"), _OUTBOX.c.seq.is_(None))
    .values(seq=bindparam("b_seq"))
)
_MARK = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
)
