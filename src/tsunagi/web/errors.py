"""One mapping from errors to HTTP answers: JSON for the API, a page for browsers."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
)
from litestar.types import ExceptionHandlersMap

from tsunagi.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TenantScopeMissingError,
)
from tsunagi.web.i18n import N_

AnyRequest = Request[Any, Any, Any]

# What went wrong, in words, by status: the error page's headline and the desk's and
# floor's line over a refused action (translated where shown).
STATUS_HEADLINES = {
    400: N_("The request could not be understood."),
    403: N_("You may not do this."),
    404: N_("There is no such page, or it is not yours to see."),
    409: N_("It changed meanwhile; check and try again."),
    413: N_("What was sent is too large."),
    422: N_("Some of what was entered is not valid."),
    429: N_("Too many tries; wait a moment and try again."),
}
OTHER_HEADLINE = N_("Something went wrong.")


def status_headline(status: int) -> str:
    """The untranslated headline of ``status`` (pass it to ``_``)."""
    return STATUS_HEADLINES.get(status, OTHER_HEADLINE)


_MACHINE_PATHS = ("/api/", "/ws/", "/static/", "/widget/", "/hooks/")


def _is_page(request: AnyRequest) -> bool:
    """A page's request, or a browser asking for an address that is no page (a mistyped
    or stale link): both are answered with the error page, not JSON."""
    handler: Any = request.scope.get("route_handler")  # absent when no route matched
    if handler is not None:
        return bool(handler.opt.get("page"))
    path = request.url.path
    browser = "text/html" in request.headers.get("accept", "")
    return browser and not path.startswith(_MACHINE_PATHS)


def _answer(request: AnyRequest, status: int, detail: str, extra: Any = None) -> Response[Any]:
    if _is_page(request):
        if status == HTTP_401_UNAUTHORIZED:
            return Redirect(path=f"/login?next={request.url.path}")
        return Template(
            template_name="error.html",
            # An error page does not repeat the address it was asked for (it may name
            # something the caller may not see); switching language goes home.
            context={
                "status": status,
                "detail": detail,
                "problems": _problems(extra),
                "next_path": "/",
            },
            status_code=status,
            media_type=MediaType.HTML,
        )
    body: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(content=body, status_code=status, media_type=MediaType.JSON)


def _problems(extra: Any) -> list[str]:
    """Litestar's validation details as "field: what is wrong" lines for an error page."""
    if not isinstance(extra, list):
        return []
    return [
        f"{item.get('key', '')}: {item.get('message', '')}".strip(": ")
        for item in extra
        if isinstance(item, dict)
    ]


def validation_error(request: AnyRequest, exc: ValidationException) -> Response[Any]:
    return _answer(request, HTTP_422_UNPROCESSABLE_ENTITY, exc.detail, exc.extra)


def http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    response = _answer(request, exc.status_code, exc.detail, exc.extra)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value  # e.g. Retry-After on 429
    return response


def domain_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    status = next(code for kind, code in _DOMAIN_STATUS if isinstance(exc, kind))
    return _answer(request, status, str(exc))


_DOMAIN_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundError, HTTP_404_NOT_FOUND),
    (ConflictError, HTTP_409_CONFLICT),
    (InvalidInputError, HTTP_422_UNPROCESSABLE_ENTITY),
    (AuthenticationError, HTTP_401_UNAUTHORIZED),
    (PermissionDeniedError, HTTP_403_FORBIDDEN),
    (TenantScopeMissingError, HTTP_404_NOT_FOUND),
)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: validation_error,
    NotAuthorizedException: http_error,
    PermissionDeniedException: http_error,
    HTTPException: http_error,
    NotFoundError: domain_error,
    ConflictError: domain_error,
    InvalidInputError: domain_error,
    AuthenticationError: domain_error,
    PermissionDeniedError: domain_error,
    TenantScopeMissingError: domain_error,
}
