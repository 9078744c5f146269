"""Screen-pop at scale, through the HTTP API: caller-number lookup plus the first page of
history, with N customers and M past contacts.

    python benchmarks/crm/bench_screen_pop.py --customers 1000000 --contacts 10000000
    python benchmarks/crm/bench_screen_pop.py ... --database-url postgresql+asyncpg://postgres@127.0.0.1/DB

Customers are sealed and hashed exactly as the product does (one phone each); past contacts
and their parties are generated inside the database (a recursive CTE on SQLite,
generate_series on PostgreSQL), each linked to a customer, ten per customer on average.
Then `tsunagi serve` runs in a child process and a signed-in client measures, one after the
other for random customers, `GET /api/v1/customers/screen-pop?kind=phone…` (the record and
the first page of history in one request: the figure the target names), then over the same
customers the earlier pair `GET /api/v1/customers/lookup?kind=phone…` +
`GET /api/v1/customers/{id}/history` for comparison. Reports p50/p95/p99 of each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import asyncpg
import httpx
from sqlalchemy import Table, bindparam, insert, select, text, update

from tsunagi.actions import accounts
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.security.passwords import PasswordHasher
from tsunagi.adapters.storage.crm_models import ContactParty, Customer, CustomerIdentifier
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.domain.ids import new_id
from tsunagi.settings import Settings

PASSWORD = "bench-password-2026"
BATCH = 20_000
STORE = Path("var/bench")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
SAMPLE_SEED = 2026
MAX_SAMPLES = 5_000  # the customers measured; their past contacts carry sealed notes
WARM_UP = 50
IDLE_PROBE_S = 5.0


def phone(n: int) -> str:
    return f"03-{n // 10000:04d}-{n % 10000:04d}"


def sample_numbers(customers: int, count: int) -> list[int]:
    """The customers measured, in order: the same for the loader and every run."""
    rng = random.Random(SAMPLE_SEED)
    return [rng.randrange(customers) for _ in range(count)]


async def load(settings: Settings, customers: int, contacts: int) -> dict[str, float]:
    """Fill an empty database: customers sealed and hashed with the tenant key exactly as
    the product seals them (bulk inserts of the finished rows), past contacts generated
    inside the database with their secondary indexes built after the rows are in, and
    sealed wrap-up notes on the past contacts of the customers the benchmark measures."""
    url = settings.effective_database_url
    await upgrade(url)
    db = Database(url)
    took: dict[str, float] = {}
    try:
        tenant_id = await accounts.do_create_tenant(db, slug="bench", name="Bench")
        await accounts.do_create_user(
            db,
            PasswordHasher(time_cost=1, memory_kib=64),
            tenant_id=tenant_id,
            username="bench-op",
            display_name="Bench",
            password=PASSWORD,
            roles=["communicator"],
        )
        cipher = await KeyRing(master_key_for(settings)).cipher(db, tenant_id)
        measured = set(sample_numbers(customers, MAX_SAMPLES + WARM_UP))
        measured_ids: list[UUID] = []
        started = time.perf_counter()
        now = datetime.now(UTC)
        for start in range(0, customers, BATCH):
            rows, ids = [], []
            for n in range(start, min(start + BATCH, customers)):
                cid, iid = new_id(), new_id()
                if n in measured:
                    measured_ids.append(cid)
                rows.append(
                    {
                        "id": cid,
                        "tenant_id": tenant_id,
                        "kind": "person",
                        "vip": n % 50 == 0,
                        "tags": [],
                        "contact_preferences": {},
                        "key_version": 1,
                        "created_at": now,
                        "updated_at": now,
                        "name_enc": cipher.seal(
                            f"会員 {n}", table="customers", column="name", row_id=cid
                        ),
                        "name_kana_enc": None,
                        "address_enc": cipher.seal(
                            f"東京都千代田区{n % 9 + 1}-{n % 99 + 1}",
                            table="customers",
                            column="address",
                            row_id=cid,
                        ),
                        "notes_enc": None,
                        "segment": "宅配",
                        "merged_into_id": None,
                    }
                )
                ids.append(
                    {
                        "id": iid,
                        "tenant_id": tenant_id,
                        "customer_id": cid,
                        "kind": "phone",
                        "label": None,
                        "value_hash": cipher.lookup_hash("phone", phone(n)),
                        "value_enc": cipher.seal(
                            phone(n), table="customer_identifiers", column="value", row_id=iid
                        ),
                    }
                )
            async with db.system() as session, session.begin():
                if db.is_sqlite:
                    await session.execute(text("PRAGMA cache_size=-1000000"))
                await session.execute(insert(cast(Table, Customer.__table__)), rows)
                await session.execute(insert(cast(Table, CustomerIdentifier.__table__)), ids)
            print(f"  customers {start + len(rows):,}", flush=True)
        took["customers_s"] = time.perf_counter() - started
        print(f"customers loaded in {took['customers_s']:.0f} s", flush=True)
        started = time.perf_counter()
        async with db.system() as session, session.begin():
            for statement in await contact_sql(session, db.is_sqlite, tenant_id, contacts):
                print(f"  {statement.split(chr(10))[0][:90]}", flush=True)
                await session.execute(text(statement))
        took["contacts_s"] = time.perf_counter() - started
        print(f"contacts loaded in {took['contacts_s']:.0f} s", flush=True)
        started = time.perf_counter()
        await seal_notes(db, cipher, measured_ids)
        took["notes_s"] = time.perf_counter() - started
    finally:
        await db.dispose()
    if url.startswith("sqlite"):  # a database at rest: its WAL copied back into the file
        # Outside any transaction (the product's sessions BEGIN IMMEDIATE, under which
        # SQLite refuses a checkpoint: "database table is locked").
        with contextlib.closing(sqlite3.connect(url.split("///", 1)[1])) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return took


async def seal_notes(db: Database, cipher: TenantCipher, customer_ids: list[UUID]) -> None:
    """Wrap-up notes, sealed as the desktop seals them, on the measured customers' past
    contacts (so every history page opened by the benchmark decrypts its notes)."""
    for start in range(0, len(customer_ids), 500):
        async with db.system() as session, session.begin():
            contact_ids = (
                await session.scalars(
                    select(ContactParty.contact_id).where(
                        ContactParty.customer_id.in_(customer_ids[start : start + 500])
                    )
                )
            ).all()
            await session.execute(
                update(cast(Table, ContactParty.__table__)).where(
                    ContactParty.__table__.c.contact_id == bindparam("b_id")
                ),
                [
                    {
                        "b_id": contact_id,
                        "notes_enc": cipher.seal(
                            "配送が遅れたとのこと。次回の配送日を案内し、了承いただいた。",
                            table="contact_parties",
                            column="notes",
                            row_id=contact_id,
                        ),
                    }
                    for contact_id in contact_ids
                ],
            )


SECONDARY_INDEXES = ("routing_contacts", "contact_parties")


async def secondary_indexes(session: Any, sqlite: bool) -> list[tuple[str, str]]:
    """(name, DDL) of the secondary indexes of the bulk-loaded tables, read from the
    database itself so they are rebuilt exactly as the migrations made them."""
    if sqlite:
        found = await session.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN ('routing_contacts', 'contact_parties')"
            )
        )
    else:
        found = await session.execute(
            text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "WHERE i.tablename IN ('routing_contacts', 'contact_parties') AND NOT EXISTS ("
                "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
            )
        )
    return [(name, ddl) for name, ddl in found.all()]


async def contact_sql(session: Any, sqlite: bool, tenant_id: UUID, contacts: int) -> list[str]:
    indexes = await secondary_indexes(session, sqlite)
    drop = [f'DROP INDEX "{name}"' for name, _ddl in indexes]
    build = [ddl for _name, ddl in indexes]
    if sqlite:
        tenant = tenant_id.hex
        return [
            "PRAGMA cache_size=-2000000",
            "PRAGMA temp_store=MEMORY",
            "CREATE TEMP TABLE numbered AS SELECT row_number() OVER (ORDER BY rowid) - 1 AS n, id "
            "FROM customers",
            "CREATE UNIQUE INDEX temp.numbered_n ON numbered (n)",
            *drop,
            f"""INSERT INTO routing_contacts (id, channel, queue_id, state, version, priority, vip,
                escalated, skill, extra_skills, target_agent_ids, ranked_at, created_at, updated_at,
                tenant_id, category, outcome, resolved_first_contact)
            WITH RECURSIVE seq(i) AS (
                SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {contacts - 1})
            SELECT lower(hex(randomblob(16))), 'voice', NULL, 'closed', 1, 0, 0, 0, 'delivery',
                '[]', '[]', t, t, t, '{tenant}', 'delivery-time', 'resolved', i % 3 = 0
            FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (i % 700) || ' days',
                  '-' || (i % 86400) || ' seconds') || '000' AS t FROM seq)""",
            f"""INSERT INTO contact_parties (contact_id, kind, customer_id, matched_by, candidates,
                created_at, tenant_id)
            SELECT c.id, 'phone', numbered.id, 'lookup', 1, c.created_at, c.tenant_id
            FROM routing_contacts c
            JOIN numbered ON numbered.n = c.rowid % (SELECT count(*) FROM numbered)
            WHERE c.tenant_id = '{tenant}'""",
            *build,
            "DROP TABLE temp.numbered",
            "ANALYZE",
        ]
    return [
        "SET LOCAL maintenance_work_mem = '1GB'",
        "SET LOCAL work_mem = '256MB'",
        "CREATE TEMP TABLE numbered AS "
        "SELECT row_number() OVER (ORDER BY created_at, id) - 1 AS n, id FROM customers",
        "CREATE UNIQUE INDEX ON numbered (n)",
        *drop,
        f"""INSERT INTO routing_contacts (id, channel, queue_id, state, version, priority, vip,
            escalated, skill, extra_skills, target_agent_ids, ranked_at, created_at, updated_at,
            tenant_id, category, outcome, resolved_first_contact)
        SELECT gen_random_uuid(), 'voice', NULL, 'closed', 1, 0, false, false, 'delivery',
            '[]', '[]', t, t, t, '{tenant_id}', 'delivery-time', 'resolved', i % 3 = 0
        FROM (SELECT i, now() - make_interval(days => i % 700, secs => i % 86400) AS t
              FROM generate_series(0, {contacts - 1}) AS i) s""",
        f"""INSERT INTO contact_parties (contact_id, kind, customer_id, matched_by, candidates,
            created_at, tenant_id)
        SELECT c.id, 'phone', numbered.id, 'lookup', 1, c.created_at, c.tenant_id
        FROM (SELECT id, created_at, tenant_id, row_number() OVER () - 1 AS r
              FROM routing_contacts WHERE tenant_id = '{tenant_id}') c
        JOIN numbered ON numbered.n = c.r % (SELECT count(*) FROM numbered)""",
        *build,
        "DROP TABLE numbered",
        "ANALYZE",
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def signed_in(client: httpx.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert token
    signed = client.post(
        "/login", data={"username": "bench-op", "password": PASSWORD, "_csrf": token.group(1)}
    )
    assert signed.status_code == 303, signed.text


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def screen_pop_pass(
    client: httpx.Client, numbers: list[int], timings: dict[str, list[float]]
) -> None:
    for index, n in enumerate(numbers):
        t0 = time.perf_counter()
        pop = client.get(
            "/api/v1/customers/screen-pop",
            params={"kind": "phone", "value": phone(n), "reason": "bench"},
        )
        t1 = time.perf_counter()
        assert pop.status_code == 200, pop.text
        body = pop.json()
        assert body["customer"] is not None, pop.text
        assert body["history"], pop.text
        if index >= WARM_UP:
            timings["screen-pop"].append((t1 - t0) * 1000)


def pair_pass(client: httpx.Client, numbers: list[int], timings: dict[str, list[float]]) -> None:
    for index, n in enumerate(numbers):
        t0 = time.perf_counter()
        found = client.get(
            "/api/v1/customers/lookup",
            params={"kind": "phone", "value": phone(n), "reason": "bench"},
        )
        t1 = time.perf_counter()
        assert found.status_code == 200, found.text
        assert len(found.json()) == 1, found.text
        history = client.get(
            f"/api/v1/customers/{found.json()[0]['id']}/history", params={"reason": "bench"}
        )
        t2 = time.perf_counter()
        assert history.status_code == 200, history.text
        assert history.json(), history.text
        if index >= WARM_UP:
            timings["lookup"].append((t1 - t0) * 1000)
            timings["history"].append((t2 - t1) * 1000)
            timings["pair"].append((t2 - t0) * 1000)


def measure(
    base: str, customers: int, samples: int, server_pid: int | None, *, pair_first: bool = False
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Two passes over the same customers, one signed-in client, sequential: the
    screen-pop endpoint (one request), then the earlier pair (lookup, then history) — or
    the other way round with ``pair_first``; the second pass finds the same pages in the
    caches. Also the server process's CPU time per screen-pop and per pair (ms; what
    contention inflates less than latency)."""
    numbers = sample_numbers(customers, samples + WARM_UP)
    timings: dict[str, list[float]] = {
        "screen-pop": [],
        "lookup": [],
        "history": [],
        "pair": [],
    }
    cpu: dict[str, float] = {}

    def server_cpu() -> float:
        return cpu_seconds(server_pid) if server_pid is not None else float("nan")

    passes: dict[str, tuple[float, float]] = {}
    order = [("pair", pair_pass), ("screen-pop", screen_pop_pass)]
    with httpx.Client(base_url=base, timeout=30) as client:
        signed_in(client)
        for key, run in order if pair_first else order[::-1]:
            started, wall = server_cpu(), time.perf_counter()
            run(client, numbers, timings)
            passes[key] = (server_cpu() - started, time.perf_counter() - wall)
    # The server's background work (relay, routing ticks…) costs CPU with no request: its
    # rate over an idle while after the passes is subtracted from each pass.
    idle_from, idle_start = server_cpu(), time.perf_counter()
    time.sleep(IDLE_PROBE_S)
    background = (server_cpu() - idle_from) / (time.perf_counter() - idle_start)
    cpu["idle, per s"] = background * 1000
    for key, (used, took) in passes.items():
        cpu[f"per {key}"] = (used - background * took) * 1000 / len(numbers)
    return timings, cpu


async def prepare(args: argparse.Namespace, settings: Settings) -> dict[str, float]:
    """An empty database, loaded."""
    if args.profile == "postgresql":
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{args.pg_database}"')
        finally:
            await admin.close()
    took = await load(settings, args.customers, args.contacts)
    if args.profile == "postgresql":  # what autovacuum would do before the first caller
        connection = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + args.pg_database)
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--profile", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--store", type=Path, default=STORE, help="where loaded data is kept")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument(
        "--warm-cache",
        action="store_true",
        help="SQLite: read the database file once first (a server whose database fits in RAM)",
    )
    parser.add_argument("--py-spy", type=Path, help="record the server with py-spy into this file")
    parser.add_argument(
        "--pair-first",
        action="store_true",
        help="measure the earlier pair before the screen-pop endpoint (default: after)",
    )
    args = parser.parse_args()
    if args.samples > MAX_SAMPLES:
        parser.error(f"--samples at most {MAX_SAMPLES}")
    name = f"screen-pop-{args.profile}-{args.customers}-{args.contacts}"
    data_dir = (args.store / name).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env: dict[str, Any] = {
        **os.environ,
        "TSUNAGI_DATA_DIR": str(data_dir),
        "TSUNAGI_PORT": str(args.port),
    }
    args.pg_database = f"tsunagi_bench_{name.replace('-', '_')}"
    database_url = PG_URL + args.pg_database if args.profile == "postgresql" else None
    if database_url:
        env["TSUNAGI_DATABASE_URL"] = database_url
    settings = Settings(data_dir=data_dir, database_url=database_url)
    marker = data_dir / "loaded.json"  # loaded once; later runs of these sizes reuse it
    if marker.exists():
        print(f"reusing {data_dir} ({marker.read_text().strip()})", flush=True)
        # Data loaded by earlier code: brought to the current schema (new indexes).
        asyncio.run(upgrade(settings.effective_database_url))
    else:
        for stale in data_dir.glob("tsunagi.db*"):
            stale.unlink()
        took = asyncio.run(prepare(args, settings))
        marker.write_text(
            json.dumps({"customers": args.customers, "contacts": args.contacts, **took}) + "\n"
        )
    if args.load_only:
        return
    if args.warm_cache and args.profile == "sqlite":
        started = time.perf_counter()
        with (data_dir / "tsunagi.db").open("rb") as handle:  # into the OS page cache
            while handle.read(1 << 24):
                pass
        print(f"database file read into the page cache in {time.perf_counter() - started:.0f} s")
    print(f"load average before: {os.getloadavg()}", flush=True)
    command = [sys.executable, "-m", "tsunagi.cli.main", "serve"]
    if args.py_spy:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [spy, "record", "-r", "200", "-f", "speedscope", "-o", str(args.py_spy),
                   "--", *command]  # fmt: skip
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(1500):  # start-up takes over a minute on a busy machine
            try:
                if httpx.get(f"{base}/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        print(f"server pid {server.pid}", flush=True)
        # Under py-spy the server is py-spy's child: no CPU figure then.
        timings, cpu = measure(
            base,
            args.customers,
            args.samples,
            None if args.py_spy else server.pid,
            pair_first=args.pair_first,
        )
    finally:
        server.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"load average after: {os.getloadavg()}")
    print(
        f"profile={args.profile} customers={args.customers:,} contacts={args.contacts:,} "
        f"samples={args.samples}"
    )
    for key, values in timings.items():
        print(
            f"  {key:<11} p50={statistics.median(values):.1f} ms"
            f"  p95={percentile(values, 0.95):.1f} ms  p99={percentile(values, 0.99):.1f} ms"
            f"  max={max(values):.1f} ms"
        )
    for key, per_pop in cpu.items():
        print(f"  server CPU {key}: {per_pop:.2f} ms")


if __name__ == "__main__":
    main()
