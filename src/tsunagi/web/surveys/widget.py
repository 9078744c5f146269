"""The chat widget's survey: asked after the chat has ended, answered in the widget.

``PUBLIC_API`` routes under ``/widget/{id}/`` (so the widget's CORS rules apply), limited
per address by the guard. The visitor proves which chat with the token the chat start
returned (``X-Visitor-Token``); the answer carries the signed survey token the first call
handed out, which alone names the contact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, JSONBody
from msgspec import Meta

from tsunagi.actions import surveys as actions
from tsunagi.figures.surveys import MAX_COMMENT, SurveyExpiredError
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import PUBLIC_API
from tsunagi.web.channels.widget import _ref as checked_widget
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
ASKING = {"authz": PUBLIC_API, "rate_limit": "widget"}
ANSWERING = {"authz": PUBLIC_API, "rate_limit": ("survey-answer", 1 / 12)}
TAGS = ["chat widget"]


class SurveyOut(Output):
    token: str
    questions: str  # csat | nps | both
    comment: bool
    expires_at: datetime


class AskedOut(Output):
    survey: SurveyOut | None


class AnswerIn(Input):
    token: Annotated[str, Meta(min_length=10, max_length=120)]
    nps: Annotated[int, Meta(ge=0, le=10)] | None = None
    csat: Annotated[int, Meta(ge=1, le=5)] | None = None
    comment: Annotated[str, Meta(max_length=MAX_COMMENT)] | None = None
    lang: Literal["ja", "en"] = "ja"


class AnswerOut(Output):
    answered: bool


@get("/widget/{widget_id:uuid}/survey", opt=ASKING, tags=TAGS)
async def widget_survey(request: AnyRequest, widget_id: FromPath[UUID]) -> AskedOut:
    """The survey of the visitor's chat once it has ended (``survey`` null when there is
    none: the chat goes on, the queue asks nothing in chat, or it was answered)."""
    ref = await checked_widget(request, widget_id)
    visitor_token = request.headers.get("x-visitor-token")
    if not visitor_token:
        raise NotFoundException("conversation not found")
    services = services_of(request)
    offer = await actions.offer_for_chat(
        services.db, services.keyring, tenant_id=ref.tenant_id, visitor_token=visitor_token
    )
    if offer is None:
        return AskedOut(survey=None)
    return AskedOut(
        survey=SurveyOut(
            token=offer.token,
            questions=offer.questions,
            comment=offer.comment,
            expires_at=offer.expires_at,
        )
    )


@post("/widget/{widget_id:uuid}/survey", opt=ANSWERING, tags=TAGS, status_code=201)
async def answer_widget_survey(
    request: AnyRequest, widget_id: FromPath[UUID], data: JSONBody[AnswerIn]
) -> AnswerOut:
    """The visitor's answer: 201 once; 409 if already answered; 410 when expired; 422
    for a score outside its scale (naming the field)."""
    ref = await checked_widget(request, widget_id)
    services = services_of(request)
    try:
        await actions.do_answer_survey(
            services.db,
            services.keyring,
            token=data.token,
            tenant_id=ref.tenant_id,
            answer=actions.Answer(
                nps=data.nps, csat=data.csat, comment=data.comment, lang=data.lang
            ),
        )
    except SurveyExpiredError as exc:
        raise HTTPException(status_code=410, detail=str(exc)) from exc
    return AnswerOut(answered=True)


ROUTES = [widget_survey, answer_widget_survey]
