"""Health: database, bus and version, for load balancers and the status page."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Response
from sqlalchemy import text

from tsunagi import __version__
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import PUBLIC
from tsunagi.web.services import services_of


class Health(Output):
    status: str
    database: str
    bus: str
    version: str


@get(
    "/api/health",
    opt={"authz": PUBLIC, "rate_limit": ("health", 5)},  # probes poll often
    exclude_from_auth=True,
    tags=["system"],
)
async def health(request: Request[Any, Any, Any]) -> Response[Health]:
    services = services_of(request)
    try:
        async with services.db.system(readonly=True) as session:
            await session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        database = f"down: {type(exc).__name__}"
    bus = "ok" if await services.bus.ping() else "down"
    ok = database == "ok" and bus == "ok"
    body = Health(
        status="ok" if ok else "degraded", database=database, bus=bus, version=__version__
    )
    return Response(body, status_code=200 if ok else 503)
