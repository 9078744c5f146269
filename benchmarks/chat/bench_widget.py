"""Web chat under load: many open widget connections, a steady message rate, and the time
from a visitor sending a message to it arriving on the communicator's screen (socket).

Run: ``python benchmarks/chat/bench_widget.py --profile sqlite`` (or ``--profile postgres``
for PostgreSQL + Redis on 127.0.0.1; a scratch database is created and dropped).

It starts ``tsunagi serve`` in a subprocess on a fresh database (public rate limits lifted:
all the visitors come from one address here), creates a chat widget and ``--visitors``
chats through the public API, then opens one visitor socket per chat
(``/ws/widget/{id}/chat``) and one staff socket per chat (``/ws/conversations/{id}``,
a supervisor's API token), so the server holds 2 × ``--visitors`` WebSockets. Visitors
then send ``--rate`` messages per second in total for ``--seconds``, round-robin.
Latency = the message frame received on the staff socket − the moment the visitor's
frame was sent (one client process, one clock). Memory per connection = the server's
resident memory after opening all sockets minus before, divided by the sockets opened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect

from tsunagi.actions import accounts
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.domain.permissions import Principal, Role

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/0"


async def seed(url: str) -> tuple[str, str]:
    """A queue and a supervisor's API token; returns (queue id, token)."""
    await upgrade(url)
    db = Database(url)
    try:
        tenant_id = await accounts.do_create_tenant(
            db, slug=f"bench-{uuid.uuid4().hex[:6]}", name="bench"
        )
        now = datetime.now(UTC)
        async with db.scoped(tenant_id) as session, session.begin():
            queue = Queue(
                code="chat", name_ja="chat", name_en="chat", channel="chat", config={},
                created_at=now,
            )  # fmt: skip
            supervisor = User(
                username="bench-supervisor",
                display_name="supervisor",
                password_hash="-",
                roles=["supervisor", "administrator"],
                created_at=now,
                password_changed_at=now,
            )
            session.add_all([queue, supervisor])
        principal = Principal(
            user_id=supervisor.id,
            tenant_id=tenant_id,
            roles=frozenset({Role.SUPERVISOR, Role.ADMINISTRATOR}),
        )
        issued = await accounts.do_create_api_token(
            db,
            principal=principal,
            name="bench",
            scopes=["conversation:read", "conversation:update", "chat_widget:create"],
            expires_in_days=1,
        )
        return str(queue.id), issued.token
    finally:
        await db.dispose()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def start_chats(base: str, widget: str, count: int) -> list[dict[str, str]]:
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        semaphore = asyncio.Semaphore(20)

        async def one(number: int) -> dict[str, str]:
            async with semaphore:
                answer = await http.post(
                    f"/widget/{widget}/chats", json={"topic": "bench", "name": f"visitor {number}"}
                )
                answer.raise_for_status()
                return dict(answer.json())

        return list(await asyncio.gather(*(one(n) for n in range(count))))


async def open_visitor(url: str, token: str) -> ClientConnection:
    socket = await connect(url, open_timeout=120, max_queue=None)
    await socket.send(json.dumps({"type": "auth", "token": token}))
    json.loads(await socket.recv())  # snapshot
    return socket


async def open_staff(url: str, token: str) -> ClientConnection:
    socket = await connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=120,
        max_queue=None,
    )  # fmt: skip
    json.loads(await socket.recv())  # snapshot
    return socket


async def drain(socket: ClientConnection, received: dict[str, float]) -> None:
    with contextlib.suppress(Exception):
        async for frame in socket:
            message = json.loads(frame)
            if message.get("kind") == "message":
                text = message["message"].get("text") or ""
                if text.startswith("bench:"):
                    received.setdefault(text, time.perf_counter())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--timeline", action="store_true", help="latency per second of load")
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="app processes (PostgreSQL + Redis only): visitors on one, staff on another",
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="tsunagi-bench-chat-"))
    database = f"tsunagi_bench_{uuid.uuid4().hex[:10]}"
    if args.profile == "sqlite":
        url = f"sqlite+aiosqlite:///{scratch / 'bench.sqlite3'}"
    else:
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        url = PG + database
    servers: list[subprocess.Popen[bytes]] = []
    sockets: list[ClientConnection] = []
    if args.servers > 1 and args.profile != "postgres":
        raise SystemExit("several app processes need the postgres profile (Redis bus)")
    try:
        queue_id, token = await seed(url)
        env = {
            **os.environ,
            "TSUNAGI_DATABASE_URL": url,
            "TSUNAGI_DATA_DIR": str(scratch),
            "TSUNAGI_ENV": "test",
            "TSUNAGI_PUBLIC_REQUESTS_PER_MINUTE": "10000000",
        }
        if args.profile == "postgres":
            env["TSUNAGI_REDIS_URL"] = REDIS
        tsunagi = shutil.which("tsunagi") or str(Path(sys.executable).parent / "tsunagi")
        log = (scratch / "server.log").open("wb")
        for index in range(args.servers):
            servers.append(
                subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
                    [tsunagi, "serve", "--port", str(args.port + index)],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        bases = [f"http://127.0.0.1:{args.port + i}" for i in range(args.servers)]
        base = bases[0]
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            for each in bases:
                for _ in range(600):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{each}/api/health")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            made = await http.post(
                "/api/v1/chat/widgets",
                json={
                    "name": "bench",
                    "topics": [
                        {"code": "bench", "label_ja": "b", "label_en": "b", "queue_id": queue_id}
                    ],
                },
            )
            made.raise_for_status()
            widget = made.json()["id"]
        began = time.perf_counter()
        chats = await start_chats(base, widget, args.visitors)
        print(
            f"{len(chats)} chats started in {time.perf_counter() - began:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        before = sum(rss_kib(s.pid) for s in servers)
        visitor_ws = bases[0].replace("http://", "ws://")
        staff_ws = bases[-1].replace("http://", "ws://")
        visitors: list[ClientConnection] = []
        received: dict[str, float] = {}
        batch = 100
        for offset in range(0, len(chats), batch):
            part = chats[offset : offset + batch]
            visitors += await asyncio.gather(
                *(open_visitor(f"{visitor_ws}/ws/widget/{widget}/chat", c["token"]) for c in part)
            )
            staff = await asyncio.gather(
                *(
                    open_staff(f"{staff_ws}/ws/conversations/{c['conversation_id']}", token)
                    for c in part
                )
            )
            sockets += staff
        sockets += visitors
        await asyncio.sleep(2.0)
        # The load generator's own garbage collection must not show up as server latency:
        # everything made so far is long-lived, so keep it out of later collections.
        gc.collect()
        gc.freeze()
        after = sum(rss_kib(s.pid) for s in servers)
        per_socket = (after - before) / len(sockets)
        print(
            f"{len(sockets)} sockets open; server RSS {before / 1024:.0f} → {after / 1024:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
        drains = [asyncio.create_task(drain(s, received)) for s in sockets if s not in visitors]
        for socket in visitors:  # visitors' own echoes must be read too, or buffers grow
            drains.append(asyncio.create_task(drain(socket, {})))
        sent: dict[str, float] = {}
        total = int(args.rate * args.seconds)
        started = time.perf_counter()
        for number in range(total):
            target = started + number / args.rate
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            text = f"bench:{number}"
            sent[text] = time.perf_counter()
            await visitors[number % len(visitors)].send(
                json.dumps({"type": "message", "id": f"b{number}", "text": text})
            )
        elapsed = time.perf_counter() - started
        await asyncio.sleep(3.0)
        latencies = [(received[t] - s) * 1000 for t, s in sent.items() if t in received]
        print(
            f"profile={args.profile} servers={args.servers} visitors={args.visitors} "
            f"sockets={len(sockets)} "
            f"rate={args.rate}/s (achieved {total / elapsed:.0f}/s) seconds={args.seconds} "
            f"messages={total} delivered={len(latencies)} lost={total - len(latencies)}"
        )
        if latencies:
            print(
                "visitor → communicator's socket (ms): "
                f"p50={statistics.median(latencies):.1f} p90={percentile(latencies, 0.90):.1f} "
                f"p99={percentile(latencies, 0.99):.1f} max={max(latencies):.1f}"
            )
        if args.timeline:
            buckets: dict[int, list[float]] = {}
            for text, at in sent.items():
                if text in received:
                    buckets.setdefault(int(at - started), []).append((received[text] - at) * 1000)
            for second in sorted(buckets):
                values = buckets[second]
                print(
                    f"  t={second:3d}s p50={statistics.median(values):7.1f} max={max(values):7.1f}"
                )
        print(
            f"server memory: {per_socket:.1f} KiB per WebSocket "
            f"({(after - before) / 1024:.1f} MiB for {len(sockets)}; RSS {after / 1024:.0f} MiB)"
        )
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        for server in servers:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.profile == "postgres":
            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
