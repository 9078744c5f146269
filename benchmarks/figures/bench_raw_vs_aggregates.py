"""Issue 6 on 1,000,000 contacts: the interval × queue and per-communicator tables through
the API vs a plain GROUP BY over the contacts table (PostgreSQL).

Run: ``python benchmarks/figures/bench_raw_vs_aggregates.py`` (a scratch database on
127.0.0.1:5432 is created, filled, migrated and dropped; ``--database NAME`` reuses one
made by an earlier ``--keep`` run).

Data (``bench_data.fill``, in SQL with ``generate_series``): ``--contacts`` ended contacts
over 90 days × 36 intervals, 20 queues, 25 categories, 500 communicators, in the raw table
``figures_contacts`` (+ agent-state time per communicator and day in ``bench_agent_states``),
and the aggregates the reports read, filled from those rows by SQL applying the
definitions (not by the projector).

Timed in one run (a warm-up, then ``--repeat`` runs; best and median), for each table:
* **API**: ``GET /api/v1/figures/table`` (the fast path, columns) and
  ``GET /api/v1/figures/report`` (rows) over HTTP against ``tsunagi serve`` in its own
  process, signed in as a manager — until the whole body is received;
* **raw**: the plain ``GROUP BY`` over ``figures_contacts`` (and the state rows) with
  asyncpg, default settings, rows fetched;
* ``reports.report`` in process (the path before the fast path), once.

Identical numbers: every measure and every figure of the API's table is compared with the
figures the definitions give from the raw GROUP BY's measures (value and type).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data
from sqlalchemy import text

from tsunagi.actions.accounts import do_create_tenant
from tsunagi.actions.figures import reports
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.figures.definitions import (
    AGENT_STATES,
    AGENT_SUMS,
    CONTACT_MAXES,
    CONTACT_SUMS,
    FigureOptions,
    agent_figures,
    contact_figures,
)

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
DAY_FROM, DAY_TO = date(2025, 1, 1), date(2025, 3, 31)


def positional(sql: str) -> str:
    return sql.replace(":tenant", "$1").replace(":day_from", "$2").replace(":day_to", "$3")


def reference_interval_queue(rows: list[Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """The interval × queue table from the raw GROUP BY: measures and their figures."""
    cells = {}
    for row in rows:
        measures = dict.fromkeys((*CONTACT_SUMS, *CONTACT_MAXES), 0)
        measures.update({n: int(row[n]) for n in bench_data.CONTACT_NAMES})
        figures = contact_figures(measures, FigureOptions())
        key = (row["interval_start"].isoformat(), str(row["queue_id"]))
        cells[key] = {**measures, **{f"figure:{n}": v for n, v in figures.items()}}
    return cells


def reference_agents(rows: list[Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    cells = {}
    for row in rows:
        measures = {n: int(row[n]) for n in AGENT_SUMS}
        states = {s: int(row[s] or 0) for s in AGENT_STATES}
        figures = agent_figures(measures, states)
        cells[("total", str(row["agent_id"]))] = {
            **measures,
            **{f"figure:{n}": v for n, v in figures.items()},
        }
    return cells


def row_cells(body: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """``/report``'s rows as cells, like ``bench_data.columns_to_cells``."""
    return {
        (row["bucket"], *row["keys"]): {
            **row["measures"],
            **{f"figure:{n}": v for n, v in row["figures"].items()},
        }
        for row in body["rows"]
    }


def line(name: str, rows: int, timings: list[float]) -> str:
    return f"| {name} | {rows:,} | {min(timings):,.0f} | {statistics.median(timings):,.0f} |"


async def prepare(args: argparse.Namespace) -> tuple[str, uuid.UUID, str, bool]:
    import asyncpg

    if args.database:
        url = PG + args.database
        db = Database(url)
        async with db.system(readonly=True) as session:
            tenant = (await session.execute(text("SELECT id FROM tenants"))).scalar_one()
        username = await bench_data.create_manager(db, tenant)
        await db.dispose()
        return url, tenant, username, False
    scratch = f"figures_raw_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await admin.execute(f'CREATE DATABASE "{scratch}"')
    await admin.close()
    url = PG + scratch
    await upgrade(url)
    db = Database(url)
    tenant = await do_create_tenant(db, slug="raw", name="Raw")
    queues = [uuid.uuid4() for _ in range(bench_data.QUEUES)]
    agents = [uuid.uuid4() for _ in range(bench_data.AGENTS)]
    began = time.perf_counter()
    async with db.system() as session, session.begin():
        await bench_data.fill(session, tenant, queues, agents, args.contacts)
    async with db.system() as session, session.begin():
        await session.execute(text("ANALYZE"))
    print(f"database {scratch}: filled in {time.perf_counter() - began:.0f} s")
    username = await bench_data.create_manager(db, tenant)
    await db.dispose()
    return url, tenant, username, not args.keep


def main(args: argparse.Namespace) -> int:
    url, tenant, username, drop = asyncio.run(prepare(args))
    database = url.rsplit("/", 1)[1]
    try:

        async def counted() -> dict[str, int]:
            db = Database(url)
            async with db.system(readonly=True) as session:
                found = {
                    table: int(
                        (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                    )
                    for table in (
                        "figures_contacts",
                        "figures_contact_intervals",
                        "figures_agent_days",
                        "figures_agent_state_days",
                    )
                }
            await db.dispose()
            return found

        print("rows:", asyncio.run(counted()))
        print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
        results: dict[Any, Any] = {}
        import asyncpg

        loop = asyncio.new_event_loop()
        connection = loop.run_until_complete(
            asyncpg.connect(host="127.0.0.1", user="postgres", database=database)
        )

        def raw_fetch(sql: str) -> list[Any]:
            fetched = connection.fetch(positional(sql), tenant, DAY_FROM, DAY_TO)
            return list(loop.run_until_complete(fetched))

        lines = ["| path | rows out | best ms | median ms |", "|---|---:|---:|---:|"]
        with bench_data.server(url) as base:
            client = bench_data.signed_in(base, username)
            for name, params in (
                ("interval × queue", bench_data.INTERVAL_QUEUE),
                ("per communicator", bench_data.PER_AGENT),
            ):
                for path in ("/api/v1/figures/table", "/api/v1/figures/report"):
                    response, timings = bench_data.timed(
                        lambda p=path, q=params: client.request("GET", p, params=q), args.repeat
                    )
                    assert response.status_code == 200, response.text[:300]
                    body = response.json()
                    results[(name, path)] = (body, timings)
                    size = body["rows"] if isinstance(body["rows"], int) else len(body["rows"])
                    shown = f"{name}: API `GET {path}` ({len(response.content):,} B)"
                    lines.append(line(shown, size, timings))
                raw_sql = (
                    bench_data.RAW_INTERVAL_QUEUE
                    if name == "interval × queue"
                    else bench_data.RAW_AGENTS
                )
                raw, timings = bench_data.timed(lambda s=raw_sql: raw_fetch(s), args.repeat)
                results[(name, "raw")] = (raw, timings)
                lines.append(line(f"{name}: plain GROUP BY over the contacts", len(raw), timings))
            client.close()
        loop.run_until_complete(connection.close())
        loop.close()

        async def before() -> tuple[int, float]:
            db = Database(url)
            query = reports.ReportQuery(day_from=DAY_FROM, day_to=DAY_TO, grain="15", by=("queue",))
            began = time.perf_counter()
            found = await reports.report(db, tenant, query)
            spent = (time.perf_counter() - began) * 1000
            await db.dispose()
            return len(found), spent

        if not args.skip_before:
            size, spent = asyncio.run(before())
            lines.append(line("interval × queue: `reports.report` in process, once", size, [spent]))
        print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
        print("\n".join(lines))
        same = True
        for name, reference in (
            ("interval × queue", reference_interval_queue),
            ("per communicator", reference_agents),
        ):
            expected = reference(results[(name, "raw")][0])
            table_body = results[(name, "/api/v1/figures/table")][0]
            report_body = results[(name, "/api/v1/figures/report")][0]
            for label, cells in (
                ("table", bench_data.columns_to_cells(table_body)),
                ("report", row_cells(report_body)),
            ):
                found = bench_data.differences(expected, cells)
                same = same and not found
                print(f"{name} {label}: {len(expected):,} rows, differences: {len(found)}")
                for difference in found[:5]:
                    print("   ", difference)
            raw_median = statistics.median(results[(name, "raw")][1])
            for path in ("/api/v1/figures/table", "/api/v1/figures/report"):
                api_median = statistics.median(results[(name, path)][1])
                print(
                    f"{name}: raw GROUP BY / API {path} (medians) = "
                    f"{raw_median / api_median:.2f}x (target ≥ 5x)"
                )
        print(f"identical numbers: {same}")
        return 0 if same else 1
    finally:
        if drop:

            async def dropped() -> None:
                import asyncpg

                admin = await asyncpg.connect(
                    host="127.0.0.1", user="postgres", database="postgres"
                )
                await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
                await admin.close()

            asyncio.run(dropped())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="reuse this database (made with --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--skip-before", action="store_true", help="skip reports.report")
    sys.exit(main(parser.parse_args()))
