"""The routing engine: the pure :class:`~tsunagi.routing.policy.Router` kept in step with
the database, making offers through :func:`do_offer_contact`.

One engine is active at a time: on PostgreSQL the leader holds an advisory lock on its own
connection (the server releases it when the process dies, and a standby takes over within
``tick_s``); on SQLite there is one process. The leader:

1. *follows* each tenant's routing events from the outbox, in stream order (``seq``), and
   applies them to its Router. Events carry absolute states and versions, so a repeated
   or already-known event changes nothing. The bus only wakes it up;
2. *decides* with the Router and makes each offer in its own transaction. A stale decision
   (the contact or agent changed meanwhile) fails there; the engine then reloads those two
   rows and decides again;
3. *sweeps* every ``sweep_s``: offer timeouts, lost leases, after-call-work maxima,
   callbacks due, maximum waits; and renews the leases of its own pending offers.

On taking over it loads the Router from the tables (the truth); offers left by a dead
leader stay valid until their lease runs out, then go back to the queue and are offered
again. Nothing in memory is needed for correctness, only for speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast, get_args
from uuid import UUID

import msgspec
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tsunagi.actions.routing.contacts import (
    Created,
    NewContact,
    do_create_contact,
    do_overflow_waiting,
    do_release_due_callbacks,
)
from tsunagi.actions.routing.core_rows import Rows
from tsunagi.actions.routing.offers import (
    Offered,
    do_expire_offers,
    do_offer_contact,
    do_renew_leases,
    offer_in,
)
from tsunagi.actions.routing.rows import need_of, utcnow
from tsunagi.adapters.relay import tenant_channel
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent, Queue, Tenant
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingAssignment, RoutingContact
from tsunagi.aio import stop_tasks, wait_event
from tsunagi.domain.errors import ConflictError, NotFoundError
from tsunagi.domain.events import Event
from tsunagi.ports.bus import EventBus
from tsunagi.routing.agents import Presence
from tsunagi.routing.events import (
    AgentStateChangedEvent,
    ContactAbandonedEvent,
    ContactCallbackScheduledEvent,
    ContactClosedEvent,
    ContactConnectedEvent,
    ContactCreatedEvent,
    ContactEndedEvent,
    ContactEvent,
    ContactHeldEvent,
    ContactOfferDeclinedEvent,
    ContactOfferedEvent,
    ContactQueuedEvent,
    ContactResumedEvent,
    ContactSelfServiceStartedEvent,
    ContactTransferredEvent,
)
from tsunagi.routing.lifecycle import TERMINAL, ContactState
from tsunagi.routing.policy import Need, Router

log = logging.getLogger(__name__)
STOP_GRACE_S = 10.0

ROUTING_LOCK_KEY = 7_415_263_003
PAGE = 1000
TOLD_MAX = 10_000
MAX_STALE = 200  # stale decisions per pass before yielding (the next pass goes on)

RoutingEvent = (
    AgentStateChangedEvent
    | ContactAbandonedEvent
    | ContactCallbackScheduledEvent
    | ContactClosedEvent
    | ContactConnectedEvent
    | ContactCreatedEvent
    | ContactEndedEvent
    | ContactHeldEvent
    | ContactOfferDeclinedEvent
    | ContactOfferedEvent
    | ContactQueuedEvent
    | ContactResumedEvent
    | ContactSelfServiceStartedEvent
    | ContactTransferredEvent
)
_ROUTING_CLASSES: tuple[type[Event], ...] = get_args(RoutingEvent)
ROUTING_TYPES = tuple(cls.type_name() for cls in _ROUTING_CLASSES)
_ROUTING_TYPE_SET = frozenset(ROUTING_TYPES)
_decoder: msgspec.json.Decoder[RoutingEvent] = msgspec.json.Decoder(RoutingEvent)


def concerns_routing(envelope: bytes) -> bool:
    """Whether a published envelope carries a routing event (chat messages, figures and
    other events do not wake the engine; it reads past them on its next pass). The event's
    ``type`` is its first field (msgspec writes the tag first); unsure means yes."""
    marker = envelope.find(b'"type":"')
    if marker < 0:
        return True
    start = marker + len(b'"type":"')
    end = envelope.find(b'"', start)
    return end < 0 or envelope[start:end].decode(errors="replace") in _ROUTING_TYPE_SET


def desk_channel(tenant_id: UUID, agent_id: UUID) -> str:
    """The bus channel of one agent's desk (offers and changes of the agent's contacts)."""
    return f"desk:{tenant_id}:{agent_id}"


def _key(event: RoutingEvent) -> tuple[UUID, int]:
    if isinstance(event, AgentStateChangedEvent):
        return event.agent_id, event.version
    return event.contact_id, event.version


_FOLLOW = (
    select(OutboxEvent.seq, OutboxEvent.type, OutboxEvent.payload)
    .where(OutboxEvent.seq > bindparam("after"))
    .order_by(OutboxEvent.seq)
    .limit(PAGE)
)


def _desk_messages(tenant_id: UUID, event: RoutingEvent) -> list[tuple[str, bytes]]:
    """The event as a frame for the desk channel of each agent it concerns.

    Desks subscribe to their own channel only, so a floor of 500 agents does not fan every
    event out 500 times. Delivery is at-least-once while a leader lives (the fast path
    after an offer and the outbox both send it) and may miss events during a takeover;
    desks drop repeats by version and reload on a version gap."""
    if isinstance(event, AgentStateChangedEvent):
        targets = {event.agent_id}
    else:
        targets = {a for a in (event.agent_id, event.last_agent_id) if a is not None}
    if not targets:
        return []
    message = b'{"kind":"event","event":' + msgspec.json.encode(event) + b"}"
    return [(desk_channel(tenant_id, agent_id), message) for agent_id in targets]


def _ts(value: datetime) -> float:
    return value.timestamp()


@dataclass(slots=True)
class TenantState:
    """The leader's copy of one tenant: its Router, stream position and known versions."""

    router: Router
    last_seq: int = 0
    contacts: dict[UUID, int] = field(default_factory=dict)
    agents: dict[UUID, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Attempt:
    """An offer tried in a creating transaction: the agent the Router took for the contact,
    and the offer if the checks let it be made."""

    contact_id: UUID
    agent_id: UUID
    offered: Offered | None = None


@dataclass(slots=True)
class EngineStats:
    offers: int = 0
    stale_decisions: int = 0
    events_applied: int = 0
    takeovers: int = 0
    reclaimed: int = 0


class RoutingEngine:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        worker_id: str | None = None,
        lease_s: float = 3.0,
        sweep_s: float = 0.5,
        tick_s: float = 1.0,
        priority_step_s: float = 60.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.lease_s = lease_s
        self.sweep_s = sweep_s
        self.tick_s = tick_s
        self.priority_step_s = priority_step_s
        self.stats = EngineStats()
        self.tenants: dict[UUID, TenantState] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listeners: dict[UUID, asyncio.Task[None]] = {}
        self._leader: AsyncConnection | None = None
        self._is_leader = False
        self._last_sweep = 0.0
        self._last_renew = 0.0
        self._last_tenant_scan = 0.0
        self._lead_checked = 0.0
        # (contact or agent id, version) of events already sent to desks by the fast path
        # after an offer: the outbox copy is then not sent again.
        self._told: set[tuple[UUID, int]] = set()
        self._hinted_contacts: dict[UUID, set[UUID]] = {}
        self._hinted_agents: dict[UUID, set[UUID]] = {}
        self._hinted_rows: dict[UUID, dict[UUID, RoutingContact]] = {}
        self._hinted_events: dict[UUID, list[RoutingEvent]] = {}
        # Something may be in the outbox that this engine has not applied (a bus message,
        # a kick, a sweep's change): the next pass follows it. A pass woken only by local
        # hints skips the outbox read (those changes are applied from the hint, and the
        # relay's publish of them wakes a following pass anyway).
        self._news = True
        self._last_follow = 0.0

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_leader(self) -> bool:
        return self._is_leader

    def kick(self) -> None:
        self._news = True
        self._wake.set()

    def hint(
        self,
        tenant_id: UUID,
        *,
        contact_id: UUID | None = None,
        agent_id: UUID | None = None,
        contact: RoutingContact | None = None,
        events: Sequence[Event] = (),
    ) -> None:
        """A local action just changed these rows: read them now instead of waiting for the
        outbox relay to number and publish the events (a shortcut for latency; the outbox
        still delivers the same changes, which then count as already known). ``contact``:
        the contact row as the action committed it, taken as read (by version, like any
        row) without reading it again. ``events``: the events the action committed (all of
        them, in order), applied like followed ones (by version) without any read."""
        routing = cast(
            list[RoutingEvent], [event for event in events if isinstance(event, _ROUTING_CLASSES)]
        )
        if routing:
            self._hinted_events.setdefault(tenant_id, []).extend(routing)
        if contact is not None:
            self._hinted_rows.setdefault(tenant_id, {})[contact.id] = contact
        elif contact_id is not None:
            self._hinted_contacts.setdefault(tenant_id, set()).add(contact_id)
        if agent_id is not None:
            self._hinted_agents.setdefault(tenant_id, set()).add(agent_id)
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="routing-engine")

    async def stop(self) -> None:
        # Shutdown must end: a task stuck in a database call is left behind (and logged)
        # after the grace time rather than waited for forever.
        await stop_tasks([*self._listeners.values(), self._task], grace_s=STOP_GRACE_S)
        self._listeners.clear()
        self._task = None
        await self._resign()

    async def _run(self) -> None:
        while True:
            try:
                clock = time.monotonic()
                due = clock - self._last_follow >= min(self.tick_s, self.sweep_s)
                follow, self._news = self._news or due, False
                await self.run_once(follow=follow)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing engine pass failed; reloading")
                self._news = True
                self.tenants.clear()
                await self._resign()
            await wait_event(self._wake, self._timeout())
            self._wake.clear()

    def _timeout(self) -> float:
        return min(self.tick_s, self.sweep_s) if self._is_leader else self.tick_s

    async def run_once(self, *, follow: bool = True) -> None:
        """One pass: (re)gain leadership, follow events (``follow``), decide, and sweep
        when due."""
        if not await self._lead():
            self._news = True
            return
        clock = time.monotonic()
        if clock - self._last_tenant_scan > 10 or not self.tenants:
            await self._scan_tenants()
            self._last_tenant_scan = clock
        for tenant_id in list(self.tenants):
            await self._take_hints(tenant_id)
            if follow:
                await self._follow(tenant_id)
            await self._decide(tenant_id)
        if follow:
            self._last_follow = clock
        if clock - self._last_renew >= self.lease_s / 3:
            await do_renew_leases(self.db, worker_id=self.worker_id, lease_s=self.lease_s)
            self._last_renew = clock
        if clock - self._last_sweep >= self.sweep_s:
            self._last_sweep = clock
            now = utcnow()
            for tenant_id in list(self.tenants):
                changed = await do_expire_offers(self.db, tenant_id=tenant_id, now=now)
                changed += await do_release_due_callbacks(self.db, tenant_id=tenant_id, now=now)
                changed += await do_overflow_waiting(self.db, tenant_id=tenant_id, now=now)
                self.stats.reclaimed += changed
                if changed:
                    self.kick()

    # ----------------------------------------------------------------- leadership
    async def _lead(self) -> bool:
        if self.db.is_sqlite:
            self._is_leader = True
            return True
        if self._leader is not None:
            # The connection holding the lock is checked once per tick, not per pass (a
            # pass per bus wake-up): should it die unnoticed meanwhile, two leaders may
            # decide for a moment, which the database's checks make harmless (ADR 0201).
            clock = time.monotonic()
            if clock - self._lead_checked < self.tick_s:
                return True
            try:
                await self._leader.scalar(text("SELECT 1"))
                await self._leader.commit()
                self._lead_checked = clock
                return True
            except Exception:
                log.warning("lost the routing leader connection")
                await self._resign()
                return False
        connection = await self.db.engine.connect()
        got = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": ROUTING_LOCK_KEY}
        )
        await connection.commit()
        if not got:
            await connection.close()
            return False
        self._leader = connection
        self._lead_checked = time.monotonic()
        self._is_leader = True
        self.tenants.clear()
        self.stats.takeovers += 1
        log.info("routing engine %s leads", self.worker_id)
        return True

    async def _resign(self) -> None:
        self._is_leader = False
        if self._leader is not None:
            # Invalidated, not pooled: the pool would keep the advisory lock held.
            with contextlib.suppress(Exception):
                await self._leader.invalidate()
            with contextlib.suppress(Exception):
                await self._leader.close()
            self._leader = None

    # -------------------------------------------------------------------- tenants
    async def _scan_tenants(self) -> None:
        async with self.db.system(readonly=True) as session:
            found = (await session.scalars(select(Tenant.id))).all()
        for tenant_id in found:
            if tenant_id not in self.tenants:
                await self._load(tenant_id)
            if tenant_id not in self._listeners:
                self._listeners[tenant_id] = asyncio.create_task(self._listen(tenant_id))

    async def _listen(self, tenant_id: UUID) -> None:
        """Wake up on the tenant's published events (the outbox is read for content)."""
        while True:
            try:
                async with self.bus.subscribe(tenant_channel(tenant_id)) as messages:
                    async for message in messages:
                        if concerns_routing(message):
                            self.kick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("routing engine lost its bus subscription; retrying")
                await asyncio.sleep(0.5)

    async def _load(self, tenant_id: UUID) -> None:
        """Build the tenant's Router from the tables: stream position first, then state."""
        state = TenantState(Router(priority_step_s=self.priority_step_s))
        async with self.db.scoped(tenant_id, readonly=True) as session:
            state.last_seq = await session.scalar(select(func.max(OutboxEvent.seq))) or 0
            loads: dict[UUID, dict[str, int]] = {}
            for agent_id, channel, count in await session.execute(
                select(
                    RoutingAssignment.agent_id, RoutingAssignment.channel, func.count()
                ).group_by(RoutingAssignment.agent_id, RoutingAssignment.channel)
            ):
                loads.setdefault(agent_id, {})[channel] = count
            agents = (await session.scalars(select(RoutingAgent))).all()
            for agent in sorted(agents, key=lambda a: (a.since, str(a.user_id))):
                state.agents[agent.user_id] = agent.version
                if agent.presence == Presence.SIGNED_OUT and agent.user_id not in loads:
                    continue
                state.router.set_agent(
                    agent.user_id,
                    skills={k: int(v) for k, v in agent.skills.items()},
                    capacity={k: int(v) for k, v in agent.capacity.items()},
                    ready=agent.presence == Presence.READY,
                    load=loads.get(agent.user_id, {}),
                    idle_since=_ts(agent.idle_since),
                )
            # The free agents' triggers are served before any contact is known (they find
            # none): the waiting contacts' triggers then come alone, in rank order, and each
            # takes the best free agent — not whichever agent's trigger happened to be first.
            assert state.router.next_match() is None
            waiting = (
                await session.scalars(
                    select(RoutingContact)
                    .where(RoutingContact.state == ContactState.QUEUED)
                    .order_by(RoutingContact.ranked_at, RoutingContact.updated_at)
                )
            ).all()
            for contact in waiting:
                state.contacts[contact.id] = contact.version
                state.router.enqueue(
                    contact.id,
                    need_of(contact),
                    priority=contact.priority,
                    ranked_at=_ts(contact.ranked_at),
                )
        self.tenants[tenant_id] = state

    # ------------------------------------------------------------------ following
    async def _follow(self, tenant_id: UUID) -> None:
        state = self.tenants[tenant_id]
        while True:
            # One statement: no snapshot needed (spares the BEGIN and ROLLBACK round trips).
            async with self.db.scoped(tenant_id, readonly=True, snapshot=False) as session:
                rows = (await session.execute(_FOLLOW, {"after": state.last_seq})).all()
            # Only rows of routing types are decoded; others just move the position on.
            # Desk frames go out together (one bus call), before any offer is made, so each
            # desk gets them in stream order with the offers' own frames.
            frames: list[tuple[str, bytes]] = []
            for seq, kind, payload in rows:
                assert seq is not None
                state.last_seq = seq
                if kind in _ROUTING_TYPE_SET:
                    event = _decoder.decode(payload)
                    self.apply(state, event)
                    if not self._told or (_key(event) not in self._told):
                        frames += _desk_messages(tenant_id, event)
                    else:
                        self._told.discard(_key(event))
                    if state.router.has_triggers:
                        # Decide now, as if each change came alone: a batch must not let
                        # an agent freed earlier in it take a contact a better agent fits.
                        if frames:
                            await self.bus.publish_many(frames)
                            frames = []
                        await self._decide(tenant_id)
            if frames:
                await self.bus.publish_many(frames)
            if len(rows) < PAGE:
                return

    def apply(self, state: TenantState, event: RoutingEvent) -> None:
        """Apply one event to the Router unless a newer version is already known."""
        self.stats.events_applied += 1
        if isinstance(event, AgentStateChangedEvent):
            if event.version <= state.agents.get(event.agent_id, 0):
                return
            state.agents[event.agent_id] = event.version
            self._set_agent(state, event)
            return
        assert isinstance(event, ContactEvent)
        known = state.contacts.get(event.contact_id, 0)
        if isinstance(event, ContactQueuedEvent):
            if event.version <= known:
                return
            state.contacts[event.contact_id] = event.version
            state.router.enqueue(
                event.contact_id,
                Need(
                    "voice" if event.channel == "callback" else event.channel,
                    event.skill,
                    frozenset(event.extra_skills),
                    frozenset(event.target_agent_ids),
                ),
                priority=event.priority,
                ranked_at=_ts(event.ranked_at),
            )
            return
        if event.state == ContactState.QUEUED or event.version < known:
            return  # a decline announces the re-queue that follows it
        state.router.remove(event.contact_id)
        if event.state in TERMINAL:
            state.contacts.pop(event.contact_id, None)
        else:
            state.contacts[event.contact_id] = event.version

    @staticmethod
    def _set_agent(state: TenantState, event: AgentStateChangedEvent) -> None:
        if event.presence == Presence.SIGNED_OUT and not any(event.load.values()):
            state.router.remove_agent(event.agent_id)
            return
        state.router.set_agent(
            event.agent_id,
            skills=dict(event.skills),
            capacity=dict(event.capacity),
            ready=event.presence == Presence.READY,
            load=dict(event.load),
            idle_since=_ts(event.idle_since),
        )

    # ------------------------------------------------------------------- deciding
    async def _decide(self, tenant_id: UUID) -> None:
        state = self.tenants[tenant_id]
        stale = 0
        while stale < MAX_STALE and (found := state.router.next_assignment()) is not None:
            contact_id, agent_id = found.contact_id, found.agent_id
            assert isinstance(contact_id, UUID)
            assert isinstance(agent_id, UUID)
            try:
                offered = await do_offer_contact(
                    self.db,
                    tenant_id=tenant_id,
                    contact_id=contact_id,
                    agent_id=agent_id,
                    worker_id=self.worker_id,
                    lease_s=self.lease_s,
                )
            except (ConflictError, NotFoundError):
                self.stats.stale_decisions += 1
                stale += 1
                await self._refresh(tenant_id, contact_id, agent_id)
                continue
            await self._offer_made(tenant_id, state, contact_id, agent_id, offered)

    async def _offer_made(
        self,
        tenant_id: UUID,
        state: TenantState,
        contact_id: UUID,
        agent_id: UUID,
        offered: Offered,
    ) -> None:
        self.stats.offers += 1
        state.contacts[contact_id] = offered.contact_version
        state.agents[agent_id] = offered.agent_version
        if len(self._told) > TOLD_MAX:  # copies never followed (a lost leadership)
            self._told.clear()
        messages: list[tuple[str, bytes]] = []
        for event in offered.events:  # straight to the desk, ahead of the outbox relay
            messages += _desk_messages(tenant_id, event)
        await self.bus.publish_many(messages)
        self._told.update(_key(event) for event in offered.events)  # (sent: not again)

    # ------------------------------------------------------- offering at creation
    async def create_and_offer(
        self, tenant_id: UUID, new: NewContact, actor: str | None
    ) -> Created:
        """:func:`do_create_contact` for an action in this (leading) process — the API's
        create — with the offer in the same transaction when a free agent fits now: one
        transaction instead of two, and the offer on the agent's desk as soon as it commits.

        The decision is the Router's, taken as the contact's arrival alone
        (``enqueue_and_match``) and only when nothing else is pending that could change it
        (no hint that needs a read, no trigger while a contact waits): exactly the offer
        the engine's next pass would make. The chosen agent is then checked and locked in
        the transaction as :func:`do_offer_contact` does; if the check fails the contact is
        created queued, and whatever happens the engine reads the contact and the agent
        again (as after any stale decision)."""
        attempt: _Attempt | None = None

        async def offer(rows: Rows, contact: RoutingContact, now: datetime) -> None:
            nonlocal attempt
            if contact.state != ContactState.QUEUED:
                return
            agent_id = self._reserve(tenant_id, contact)
            if agent_id is None:
                return
            attempt = _Attempt(contact.id, agent_id)
            # The contact's queue was read by the creation: no statement here.
            queue = await rows.session.get(Queue, contact.queue_id)
            try:
                attempt.offered = await offer_in(
                    rows,
                    contact,
                    None if queue is None else queue.config,
                    agent_id,
                    worker_id=self.worker_id,
                    lease_s=self.lease_s,
                    now=now,
                )
            except ConflictError:
                self.stats.stale_decisions += 1  # the contact is created queued

        committed: Offered | None = None
        try:
            created = await do_create_contact(
                self.db, tenant_id=tenant_id, new=new, actor=actor, then=offer
            )
            # (an idempotency-key race rolls the transaction back and answers with the
            # other request's contact: then nothing of this one was committed)
            if attempt is not None and created.created and created.contact_id == attempt.contact_id:
                committed = attempt.offered
        finally:
            if attempt is not None:
                await self._settle(tenant_id, attempt.contact_id, attempt.agent_id, committed)
        return created

    def _reserve(self, tenant_id: UUID, contact: RoutingContact) -> UUID | None:
        """The free agent the Router gives a new contact now (taken in the Router), or None
        (the contact is then left to the normal path: the hint after its commit)."""
        state = self.tenants.get(tenant_id)
        if (
            not self._is_leader
            or state is None
            or self._hinted_contacts.get(tenant_id)
            or self._hinted_agents.get(tenant_id)
        ):
            return None
        # Hints that need no read are applied first (the next pass decides on them).
        self._apply_hints_in_hand(tenant_id, state)
        if state.router.has_triggers:
            if state.router.waiting_count:
                self._wake.set()
                return None
            # Nothing waits (the usual case: an agent just freed, say): the pending
            # triggers can match nothing, and serving them only files the free agents, as
            # the next pass would before this contact's trigger.
            unmatched = state.router.next_match()
            if unmatched is not None:  # cannot be: nothing waits. Were it so, the Router
                log.error("a trigger matched with nobody waiting; reloading the tenant")
                self.tenants.pop(tenant_id, None)  # is built again from the tables
                self._last_tenant_scan = 0.0
                self.kick()
                return None
        found = state.router.enqueue_and_match(
            contact.id,
            need_of(contact),
            priority=contact.priority,
            ranked_at=_ts(contact.ranked_at),
        )
        if found is None:
            state.router.remove(contact.id)  # (it is enqueued by the hint after the commit)
            return None
        agent_id = found[1]
        assert isinstance(agent_id, UUID)
        return agent_id

    async def _settle(
        self, tenant_id: UUID, contact_id: UUID, agent_id: UUID, offered: Offered | None
    ) -> None:
        """After a :meth:`create_and_offer` transaction ended: record the offer and send it
        to the desk, or — stale, or rolled back — read the contact and agent again."""
        state = self.tenants.get(tenant_id)
        if state is None:
            return  # (leadership lost meanwhile: the next leader loads the tables)
        if offered is not None and state.router.agent(agent_id) is not None:
            await self._offer_made(tenant_id, state, contact_id, agent_id, offered)
            return
        await self._refresh(tenant_id, contact_id, agent_id)
        self._wake.set()

    async def _take_hints(self, tenant_id: UUID) -> None:
        state = self.tenants[tenant_id]
        rows = self._hinted_rows.get(tenant_id, {})
        contacts = self._hinted_contacts.pop(tenant_id, set()) - rows.keys()
        agents = self._hinted_agents.pop(tenant_id, set())
        applied = self._apply_hints_in_hand(tenant_id, state)
        if not (applied or contacts or agents):
            return
        if contacts or agents:
            await self._refresh_rows(tenant_id, contacts, agents, force=False)
        await self._decide(tenant_id)

    def _apply_hints_in_hand(self, tenant_id: UUID, state: TenantState) -> bool:
        """Apply the hints that need no read — committed events and rows — by version, as
        followed ones; whether there were any."""
        events = self._hinted_events.pop(tenant_id, [])
        rows = self._hinted_rows.pop(tenant_id, {})
        for event in events:
            self.apply(state, event)
        for contact_id, row in rows.items():
            self._set_contact_row(state, contact_id, row, force=False)
        return bool(events or rows)

    async def _refresh(self, tenant_id: UUID, contact_id: UUID, agent_id: UUID) -> None:
        """Replace what the Router assumed about a contact and an agent with their rows."""
        await self._refresh_rows(tenant_id, {contact_id}, {agent_id}, force=True)

    async def _refresh_rows(
        self, tenant_id: UUID, contact_ids: set[UUID], agent_ids: set[UUID], *, force: bool
    ) -> None:
        """Read these contacts and agents (and the agents' loads) in one read transaction
        and set the Router from them; without ``force`` only rows newer than known."""
        contacts: dict[UUID, RoutingContact] = {}
        agents: dict[UUID, RoutingAgent] = {}
        loads: dict[UUID, dict[str, int]] = {}
        async with self.db.scoped(tenant_id, readonly=True) as session:
            if contact_ids:
                found = await session.scalars(
                    select(RoutingContact).where(RoutingContact.id.in_(contact_ids))
                )
                contacts = {contact.id: contact for contact in found}
            if agent_ids:
                rows = await session.scalars(
                    select(RoutingAgent).where(RoutingAgent.user_id.in_(agent_ids))
                )
                agents = {agent.user_id: agent for agent in rows}
                counted = await session.execute(
                    select(RoutingAssignment.agent_id, RoutingAssignment.channel, func.count())
                    .where(RoutingAssignment.agent_id.in_(agent_ids))
                    .group_by(RoutingAssignment.agent_id, RoutingAssignment.channel)
                )
                for agent_id, channel, count in counted:
                    loads.setdefault(agent_id, {})[str(channel)] = int(count)
        state = self.tenants[tenant_id]
        for contact_id in contact_ids:
            self._set_contact_row(state, contact_id, contacts.get(contact_id), force=force)
        for agent_id in agent_ids:
            self._set_agent_row(
                state, agent_id, agents.get(agent_id), loads.get(agent_id, {}), force=force
            )

    @staticmethod
    def _set_contact_row(
        state: TenantState, contact_id: UUID, contact: RoutingContact | None, *, force: bool
    ) -> None:
        if contact is None:
            state.router.remove(contact_id)
            return
        known = state.contacts.get(contact_id, 0)
        if not force and contact.version <= known:
            return  # nothing newer than what the Router already has
        state.contacts[contact_id] = contact.version
        if contact.state == ContactState.QUEUED:
            state.router.enqueue(
                contact_id,
                need_of(contact),
                priority=contact.priority,
                ranked_at=_ts(contact.ranked_at),
            )
        else:
            state.router.remove(contact_id)

    @staticmethod
    def _set_agent_row(
        state: TenantState,
        agent_id: UUID,
        agent: RoutingAgent | None,
        loads: dict[str, int],
        *,
        force: bool,
    ) -> None:
        if agent is None:
            state.router.remove_agent(agent_id)
            return
        if not force and agent.version <= state.agents.get(agent_id, 0):
            return
        state.agents[agent_id] = agent.version
        if agent.presence == Presence.SIGNED_OUT and not loads:
            state.router.remove_agent(agent_id)
            return
        state.router.set_agent(
            agent_id,
            skills={k: int(v) for k, v in agent.skills.items()},
            capacity={k: int(v) for k, v in agent.capacity.items()},
            ready=agent.presence == Presence.READY,
            load=loads,
            idle_since=_ts(agent.idle_since),
        )
