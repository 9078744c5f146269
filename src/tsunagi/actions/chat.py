"""Web chat: the tenant's widgets, what a widget shows a visitor, and a visitor's chat.

A widget is public by id (the id is in the script tag on the client's site); everything
a visitor does after the pre-chat form is authorised by the random token handed out when
the chat starts (stored only as a hash). Outside business hours the widget offers an
offline form whose message becomes an email contact of the widget's offline queue.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select

from tsunagi.actions import audit
from tsunagi.actions.bot import do_bot_greet
from tsunagi.actions.conversations import (
    NewConversation,
    NewMessage,
    Started,
    conversation_view,
    do_add_message,
    do_close_conversation,
    do_start_conversation,
)
from tsunagi.actions.email import FormContact, do_create_email_contact_from_form, send_transcript
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import ChatWidget
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue, Tenant
from tsunagi.channels.bot import bot_enabled
from tsunagi.channels.email_settings import is_address
from tsunagi.channels.identity import verify_identity
from tsunagi.channels.text import clean_text
from tsunagi.domain.errors import InvalidInputError, NotFoundError, TsunagiError
from tsunagi.domain.permissions import Principal
from tsunagi.routing.queues import is_open, routing_settings

log = logging.getLogger(__name__)
MAX_NAME = 100
MAX_SUBJECT = 200
MAX_OFFLINE_BODY = 8000


class Topic(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: str
    label_ja: str
    label_en: str
    queue_id: UUID


class Theme(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    colour: str = "#1d5fa8"
    title_ja: str = "チャットでお問い合わせ"
    title_en: str = "Chat with us"
    greeting_ja: str = "ご用件をお知らせください。"
    greeting_en: str = "How can we help?"
    offline_ja: str = "ただいま受付時間外です。メッセージを残していただければメールでご返信します。"
    offline_en: str = "We are closed now. Leave a message and we will answer by email."


@dataclass(frozen=True, slots=True)
class WidgetSettings:
    name: str
    topics: list[Topic]
    offline_queue_id: UUID | None
    allowed_origins: list[str]
    theme: Theme
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class WidgetRef:
    """What a public request needs to know about a widget before anything else."""

    id: UUID
    tenant_id: UUID
    allowed_origins: tuple[str, ...]
    enabled: bool


def _check_colour(value: str) -> None:
    if not (
        len(value) == 7
        and value[0] == "#"
        and all(c in "0123456789abcdefABCDEF" for c in value[1:])
    ):
        raise InvalidInputError("theme colour must look like #1d5fa8")


def _check_origins(origins: list[str]) -> None:
    for origin in origins:
        if origin == "*":
            continue
        scheme, _, host = origin.partition("://")
        if scheme not in ("http", "https") or not host or "/" in host:
            raise InvalidInputError(
                f"allowed origin {origin!r} must be like https://www.example.jp"
            )


async def _check_queues(db: Database, tenant_id: UUID, settings: WidgetSettings) -> None:
    wanted = {t.queue_id for t in settings.topics}
    if settings.offline_queue_id is not None:
        wanted.add(settings.offline_queue_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        found = set(await session.scalars(select(Queue.id).where(Queue.id.in_(wanted))))
    missing = wanted - found
    if missing:
        raise InvalidInputError(f"unknown queue(s): {', '.join(sorted(str(m) for m in missing))}")
    if not settings.topics:
        raise InvalidInputError("a widget needs at least one topic")
    codes = [t.code for t in settings.topics]
    if len(set(codes)) != len(codes):
        raise InvalidInputError("topic codes must be unique")


async def do_save_widget(
    db: Database, *, tenant_id: UUID, widget_id: UUID | None, settings: WidgetSettings
) -> UUID:
    """Create (``widget_id`` None) or replace a widget's settings."""
    if widget_id is not None:
        async with db.scoped(tenant_id, readonly=True) as session:
            if await session.get(ChatWidget, widget_id) is None:
                raise NotFoundError("widget not found")
    _check_colour(settings.theme.colour)
    _check_origins(settings.allowed_origins)
    await _check_queues(db, tenant_id, settings)
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        if widget_id is None:
            widget = ChatWidget(tenant_id=tenant_id, created_at=at)
            session.add(widget)
        else:
            found = await session.get(ChatWidget, widget_id)
            if found is None:
                raise NotFoundError("widget not found")
            widget = found
        widget.name = settings.name
        widget.topics = [msgspec.to_builtins(t) for t in settings.topics]
        widget.offline_queue_id = settings.offline_queue_id
        widget.allowed_origins = list(settings.allowed_origins)
        widget.theme = msgspec.to_builtins(settings.theme)
        widget.enabled = settings.enabled
        widget.updated_at = at
        await session.flush()
        return widget.id


async def list_widgets(db: Database, *, tenant_id: UUID) -> list[dict[str, Any]]:
    async with db.scoped(tenant_id, readonly=True) as session:
        widgets = (await session.scalars(select(ChatWidget).order_by(ChatWidget.name))).all()
    return [
        {
            "id": str(w.id),
            "name": w.name,
            "topics": w.topics,
            "offline_queue_id": str(w.offline_queue_id) if w.offline_queue_id else None,
            "allowed_origins": w.allowed_origins,
            "theme": w.theme,
            "enabled": w.enabled,
        }
        for w in widgets
    ]


async def widget_ref(db: Database, widget_id: UUID) -> WidgetRef:
    """The widget's tenant and origins (a cross-tenant lookup by the public id)."""
    async with db.system(readonly=True) as session:
        row = (
            await session.execute(
                select(ChatWidget.tenant_id, ChatWidget.allowed_origins, ChatWidget.enabled).where(
                    ChatWidget.id == widget_id
                )
            )
        ).first()
    if row is None:
        raise NotFoundError("widget not found")
    return WidgetRef(widget_id, row[0], tuple(row[1] or ()), bool(row[2]))


def origin_allowed(ref: WidgetRef, origin: str | None, own_origin: str | None) -> bool:
    """Whether a page at ``origin`` may use the widget (our own pages always may)."""
    if origin is None or origin == own_origin:
        return True
    return "*" in ref.allowed_origins or origin in ref.allowed_origins


async def _widget(db: Database, ref: WidgetRef) -> tuple[ChatWidget, str]:
    async with db.scoped(ref.tenant_id, readonly=True) as session:
        widget = await session.get(ChatWidget, ref.id)
        timezone = await session.scalar(select(Tenant.timezone).where(Tenant.id == ref.tenant_id))
    if widget is None or not widget.enabled:
        raise NotFoundError("widget not found")
    return widget, timezone or "UTC"


async def public_config(db: Database, ref: WidgetRef) -> dict[str, Any]:
    """What the widget shows: texts, colour, topics with whether each is open now."""
    widget, timezone = await _widget(db, ref)
    topics = [msgspec.convert(t, Topic) for t in widget.topics]
    async with db.scoped(ref.tenant_id, readonly=True) as session:
        queues = {
            q.id: q
            for q in await session.scalars(
                select(Queue).where(Queue.id.in_([t.queue_id for t in topics]))
            )
        }
    now = utcnow()
    shown = []
    for topic in topics:
        queue = queues.get(topic.queue_id)
        if queue is None:
            continue
        shown.append(
            {
                "code": topic.code,
                "label_ja": topic.label_ja,
                "label_en": topic.label_en,
                "open": is_open(routing_settings(queue.config), now, timezone),
            }
        )
    async with db.scoped(ref.tenant_id, readonly=True) as session:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == ref.tenant_id))
    return {
        "widget": str(widget.id),
        "help_base": f"/help/{slug}",
        "theme": msgspec.to_builtins(msgspec.convert(widget.theme or {}, Theme)),
        "topics": shown,
        "offline": widget.offline_queue_id is not None,
    }


@dataclass(frozen=True, slots=True)
class VisitorStart:
    topic: str
    name: str
    lang: str = "ja"
    member_no: str | None = None
    email: str | None = None
    transcript: bool = False
    client_id: str | None = None
    # Signed by the client's site: who the visitor is (tsunagi.channels.identity).
    identity: str | None = None


@dataclass(frozen=True, slots=True)
class VisitorChat:
    started: Started
    token: str


def identity_secret(cipher: TenantCipher, widget_id: UUID) -> bytes:
    """The key a client's server signs visitor identities with, for one widget (derived
    from the tenant's data key, so nothing is stored; rotating the data key rotates it)."""
    return cipher.mac("chat-identity", widget_id.bytes)


async def widget_identity_secret(
    db: Database, keyring: KeyRing, principal: Principal, widget_id: UUID
) -> str:
    """The secret, hex, for an administrator to configure the client's site; audited."""
    async with db.scoped(principal.tenant_id) as session, session.begin():
        if await session.get(ChatWidget, widget_id) is None:
            raise NotFoundError("widget not found")
        audit.record(
            session,
            tenant_id=principal.tenant_id,
            action="chat_widget.identity_secret_read",
            resource_type="chat_widget",
            resource_id=str(widget_id),
            outcome="ok",
            actor_user_id=principal.user_id,
        )
    cipher = await keyring.cipher(db, principal.tenant_id)
    return identity_secret(cipher, widget_id).hex()


def _bot_wanted(queue: Queue) -> bool:
    return bot_enabled(queue.config)


async def do_start_visitor_chat(
    db: Database, keyring: KeyRing, ref: WidgetRef, start: VisitorStart
) -> VisitorChat:
    """The visitor sent the pre-chat form: a chat contact in the topic's queue."""
    widget, _timezone = await _widget(db, ref)
    topics = {t["code"]: msgspec.convert(t, Topic) for t in widget.topics}
    topic = topics.get(start.topic)
    if topic is None:
        raise InvalidInputError(f"unknown topic {start.topic!r}; known: {', '.join(topics)}")
    verified = False
    if start.identity:
        cipher = await keyring.cipher(db, ref.tenant_id)
        claims = verify_identity(identity_secret(cipher, ref.id), start.identity, now=time.time())
        start = replace(
            start,
            member_no=claims.member_no,
            email=claims.email or start.email,
            name=start.name.strip() or claims.name or "",
        )
        verified = True
    name = clean_text(start.name, limit=MAX_NAME, what="name")
    if start.transcript and not start.email:
        raise InvalidInputError("a transcript needs an email address")
    if start.email and not is_address(start.email):
        raise InvalidInputError("the email address is not valid")
    async with db.scoped(ref.tenant_id, readonly=True) as session:
        queue = await session.get(Queue, topic.queue_id)
    if queue is None:
        raise NotFoundError("the topic's queue no longer exists")
    token = secrets.token_urlsafe(32)
    started = await do_start_conversation(
        db,
        keyring,
        tenant_id=ref.tenant_id,
        new=NewConversation(
            channel="chat",
            queue_id=topic.queue_id,
            source="widget",
            lang="en" if start.lang == "en" else "ja",
            topic=topic.code,
            visitor_name=name,
            address_kind="email" if start.email else None,
            address=start.email,
            member_no=start.member_no or None,
            identity_verified=verified,
            widget_id=ref.id,
            visitor_token=token,
            bot=_bot_wanted(queue),
            idempotency_key=f"chat:{ref.id}:{start.client_id}" if start.client_id else None,
            transcript_requested=start.transcript,
        ),
        actor="visitor",
    )
    if not started.created:
        raise InvalidInputError("this chat was already started; reload the widget")
    if started.state == "bot":
        await do_bot_greet(
            db, keyring, tenant_id=ref.tenant_id, conversation_id=started.conversation_id,
            lang="en" if start.lang == "en" else "ja",
        )  # fmt: skip
    return VisitorChat(started, token)


@dataclass(frozen=True, slots=True)
class Finished:
    closed: bool  # False: it was closed already, nothing done
    transcript_id: UUID | None = None  # the queued transcript mail, to send at once


async def do_finish_chat(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, conversation_id: UUID, by: str, actor: str
) -> Finished:
    """Close a chat (the visitor left or the communicator ended it) and, if the visitor
    asked for it, queue the transcript mail."""
    closed = await do_close_conversation(
        db, tenant_id=tenant_id, conversation_id=conversation_id, by=by, actor=actor
    )
    if closed is None:
        return Finished(False)
    if closed.channel == "chat" and closed.transcript_requested:
        view = await conversation_view(
            db, keyring, tenant_id=tenant_id, conversation_id=conversation_id
        )
        if view.address:
            try:
                note = await send_transcript(
                    db, keyring, tenant_id=tenant_id, conversation_id=conversation_id,
                    to_address=view.address,
                )  # fmt: skip
                return Finished(True, note)
            except TsunagiError:
                # No mailbox to send from: the chat is closed all the same; the note says
                # why there is no transcript so a communicator can follow up.
                log.warning("chat %s: transcript not sent", conversation_id, exc_info=True)
                await do_add_message(
                    db, keyring, tenant_id=tenant_id, conversation_id=conversation_id,
                    new=NewMessage("note", "system", "transcript asked for, not sent: no mailbox"),
                    actor="system",
                )  # fmt: skip
    return Finished(True)


@dataclass(frozen=True, slots=True)
class OfflineMessage:
    name: str
    email: str
    subject: str
    body: str
    lang: str = "ja"
    client_id: str | None = None


async def do_leave_offline_message(
    db: Database, keyring: KeyRing, ref: WidgetRef, message: OfflineMessage
) -> FormContact:
    """Outside hours: the visitor's message becomes an email contact of the widget's
    offline queue — threaded, with the queue's first-response timer, answered by email."""
    widget, _timezone = await _widget(db, ref)
    if widget.offline_queue_id is None:
        raise InvalidInputError("this widget takes no offline messages")
    return await do_create_email_contact_from_form(
        db,
        keyring,
        tenant_id=ref.tenant_id,
        queue_id=widget.offline_queue_id,
        name=clean_text(message.name, limit=MAX_NAME, what="name"),
        address=message.email,
        subject=clean_text(message.subject, limit=MAX_SUBJECT, what="subject"),
        body=clean_text(message.body, limit=MAX_OFFLINE_BODY, what="message"),
        lang="en" if message.lang == "en" else "ja",
        idempotency_key=f"{ref.id}:{message.client_id}" if message.client_id else None,
        source="widget_offline",
    )
