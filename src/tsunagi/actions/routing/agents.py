"""Agents' routing state: presence with reason codes, skills and capacities.

Every change emits ``agent.state_changed`` with the whole state, so time in each state is
reportable from events alone and the engine can follow agents without reading the table.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from tsunagi.actions.routing.offers import do_reject_offer
from tsunagi.actions.routing.rows import announce_agent, holdings, lock_agent, utcnow
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingAssignment
from tsunagi.domain.errors import ConflictError, InvalidInputError
from tsunagi.routing.agents import AgentProfile, NotReadyReason, Presence
from tsunagi.routing.events import AgentStateChangedEvent
from tsunagi.routing.lifecycle import ContactState


async def do_set_presence(
    db: Database,
    *,
    tenant_id: UUID,
    agent_id: UUID,
    presence: Presence,
    reason: NotReadyReason | None = None,
    actor: str | None,
) -> AgentStateChangedEvent:
    """Ready, not ready (with a reason) or signed out.

    Signing out declines pending offers first (without blame) and is refused while the agent
    still has contacts in conversation or wrap-up.
    """
    if presence is Presence.NOT_READY and reason is None:
        raise InvalidInputError("not ready needs a reason code")
    if presence is Presence.SIGNED_OUT:
        await _hand_back_offers(db, tenant_id, agent_id)
    now = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        agent = await lock_agent(session, agent_id, at=now)
        if presence is Presence.SIGNED_OUT and await holdings(session, agent_id):
            raise ConflictError("finish your contacts before signing out")
        if presence != agent.presence or reason != agent.reason:
            if presence is Presence.READY and agent.presence != Presence.READY:
                agent.idle_since = now
            agent.presence = presence
            agent.reason = reason if presence is Presence.NOT_READY else None
            agent.since = now
        return await announce_agent(session, agent, at=now, actor=actor)


async def _hand_back_offers(db: Database, tenant_id: UUID, agent_id: UUID) -> None:
    async with db.scoped(tenant_id, readonly=True) as session:
        offered = (
            await session.scalars(
                select(RoutingAssignment.contact_id).where(
                    RoutingAssignment.agent_id == agent_id,
                    RoutingAssignment.state == ContactState.OFFERED,
                )
            )
        ).all()
    for contact_id in offered:
        try:
            await do_reject_offer(
                db,
                tenant_id=tenant_id,
                contact_id=contact_id,
                agent_id=agent_id,
                actor="system:sign-out",
            )
        except ConflictError:
            continue  # answered or expired meanwhile


async def do_set_agent_profile(
    db: Database, *, tenant_id: UUID, agent_id: UUID, profile: AgentProfile, actor: str | None
) -> AgentStateChangedEvent:
    """Skills with proficiency and channel capacities (administrators)."""
    profile.validated()
    now = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        agent = await lock_agent(session, agent_id, at=now)
        agent.skills = dict(profile.skills)
        agent.capacity = dict(profile.capacity)
        return await announce_agent(session, agent, at=now, actor=actor)


async def find_agent(db: Database, tenant_id: UUID, agent_id: UUID) -> RoutingAgent | None:
    async with db.scoped(tenant_id, readonly=True) as session:
        return await session.scalar(select(RoutingAgent).where(RoutingAgent.user_id == agent_id))
