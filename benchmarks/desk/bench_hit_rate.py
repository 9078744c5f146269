"""How long the suggestion hit rate takes over a week of ``contact.closed`` events.

    python benchmarks/desk/bench_hit_rate.py --events 200000
    python benchmarks/desk/bench_hit_rate.py --events 200000 --database-url postgresql+asyncpg://postgres@127.0.0.1/DB

The database (a fresh SQLite file by default; give an empty PostgreSQL database otherwise)
is migrated, one tenant is made and ``--events`` close events over seven days are written
to its outbox, ``--share`` of them with suggested categories (as the desk sends them). Then
``suggestion_hit_rate`` is timed over the week (the supervisor's default) five times.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from tsunagi.actions import accounts
from tsunagi.actions.suggestion_hits import suggestion_hit_rate
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.domain.events import encode_event
from tsunagi.domain.permissions import Principal, Role
from tsunagi.routing.events import ContactClosedEvent

CATEGORIES = [f"cat-{n:02d}" for n in range(25)]


async def main(url: str, events: int, share: float) -> None:
    await upgrade(url)
    db = Database(url)
    try:
        tenant = await accounts.do_create_tenant(db, slug=f"b{uuid.uuid4().hex[:8]}", name="B")
        now = datetime.now(UTC)
        rng = random.Random(4)
        started = time.perf_counter()
        batch: list[dict[str, object]] = []
        for n in range(events):
            at = now - timedelta(seconds=rng.uniform(0, 7 * 86400))
            chosen = rng.choice(CATEGORIES)
            suggested: list[str] = []
            if rng.random() < share:
                suggested = rng.sample(CATEGORIES, 3)
                if rng.random() < 0.6:
                    suggested[rng.randrange(3)] = chosen
            event = ContactClosedEvent(
                tenant_id=tenant,
                occurred_at=at,
                contact_id=uuid.uuid4(),
                version=6,
                state="closed",
                channel="voice",
                category=chosen,
                sub_reason=None,
                suggested_categories=list(dict.fromkeys(suggested)),
            )
            batch.append(
                {
                    "tenant_id": tenant,
                    "type": "contact.closed",
                    "payload": encode_event(event).decode(),
                    "occurred_at": at,
                    "seq": n + 1,
                }
            )
            if len(batch) == 5000 or n == events - 1:
                async with db.scoped(tenant) as session, session.begin():
                    await session.execute(insert(OutboxEvent), batch)
                batch = []
        print(f"wrote {events} close events in {time.perf_counter() - started:.1f} s")
        principal = Principal(
            user_id=uuid.uuid4(), tenant_id=tenant, roles=frozenset({Role.SUPERVISOR})
        )
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            rate = await suggestion_hit_rate(
                db, principal=principal, since=now - timedelta(days=7), until=now
            )
            times.append(time.perf_counter() - t0)
        print(
            f"hit rate over 7 days: count {rate.total}, top-1 {rate.top1_rate:.3f}, "
            f"top-3 {rate.top3_rate:.3f}; median {statistics.median(times) * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms ({url.split('+')[0]})"
        )
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--share", type=float, default=0.7, help="share with suggestions")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        target = args.database_url
    else:
        folder = Path(tempfile.mkdtemp(prefix="hit-rate-"))
        target = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    asyncio.run(main(target, args.events, args.share))
