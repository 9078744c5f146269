"""The chat widget's public endpoints: config, start, offline message, upload, socket.

All are ``PUBLIC_API`` (called from the client's site without cookies) and rate-limited
per address. After the pre-chat form, the visitor proves who they are with the token the
start call returned: in the socket's first frame (``{"type": "auth", "token": …}``) and in
``X-Visitor-Token`` for uploads — never in a URL, which would end up in logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Request, WebSocket, get, post, websocket
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta

from tsunagi.actions import chat
from tsunagi.actions.bot import BotTurn, do_bot_turn, do_request_human
from tsunagi.actions.conversations import (
    NewAttachment,
    NewMessage,
    conversation_by_token,
    conversation_view,
    do_add_message,
    do_mark_read,
    list_messages,
    message_wire,
)
from tsunagi.channels.text import check_attachment, clean_filename, clean_text
from tsunagi.domain.errors import NotFoundError, TsunagiError
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import PUBLIC_API
from tsunagi.web.channels import live
from tsunagi.web.channels.cors import REFS, own_origin
from tsunagi.web.channels.live import send_transcript_now
from tsunagi.web.public import limit_public, limit_route
from tsunagi.web.services import Services, services_of

log = logging.getLogger(__name__)
OPEN = {"authz": PUBLIC_API, "rate_limit": "widget"}
STARTING = {"authz": PUBLIC_API, "rate_limit": ("widget-start", 1 / 12)}
UPLOADING = {"authz": PUBLIC_API, "rate_limit": ("widget-upload", 1 / 6)}
TAGS = ["chat widget"]
CLOSE_POLICY = 1008
AUTH_TIMEOUT_S = 10.0
# The address is checked by the actions, whose message a visitor can read.
Email = Annotated[str, Meta(max_length=254)]


class StartIn(Input):
    topic: Annotated[str, Meta(min_length=1, max_length=63)]
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    lang: Literal["ja", "en"] = "ja"
    member_no: Annotated[str, Meta(max_length=32)] | None = None
    email: Email | None = None
    transcript: bool = False
    client_id: Annotated[str, Meta(min_length=8, max_length=64)] | None = None
    # Signed by the client's site for a signed-in visitor (docs/operations.md, web chat).
    identity: Annotated[str, Meta(max_length=2048)] | None = None


class StartOut(Output):
    conversation_id: UUID
    token: str
    state: str
    contact_state: str


class OfflineIn(Input):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    email: Email
    subject: Annotated[str, Meta(min_length=1, max_length=200)]
    body: Annotated[str, Meta(min_length=1, max_length=8000)]
    lang: Literal["ja", "en"] = "ja"
    client_id: Annotated[str, Meta(min_length=8, max_length=64)] | None = None


class OfflineOut(Output):
    received: bool


async def _ref(
    request: Request[Any, Any, Any] | WebSocket[Any, Any, Any], widget_id: UUID
) -> chat.WidgetRef:
    ref = await REFS.get(services_of(request), widget_id)
    if ref is None or not ref.enabled:
        raise NotFoundException("widget not found")
    origin = request.headers.get("origin")
    if not chat.origin_allowed(ref, origin, own_origin(request.scope)):
        raise PermissionDeniedException("this site may not use the widget")
    return ref


@get("/widget/{widget_id:uuid}/config", opt=OPEN, tags=TAGS)
async def widget_config(
    request: Request[Any, Any, Any], widget_id: FromPath[UUID]
) -> dict[str, Any]:
    """Texts, colour and topics of the widget, with whether each topic is open now."""
    ref = await _ref(request, widget_id)
    return await chat.public_config(services_of(request).db, ref)


@post("/widget/{widget_id:uuid}/chats", opt=STARTING, tags=TAGS, status_code=201)
async def start_chat(
    request: Request[Any, Any, Any], widget_id: FromPath[UUID], data: JSONBody[StartIn]
) -> StartOut:
    """The pre-chat form: starts a chat contact and returns the visitor's token."""
    ref = await _ref(request, widget_id)
    services = services_of(request)
    started = await chat.do_start_visitor_chat(
        services.db,
        services.keyring,
        ref,
        chat.VisitorStart(
            topic=data.topic,
            name=data.name,
            lang=data.lang,
            member_no=data.member_no,
            email=data.email,
            transcript=data.transcript,
            client_id=data.client_id,
            identity=data.identity,
        ),
    )
    return StartOut(
        conversation_id=started.started.conversation_id,
        token=started.token,
        state=started.started.state,
        contact_state=started.started.contact_state,
    )


@post("/widget/{widget_id:uuid}/offline", opt=STARTING, tags=TAGS, status_code=201)
async def leave_offline_message(
    request: Request[Any, Any, Any], widget_id: FromPath[UUID], data: JSONBody[OfflineIn]
) -> OfflineOut:
    """Outside hours: a message that becomes an email contact, answered by email."""
    ref = await _ref(request, widget_id)
    services = services_of(request)
    await chat.do_leave_offline_message(
        services.db,
        services.keyring,
        ref,
        chat.OfflineMessage(
            name=data.name,
            email=data.email,
            subject=data.subject,
            body=data.body,
            lang=data.lang,
            client_id=data.client_id,
        ),
    )
    return OfflineOut(received=True)


@post(
    "/widget/{widget_id:uuid}/chats/{conversation_id:uuid}/attachments",
    opt=UPLOADING,
    tags=TAGS,
    status_code=201,
    request_max_body_size=None,
)
async def upload_attachment(
    request: Request[Any, Any, Any],
    widget_id: FromPath[UUID],
    conversation_id: FromPath[UUID],
    name: Annotated[str, QueryParameter(min_length=1, max_length=255)],
) -> dict[str, Any]:
    """A file from the visitor: the body is the file itself (its Content-Type declared),
    checked to be what its name and type claim; shown to the communicator as a message."""
    ref = await _ref(request, widget_id)
    services = services_of(request)
    await _visitor_conversation(
        services, ref, request.headers.get("x-visitor-token"), conversation_id
    )
    limit = services.settings.chat_attachment_max_bytes
    content = await live.read_file_body(request, limit)
    filename = clean_filename(name)
    kind = check_attachment(filename, request.headers.get("content-type"), content, max_bytes=limit)
    view = await do_add_message(
        services.db,
        services.keyring,
        tenant_id=ref.tenant_id,
        conversation_id=conversation_id,
        new=NewMessage(
            "in", "customer", None, attachments=(NewAttachment(filename, kind.media_type, content),)
        ),
        actor="visitor",
    )
    await live.publish_message(services.bus, ref.tenant_id, view)
    return message_wire(view)


async def _visitor_conversation(
    services: Services, ref: chat.WidgetRef, token: str | None, conversation_id: UUID | None = None
) -> UUID:
    if not token:
        raise NotFoundError("conversation not found")
    found = await conversation_by_token(services.db, tenant_id=ref.tenant_id, token=token)
    if conversation_id is not None and found != conversation_id:
        raise NotFoundError("conversation not found")
    return found


@websocket("/ws/widget/{widget_id:uuid}/chat", opt={"authz": PUBLIC_API})
async def visitor_socket(socket: WebSocket[Any, Any, Any], widget_id: FromPath[UUID]) -> None:
    """The visitor's live chat; the first frame must be ``{"type":"auth","token":…}``."""
    services = services_of(socket)
    try:
        await limit_route(socket, ("widget-socket", 1 / 4))
        ref = await _ref(socket, widget_id)
    except Exception as exc:  # any refusal closes the socket with its reason
        await socket.close(code=CLOSE_POLICY, reason=str(getattr(exc, "detail", exc))[:120])
        return
    await socket.accept()
    try:
        first = await _first_frame(socket)
        conversation_id = await _visitor_conversation(services, ref, str(first.get("token", "")))
    except Exception:  # a wrong or missing token ends the socket
        await socket.close(code=CLOSE_POLICY, reason="not authorised")
        return
    session = VisitorSession(services, socket, ref.tenant_id, conversation_id)
    async with services.bus.subscribe(
        live.conversation_channel(ref.tenant_id, conversation_id)
    ) as stream:
        await session.send_snapshot(after=int(first.get("after", 0) or 0))
        await live.pump(
            socket, stream, session.on_frame, outgoing=live.visitor_view, on_error=session.on_error
        )


async def _first_frame(socket: WebSocket[Any, Any, Any]) -> dict[str, Any]:
    raw = await asyncio.wait_for(socket.receive_data(mode="text"), AUTH_TIMEOUT_S)
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("type") != "auth":
        raise ValueError("the first frame must be auth")
    return data


class VisitorSession:
    """What one visitor's socket may do in their own conversation."""

    def __init__(
        self,
        services: Services,
        socket: WebSocket[Any, Any, Any],
        tenant_id: UUID,
        conversation_id: UUID,
    ) -> None:
        self.services = services
        self.socket = socket
        self.tenant_id = tenant_id
        self.conversation_id = conversation_id
        self.with_bot = False
        self.lang = "ja"

    async def send_snapshot(self, *, after: int = 0) -> None:
        services = self.services
        view = await conversation_view(
            services.db,
            services.keyring,
            tenant_id=self.tenant_id,
            conversation_id=self.conversation_id,
        )
        messages = await list_messages(
            services.db,
            services.keyring,
            tenant_id=self.tenant_id,
            conversation_id=self.conversation_id,
            after_seq=after,
        )
        shown = []
        for message in messages:
            wire = message_wire(message)
            wire.pop("author_user_id", None)
            shown.append(wire)
        self.with_bot = view.state == "bot"
        self.lang = view.lang
        await self.socket.send_json(
            {
                "kind": "snapshot",
                "conversation": {
                    "id": str(view.id),
                    "state": view.state,
                    "agent_read_seq": view.agent_read_seq,
                    "lang": view.lang,
                },
                "messages": shown,
            }
        )

    async def _bot(self, turn: BotTurn) -> None:
        """Show what the bot said; after a hand-over, tell both sides the chat is open."""
        for message in turn.messages:
            await live.publish_message(self.services.bus, self.tenant_id, message)
        if turn.handed_over:
            self.with_bot = False
            await live.publish(
                self.services.bus, self.tenant_id, self.conversation_id, "state", state="open",
                contact_state=turn.contact_state,
            )  # fmt: skip

    async def on_error(self, exc: Exception) -> None:
        if isinstance(exc, TsunagiError | ValueError):
            detail = str(exc)
        else:
            log.exception("visitor frame failed", exc_info=exc)
            detail = "something went wrong; please try again"
        await self.socket.send_json({"kind": "error", "detail": detail})

    async def on_frame(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        services, tenant = self.services, self.tenant_id
        if kind == "message":
            base = self.services.settings.public_requests_per_minute
            await limit_public(
                self.socket, "widget-message", per_minute=base // 2, key=str(self.conversation_id)
            )
            text = clean_text(str(data.get("text", "")))
            client_id = data.get("id")
            view = await do_add_message(
                services.db,
                services.keyring,
                tenant_id=tenant,
                conversation_id=self.conversation_id,
                new=NewMessage(
                    "in",
                    "customer",
                    text,
                    external_id=f"chat:{self.conversation_id}:{client_id}"[:255]
                    if client_id
                    else None,
                ),
                actor="visitor",
            )
            if not view.created:
                await self.socket.send_json({"kind": "message", "message": message_wire(view)})
                return
            await live.publish_message(services.bus, tenant, view)
            if self.with_bot:
                turn = await do_bot_turn(
                    services.db, services.keyring, tenant_id=tenant,
                    conversation_id=self.conversation_id, text=text, lang=self.lang,
                )  # fmt: skip
                await self._bot(turn)
        elif kind == "typing":
            await live.publish(
                services.bus,
                tenant,
                self.conversation_id,
                "typing",
                side="visitor",
                on=bool(data.get("on")),
            )
        elif kind == "read":
            seq = await do_mark_read(
                services.db, tenant_id=tenant, conversation_id=self.conversation_id, side="visitor",
                seq=int(data.get("seq", 0)),
            )  # fmt: skip
            await live.publish(
                services.bus, tenant, self.conversation_id, "read", side="visitor", seq=seq
            )
        elif kind == "resume":
            await self.send_snapshot(after=int(data.get("after", 0)))
        elif kind == "human":
            await self._bot(await do_request_human(
                services.db, services.keyring, tenant_id=tenant,
                conversation_id=self.conversation_id, lang=self.lang,
            ))  # fmt: skip
        elif kind == "close":
            finished = await chat.do_finish_chat(
                services.db, services.keyring, tenant_id=tenant,
                conversation_id=self.conversation_id, by="customer", actor="visitor",
            )  # fmt: skip
            send_transcript_now(services, tenant, finished)
            if finished.closed:
                await live.publish(
                    services.bus, tenant, self.conversation_id, "state", state="closed",
                    by="customer",
                )  # fmt: skip
        else:
            raise ValueError(f"unknown frame type {kind!r}")


ROUTES = [widget_config, start_chat, leave_offline_message, upload_attachment, visitor_socket]
