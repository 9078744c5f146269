"""The routing engine of each running app, keyed by its Services (made in startup)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tsunagi.actions.routing.contacts import Created, NewContact, do_create_contact
from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.domain.events import Event
from tsunagi.web.services import Services

ENGINES: dict[int, RoutingEngine] = {}


def engine_for(services: Services) -> RoutingEngine | None:
    return ENGINES.get(id(services))


def hint(
    services: Services,
    tenant_id: UUID,
    *,
    contact_id: UUID | None = None,
    agent_id: UUID | None = None,
    contact: RoutingContact | None = None,
    events: Sequence[Event] = (),
) -> None:
    """Tell this process's engine, if it leads, that an action here changed these rows
    (``contact``: the row as the action committed it, ``events``: the events it committed,
    so the engine need not read them)."""
    engine = engine_for(services)
    if engine is not None and engine.is_leader:
        engine.hint(
            tenant_id, contact_id=contact_id, agent_id=agent_id, contact=contact, events=events
        )


async def create_routed(
    services: Services, tenant_id: UUID, new: NewContact, actor: str | None
) -> Created:
    """Create a contact; if this process's engine leads, it offers the contact in the same
    transaction when an agent is free for it now (``RoutingEngine.create_and_offer``)."""
    engine = engine_for(services)
    if engine is not None and engine.is_leader:
        return await engine.create_and_offer(tenant_id, new, actor)
    return await do_create_contact(services.db, tenant_id=tenant_id, new=new, actor=actor)
