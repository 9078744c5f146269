"""Hypothesis state machine over the durable engine on SQLite: real actions, real tables.

Steps drive the same actions the API uses, then run the outbox relay and one engine pass
by hand (deterministic, no background tasks). ``crash`` throws the engine away and starts
a new one, which must rebuild everything from the tables. After every step the database
must show: each contact in exactly one state; an assignment row exactly for contacts
offered/connected/on hold/in wrap-up, on the contact's own agent; no agent over capacity;
and no contact waiting while a ready agent with room and the skill is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select

from tsunagi.actions import accounts
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.actions.routing.contacts import NewContact, do_abandon_contact, do_create_contact
from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.actions.routing.offers import (
    do_accept_offer,
    do_close_contact,
    do_end_contact,
    do_reject_offer,
)
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingAssignment, RoutingContact
from tsunagi.domain.errors import ConflictError
from tsunagi.routing.agents import AgentProfile, NotReadyReason, Presence
from tsunagi.routing.lifecycle import HELD

PROFILES = [
    ({"a": 5}, {"voice": 1}),
    ({"a": 2, "b": 7}, {"voice": 1, "chat": 2}),
    ({"b": 4}, {"chat": 3}),
]
CHANNELS = {"qa": "voice", "qb": "chat"}  # queue code → channel; skill = code's letter


class DurableRouting(RuleBasedStateMachine):
    url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = Database(self.url)
        self.bus = MemoryBus()
        self.relay = OutboxRelay(self.db, self.bus)
        self.run(self.bus.start())
        self.engine = RoutingEngine(self.db, self.bus)
        self.tenant_id, self.queues, self.agents = self.run(self._seed())
        self.created: list[uuid.UUID] = []
        self.step_engine()

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)

    async def _seed(self) -> tuple[uuid.UUID, dict[str, uuid.UUID], list[uuid.UUID]]:
        tenant_id = await accounts.do_create_tenant(
            self.db, slug=f"m-{uuid.uuid4().hex[:10]}", name="machine"
        )
        now = datetime.now(UTC)
        async with self.db.scoped(tenant_id) as session, session.begin():
            queues = {
                code: Queue(
                    code=code,
                    name_ja=code,
                    name_en=code,
                    channel=channel,
                    config={"routing": {"skill": code[1]}},
                    created_at=now,
                )
                for code, channel in CHANNELS.items()
            }
            users = [
                User(
                    username=f"m{i}-{uuid.uuid4().hex[:6]}",
                    display_name=f"m{i}",
                    password_hash="-",
                    roles=["communicator"],
                    created_at=now,
                    password_changed_at=now,
                )
                for i in range(len(PROFILES))
            ]
            session.add_all([*queues.values(), *users])
        for user, (skills, capacity) in zip(users, PROFILES, strict=True):
            await do_set_agent_profile(
                self.db,
                tenant_id=tenant_id,
                agent_id=user.id,
                profile=AgentProfile(skills=skills, capacity=capacity),
                actor="t",
            )
        return tenant_id, {c: q.id for c, q in queues.items()}, [u.id for u in users]

    def step_engine(self) -> None:
        """Run the relay and engine passes until the floor settles.

        A pass decides first and sweeps after (expired offers and leases, due callbacks,
        overflow); when the sweep changed something the engine runs again at once. On a
        loaded machine the time between steps can make a sweep fire, so one fixed pair of
        passes is not enough: settle like the background loop does.
        """

        async def settle() -> None:
            for _ in range(20):
                published = 0
                while count := await self.relay.run_once():
                    published += count
                reclaimed = self.engine.stats.reclaimed
                await self.engine.run_once()
                while count := await self.relay.run_once():
                    published += count
                if not published and self.engine.stats.reclaimed == reclaimed:
                    return
            raise AssertionError("the routing floor did not settle in 20 passes")

        self.run(settle())

    def teardown(self) -> None:
        self.run(self.engine.stop())
        self.run(self.bus.stop())
        self.run(self.db.dispose())
        self.loop.close()

    # ----------------------------------------------------------------- rules
    @rule(code=st.sampled_from(sorted(CHANNELS)), vip=st.booleans())
    def arrive(self, code: str, vip: bool) -> None:
        created = self.run(
            do_create_contact(
                self.db,
                tenant_id=self.tenant_id,
                new=NewContact(channel=CHANNELS[code], queue_id=self.queues[code], vip=vip),
                actor="t",
            )
        )
        self.created.append(created.contact_id)
        self.step_engine()

    @rule(index=st.integers(0, 2), ready=st.booleans())
    def presence(self, index: int, ready: bool) -> None:
        self.run(
            do_set_presence(
                self.db,
                tenant_id=self.tenant_id,
                agent_id=self.agents[index],
                presence=Presence.READY if ready else Presence.NOT_READY,
                reason=None if ready else NotReadyReason.BREAK,
                actor="t",
            )
        )
        self.step_engine()

    def _held(self, *states: str) -> list[tuple[uuid.UUID, uuid.UUID]]:
        async def read() -> list[tuple[uuid.UUID, uuid.UUID]]:
            async with self.db.scoped(self.tenant_id, readonly=True) as session:
                rows = await session.execute(
                    select(RoutingAssignment.contact_id, RoutingAssignment.agent_id)
                    .where(RoutingAssignment.state.in_(states))
                    .order_by(RoutingAssignment.offered_at)
                )
                return [(c, a) for c, a in rows]

        return self.run(read())

    @precondition(lambda self: True)
    @rule(index=st.integers(0, 50), accept=st.booleans())
    def answer(self, index: int, accept: bool) -> None:
        offered = self._held("offered")
        if not offered:
            return
        contact_id, agent_id = offered[index % len(offered)]
        action = do_accept_offer if accept else do_reject_offer
        self.run(
            action(
                self.db,
                tenant_id=self.tenant_id,
                contact_id=contact_id,
                agent_id=agent_id,
                actor="t",
            )
        )
        self.step_engine()

    @rule(index=st.integers(0, 50))
    def finish(self, index: int) -> None:
        talking = self._held("connected", "wrap_up")
        if not talking:
            return
        contact_id, agent_id = talking[index % len(talking)]
        args = {
            "tenant_id": self.tenant_id,
            "contact_id": contact_id,
            "agent_id": agent_id,
            "actor": "t",
        }
        with contextlib.suppress(ConflictError):  # already in wrap-up
            self.run(do_end_contact(self.db, **args))
        self.run(do_close_contact(self.db, **args, category="x"))
        self.step_engine()

    @rule(index=st.integers(0, 50))
    def abandon(self, index: int) -> None:
        waiting = self._waiting_ids()
        if waiting:
            self.run(
                do_abandon_contact(
                    self.db,
                    tenant_id=self.tenant_id,
                    contact_id=waiting[index % len(waiting)],
                    actor="t",
                )
            )
            self.step_engine()

    def _waiting_ids(self) -> list[uuid.UUID]:
        async def read() -> list[uuid.UUID]:
            async with self.db.scoped(self.tenant_id, readonly=True) as session:
                return list(
                    (
                        await session.scalars(
                            select(RoutingContact.id)
                            .where(RoutingContact.state == "queued")
                            .order_by(RoutingContact.created_at)
                        )
                    ).all()
                )

        return self.run(read())

    @rule()
    def crash(self) -> None:
        # The old engine's memory is gone; only its bus listeners are stopped, so that
        # they do not outlive the test's event loop.
        self.run(self.engine.stop())
        self.engine = RoutingEngine(self.db, self.bus)
        self.step_engine()

    # ------------------------------------------------------------ invariants
    @invariant()
    def the_tables_agree(self) -> None:
        async def read():  # type: ignore[no-untyped-def]
            async with self.db.scoped(self.tenant_id, readonly=True) as session:
                contacts = (await session.scalars(select(RoutingContact))).all()
                held = (await session.scalars(select(RoutingAssignment))).all()
                agents = (await session.scalars(select(RoutingAgent))).all()
            return contacts, held, agents

        contacts, held, agents = self.run(read())
        assert sorted(c.id for c in contacts) == sorted(self.created), "a contact was lost"
        by_contact = {a.contact_id: a for a in held}
        for contact in contacts:
            assignment = by_contact.get(contact.id)
            assert (assignment is not None) == (contact.state in HELD), contact.state
            if assignment is not None:
                assert assignment.agent_id == contact.agent_id
                assert assignment.state == contact.state
        load = Counter((a.agent_id, a.channel) for a in held)
        for agent in agents:
            for channel, cap in agent.capacity.items():
                assert load[(agent.user_id, channel)] <= cap, "over capacity"
        # Stable: nobody waits while a ready agent with room and the skill is free.
        for contact in contacts:
            if contact.state != "queued":
                continue
            channel = "voice" if contact.channel == "callback" else contact.channel
            for agent in agents:
                fits = contact.skill in agent.skills
                room = load[(agent.user_id, channel)] < int(agent.capacity.get(channel, 0))
                assert not (agent.presence == "ready" and fits and room), (
                    f"{contact.id} waits although {agent.user_id} could take it"
                )


@pytest.fixture(scope="module")
def machine_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("machine") / "routing.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    loop = asyncio.new_event_loop()
    loop.run_until_complete(upgrade(url))
    loop.close()
    return url


@pytest.mark.slow
def test_durable_routing_state_machine(machine_url: str) -> None:
    DurableRouting.url = machine_url
    DurableRouting.TestCase.settings = settings(
        max_examples=30,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    DurableRouting.TestCase().runTest()
