"""Figures reports over a year of 15-minute intervals, on SQLite and PostgreSQL.

Run: ``python benchmarks/figures/bench_report.py --profile sqlite`` (or ``postgres``: a
scratch database on 127.0.0.1:5432 is created, migrated and dropped).

Data: one tenant (Asia/Tokyo) with ``--queues`` queues (default 20) open 09:00-18:00
every day of 2025 (36 intervals a day, 13,140 a year). Each (interval, queue) has rows for
``--per`` categories (default 5) drawn from 25, so the contact table
holds ``13,140 × queues × categories`` rows (1,314,000 by default) — the shape a center of
that size really produces, since a row exists only where a contact ended. January also has
``--agents`` communicators (default 100) with handling rows and 4 state rows per interval
they work (8 of the 9 opening hours). Rows are written straight into the aggregate
tables, 15-minute and day rows (the projector's output shape); measures are random but
consistent (answered ≤ offered).

Timings: each report is ``actions.figures.reports.report`` as the API calls it (a
read-only tenant session, the grouped SQL, figures computed in Python), best and median of
``--repeat`` runs after one warm-up. Also the check that the month totals equal the
totals over 15-minute rows (sums over grains reconcile; month reports read the day rows,
15-minute reports the interval rows, so this also checks the two tables agree).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from tsunagi.actions.accounts import do_create_tenant
from tsunagi.actions.figures import reports
from tsunagi.actions.figures.store import AGENT_DIMS, CONTACT_DIMS, STATE_DIMS, by_day
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import (
    FiguresAgentDay,
    FiguresAgentInterval,
    FiguresAgentState,
    FiguresAgentStateDay,
    FiguresContactDay,
    FiguresContactInterval,
)
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.figures.definitions import CONTACT_MAXES
from tsunagi.figures.intervals import calendar_of

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
ZONE = "Asia/Tokyo"
STATES = ("available", "on_contact", "after_call_work", "not_ready")


def intervals(year: int) -> list[datetime]:
    """Every 15-minute interval start from 09:00 to 17:45 local time, in UTC."""
    found = []
    day = date(year, 1, 1)
    while day.year == year:
        start = datetime(day.year, day.month, day.day, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
        found += [start + timedelta(minutes=15 * i) for i in range(36)]
        day += timedelta(days=1)
    return found


def contact_rows(
    tenant: uuid.UUID, starts: list[datetime], queues: list[uuid.UUID], per: int, seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    categories = [f"cat{i:02d}" for i in range(25)]
    rows = []
    for start in starts:
        calendar = calendar_of(start, ZONE)
        for queue in queues:
            for category in rng.sample(categories, per):
                offered = rng.randint(1, 6)
                answered = rng.randint(0, offered)
                rows.append(
                    {
                        "tenant_id": tenant,
                        "interval_start": start,
                        "local_day": calendar.day,
                        "local_week": calendar.week,
                        "local_month": calendar.month,
                        "queue_id": queue,
                        "channel": "voice",
                        "category": category,
                        "offered": offered,
                        "answered": answered,
                        "abandoned": offered - answered,
                        "short_abandoned": 0,
                        "answered_in_sl": rng.randint(0, answered),
                        "unqueued": 0,
                        "wait_answered_ms": answered * rng.randint(1_000, 60_000),
                        "wait_abandoned_ms": (offered - answered) * rng.randint(1_000, 90_000),
                        "wait_max_ms": rng.randint(1_000, 300_000),
                        "talk_ms": answered * rng.randint(60_000, 600_000),
                        "hold_ms": answered * rng.randint(0, 60_000),
                        "holds": rng.randint(0, answered),
                        "acw_ms": answered * rng.randint(10_000, 120_000),
                        "transfers": rng.randint(0, 1),
                        "escalations": 0,
                        "fcr_yes": answered // 2,
                        "fcr_no": answered - answered // 2,
                        "callbacks": 0,
                        "callbacks_kept": 0,
                        "callbacks_missed": 0,
                    }
                )
    return rows


def state_rows(
    tenant: uuid.UUID, starts: list[datetime], agents: list[uuid.UUID], seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for start in starts:
        calendar = calendar_of(start, ZONE)
        hour = start.hour
        for index, agent in enumerate(agents):
            if (hour + index) % 9 >= 8:  # each agent works 8 of the 9 opening hours
                continue
            split = sorted(rng.randint(0, 900_000) for _ in range(3))
            parts = [split[0], split[1] - split[0], split[2] - split[1], 900_000 - split[2]]
            for state, ms in zip(STATES, parts, strict=True):
                rows.append(
                    {
                        "tenant_id": tenant,
                        "interval_start": start,
                        "local_day": calendar.day,
                        "local_week": calendar.week,
                        "local_month": calendar.month,
                        "agent_id": agent,
                        "state": state,
                        "reason": "",
                        "state_ms": ms,
                    }
                )
    return rows


async def load(db: Database, tenant: uuid.UUID, args: argparse.Namespace) -> dict[str, int]:
    starts = intervals(2025)
    queues = [uuid.uuid4() for _ in range(args.queues)]
    agents = [uuid.uuid4() for _ in range(args.agents)]
    counts: dict[str, int] = {}
    contacts = contact_rows(tenant, starts, queues, args.per, 1)
    states = state_rows(tenant, starts[: 36 * 31], agents, 2)
    for model, rows in (
        (FiguresContactInterval, contacts),
        (FiguresContactDay, by_day(contacts, CONTACT_DIMS, CONTACT_MAXES)),
        (FiguresAgentState, states),
        (FiguresAgentStateDay, by_day(states, STATE_DIMS, ())),
    ):
        counts[model.__tablename__] = len(rows)
        for begin in range(0, len(rows), 20_000):
            async with db.scoped(tenant) as session, session.begin():
                await session.execute(insert(model), rows[begin : begin + 20_000])
    # A month of per-agent handling rows, enough for the communicator report.
    rng = random.Random(3)
    handling = []
    for start in starts[: 36 * 31]:
        calendar = calendar_of(start, ZONE)
        for agent in agents:
            handling.append(
                {
                    "tenant_id": tenant,
                    "interval_start": start,
                    "local_day": calendar.day,
                    "local_week": calendar.week,
                    "local_month": calendar.month,
                    "agent_id": agent,
                    "queue_id": queues[0],
                    "channel": "voice",
                    "category": "cat00",
                    "handled": rng.randint(0, 3),
                    "talk_ms": rng.randint(0, 600_000),
                    "hold_ms": 0,
                    "holds": 0,
                    "acw_ms": rng.randint(0, 100_000),
                    "transfers_out": 0,
                    "fcr_yes": 1,
                    "fcr_no": 0,
                }
            )
    for model, rows in (
        (FiguresAgentInterval, handling),
        (FiguresAgentDay, by_day(handling, AGENT_DIMS, ())),
    ):
        counts[model.__tablename__] = len(rows)
        for begin in range(0, len(rows), 20_000):
            async with db.scoped(tenant) as session, session.begin():
                await session.execute(insert(model), rows[begin : begin + 20_000])
    return counts


CASES: list[tuple[str, dict[str, Any]]] = [
    ("year by month x queue", {"grain": "month", "by": ("queue",)}),
    ("year by day (total)", {"grain": "day"}),
    ("year by week x category", {"grain": "week", "by": ("category",)}),
    ("year total x queue x category", {"grain": "total", "by": ("queue", "category")}),
    ("one week by 60 min", {"grain": "60", "days": 7}),
    ("one day by 15 min x queue", {"grain": "15", "by": ("queue",), "days": 1}),
    (
        "January communicators (occupancy)",
        {"table": "agents", "grain": "total", "by": ("agent",), "days": 31},
    ),
]


async def bench(
    db: Database, tenant: uuid.UUID, repeat: int
) -> list[tuple[str, int, float, float]]:
    results = []
    for name, spec in CASES:
        days = spec.get("days", 365)
        query = reports.ReportQuery(
            day_from=date(2025, 1, 1),
            day_to=date(2025, 1, 1) + timedelta(days=days - 1),
            table=spec.get("table", "contacts"),
            grain=spec["grain"],
            by=spec.get("by", ()),
        )
        rows = await reports.report(db, tenant, query)  # warm-up
        timings = []
        for _ in range(repeat):
            begin = time.perf_counter()
            rows = await reports.report(db, tenant, query)
            timings.append(time.perf_counter() - begin)
        results.append((name, len(rows), min(timings) * 1000, statistics.median(timings) * 1000))
    return results


async def reconcile(db: Database, tenant: uuid.UUID) -> bool:
    base = {"day_from": date(2025, 1, 1), "day_to": date(2025, 12, 31)}
    months = await reports.report(db, tenant, reports.ReportQuery(**base, grain="month"))
    quarters = await reports.report(db, tenant, reports.ReportQuery(**base, grain="15"))
    total: dict[str, int] = {}
    for row in quarters:
        for key, value in row.measures.items():
            total[key] = (
                max(total.get(key, 0), value) if key == "wait_max_ms" else total.get(key, 0) + value
            )
    by_month: dict[str, int] = {}
    for row in months:
        for key, value in row.measures.items():
            by_month[key] = (
                max(by_month.get(key, 0), value)
                if key == "wait_max_ms"
                else by_month.get(key, 0) + value
            )
    return total == by_month


async def main(args: argparse.Namespace) -> None:
    scratch = None
    if args.profile == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="figures-bench-"))
        url = f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
    else:
        import asyncpg

        scratch = f"figures_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        await admin.close()
        url = PG + scratch
    try:
        await upgrade(url)
        db = Database(url)
        tenant = await do_create_tenant(db, slug="bench", name="Bench", timezone=ZONE)
        began = time.perf_counter()
        counts = await load(db, tenant, args)
        print(
            f"profile {args.profile}; rows {counts}; loaded in {time.perf_counter() - began:.0f} s"
        )
        if args.profile == "postgres":
            async with db.system() as session, session.begin():
                from sqlalchemy import text

                await session.execute(text("ANALYZE"))
        print("| report | rows out | best ms | median ms |")
        print("|---|---:|---:|---:|")
        for name, rows, best, median in await bench(db, tenant, args.repeat):
            print(f"| {name} | {rows} | {best:.1f} | {median:.1f} |")
        print(f"month totals equal the sum of 15-minute rows: {await reconcile(db, tenant)}")
        await db.dispose()
    finally:
        if scratch is not None:
            import asyncpg

            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--per", type=int, default=5, help="categories per interval and queue")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))
