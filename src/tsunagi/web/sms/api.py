"""SMS REST API: the desk's reply, the segment count of a draft, a queue's SMS number."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get, post, put
from litestar.params import FromPath, JSONBody

from tsunagi.actions.conversations import check_staff_access, message_wire
from tsunagi.actions.sms import (
    SmsAccount,
    SmsSettings,
    do_configure_sms_account,
    sms_account_of_queue,
)
from tsunagi.actions.sms_send import do_queue_sms_reply
from tsunagi.adapters.sms.twilio import DEFAULT_BASE_URL
from tsunagi.channels.sms import Segments, count_segments
from tsunagi.domain.errors import NotFoundError
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of
from tsunagi.web.sms.sender import sender_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["sms"]


class SmsReplyIn(Input):
    text: str
    # The desk's own id for this reply: sending the same one twice stores and sends once.
    client_id: str | None = None


class SegmentsOut(Output):
    encoding: str
    units: int
    segments: int
    per_segment: int


class SmsReplyOut(Output):
    message: dict[str, Any]
    segments: SegmentsOut
    created: bool


class SegmentsIn(Input):
    text: str


class SmsAccountIn(Input):
    account_sid: str
    from_number: str
    webhook_base_url: str
    api_base_url: str = DEFAULT_BASE_URL
    auth_token: str | None = None
    max_segments: int = 5
    help_text: str | None = None
    opt_out_reply: str | None = None
    opt_in_reply: str | None = None
    enabled: bool = True
    name: str | None = None


class SmsAccountOut(Output):
    id: UUID
    queue_id: UUID
    name: str
    account_sid: str
    from_number: str
    api_base_url: str
    webhook_base_url: str
    has_auth_token: bool
    max_segments: int
    help_text: str
    opt_out_reply: str | None
    opt_in_reply: str | None
    enabled: bool
    # Give these to the provider as the number's message and status webhooks.
    inbound_url: str
    status_url: str


def _segments_out(segments: Segments) -> SegmentsOut:
    return SegmentsOut(
        encoding=segments.encoding,
        units=segments.units,
        segments=segments.segments,
        per_segment=segments.per_segment,
    )


def _account_out(account: SmsAccount) -> SmsAccountOut:
    return SmsAccountOut(
        id=account.id,
        queue_id=account.queue_id,
        name=account.name,
        account_sid=account.account_sid,
        from_number=account.from_number,
        api_base_url=account.api_base_url,
        webhook_base_url=account.webhook_base_url,
        has_auth_token=bool(account.auth_token),
        max_segments=account.max_segments,
        help_text=account.help_text,
        opt_out_reply=account.opt_out_reply,
        opt_in_reply=account.opt_in_reply,
        enabled=account.enabled,
        inbound_url=account.hook_url("inbound"),
        status_url=account.hook_url("status"),
    )


@post(
    "/api/v1/conversations/{conversation_id:uuid}/sms-reply",
    opt={"authz": ("update", "conversation")},
    tags=TAGS,
    status_code=202,
)
async def sms_reply(
    request: AnyRequest, conversation_id: FromPath[UUID], data: JSONBody[SmsReplyIn]
) -> SmsReplyOut:
    """Answer an SMS conversation: stored as ``queued`` and sent in the background; the
    status then follows ``sms.status_changed`` events (sent, delivered, failed). 409 when
    the number opted out or the conversation is closed, 422 when it is too long."""
    principal = require_principal(request)
    services = services_of(request)
    await check_staff_access(services.db, principal, conversation_id, write=True)
    queued = await do_queue_sms_reply(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        body=data.text,
        author_user_id=principal.user_id,
        client_id=data.client_id,
        actor=principal.actor,
    )
    if queued.message.created:
        sender_of(services).send_soon(principal.tenant_id, queued.message.id)
    return SmsReplyOut(
        message=message_wire(queued.message),
        segments=_segments_out(queued.segments),
        created=queued.message.created,
    )


@post(
    "/api/v1/sms/segments",
    opt={"authz": ("update", "conversation")},
    tags=TAGS,
    status_code=200,
)
async def sms_segments(data: JSONBody[SegmentsIn]) -> SegmentsOut:
    """How many SMS segments a draft is (GSM-7: 160, or 153 per part; UCS-2 — Japanese —
    70, or 67 per part), for the counter under the desk's reply box."""
    return _segments_out(count_segments(data.text))


ACCOUNT = "/api/v1/queues/{queue_id:uuid}/sms-account"


@get(ACCOUNT, opt={"authz": ("read", "channel_account")}, tags=TAGS)
async def read_sms_account(request: AnyRequest, queue_id: FromPath[UUID]) -> SmsAccountOut:
    principal = require_principal(request)
    services = services_of(request)
    account = await sms_account_of_queue(
        services.db, services.keyring, tenant_id=principal.tenant_id, queue_id=queue_id
    )
    if account is None:
        raise NotFoundError("this queue has no SMS number")
    return _account_out(account)


@put(ACCOUNT, opt={"authz": ("update", "channel_account")}, tags=TAGS)
async def configure_sms_account(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[SmsAccountIn]
) -> SmsAccountOut:
    """Set up or change the queue's SMS number; leave ``auth_token`` out to keep it."""
    principal = require_principal(request)
    services = services_of(request)
    account = await do_configure_sms_account(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        queue_id=queue_id,
        new=SmsSettings(
            account_sid=data.account_sid,
            from_number=data.from_number,
            webhook_base_url=data.webhook_base_url,
            api_base_url=data.api_base_url,
            auth_token=data.auth_token,
            max_segments=data.max_segments,
            help_text=data.help_text,
            opt_out_reply=data.opt_out_reply,
            opt_in_reply=data.opt_in_reply,
            enabled=data.enabled,
            name=data.name,
        ),
        actor=principal.actor,
    )
    return _account_out(account)


ROUTES = [sms_reply, sms_segments, read_sms_account, configure_sms_account]
