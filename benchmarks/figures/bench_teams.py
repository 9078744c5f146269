"""Figures by team against figures by communicator, on SQLite and PostgreSQL.

Run: ``python benchmarks/figures/bench_teams.py --profile sqlite`` (or ``postgres``: a
scratch database on 127.0.0.1:5432 is created, migrated and dropped).

Data: one tenant, 100 communicators in 10 teams of 10, one day row each per day of 2025
(36,500 ``figures_agent_days`` rows, random but consistent measures). Each report is
``actions.figures.reports.report`` as the API calls it; best and median of 5 runs after a
warm-up. Also checks that the teams add up to the whole center.
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

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).parent))
from bench_report import PG, ZONE, upgrade

from tsunagi.actions.accounts import do_create_tenant
from tsunagi.actions.figures import reports
from tsunagi.actions.teams import do_create_team
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import NIL, FiguresAgentDay
from tsunagi.adapters.storage.models import User

YEAR = (date(2025, 1, 1), date(2025, 12, 31))
CASES = (
    ("by communicator, year total", ("agent",), "total"),
    ("by team, year total", ("team",), "total"),
    ("by communicator, by month", ("agent",), "month"),
    ("by team, by month", ("team",), "month"),
)


async def load(db: Database, tenant: uuid.UUID) -> int:
    now = datetime.now(UTC)
    users = []
    async with db.scoped(tenant) as session, session.begin():
        for i in range(100):
            user = User(
                username=f"u{i}",
                display_name=f"U{i}",
                password_hash="x",
                roles=["communicator"],
                created_at=now,
                password_changed_at=now,
            )
            session.add(user)
            await session.flush()
            users.append(user.id)
    for t in range(10):
        await do_create_team(
            db,
            tenant_id=tenant,
            name=f"T{t}",
            members=users[t * 10 : t * 10 + 10],
            actor_user_id=None,
        )
    rng = random.Random(1)
    rows = []
    for offset in range(365):
        day = YEAR[0] + timedelta(days=offset)
        for user_id in users:
            rows.append(
                {
                    "tenant_id": tenant,
                    "local_day": day,
                    "local_week": day - timedelta(days=day.weekday()),
                    "local_month": day.replace(day=1),
                    "agent_id": user_id,
                    "queue_id": NIL,
                    "channel": "voice",
                    "category": "",
                    "handled": rng.randint(0, 40),
                    "talk_ms": rng.randint(0, 9_000_000),
                    "acw_ms": rng.randint(0, 900_000),
                }
            )
    for begin in range(0, len(rows), 20_000):
        async with db.scoped(tenant) as session, session.begin():
            await session.execute(insert(FiguresAgentDay), rows[begin : begin + 20_000])
    return len(rows)


async def run(url: str, profile: str) -> None:
    await upgrade(url)
    db = Database(url)
    tenant = await do_create_tenant(db, slug="bench", name="Bench", timezone=ZONE)
    print(f"profile {profile}; {await load(db, tenant)} day rows")
    print("| report | rows out | best ms | median ms |")
    print("|---|---:|---:|---:|")
    for name, by, grain in CASES:
        query = reports.ReportQuery(
            day_from=YEAR[0], day_to=YEAR[1], table="agents", grain=grain, by=by
        )
        found = await reports.report(db, tenant, query)
        timings = []
        for _ in range(5):
            begin = time.perf_counter()
            found = await reports.report(db, tenant, query)
            timings.append(time.perf_counter() - begin)
        best, median = min(timings) * 1000, statistics.median(timings) * 1000
        print(f"| {name} | {len(found)} | {best:.0f} | {median:.0f} |")
    teams = await reports.report(
        db, tenant, reports.ReportQuery(YEAR[0], YEAR[1], "agents", "total", ("team",))
    )
    (whole,) = await reports.report(
        db, tenant, reports.ReportQuery(YEAR[0], YEAR[1], "agents", "total")
    )
    print(
        "teams add up to the center:",
        sum(r.measures["handled"] for r in teams) == whole.measures["handled"],
    )
    await db.dispose()


async def main(profile: str) -> None:
    if profile == "sqlite":
        await run(f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'teams.sqlite3'}", profile)
        return
    import asyncpg

    scratch = f"teams_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await admin.execute(f'CREATE DATABASE "{scratch}"')
    await admin.close()
    try:
        await run(PG + scratch, profile)
    finally:
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("sqlite", "postgres"), default="sqlite")
    asyncio.run(main(parser.parse_args().profile))
