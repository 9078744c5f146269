"""``/ws/events``: a tenant's event stream for authorised subscribers.

Protocol (server → client, JSON text frames):

* ``{"kind": "snapshot", "last_event_id": N, "data": {...}}`` when the client gave no
  ``last_event_id``: the state now; events after ``N`` follow.
* ``{"kind": "event", "seq": N, "event_id": "…", "event": {"type": "noun.past_verb", …}}``
  for each event the subscriber may read, in stream order, each number at most once.
* ``{"kind": "resync"}`` then close when the client is too far behind; it reloads.

A subscriber that reads more slowly than events come (``MAX_BACKLOG`` frames waiting on
the bus) is closed with 1013: it reconnects with ``?last_event_id`` and the outbox replays
what it missed.

With ``?last_event_id=N`` the server replays every event after ``N`` from the outbox
(the truth), then continues live; a gap in the live stream is filled from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromQuery
from sqlalchemy import func, select

from tsunagi.adapters.relay import tenant_channel
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.domain.events import event_classes
from tsunagi.domain.permissions import Action, Principal, Resource, is_allowed
from tsunagi.ports.bus import SubscriberOverflowError
from tsunagi.web.auth import require_principal
from tsunagi.web.services import Services, services_of

REPLAY_PAGE = 1000
REPLAY_LIMIT = 50_000
CLOSE_REVOKED = 4001
CLOSE_POLICY = 1008
CLOSE_BEHIND = 1013  # "try again later": the subscriber fell behind its stream

SnapshotProvider = Callable[[Services, Principal], Awaitable[dict[str, Any]]]
# Subsystems register what a fresh subscriber needs to see (routing adds queue state, ...).
SNAPSHOT_PROVIDERS: dict[str, SnapshotProvider] = {}


class _Envelope(msgspec.Struct):
    seq: int
    event_id: str
    event: msgspec.Raw


class _EventHead(msgspec.Struct):
    type: str
    user_id: str | None = None


_REVOKING = frozenset({"user.roles_changed", "user.password_changed", "user.deactivated"})


class _Stream:
    def __init__(
        self, socket: WebSocket[Any, Any, Any], services: Services, principal: Principal
    ) -> None:
        self.socket = socket
        self.services = services
        self.principal = principal
        self.last = 0
        self.revoked = False

    async def send_envelope(self, seq: int, raw: bytes) -> None:
        if seq <= self.last:
            return
        self.last = seq
        envelope = msgspec.json.decode(raw, type=_Envelope)
        head = msgspec.json.decode(envelope.event, type=_EventHead)
        if head.type in _REVOKING and head.user_id == str(self.principal.user_id):
            self.revoked = True
        if self._may_read(head.type):
            await self.socket.send_text('{"kind":"event",' + raw.decode()[1:])

    def _may_read(self, event_type: str) -> bool:
        cls = event_classes().get(event_type)
        if cls is None:
            return False
        return is_allowed(
            self.principal, Action.READ, Resource(cls.resource, self.principal.tenant_id)
        )

    async def replay(self) -> bool:
        """Send every stored event after ``last``; False when too many to replay."""
        tenant_id = self.principal.tenant_id
        sent = 0
        while True:
            async with self.services.db.scoped(tenant_id, readonly=True) as session:
                rows = (
                    await session.execute(
                        select(OutboxEvent.seq, OutboxEvent.event_id, OutboxEvent.payload)
                        .where(OutboxEvent.seq > self.last)
                        .order_by(OutboxEvent.seq)
                        .limit(REPLAY_PAGE)
                    )
                ).all()
            for seq, event_id, payload in rows:
                if seq is None:  # unreachable: the query asks for seq > last
                    continue
                await self.send_envelope(seq, _wire(seq, event_id, payload))
            sent += len(rows)
            if len(rows) < REPLAY_PAGE:
                return True
            if sent >= REPLAY_LIMIT:
                return False


def _wire(seq: int, event_id: UUID, payload: str) -> bytes:
    return f'{{"seq":{seq},"event_id":"{event_id}","event":{payload}}}'.encode()


async def _snapshot(stream: _Stream) -> None:
    tenant_id = stream.principal.tenant_id
    async with stream.services.db.scoped(tenant_id, readonly=True) as session:
        last = await session.scalar(select(func.max(OutboxEvent.seq))) or 0
    data = {
        name: await provider(stream.services, stream.principal)
        for name, provider in SNAPSHOT_PROVIDERS.items()
    }
    stream.last = last
    await stream.socket.send_json({"kind": "snapshot", "last_event_id": last, "data": data})


@websocket("/ws/events", opt={"authz": ("subscribe", "event")})
async def events_socket(
    socket: WebSocket[Any, Any, Any], last_event_id: FromQuery[int | None] = None
) -> None:
    principal = require_principal(socket)
    origin = socket.headers.get("origin")
    host = socket.headers.get("host")
    if origin is not None and host is not None and origin.split("://", 1)[-1] != host:
        await socket.close(code=CLOSE_POLICY, reason="cross-origin subscription refused")
        return
    services = services_of(socket)
    await socket.accept()
    stream = _Stream(socket, services, principal)
    async with services.bus.subscribe(tenant_channel(principal.tenant_id)) as live:
        if last_event_id is None:
            await _snapshot(stream)
        else:
            stream.last = max(0, last_event_id)
            if not await stream.replay():
                await _resync(socket)
                return
        watcher = asyncio.create_task(_wait_for_disconnect(socket))
        try:
            await _forward(stream, live, watcher)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher


async def _forward(stream: _Stream, live: Any, watcher: asyncio.Task[None]) -> None:
    iterator = live.__aiter__()
    while not watcher.done():
        next_message = asyncio.ensure_future(iterator.__anext__())
        done, _ = await asyncio.wait({next_message, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if next_message not in done:
            next_message.cancel()
            return
        try:
            raw: bytes = next_message.result()
        except StopAsyncIteration:
            return
        except SubscriberOverflowError:
            with contextlib.suppress(WebSocketDisconnect, OSError):
                await stream.socket.close(code=CLOSE_BEHIND, reason="fell behind; reconnect")
            return
        seq = msgspec.json.decode(raw, type=_Envelope).seq
        if seq > stream.last + 1 and not await stream.replay():
            await _resync(stream.socket)
            return
        try:
            await stream.send_envelope(seq, raw)
        except WebSocketDisconnect:
            return
        if stream.revoked:
            await stream.socket.close(code=CLOSE_REVOKED, reason="session revoked")
            return


async def _resync(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.send_json({"kind": "resync"})
    await socket.close()


async def _wait_for_disconnect(socket: WebSocket[Any, Any, Any]) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")


ROUTES = [events_socket]
