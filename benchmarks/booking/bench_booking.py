"""Booking: how long a day's availability takes with a forecast from history, and how many
bookings a second one queue takes when they all race for it.

Run: ``python benchmarks/booking/bench_booking.py --profile sqlite`` (or ``postgres``).

Seeds a queue open 09:00–18:00 with ``--weeks`` weeks of 15-minute figures history (every
interval of every day), then times ``availability()`` for one day (figures read + WFM
profile forecast + Erlang C per slot + bookings count) ``--runs`` times, and books
``--bookings`` callbacks concurrently (``--concurrency`` at a time) into slots with plenty of seats.
Reported: p50/p95 availability in ms; bookings per second and p50/p95 booking latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tsunagi.actions import booking as actions
from tsunagi.actions import booking_slots
from tsunagi.actions.accounts import do_create_tenant
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue
from tsunagi.channels.booking import BookingForm

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
HOURS = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def database(profile: str, workdir: Path) -> tuple[Database, str | None]:
    if profile == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
        await upgrade(url)
        return Database(url), None
    import asyncpg

    name = f"tsunagi_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await upgrade(PG + name)
    return Database(PG + name), name


async def seed(db: Database, weeks: int) -> tuple[booking_slots.PublicTenant, uuid.UUID]:
    tenant_id = await do_create_tenant(db, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
    async with db.scoped(tenant_id) as session, session.begin():
        queue = Queue(
            code="support",
            name_ja="サポート",
            name_en="Support",
            config={
                "routing": {"business_hours": HOURS},
                "booking": {"enabled": True, "planned_agents": 40, "min_notice_minutes": 0},
            },
            created_at=datetime.now(UTC),
        )
        session.add(queue)
    today = datetime.now(UTC).date()
    rows = []
    for back in range(1, weeks * 7 + 1):
        day = today - timedelta(days=back)
        for quarter in range(36):  # 09:00-18:00 Tokyo = 00:00-09:00 UTC
            start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                minutes=15 * quarter
            )
            calls = 20 + (quarter % 12) * 3
            rows.append(
                FiguresContactInterval(
                    interval_start=start,
                    local_day=day,
                    local_week=day,
                    local_month=day.replace(day=1),
                    queue_id=queue.id,
                    channel="voice",
                    category="",
                    offered=calls,
                    answered=calls,
                    talk_ms=calls * 200_000,
                    acw_ms=calls * 40_000,
                )
            )
    async with db.scoped(tenant_id) as session, session.begin():
        session.add_all(rows)
    found = await booking_slots.find_public_tenant(db, (await _slug(db, tenant_id)))
    assert found is not None
    return found, queue.id


async def _slug(db: Database, tenant_id: uuid.UUID) -> str:
    from tsunagi.actions.accounts import get_tenant

    return (await get_tenant(db, tenant_id)).slug


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        db, pg_name = await database(args.profile, workdir)
        keyring = KeyRing(load_or_create_master_key(workdir / "master.key", create=True))
        try:
            tenant, queue_id = await seed(db, args.weeks)
            queue = await booking_slots.get_booking_queue(db, tenant.id, queue_id)
            day: date = datetime.now(UTC).date() + timedelta(days=2)
            timings = []
            slots = []
            for _ in range(args.runs):
                started = time.perf_counter()
                slots = await booking_slots.availability(
                    db, tenant, queue, day, now=datetime.now(UTC)
                )
                timings.append((time.perf_counter() - started) * 1000)
            seats = [s.seats for s in slots]
            print(
                f"availability ({args.profile}, {args.weeks} weeks history, {len(slots)} slots, "
                f"seats {min(seats)}-{max(seats)}): p50 {statistics.median(timings):.1f} ms, "
                f"p95 {pct(timings, 0.95):.1f} ms"
            )
            open_slots = [s.start for s in slots if s.seats > 0]
            latencies: list[float] = []
            gate = asyncio.Semaphore(args.concurrency)

            async def book(n: int) -> None:
                form = BookingForm(
                    queue_id,
                    open_slots[n % len(open_slots)],
                    f"C{n}",
                    f"090{n:08d}",
                    None,
                    None,
                    None,
                    "ja",
                )
                async with gate:
                    started = time.perf_counter()
                    await actions.do_book_callback(db, keyring, tenant=tenant, form=form)
                    latencies.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            await asyncio.gather(*(book(n) for n in range(args.bookings)))
            elapsed = time.perf_counter() - started
            print(
                f"bookings ({args.profile}, {args.concurrency} concurrent, one queue): "
                f"{args.bookings / elapsed:.0f}/s, p50 {statistics.median(latencies):.0f} ms, "
                f"p95 {pct(latencies, 0.95):.0f} ms"
            )
        finally:
            await db.dispose()
            if pg_name:
                import asyncpg

                admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
                await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
                await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
