"""Outbound calls placed by a communicator (click-to-call) or by another system (the API).

A placed call is a ``callback`` contact of the chosen queue, named to the communicator
who places it (``target_agent_ids``) and carrying the number to dial, sealed and hashed,
in its party row — created in one transaction, so the voice worker never sees a call
without a number. From there it is the callback path of the voice channel
(``docs/architecture/voice.md``): routing offers it to that communicator when they have
room, their phone rings, and on answer the customer is dialled through the trunk with
the queue's caller id. The outbound issue's dialers can build on this.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tsunagi.actions import audit
from tsunagi.actions.desktop import identify_party_in
from tsunagi.actions.events import emit
from tsunagi.actions.routing.contacts import NewContact, create_contact_in
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingContact
from tsunagi.domain.customers import Identifier
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.permissions import NOBODY, Action, Principal, Resource, authorize
from tsunagi.voice.events import (
    MONITOR_MODES,
    CallMonitorRequestedEvent,
    CallRecordingPauseRequestedEvent,
)

SOURCE = "click_to_call"
# Ahead of the queue's waiting callbacks: the communicator asked for this call now.
PRIORITY = 10


@dataclass(frozen=True, slots=True)
class PlacedCall:
    contact_id: UUID
    state: str
    matched_customers: int


async def do_place_call(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    queue_id: UUID,
    number: str,
    agent_id: UUID | None = None,
) -> PlacedCall:
    """Place a call to ``number`` for ``agent_id`` (default: the principal) on ``queue_id``."""
    number = number.strip()
    try:
        Identifier("phone", number)
    except InvalidInputError as exc:
        raise InvalidInputError(f"number: {exc}") from exc
    caller = agent_id or principal.user_id
    # A communicator places their own calls; supervisors and systems may place them for
    # any communicator of the tenant.
    authorize(
        principal, Action.CREATE, Resource("call", tenant_id=principal.tenant_id, owner_id=caller)
    )
    cipher = await keyring.cipher(db, principal.tenant_id)
    at = utcnow()
    async with db.scoped(principal.tenant_id) as session, session.begin():
        agent = await session.get(RoutingAgent, caller)
        if agent is None or int(agent.capacity.get("voice", 0)) < 1:
            raise ConflictError("the caller has no voice capacity (set it in the agent's profile)")
        contact = await create_contact_in(
            session,
            principal.tenant_id,
            NewContact(
                channel="callback",
                queue_id=queue_id,
                priority=PRIORITY,
                target_agent_ids=(caller,),
                source=SOURCE,
            ),
            at=at,
            actor=principal.actor,
        )
        matched = await identify_party_in(session, cipher, contact.id, "phone", number)
        return PlacedCall(contact.id, contact.state, matched)


VOICE_CHANNELS = ("voice", "callback")
LIVE_STATES = ("connected", "on_hold")


async def do_request_recording_pause(
    db: Database, *, principal: Principal, contact_id: UUID, paused: bool
) -> None:
    """Ask the voice worker to pause (or resume) the call's recording.

    The communicator on the call or a supervisor may; the request is an outbox event
    the worker acts on within its poll interval, and the worker audits the pause itself
    (``recording.paused`` / ``recording.resumed``, by this user).
    """
    async with db.scoped(principal.tenant_id) as session, session.begin():
        contact = await session.get(RoutingContact, contact_id)
        if contact is None:
            raise NotFoundError("contact not found")
        authorize(
            principal,
            Action.UPDATE,
            Resource(
                "call",
                tenant_id=principal.tenant_id,
                owner_id=contact.agent_id or NOBODY,
                id=contact_id,
            ),
        )
        if contact.channel not in VOICE_CHANNELS or contact.state not in LIVE_STATES:
            raise ConflictError("only a call in conversation has a recording to pause")
        emit(
            session,
            CallRecordingPauseRequestedEvent(
                tenant_id=principal.tenant_id,
                occurred_at=utcnow(),
                actor=principal.actor,
                contact_id=contact_id,
                paused=paused,
                requested_by=principal.user_id,
            ),
        )


async def do_request_monitor(
    db: Database, *, principal: Principal, contact_id: UUID, mode: str
) -> None:
    """A supervisor asks to listen to, whisper into or barge into a live call; the voice
    worker rings their phone and mixes it in when answered. Audited here."""
    authorize(principal, Action.CREATE, Resource("call_monitor", tenant_id=principal.tenant_id))
    async with db.scoped(principal.tenant_id) as session, session.begin():
        contact = await session.get(RoutingContact, contact_id)
        if contact is None:
            raise NotFoundError("contact not found")
        if mode not in MONITOR_MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(MONITOR_MODES)}")
        if contact.channel not in VOICE_CHANNELS or contact.state != "connected":
            raise ConflictError("only a call in conversation can be joined")
        emit(
            session,
            CallMonitorRequestedEvent(
                tenant_id=principal.tenant_id,
                occurred_at=utcnow(),
                actor=principal.actor,
                contact_id=contact_id,
                mode=mode,
                requested_by=principal.user_id,
            ),
        )
        audit.record(
            session,
            tenant_id=principal.tenant_id,
            action=f"call.{mode}",
            resource_type="contact",
            resource_id=str(contact_id),
            outcome="requested",
            actor_user_id=principal.user_id,
        )


__all__ = [
    "PRIORITY",
    "SOURCE",
    "PlacedCall",
    "do_place_call",
    "do_request_monitor",
    "do_request_recording_pause",
]
