"""Rate limits for public endpoints (chat widget, callback booking, provider webhooks).

Each family of endpoints is a *bucket*; each caller address gets ``public_requests_per_
minute`` requests per bucket per minute (in memory on the embedded profile, in Redis when
several processes serve). Over the limit the answer is 429 with ``Retry-After``: abuse
costs a counter increment, not a database transaction.

A route declares its bucket with ``opt={"rate_limit": "bucket"}`` (or ``("bucket",
share)``, where ``share`` scales the setting down for costlier calls, e.g. ``1 / 12`` of
120 = 10 chat starts a minute): the app-wide guard counts it *before* the body is read
or validated, so even malformed floods are cut off. Handlers may add finer limits with
:func:`limit_public` (per conversation, per phone number…).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException

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
    client = connection.scope.get("client")
    who = key or (client[0] if client else None) or "unknown"
    wait_s = await services.public_limiter.hit(f"{bucket}:{who}", limit=per_minute)
    if wait_s is not None:
        raise TooManyRequestsException(
            f"too many requests; try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )


async def limit_route(connection: ASGIConnection[Any, Any, Any, Any], spec: Any) -> None:
    """Apply a route's ``rate_limit`` opt (see the module docstring)."""
    if isinstance(spec, str):
        await limit_public(connection, spec)
    else:
        bucket, share = spec
        base = services_of(connection).settings.public_requests_per_minute
        await limit_public(connection, bucket, per_minute=max(1, int(base * share)))
