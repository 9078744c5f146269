"""The status page (``/status``) and ``GET /api/v1/status`` for administrators: database,
bus, event pipeline (outbox relay, figures), the voice worker's SIP edge and media plane.

``/api/health`` stays the small public probe for load balancers; this is the page an
administrator opens when something is wrong, so it says what and where.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.response import Template
from sqlalchemy import func, select, text

from tsunagi import __version__
from tsunagi.actions.accounts import get_tenant
from tsunagi.adapters.storage.figures_models import FiguresCheckpoint
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.adapters.telephony.status import read_status, status_path
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.figures import projector_status
from tsunagi.web.i18n import N_
from tsunagi.web.services import Services, services_of

AnyRequest = Request[Any, Any, Any]

# What the page shows for the API's values.
LABELS = {
    "ok": N_("Working"),
    "degraded": N_("Degraded"),
    "down": N_("Down"),
    "stale": N_("No recent report"),
    "not running": N_("Not running"),
    "database": N_("Database"),
    "bus": N_("Event bus"),
    "event relay": N_("Event relay"),
    "figures": N_("Figures"),
    "voice": N_("Voice: SIP edge and media plane"),
}

# An event waiting longer than this for the relay means the pipeline is stuck.
RELAY_STUCK_S = 30.0


class PartStatus(Output):
    name: str
    state: str  # "ok", "degraded", "down", "stale", "not running"
    detail: dict[str, Any]


class SystemStatus(Output):
    state: str
    version: str
    checked_at: datetime
    parts: list[PartStatus]


async def _database(services: Services) -> PartStatus:
    started = time.perf_counter()
    try:
        async with services.db.system(readonly=True) as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        return PartStatus(name="database", state="down", detail={"error": type(exc).__name__})
    return PartStatus(
        name="database",
        state="ok",
        detail={
            "profile": "sqlite" if services.db.is_sqlite else "postgresql",
            "round_trip_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )


async def _pipeline(services: Services, tenant_id: UUID, now: datetime) -> list[PartStatus]:
    """The tenant's own backlog: events not yet published, events not yet counted."""
    async with services.db.scoped(tenant_id, readonly=True) as session:
        unpublished, oldest = (
            await session.execute(
                select(func.count(), func.min(OutboxEvent.occurred_at)).where(
                    OutboxEvent.published_at.is_(None)
                )
            )
        ).one()
        newest = await session.scalar(select(func.max(OutboxEvent.seq)))
        folded = await session.scalar(select(func.max(FiguresCheckpoint.last_seq)))
    oldest_s = None if oldest is None else (now - oldest).total_seconds()
    relay_state = "ok" if oldest_s is None or oldest_s < RELAY_STUCK_S else "degraded"
    behind = max(0, (newest or 0) - (folded or 0))
    projecting, projector = projector_status(services)
    return [
        PartStatus(
            name="event relay",
            state=relay_state,
            detail={
                "unpublished": int(unpublished),
                "oldest_unpublished_s": None if oldest_s is None else round(oldest_s, 1),
            },
        ),
        PartStatus(
            name="figures",
            state="ok" if behind < 1000 and projecting else "degraded",
            detail={"events_not_yet_counted": behind, **projector},
        ),
    ]


def _voice(services: Services, now: datetime) -> PartStatus:
    status = read_status(status_path(services.settings.data_dir), now=now)
    detail: dict[str, Any] = {
        "components": status.components,
        "restarts": status.restarts,
        "live_calls": status.live_calls,
        "sip": status.sip,
        "updated_s_ago": status.age_s,
    }
    return PartStatus(name="voice", state=status.state, detail=detail)


async def system_status(request: AnyRequest) -> SystemStatus:
    services = services_of(request)
    principal = require_principal(request)
    now = datetime.now(UTC)
    parts = [await _database(services)]
    parts.append(
        PartStatus(name="bus", state="ok" if await services.bus.ping() else "down", detail={})
    )
    if parts[0].state == "ok":
        parts += await _pipeline(services, principal.tenant_id, now)
    parts.append(_voice(services, now))
    # Voice is optional: a center without the worker is not degraded by its absence.
    essential = [p for p in parts if p.name != "voice" or p.state != "not running"]
    state = "ok" if all(p.state == "ok" for p in essential) else "degraded"
    return SystemStatus(state=state, version=__version__, checked_at=now, parts=parts)


@get("/api/v1/status", opt={"authz": ("read", "system")}, tags=["system"])
async def status_api(request: AnyRequest) -> SystemStatus:
    """Each part of the installation and its state, for administrators."""
    return await system_status(request)


@get("/status", opt={"authz": ("read", "system")}, include_in_schema=False)
async def status_page(request: AnyRequest) -> Template:
    services = services_of(request)
    principal = require_principal(request)
    return Template(
        "status.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(services.db, principal.tenant_id),
            "csrf": csrf_for(request),
            "status": await system_status(request),
            "labels": LABELS,
        },
    )


ROUTES = [status_api, status_page]
