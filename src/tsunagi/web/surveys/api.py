"""Staff side of surveys: a queue's settings, survey links for a contact, the answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import Meta

from tsunagi.actions import surveys as actions
from tsunagi.actions.figures.reports import tenant_today
from tsunagi.figures.surveys import SurveySettings
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["surveys"]
Channel = Literal["chat", "email", "sms"]


class SettingsBody(Input):
    channels: list[Channel] = msgspec.field(default_factory=list)
    questions: Literal["csat", "nps", "both"] = "both"
    expire_days: Annotated[int, Meta(ge=1, le=90)] = 7
    comment: bool = True


class SettingsOut(Output):
    channels: list[str]
    questions: str
    expire_days: int
    comment: bool


def _settings_out(settings: SurveySettings) -> SettingsOut:
    return SettingsOut(
        channels=list(settings.channels),
        questions=settings.questions,
        expire_days=settings.expire_days,
        comment=settings.comment,
    )


@get(
    "/api/v1/queues/{queue_id:uuid}/survey",
    opt={"authz": ("read", "survey_settings")},
    tags=TAGS,
)
async def read_survey_settings(request: AnyRequest, queue_id: FromPath[UUID]) -> SettingsOut:
    """Which channels of the queue ask the survey, which questions, for how long."""
    principal = require_principal(request)
    found = await actions.get_survey_settings(
        services_of(request).db, tenant_id=principal.tenant_id, queue_id=queue_id
    )
    return _settings_out(found)


@put(
    "/api/v1/queues/{queue_id:uuid}/survey",
    opt={"authz": ("update", "survey_settings")},
    tags=TAGS,
)
async def write_survey_settings(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[SettingsBody]
) -> SettingsOut:
    """Turn the survey on for channels of the queue (``channels: []`` turns it off)."""
    principal = require_principal(request)
    saved = await actions.do_set_survey_settings(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        queue_id=queue_id,
        settings=SurveySettings(
            channels=list(data.channels),
            questions=data.questions,
            expire_days=data.expire_days,
            comment=data.comment,
        ),
    )
    return _settings_out(saved)


class InvitationIn(Input):
    send: bool = True


class InvitationOut(Output):
    url: str
    channel: str
    questions: str
    expires_at: datetime
    message_id: UUID | None


@post(
    "/api/v1/contacts/{contact_id:uuid}/survey-invitations",
    opt={"authz": ("create", "survey_invitation")},
    tags=TAGS,
    status_code=201,
)
async def send_invitation(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[InvitationIn]
) -> InvitationOut:
    """A survey link for an email or SMS contact; ``send`` queues it as a message to the
    customer on the contact's conversation (else the link is only returned)."""
    principal = require_principal(request)
    services = services_of(request)
    sent = await actions.do_send_invitation(
        services.db,
        services.keyring,
        principal=principal,
        contact_id=contact_id,
        base_url=str(request.base_url),
        send=data.send,
    )
    return InvitationOut(
        url=sent.url,
        channel=sent.offer.channel,
        questions=sent.offer.questions,
        expires_at=sent.offer.expires_at,
        message_id=sent.message_id,
    )


class ResponseOut(Output):
    id: UUID
    contact_id: UUID
    nps: int | None
    csat: int | None
    comment: str | None
    channel: str
    lang: str
    answered_at: datetime
    queue_id: UUID | None
    contact_channel: str
    category: str | None
    agent_id: UUID | None


@get("/api/v1/surveys/responses", opt={"authz": ("read", "survey_response")}, tags=TAGS)
async def list_responses(
    request: AnyRequest,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    queue: FromQuery[UUID | None] = None,
    comments: FromQuery[bool] = False,
    reason: Annotated[str | None, QueryParameter(max_length=300)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 500,
) -> list[ResponseOut]:
    """Answers by the tenant's local days; ``comments=true`` opens the comments (needs a
    ``reason``; the read is audited)."""
    principal = require_principal(request)
    services = services_of(request)
    today = await tenant_today(services.db, principal.tenant_id)
    client = request.scope.get("client")
    found = await actions.list_responses(
        services.db,
        services.keyring,
        principal=principal,
        day_from=day_from or day_to or today,
        day_to=day_to or day_from or today,
        queue_id=queue,
        with_comments=comments,
        reason=reason,
        ip=client[0] if client else None,
        limit=limit,
    )
    return [
        ResponseOut(**{name: getattr(view, name) for name in ResponseOut.__struct_fields__})
        for view in found
    ]


ROUTES = [read_survey_settings, write_survey_settings, send_invitation, list_responses]
