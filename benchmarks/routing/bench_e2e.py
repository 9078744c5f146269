"""End to end: contact created through the API → offer delivered on the agent's desk socket.

Run: ``python benchmarks/routing/bench_e2e.py --profile sqlite`` (or ``--profile postgres``
for PostgreSQL + Redis on 127.0.0.1; a scratch database is created and dropped).

It starts ``tsunagi serve`` in a subprocess on a fresh database, seeds one queue and
``--agents`` ready agents (skill ``bench``, one voice call each), opens one
``/ws/routing/desk`` WebSocket per agent (API-token auth), then a load generator POSTs
``/api/v1/contacts`` at ``--rate`` per second for ``--seconds``. Each agent, on its
offer, accepts, talks ``--talk-s``, ends and closes: by commands on its desk socket
(``--agents-via ws``, the default, as a desk that keeps its socket open) or through the
REST API (``--agents-via rest``, one HTTP client per agent).
Latency = offer received on the socket − moment the POST was sent (client clock, one
process). All in one client process (asyncio on uvloop; the creates through a small
keep-alive HTTP/1.1 client over asyncio streams, the desks through ``websockets``, httpx
only for ``--agents-via rest``); the server is a separate process; PostgreSQL/Redis are
the local services.

It also prints the CPU time spent during the load window (from the first POST until
every contact is closed, or at most ``--talk-s`` + 10 s after the last POST) by the
server process, this load generator, the PostgreSQL backends of the scratch database and
the Redis server (Redis is shared with whatever else runs on the machine), per contact,
the database's transactions per contact, and the load average before and after; on
PostgreSQL, the tables read by sequential scans during the run (a plan that scans a table
growing with every contact shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
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
from websockets.asyncio.client import ClientConnection, connect

from tsunagi.actions import accounts
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.domain.permissions import Principal, Role
from tsunagi.routing.agents import AgentProfile, Presence

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/0"


def calibration() -> str:
    """This machine's speed, to compare runs made on different machines: the CPU model and
    the best of three timings of a pure-Python loop of ten million additions (lower is
    faster). Taken after the load, with the server idle."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for number in range(10_000_000):
            total += number
        timings.append(time.perf_counter() - started)
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"machine: {model}, {os.cpu_count()} cores; 10M-addition loop {min(timings):.2f} s"


def start_py_spy(output: str, pid: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the running server (100 Hz, speedscope JSON) until interrupted."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [spy, "record", "-r", "100", "-f", "speedscope", "-o", output, "--subprocesses"]
    command += ["--pid", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


LOOP_PROFILE_DIR = Path(__file__).resolve().parent / "loop_profile"


def print_loop_profile(path: Path, contacts: int) -> None:
    """The largest entries of ``--loop-profile``'s counts, per contact and as shares."""
    figures: dict[str, list[float]] = json.loads(path.read_text())
    total = sum(cpu for cpu, _ in figures.values())
    print(f"server main thread by task ({total:.1f} s CPU, {contacts} contacts):")
    for key, (cpu, steps) in sorted(figures.items(), key=lambda kv: -kv[1][0])[:25]:
        print(
            f"  {100 * cpu / total:5.1f} %  {1000 * cpu / max(contacts, 1):6.2f} ms/contact"
            f"  {steps / max(contacts, 1):6.1f} steps/contact  {key}"
        )


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
    answered: dict[str, float] = field(default_factory=dict)  # the create's 201 came back
    errors: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # create answers other than 201
    closed: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    warmup: set[str] = field(default_factory=set)  # contacts of the warm-up (not measured)

    def measured(self) -> list[tuple[str, float]]:
        """(contact id, time sent) of every create that counts."""
        return [(c, sent) for c, sent in self.sent.items() if c not in self.warmup]


class CommandError(Exception):
    pass


async def agent_loop(
    base: str,
    agent_id: uuid.UUID,
    token: str,
    measure: Measure,
    talk_s: float,
    ready: asyncio.Event,
    connected: list[int],
    via: str,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    ws_url = base.replace("http://", "ws://") + "/ws/routing/desk"
    async with contextlib.AsyncExitStack() as stack:
        http = None
        if via == "rest":
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=base, headers=headers, timeout=30)
            )
        socket = await stack.enter_async_context(
            connect(ws_url, additional_headers=headers, open_timeout=60, max_queue=None)
        )
        json.loads(await socket.recv())  # the snapshot
        connected[0] += 1
        pending: dict[int, asyncio.Future[dict[str, object]]] = {}
        await ready.wait()
        async for frame in socket:
            message = json.loads(frame)
            if message.get("kind") in ("done", "error"):
                future = pending.pop(message.get("ref"), None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            event = message.get("event", {})
            if event.get("type") != "contact.offered" or event.get("agent_id") != str(agent_id):
                continue
            contact_id = event["contact_id"]
            if contact_id in measure.received:
                continue  # the same offer again (fast path and outbox both send it)
            measure.received[contact_id] = time.perf_counter()
            if http is not None:
                work = handle(http, contact_id, talk_s, measure)
            else:
                work = handle_ws(socket, pending, contact_id, talk_s, measure)
            measure.tasks.add(asyncio.create_task(work))


REFS = iter(range(1, 1 << 62))


async def handle_ws(
    socket: ClientConnection,
    pending: dict[int, asyncio.Future[dict[str, object]]],
    contact_id: str,
    talk_s: float,
    measure: Measure,
) -> None:
    """Accept, talk, end and close with commands on the desk socket, each awaiting its answer."""
    try:
        for op in ("accept", "end", "close"):
            ref = next(REFS)
            answer: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
            pending[ref] = answer
            await socket.send(json.dumps({"op": op, "contact_id": contact_id, "ref": ref}))
            reply = await asyncio.wait_for(answer, 30)
            if reply["kind"] != "done":
                raise CommandError(str(reply))
            if op == "accept":
                await asyncio.sleep(talk_s)
        measure.closed += 1
    except (CommandError, TimeoutError):
        measure.errors += 1


async def handle(http: httpx.AsyncClient, contact_id: str, talk_s: float, measure: Measure) -> None:
    try:
        for step in ("accept", "end"):
            response = await http.post(f"/api/v1/contacts/{contact_id}/{step}")
            response.raise_for_status()
            if step == "accept":
                await asyncio.sleep(talk_s)
        (await http.post(f"/api/v1/contacts/{contact_id}/close", json={})).raise_for_status()
        measure.closed += 1
    except httpx.HTTPError:
        measure.errors += 1


class KeepAlivePool:
    """A small HTTP/1.1 client for the create requests: real sockets and real HTTP (one
    request at a time per connection, kept alive and reused most-recent-first), without
    the per-request cost of a general client, which shared the server's two cores."""

    def __init__(self, base: str, token: str) -> None:
        host_port = base.split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.head = (
            f"Host: {host_port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        ).encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reused = bool(self.idle)
        reader, writer = self.idle.pop() if reused else await self._open()
        request = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
            path.encode(),
            self.head,
            len(body),
            body,
        )
        try:
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionResetError("closed before answering")
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            if not reused:
                raise
            # The server closed an idle kept-alive connection before reading: send again.
            reader, writer = await self._open()
            writer.write(request)
            status_line = await reader.readline()
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        answer = await reader.readexactly(length)
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, answer

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        for _reader, writer in self.idle:
            writer.close()
        self.idle.clear()


async def load(base: str, seeded: Seeded, rate: float, seconds: float, measure: Measure) -> int:
    pool = KeepAlivePool(base, seeded.admin_token)
    body = json.dumps({"channel": "voice", "queue_id": seeded.queue_id}).encode()
    try:
        tasks = []
        started = time.perf_counter()
        total = int(rate * seconds)
        for number in range(total):
            target = started + number / rate
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            tasks.append(asyncio.create_task(create(pool, body, measure)))
        await asyncio.gather(*tasks)
    finally:
        pool.close()
    print(f"create connections opened: {pool.opened}", file=sys.stderr)
    return total


async def create(pool: KeepAlivePool, body: bytes, measure: Measure) -> None:
    sent = time.perf_counter()
    try:
        status, answer = await pool.post("/api/v1/contacts", body)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        print(f"create failed: {exc!r}", file=sys.stderr)
        measure.errors += 1
        return
    if status != 201:  # 503: the create route's admission limit (ADR 0207)
        measure.errors += 1
        measure.refused[status] = measure.refused.get(status, 0) + 1
        return
    contact_id = json.loads(answer)["id"]
    measure.sent[contact_id] = sent
    measure.answered[contact_id] = time.perf_counter()


async def analyze_every(database: str, seconds: float) -> None:
    """ANALYZE the scratch database every ``seconds`` (until cancelled)."""
    connection = await asyncpg.connect(host="127.0.0.1", user="postgres", database=database)
    try:
        while True:
            await asyncio.sleep(seconds)
            await connection.execute("ANALYZE")
    finally:
        await connection.close()


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


async def table_scans(database: str) -> None:
    """PostgreSQL: the tables read by sequential scans during the run (rows read that way,
    scans, index scans, live and dead rows): a plan that scans a growing table shows here."""
    connection = await asyncpg.connect(host="127.0.0.1", user="postgres", database=database)
    try:
        rows = await connection.fetch(
            "SELECT relname, seq_scan, seq_tup_read, idx_scan, n_live_tup, n_dead_tup"
            " FROM pg_stat_user_tables WHERE seq_tup_read > 10000 ORDER BY seq_tup_read DESC"
        )
    finally:
        await connection.close()
    shown = ", ".join(
        f"{r['relname']} {r['seq_tup_read']} rows in {r['seq_scan']} scans"
        f" (index scans {r['idx_scan']}, {r['n_live_tup']} live, {r['n_dead_tup']} dead)"
        for r in rows
    )
    print(f"sequential scans over 10,000 rows: {shown or 'none'}")


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


async def database_side(profile: str, database: str) -> tuple[list[int], int]:
    """The PostgreSQL backends of the scratch database and its transactions so far."""
    if profile != "postgres":
        return [], 0
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        transactions = await admin.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            database,
        )
    finally:
        await admin.close()
    return [row["pid"] for row in rows], int(transactions or 0)


def redis_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "redis-server":
                    pids.append(int(entry.name))
    return pids


@dataclass
class CpuMark:
    at: float
    server: float  # the server process and its children (the figures projector)
    children: float  # the children alone
    client: float
    database: dict[int, float]
    redis: float
    transactions: int


async def cpu_mark(server_pids: list[int], profile: str, database: str) -> CpuMark:
    usage = os.times()
    backends, transactions = await database_side(profile, database)
    return CpuMark(
        at=time.perf_counter(),
        server=sum(cpu_s(pid) for pid in server_pids),
        children=sum(cpu_s(pid) for pid in server_pids[1:]),
        client=usage.user + usage.system,
        database={pid: cpu_s(pid) for pid in backends},
        redis=sum(cpu_s(pid) for pid in redis_pids()),
        transactions=transactions,
    )


def report_cpu(
    before: CpuMark, after: CpuMark, contacts: int, idle: tuple[CpuMark, CpuMark] | None = None
) -> None:
    wall = after.at - before.at
    database = sum(v - before.database.get(pid, 0.0) for pid, v in after.database.items())
    parts = {
        "server": after.server - before.server,
        "load generator": after.client - before.client,
        "database backends": database,
        "redis": after.redis - before.redis,
    }
    per = ", ".join(
        f"{name} {seconds:.1f} s ({100 * seconds / wall:.0f} % of a core, "
        f"{1000 * seconds / max(1, contacts):.1f} ms/contact)"
        for name, seconds in parts.items()
    )
    print(f"CPU over the {wall:.1f} s load window ({contacts} contacts offered): {per}")
    children = after.children - before.children
    if children:
        print(
            f"  the server's share in its child processes (figures projector): {children:.1f} s "
            f"({100 * children / wall:.0f} % of a core, "
            f"{1000 * children / max(1, contacts):.1f} ms/contact)"
        )
    if after.transactions:
        made = after.transactions - before.transactions
        print(f"database transactions: {made} ({made / max(1, contacts):.1f} per contact)")
    if idle is not None:
        # Net of what the server does anyway with the desks open (sweeps, polls, other
        # features' workers), at the idle rate measured before the load, over the window.
        idle_wall = idle[1].at - idle[0].at
        cpu_rate = (idle[1].server - idle[0].server) / idle_wall
        net_cpu = (after.server - before.server) - cpu_rate * wall
        line = f"net of the idle rate: server {1000 * net_cpu / max(1, contacts):.1f} ms/contact"
        if after.transactions:
            tx_rate = (idle[1].transactions - idle[0].transactions) / idle_wall
            net_tx = (after.transactions - before.transactions) - tx_rate * wall
            line += (
                f", {net_tx / max(1, contacts):.1f} transactions/contact"
                f" (idle: {tx_rate:.1f} transactions/s)"
            )
        print(line)


def slow_seconds(measure: Measure, over_ms: float = 50.0, shown: int = 5) -> str:
    """Where in the run the slow offers were: the seconds of the load (from its start) with
    the most creates whose offer took over ``over_ms``; a few bad seconds (a stall) read
    differently from slow offers spread over the whole run (a saturated server)."""
    measured = measure.measured()
    if not measured:
        return "no creates"
    start = min(sent for _c, sent in measured)
    slow: dict[int, list[float]] = {}
    for contact_id, sent in measured:
        received = measure.received.get(contact_id)
        if received is not None and (received - sent) * 1000 > over_ms:
            slow.setdefault(int(sent - start), []).append((received - sent) * 1000)
    count = sum(len(values) for values in slow.values())
    worst = sorted(slow.items(), key=lambda item: -len(item[1]))[:shown]
    return (
        f"offers over {over_ms:.0f} ms: {count} in {len(slow)} of the load's seconds; most in "
        + (
            ", ".join(f"second {at} ({len(v)}, max {max(v):.0f} ms)" for at, v in worst)
            if worst
            else "none"
        )
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
    parser.add_argument(
        "--warmup-s",
        type=float,
        default=0.0,
        help="run the load this long first, unmeasured: its contacts are left out of the "
        "latencies (the first ends and closes compile their statements, for one)",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--agents-via",
        choices=["ws", "rest"],
        default="ws",
        help="how agents accept, end and close: desk-socket commands or REST requests",
    )
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=0.0,
        metavar="S",
        help="PostgreSQL: ANALYZE the scratch database every S seconds during the load (what "
        "autovacuum would do; this machine's PostgreSQL runs with autovacuum off)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="profile the server with py-spy over the load window only (attached by process"
        " id when the load starts, stopped when it ends) and write it (speedscope JSON) to FILE",
    )
    parser.add_argument(
        "--loop-profile",
        metavar="FILE",
        help="count the server's CPU time by task over the load window "
        "(loop_profile/sitecustomize.py), write it as JSON to FILE and print the largest",
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
    analyzer: asyncio.Task[None] | None = None
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
        if args.loop_profile:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, (str(LOOP_PROFILE_DIR), env.get("PYTHONPATH")))
            )
            env["LOOP_PROFILE"] = args.loop_profile
        tsunagi = shutil.which("tsunagi") or str(Path(sys.executable).parent / "tsunagi")
        command = [tsunagi, "serve", "--port", str(args.port)]
        server_log = (scratch / "serve-output.log").open("wb")
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
            command,
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
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
                agent_loop(
                    base, agent_id, token, measure, args.talk_s, ready, connected, args.agents_via
                )
            )
            for agent_id, token in seeded.agents
        ]
        while connected[0] < len(agents):
            await asyncio.sleep(0.1)
            if any(task.done() for task in agents):
                raise SystemExit(f"an agent socket failed: {next(t for t in agents if t.done())}")
        ready.set()
        print(f"{len(agents)} desks connected; load starts", file=sys.stderr, flush=True)
        server_pids = [server.pid, *child_pids(server.pid)]
        # What the server spends with the desks open and no contacts (engine sweeps, the
        # relay and projector polls, the desks' 15 s credential re-checks).
        idle = await cpu_mark(server_pids, args.profile, database)
        await asyncio.sleep(5.0)
        idle_after = await cpu_mark(server_pids, args.profile, database)
        idle_share = (idle_after.server - idle.server) / (idle_after.at - idle.at)
        load_before = os.getloadavg()
        spy = start_py_spy(args.py_spy, server.pid) if args.py_spy else None
        analyzer = (
            asyncio.create_task(analyze_every(database, args.analyze_every))
            if args.profile == "postgres" and args.analyze_every > 0
            else None
        )
        if args.warmup_s > 0:
            await load(base, seeded, args.rate, args.warmup_s, measure)
            measure.warmup = set(measure.sent)
            print(f"warm-up done ({len(measure.warmup)} contacts)", file=sys.stderr, flush=True)
        if args.loop_profile:
            server.send_signal(signal.SIGUSR1)  # counts from here
        before = await cpu_mark(server_pids, args.profile, database)
        total = await load(base, seeded, args.rate, args.seconds, measure)
        # Drain: until every contact created is offered and closed (at most talk + 10 s), so
        # the CPU counted is each contact's whole life.
        for _ in range(int((args.talk_s + 10.0) / 0.2)):
            if len(measure.received) >= len(
                measure.sent
            ) and measure.closed + measure.errors >= len(measure.received):
                break
            await asyncio.sleep(0.2)
        after = await cpu_mark(server_pids, args.profile, database)
        if args.loop_profile:
            server.send_signal(signal.SIGUSR2)
            await asyncio.sleep(0.5)
            print_loop_profile(Path(args.loop_profile), len(measure.measured()))
        if analyzer is not None:
            analyzer.cancel()  # (and in the finally below, should the run fail before)
        if spy is not None:  # py-spy writes its profile when interrupted
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        await asyncio.sleep(2.0)
        load_after = os.getloadavg()
        latencies = [
            (measure.received[c] - sent) * 1000
            for c, sent in measure.measured()
            if c in measure.received
        ]
        missing = len(measure.measured()) - len(latencies)
        print(
            f"profile={args.profile} agents={args.agents} rate={args.rate}/s "
            f"seconds={args.seconds} contacts={total} offers_received={len(latencies)} "
            f"not_offered={missing} errors={measure.errors} closed={measure.closed} "
            f"agents_via={args.agents_via}"
            + (f" warmup_s={args.warmup_s} (not measured)" if args.warmup_s > 0 else "")
            + (f" creates_refused={measure.refused}" if measure.refused else "")
        )
        print(calibration())
        print(
            "load average (1/5/15 min) before "
            + " ".join(f"{v:.2f}" for v in load_before)
            + " → after "
            + " ".join(f"{v:.2f}" for v in load_after)
        )
        print(
            f"server idle with {len(agents)} desks open, before the load: "
            f"{100 * idle_share:.0f} % of a core"
        )
        report_cpu(before, after, len(latencies), (idle, idle_after))
        if latencies:
            print(
                f"create→offer on the desk socket (ms): p50={statistics.median(latencies):.1f} "
                f"p90={percentile(latencies, 0.90):.1f} p99={percentile(latencies, 0.99):.1f} "
                f"max={max(latencies):.1f}"
            )
            print(slow_seconds(measure))
            # Split: the create's answer (sent → 201) and the offer after it (201 → offer;
            # negative when the offer reached the desk before the answer reached the client).
            answers = [
                (measure.answered[c] - sent) * 1000
                for c, sent in measure.measured()
                if c in measure.answered
            ]
            after_answer = [
                (measure.received[c] - measure.answered[c]) * 1000
                for c, _ in measure.measured()
                if c in measure.received and c in measure.answered
            ]
            for label, values in (("create answered", answers), ("answer→offer", after_answer)):
                if values:
                    print(
                        f"{label} (ms): p50={statistics.median(values):.1f} "
                        f"p90={percentile(values, 0.90):.1f} p99={percentile(values, 0.99):.1f}"
                    )
        await server_side(url)
        if args.profile == "postgres":
            await table_scans(database)
        for task in [*agents, *measure.tasks]:
            task.cancel()
        await asyncio.gather(*measure.tasks, return_exceptions=True)
        await asyncio.gather(*agents, return_exceptions=True)
    finally:
        if analyzer is not None:
            analyzer.cancel()
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        if args.profile == "postgres":
            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        for name in ("server.log", "serve-output.log"):
            log = scratch / name
            if log.exists():
                shutil.copyfile(
                    log, Path(tempfile.gettempdir()) / f"tsunagi-bench-{args.port}-{name}"
                )
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    try:
        import uvloop  # the server's event loop too (uvicorn picks it when installed)
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
