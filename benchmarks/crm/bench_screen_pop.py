"""Screen-pop at scale, through the HTTP API: caller-number lookup plus the first page of
history, with N customers and M past contacts.

    python benchmarks/crm/bench_screen_pop.py --customers 1000000 --contacts 10000000
    python benchmarks/crm/bench_screen_pop.py ... --database-url postgresql+asyncpg://postgres@127.0.0.1/DB

Customers are sealed and hashed exactly as the product does (one phone each); past contacts
and their parties are generated inside the database (a recursive CTE on SQLite,
generate_series on PostgreSQL), each linked to a customer, ten per customer on average.
Then `tsunagi serve` runs in a child process and a signed-in client measures, one after the
other, `GET /api/v1/customers/lookup?kind=phone…` + `GET /api/v1/customers/{id}/history`
for random customers. Reports p50/p95/p99 of the pair and of each call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import httpx
from sqlalchemy import Table, insert, text

from tsunagi.actions import accounts
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.security.passwords import PasswordHasher
from tsunagi.adapters.storage.crm_models import Customer, CustomerIdentifier
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.domain.ids import new_id
from tsunagi.settings import Settings

PASSWORD = "bench-password-2026"
BATCH = 20_000


def phone(n: int) -> str:
    return f"03-{n // 10000:04d}-{n % 10000:04d}"


async def load(settings: Settings, customers: int, contacts: int) -> None:
    url = settings.effective_database_url
    await upgrade(url)
    db = Database(url)
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
        started = time.perf_counter()
        now = datetime.now(UTC)
        for start in range(0, customers, BATCH):
            rows, ids = [], []
            for n in range(start, min(start + BATCH, customers)):
                cid, iid = new_id(), new_id()
                rows.append(
                    {
                        "id": cid,
                        "tenant_id": tenant_id,
                        "kind": "person",
                        "vip": False,
                        "tags": [],
                        "contact_preferences": {},
                        "key_version": 1,
                        "created_at": now,
                        "updated_at": now,
                        "name_enc": cipher.seal(
                            f"会員 {n}", table="customers", column="name", row_id=cid
                        ),
                        "name_kana_enc": None,
                        "address_enc": None,
                        "notes_enc": None,
                        "segment": None,
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
                await session.execute(insert(cast(Table, Customer.__table__)), rows)
                await session.execute(insert(cast(Table, CustomerIdentifier.__table__)), ids)
        print(f"customers loaded in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        async with db.system() as session, session.begin():
            for statement in contact_sql(db.is_sqlite, tenant_id, contacts):
                await session.execute(text(statement))
        print(f"contacts loaded in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await db.dispose()


def contact_sql(sqlite: bool, tenant_id: UUID, contacts: int) -> list[str]:
    if sqlite:
        tenant = tenant_id.hex
        return [
            "CREATE TEMP TABLE numbered AS SELECT row_number() OVER (ORDER BY rowid) - 1 AS n, id "
            "FROM customers",
            "CREATE UNIQUE INDEX temp.numbered_n ON numbered (n)",
            f"""INSERT INTO routing_contacts (id, channel, queue_id, state, version, priority, vip,
                escalated, skill, extra_skills, target_agent_ids, ranked_at, created_at, updated_at,
                tenant_id, category, outcome, resolved_first_contact)
            WITH RECURSIVE seq(i) AS (
                SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {contacts - 1})
            SELECT lower(hex(randomblob(16))), 'voice', NULL, 'closed', 1, 0, 0, 0, 'delivery',
                '[]', '[]', t, t, t, '{tenant}', 'delivery-time', 'resolved', i % 3 = 0
            FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (i % 700) || ' days',
                  '-' || (i % 86400) || ' seconds') AS t FROM seq)""",
            f"""INSERT INTO contact_parties (contact_id, kind, customer_id, matched_by, candidates,
                created_at, tenant_id)
            SELECT c.id, 'phone', numbered.id, 'lookup', 1, c.created_at, c.tenant_id
            FROM routing_contacts c
            JOIN numbered ON numbered.n = c.rowid % (SELECT count(*) FROM numbered)
            WHERE c.tenant_id = '{tenant}'""",
            "ANALYZE",
        ]
    return [
        "CREATE TEMP TABLE numbered AS "
        "SELECT row_number() OVER (ORDER BY created_at, id) - 1 AS n, id FROM customers",
        "CREATE UNIQUE INDEX ON numbered (n)",
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
        "ANALYZE",
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(base: str, customers: int, samples: int) -> dict[str, list[float]]:
    rng = random.Random(2026)
    timings: dict[str, list[float]] = {"lookup": [], "history": [], "screen-pop": []}
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/login")
        token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
        assert token
        signed = client.post(
            "/login", data={"username": "bench-op", "password": PASSWORD, "_csrf": token.group(1)}
        )
        assert signed.status_code == 303, signed.text
        for index in range(samples + 50):
            n = rng.randrange(customers)
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
            if index >= 50:  # warm-up
                timings["lookup"].append((t1 - t0) * 1000)
                timings["history"].append((t2 - t1) * 1000)
                timings["screen-pop"].append((t2 - t0) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--database-url")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env: dict[str, Any] = {
            **os.environ,
            "TSUNAGI_DATA_DIR": tmp,
            "TSUNAGI_PORT": str(args.port),
        }
        if args.database_url:
            env["TSUNAGI_DATABASE_URL"] = args.database_url
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url)
        asyncio.run(load(settings, args.customers, args.contacts))
        server = subprocess.Popen(
            [sys.executable, "-m", "tsunagi.cli.main", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{args.port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            timings = measure(base, args.customers, args.samples)
        finally:
            server.terminate()
            server.wait(timeout=30)
    profile = "postgresql" if args.database_url else "sqlite"
    print(
        f"profile={profile} customers={args.customers:,} contacts={args.contacts:,} "
        f"samples={args.samples}"
    )
    for name, values in timings.items():
        print(
            f"  {name:<10} p50={statistics.median(values):.1f} ms"
            f"  p95={percentile(values, 0.95):.1f} ms  p99={percentile(values, 0.99):.1f} ms"
        )


if __name__ == "__main__":
    main()
