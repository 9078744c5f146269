"""Calls as routing contacts under load: sipp callers → voice worker → contacts in the
database → routing engine (leader) → agents' phones (a sipp UAS farm) → bridged.

Every call: answered, recorded, the flow sends it to queue ``bench`` (a contact created
with ``do_create_contact`` and its caller identified with ``do_identify_party``), queue
music, offered by the routing engine to a ready agent, the agent's phone rings and answers
(sipp ``-sn uas -rtp_echo``), the offer is accepted and the legs bridged; the caller hangs
up after ~22 s of speech → ``do_end_contact``; the recording is sealed with the tenant's
key. ``--agents`` defaults to ``--calls`` (every call finds an agent).

Run (from the repository root, rtpengine and sipp installed):
  .venv/bin/python benchmarks/voice/bench_contacts.py --calls 50 --rate 5
  .venv/bin/python benchmarks/voice/bench_contacts.py --calls 50 --rate 5 --profile postgres

Prints call setup (INVITE → 200 OK), queue → connected (the contact's ``waited_s``),
contacts by final state, failed calls and CPU of the worker process (voice + routing +
database client) and rtpengine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from bench_calls import HERE, cpu_seconds, percentile, rss_mib, write_music
from sqlalchemy import func, select

from tsunagi.actions import accounts
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.bus.redis import RedisBus
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.telephony.channel import DatabaseCallContacts
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine, VoiceWorkerConfig
from tsunagi.adapters.telephony.processes import (
    RtpengineSettings,
    free_port,
    free_udp_range,
    start_rtpengine,
)
from tsunagi.adapters.telephony.recordings import RecordingVault
from tsunagi.ports.bus import EventBus
from tsunagi.routing.agents import AgentProfile, Presence
from tsunagi.voice.center import CallCenter
from tsunagi.voice.ivr import Flow, ToQueue
from tsunagi.voice.plan import NumberRoute, VoicePlan

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/0"


async def seed(db: Database, agents: int, farm: str) -> tuple[uuid.UUID, VoicePlan]:
    slug = f"bench-{uuid.uuid4().hex[:6]}"
    tenant_id = await accounts.do_create_tenant(db, slug=slug, name="bench")
    now = datetime.now(UTC)
    async with db.scoped(tenant_id) as session, session.begin():
        session.add(
            Queue(
                code="bench",
                name_ja="bench",
                name_en="bench",
                channel="voice",
                config={"routing": {"offer_timeout_s": 30}},
                created_at=now,
            )
        )
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
        session.add_all(users)
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
    plan = VoicePlan(
        numbers={"service": NumberRoute(tenant=slug, flow="main")},
        flows={"main": Flow(name="main", start="q", nodes={"q": ToQueue(queue="bench")})},
        agents={user.username: farm for user in users},
        record_queues=["*"],
    )
    return tenant_id, plan


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rate", type=int, default=5, help="new calls per second")
    parser.add_argument("--agents", type=int, default=None)
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tsunagi-voice-contacts-") as tmp:
        work = Path(tmp)
        if args.profile == "sqlite":
            return await run(args, work, f"sqlite+aiosqlite:///{work / 'bench.db'}", None)
        name = f"tsunagi_vbench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            return await run(args, work, PG + name, REDIS)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()


async def run(args: argparse.Namespace, work: Path, url: str, redis: str | None) -> int:
    await upgrade(url)
    db = Database(url)
    bus: EventBus = RedisBus(redis, prefix=f"vb-{uuid.uuid4().hex[:6]}:") if redis else MemoryBus()
    await bus.start()
    media = work / "media"
    media.mkdir()
    write_music(media / "music.wav")
    farm_port = free_port()
    farm = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        ["sipp", "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-p", str(farm_port),
         "-mp", str(free_port(span=4)), "-nostdin"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
    )  # fmt: skip
    tenant_id, plan = await seed(db, args.agents or args.calls, f"sip:a@127.0.0.1:{farm_port}")
    base = free_udp_range(2000)
    settings = RtpengineSettings(
        workdir=work / "rtpengine",
        ng_port=free_port(),
        dtmf_log_port=free_port(),
        rtp_port_min=base,
        rtp_port_max=base + 1999,
        log_level=4,
    )
    rtpengine = start_rtpengine(settings)
    config = VoiceWorkerConfig(
        sip_host="127.0.0.1",
        sip_port=free_port(),
        ng_host="127.0.0.1",
        ng_port=settings.ng_port,
        dtmf_log_host="127.0.0.1",
        dtmf_log_port=settings.dtmf_log_port,
        media_dir=media,
        recording_dir=settings.recording_dir,
        keep_captures=False,
    )
    engine = SippyRtpengineEngine(config)
    await engine.start()
    relay = OutboxRelay(db, bus, poll_interval_s=0.05)
    routing = RoutingEngine(db, bus)
    await relay.start()
    await routing.start()
    keyring = KeyRing(load_or_create_master_key(work / "master.key", create=True))
    contacts = DatabaseCallContacts(db, keyring, bus=bus)
    vault = RecordingVault(db, keyring, work / "vault")
    center = CallCenter(engine, contacts, plan, recordings=vault)
    center_task = asyncio.create_task(center.run())
    await asyncio.sleep(1)

    rtp_pid = rtpengine.pid
    assert rtp_pid is not None
    cpu0 = (cpu_seconds(rtp_pid), cpu_seconds(os.getpid()), time.monotonic())
    sipp = await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(HERE / "caller.xml"), "-m", str(args.calls), "-r", str(args.rate),
        "-l", str(args.calls), "-i", "127.0.0.1", "-p", str(free_port()),
        "-mp", str(free_port(span=4)), "-timeout", "300s", "-trace_rtt", "-rtt_freq", "1",
        "-trace_stat", "-nostdin", f"127.0.0.1:{config.sip_port}",
        cwd=work, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    peak = {"rtpengine": 0.0, "worker": 0.0}
    while sipp.returncode is None:
        peak["rtpengine"] = max(peak["rtpengine"], rss_mib(rtp_pid))
        peak["worker"] = max(peak["worker"], rss_mib(os.getpid()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sipp.wait(), 1)
    cpu1 = (cpu_seconds(rtp_pid), cpu_seconds(os.getpid()), time.monotonic())
    await asyncio.sleep(5)  # the last hang-ups reach the database; recordings are sealed
    wall = cpu1[2] - cpu0[2]

    setup_ms = [
        float(line.split(";")[1])
        for path in sorted(work.glob("caller_*_rtt.csv"))  # noqa: ASYNC240 - after the run
        for line in path.read_text().splitlines()[1:]
        if line.count(";") >= 2
    ]
    failed = successful = -1
    if stats := sorted(work.glob("caller_*_.csv")):  # noqa: ASYNC240
        header, *rows = stats[0].read_text().splitlines()
        names, last = header.split(";"), rows[-1].split(";")
        failed = int(last[names.index("FailedCall(C)")])
        successful = int(last[names.index("SuccessfulCall(C)")])
    async with db.scoped(tenant_id, readonly=True) as session:
        states = dict(
            (
                await session.execute(
                    select(RoutingContact.state, func.count()).group_by(RoutingContact.state)
                )
            ).all()
        )
        waited = [
            w
            for w in (await session.scalars(select(RoutingContact.waited_s))).all()
            if w is not None
        ]
    sealed = len(list((work / "vault").rglob("*.sealed")))
    print(f"profile={args.profile} calls={args.calls} rate={args.rate}/s (each call ~22 s)")
    print(f"sipp exit={sipp.returncode} successful={successful} failed={failed}")
    if setup_ms:
        print(
            f"setup INVITE->200 ms: p50={statistics.median(setup_ms):.1f} "
            f"p99={percentile(setup_ms, 0.99):.1f} max={max(setup_ms):.1f} n={len(setup_ms)}"
        )
    if waited:
        print(
            f"queued->connected s: p50={statistics.median(waited):.2f} "
            f"p99={percentile(waited, 0.99):.2f} max={max(waited):.2f} n={len(waited)}"
        )
    print(f"contacts by state: {states}; recordings sealed: {sealed}")
    print(
        f"cpu over {wall:.0f}s: rtpengine {100 * (cpu1[0] - cpu0[0]) / wall:.1f}% of a core, "
        f"worker (voice+routing+db) {100 * (cpu1[1] - cpu0[1]) / wall:.1f}% of a core"
    )
    print(f"peak RSS MiB: rtpengine {peak['rtpengine']:.0f}, worker {peak['worker']:.0f}")
    print(f"center: {center.stats}; live calls after: {center.live_calls}")

    center_task.cancel()
    await asyncio.gather(center_task, return_exceptions=True)
    await contacts.close()
    await engine.stop()
    await routing.stop()
    await relay.stop()
    await bus.stop()
    await db.dispose()
    farm.terminate()
    farm.wait(5)
    rtpengine.stop()
    ok = failed == 0 and states.get("wrap_up", 0) == args.calls and center.stats.errors == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
