"""The durable routing engine on SQLite + memory bus and PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from integration.routing.routing_floor import Floor, events_of
from tsunagi.actions.events import collecting
from tsunagi.actions.routing.agents import do_set_presence
from tsunagi.actions.routing.contacts import (
    NewContact,
    TransferTarget,
    do_abandon_contact,
    do_create_contact,
    do_request_callback,
    do_transfer_contact,
    due_callbacks,
)
from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.actions.routing.floor import floor_snapshot
from tsunagi.actions.routing.offers import (
    do_accept_offer,
    do_close_contact,
    do_end_contact,
    do_hold_contact,
    do_offer_contact,
    do_reject_offer,
    do_resume_contact,
)
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.storage.routing_models import RoutingAssignment, RoutingContact
from tsunagi.domain.errors import ConflictError
from tsunagi.routing.agents import Presence


async def test_a_contact_goes_through_its_whole_life(floor: Floor) -> None:
    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    contact_id = await floor.create("billing", customer_ref="cust-1")
    offered = await floor.wait_state(contact_id, "offered")
    assert offered.agent_id == floor.agents["aiko"]
    tenant, aiko = floor.tenant_id, floor.agents["aiko"]
    await do_accept_offer(
        floor.db, tenant_id=tenant, contact_id=contact_id, agent_id=aiko, actor="t"
    )
    await do_hold_contact(
        floor.db, tenant_id=tenant, contact_id=contact_id, agent_id=aiko, actor="t"
    )
    await do_resume_contact(
        floor.db, tenant_id=tenant, contact_id=contact_id, agent_id=aiko, actor="t"
    )
    until = await do_end_contact(
        floor.db, tenant_id=tenant, contact_id=contact_id, agent_id=aiko, actor="t"
    )
    assert until > datetime.now(UTC)
    assert (await floor.agent("aiko")).presence == Presence.READY
    await do_close_contact(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        agent_id=aiko,
        actor="t",
        category="billing-amount",
        resolved_first_contact=True,
    )
    closed = await floor.contact(contact_id)
    assert closed.state == "closed"
    assert closed.category == "billing-amount"
    assert closed.waited_s is not None
    types = [e["type"] for e in await events_of(floor, contact_id)]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.held",
        "contact.resumed",
        "contact.ended",
        "contact.closed",
    ]
    versions = [e["version"] for e in await events_of(floor, contact_id)]
    assert versions == sorted(versions)
    async with floor.db.scoped(tenant, readonly=True) as session:
        assert await session.scalar(select(func.count()).select_from(RoutingAssignment)) == 0


async def test_idempotency_key_returns_the_same_contact(floor: Floor) -> None:
    await floor.add_queue("chat")
    new = NewContact(channel="chat", queue_id=floor.queues["chat"], idempotency_key="msg-42")
    results = await asyncio.gather(
        *[
            do_create_contact(floor.db, tenant_id=floor.tenant_id, new=new, actor="t")
            for _ in range(5)
        ]
    )
    assert len({r.contact_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        count = await session.scalar(select(func.count()).select_from(RoutingContact))
    assert count == 1


async def test_a_contact_cannot_be_held_by_two_agents(floor: Floor) -> None:
    await floor.engine.stop()  # offers made by hand here, racing each other
    await floor.add_queue("gas")
    await floor.add_agent("a1", {"gas": 3})
    await floor.add_agent("a2", {"gas": 3})
    contact_id = await floor.create("gas")
    attempts = [
        do_offer_contact(
            floor.db,
            tenant_id=floor.tenant_id,
            contact_id=contact_id,
            agent_id=floor.agents[name],
            worker_id="w",
            lease_s=5,
        )
        for name in ("a1", "a2", "a1", "a2")
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    successes = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(successes) == 1
    assert all(isinstance(o, ConflictError | Exception) for o in outcomes if o not in successes)
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        rows = (await session.scalars(select(RoutingAssignment))).all()
    assert len(rows) == 1


async def test_best_skilled_agent_and_priority_order(floor: Floor) -> None:
    await floor.add_queue("delivery")
    await floor.add_agent("novice", {"delivery": 2})
    await floor.add_agent("expert", {"delivery": 9})
    first = await floor.create("delivery")
    assert (await floor.wait_state(first, "offered")).agent_id == floor.agents["expert"]
    second = await floor.create("delivery")
    assert (await floor.wait_state(second, "offered")).agent_id == floor.agents["novice"]
    normal = await floor.create("delivery")
    vip = await floor.create("delivery", vip=True)
    await asyncio.sleep(0.3)
    assert await floor.state_of(normal) == "queued"
    await do_reject_offer(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=first,
        agent_id=floor.agents["expert"],
        actor="t",
    )
    # Both agents said no and are not ready; three contacts wait: first (oldest), normal,
    # and the VIP, whose priority (+5 × 60 s) ranks it as if it had come five minutes earlier.
    assert (await floor.agent("expert")).presence == Presence.NOT_READY
    await do_reject_offer(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=second,
        agent_id=floor.agents["novice"],
        actor="t",
    )
    await floor.presence("novice", Presence.READY)
    assert (await floor.wait_state(vip, "offered")).agent_id == floor.agents["novice"]
    await floor.presence("expert", Presence.READY)
    assert (await floor.wait_state(first, "offered")).agent_id == floor.agents["expert"]
    await asyncio.sleep(0.3)
    assert await floor.state_of(normal) == "queued"
    assert await floor.state_of(second) == "queued"


async def test_missed_offer_puts_agent_not_ready_and_reoffers(floor: Floor) -> None:
    await floor.add_queue("quick", config={"routing": {"offer_timeout_s": 1}})
    await floor.add_agent("sleepy", {"quick": 9})
    contact_id = await floor.create("quick")
    assert (await floor.wait_state(contact_id, "offered")).agent_id == floor.agents["sleepy"]
    await floor.add_agent("awake", {"quick": 1})
    offered = await floor.wait_state(contact_id, "offered", timeout=5)

    async def moved() -> bool:
        return (await floor.contact(contact_id)).agent_id == floor.agents["awake"]

    await floor.until(moved, what="re-offer to the awake agent")
    sleepy = await floor.agent("sleepy")
    assert sleepy.presence == Presence.NOT_READY
    assert sleepy.reason == "missed_offer"
    del offered
    reasons = [
        e.get("reason")
        for e in await events_of(floor, contact_id)
        if e["type"] == "contact.offer_declined"
    ]
    assert reasons == ["timeout"]


async def test_lost_lease_is_reclaimed_without_blame(floor: Floor) -> None:
    await floor.add_queue("support")
    await floor.add_agent("ok", {"support": 5})
    await floor.engine.stop()
    contact_id = await floor.create("support")
    # A worker that dies right after offering: its lease is never renewed.
    await do_offer_contact(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=contact_id,
        agent_id=floor.agents["ok"],
        worker_id="dead-worker",
        lease_s=0.3,
    )
    from .conftest import open_floor  # a new worker takes over

    del open_floor
    floor.engine = type(floor.engine)(
        floor.db, floor.bus, worker_id="w2", lease_s=1.0, sweep_s=0.1, tick_s=0.2
    )
    await floor.engine.start()

    async def reoffered() -> bool:
        events = await events_of(floor, contact_id)
        return [e["type"] for e in events].count("contact.offered") == 2

    await floor.until(reoffered, what="re-offer after the lease ran out")
    assert (await floor.agent("ok")).presence == Presence.READY  # not blamed
    declined = [
        e for e in await events_of(floor, contact_id) if e["type"] == "contact.offer_declined"
    ]
    assert [e["reason"] for e in declined] == ["lease_lost"]


async def test_transfer_to_a_queue_and_escalation(floor: Floor) -> None:
    await floor.add_queue("front")
    await floor.add_queue("gas")
    await floor.add_agent("front-desk", {"front": 5})
    await floor.add_agent("gas-expert", {"gas": 5})
    await floor.add_agent("sv", {"escalation": 5})
    tenant = floor.tenant_id
    contact_id = await floor.create("front")
    await floor.wait_state(contact_id, "offered")
    await do_accept_offer(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        agent_id=floor.agents["front-desk"],
        actor="t",
    )
    await do_transfer_contact(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        by_agent_id=floor.agents["front-desk"],
        target=TransferTarget(queue_id=floor.queues["gas"]),
        actor="t",
    )
    moved = await floor.wait_state(contact_id, "offered")
    assert moved.agent_id == floor.agents["gas-expert"]
    assert moved.queue_id == floor.queues["gas"]
    await do_accept_offer(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        agent_id=floor.agents["gas-expert"],
        actor="t",
    )
    await do_transfer_contact(
        floor.db,
        tenant_id=tenant,
        contact_id=contact_id,
        by_agent_id=floor.agents["gas-expert"],
        target=TransferTarget(escalate=True),
        actor="t",
    )
    escalated = await floor.wait_state(contact_id, "offered")
    assert escalated.agent_id == floor.agents["sv"]
    assert escalated.escalated
    kinds = [e["type"] for e in await events_of(floor, contact_id)]
    assert kinds.count("contact.transferred") == 2


async def test_callbacks_keep_place_or_come_back_at_their_time(floor: Floor) -> None:
    await floor.add_queue("orders")
    tenant = floor.tenant_id
    keep = await floor.create("orders")
    later = await floor.create("orders")
    await do_request_callback(
        floor.db, tenant_id=tenant, contact_id=keep, callback_at=None, actor="t"
    )
    at = datetime.now(UTC) + timedelta(seconds=0.5)
    await do_request_callback(
        floor.db, tenant_id=tenant, contact_id=later, callback_at=at, actor="t"
    )
    assert await floor.state_of(later) == "callback_scheduled"
    booked = await floor.create("orders", callback_at=datetime.now(UTC) + timedelta(hours=2))
    assert await floor.state_of(booked) == "callback_scheduled"
    await floor.wait_state(keep, "queued")
    assert (await floor.contact(keep)).channel == "callback"
    await floor.wait_state(later, "queued")
    await floor.add_agent("caller", {"orders": 5})
    await floor.wait_state(keep, "offered")
    assert await floor.state_of(booked) == "callback_scheduled"


async def test_closed_hours_full_queue_and_abandon(floor: Floor) -> None:
    closed_all_week = {
        "routing": {"business_hours": {"mon": [["00:00", "00:01"]]}, "closed_action": "voicemail"}
    }
    await floor.add_queue("night", config=closed_all_week)
    contact_id = await floor.create("night")
    closed = await floor.contact(contact_id)
    assert closed.state == "closed"
    assert closed.outcome in ("voicemail", "closed_hours")
    await floor.add_queue("tiny", config={"routing": {"max_size": 1, "overflow_action": "message"}})
    first = await floor.create("tiny")
    second = await floor.create("tiny")
    assert await floor.state_of(first) == "queued"
    assert (await floor.contact(second)).outcome == "full"
    await do_abandon_contact(floor.db, tenant_id=floor.tenant_id, contact_id=first, actor="t")
    await do_abandon_contact(floor.db, tenant_id=floor.tenant_id, contact_id=first, actor="t")
    assert await floor.state_of(first) == "abandoned"


async def test_sign_out_is_refused_while_in_conversation(floor: Floor) -> None:
    await floor.add_queue("q")
    await floor.add_agent("busy", {"q": 5})
    contact_id = await floor.create("q")
    await floor.wait_state(contact_id, "offered")
    await do_accept_offer(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=contact_id,
        agent_id=floor.agents["busy"],
        actor="t",
    )
    with pytest.raises(ConflictError):
        await do_set_presence(
            floor.db,
            tenant_id=floor.tenant_id,
            agent_id=floor.agents["busy"],
            presence=Presence.SIGNED_OUT,
            actor="t",
        )


async def test_chat_capacity_three_at_a_time(floor: Floor) -> None:
    await floor.add_queue("webchat")
    await floor.add_agent("chatter", {"webchat": 5}, {"chat": 3})
    ids = [await floor.create("webchat", channel="chat") for _ in range(4)]

    async def three_offered() -> bool:
        states = [await floor.state_of(i) for i in ids]
        return states.count("offered") == 3

    await floor.until(three_offered, what="three chats offered")
    await asyncio.sleep(0.3)
    assert [await floor.state_of(i) for i in ids].count("queued") == 1


async def test_engine_restart_rebuilds_from_the_database(floor: Floor) -> None:
    await floor.add_queue("r")
    waiting = [await floor.create("r") for _ in range(3)]
    await floor.engine.stop()
    await floor.add_agent("late", {"r": 5}, {"voice": 1})
    engine = type(floor.engine)(
        floor.db,
        floor.bus,
        worker_id=f"w-{uuid.uuid4().hex[:6]}",
        lease_s=1.0,
        sweep_s=0.1,
        tick_s=0.2,
    )
    floor.engine = engine
    await engine.start()
    got = await floor.wait_state(waiting[0], "offered")
    assert got.agent_id == floor.agents["late"]
    assert [await floor.state_of(i) for i in waiting[1:]] == ["queued", "queued"]


@pytest.mark.parametrize("profile", ["postgres"], indirect=True)  # SQLite has no locks
async def test_a_stopped_relay_and_engine_hand_back_their_advisory_locks(floor: Floor) -> None:
    """Stopping releases the leaders' session locks though the pool keeps its connections:
    another relay or engine (in this process or another) can lead at once."""
    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    first = await floor.create("billing")
    await floor.wait_state(first, "offered")  # both have led
    assert await _advisory_locks(floor) == 2
    await floor.engine.stop()
    await floor.relay.stop()
    assert await _advisory_locks(floor) == 0
    floor.relay = OutboxRelay(floor.db, floor.bus, poll_interval_s=0.05)
    await floor.relay.start()
    floor.engine = RoutingEngine(
        floor.db, floor.bus, worker_id="second", lease_s=1.0, sweep_s=0.1, tick_s=0.2
    )
    await floor.engine.start()
    await do_reject_offer(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=first,
        agent_id=floor.agents["aiko"],
        actor="t",
    )
    await floor.add_agent("ren", {"billing": 5})
    again = await floor.wait_state(first, "offered", timeout=5)
    assert again.agent_id == floor.agents["ren"]


async def _advisory_locks(floor: Floor) -> int:
    """Advisory locks held in the floor's database (by any session)."""
    async with floor.db.system(readonly=True) as session:
        held = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    return int(held or 0)


@pytest.mark.parametrize("profile", ["sqlite"], indirect=True)
async def test_the_callback_sweep_finds_due_callbacks_by_its_index_whatever_the_statistics(
    floor: Floor,
) -> None:
    """SQLite only (PostgreSQL's statistics know a rare state is rare): after ``ANALYZE``
    over contacts that are all closed, ``sqlite_stat1`` says the (tenant, state) index
    matches every row and SQLite would scan the table on every sweep — 10 million contacts
    kept an idle server at ~0.7 of a core. The sweep's query must use its partial index."""
    await floor.add_queue("orders")
    first = await floor.create("orders")
    columns = ", ".join(c.name for c in RoutingContact.__table__.columns if c.name != "id")
    async with floor.db.system() as session, session.begin():
        await session.execute(
            text("UPDATE routing_contacts SET state = 'closed' WHERE id = :id"),
            {"id": first.hex},
        )
        for _ in range(9):  # 512 closed contacts of one tenant
            await session.execute(
                text(
                    f"INSERT INTO routing_contacts (id, {columns}) "
                    f"SELECT lower(hex(randomblob(16))), {columns} FROM routing_contacts"
                )
            )
        await session.execute(text("ANALYZE"))
    # The SQL the sweep really sends (with its parameters), then SQLite's plan for it.
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    # Only this session's connection is listened to: the engine's own sweep runs meanwhile,
    # and its statements (which list every column, callback_at too) must not be taken.
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        connection = await session.connection()
        event.listen(connection.sync_connection, "before_cursor_execute", capture)
        assert (await session.scalars(due_callbacks(datetime.now(UTC)))).all() == []
    statement, parameters = next((s, p) for s, p in sent if "callback_at" in s)
    async with floor.db.engine.connect() as connection:
        rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        plan = " ".join(str(row[-1]) for row in rows)
    assert "ix_routing_contacts_callbacks_due" in plan, plan
    assert "SCAN routing_contacts" not in plan, plan


# ------------------------------------------------------------ offering at creation
async def _known_free(floor: Floor, *names: str) -> None:
    """Wait until the engine's Router has these agents, ready and free, and nothing left
    to decide (it learns them from the outbox, asynchronously; with a trigger pending a
    creation leaves the offer to the engine's pass)."""

    async def known() -> bool:
        state = floor.engine.tenants.get(floor.tenant_id)
        if state is None or state.router.has_triggers:
            return False
        views = [state.router.agent(floor.agents[name]) for name in names]
        return all(v is not None and v.ready and not any(v.load.values()) for v in views)

    await floor.until(known, what=f"the engine knowing {names} free")


def _new(floor: Floor, queue: str, **kwargs: Any) -> NewContact:
    return NewContact(channel="voice", queue_id=floor.queues[queue], **kwargs)


async def test_a_new_contact_is_offered_in_its_creating_transaction(floor: Floor) -> None:
    """The API's create in the leading process: with a free agent, the offer is made in the
    contact's own transaction — to the agent the engine would choose (best skilled) — and
    the contact never shows as waiting in between."""
    await floor.add_queue("delivery")
    await floor.add_agent("novice", {"delivery": 2})
    await floor.add_agent("expert", {"delivery": 9})
    await _known_free(floor, "novice", "expert")
    offers_before = floor.engine.stats.offers
    created = await floor.engine.create_and_offer(floor.tenant_id, _new(floor, "delivery"), "t")
    assert created.created and created.state == "offered"
    contact = await floor.contact(created.contact_id)  # read at once: no waiting for the engine
    assert (contact.state, contact.agent_id) == ("offered", floor.agents["expert"])
    kinds = [e["type"] for e in await events_of(floor, created.contact_id)]
    assert kinds == ["contact.created", "contact.queued", "contact.offered"]
    assert floor.engine.stats.offers == offers_before + 1
    # The second goes to the novice (the expert is busy), the third waits.
    second = await floor.engine.create_and_offer(floor.tenant_id, _new(floor, "delivery"), "t")
    assert (await floor.contact(second.contact_id)).agent_id == floor.agents["novice"]
    third = await floor.engine.create_and_offer(floor.tenant_id, _new(floor, "delivery"), "t")
    assert third.state == "queued"
    await asyncio.sleep(0.3)
    assert await floor.state_of(third.contact_id) == "queued"
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        assert await session.scalar(select(func.count()).select_from(RoutingAssignment)) == 2


async def test_a_freed_agents_pending_trigger_does_not_keep_a_new_contact_from_its_offer(
    floor: Floor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent just freed (a close hinted to the engine, its trigger not yet served) and
    nobody waiting: the new contact is still offered in its creating transaction, to the
    best agent, the freed one included. (Before, any pending trigger sent the contact the
    slow way: created queued, offered by the engine's next pass in a second transaction.)"""
    await floor.add_queue("rail")
    await floor.add_agent("ami", {"rail": 3})
    await floor.add_agent("ben", {"rail": 8})
    await _known_free(floor, "ami", "ben")
    tenant, ben = floor.tenant_id, floor.agents["ben"]
    first = await floor.engine.create_and_offer(tenant, _new(floor, "rail"), "t")
    assert (await floor.contact(first.contact_id)).agent_id == ben
    held = {"tenant_id": tenant, "contact_id": first.contact_id, "agent_id": ben, "actor": "t"}
    await floor.relay.stop()  # the engine hears of the close below from the hint only
    await do_accept_offer(floor.db, **held)
    await do_end_contact(floor.db, **held)
    with collecting() as events:
        await do_close_contact(floor.db, **held)

    async def later(_tenant_id: uuid.UUID) -> None:  # the engine's pass comes after this
        return None

    monkeypatch.setattr(floor.engine, "_take_hints", later)
    floor.engine.hint(tenant, events=events)
    second = await floor.engine.create_and_offer(tenant, _new(floor, "rail"), "t")
    assert second.state == "offered"
    assert (await floor.contact(second.contact_id)).agent_id == ben
    await floor.relay.start()


async def test_a_stale_choice_at_creation_leaves_the_contact_queued(floor: Floor) -> None:
    """The Router still thinks an agent is free who went not ready a moment ago: the check
    in the creating transaction refuses the offer, the contact is created queued, and the
    engine, having read the agent again, offers it once someone is ready."""
    await floor.add_queue("gas")
    await floor.add_agent("aiko", {"gas": 5})
    await _known_free(floor, "aiko")
    await floor.relay.stop()  # the engine does not hear of the change below
    await floor.presence("aiko", Presence.NOT_READY)
    stale = floor.engine.stats.stale_decisions
    created = await floor.engine.create_and_offer(floor.tenant_id, _new(floor, "gas"), "t")
    assert created.state == "queued"
    assert floor.engine.stats.stale_decisions == stale + 1
    view = floor.engine.tenants[floor.tenant_id].router.agent(floor.agents["aiko"])
    assert view is not None and not view.ready  # read again after the refusal
    await floor.relay.start()
    await floor.presence("aiko", Presence.READY)
    offered = await floor.wait_state(created.contact_id, "offered")
    assert offered.agent_id == floor.agents["aiko"]


async def test_creations_at_once_never_share_a_free_agent(floor: Floor) -> None:
    await floor.add_queue("water")
    await floor.add_agent("solo", {"water": 5})
    await _known_free(floor, "solo")
    results = await asyncio.gather(
        *(
            floor.engine.create_and_offer(floor.tenant_id, _new(floor, "water"), "t")
            for _ in range(4)
        )
    )
    assert sorted(r.state for r in results) == ["offered", "queued", "queued", "queued"]
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        held = (await session.scalars(select(RoutingAssignment.agent_id))).all()
    assert held == [floor.agents["solo"]]


async def test_a_creation_rolled_back_after_the_choice_frees_the_agent_again(
    floor: Floor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection (no real fault makes the transaction fail at this point on demand):
    the creating transaction fails after the engine took an agent for it. Nothing is
    written, and the engine, having read the agent again, offers it the next contact."""
    from tsunagi.actions.routing import engine as engine_module

    await floor.add_queue("power")
    await floor.add_agent("ken", {"power": 5})
    await _known_free(floor, "ken")
    real = engine_module.offer_in

    async def failing(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(engine_module, "offer_in", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        await floor.engine.create_and_offer(floor.tenant_id, _new(floor, "power"), "t")
    monkeypatch.setattr(engine_module, "offer_in", real)
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        assert await session.scalar(select(func.count()).select_from(RoutingContact)) == 0
    await _known_free(floor, "ken")
    created = await floor.engine.create_and_offer(floor.tenant_id, _new(floor, "power"), "t")
    assert created.state == "offered"
    assert (await floor.contact(created.contact_id)).agent_id == floor.agents["ken"]


async def test_the_floor_snapshot_says_since_when_each_agent_is_in_its_state(
    floor: Floor,
) -> None:
    """The wallboard's time in state after a (re)load: since the offer on a contact, since
    the conversation ended in after-call work, since becoming idle when available — not
    since the presence last changed (the agent made itself ready long before)."""
    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    tenant, aiko = floor.tenant_id, floor.agents["aiko"]

    async def state_since() -> tuple[str, datetime, datetime]:
        snapshot = await floor_snapshot(floor.db, tenant)
        mine = next(a for a in snapshot["agents"] if a["agent_id"] == str(aiko))
        return (
            mine["state"],
            datetime.fromisoformat(mine["state_since"]),
            datetime.fromisoformat(mine["since"]),
        )

    state, began, ready = await state_since()
    assert state == "available" and began == ready
    await asyncio.sleep(0.3)
    contact_id = await floor.create("billing")
    offered = await floor.wait_state(contact_id, "offered")
    assert offered.agent_id == aiko
    kw: dict[str, Any] = {"tenant_id": tenant, "contact_id": contact_id, "agent_id": aiko}
    await do_accept_offer(floor.db, **kw, actor="t")
    state, began, ready = await state_since()
    assert state == "on_contact" and began >= ready + timedelta(seconds=0.3)
    await asyncio.sleep(0.2)
    await do_end_contact(floor.db, **kw, actor="t")
    ended = (await floor.contact(contact_id)).ended_at
    state, began, _ = await state_since()
    assert state == "after_call_work" and began == ended
    await asyncio.sleep(0.2)
    await do_close_contact(floor.db, **kw, actor="t")
    state, began, _ = await state_since()
    assert state == "available" and began == (await floor.agent("aiko")).idle_since
    assert ended is not None and began >= ended
