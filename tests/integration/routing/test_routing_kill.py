"""Kill test: two routing worker processes on PostgreSQL + Redis, the leader SIGKILLed
repeatedly while contacts arrive at a steady rate and simulated agents answer them.

At the end: no contact lost (every created contact closed), none ever held by two agents
(from the event history: no second offer without the first ending, one connect each),
and the delays are printed — re-offer of the killed leader's pending offers, and the
worst create→offer wait around a kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from testkit import REDIS_URL, World, redis_available, require
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.actions.routing.contacts import NewContact, do_create_contact
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent, Queue, User
from tsunagi.adapters.storage.routing_models import RoutingAssignment, RoutingContact
from tsunagi.domain.errors import TsunagiError
from tsunagi.routing.agents import AgentProfile, Presence

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

RATE_PER_S = 10
DURATION_S = 24
KILL_EVERY_S = 4
AGENTS = 40
LEASE_S = 1.0


@pytest.fixture
def profile() -> str:
    require(redis_available(), "Redis on 127.0.0.1:6379")
    return "postgres"


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    status: Path


@dataclass
class Run:
    db: Database
    tenant_id: uuid.UUID
    tmp: Path
    url: str
    workers: list[Worker] = field(default_factory=list)
    created: list[uuid.UUID] = field(default_factory=list)
    kills: list[tuple[datetime, str, list[uuid.UUID]]] = field(default_factory=list)
    serial: int = 0

    async def start_worker(self) -> Worker:
        self.serial += 1
        name = f"kill-w{self.serial}"
        status = self.tmp / f"{name}.status"
        env = {
            **os.environ,
            "TSUNAGI_DATABASE_URL": self.url,
            "TSUNAGI_REDIS_URL": REDIS_URL,
            "TSUNAGI_RELAY_POLL_INTERVAL_S": "0.05",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tsunagi.actions.routing.worker",
            "--worker-id",
            name,
            "--lease-s",
            str(LEASE_S),
            "--status-file",
            str(status),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        worker = Worker(name, process, status)
        self.workers.append(worker)
        return worker

    def leader(self) -> Worker | None:
        for worker in self.workers:
            alive = worker.process.returncode is None and worker.status.exists()
            if alive and worker.status.read_text().startswith("leader"):
                return worker
        return None


async def seed(db: Database, world: World) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    tenant_id = world.tenants["a"]
    now = datetime.now(UTC)
    async with db.scoped(tenant_id) as session, session.begin():
        queue = Queue(
            code="kill",
            name_ja="kill",
            name_en="kill",
            channel="voice",
            config={"routing": {"offer_timeout_s": 60}},
            created_at=now,
        )
        session.add(queue)
        users = [
            User(
                username=f"kill-{i}-{uuid.uuid4().hex[:6]}",
                display_name=f"agent {i}",
                password_hash="x",
                roles=["communicator"],
                created_at=now,
                password_changed_at=now,
            )
            for i in range(AGENTS)
        ]
        session.add_all(users)
    for user in users:
        await do_set_agent_profile(
            db,
            tenant_id=tenant_id,
            agent_id=user.id,
            profile=AgentProfile(skills={"kill": random.randint(1, 9)}),
            actor="test",
        )
        await do_set_presence(
            db, tenant_id=tenant_id, agent_id=user.id, presence=Presence.READY, actor="test"
        )
    return tenant_id, queue.id, [u.id for u in users]


async def agents_answer(run: Run, stop: asyncio.Event) -> None:
    """Simulated agents: ring 0.3-1.5 s, talk 0.5-2 s, wrap-up immediately."""
    rng = random.Random(7)
    due: dict[uuid.UUID, float] = {}
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        async with run.db.scoped(run.tenant_id, readonly=True) as session:
            held = (
                await session.execute(
                    select(
                        RoutingAssignment.contact_id,
                        RoutingAssignment.agent_id,
                        RoutingAssignment.state,
                    )
                )
            ).all()
        for contact_id, agent_id, state in held:
            when = due.setdefault(
                contact_id,
                loop.time()
                + (rng.uniform(0.3, 1.5) if state == "offered" else rng.uniform(0.5, 2.0)),
            )
            if when > loop.time():
                continue
            del due[contact_id]
            args: dict[str, Any] = {
                "tenant_id": run.tenant_id,
                "contact_id": contact_id,
                "agent_id": agent_id,
                "actor": "agent",
            }
            try:
                if state == "offered":
                    await do_accept_offer(run.db, **args)
                elif state == "connected":
                    await do_end_contact(run.db, **args)
                    await do_close_contact(run.db, **args, category="kill")
            except TsunagiError:
                pass  # reclaimed or changed meanwhile: look again next round
        await asyncio.sleep(0.05)


async def arrivals(run: Run, queue_id: uuid.UUID) -> None:
    for number in range(RATE_PER_S * DURATION_S):
        created = await do_create_contact(
            run.db,
            tenant_id=run.tenant_id,
            new=NewContact(channel="voice", queue_id=queue_id, idempotency_key=f"k-{number}"),
            actor="load",
        )
        run.created.append(created.contact_id)
        await asyncio.sleep(1 / RATE_PER_S)


async def killer(run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(KILL_EVERY_S)
        leader = run.leader()
        if leader is None:
            continue
        async with run.db.scoped(run.tenant_id, readonly=True) as session:
            pending = list(
                (
                    await session.scalars(
                        select(RoutingAssignment.contact_id).where(
                            RoutingAssignment.state == "offered",
                            RoutingAssignment.lease_owner == leader.name,
                        )
                    )
                ).all()
            )
        leader.process.send_signal(signal.SIGKILL)
        await leader.process.wait()
        run.kills.append((datetime.now(UTC), leader.name, pending))
        await run.start_worker()


async def history(run: Run) -> dict[str, list[dict[str, Any]]]:
    async with run.db.scoped(run.tenant_id, readonly=True) as session:
        payloads = (
            await session.scalars(
                select(OutboxEvent.payload)
                .where(OutboxEvent.type.like("contact.%"))
                .order_by(OutboxEvent.id)
            )
        ).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for payload in payloads:
        event = json.loads(payload)
        found.setdefault(event["contact_id"], []).append(event)
    return found


async def test_killing_the_leader_loses_and_doubles_nothing(
    database_url: str, world: World, tmp_path: Path
) -> None:
    db = Database(database_url)
    tenant_id, queue_id, _agents = await seed(db, world)
    run = Run(db, tenant_id, tmp_path, database_url)
    await run.start_worker()
    await run.start_worker()
    stop = asyncio.Event()
    helpers = [
        asyncio.create_task(agents_answer(run, stop)),
        asyncio.create_task(killer(run, stop)),
    ]
    try:
        await arrivals(run, queue_id)
        stop.set()
        await helpers[1]
        helpers.pop()
        stop_agents = asyncio.Event()
        helpers[0].cancel()
        helpers = [asyncio.create_task(agents_answer(run, stop_agents))]

        async def drained() -> bool:
            async with db.scoped(tenant_id, readonly=True) as session:
                states = (await session.scalars(select(RoutingContact.state))).all()
            return len(states) == len(run.created) and all(s == "closed" for s in states)

        deadline = asyncio.get_running_loop().time() + 90
        while not await drained():
            assert asyncio.get_running_loop().time() < deadline, "contacts were not all handled"
            await asyncio.sleep(0.2)
        stop_agents.set()
    finally:
        for task in helpers:
            task.cancel()
        for worker in run.workers:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(worker.process.wait(), 15)
                except TimeoutError:
                    # A worker that does not stop on SIGTERM within the grace period is killed,
                    # as a process manager would; the open defect is noted in the routing
                    # architecture page (shutdown can hang while a database call is in flight).
                    print(f"worker {worker.name} ignored SIGTERM for 15 s; killing it")
                    worker.process.kill()
                    await worker.process.wait()
    events = await history(run)
    await db.dispose()

    assert len(run.kills) >= 3, "the leader was not killed often enough to mean anything"
    assert len(set(run.created)) == RATE_PER_S * DURATION_S
    assert set(events) == {str(c) for c in run.created}  # every contact exists, none lost
    for contact_id, trail in events.items():
        holding = False
        for event in trail:
            if event["type"] == "contact.offered":
                assert not holding, f"{contact_id} offered while already held"
                holding = True
            elif event["type"] in ("contact.offer_declined", "contact.closed"):
                holding = False
        assert [e["type"] for e in trail].count("contact.connected") == 1, contact_id
        assert trail[-1]["type"] == "contact.closed"

    reoffers, waits = [], []
    for killed_at, _name, pending in run.kills:
        for contact_id in pending:
            later = [
                datetime.fromisoformat(e["occurred_at"])
                for e in events[str(contact_id)]
                if e["type"] == "contact.offered"
                and datetime.fromisoformat(e["occurred_at"]) > killed_at
            ]
            declined = [
                e
                for e in events[str(contact_id)]
                if e["type"] == "contact.offer_declined" and e.get("reason") == "lease_lost"
            ]
            if later and declined:
                reoffers.append((later[0] - killed_at).total_seconds())
    for trail in events.values():
        created = datetime.fromisoformat(trail[0]["occurred_at"])
        offered = next(
            datetime.fromisoformat(e["occurred_at"])
            for e in trail
            if e["type"] == "contact.offered"
        )
        waits.append((offered - created).total_seconds())
    waits.sort()
    first_after_kill = []
    offers = sorted(
        datetime.fromisoformat(e["occurred_at"])
        for trail in events.values()
        for e in trail
        if e["type"] == "contact.offered"
    )
    for killed_at, _name, _pending in run.kills:
        after = [at for at in offers if at > killed_at]
        if after:
            first_after_kill.append((after[0] - killed_at).total_seconds())
    print(
        f"\nkill test: {len(run.created)} contacts, {len(run.kills)} leader kills, "
        f"0 lost, 0 double-held; lease-lost re-offers: {len(reoffers)}, delay after kill "
        f"min/median/max = {_stats(reoffers)} s; first offer after a kill min/median/max = "
        f"{_stats(first_after_kill)} s; create→offer p50 {waits[len(waits) // 2]:.3f} s, "
        f"p99 {waits[int(len(waits) * 0.99) - 1]:.3f} s, max {waits[-1]:.3f} s"
    )


def _stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    return f"{ordered[0]:.2f}/{ordered[len(ordered) // 2]:.2f}/{ordered[-1]:.2f}"
