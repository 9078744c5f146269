"""``/ws/routing/desk``: one agent's own stream — offers and changes of their contacts.

Protocol (server → client, JSON): first ``{"kind": "snapshot", "agent": {...}, "mine":
[...]}``, then ``{"kind": "event", "event": {...}}`` for each ``contact.*`` event of a
contact the agent holds or held last, and each ``agent.state_changed`` of the agent.
Events may repeat (drop those whose ``version`` is not newer) and, during a routing
leader takeover, be missed: a gap in the agent's ``version`` means reconnect for a new
snapshot. The stream subscribes before taking the snapshot, so nothing falls between.

Client → server: commands on the agent's own contacts (accept, reject, end, close), each
answered by a ``done`` or ``error`` frame; see :mod:`tsunagi.web.routing.desk_commands`.
Commands of one socket run one after another, in the order sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from tsunagi.actions.routing.engine import desk_channel
from tsunagi.actions.routing.floor import desk_snapshot
from tsunagi.aio import stop_tasks
from tsunagi.domain.permissions import Principal
from tsunagi.web.auth import client_ip, principal_now, require_principal
from tsunagi.web.routing.desk_commands import run_command
from tsunagi.web.services import Services, services_of

CLOSE_POLICY = 1008
CLOSE_REVOKED = 4001  # as /ws/events
# How often an open desk socket checks that its session or token is still valid.
REVALIDATE_S = 15.0


@websocket("/ws/routing/desk", opt={"authz": ("read", "desk")})
async def desk_socket(socket: WebSocket[Any, Any, Any]) -> None:
    principal = require_principal(socket)
    origin = socket.headers.get("origin")
    host = socket.headers.get("host")
    if origin is not None and host is not None and origin.split("://", 1)[-1] != host:
        await socket.close(code=CLOSE_POLICY, reason="cross-origin subscription refused")
        return
    services = services_of(socket)
    await socket.accept()
    channel = desk_channel(principal.tenant_id, principal.user_id)
    async with services.bus.subscribe(channel) as live:
        snapshot = await desk_snapshot(services.db, principal.tenant_id, principal.user_id)
        await socket.send_json({"kind": "snapshot", **snapshot})
        sending = asyncio.Lock()  # event frames and command answers share the socket
        watcher = asyncio.create_task(_serve_commands(socket, principal, services, sending))
        guard = asyncio.create_task(_until_revoked(socket, principal))
        try:
            await _forward(socket, live, watcher, guard, sending)
        finally:
            await stop_tasks([watcher, guard], grace_s=5)
        if guard.done() and not guard.cancelled() and guard.exception() is None:
            with contextlib.suppress(Exception):
                await socket.close(code=CLOSE_REVOKED, reason="session revoked")


async def _until_revoked(socket: WebSocket[Any, Any, Any], principal: Principal) -> None:
    """Return when the socket's session or token no longer names the same principal
    (signed out, revoked, expired, roles changed): the desk must reconnect."""
    while True:
        await asyncio.sleep(REVALIDATE_S)
        now = await principal_now(socket)
        if now is None or now.roles != principal.roles or now.user_id != principal.user_id:
            return


async def _forward(
    socket: WebSocket[Any, Any, Any],
    live: Any,
    watcher: asyncio.Task[None],
    guard: asyncio.Task[None],
    sending: asyncio.Lock,
) -> None:
    iterator = live.__aiter__()
    while not watcher.done() and not guard.done():
        next_message = asyncio.ensure_future(iterator.__anext__())
        done, _ = await asyncio.wait(
            {next_message, watcher, guard}, return_when=asyncio.FIRST_COMPLETED
        )
        if next_message not in done:
            next_message.cancel()
            return
        try:
            raw: bytes = next_message.result()
        except StopAsyncIteration:
            return
        try:
            async with sending:
                await socket.send_text(raw.decode())
        except WebSocketDisconnect:
            return


async def _serve_commands(
    socket: WebSocket[Any, Any, Any],
    principal: Principal,
    services: Services,
    sending: asyncio.Lock,
) -> None:
    """Run the agent's commands in order until the client disconnects."""
    ip = client_ip(socket)
    # uvicorn raises ClientDisconnected (an OSError) when an answer meets a closed socket.
    with contextlib.suppress(WebSocketDisconnect, OSError):
        while True:
            raw = await socket.receive_data(mode="text")
            answer = await run_command(services, principal, raw, ip)
            async with sending:
                await socket.send_json(answer)


ROUTES = [desk_socket]
