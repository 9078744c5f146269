"""The per-interval × queue table from the aggregates vs a plain GROUP BY over raw contacts.

Run: ``python benchmarks/figures/bench_raw_vs_aggregates.py`` (PostgreSQL; a scratch
database on 127.0.0.1:5432 is created, migrated and dropped).

Data, made in SQL with ``generate_series``: ``--contacts`` ended contacts (default
1,000,000) over 90 days × 36 opening intervals, 20 queues, 25 categories, 90 % answered,
in ``figures_contacts`` (one row per contact with its wait/talk/hold/ACW). The interval and
day aggregates are then filled from those rows by one ``INSERT … SELECT … GROUP BY`` per
table that applies the definitions of ``docs/figures.md`` (not by the projector: folding a
million contacts' events through Python is not what this measures).

Timed (best / median of 5 after a warm-up), the SQL over aggregates alone too:
* **aggregates**: ``reports.report(grain="15", by=("queue",))`` for the 90 days — what the
  API serves;
* **raw**: the same table as one ``GROUP BY interval_start, queue_id`` over
  ``figures_contacts``, computing the same measures;
and the two results are compared number for number.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import date
from typing import Any

from sqlalchemy import text

from tsunagi.actions.accounts import do_create_tenant
from tsunagi.actions.figures import reports
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.figures.intervals import interval_start

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
QUEUES = 20

FILL_CONTACTS = """
INSERT INTO figures_contacts (tenant_id, contact_id, version, state, channel, queue_id,
  created_at, offered_at, answered_at, ended_at, interval_start, local_day, wait_ms,
  talk_ms, hold_ms, holds, acw_ms, callback, transfers, escalations, outcome, category,
  resolved, segments)
SELECT :tenant, gen_random_uuid(), 7, CASE WHEN i % 10 = 0 THEN 'abandoned' ELSE 'closed' END,
  'voice', (CAST(:queues AS uuid[]))[1 + (i / 3240) % :nq], t, t,
  CASE WHEN i % 10 = 0 THEN NULL ELSE t END, t, t,
  (t AT TIME ZONE 'Asia/Tokyo')::date, (i * 7919) % 120000,
  CASE WHEN i % 10 = 0 THEN 0 ELSE 60000 + (i * 104729) % 540000 END,
  CASE WHEN i % 10 = 0 THEN 0 ELSE (i * 1299709) % 60000 END, i % 2,
  CASE WHEN i % 10 = 0 THEN 0 ELSE (i * 15485863) % 120000 END, false, 0, 0,
  CASE WHEN i % 10 = 0 THEN 'abandoned' ELSE 'handled' END,
  'cat' || lpad(((i * 31) % 25)::text, 2, '0'),
  CASE WHEN i % 10 = 0 THEN NULL ELSE i % 3 <> 0 END, '[]'::json
FROM (SELECT i, timestamptz '2025-01-01 00:00:00+00' + ((i % 3240) / 36) * interval '1 day'
        + ((i % 3240) % 36) * interval '15 minutes' AS t
      FROM generate_series(CAST(1 AS bigint), CAST(:n AS bigint)) AS i) AS s
"""

MEASURES_SQL = """
  count(*) FILTER (WHERE offered_at IS NOT NULL) AS offered,
  count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
  count(*) FILTER (WHERE answered_at IS NULL AND outcome = 'abandoned') AS abandoned,
  count(*) FILTER (WHERE answered_at IS NULL AND outcome = 'abandoned' AND wait_ms < 5000)
    AS short_abandoned,
  count(*) FILTER (WHERE answered_at IS NOT NULL AND wait_ms <= 20000) AS answered_in_sl,
  coalesce(sum(wait_ms) FILTER (WHERE answered_at IS NOT NULL), 0) AS wait_answered_ms,
  coalesce(sum(wait_ms) FILTER (WHERE answered_at IS NULL), 0) AS wait_abandoned_ms,
  max(wait_ms) AS wait_max_ms, sum(talk_ms) AS talk_ms, sum(hold_ms) AS hold_ms,
  sum(holds) AS holds, sum(acw_ms) AS acw_ms,
  count(*) FILTER (WHERE answered_at IS NOT NULL AND resolved) AS fcr_yes,
  count(*) FILTER (WHERE answered_at IS NOT NULL AND NOT resolved) AS fcr_no
"""
NAMES = [
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "answered_in_sl",
    "wait_answered_ms",
    "wait_abandoned_ms",
    "wait_max_ms",
    "talk_ms",
    "hold_ms",
    "holds",
    "acw_ms",
    "fcr_yes",
    "fcr_no",
]
SUMMED = ", ".join(f"max({n})" if n == "wait_max_ms" else f"sum({n})" for n in NAMES)
ZEROS = "unqueued, transfers, escalations, callbacks, callbacks_kept, callbacks_missed"

FILL_INTERVALS = f"""
INSERT INTO figures_contact_intervals (tenant_id, interval_start, local_day, local_week,
  local_month, queue_id, channel, category, {", ".join(NAMES)}, {ZEROS})
SELECT tenant_id, interval_start, local_day, date_trunc('week', local_day)::date,
  date_trunc('month', local_day)::date, queue_id, channel, category, {MEASURES_SQL},
  0, 0, 0, 0, 0, 0
FROM figures_contacts GROUP BY tenant_id, interval_start, local_day, queue_id, channel, category
"""
FILL_DAYS = f"""
INSERT INTO figures_contact_days (tenant_id, local_day, local_week, local_month, queue_id,
  channel, category, {", ".join(NAMES)}, {ZEROS})
SELECT tenant_id, local_day, date_trunc('week', local_day)::date,
  date_trunc('month', local_day)::date, queue_id, channel, category, {MEASURES_SQL},
  0, 0, 0, 0, 0, 0
FROM figures_contacts GROUP BY tenant_id, local_day, queue_id, channel, category
"""
AGGREGATES = f"""
SELECT interval_start, queue_id, {SUMMED}
FROM figures_contact_intervals
WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to
GROUP BY interval_start, queue_id
"""
RAW = f"""
SELECT interval_start, queue_id, {MEASURES_SQL}
FROM figures_contacts
WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to
GROUP BY interval_start, queue_id
"""


async def timed(work: Any, repeat: int) -> tuple[Any, float, float]:
    result = await work()
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = await work()
        timings.append(time.perf_counter() - began)
    return result, min(timings) * 1000, statistics.median(timings) * 1000


async def main(args: argparse.Namespace) -> None:
    import asyncpg

    scratch = f"figures_raw_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await admin.execute(f'CREATE DATABASE "{scratch}"')
    await admin.close()
    try:
        url = PG + scratch
        await upgrade(url)
        db = Database(url)
        tenant = await do_create_tenant(db, slug="raw", name="Raw")
        queues = [uuid.uuid4() for _ in range(QUEUES)]
        began = time.perf_counter()
        async with db.system() as session, session.begin():
            params = {"tenant": tenant, "queues": queues, "nq": QUEUES, "n": args.contacts}
            await session.execute(text(FILL_CONTACTS), params)
            await session.execute(text(FILL_INTERVALS))
            await session.execute(text(FILL_DAYS))
        async with db.system() as session, session.begin():
            await session.execute(text("ANALYZE"))
            rows = (
                await session.execute(text("SELECT count(*) FROM figures_contact_intervals"))
            ).scalar()
        print(
            f"{args.contacts} contacts, {rows} interval rows, made in "
            f"{time.perf_counter() - began:.0f} s"
        )
        query = reports.ReportQuery(
            day_from=date(2025, 1, 1), day_to=date(2025, 3, 31), grain="15", by=("queue",)
        )

        async def aggregates() -> Any:
            return await reports.report(db, tenant, query)

        async def raw() -> Any:
            async with db.system(readonly=True) as session:
                found = await session.execute(
                    text(RAW),
                    {"tenant": tenant, "day_from": query.day_from, "day_to": query.day_to},
                )
                return found.all()

        async def aggregates_sql() -> Any:
            async with db.system(readonly=True) as session:
                found = await session.execute(
                    text(AGGREGATES),
                    {"tenant": tenant, "day_from": query.day_from, "day_to": query.day_to},
                )
                return found.all()

        served, agg_best, agg_median = await timed(aggregates, args.repeat)
        summed, sql_best, sql_median = await timed(aggregates_sql, args.repeat)
        plain, raw_best, raw_median = await timed(raw, args.repeat)
        from_raw = {
            (interval_start(r[0]).isoformat(), str(r[1])): {
                n: int(v or 0) for n, v in zip(NAMES, r[2:], strict=True)
            }
            for r in plain
        }
        from_api = {(r.bucket, r.keys[0]): {n: r.measures[n] for n in NAMES} for r in served}
        print("| path | rows out | best ms | median ms |")
        print("|---|---:|---:|---:|")
        print(
            f"| aggregates (reports.report) | {len(served)} | {agg_best:.0f} | {agg_median:.0f} |"
        )
        print(f"| SQL over aggregates only | {len(summed)} | {sql_best:.0f} | {sql_median:.0f} |")
        print(f"| raw GROUP BY | {len(plain)} | {raw_best:.0f} | {raw_median:.0f} |")
        print(
            f"identical numbers: {from_raw == from_api}; raw / report (median): "
            f"{raw_median / agg_median:.2f}x; raw / SQL over aggregates: "
            f"{raw_median / sql_median:.2f}x"
        )
        await db.dispose()
    finally:
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))
