"""Email REST API: the desk's reply, a conversation's email view, its sanitised HTML (inert),
retrying a failed send, the late-first-answer list, a queue's mailbox and email settings.

Text from an email is returned as text (``text`` fields, shown with ``textContent``);
the sanitised HTML of a message is only served by its own URL with a ``sandbox`` CSP, to
be shown in a sandboxed iframe — it can never run script in a staff page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tsunagi.actions.conversations import (
    check_staff_access,
    conversation_view,
    list_messages,
    message_wire,
)
from tsunagi.actions.email_accounts import (
    Mailbox,
    do_configure_mailbox,
    do_set_queue_email,
    get_mailbox,
    mailbox_config,
    mailbox_of_queue,
    queue_email_settings,
)
from tsunagi.actions.email_desk import (
    do_queue_email_reply,
    email_details,
    list_overdue,
    message_html,
)
from tsunagi.actions.email_outbox import do_retry_email
from tsunagi.actions.email_worker import describe, poll_once
from tsunagi.channels.email_settings import (
    MailboxConfig,
    QueueEmail,
)
from tsunagi.domain.errors import NotFoundError
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.email.worker import worker_of
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["email"]
READ = {"authz": ("read", "conversation")}
WRITE = {"authz": ("update", "conversation")}
CONVERSATION = "/api/v1/conversations/{conversation_id:uuid}"
MAILBOX = "/api/v1/queues/{queue_id:uuid}/mailbox"
# The sanitised HTML of an email: no script, no plugins, no requests, a unique origin.
HTML_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class EmailReplyIn(Input):
    text: str | None = None
    # A template of the queue (its text goes first; ``values`` fill its ``{fields}``).
    template: str | None = None
    values: dict[str, str | None] = msgspec.field(default_factory=dict)
    # The desk's own id for this reply: the same id stores and sends one message, once.
    client_id: str | None = None


class EmailReplyOut(Output):
    message: dict[str, Any]
    created: bool
    message_id_header: str


class EmailMessageOut(Output):
    id: UUID
    seq: int
    direction: str
    author: str
    text: str | None
    status: str
    error: str | None
    flags: list[str]
    at: datetime
    has_html: bool
    message_id_header: str | None
    attachments: list[dict[str, Any]]


class EmailConversationOut(Output):
    id: UUID
    state: str
    queue_id: UUID
    contact_id: UUID | None
    customer_id: UUID | None
    subject: str | None
    address: str | None
    name: str | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    templates: list[str]
    messages: list[EmailMessageOut]


class OverdueOut(Output):
    conversation_id: UUID
    contact_id: UUID | None
    queue_id: UUID
    channel: str
    due_at: datetime
    overdue_s: int


class MailboxIn(Input):
    address: str
    imap_host: str
    username: str
    smtp_host: str
    display_name: str | None = None
    imap_port: int = 993
    imap_tls: str = "ssl"
    folder: str = "INBOX"
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_username: str | None = None
    poll_interval_s: int = 60
    idle: bool = True
    # Leave out to keep the stored password; it is sealed and never shown again.
    password: str | None = None
    enabled: bool = True
    name: str | None = None  # when the mailbox is created; kept afterwards


class MailboxOut(Output):
    id: UUID
    queue_id: UUID
    name: str
    config: dict[str, Any]
    has_password: bool
    enabled: bool
    cursor: dict[str, Any]


class PollOut(Output):
    result: dict[str, Any]


def _mailbox_out(mailbox: Mailbox) -> MailboxOut:
    return MailboxOut(
        id=mailbox.id,
        queue_id=mailbox.queue_id,
        name=mailbox.name,
        config=msgspec.to_builtins(mailbox.config),
        has_password=bool(mailbox.password),
        enabled=mailbox.enabled,
        cursor=mailbox.cursor,
    )


@post(CONVERSATION + "/email-reply", opt=WRITE, tags=TAGS, status_code=202)
async def email_reply(
    request: AnyRequest, conversation_id: FromPath[UUID], data: JSONBody[EmailReplyIn]
) -> EmailReplyOut:
    """Answer an email conversation: stored ``queued`` with its Message-ID, In-Reply-To and
    References and the queue's signature, then sent in the background (status follows
    ``email.status_changed``: sent or failed; temporary failures are retried)."""
    principal = require_principal(request)
    services = services_of(request)
    await check_staff_access(services.db, principal, conversation_id, write=True)
    view = await do_queue_email_reply(
        services.db,
        services.keyring,
        principal=principal,
        conversation_id=conversation_id,
        body=data.text,
        template=data.template,
        values=data.values,
        idempotency_key=data.client_id,
    )
    if view.created:
        worker_of(services).send_soon(principal.tenant_id, view.id)
    details = await email_details(services.db, tenant_id=principal.tenant_id, message_ids=[view.id])
    return EmailReplyOut(
        message=message_wire(view),
        created=view.created,
        message_id_header=details[view.id].external_id or "",
    )


@get(CONVERSATION + "/email", opt=READ, tags=TAGS)
async def read_email_conversation(
    request: AnyRequest, conversation_id: FromPath[UUID]
) -> EmailConversationOut:
    """An email conversation for the desk: subject, address, SLA times, the queue's
    template names, and each message as plain text with its status and flags."""
    principal = require_principal(request)
    services = services_of(request)
    await check_staff_access(services.db, principal, conversation_id, write=False)
    tenant_id = principal.tenant_id
    view = await conversation_view(
        services.db, services.keyring, tenant_id=tenant_id, conversation_id=conversation_id
    )
    messages = await list_messages(
        services.db, services.keyring, tenant_id=tenant_id, conversation_id=conversation_id,
        include_notes=True,
    )  # fmt: skip
    details = await email_details(
        services.db, tenant_id=tenant_id, message_ids=[m.id for m in messages]
    )
    settings = await queue_email_settings(services.db, tenant_id=tenant_id, queue_id=view.queue_id)
    return EmailConversationOut(
        id=view.id,
        state=view.state,
        queue_id=view.queue_id,
        contact_id=view.contact_id,
        customer_id=view.customer_id,
        subject=view.subject,
        address=view.address,
        name=view.visitor_name,
        first_response_due_at=view.first_response_due_at,
        first_response_at=view.first_response_at,
        templates=sorted(settings.templates),
        messages=[
            EmailMessageOut(
                id=m.id,
                seq=m.seq,
                direction=m.direction,
                author=m.author,
                text=m.text,
                status=m.status,
                error=details[m.id].error,
                flags=m.flags,
                at=m.created_at,
                has_html=details[m.id].has_html,
                message_id_header=details[m.id].external_id,
                attachments=message_wire(m)["attachments"],
            )
            for m in messages
        ],
    )


@get(CONVERSATION + "/email/messages/{message_id:uuid}/html", opt=READ, tags=TAGS)
async def email_html(
    request: AnyRequest, conversation_id: FromPath[UUID], message_id: FromPath[UUID]
) -> Response[str]:
    """The sanitised HTML of a received email, for a sandboxed iframe only: served with a
    ``sandbox`` Content-Security-Policy, so even markup the sanitiser let through cannot
    run script, load anything or reach the staff page."""
    principal = require_principal(request)
    services = services_of(request)
    await check_staff_access(services.db, principal, conversation_id, write=False)
    html = await message_html(
        services.db, services.keyring, tenant_id=principal.tenant_id,
        conversation_id=conversation_id, message_id=message_id,
    )  # fmt: skip
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "content-security-policy": HTML_CSP,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
        },
    )


@post(
    CONVERSATION + "/email/messages/{message_id:uuid}/retry",
    opt=WRITE,
    tags=TAGS,
    status_code=202,
)
async def retry_email(
    request: AnyRequest, conversation_id: FromPath[UUID], message_id: FromPath[UUID]
) -> None:
    """Queue a failed email again (the same message, the same Message-ID)."""
    principal = require_principal(request)
    services = services_of(request)
    await check_staff_access(services.db, principal, conversation_id, write=True)
    await do_retry_email(
        services.db, tenant_id=principal.tenant_id, conversation_id=conversation_id,
        message_id=message_id,
    )  # fmt: skip
    worker_of(services).send_soon(principal.tenant_id, message_id)


@get("/api/v1/email/overdue", opt=READ, tags=TAGS)
async def overdue(
    request: AnyRequest,
    queue_id: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = "email",
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
) -> list[OverdueOut]:
    """Open conversations whose first answer is late (SLA ``first_response_s`` of their
    queue), the most overdue first; a communicator sees only their own."""
    found = await list_overdue(
        services_of(request).db, require_principal(request), queue_id=queue_id,
        channel=channel or None, limit=limit,
    )  # fmt: skip
    return [
        OverdueOut(
            conversation_id=o.conversation_id,
            contact_id=o.contact_id,
            queue_id=o.queue_id,
            channel=o.channel,
            due_at=o.due_at,
            overdue_s=o.overdue_s,
        )
        for o in found
    ]


@get(MAILBOX, opt={"authz": ("read", "channel_account")}, tags=TAGS)
async def read_mailbox(request: AnyRequest, queue_id: FromPath[UUID]) -> MailboxOut:
    principal = require_principal(request)
    services = services_of(request)
    mailbox = await mailbox_of_queue(
        services.db, services.keyring, tenant_id=principal.tenant_id, queue_id=queue_id
    )
    if mailbox is None:
        raise NotFoundError("this queue has no mailbox")
    return _mailbox_out(mailbox)


@put(MAILBOX, opt={"authz": ("update", "channel_account")}, tags=TAGS)
async def configure_mailbox(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[MailboxIn]
) -> MailboxOut:
    """Set up or change the queue's mailbox (IMAP in, SMTP out); leave ``password`` out to
    keep the stored one. The ingest picks it up within ``rescan`` seconds."""
    principal = require_principal(request)
    services = services_of(request)
    tenant_id = principal.tenant_id
    await queue_email_settings(services.db, tenant_id=tenant_id, queue_id=queue_id)  # 404 first
    current = await mailbox_of_queue(
        services.db, services.keyring, tenant_id=tenant_id, queue_id=queue_id
    )
    fields = msgspec.to_builtins(data)
    password = fields.pop("password", None)
    enabled = fields.pop("enabled", True)
    name = current.name if current else (fields.pop("name", None) or f"queue-{queue_id}")
    fields.pop("name", None)
    config: MailboxConfig = mailbox_config(fields)
    account_id = await do_configure_mailbox(
        services.db, services.keyring, tenant_id=tenant_id, queue_id=queue_id, name=name,
        config=config, password=password, enabled=enabled, actor=principal.actor,
    )  # fmt: skip
    return _mailbox_out(
        await get_mailbox(services.db, services.keyring, tenant_id=tenant_id, account_id=account_id)
    )


@post(MAILBOX + "/poll", opt={"authz": ("update", "channel_account")}, tags=TAGS, status_code=200)
async def poll_mailbox_now(request: AnyRequest, queue_id: FromPath[UUID]) -> PollOut:
    """Read the queue's mailbox now (and send what is due): a check that the settings
    work, and the counts of what came in."""
    principal = require_principal(request)
    services = services_of(request)
    mailbox = await mailbox_of_queue(
        services.db, services.keyring, tenant_id=principal.tenant_id, queue_id=queue_id
    )
    if mailbox is None:
        raise NotFoundError("this queue has no mailbox")
    result = await poll_once(
        services.db, services.keyring, tenant_id=principal.tenant_id, account_id=mailbox.id
    )
    return PollOut(result=describe(result))


SETTINGS = "/api/v1/queues/{queue_id:uuid}/email-settings"


@get(SETTINGS, opt={"authz": ("read", "channel_account")}, tags=TAGS)
async def read_queue_email(request: AnyRequest, queue_id: FromPath[UUID]) -> QueueEmail:
    principal = require_principal(request)
    return await queue_email_settings(
        services_of(request).db, tenant_id=principal.tenant_id, queue_id=queue_id
    )


@put(SETTINGS, opt={"authz": ("update", "channel_account")}, tags=TAGS)
async def set_queue_email(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[QueueEmail]
) -> QueueEmail:
    """First-answer SLA, automatic acknowledgement (off by default), signature, templates
    and the attachment size limit of a queue's email."""
    principal = require_principal(request)
    return await do_set_queue_email(
        services_of(request).db, tenant_id=principal.tenant_id, queue_id=queue_id,
        settings=data, actor=principal.actor,
    )  # fmt: skip


ROUTES = [
    email_reply,
    read_email_conversation,
    email_html,
    retry_email,
    overdue,
    read_mailbox,
    configure_mailbox,
    poll_mailbox_now,
    read_queue_email,
    set_queue_email,
]
