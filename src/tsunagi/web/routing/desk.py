"""``/ws/routing/desk``: one agent's own stream — offers and changes of their contacts.

Protocol (server → client, JSON): first ``{"kind": "snapshot", "agent": {...}, "mine":
[...]}``, then ``{"kind": "event", "event": {...}}`` for each ``contact.*`` event of a
contact the agent holds or held last, and each ``agent.state_changed`` of the agent.
Events may repeat (drop those whose ``version`` is not newer) and, during a routing
leader takeover, be missed: a gap in the agent's ``version`` means reconnect for a new
snapshot. The stream subscribes before taking the snapshot, so nothing falls between.
A desk that reads too slowly (``MAX_BACKLOG`` frames waiting) is closed with code 1013:
reconnect.

Client → server: commands on the agent's own contacts (accept, reject, end, close), each
answered by a ``done`` or ``error`` frame; see :mod:`tsunagi.web.routing.desk_commands`.
Commands of one socket run one after another, in the order sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from tsunagi.actions.accounts import resolve_many
from tsunagi.actions.routing.engine import desk_channel
from tsunagi.actions.routing.floor import desk_snapshot
from tsunagi.aio import stop_tasks
from tsunagi.domain.permissions import Principal
from tsunagi.ports.bus import SubscriberOverflowError
from tsunagi.web.auth import client_ip, credential_of, require_principal
from tsunagi.web.events import CLOSE_BEHIND, CLOSE_POLICY, CLOSE_REVOKED
from tsunagi.web.routing.desk_commands import run_command
from tsunagi.web.services import Services, services_of

log = logging.getLogger(__name__)

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
        guard = asyncio.create_task(_until_revoked(socket, principal, services))
        forwarder = asyncio.create_task(_forward(socket, live, sending))
        try:
            # Until the client leaves, the credential is revoked or the stream ends.
            await asyncio.wait({watcher, guard, forwarder}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await stop_tasks([forwarder, watcher, guard], grace_s=5)
        if guard.done() and not guard.cancelled() and guard.exception() is None:
            with contextlib.suppress(Exception):
                await socket.close(code=CLOSE_REVOKED, reason="session revoked")


async def _until_revoked(
    socket: WebSocket[Any, Any, Any], principal: Principal, services: Services
) -> None:
    """Return when the socket's session or token no longer names the same principal
    (signed out, revoked, expired, roles changed): the desk must reconnect."""
    credential = credential_of(socket)
    if credential is None:
        return
    revoked = asyncio.Event()
    watch = _watch_of(socket, services)
    key = watch.add(credential, principal, revoked)
    try:
        await revoked.wait()
    finally:
        watch.remove(key)


class CredentialWatch:
    """The credential re-checks of one app's open desk sockets: every
    :data:`REVALIDATE_S`, one look-up for all of them (:func:`accounts.resolve_many`: one
    statement per kind of credential and 500 sockets) instead of one per socket. A socket
    whose credential no longer names its principal is told through its event. The task
    runs while sockets are open."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._open: dict[int, tuple[tuple[str, str], Principal, asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._numbers = itertools.count()

    def add(self, credential: tuple[str, str], principal: Principal, revoked: asyncio.Event) -> int:
        key = next(self._numbers)
        self._open[key] = (credential, principal, revoked)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="desk-credential-watch")
        return key

    def remove(self, key: int) -> None:
        self._open.pop(key, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        checked = loop.time()
        while self._open:
            # Short steps, so that the last socket closing (and a period changed by a test)
            # are noticed; the look-up itself runs once per period.
            await asyncio.sleep(max(0.0, min(1.0, checked + REVALIDATE_S - loop.time())))
            if loop.time() - checked < REVALIDATE_S:
                continue
            checked = loop.time()
            try:
                await self.check()
            except Exception:
                log.warning("desk credential re-check failed; trying again next period")

    async def check(self) -> None:
        """Look up every open socket's credential once and tell the revoked ones."""
        open_now = list(self._open.values())
        tokens = {value for (kind, value), _p, _e in open_now if kind == "token"}
        sessions = {value for (kind, value), _p, _e in open_now if kind == "session"}
        found = await resolve_many(self._services.db, tokens=tokens, sessions=sessions)
        for credential, principal, revoked in open_now:
            now = found.get(credential)
            if now is None or now.roles != principal.roles or now.user_id != principal.user_id:
                revoked.set()


def _watch_of(socket: WebSocket[Any, Any, Any], services: Services) -> CredentialWatch:
    """The app's one watch, kept in its state (it lives and goes with the app)."""
    state = socket.app.state
    watch = state.get("desk_credential_watch")
    if not isinstance(watch, CredentialWatch):
        watch = state["desk_credential_watch"] = CredentialWatch(services)
    return watch


async def _forward(socket: WebSocket[Any, Any, Any], live: Any, sending: asyncio.Lock) -> None:
    """Send the stream's messages as they come, until it ends or the socket is gone (one
    task for the socket's life: no task or wait set up per frame). A desk that fell too far
    behind is closed, to reconnect for a new snapshot."""
    try:
        async for raw in live:
            async with sending:
                await socket.send_text(raw.decode())
    except SubscriberOverflowError:
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await socket.close(code=CLOSE_BEHIND, reason="fell behind; reconnect")
    except (WebSocketDisconnect, OSError):
        return  # the client is gone


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
