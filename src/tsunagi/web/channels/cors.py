"""Cross-origin access for the chat widget (``/widget/{id}/…`` only).

The widget runs on the client's own site, so its calls are cross-origin. Each widget
lists the origins allowed to embed it; this middleware answers preflights for those
origins and adds ``Access-Control-Allow-Origin`` to their responses. No credentials are
ever allowed cross-origin (the widget authenticates with its own token), so a page on
another site can never act with a staff member's session.
"""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import UUID

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tsunagi.actions.chat import WidgetRef, origin_allowed, widget_ref
from tsunagi.domain.errors import NotFoundError
from tsunagi.web.services import Services

_PATH = re.compile(r"^/widget/([0-9a-fA-F-]{36})/")
CACHE_S = 30.0
ALLOWED_HEADERS = "content-type, x-visitor-token"


class WidgetRefs:
    """Widget ids → tenant and origins, cached briefly (a widget's settings change rarely)."""

    def __init__(self) -> None:
        self._cache: dict[UUID, tuple[float, WidgetRef | None]] = {}

    async def get(self, services: Services, widget_id: UUID) -> WidgetRef | None:
        now = time.monotonic()
        hit = self._cache.get(widget_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            ref: WidgetRef | None = await widget_ref(services.db, widget_id)
        except NotFoundError:
            ref = None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[widget_id] = (now + CACHE_S, ref)
        return ref

    def forget(self, widget_id: UUID) -> None:
        self._cache.pop(widget_id, None)


REFS = WidgetRefs()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def own_origin(scope: Scope) -> str | None:
    host = _header(scope, b"host")
    if host is None:
        return None
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return f"{scheme}://{host}"


class WidgetCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_http = str(scope["type"]) == "http"
        match = _PATH.match(scope.get("path", "")) if is_http else None
        origin = _header(scope, b"origin") if match else None
        if match is None or origin is None or origin == own_origin(scope):
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        try:
            ref = await REFS.get(services, UUID(match.group(1)))
        except ValueError:
            ref = None
        allowed = ref is not None and origin_allowed(ref, origin, own_origin(scope))
        if scope.get("method") == "OPTIONS":
            await _preflight(send, origin if allowed else None)
            return
        if not allowed:
            await self.app(scope, receive, send)  # the browser hides the answer
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
                headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_cors)


async def _preflight(send: Send, origin: str | None) -> None:
    headers = [(b"vary", b"Origin")]
    if origin is not None:
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"GET, POST"),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", b"600"),
        ]
    start: Any = {"type": "http.response.start", "status": 204 if origin else 403}
    start["headers"] = headers
    await send(start)
    end: Any = {"type": "http.response.body", "body": b""}
    await send(end)
