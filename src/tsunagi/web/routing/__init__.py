"""Routing (ACD) web feature: REST API, floor pages, the events snapshot and the engine.

``startup`` starts a :class:`~tsunagi.actions.routing.engine.RoutingEngine` in every app
process (only the leader routes; the others stand by) and registers the ``routing``
snapshot of ``/ws/events``; ``shutdown`` stops the engine.
"""

from __future__ import annotations

from typing import Any

from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.actions.routing.floor import floor_snapshot
from tsunagi.domain.permissions import Action, Principal, Resource, is_allowed
from tsunagi.web import events
from tsunagi.web.routing import api, desk, desk_api, pages, wrap_up
from tsunagi.web.routing.engines import ENGINES, engine_for
from tsunagi.web.services import Services

ROUTES: list[Any] = [
    *api.ROUTES,
    *pages.ROUTES,
    *desk.ROUTES,
    *desk_api.ROUTES,
    *wrap_up.ROUTES,
]


async def routing_snapshot(services: Services, principal: Principal) -> dict[str, Any]:
    if not is_allowed(principal, Action.READ, Resource("floor", principal.tenant_id)):
        return {}
    return await floor_snapshot(services.db, principal.tenant_id, viewer=principal.user_id)


async def startup(services: Services) -> None:
    engine = RoutingEngine(services.db, services.bus)
    ENGINES[id(services)] = engine
    events.SNAPSHOT_PROVIDERS["routing"] = routing_snapshot
    await engine.start()


async def shutdown(services: Services) -> None:
    engine = ENGINES.pop(id(services), None)
    if engine is not None:
        await engine.stop()


__all__ = ["ROUTES", "engine_for", "routing_snapshot", "shutdown", "startup"]
