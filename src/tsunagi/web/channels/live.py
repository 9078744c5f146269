"""The live side of a conversation: one bus channel per conversation, two kinds of socket.

Both the visitor's widget and the communicator's desk hold a WebSocket on the same
conversation. A socket subscribes to the conversation's bus channel *before* reading the
snapshot from the database, so nothing falls between; messages are numbered (``seq``),
so a client drops repeats and, after a gap or a reconnect, asks for what it missed
(``{"type": "resume", "after": seq}``) — the database is the truth, the bus a shortcut.

Server → client frames: ``snapshot`` (conversation + messages), ``message``, ``typing``,
``read``, ``state``, ``error``. Client → server frames: ``message`` (``id`` is the
client's idempotency key), ``typing``, ``read``, ``resume``; visitors also ``human``
(ask for a person) and ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from litestar import Request, WebSocket
from litestar.exceptions import WebSocketDisconnect

from tsunagi.actions.chat import Finished
from tsunagi.actions.conversations import MessageView, message_wire
from tsunagi.domain.errors import InvalidInputError
from tsunagi.ports.bus import EventBus
from tsunagi.web.email.worker import WORKERS

Socket = WebSocket[Any, Any, Any]
MAX_FRAME = 16_384


def conversation_channel(tenant_id: UUID, conversation_id: UUID) -> str:
    return f"conv:{tenant_id}:{conversation_id}"


def frame(kind: str, **fields: Any) -> bytes:
    return json.dumps({"kind": kind, **fields}, ensure_ascii=False, default=str).encode()


async def publish_message(
    bus: EventBus,
    tenant_id: UUID,
    view: MessageView,
    *,
    author_name: str | None = None,
) -> None:
    """Tell both sides about a committed message (notes go to staff sockets only)."""
    wire = message_wire(view, author_name=author_name)
    await bus.publish(
        conversation_channel(tenant_id, view.conversation_id),
        frame("message", message=wire, staff_only=view.direction == "note"),
    )


async def publish(
    bus: EventBus, tenant_id: UUID, conversation_id: UUID, kind: str, **fields: Any
) -> None:
    await bus.publish(conversation_channel(tenant_id, conversation_id), frame(kind, **fields))


Handler = Callable[[dict[str, Any]], Awaitable[None]]
Filter = Callable[[dict[str, Any]], dict[str, Any] | None]


async def pump(
    socket: Socket,
    live: Any,
    on_frame: Handler,
    *,
    outgoing: Filter,
    on_error: Callable[[Exception], Awaitable[None]],
) -> None:
    """Forward bus frames to the socket (through ``outgoing``, which may hide or trim
    them) and client frames to ``on_frame`` until either side ends."""
    reader = asyncio.create_task(_read(socket, on_frame, on_error))
    iterator = live.__aiter__()
    try:
        while not reader.done():
            next_message = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait(
                {next_message, reader}, return_when=asyncio.FIRST_COMPLETED
            )
            if next_message not in done:
                next_message.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_message
                return
            try:
                raw: bytes = next_message.result()
            except StopAsyncIteration:
                return
            shown = outgoing(json.loads(raw))
            if shown is None:
                continue
            try:
                await socket.send_text(json.dumps(shown, ensure_ascii=False))
            except (WebSocketDisconnect, RuntimeError):
                return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _read(
    socket: Socket, on_frame: Handler, on_error: Callable[[Exception], Awaitable[None]]
) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            raw = await socket.receive_data(mode="text")
            if len(raw) > MAX_FRAME:
                await on_error(ValueError(f"frame too large (at most {MAX_FRAME} bytes)"))
                continue
            try:
                data = json.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError("a frame is a JSON object")
            except ValueError as exc:
                await on_error(exc)
                continue
            try:
                await on_frame(data)
            except Exception as exc:  # reported to the client, socket lives on
                await on_error(exc)


def staff_view(message: dict[str, Any]) -> dict[str, Any]:
    return message


def visitor_view(message: dict[str, Any]) -> dict[str, Any] | None:
    """What a visitor may see of a frame: no internal notes, no staff ids."""
    if message.get("kind") == "message":
        if message.get("staff_only"):
            return None
        shown = dict(message["message"])
        shown.pop("author_user_id", None)
        return {"kind": "message", "message": shown}
    return message


def send_transcript_now(services: Any, tenant_id: UUID, finished: Finished) -> None:
    """Hand a just-queued transcript mail to this process's mail worker (else the worker's
    send loop picks it up within seconds)."""
    if finished.transcript_id is None:
        return
    worker = WORKERS.get(id(services))
    if worker is not None:
        worker.send_soon(tenant_id, finished.transcript_id)


async def read_file_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """An uploaded file (the request body), refused as soon as it passes ``limit`` bytes:
    a large upload is never held in memory whole."""
    declared = request.headers.get("content-length")
    too_big = InvalidInputError(f"the file is larger than {limit:,} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)
