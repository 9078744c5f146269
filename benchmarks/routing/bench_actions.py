"""CPU per routing action in process (no HTTP, no engine): create, offer, accept, end, close.

Run: ``python benchmarks/routing/bench_actions.py --profile {sqlite|postgres} [--contacts N]``
(PostgreSQL on 127.0.0.1, a scratch database created and dropped; SQLite in a temporary
directory). One queue, one ready agent; each contact goes through the five actions in
turn. Prints the median CPU time of this process (``time.process_time``: the Python side —
SQLAlchemy, the driver, the socket calls — not the PostgreSQL backend) per action, after
the first fifth of the contacts (warm caches). Compare builds with ``PYTHONPATH=<src>``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tsunagi.actions import accounts
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.actions.routing.contacts import NewContact, do_create_contact
from tsunagi.actions.routing.offers import (
    do_accept_offer,
    do_close_contact,
    do_end_contact,
    do_offer_contact,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.routing.agents import AgentProfile, Presence

ACTIONS = ("create", "offer", "accept", "end", "close")


async def measure(db: Database, contacts: int) -> dict[str, list[float]]:
    tenant = await accounts.do_create_tenant(db, slug=f"b-{uuid.uuid4().hex[:6]}", name="b")
    now = datetime.now(UTC)
    async with db.scoped(tenant) as session, session.begin():
        queue = Queue(
            code="b", name_ja="b", name_en="b", channel="voice", config={}, created_at=now
        )
        agent = User(
            username="agent",
            display_name="agent",
            password_hash="-",
            roles=["communicator"],
            created_at=now,
            password_changed_at=now,
        )
        session.add_all([queue, agent])
    kw = {"tenant_id": tenant, "actor": "bench"}
    await do_set_agent_profile(
        db,
        agent_id=agent.id,
        profile=AgentProfile(skills={"b": 5}),
        **kw,  # type: ignore[arg-type]
    )
    await do_set_presence(db, agent_id=agent.id, presence=Presence.READY, **kw)  # type: ignore[arg-type]
    spent: dict[str, list[float]] = {name: [] for name in ACTIONS}
    for _ in range(contacts):
        mark = time.process_time()

        def lap(name: str) -> None:
            nonlocal mark
            now_cpu = time.process_time()
            spent[name].append(now_cpu - mark)
            mark = now_cpu

        created = await do_create_contact(
            db, tenant_id=tenant, new=NewContact(channel="voice", queue_id=queue.id), actor="b"
        )
        lap("create")
        held = {"tenant_id": tenant, "contact_id": created.contact_id, "agent_id": agent.id}
        await do_offer_contact(db, **held, worker_id="bench", lease_s=3)  # type: ignore[arg-type]
        lap("offer")
        await do_accept_offer(db, **held, actor="b")  # type: ignore[arg-type]
        lap("accept")
        await do_end_contact(db, **held, actor="b")  # type: ignore[arg-type]
        lap("end")
        await do_close_contact(db, **held, actor="b")  # type: ignore[arg-type]
        lap("close")
    return spent


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--contacts", type=int, default=200)
    args = parser.parse_args()
    name = f"tsunagi_actions_{uuid.uuid4().hex[:8]}"
    scratch = Path(tempfile.mkdtemp(prefix="tsunagi-actions-"))
    if args.profile == "postgres":
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite+aiosqlite:///{scratch / 'bench.sqlite3'}"
    await upgrade(url)
    db = Database(url)
    try:
        spent = await measure(db, args.contacts)
    finally:
        await db.dispose()
        if args.profile == "postgres":
            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    warm = args.contacts // 5
    medians = {name: 1000 * statistics.median(values[warm:]) for name, values in spent.items()}
    print(
        f"profile={args.profile} contacts={args.contacts} CPU per action (ms, median): "
        + " ".join(f"{name}={ms:.2f}" for name, ms in medians.items())
        + f" total={sum(medians.values()):.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
