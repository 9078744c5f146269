"""The living demo floor: simulated customers and communicators on the real routing engine.

Customers arrive (Poisson, per queue) through :func:`do_create_contact`, the same action a
channel adapter uses; they hang up if they wait longer than their patience. Simulated
communicators go ready, answer offers after a short ring, talk, wrap up with a category
and sometimes take a break — all through the same actions the desk page calls. The
communicators listed in ``HUMAN_SEATS`` are left alone, so a person signed in as one of
them receives real offers and takes part (their skills are set so they get some).

Hook: ``await run_floor(services, tenant_id, stop_event=event)`` inside the app's loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select

from tsunagi.actions.conversations import (
    NewConversation,
    NewMessage,
    do_add_message,
    do_start_conversation,
)
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.actions.routing.contacts import NewContact, do_abandon_contact, do_create_contact
from tsunagi.actions.routing.offers import (
    do_accept_offer,
    do_close_contact,
    do_end_contact,
)
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Category, Queue, User
from tsunagi.adapters.storage.routing_models import RoutingAssignment, RoutingContact
from tsunagi.aio import wait_event
from tsunagi.domain.errors import TsunagiError
from tsunagi.routing.agents import AgentProfile, NotReadyReason, Presence
from tsunagi.routing.lifecycle import ContactState

log = logging.getLogger(__name__)

HUMAN_SEATS = ("op01", "op02", "op03")
ACTOR = "demo:floor"


@dataclass
class FloorPlan:
    """Rates and durations of the demo (seconds of wall-clock time)."""

    arrivals_per_minute: float = 30.0
    ring_s: tuple[float, float] = (1.0, 4.0)
    talk_mean_s: float = 45.0
    wrap_mean_s: float = 8.0
    patience_mean_s: float = 90.0
    break_probability: float = 0.04
    break_s: tuple[float, float] = (20.0, 60.0)
    seed: int = 2026


@dataclass
class _Seat:
    user_id: UUID
    username: str
    human: bool
    next_action: dict[UUID, datetime] = field(default_factory=dict)
    back_at: datetime | None = None


async def run_floor(
    services: Any, tenant_id: UUID, *, stop_event: asyncio.Event, plan: FloorPlan | None = None
) -> None:
    """Drive the demo center until ``stop_event`` is set."""
    db: Database = services.db
    plan = plan or FloorPlan()
    rng = random.Random(plan.seed)  # noqa: S311 - a simulation, not security
    queues, categories, seats = await _prepare(db, tenant_id, rng)
    patience: dict[UUID, datetime] = {}
    next_arrival = utcnow()
    while not stop_event.is_set():
        now = utcnow()
        try:
            while next_arrival <= now and queues:
                await _arrive(services, tenant_id, rng, queues, patience, plan, now)
                next_arrival += timedelta(seconds=rng.expovariate(plan.arrivals_per_minute / 60))
            await _customers_give_up(db, tenant_id, patience, now)
            await _communicators_work(db, tenant_id, rng, seats, categories, plan, now)
        except TsunagiError as exc:  # a race with a human or the engine: try again next tick
            log.debug("demo floor step skipped: %s", exc)
        await wait_event(stop_event, 0.25)


async def _prepare(
    db: Database, tenant_id: UUID, rng: random.Random
) -> tuple[list[tuple[UUID, str, str]], list[str], list[_Seat]]:
    async with db.scoped(tenant_id, readonly=True) as session:
        queues = [(q.id, q.code, q.channel) for q in (await session.scalars(select(Queue))).all()]
        categories = list((await session.scalars(select(Category.code))).all())
        users = (await session.scalars(select(User).order_by(User.username))).all()
    voice = [code for _id, code, channel in queues if channel == "voice"]
    seats = []
    for user in users:
        if "communicator" not in user.roles and "supervisor" not in user.roles:
            continue
        if "supervisor" in user.roles:
            skills = {"escalation": 8}
            capacity = {"voice": 1, "chat": 1}
        elif user.username in HUMAN_SEATS:
            # The people trying the demo are the best-skilled on every queue, so the policy
            # (best-skilled first) offers them calls and chats as soon as they are ready.
            skills = {**dict.fromkeys(voice, 10), "chat": 10, "email": 10}
            capacity = {"voice": 1, "chat": 2, "email": 1}
        else:
            chosen = rng.sample(voice, min(len(voice), rng.randint(2, 4)))
            skills = {code: rng.randint(3, 9) for code in chosen}
            capacity = {"voice": 1}
            if rng.random() < 0.4:
                skills.update({"chat": rng.randint(4, 9), "email": 5})
                capacity.update({"chat": 2, "email": 1})
        await do_set_agent_profile(
            db,
            tenant_id=tenant_id,
            agent_id=user.id,
            profile=AgentProfile(skills=skills, capacity=capacity),
            actor=ACTOR,
        )
        human = user.username in HUMAN_SEATS or "supervisor" in user.roles
        seat = _Seat(user.id, user.username, human)
        if not human:
            await do_set_presence(
                db, tenant_id=tenant_id, agent_id=user.id, presence=Presence.READY, actor=ACTOR
            )
        seats.append(seat)
    return queues, categories, seats


CHAT_OPENERS = (
    "今日の配送がまだ届きません。",
    "注文の追加はまだ間に合いますか？",
    "先月の請求金額について確認したいです。",
    "マイページにログインできません。",
    "商品のアレルギー表示を教えてください。",
    "引っ越すので住所を変更したいです。",
)


async def _arrive(
    services: Any,
    tenant_id: UUID,
    rng: random.Random,
    queues: list[tuple[UUID, str, str]],
    patience: dict[UUID, datetime],
    plan: FloorPlan,
    now: datetime,
) -> None:
    db: Database = services.db
    queue_id, _code, channel = rng.choice(queues)
    keyring = getattr(services, "keyring", None)
    if channel in ("chat", "email") and keyring is not None:
        # Written contacts are real conversations, so a person at the desk can open them.
        started = await do_start_conversation(
            db,
            keyring,
            tenant_id=tenant_id,
            new=NewConversation(
                channel=channel,
                queue_id=queue_id,
                source="demo",
                visitor_name="デモ 利用者",
                subject="お問い合わせ" if channel == "email" else None,
            ),
            actor=ACTOR,
        )
        await do_add_message(
            db,
            keyring,
            tenant_id=tenant_id,
            conversation_id=started.conversation_id,
            new=NewMessage("in", "customer", rng.choice(CHAT_OPENERS)),
            actor=ACTOR,
        )
        return
    created = await do_create_contact(
        db,
        tenant_id=tenant_id,
        new=NewContact(channel=channel, queue_id=queue_id, vip=rng.random() < 0.03, source="demo"),
        actor=ACTOR,
    )
    if channel == "voice":
        patience[created.contact_id] = now + timedelta(
            seconds=rng.expovariate(1 / plan.patience_mean_s)
        )


async def _customers_give_up(
    db: Database, tenant_id: UUID, patience: dict[UUID, datetime], now: datetime
) -> None:
    due = [contact_id for contact_id, limit in patience.items() if limit <= now]
    if not due:
        return
    async with db.scoped(tenant_id, readonly=True) as session:
        states = dict(
            (
                await session.execute(
                    select(RoutingContact.id, RoutingContact.state).where(
                        RoutingContact.id.in_(due)
                    )
                )
            ).all()
        )
    for contact_id in due:
        patience.pop(contact_id, None)
        if states.get(contact_id) in (ContactState.QUEUED, ContactState.OFFERED):
            await do_abandon_contact(db, tenant_id=tenant_id, contact_id=contact_id, actor=ACTOR)
        # otherwise the customer is being served and stays


async def _communicators_work(
    db: Database,
    tenant_id: UUID,
    rng: random.Random,
    seats: list[_Seat],
    categories: list[str],
    plan: FloorPlan,
    now: datetime,
) -> None:
    robots = {seat.user_id: seat for seat in seats if not seat.human}
    async with db.scoped(tenant_id, readonly=True) as session:
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
        seat = robots.get(agent_id)
        if seat is None:
            continue
        due = seat.next_action.get(contact_id)
        if due is None:
            seat.next_action[contact_id] = now + _duration(rng, state, plan)
            continue
        if due > now:
            continue
        del seat.next_action[contact_id]
        await _step(db, tenant_id, rng, seat, contact_id, state, categories, plan, now)
    for seat in robots.values():
        if seat.back_at is not None and seat.back_at <= now:
            seat.back_at = None
            await do_set_presence(
                db, tenant_id=tenant_id, agent_id=seat.user_id, presence=Presence.READY, actor=ACTOR
            )


async def _step(
    db: Database,
    tenant_id: UUID,
    rng: random.Random,
    seat: _Seat,
    contact_id: UUID,
    state: str,
    categories: list[str],
    plan: FloorPlan,
    now: datetime,
) -> None:
    """The simulated communicator's next move on one contact: answer, hang up, wrap up."""
    agent_id = seat.user_id
    if state == ContactState.OFFERED:
        await do_accept_offer(
            db, tenant_id=tenant_id, contact_id=contact_id, agent_id=agent_id, actor=ACTOR
        )
    elif state in (ContactState.CONNECTED, ContactState.ON_HOLD):
        await do_end_contact(
            db, tenant_id=tenant_id, contact_id=contact_id, agent_id=agent_id, actor=ACTOR
        )
    elif state == ContactState.WRAP_UP:
        await do_close_contact(
            db,
            tenant_id=tenant_id,
            contact_id=contact_id,
            agent_id=agent_id,
            actor=ACTOR,
            category=rng.choice(categories) if categories else None,
            resolved_first_contact=rng.random() < 0.8,
        )
        await _maybe_break(db, tenant_id, rng, seat, plan, now)


def _duration(rng: random.Random, state: str, plan: FloorPlan) -> timedelta:
    if state == ContactState.OFFERED:
        return timedelta(seconds=rng.uniform(*plan.ring_s))
    if state == ContactState.WRAP_UP:
        return timedelta(seconds=rng.expovariate(1 / plan.wrap_mean_s))
    return timedelta(seconds=rng.expovariate(1 / plan.talk_mean_s))


async def _maybe_break(
    db: Database,
    tenant_id: UUID,
    rng: random.Random,
    seat: _Seat,
    plan: FloorPlan,
    now: datetime,
) -> None:
    if rng.random() >= plan.break_probability:
        return
    await do_set_presence(
        db,
        tenant_id=tenant_id,
        agent_id=seat.user_id,
        presence=Presence.NOT_READY,
        reason=rng.choice([NotReadyReason.BREAK, NotReadyReason.BACK_OFFICE]),
        actor=ACTOR,
    )
    seat.back_at = now + timedelta(seconds=rng.uniform(*plan.break_s))
