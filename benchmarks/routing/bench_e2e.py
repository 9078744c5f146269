"""End to end: contact created through the API → offer delivered on the agent's desk socket.

Run: ``python benchmarks/routing/bench_e2e.py --profile sqlite`` (or ``--profile postgres``
for PostgreSQL + Redis on 127.0.0.1; a scratch database is created and dropped).

It starts ``tsunagi serve`` in a subprocess on a fresh database, seeds one queue and
``--agents`` ready agents (skill ``bench``, one voice call each), opens one
``/ws/routing/desk`` WebSocket per agent (API-token auth), then a load generator POSTs
``/api/v1/contacts`` at ``--rate`` per second for ``--seconds``. Each agent, on its
offer, accepts, talks ``--talk-s`` and closes, through the REST API like the desk page.
Latency = offer received on the socket − moment the POST was sent (client clock, one
process). All in one client process (asyncio, httpx, websockets); the server is a separate
process; PostgreSQL/Redis are the local services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from websockets.asyncio.client import connect

from tsunagi.actions import accounts
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.domain.permissions import Principal, Role
from tsunagi.routing.agents import AgentProfile, Presence

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Seeded:
    queue_id: str
    admin_token: str
    agents: list[tuple[uuid.UUID, str]] = field(default_factory=list)


async def seed(url: str, agents: int) -> Seeded:
    await upgrade(url)
    db = Database(url)
    try:
        tenant_id = await accounts.do_create_tenant(
            db, slug=f"bench-{uuid.uuid4().hex[:6]}", name="bench"
        )
        now = datetime.now(UTC)
        async with db.scoped(tenant_id) as session, session.begin():
            queue = Queue(
                code="bench",
                name_ja="bench",
                name_en="bench",
                channel="voice",
                config={"routing": {"offer_timeout_s": 60}},
                created_at=now,
            )
            session.add(queue)
            users = [
                User(
                    username=f"agent{i:04d}",
                    display_name=f"agent {i}",
                    password_hash="-",
                    roles=["communicator"],
                    created_at=now,
                    password_changed_at=now,
                )
                for i in range(agents)
            ]
            admin = User(
                username="bench-admin",
                display_name="admin",
                password_hash="-",
                roles=["administrator"],
                created_at=now,
                password_changed_at=now,
            )
            session.add_all([*users, admin])
        admin_token = await _token(db, admin, ["contact:create"])
        seeded = Seeded(str(queue.id), admin_token)
        for user in users:
            await do_set_agent_profile(
                db,
                tenant_id=tenant_id,
                agent_id=user.id,
                profile=AgentProfile(skills={"bench": 5}),
                actor="bench",
            )
            await do_set_presence(
                db, tenant_id=tenant_id, agent_id=user.id, presence=Presence.READY, actor="bench"
            )
            token = await _token(db, user, ["desk:read", "contact:update"])
            seeded.agents.append((user.id, token))
        return seeded
    finally:
        await db.dispose()


async def _token(db: Database, user: User, scopes: list[str]) -> str:
    principal = Principal(
        user_id=user.id, tenant_id=user.tenant_id, roles=frozenset(Role(r) for r in user.roles)
    )
    issued = await accounts.do_create_api_token(
        db, principal=principal, name="bench", scopes=scopes, expires_in_days=1
    )
    return issued.token


@dataclass
class Measure:
    sent: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


async def agent_loop(
    base: str,
    agent_id: uuid.UUID,
    token: str,
    measure: Measure,
    talk_s: float,
    ready: asyncio.Event,
    connected: list[int],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    ws_url = base.replace("http://", "ws://") + "/ws/routing/desk"
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http,
        connect(ws_url, additional_headers=headers, open_timeout=60, max_queue=None) as socket,
    ):
        json.loads(await socket.recv())  # the snapshot
        connected[0] += 1
        await ready.wait()
        async for frame in socket:
            message = json.loads(frame)
            event = message.get("event", {})
            if event.get("type") != "contact.offered" or event.get("agent_id") != str(agent_id):
                continue
            contact_id = event["contact_id"]
            if contact_id in measure.received:
                continue  # the same offer again (fast path and outbox both send it)
            measure.received[contact_id] = time.perf_counter()
            measure.tasks.add(asyncio.create_task(handle(http, contact_id, talk_s, measure)))


async def handle(http: httpx.AsyncClient, contact_id: str, talk_s: float, measure: Measure) -> None:
    try:
        for step in ("accept", "end"):
            response = await http.post(f"/api/v1/contacts/{contact_id}/{step}")
            response.raise_for_status()
            if step == "accept":
                await asyncio.sleep(talk_s)
        (await http.post(f"/api/v1/contacts/{contact_id}/close", json={})).raise_for_status()
    except httpx.HTTPError:
        measure.errors += 1


async def load(base: str, seeded: Seeded, rate: float, seconds: float, measure: Measure) -> int:
    headers = {"Authorization": f"Bearer {seeded.admin_token}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) as http:
        tasks = []
        started = time.perf_counter()
        total = int(rate * seconds)
        for number in range(total):
            target = started + number / rate
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            tasks.append(asyncio.create_task(create(http, seeded.queue_id, measure)))
        await asyncio.gather(*tasks)
    return total


async def create(http: httpx.AsyncClient, queue_id: str, measure: Measure) -> None:
    sent = time.perf_counter()
    response = await http.post("/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id})
    if response.status_code != 201:
        measure.errors += 1
        return
    measure.sent[response.json()["id"]] = sent


async def server_side(url: str) -> None:
    """created → offered as the server stamped them (event times), to split the latency."""
    from sqlalchemy import select

    from tsunagi.adapters.storage.models import OutboxEvent

    db = Database(url)
    try:
        async with db.system(readonly=True) as session:
            rows = (
                await session.execute(
                    select(OutboxEvent.type, OutboxEvent.payload).where(
                        OutboxEvent.type.in_(["contact.created", "contact.offered"])
                    )
                )
            ).all()
    finally:
        await db.dispose()
    created: dict[str, datetime] = {}
    offered: dict[str, datetime] = {}
    for kind, payload in rows:
        event = json.loads(payload)
        target = created if kind == "contact.created" else offered
        target.setdefault(event["contact_id"], datetime.fromisoformat(event["occurred_at"]))
    gaps = [(offered[c] - created[c]).total_seconds() * 1000 for c in created if c in offered]
    if gaps:
        print(
            f"server: contact.created → contact.offered (ms): p50={statistics.median(gaps):.1f} "
            f"p99={percentile(gaps, 0.99):.1f} max={max(gaps):.1f}"
        )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--talk-s", type=float, default=3.0)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="run the server under py-spy and write its profile (speedscope JSON) to FILE",
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="tsunagi-bench-"))
    database = f"tsunagi_bench_{uuid.uuid4().hex[:10]}"
    if args.profile == "sqlite":
        url = f"sqlite+aiosqlite:///{scratch / 'bench.sqlite3'}"
    else:
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        url = PG + database
    server: subprocess.Popen[bytes] | None = None
    try:
        seeded = await seed(url, args.agents)
        env = {
            **os.environ,
            "TSUNAGI_DATABASE_URL": url,
            "TSUNAGI_DATA_DIR": str(scratch),
            "TSUNAGI_ENV": "test",
        }
        if args.profile == "postgres":
            env["TSUNAGI_REDIS_URL"] = REDIS
        tsunagi = shutil.which("tsunagi") or str(Path(sys.executable).parent / "tsunagi")
        command = [tsunagi, "serve", "--port", str(args.port)]
        if args.py_spy:
            spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            command = [spy, "record", "-r", "100", "-f", "speedscope", "-o", args.py_spy, "--"]
            command += [tsunagi, "serve", "--port", str(args.port)]
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{args.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            if server.poll() is not None:
                raise SystemExit((scratch / "server.log").read_text())
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/api/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        measure = Measure()
        ready = asyncio.Event()
        connected = [0]
        agents = [
            asyncio.create_task(
                agent_loop(base, agent_id, token, measure, args.talk_s, ready, connected)
            )
            for agent_id, token in seeded.agents
        ]
        while connected[0] < len(agents):
            await asyncio.sleep(0.1)
            if any(task.done() for task in agents):
                raise SystemExit(f"an agent socket failed: {next(t for t in agents if t.done())}")
        ready.set()
        print(f"{len(agents)} desks connected; load starts", file=sys.stderr, flush=True)
        total = await load(base, seeded, args.rate, args.seconds, measure)
        await asyncio.sleep(2.0)
        latencies = [
            (measure.received[c] - sent) * 1000
            for c, sent in measure.sent.items()
            if c in measure.received
        ]
        missing = len(measure.sent) - len(latencies)
        print(
            f"profile={args.profile} agents={args.agents} rate={args.rate}/s "
            f"seconds={args.seconds} contacts={total} offers_received={len(latencies)} "
            f"not_offered={missing} errors={measure.errors}"
        )
        if latencies:
            print(
                f"create→offer on the desk socket (ms): p50={statistics.median(latencies):.1f} "
                f"p90={percentile(latencies, 0.90):.1f} p99={percentile(latencies, 0.99):.1f} "
                f"max={max(latencies):.1f}"
            )
        await server_side(url)
        for task in [*agents, *measure.tasks]:
            task.cancel()
        await asyncio.gather(*measure.tasks, return_exceptions=True)
        await asyncio.gather(*agents, return_exceptions=True)
    finally:
        if server is not None:
            if args.py_spy:  # py-spy writes its profile when the server it runs ends
                subprocess.run(  # noqa: ASYNC221 - at the end, after the measurement
                    ["pkill", "-INT", "-f", f"serve --port {args.port}"], check=False
                )
            else:
                server.terminate()
            server.wait(timeout=60)
        if args.profile == "postgres":
            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        log = scratch / "server.log"
        if log.exists():
            shutil.copyfile(log, Path(tempfile.gettempdir()) / "tsunagi-bench-server.log")
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
