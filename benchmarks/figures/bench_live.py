"""Live figures: how long from an event's commit until the figures include it.

Run: ``python benchmarks/figures/bench_live.py --profile sqlite`` (or ``postgres``).

One process runs what ``tsunagi serve`` runs for figures: the outbox relay (memory bus)
and the :class:`FiguresProjector` (default poll 0.25 s). A load generator creates contacts
in a queue and abandons each one 0.1 s later, at ``--events-per-s`` events per second in
all (each contact is three events: created, queued, abandoned). For every abandon it
records the commit time; one watcher polls (every 5 ms, read-only, one query for all
pending contacts) until each contact's figures record says ``abandoned`` — written in
the same transaction as the interval rows, so that is the moment a report shows it.
Reported: p50/p95/p99/max latency in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from tsunagi.actions.accounts import do_create_tenant
from tsunagi.actions.figures.projector import FiguresProjector
from tsunagi.actions.routing.contacts import NewContact, do_abandon_contact, do_create_contact
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContact
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"


class Watcher:
    """One poller for all abandoned contacts not yet seen in the figures (a single query
    every 5 ms, so the measuring does not load the database more than the load itself)."""

    def __init__(self, db: Database, tenant: uuid.UUID) -> None:
        self.db = db
        self.tenant = tenant
        self.pending: dict[uuid.UUID, float] = {}
        self.latencies: list[float] = []

    async def run(self) -> None:
        while True:
            if self.pending:
                async with self.db.scoped(self.tenant, readonly=True) as session:
                    found = (
                        await session.scalars(
                            select(FiguresContact.contact_id).where(
                                FiguresContact.contact_id.in_(list(self.pending)),
                                FiguresContact.state == "abandoned",
                            )
                        )
                    ).all()
                now = time.perf_counter()
                for contact_id in found:
                    self.latencies.append(now - self.pending.pop(contact_id))
            await asyncio.sleep(0.005)


async def one(db: Database, tenant: uuid.UUID, queue: uuid.UUID, watcher: Watcher) -> None:
    created = await do_create_contact(
        db, tenant_id=tenant, new=NewContact(channel="voice", queue_id=queue), actor="bench"
    )
    await asyncio.sleep(0.1)
    await do_abandon_contact(db, tenant_id=tenant, contact_id=created.contact_id, actor="bench")
    watcher.pending[created.contact_id] = time.perf_counter()


async def run(url: str, args: argparse.Namespace) -> list[float]:
    await upgrade(url)
    db = Database(url)
    bus = MemoryBus()
    await bus.start()
    relay = OutboxRelay(db, bus, poll_interval_s=0.05)
    projector = FiguresProjector(db, poll_s=args.poll_s)
    tenant = await do_create_tenant(db, slug="live", name="Live")
    async with db.scoped(tenant) as session, session.begin():
        queue = Queue(code="q", name_ja="q", name_en="q", created_at=datetime.now(UTC))
        session.add(queue)
    await relay.start()
    await projector.start()
    watcher = Watcher(db, tenant)
    watching = asyncio.create_task(watcher.run())
    try:
        gap = 3 / args.events_per_s
        tasks = []
        for _ in range(args.contacts):
            tasks.append(asyncio.create_task(one(db, tenant, queue.id, watcher)))
            await asyncio.sleep(gap)
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 30
        while watcher.pending and time.perf_counter() < deadline:  # noqa: ASYNC110 - a bounded drain
            await asyncio.sleep(0.05)
        assert not watcher.pending, f"{len(watcher.pending)} contacts never reached the figures"
        return watcher.latencies
    finally:
        watching.cancel()
        await projector.stop()
        await relay.stop()
        await bus.stop()
        await db.dispose()


async def main(args: argparse.Namespace) -> None:
    scratch = None
    if args.profile == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='figures-live-')) / 'l.db'}"
    else:
        import asyncpg

        scratch = f"figures_live_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        await admin.close()
        url = PG + scratch
    try:
        latencies = sorted(ms * 1000 for ms in await run(url, args))
    finally:
        if scratch is not None:
            import asyncpg

            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')
            await admin.close()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    print(
        f"profile {args.profile}: {len(latencies)} contacts at {args.events_per_s} events/s, "
        f"projector poll {args.poll_s} s — commit → figures: "
        f"p50 {statistics.median(latencies):.0f} ms, "
        f"p95 {pct(0.95):.0f} ms, p99 {pct(0.99):.0f} ms, max {latencies[-1]:.0f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events-per-s", type=float, default=50)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--poll-s", type=float, default=0.25)
    sys.exit(asyncio.run(main(parser.parse_args())))
