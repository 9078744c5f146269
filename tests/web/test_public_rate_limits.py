"""Every public route is rate-limited: hammered from one address it answers 429 with
``Retry-After`` (issue 8, capability 6), and abuse costs no database work.

The routes come from the app itself, so a new public route is covered the day it is added:
either it declares ``opt["rate_limit"]`` (counted by the app-wide guard before the body is
read or the CSRF token checked) or it is listed in ``LIMITED_IN_HANDLER`` because its
handler counts first thing, before it reads anything.

The embedded profile only: the Redis limiter's counters are shared by every test server
on the machine (same prefix, same address), so flooding it here would throttle tests
running beside this one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.handlers.base import BaseRouteHandler

from testkit import LiveServer, live_server, make_settings
from tsunagi.web.auth import PUBLIC, PUBLIC_API
from tsunagi.web.docs import reference_app

PER_MINUTE = 3
# Handlers that count against their own limit before reading anything (the key includes
# what they act on, e.g. the SMS number, so one abused number does not throttle others).
LIMITED_IN_HANDLER = {
    ("POST", "/hooks/sms/{account_id:uuid}/inbound"),
    ("POST", "/hooks/sms/{account_id:uuid}/status"),
    # Connection attempts count before the socket is accepted (then per message).
    ("WEBSOCKET", "/ws/widget/{widget_id:uuid}/chat"),
}
SAMPLE_PARAMS = {
    "slug": "no-such-center",
    "reference": "ABCDEFGH",
    "file_path": "app.css",
    "path": "openapi.json",
}
FIXED_ID = str(uuid.uuid4())


@cache
def public_handlers() -> list[tuple[str, str, BaseRouteHandler]]:
    """(method, path, handler) of every public route (HEAD and OPTIONS aside; a
    WebSocket route's method is ``WEBSOCKET``)."""
    found = []
    for route in reference_app().routes:
        single = getattr(route, "route_handler", None)  # WebSocket routes have one
        for handler in [single] if single is not None else getattr(route, "route_handlers", []):
            if handler.opt.get("authz") not in (PUBLIC, PUBLIC_API):
                continue
            for method in sorted(getattr(handler, "http_methods", None) or {"WEBSOCKET"}):
                if method not in ("HEAD", "OPTIONS"):
                    found.append((method, route.path, handler))
    return found


def concrete(path: str) -> str:
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name, _, kind = part[1:-1].partition(":")
            parts.append(FIXED_ID if kind == "uuid" else SAMPLE_PARAMS.get(name, "x"))
        else:
            parts.append(part)
    return "/".join(parts)


def _share(handler: BaseRouteHandler) -> float:
    spec = handler.opt.get("rate_limit")
    return float(spec[1]) if isinstance(spec, tuple) else 1.0


def test_the_public_routes_are_found() -> None:
    paths = {(method, path) for method, path, _ in public_handlers()}
    assert ("GET", "/book/{slug:str}") in paths
    assert ("POST", "/login") in paths
    assert ("GET", "/api/health") in paths


@pytest.mark.parametrize(
    ("method", "path"),
    sorted((m, p) for m, p, _ in public_handlers()),  # one order on every xdist worker
    ids=lambda value: str(value),
)
def test_every_public_route_declares_a_limit(method: str, path: str) -> None:
    handler = next(h for m, p, h in public_handlers() if (m, p) == (method, path))
    assert handler.opt.get("rate_limit") is not None or (method, path) in LIMITED_IN_HANDLER, (
        f"{method} {path} is public but not rate-limited: give it opt['rate_limit']"
    )


@pytest.fixture(params=["sqlite"])
def profile(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def limited_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(database_url, tmp_path, public_requests_per_minute=PER_MINUTE)
    with live_server(settings) as running:
        yield running


def hammer(client: httpx.Client, method: str, path: str, most: int) -> httpx.Response:
    response = client.request(method, path)
    for _ in range(most):
        if response.status_code == 429:
            break
        response = client.request(method, path)
    return response


def test_each_public_route_answers_429_with_retry_after(limited_server: LiveServer) -> None:
    answers: dict[str, Any] = {}
    with httpx.Client(base_url=limited_server.url, timeout=30) as client:
        for method, path, handler in public_handlers():
            if method == "WEBSOCKET":
                continue  # refused handshakes carry no status to tell 429 apart
            most = int(PER_MINUTE * max(_share(handler), 1)) + 3
            response = hammer(client, method, concrete(path), most)
            answers[f"{method} {path}"] = (
                response.status_code,
                response.headers.get("retry-after"),
            )
    refused = {
        route: answer
        for route, answer in answers.items()
        if answer[0] != 429 or not (answer[1] or "").isdigit() or int(answer[1]) < 1
    }
    assert not refused, f"not limited (status, Retry-After): {refused}"


def test_a_malformed_flood_is_cut_off_before_the_form_is_read(
    limited_server: LiveServer,
) -> None:
    """Posts without a token or with unknown fields count too: the guard counts first."""
    with httpx.Client(base_url=limited_server.url, timeout=30) as client:
        statuses = [
            client.post("/book/no-such-center", data={"unknown": "x" * 100}).status_code
            for _ in range(PER_MINUTE + 2)
        ]
    assert statuses[:PER_MINUTE] == [403] * PER_MINUTE  # no CSRF token
    assert statuses[PER_MINUTE:] == [429, 429]
