"""Inbound SMS webhook ingest: signed webhooks/s and latency through the real app.

Run: ``python benchmarks/sms/bench_ingest.py --profile sqlite`` (or ``--profile postgres``
for PostgreSQL + Redis on 127.0.0.1; a scratch database is created and dropped).

It starts ``tsunagi serve`` in a subprocess on a fresh database, seeds one tenant, one
queue and its SMS number, then posts ``--messages`` signed inbound webhooks (the
provider's form fields and ``X-Twilio-Signature``) with ``--concurrency`` in flight,
from ``--numbers`` distinct phone numbers — so the first text of each number starts a
conversation and a routing contact, the rest continue it. Then it posts every
``--duplicates``-th webhook again (a provider retry) and checks nothing new was stored.
Latency = webhook answered − sent (client clock); the client is a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from sqlalchemy import func, select

from tsunagi.actions import accounts
from tsunagi.actions.sms import SmsSettings, do_configure_sms_account
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.sms import request_signature

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/0"
TOKEN = "bench-token"
OUR_NUMBER = "+815000000000"


async def seed(url: str, keyring: KeyRing, base: str) -> tuple[uuid.UUID, uuid.UUID]:
    await upgrade(url)
    db = Database(url)
    try:
        tenant_id = await accounts.do_create_tenant(db, slug="bench-sms", name="bench")
        async with db.scoped(tenant_id) as session, session.begin():
            queue = Queue(
                code="sms", name_ja="SMS", name_en="SMS", channel="sms", config={},
                created_at=datetime.now(UTC),
            )  # fmt: skip
            session.add(queue)
        account = await do_configure_sms_account(
            db, keyring, tenant_id=tenant_id, queue_id=queue.id,
            new=SmsSettings(account_sid="ACbench", from_number=OUR_NUMBER, auth_token=TOKEN,
                            webhook_base_url=base, api_base_url="http://127.0.0.1:9"),
            actor="bench",
        )  # fmt: skip
        return tenant_id, account.id
    finally:
        await db.dispose()


def webhook(url: str, sid: str, sender: str, body: str) -> tuple[dict[str, str], dict[str, str]]:
    form = {
        "MessageSid": sid,
        "AccountSid": "ACbench",
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    return form, {"X-Twilio-Signature": request_signature(TOKEN, url, list(form.items()))}


async def post_all(
    http: httpx.AsyncClient, url: str, items: list[tuple[str, str, str]], concurrency: int
) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            sid, sender, body = queue.get_nowait()
            form, headers = webhook(url, sid, sender, body)
            started = time.perf_counter()
            response = await http.post(url, data=form, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500 and statuses[response.status_code] == 1:
                print(f"first {response.status_code}: {response.text[-1500:]}", file=sys.stderr)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - began


async def counts(url: str, tenant_id: uuid.UUID) -> tuple[int, int, int]:
    db = Database(url)
    try:
        async with db.scoped(tenant_id, readonly=True) as session:
            found = [
                await session.scalar(select(func.count()).select_from(model))
                for model in (Conversation, ConversationMessage, RoutingContact)
            ]
        return found[0] or 0, found[1] or 0, found[2] or 0
    finally:
        await db.dispose()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(
    label: str, latencies: list[float], statuses: dict[int, int], seconds: float, cpu: float
) -> None:
    ordered = sorted(latencies)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    print(
        f"{label}: {len(latencies)} webhooks in {seconds:.1f} s = "
        f"{len(latencies) / seconds:.0f}/s; latency ms p50={statistics.median(ordered):.1f} "
        f"p99={p99:.1f} max={ordered[-1]:.1f}; answers {statuses}; server CPU "
        f"{cpu * 1000 / len(latencies):.1f} ms/webhook (= {len(latencies) / cpu:.0f}/CPU-s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--numbers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duplicates", type=int, default=10)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="tsunagi-bench-sms-"))
    database = f"tsunagi_bench_{uuid.uuid4().hex[:10]}"
    if args.profile == "sqlite":
        url = f"sqlite+aiosqlite:///{scratch / 'bench.sqlite3'}"
    else:
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        url = PG + database
    base = f"http://127.0.0.1:{args.port}"
    key_file = scratch / "keys" / "master.key"
    keyring = KeyRing(load_or_create_master_key(key_file, create=True))
    server: subprocess.Popen[bytes] | None = None
    log = scratch / "server.log"
    try:
        tenant_id, account_id = await seed(url, keyring, base)
        env = {
            **os.environ,
            "TSUNAGI_DATABASE_URL": url,
            "TSUNAGI_DATA_DIR": str(scratch),
            "TSUNAGI_MASTER_KEY_FILE": str(key_file),
            "TSUNAGI_ENV": "test",
            "TSUNAGI_DEBUG": os.environ.get("BENCH_DEBUG", "false"),
            "TSUNAGI_PUBLIC_REQUESTS_PER_MINUTE": "1000000",
        }
        if args.profile == "postgres":
            env["TSUNAGI_REDIS_URL"] = REDIS
        tsunagi = shutil.which("tsunagi") or str(Path(sys.executable).parent / "tsunagi")
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
            [tsunagi, "serve", "--port", str(args.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        url_in = f"{base}/hooks/sms/{account_id}/inbound"
        numbers = [f"+8190{n:08d}" for n in range(args.numbers)]
        items = [
            (f"SM{uuid.uuid4().hex}", numbers[i % len(numbers)], f"お問い合わせ {i} 番です")
            for i in range(args.messages)
        ]
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/api/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            cpu = cpu_s(server.pid)
            latencies, statuses, seconds = await post_all(http, url_in, items, args.concurrency)
            report(f"{args.profile} ingest", latencies, statuses, seconds, cpu_s(server.pid) - cpu)
            stored = await counts(url, tenant_id)
            print(f"stored: conversations, messages, contacts = {stored}")
            again = items[:: args.duplicates]
            cpu = cpu_s(server.pid)
            latencies, statuses, seconds = await post_all(http, url_in, again, args.concurrency)
            report(
                f"{args.profile} retried webhooks", latencies, statuses, seconds,
                cpu_s(server.pid) - cpu,
            )  # fmt: skip
            after = await counts(url, tenant_id)
            print(f"after retries: {after} ({'unchanged' if after == stored else 'CHANGED'})")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.profile == "postgres":
            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        if log.exists():
            shutil.copyfile(log, Path(tempfile.gettempdir()) / "tsunagi-bench-sms-server.log")
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
