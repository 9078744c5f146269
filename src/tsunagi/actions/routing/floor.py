"""The live floor as a snapshot: queues with waiting contacts and today's figures, agents.

Pages load this once (through the events WebSocket snapshot) and then apply events, so the
wallboard never polls the database. Figures follow the definitions in
``docs/routing/discipline.md``: service level = answered within the queue's threshold ÷
(answered + abandoned after the threshold); short abandons do not count against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue, Tenant, User
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingAssignment, RoutingContact
from tsunagi.figures.fold import QueueTargets
from tsunagi.routing.agents import AgentState, Presence, state_of
from tsunagi.routing.lifecycle import TERMINAL, ContactState
from tsunagi.routing.queues import routing_settings

S = ContactState


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def floor_snapshot(
    db: Database, tenant_id: UUID, *, viewer: UUID | None = None
) -> dict[str, Any]:
    now = utcnow()
    async with db.scoped(tenant_id, readonly=True) as session:
        zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
        local = now.astimezone(ZoneInfo(zone or "UTC"))
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        queues = (await session.scalars(select(Queue).order_by(Queue.code))).all()
        waiting = (
            await session.scalars(
                select(RoutingContact)
                .where(RoutingContact.state == S.QUEUED)
                .order_by(RoutingContact.ranked_at)
            )
        ).all()
        finished = (
            await session.execute(
                select(
                    RoutingContact.queue_id,
                    RoutingContact.state,
                    RoutingContact.connected_at,
                    RoutingContact.ended_at,
                    RoutingContact.waited_s,
                ).where(
                    RoutingContact.created_at >= day_start,
                    (RoutingContact.connected_at.is_not(None))
                    | (RoutingContact.state == S.ABANDONED),
                )
            )
        ).all()
        agents = (await session.scalars(select(RoutingAgent))).all()
        names = dict((await session.execute(select(User.id, User.display_name))).all())
        held = (
            await session.execute(
                select(
                    RoutingAssignment.agent_id,
                    RoutingAssignment.channel,
                    RoutingAssignment.state,
                    RoutingAssignment.contact_id,
                    RoutingAssignment.offer_expires_at,
                    RoutingAssignment.offered_at,
                    RoutingContact.ended_at,
                ).join(RoutingContact, RoutingContact.id == RoutingAssignment.contact_id)
            )
        ).all()
    return {
        "now": now.isoformat(),
        "day_start": day_start.isoformat(),
        "queues": [_queue(q, waiting, finished) for q in queues],
        "agents": [_agent(a, names, held) for a in agents if a.presence != Presence.SIGNED_OUT],
        "mine": [
            {
                "contact_id": str(contact_id),
                "channel": channel,
                "state": state,
                "offer_expires_at": _iso(expires),
            }
            for agent_id, channel, state, contact_id, expires, *_times in held
            if viewer is not None and agent_id == viewer
        ],
    }


def _queue(queue: Queue, waiting: Any, finished: Any) -> dict[str, Any]:
    settings = routing_settings(queue.config)
    mine = [c for c in waiting if c.queue_id == queue.id]
    outcomes = [
        {
            "at": _iso(row.connected_at or row.ended_at),
            "answered": row.connected_at is not None,
            "waited_s": row.waited_s,
        }
        for row in finished
        if row.queue_id == queue.id
    ]
    return {
        "id": str(queue.id),
        "code": queue.code,
        "name_ja": queue.name_ja,
        "name_en": queue.name_en,
        "channel": queue.channel,
        "sl_threshold_s": queue.sl_threshold_s,
        "sl_target_pct": queue.sl_target_pct,
        # As the figures count them (docs/figures.md): the floor and the reports agree.
        "short_abandon_s": QueueTargets.of(queue.sl_threshold_s, queue.config).short_abandon_s,
        "waiting_alert": settings.waiting_alert,
        "sl_alert_pct": settings.sl_alert_pct,
        "waiting": [
            {
                "contact_id": str(c.id),
                "queued_at": _iso(c.queued_at or c.created_at),
                "ranked_at": _iso(c.ranked_at),
                "vip": c.vip,
                "escalated": c.escalated,
                "channel": c.channel,
                "priority": c.priority,
            }
            for c in mine
        ],
        "outcomes": outcomes,
    }


def _agent(agent: RoutingAgent, names: dict[UUID, str], held: Any) -> dict[str, Any]:
    rows = [row for row in held if row.agent_id == agent.user_id]
    wrapping = sum(1 for row in rows if row.state == S.WRAP_UP)
    load: dict[str, int] = {}
    for row in rows:
        load[row.channel] = load.get(row.channel, 0) + 1
    state = state_of(Presence(agent.presence), engaged=len(rows) - wrapping, wrapping=wrapping)
    return {
        "agent_id": str(agent.user_id),
        "display_name": names.get(agent.user_id, ""),
        "state": state,
        "presence": agent.presence,
        "reason": agent.reason,
        "since": _iso(agent.since),
        "state_since": _iso(_state_since(agent, state, rows)),
        "load": load,
        # Calls in conversation: a supervisor may listen, whisper or barge in.
        "calls": [
            str(row.contact_id)
            for row in rows
            if row.channel in ("voice", "callback") and row.state == S.CONNECTED
        ],
        "capacity": agent.capacity,
        "skills": agent.skills,
    }


def _state_since(agent: RoutingAgent, state: AgentState, rows: Any) -> datetime:
    """When the agent's reported state began, as far as the rows tell: on a contact since
    the earliest offer it still holds, in after-call work since the earliest conversation
    it still wraps up ended, available since it last became idle; never before its
    presence changed. (A live view keeps an earlier start across back-to-back contacts.)"""
    began: datetime
    if state is AgentState.ON_CONTACT:
        began = min(row.offered_at for row in rows if row.state != S.WRAP_UP)
    elif state is AgentState.AFTER_CALL_WORK:
        began = min(row.ended_at or row.offered_at for row in rows)
    elif state is AgentState.AVAILABLE:
        began = agent.idle_since
    else:
        return agent.since
    return max(agent.since, began)


async def desk_snapshot(db: Database, tenant_id: UUID, agent_id: UUID) -> dict[str, Any]:
    """One agent's desk now: their routing state and the contacts they hold."""
    async with db.scoped(tenant_id, readonly=True) as session:
        agent = await session.scalar(select(RoutingAgent).where(RoutingAgent.user_id == agent_id))
        rows = (
            await session.execute(
                select(RoutingAssignment, RoutingContact)
                .join(RoutingContact, RoutingContact.id == RoutingAssignment.contact_id)
                .where(RoutingAssignment.agent_id == agent_id)
            )
        ).all()
        held = [(assignment.channel, assignment.state) for assignment, _contact in rows]
        found = await session.execute(
            select(RoutingContact.consult_of, RoutingContact.id).where(
                RoutingContact.consult_of.in_([contact.id for _a, contact in rows]),
                RoutingContact.state.not_in([state.value for state in TERMINAL]),
            )
        )
        consults = {row[0]: row[1] for row in found}
        name = await session.scalar(select(User.display_name).where(User.id == agent_id))
    wrapping = sum(1 for _channel, state in held if state == S.WRAP_UP)
    return {
        "agent": None
        if agent is None
        else {
            "agent_id": str(agent_id),
            "display_name": name or "",
            "version": agent.version,
            "presence": agent.presence,
            "reason": agent.reason,
            "state": state_of(
                Presence(agent.presence), engaged=len(held) - wrapping, wrapping=wrapping
            ),
        },
        "mine": [
            {
                "contact_id": str(contact.id),
                "version": contact.version,
                "state": contact.state,
                "channel": contact.channel,
                "queue_id": str(contact.queue_id) if contact.queue_id else None,
                "offer_expires_at": _iso(assignment.offer_expires_at),
                "consult_of": str(contact.consult_of) if contact.consult_of else None,
                "consult_id": str(consults[contact.id]) if contact.id in consults else None,
            }
            for assignment, contact in rows
        ],
    }
