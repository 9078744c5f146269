"""The public survey page of an email or SMS link: ``/survey/{token}``.

A plain form without script (radio buttons for the scores, a text area for the comment),
Japanese or English (``?lang=``, the visitor's cookie, then the center's language). The
form is a same-origin ``PUBLIC`` post whose CSRF token is bound to the anonymous cookie
set by the page; both routes count against the ``survey`` rate limit of the caller's
address in the guard, before the form is read.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Response, Template

from tsunagi.actions import surveys as actions
from tsunagi.adapters.security.tokens import new_secret
from tsunagi.domain.errors import ConflictError, InvalidInputError
from tsunagi.figures.surveys import SurveyExpiredError, SurveyTokenError
from tsunagi.web.auth import ANON_COOKIE, LANG_COOKIE, PUBLIC, csrf_for
from tsunagi.web.i18n import LANGUAGES, N_, current_locale
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
PAGE = {"authz": PUBLIC, "page": True, "rate_limit": "survey"}
NPS_RANGE = tuple(range(11))
CSAT_LABELS = (
    (1, N_("Very dissatisfied")),
    (2, N_("Dissatisfied")),
    (3, N_("Neither")),
    (4, N_("Satisfied")),
    (5, N_("Very satisfied")),
)


class AnswerForm(msgspec.Struct, forbid_unknown_fields=True):
    nps: str = ""
    csat: str = ""
    comment: str = ""
    csrf: str = msgspec.field(default="", name="_csrf")


def _language(request: AnyRequest, asked: str | None, default: str) -> str:
    for candidate in (asked, request.cookies.get(LANG_COOKIE), default):
        if candidate in LANGUAGES:
            current_locale.set(candidate)
            return candidate
    return current_locale.get()


def _page(request: AnyRequest, context: dict[str, Any], *, status: int = 200) -> Response[Any]:
    """The survey template with a CSRF token bound to the anonymous cookie (set if new)."""
    anon = request.cookies.get(ANON_COOKIE)
    secure = services_of(request).settings.secure_cookies
    cookies = []
    if not anon:
        anon = new_secret()
        cookies.append(
            Cookie(key=ANON_COOKIE, value=anon, httponly=True, samesite="lax", secure=secure)
        )
    if request.query_params.get("lang") in LANGUAGES:
        cookies.append(
            Cookie(
                key=LANG_COOKIE,
                value=current_locale.get(),
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="lax",
                secure=secure,
            )
        )
    return Template(
        template_name="survey/answer.html",
        context={
            "csrf": csrf_for(request, anon_value=anon),
            "nps_range": NPS_RANGE,
            "csat_labels": CSAT_LABELS,
            "values": {},
            "error": None,
            "done": False,
            "survey": None,
            **context,
        },
        status_code=status,
        cookies=cookies,
        # The address holds the invitation: not cached, not passed on as a referrer.
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _refused(request: AnyRequest, exc: Exception) -> Response[Any]:
    """A token that cannot be answered: a page saying why (no form)."""
    if isinstance(exc, SurveyExpiredError):
        return _page(request, {"gone": str(exc)}, status=410)
    if isinstance(exc, ConflictError):
        return _page(request, {"done": True, "already": True}, status=409)
    return _page(request, {"gone": N_("This survey link is not valid.")}, status=404)


@get("/survey/{token:str}", opt=PAGE, name="survey-page")
async def survey_page(
    request: AnyRequest, token: FromPath[str], lang: FromQuery[str | None] = None
) -> Response[Any]:
    """The questions of an invitation (or why it cannot be answered)."""
    services = services_of(request)
    _language(request, lang, "ja")
    try:
        survey = await actions.open_survey(services.db, services.keyring, token=token)
    except (SurveyTokenError, SurveyExpiredError) as exc:
        return _refused(request, exc)
    _language(request, lang, survey.default_locale)
    if survey.answered:
        return _refused(request, ConflictError(actions.ANSWERED))
    return _page(request, {"survey": survey, "token": token})


def _score(text: str, field: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise InvalidInputError(f"{field}: must be a whole number") from exc


@post("/survey/{token:str}", opt=PAGE)
async def answer_survey(
    request: AnyRequest,
    token: FromPath[str],
    data: Annotated[AnswerForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    """Record the answer; the thank-you page, or the form again with what is wrong."""
    services = services_of(request)
    lang = _language(request, None, "ja")
    values = {"nps": data.nps, "csat": data.csat, "comment": data.comment}
    try:
        survey = await actions.open_survey(services.db, services.keyring, token=token)
    except (SurveyTokenError, SurveyExpiredError) as exc:
        return _refused(request, exc)
    try:
        await actions.do_answer_survey(
            services.db,
            services.keyring,
            token=token,
            answer=actions.Answer(
                nps=_score(data.nps, "nps"),
                csat=_score(data.csat, "csat"),
                comment=data.comment or None,
                lang=lang,
            ),
        )
    except ConflictError as exc:
        return _refused(request, exc)
    except InvalidInputError as exc:
        context = {"survey": survey, "token": token, "values": values, "error": str(exc)}
        return _page(request, context, status=422)
    return _page(request, {"done": True})


ROUTES = [survey_page, answer_survey]
