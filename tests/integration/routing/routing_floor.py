"""A live routing floor for tests: database, bus, outbox relay and routing engine.

``floor`` (see conftest) runs on SQLite + the memory bus and on PostgreSQL + Redis (the ``profile``
fixture of the top conftest), with short timers so timeouts and leases are quick to test.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from testkit import REDIS_URL, World
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.actions.routing.contacts import NewContact, do_create_contact
from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.bus.redis import RedisBus
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent, Queue, User
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingContact
from tsunagi.domain.ids import new_id
from tsunagi.ports.bus import EventBus
from tsunagi.routing.agents import AgentProfile, NotReadyReason, Presence


@dataclass
class Floor:
    db: Database
    bus: EventBus
    relay: OutboxRelay
    engine: RoutingEngine
    tenant_id: uuid.UUID
    queues: dict[str, uuid.UUID] = field(default_factory=dict)
    agents: dict[str, uuid.UUID] = field(default_factory=dict)

    async def add_queue(
        self, code: str, *, config: dict[str, Any] | None = None, priority: int = 0
    ) -> uuid.UUID:
        async with self.db.scoped(self.tenant_id) as session, session.begin():
            queue = Queue(
                code=code,
                name_ja=code,
                name_en=code,
                channel="voice",
                priority=priority,
                config=config or {},
                created_at=datetime.now(UTC),
            )
            session.add(queue)
        self.queues[code] = queue.id
        return queue.id

    async def add_agent(
        self,
        name: str,
        skills: dict[str, int],
        capacity: dict[str, int] | None = None,
        *,
        ready: bool = True,
    ) -> uuid.UUID:
        async with self.db.scoped(self.tenant_id) as session, session.begin():
            user = User(
                username=f"{name}-{uuid.uuid4().hex[:6]}",
                display_name=name,
                password_hash="x",
                roles=["communicator"],
                locale="en",
                created_at=datetime.now(UTC),
                password_changed_at=datetime.now(UTC),
            )
            session.add(user)
        self.agents[name] = user.id
        await do_set_agent_profile(
            self.db,
            tenant_id=self.tenant_id,
            agent_id=user.id,
            profile=AgentProfile(skills=skills, capacity=capacity or {"voice": 1}),
            actor=None,
        )
        await self.presence(name, Presence.READY if ready else Presence.NOT_READY)
        return user.id

    async def presence(self, name: str, presence: Presence) -> None:
        await do_set_presence(
            self.db,
            tenant_id=self.tenant_id,
            agent_id=self.agents[name],
            presence=presence,
            reason=NotReadyReason.BREAK if presence is Presence.NOT_READY else None,
            actor=None,
        )

    async def create(self, queue: str, **kwargs: Any) -> uuid.UUID:
        created = await do_create_contact(
            self.db,
            tenant_id=self.tenant_id,
            new=NewContact(
                channel=kwargs.pop("channel", "voice"), queue_id=self.queues[queue], **kwargs
            ),
            actor="test",
        )
        return created.contact_id

    async def contact(self, contact_id: uuid.UUID) -> RoutingContact:
        async with self.db.scoped(self.tenant_id, readonly=True) as session:
            found = await session.scalar(
                select(RoutingContact).where(RoutingContact.id == contact_id)
            )
        assert found is not None
        return found

    async def agent(self, name: str) -> RoutingAgent:
        async with self.db.scoped(self.tenant_id, readonly=True) as session:
            found = await session.scalar(
                select(RoutingAgent).where(RoutingAgent.user_id == self.agents[name])
            )
        assert found is not None
        return found

    async def until(
        self,
        check: Callable[[], Awaitable[bool]],
        *,
        timeout: float = 10.0,
        what: str = "condition",
    ) -> None:
        """Wait for ``check`` to hold (the engine works asynchronously); fail after ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def state_of(self, contact_id: uuid.UUID) -> str:
        return (await self.contact(contact_id)).state

    async def wait_state(
        self, contact_id: uuid.UUID, *states: str, timeout: float = 10.0
    ) -> RoutingContact:
        async def reached() -> bool:
            return await self.state_of(contact_id) in states

        await self.until(reached, timeout=timeout, what=f"{contact_id} in {states}")
        return await self.contact(contact_id)


async def open_floor(database_url: str, profile: str, world: World, **engine_options: Any) -> Floor:
    db = Database(database_url)
    bus: EventBus = (
        RedisBus(REDIS_URL, prefix=f"t-{uuid.uuid4().hex[:8]}:")
        if profile == "postgres"
        else MemoryBus()
    )
    await bus.start()
    # No batching pause: these tests step the floor action by action and read it back.
    relay = OutboxRelay(db, bus, poll_interval_s=0.05, min_interval_s=0.0)
    await relay.start()
    options = {"lease_s": 1.0, "sweep_s": 0.1, "tick_s": 0.2, **engine_options}
    engine = RoutingEngine(db, bus, worker_id=f"test-{new_id().hex[:8]}", **options)
    await engine.start()
    return Floor(db, bus, relay, engine, world.tenants["a"])


async def close_floor(floor: Floor) -> None:
    await floor.engine.stop()
    await floor.relay.stop()
    await floor.bus.stop()
    await floor.db.dispose()


async def events_of(floor: Floor, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    """The contact's events in write order, straight from the outbox."""
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        payloads = (
            await session.scalars(select(OutboxEvent.payload).order_by(OutboxEvent.id))
        ).all()
    found = [json.loads(p) for p in payloads]
    return [e for e in found if e.get("contact_id") == str(contact_id)]
