"""Row helpers shared by the routing actions: locking, state moves and the events they emit.

Lock order, everywhere: the contact row first, then the agent row. On PostgreSQL the
locks are ``SELECT … FOR UPDATE``; on SQLite every writing transaction already holds the
database lock from ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.events import emit
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingAssignment, RoutingContact
from tsunagi.domain.errors import NotFoundError
from tsunagi.routing.agents import Presence, state_of
from tsunagi.routing.events import AgentStateChangedEvent
from tsunagi.routing.lifecycle import ContactState, check_transition
from tsunagi.routing.policy import Need

DEFAULT_CAPACITY = {"voice": 1}


def utcnow() -> datetime:
    return datetime.now(UTC)


def need_channel(channel: str) -> str:
    """The agent capacity a contact uses: a callback is a voice call made by the agent."""
    return "voice" if channel == "callback" else channel


def need_of(contact: RoutingContact) -> Need:
    return Need(
        need_channel(contact.channel),
        contact.skill,
        frozenset(contact.extra_skills),
        frozenset(UUID(value) for value in contact.target_agent_ids),
    )


# Hot statements are built once (SQLAlchemy then neither rebuilds them nor recomputes
# their cache key); a scoped session still adds the tenant criterion on each execution.
def locked_contact(
    *, assignment: bool = False, config: bool = False, party: bool = False
) -> Select[Any]:
    """The statement that locks the contact ``:contact_id`` (its row only) and reads with it,
    outer-joined, its assignment, its queue's ``config`` and its party row — each if asked,
    in that order after the contact."""
    statement: Select[Any] = select(RoutingContact)
    if assignment:
        statement = statement.add_columns(RoutingAssignment).outerjoin(
            RoutingAssignment, RoutingAssignment.contact_id == RoutingContact.id
        )
    if config:
        statement = statement.add_columns(Queue.config).outerjoin(
            Queue, Queue.id == RoutingContact.queue_id
        )
    if party:
        statement = statement.add_columns(ContactParty).outerjoin(
            ContactParty, ContactParty.contact_id == RoutingContact.id
        )
    return statement.where(RoutingContact.id == bindparam("contact_id")).with_for_update(
        of=RoutingContact
    )


_LOCK_CONTACT = locked_contact()
_LOCK_AGENT_AND_HOLDINGS = (
    select(
        RoutingAgent,
        User.display_name,
        RoutingAssignment.contact_id,
        RoutingAssignment.channel,
        RoutingAssignment.state,
    )
    .join(User, User.id == RoutingAgent.user_id)
    .outerjoin(RoutingAssignment, RoutingAssignment.agent_id == RoutingAgent.user_id)
    .where(RoutingAgent.user_id == bindparam("agent_id"))
    .with_for_update(of=RoutingAgent)
)


async def lock_contact(session: AsyncSession, contact_id: UUID) -> RoutingContact:
    contact: RoutingContact | None = await session.scalar(_LOCK_CONTACT, {"contact_id": contact_id})
    if contact is None:
        raise NotFoundError("contact not found")
    return contact


async def lock_agent(session: AsyncSession, agent_id: UUID, *, at: datetime) -> RoutingAgent:
    """The agent's routing row, created signed out on first use (for existing users only)."""
    agent = await session.scalar(
        select(RoutingAgent).where(RoutingAgent.user_id == agent_id).with_for_update()
    )
    if agent is not None:
        return agent
    if await session.scalar(select(User.id).where(User.id == agent_id)) is None:
        raise NotFoundError("agent not found")
    agent = RoutingAgent(
        user_id=agent_id,
        presence=Presence.SIGNED_OUT,
        since=at,
        idle_since=at,
        version=0,
        skills={},
        capacity=dict(DEFAULT_CAPACITY),
    )
    session.add(agent)
    await session.flush()
    return agent


async def lock_agent_and_holdings(
    session: AsyncSession, agent_id: UUID, *, at: datetime
) -> tuple[RoutingAgent, str | None, Holdings]:
    """:func:`lock_agent` and :func:`name_and_holdings` in one statement (one round trip
    fewer in every offer, accept and end): the agent row locked, with its name and the
    contacts it holds, read before the caller changes anything."""
    rows = (await session.execute(_LOCK_AGENT_AND_HOLDINGS, {"agent_id": agent_id})).all()
    if not rows:  # no routing row yet: made signed out (as lock_agent does)
        agent = await lock_agent(session, agent_id, at=at)
        name, held = await name_and_holdings(session, agent_id)
        return agent, name, held
    held = {
        contact_id: (channel, state)
        for _agent, _name, contact_id, channel, state in rows
        if contact_id is not None
    }
    return rows[0][0], rows[0][1], held


def move(contact: RoutingContact, target: ContactState, at: datetime) -> None:
    contact.state = check_transition(ContactState(contact.state), target)
    contact.version += 1
    contact.updated_at = at


def contact_fields(contact: RoutingContact, at: datetime, actor: str | None) -> dict[str, Any]:
    """The fields every contact event carries."""
    return {
        "tenant_id": contact.tenant_id,
        "occurred_at": at,
        "actor": actor,
        "contact_id": contact.id,
        "version": contact.version,
        "state": contact.state,
        "channel": contact.channel,
        "queue_id": contact.queue_id,
        "agent_id": contact.agent_id,
        "last_agent_id": contact.last_agent_id,
        "consult_of": contact.consult_of,
    }


async def holdings(session: AsyncSession, agent_id: UUID) -> list[tuple[str, str]]:
    """(channel, state) of every contact the agent holds."""
    rows = await session.execute(
        select(RoutingAssignment.channel, RoutingAssignment.state).where(
            RoutingAssignment.agent_id == agent_id
        )
    )
    return [(channel, state) for channel, state in rows]


Holdings = dict[UUID, tuple[str, str]]
"""The contacts an agent holds: contact id → (channel, assignment state)."""


async def name_and_holdings(session: AsyncSession, agent_id: UUID) -> tuple[str | None, Holdings]:
    """The agent's display name and every contact it holds, in one statement. Read under
    the agent's lock, before the caller changes anything (no flush), and brought up to
    date by the caller for :func:`announce_agent` (``known``)."""
    rows = (
        await session.execute(
            select(
                User.display_name,
                RoutingAssignment.contact_id,
                RoutingAssignment.channel,
                RoutingAssignment.state,
            )
            .outerjoin(RoutingAssignment, RoutingAssignment.agent_id == User.id)
            .where(User.id == agent_id)
        )
    ).all()
    name = rows[0][0] if rows else None
    return name, {
        contact_id: (channel, state)
        for _name, contact_id, channel, state in rows
        if contact_id is not None
    }


async def announce_agent(
    session: AsyncSession,
    agent: RoutingAgent,
    *,
    at: datetime,
    actor: str | None,
    known: tuple[str | None, Holdings] | None = None,
) -> AgentStateChangedEvent:
    """Bump the agent's version and emit its whole routing state (call after every change).
    ``known``: :func:`name_and_holdings` as they are after the change, if the caller has
    them, else they are read (which flushes the caller's changes first)."""
    name, holding = known if known is not None else await name_and_holdings(session, agent.user_id)
    held = list(holding.values())
    load: dict[str, int] = {}
    for channel, _state in held:
        load[channel] = load.get(channel, 0) + 1
    wrapping = sum(1 for _channel, state in held if state == ContactState.WRAP_UP)
    state = state_of(Presence(agent.presence), engaged=len(held) - wrapping, wrapping=wrapping)
    agent.version += 1
    event = AgentStateChangedEvent(
        tenant_id=agent.tenant_id,
        occurred_at=at,
        actor=actor,
        agent_id=agent.user_id,
        version=agent.version,
        state=state,
        presence=agent.presence,
        reason=agent.reason,
        since=agent.since,
        idle_since=agent.idle_since,
        load=load,
        capacity={k: int(v) for k, v in agent.capacity.items()},
        skills={k: int(v) for k, v in agent.skills.items()},
        display_name=name or "",
    )
    emit(session, event)
    return event


async def release_assignment(
    session: AsyncSession, contact: RoutingContact, *, at: datetime
) -> RoutingAgent | None:
    """Delete the contact's assignment; returns the (locked) agent that held it."""
    assignment = await session.get(RoutingAssignment, contact.id)
    if assignment is None:
        return None
    agent = await lock_agent(session, assignment.agent_id, at=at)
    await session.delete(assignment)
    await session.flush()
    mark_released(contact, agent, at=at)
    return agent


async def release_for_good(
    session: AsyncSession, contact: RoutingContact, *, at: datetime
) -> tuple[RoutingAgent, str | None, Holdings] | None:
    """:func:`release_assignment` for a contact leaving its agent for good (closing): the
    agent's lock, name and remaining holdings in one statement, and the delete flushed with
    the rest at the commit (nothing inserts the row again in the same transaction).
    Returns None if nobody held it."""
    assignment = await session.get(RoutingAssignment, contact.id)
    if assignment is None:
        return None
    agent, name, held = await lock_agent_and_holdings(session, assignment.agent_id, at=at)
    await session.delete(assignment)
    mark_released(contact, agent, at=at, held=held)
    return agent, name, held


def mark_released(
    contact: RoutingContact, agent: RoutingAgent, *, at: datetime, held: Holdings | None = None
) -> None:
    """What a contact's leaving its agent changes (its assignment deleted by the caller):
    the agent is its last one and idle since ``at``, the contact held by nobody, and gone
    from the agent's ``held`` contacts (if given)."""
    if held is not None:
        held.pop(contact.id, None)
    contact.last_agent_id = agent.user_id
    contact.agent_id = None
    agent.idle_since = at
