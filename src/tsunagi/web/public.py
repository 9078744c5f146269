"""Rate limits for public endpoints (chat widget, callback booking, provider webhooks).

Each family of endpoints is a *bucket*; each caller address gets ``public_requests_per_
minute`` requests per bucket per minute (in memory on the embedded profile, in Redis when
several processes serve). Over the limit the answer is 429 with ``Retry-After``: abuse
costs a counter increment, not a database transaction.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException

from tsunagi.web.auth import client_ip
from tsunagi.web.services import services_of


async def limit_public(
    connection: ASGIConnection[Any, Any, Any, Any],
    bucket: str,
    *,
    per_minute: int | None = None,
    key: str | None = None,
) -> None:
    """Count one request of ``bucket`` from the caller (or ``key``); 429 when over."""
    services = services_of(connection)
    who = key or client_ip(connection) or "unknown"
    wait_s = await services.public_limiter.hit(f"{bucket}:{who}", limit=per_minute)
    if wait_s is not None:
        raise TooManyRequestsException(
            f"too many requests; try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
