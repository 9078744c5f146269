"""Issue 6 on 10,000,000 contacts: the interval × queue and per-communicator tables through
the API vs DuckDB computing the same tables from a Parquet copy of the same data.

Run: ``python benchmarks/figures/bench_duckdb.py`` (makes a scratch PostgreSQL database
with 10,000,000 contacts — 90 days, 20 queues, 25 categories, 500 communicators, see
``bench_data.fill`` — and drops it at the end; ``--keep`` keeps it, ``--database NAME``
reuses a kept one). The raw rows (``figures_contacts`` and the agent-state time in
``bench_agent_states``) are copied out of PostgreSQL as CSV and written to Parquet by
DuckDB under ``var/bench/`` (the CSV is deleted).

Timed in the same run (a warm-up, then ``--repeat`` runs; best and median):
* **API**: ``GET /api/v1/figures/table`` (the fast path, columns) and
  ``GET /api/v1/figures/report`` (rows), over HTTP against ``tsunagi serve`` in its own
  process, until the whole body is received;
* **DuckDB**: one query per table over the Parquet files computing the measures *and* the
  figures (``docs/figures.md``), fetched as NumPy arrays (DuckDB's cheapest way out).

Then every cell of both tables (measures and figures, value and type: 1 is not 1.0, None is
not 0) of the API is compared with DuckDB's; exit 1 on any difference.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data
from bench_raw_vs_aggregates import DAY_FROM, DAY_TO, prepare

from tsunagi.figures.definitions import AGENT_SUMS, CONTACT_MAXES, CONTACT_SUMS

OUT = bench_data.ROOT / "var" / "bench"
CONTACT_COLUMNS = {
    "tenant_id": "UUID",
    "interval_start": "TIMESTAMP",
    "local_day": "DATE",
    "queue_id": "UUID",
    "channel": "VARCHAR",
    "category": "VARCHAR",
    "offered_at": "TIMESTAMP",
    "answered_at": "TIMESTAMP",
    "answered_by": "UUID",
    "outcome": "VARCHAR",
    "wait_ms": "BIGINT",
    "talk_ms": "BIGINT",
    "hold_ms": "BIGINT",
    "holds": "INTEGER",
    "acw_ms": "BIGINT",
    "resolved": "BOOLEAN",
    "nps_score": "SMALLINT",
    "csat_score": "SMALLINT",
}
STATE_COLUMNS = {
    "tenant_id": "UUID",
    "agent_id": "UUID",
    "local_day": "DATE",
    "state": "VARCHAR",
    "state_ms": "BIGINT",
}
UTC_TIMES = ("interval_start", "offered_at", "answered_at")


def _ratio(numerator: str, denominator: str) -> str:
    return f"CASE WHEN {denominator} > 0 THEN CAST({numerator} AS DOUBLE) / ({denominator}) END"


def _seconds(ms: str, count: str) -> str:
    return f"CASE WHEN {count} > 0 THEN CAST({ms} AS DOUBLE) / ({count}) / 1000 END"


SURVEY_FIGURES = {
    "nps": _ratio("100 * (nps_promoters - nps_detractors)", "nps_answers"),
    "nps_answers": "nps_answers",
    "csat": _ratio("csat_satisfied", "csat_answers"),
    "csat_avg": _ratio("csat_score_sum", "csat_answers"),
    "csat_answers": "csat_answers",
}
# The figures of docs/figures.md (short abandons excluded, the API's default), in SQL.
CONTACT_FIGURES = {
    "offered": "offered - short_abandoned",
    "answered": "answered",
    "abandoned": "abandoned - short_abandoned",
    "short_abandoned": "short_abandoned",
    "abandon_rate": _ratio("abandoned - short_abandoned", "offered - short_abandoned"),
    "service_level": _ratio("answered_in_sl", "offered - short_abandoned"),
    "asa_s": _seconds("wait_answered_ms", "answered"),
    "longest_wait_s": "CAST(wait_max_ms AS DOUBLE) / 1000",
    "aht_s": _seconds("talk_ms + hold_ms + acw_ms", "answered"),
    "avg_talk_s": _seconds("talk_ms", "answered"),
    "avg_hold_s": _seconds("hold_ms", "answered"),
    "avg_acw_s": _seconds("acw_ms", "answered"),
    "holds": "holds",
    "transfers": "transfers",
    "escalations": "escalations",
    "fcr_rate": _ratio("fcr_yes", "fcr_yes + fcr_no"),
    "callbacks": "callbacks",
    "callbacks_kept": "callbacks_kept",
    "callbacks_missed": "callbacks_missed",
    "unqueued": "unqueued",
    **SURVEY_FIGURES,
}
BUSY = "(on_contact + after_call_work)"
SIGNED_IN = "(on_contact + after_call_work + available + not_ready)"
AGENT_FIGURES = {
    "handled": "handled",
    "aht_s": _seconds("talk_ms + hold_ms + acw_ms", "handled"),
    "avg_talk_s": _seconds("talk_ms", "handled"),
    "avg_hold_s": _seconds("hold_ms", "handled"),
    "avg_acw_s": _seconds("acw_ms", "handled"),
    "holds": "holds",
    "transfers_out": "transfers_out",
    "fcr_rate": _ratio("fcr_yes", "fcr_yes + fcr_no"),
    "occupancy": _ratio(BUSY, "(on_contact + after_call_work + available)"),
    "utilisation": _ratio(BUSY, SIGNED_IN),
    "contacts_per_hour": _ratio("handled * 3600000", SIGNED_IN),
    "signed_in_s": f"CAST({SIGNED_IN} AS DOUBLE) / 1000",
    **SURVEY_FIGURES,
}


def _integers(names: tuple[str, ...], present: tuple[str, ...]) -> str:
    """Every measure as BIGINT (DuckDB sums to HUGEINT); those the data lacks are 0."""
    return ", ".join(
        f"CAST({name if name in present else 0} AS BIGINT) AS {name}" for name in names
    )


def duckdb_sql(contacts: Path, states: Path, tenant: uuid.UUID) -> dict[str, str]:
    where = f"tenant_id = '{tenant}' AND local_day BETWEEN DATE '{DAY_FROM}' AND DATE '{DAY_TO}'"
    contact_names = (*CONTACT_SUMS, *CONTACT_MAXES)
    interval_queue = f"""
    WITH m AS (
      SELECT interval_start, queue_id, {bench_data.CONTACT_MEASURES}
      FROM read_parquet('{contacts}') WHERE {where}
      GROUP BY interval_start, queue_id),
    n AS (SELECT interval_start, queue_id,
            {_integers(contact_names, bench_data.CONTACT_NAMES)} FROM m)
    SELECT interval_start, queue_id, {", ".join(contact_names)},
      {", ".join(f"{sql} AS f_{name}" for name, sql in CONTACT_FIGURES.items())}
    FROM n"""
    agents = f"""
    WITH c AS (
      SELECT answered_by AS agent_id, {bench_data.AGENT_MEASURES}
      FROM read_parquet('{contacts}') WHERE {where} AND answered_by IS NOT NULL
      GROUP BY answered_by),
    s AS (
      SELECT agent_id,
        coalesce(sum(state_ms) FILTER (WHERE state = 'available'), 0) AS available,
        coalesce(sum(state_ms) FILTER (WHERE state = 'on_contact'), 0) AS on_contact,
        coalesce(sum(state_ms) FILTER (WHERE state = 'after_call_work'), 0)
          AS after_call_work,
        coalesce(sum(state_ms) FILTER (WHERE state = 'not_ready'), 0) AS not_ready
      FROM read_parquet('{states}') WHERE {where} GROUP BY agent_id),
    n AS (SELECT c.agent_id, {_integers(AGENT_SUMS, bench_data.AGENT_NAMES)},
            coalesce(available, 0) AS available, coalesce(on_contact, 0) AS on_contact,
            coalesce(after_call_work, 0) AS after_call_work,
            coalesce(not_ready, 0) AS not_ready
          FROM c LEFT JOIN s USING (agent_id))
    SELECT agent_id, {", ".join(AGENT_SUMS)},
      {", ".join(f"{sql} AS f_{name}" for name, sql in AGENT_FIGURES.items())}
    FROM n"""
    return {"interval × queue": interval_queue, "per communicator": agents}


async def export(database: str) -> tuple[Path, Path]:
    """The raw rows out of PostgreSQL as CSV, then Parquet written by DuckDB."""
    import asyncpg
    import duckdb

    OUT.mkdir(parents=True, exist_ok=True)
    connection = await asyncpg.connect(host="127.0.0.1", user="postgres", database=database)
    made = []
    try:
        for table, columns, name in (
            ("figures_contacts", CONTACT_COLUMNS, "contacts"),
            ("bench_agent_states", STATE_COLUMNS, "agent_states"),
        ):
            csv_path = OUT / f"{database}-{name}.csv"
            parquet = OUT / f"{database}-{name}.parquet"
            made.append(parquet)  # written anew each run: a kept database may have changed
            selected = ", ".join(
                f"{c} AT TIME ZONE 'UTC' AS {c}" if c in UTC_TIMES else c for c in columns
            )
            began = time.perf_counter()
            await connection.copy_from_query(
                f"SELECT {selected} FROM {table}", output=str(csv_path), format="csv"
            )
            typed = ", ".join(f"'{c}': '{t}'" for c, t in columns.items())
            duckdb.sql(
                f"COPY (SELECT * FROM read_csv('{csv_path}', header = false, "
                f"columns = {{{typed}}})) TO '{parquet}' (FORMAT parquet)"
            )
            csv_path.unlink()
            print(
                f"{table} → {parquet.name}: {parquet.stat().st_size / 1e6:,.0f} MB in "
                f"{time.perf_counter() - began:.0f} s"
            )
    finally:
        await connection.close()
    return made[0], made[1]


def duckdb_cells(rows: list[Any], names: list[str], table: str) -> dict[tuple[str, ...], Any]:
    cells = {}
    for row in rows:
        values = dict(zip(names, row, strict=True))
        if table == "interval × queue":
            start = values.pop("interval_start")
            key: tuple[str, ...] = (
                start.replace(tzinfo=UTC).isoformat(),
                str(values.pop("queue_id")),
            )
        else:
            key = ("total", str(values.pop("agent_id")))
        cells[key] = {
            (f"figure:{name[2:]}" if name.startswith("f_") else name): value
            for name, value in values.items()
        }
    return cells


def line(name: str, rows: int, timings: list[float]) -> str:
    return f"| {name} | {rows:,} | {min(timings):,.0f} | {statistics.median(timings):,.0f} |"


def main(args: argparse.Namespace) -> int:
    import duckdb

    url, tenant, username, drop = asyncio.run(prepare(args))
    database = url.rsplit("/", 1)[1]
    try:
        contacts, states = asyncio.run(export(database))
        queries = duckdb_sql(contacts, states, tenant)
        connection = duckdb.connect()
        print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
        lines = ["| path | rows out | best ms | median ms |", "|---|---:|---:|---:|"]
        api: dict[Any, Any] = {}
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
                    api[(name, path)] = (body, timings)
                    size = body["rows"] if isinstance(body["rows"], int) else len(body["rows"])
                    shown = f"{name}: API `GET {path}` ({len(response.content):,} B)"
                    lines.append(line(shown, size, timings))
                _, timings = bench_data.timed(
                    lambda s=queries[name]: connection.execute(s).fetchnumpy(), args.repeat
                )
                api[(name, "duckdb")] = (None, timings)
                found = connection.execute(queries[name])
                names = [column[0] for column in found.description]
                rows = found.fetchall()
                api[(name, "duckdb rows")] = (duckdb_cells(rows, names, name), timings)
                lines.append(line(f"{name}: DuckDB over Parquet", len(rows), timings))
            client.close()
        print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
        print("\n".join(lines))
        same = True
        for name in ("interval × queue", "per communicator"):
            expected, duck_timings = api[(name, "duckdb rows")]
            body = api[(name, "/api/v1/figures/table")][0]
            found_cells = bench_data.columns_to_cells(body)
            differences = bench_data.differences(expected, found_cells)
            same = same and not differences
            cells = sum(len(v) for v in expected.values())
            print(f"{name}: {len(expected):,} rows, {cells:,} cells, differ: {len(differences)}")
            for difference in differences[:5]:
                print("   ", difference)
            for path in ("/api/v1/figures/table", "/api/v1/figures/report"):
                ratio = statistics.median(api[(name, path)][1]) / statistics.median(duck_timings)
                print(f"{name}: API {path} / DuckDB (medians) = {ratio:.2f}x (target ≤ 1.5x)")
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
    parser.add_argument("--contacts", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="reuse this database (made with --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    sys.exit(main(parser.parse_args()))
