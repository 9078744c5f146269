"""The staff side of conversations: read, answer, attach, close, follow live; widgets.

Every route checks the ``conversation`` grant and then :func:`check_staff_access` (a
communicator only sees conversations of contacts they hold or held last). Text is
returned as text: the desk shows it with ``textContent``, never as HTML. Attachments are
served as downloads that cannot run (``nosniff``, sandboxing CSP, ``attachment``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

import msgspec
from litestar import Request, Response, WebSocket, get, post, put, websocket
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta
from sqlalchemy import select

from tsunagi.actions import chat
from tsunagi.actions.conversations import (
    ConversationView,
    NewAttachment,
    NewMessage,
    attachment_content,
    check_staff_access,
    conversation_for_contact,
    conversation_view,
    do_add_message,
    do_mark_read,
    list_messages,
    message_wire,
)
from tsunagi.actions.conversations import (
    customer_transcript as transcript_of_customer,
)
from tsunagi.actions.routing.offers import do_end_contact
from tsunagi.adapters.relay import tenant_channel
from tsunagi.adapters.storage.models import User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.text import check_attachment, clean_filename, clean_text, is_inline
from tsunagi.domain.errors import ConflictError, TsunagiError
from tsunagi.domain.permissions import Principal
from tsunagi.routing.lifecycle import IN_CONVERSATION
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.channels import live
from tsunagi.web.channels.cors import REFS
from tsunagi.web.channels.live import send_transcript_now
from tsunagi.web.services import Services, services_of

log = logging.getLogger(__name__)
AnyRequest = Request[Any, Any, Any]
TAGS = ["conversations"]
READ = {"authz": ("read", "conversation")}
WRITE = {"authz": ("update", "conversation")}
CLOSE_POLICY = 1008


class ConversationOut(Output):
    id: UUID
    channel: str
    state: str
    contact_id: UUID | None
    queue_id: UUID
    customer_id: UUID | None
    lang: str
    topic: str | None
    subject: str | None
    visitor_name: str | None
    address: str | None
    visitor_read_seq: int
    agent_read_seq: int
    bot_outcome: str | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    transcript_requested: bool
    messages: list[dict[str, Any]]


class MessageIn(Input):
    text: Annotated[str, Meta(min_length=1, max_length=4000)]
    client_id: Annotated[str, Meta(min_length=8, max_length=64)] | None = None
    note: bool = False


def _out(view: ConversationView, messages: list[dict[str, Any]]) -> ConversationOut:
    fields = {name: getattr(view, name) for name in ConversationView.__slots__}
    return ConversationOut(**fields, messages=messages)


async def _names(services: Services, tenant_id: UUID, ids: set[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    async with services.db.scoped(tenant_id, readonly=True) as session:
        rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


async def _display_name(services: Services, principal: Principal) -> str:
    """How the communicator is named to the customer (API tokens carry no display name)."""
    if principal.display_name:
        return principal.display_name
    names = await _names(services, principal.tenant_id, {principal.user_id})
    return names.get(principal.user_id, "")


async def _full(services: Services, principal: Principal, conversation_id: UUID) -> ConversationOut:
    view = await conversation_view(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
    )
    messages = await list_messages(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        include_notes=True,
    )
    names = await _names(
        services, principal.tenant_id, {m.author_user_id for m in messages if m.author_user_id}
    )
    wires = [
        message_wire(m, author_name=names.get(m.author_user_id) if m.author_user_id else None)
        for m in messages
    ]
    return _out(view, wires)


@get("/api/v1/conversations/{conversation_id:uuid}", opt=READ, tags=TAGS)
async def get_conversation(request: AnyRequest, conversation_id: FromPath[UUID]) -> ConversationOut:
    """The conversation with every message (internal notes included)."""
    principal = require_principal(request)
    services = services_of(request)
    await check_staff_access(services.db, principal, conversation_id, write=False)
    return await _full(services, principal, conversation_id)


@get("/api/v1/contacts/{contact_id:uuid}/conversation", opt=READ, tags=TAGS)
async def contact_conversation(request: AnyRequest, contact_id: FromPath[UUID]) -> ConversationOut:
    """The conversation of a chat, email or SMS contact."""
    principal = require_principal(request)
    services = services_of(request)
    conversation_id = await conversation_for_contact(
        services.db, tenant_id=principal.tenant_id, contact_id=contact_id
    )
    await check_staff_access(services.db, principal, conversation_id, write=False)
    return await _full(services, principal, conversation_id)


async def _post(
    services: Services,
    principal: Principal,
    conversation_id: UUID,
    text: str,
    *,
    note: bool,
    client_id: str | None,
) -> dict[str, Any]:
    conversation = await check_staff_access(services.db, principal, conversation_id, write=True)
    if conversation.channel != "chat" and not note:
        raise ConflictError(
            f"a {conversation.channel} conversation is answered through its own channel"
        )
    view = await do_add_message(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        new=NewMessage(
            "note" if note else "out",
            "agent",
            clean_text(text),
            author_user_id=principal.user_id,
            status="sent",
            external_id=f"staff:{principal.user_id}:{client_id}" if client_id else None,
        ),
        actor=principal.actor,
    )
    name = await _display_name(services, principal)
    if view.created:
        await live.publish_message(services.bus, principal.tenant_id, view, author_name=name)
    return message_wire(view, author_name=name)


@post(
    "/api/v1/conversations/{conversation_id:uuid}/messages",
    opt=WRITE,
    tags=TAGS,
    status_code=201,
)
async def post_message(
    request: AnyRequest, conversation_id: FromPath[UUID], data: JSONBody[MessageIn]
) -> dict[str, Any]:
    """A communicator's chat message (or, with ``note``, an internal note staff only see)."""
    principal = require_principal(request)
    return await _post(
        services_of(request), principal, conversation_id, data.text, note=data.note,
        client_id=data.client_id,
    )  # fmt: skip


@post(
    "/api/v1/conversations/{conversation_id:uuid}/attachments",
    opt=WRITE,
    tags=TAGS,
    status_code=201,
    request_max_body_size=None,
)
async def post_attachment(
    request: AnyRequest,
    conversation_id: FromPath[UUID],
    name: Annotated[str, QueryParameter(min_length=1, max_length=255)],
) -> dict[str, Any]:
    """A file from the communicator (the body is the file; its Content-Type declared)."""
    principal = require_principal(request)
    services = services_of(request)
    conversation = await check_staff_access(services.db, principal, conversation_id, write=True)
    if conversation.channel != "chat":
        raise ConflictError("files go out through the conversation's own channel")
    limit = services.settings.chat_attachment_max_bytes
    content = await live.read_file_body(request, limit)
    filename = clean_filename(name)
    kind = check_attachment(filename, request.headers.get("content-type"), content, max_bytes=limit)
    view = await do_add_message(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        new=NewMessage(
            "out",
            "agent",
            None,
            author_user_id=principal.user_id,
            status="sent",
            attachments=(NewAttachment(filename, kind.media_type, content),),
        ),
        actor=principal.actor,
    )
    name = await _display_name(services, principal)
    await live.publish_message(services.bus, principal.tenant_id, view, author_name=name)
    return message_wire(view, author_name=name)


@get(
    "/api/v1/conversations/{conversation_id:uuid}/attachments/{attachment_id:uuid}",
    opt=READ,
    tags=TAGS,
)
async def get_attachment(
    request: AnyRequest, conversation_id: FromPath[UUID], attachment_id: FromPath[UUID]
) -> Response[bytes]:
    """The file, as a download that cannot run in the page (images may be shown inline)."""
    principal = require_principal(request)
    services = services_of(request)
    await check_staff_access(services.db, principal, conversation_id, write=False)
    view, content = await attachment_content(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        attachment_id=attachment_id,
    )
    disposition = "inline" if is_inline(view.media_type) else "attachment"
    return Response(
        content=content,
        media_type=view.media_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(view.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@post("/api/v1/conversations/{conversation_id:uuid}/join", opt=WRITE, tags=TAGS, status_code=200)
async def join_conversation(request: AnyRequest, conversation_id: FromPath[UUID]) -> dict[str, Any]:
    """The communicator took the chat: the visitor sees who answers (once per person)."""
    principal = require_principal(request)
    services = services_of(request)
    conversation = await check_staff_access(services.db, principal, conversation_id, write=True)
    name = await _display_name(services, principal)
    text = (
        f"{name} is answering you now."
        if conversation.lang == "en"
        else f"担当の{name}がご対応します。"
    )
    view = await do_add_message(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        new=NewMessage(
            "out",
            "system",
            text,
            status="sent",
            external_id=f"join:{conversation_id}:{principal.user_id}",
        ),
        actor=principal.actor,
    )
    if view.created:
        await live.publish_message(services.bus, principal.tenant_id, view)
    return message_wire(view)


@post("/api/v1/conversations/{conversation_id:uuid}/close", opt=WRITE, tags=TAGS, status_code=200)
async def close_conversation(
    request: AnyRequest, conversation_id: FromPath[UUID]
) -> dict[str, Any]:
    """The communicator ends the chat; their contact goes to wrap-up."""
    principal = require_principal(request)
    services = services_of(request)
    conversation = await check_staff_access(services.db, principal, conversation_id, write=True)
    finished = await chat.do_finish_chat(
        services.db, services.keyring, tenant_id=principal.tenant_id,
        conversation_id=conversation_id, by="agent", actor=principal.actor,
    )  # fmt: skip
    send_transcript_now(services, principal.tenant_id, finished)
    if finished.closed:
        await live.publish(
            services.bus, principal.tenant_id, conversation_id, "state", state="closed", by="agent"
        )
    if conversation.contact_id is not None:
        await _end_contact(services, principal, conversation.contact_id)
    return {"state": "closed"}


async def _end_contact(services: Services, principal: Principal, contact_id: UUID) -> None:
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        contact = await session.get(RoutingContact, contact_id)
    if contact is None or contact.state not in IN_CONVERSATION or contact.agent_id is None:
        return
    try:
        await do_end_contact(
            services.db, tenant_id=principal.tenant_id, contact_id=contact_id,
            agent_id=contact.agent_id, actor=principal.actor,
        )  # fmt: skip
    except ConflictError:
        return  # ended meanwhile (the desk's own button)


@websocket("/ws/conversations/{conversation_id:uuid}", opt=READ)
async def staff_socket(socket: WebSocket[Any, Any, Any], conversation_id: FromPath[UUID]) -> None:
    """A communicator's or supervisor's live view of one conversation (see ``live``)."""
    principal = require_principal(socket)
    origin, host = socket.headers.get("origin"), socket.headers.get("host")
    if origin is not None and host is not None and origin.split("://", 1)[-1] != host:
        await socket.close(code=CLOSE_POLICY, reason="cross-origin subscription refused")
        return
    services = services_of(socket)
    try:
        await check_staff_access(services.db, principal, conversation_id, write=False)
    except TsunagiError:
        await socket.close(code=CLOSE_POLICY, reason="conversation not found")
        return
    await socket.accept()
    channel = live.conversation_channel(principal.tenant_id, conversation_id)

    async def on_error(exc: Exception) -> None:
        if isinstance(exc, TsunagiError | ValueError):
            detail = str(exc)
        else:
            log.exception("staff frame failed", exc_info=exc)
            detail = "something went wrong; please try again"
        await socket.send_json({"kind": "error", "detail": detail})

    async def on_frame(data: dict[str, Any]) -> None:
        kind = data.get("type")
        tenant = principal.tenant_id
        if kind == "message":
            wire = await _post(
                services, principal, conversation_id, str(data.get("text", "")),
                note=bool(data.get("note")), client_id=data.get("id"),
            )  # fmt: skip
            await socket.send_json({"kind": "sent", "id": data.get("id"), "message": wire})
        elif kind == "typing":
            await check_staff_access(services.db, principal, conversation_id, write=True)
            await live.publish(
                services.bus,
                tenant,
                conversation_id,
                "typing",
                side="agent",
                on=bool(data.get("on")),
            )
        elif kind == "read":
            seq = await do_mark_read(
                services.db, tenant_id=tenant, conversation_id=conversation_id, side="agent",
                seq=int(data.get("seq", 0)),
            )  # fmt: skip
            await live.publish(services.bus, tenant, conversation_id, "read", side="agent", seq=seq)
        elif kind == "resume":
            full = await _full(services, principal, conversation_id)
            after = int(data.get("after", 0))
            await socket.send_json(
                {
                    "kind": "snapshot",
                    "conversation": _conversation_wire(full),
                    "messages": [m for m in full.messages if m["seq"] > after],
                }
            )
        else:
            raise ValueError(f"unknown frame type {kind!r}")

    async with services.bus.subscribe(channel) as stream:
        follower: asyncio.Task[None] | None = None
        full = await _full(services, principal, conversation_id)
        if full.channel != "chat":
            # Email and SMS messages arrive through their own workers and webhooks, which
            # do not hold this socket's channel: follow the tenant's committed events.
            follower = asyncio.create_task(
                _follow_events(services, principal, conversation_id, socket, full)
            )
        await socket.send_json(
            {
                "kind": "snapshot",
                "conversation": _conversation_wire(full),
                "messages": full.messages,
            }
        )
        try:
            await live.pump(socket, stream, on_frame, outgoing=live.staff_view, on_error=on_error)
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await follower


async def _follow_events(
    services: Services,
    principal: Principal,
    conversation_id: UUID,
    socket: WebSocket[Any, Any, Any],
    full: ConversationOut,
) -> None:
    """Send this socket the messages and status changes of one email/SMS conversation as
    their events are published (``conversation.message_added``, ``*.status_changed``)."""
    wanted = str(conversation_id)
    last_seq = max((m["seq"] for m in full.messages), default=0)
    async with services.bus.subscribe(tenant_channel(principal.tenant_id)) as events:
        async for raw in events:
            event = json.loads(raw).get("event", {})
            if event.get("conversation_id") != wanted:
                continue
            kind = str(event.get("type", ""))
            if kind == "conversation.message_added" and int(event.get("seq", 0)) > last_seq:
                messages = await list_messages(
                    services.db, services.keyring, tenant_id=principal.tenant_id,
                    conversation_id=conversation_id, after_seq=last_seq, include_notes=True,
                )  # fmt: skip
                for message in messages:
                    last_seq = max(last_seq, message.seq)
                    await socket.send_json({"kind": "message", "message": message_wire(message)})
            elif kind.endswith(".status_changed"):
                await socket.send_json(
                    {
                        "kind": "status",
                        "message_id": event.get("message_id"),
                        "status": event.get("status"),
                    }
                )


def _conversation_wire(full: ConversationOut) -> dict[str, Any]:
    shown: dict[str, Any] = msgspec.to_builtins(full)
    shown.pop("messages", None)
    return shown


@get(
    "/api/v1/customers/{customer_id:uuid}/conversations/{conversation_id:uuid}",
    opt={"authz": ("read", "customer")},
    tags=TAGS,
)
async def customer_transcript(
    request: AnyRequest,
    customer_id: FromPath[UUID],
    conversation_id: FromPath[UUID],
    reason: Annotated[str, QueryParameter(min_length=1, max_length=300)],
) -> list[dict[str, Any]]:
    """A chat, email or SMS transcript from the customer's history (the read is audited)."""
    principal = require_principal(request)
    services = services_of(request)
    messages = await transcript_of_customer(
        services.db,
        services.keyring,
        principal=principal,
        customer_id=customer_id,
        conversation_id=conversation_id,
        reason=reason,
    )
    names = await _names(
        services, principal.tenant_id, {m.author_user_id for m in messages if m.author_user_id}
    )
    return [
        message_wire(m, author_name=names.get(m.author_user_id) if m.author_user_id else None)
        for m in messages
    ]


# ------------------------------------------------------------------------- widgets


class TopicIn(Input):
    code: Annotated[str, Meta(pattern=r"^[a-z0-9_-]{1,63}$")]
    label_ja: Annotated[str, Meta(min_length=1, max_length=100)]
    label_en: Annotated[str, Meta(min_length=1, max_length=100)]
    queue_id: UUID


class ThemeIn(Input):
    colour: Annotated[str, Meta(pattern=r"^#[0-9a-fA-F]{6}$")] = "#1d5fa8"
    title_ja: Annotated[str, Meta(max_length=100)] = "チャットでお問い合わせ"
    title_en: Annotated[str, Meta(max_length=100)] = "Chat with us"
    greeting_ja: Annotated[str, Meta(max_length=300)] = "ご用件をお知らせください。"
    greeting_en: Annotated[str, Meta(max_length=300)] = "How can we help?"
    offline_ja: Annotated[str, Meta(max_length=300)] = chat.Theme().offline_ja
    offline_en: Annotated[str, Meta(max_length=300)] = chat.Theme().offline_en


class WidgetIn(Input):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    topics: Annotated[list[TopicIn], Meta(max_length=20)]  # at least one: checked with the row
    offline_queue_id: UUID | None = None
    allowed_origins: Annotated[list[str], Meta(max_length=20)] = msgspec.field(default_factory=list)
    theme: ThemeIn = msgspec.field(default_factory=ThemeIn)
    enabled: bool = True


def _settings(data: WidgetIn) -> chat.WidgetSettings:
    return chat.WidgetSettings(
        name=data.name,
        topics=[
            chat.Topic(code=t.code, label_ja=t.label_ja, label_en=t.label_en, queue_id=t.queue_id)
            for t in data.topics
        ],
        offline_queue_id=data.offline_queue_id,
        allowed_origins=list(data.allowed_origins),
        theme=msgspec.convert(msgspec.to_builtins(data.theme), chat.Theme),
        enabled=data.enabled,
    )


class IdentitySecretOut(Output):
    widget_id: UUID
    secret_hex: str


@get(
    "/api/v1/chat/widgets/{widget_id:uuid}/identity-secret",
    opt={"authz": ("update", "chat_widget")},
    tags=["chat widget"],
)
async def widget_identity_secret(
    request: AnyRequest, widget_id: FromPath[UUID]
) -> IdentitySecretOut:
    """The key your site signs signed-in visitors' identities with (HMAC-SHA-256); audited.
    Keep it on your server: the page only carries the signed token."""
    services = services_of(request)
    secret = await chat.widget_identity_secret(
        services.db, services.keyring, require_principal(request), widget_id
    )
    return IdentitySecretOut(widget_id=widget_id, secret_hex=secret)


@get("/api/v1/chat/widgets", opt={"authz": ("read", "chat_widget")}, tags=["chat widget"])
async def list_widgets(request: AnyRequest) -> list[dict[str, Any]]:
    principal = require_principal(request)
    return await chat.list_widgets(services_of(request).db, tenant_id=principal.tenant_id)


@post(
    "/api/v1/chat/widgets",
    opt={"authz": ("create", "chat_widget")},
    tags=["chat widget"],
    status_code=201,
)
async def create_widget(request: AnyRequest, data: JSONBody[WidgetIn]) -> dict[str, Any]:
    """A widget: its topics (each to a queue), offline queue, allowed sites and look.

    Embed it with one tag on the site:
    ``<script src="https://<center>/static/chat/widget.js" data-widget="<id>" async>``."""
    principal = require_principal(request)
    widget_id = await chat.do_save_widget(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        widget_id=None,
        settings=_settings(data),
    )
    return {"id": str(widget_id)}


@put(
    "/api/v1/chat/widgets/{widget_id:uuid}",
    opt={"authz": ("update", "chat_widget")},
    tags=["chat widget"],
)
async def update_widget(
    request: AnyRequest, widget_id: FromPath[UUID], data: JSONBody[WidgetIn]
) -> dict[str, Any]:
    principal = require_principal(request)
    await chat.do_save_widget(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        widget_id=widget_id,
        settings=_settings(data),
    )
    REFS.forget(widget_id)
    return {"id": str(widget_id)}


ROUTES = [
    get_conversation,
    contact_conversation,
    post_message,
    post_attachment,
    get_attachment,
    join_conversation,
    close_conversation,
    staff_socket,
    customer_transcript,
    list_widgets,
    widget_identity_secret,
    create_widget,
    update_widget,
]
