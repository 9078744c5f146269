"""Sign-in, sign-out and the language switch (server-rendered forms)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Response, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_401_UNAUTHORIZED,
    HTTP_429_TOO_MANY_REQUESTS,
)

from tsunagi.actions import accounts
from tsunagi.adapters.security.tokens import new_secret
from tsunagi.domain.errors import AuthenticationError
from tsunagi.domain.permissions import Role
from tsunagi.web.auth import (
    ANON_COOKIE,
    LANG_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    client_ip,
    csrf_for,
    current_principal,
)
from tsunagi.web.i18n import LANGUAGES, N_
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
# Rate-limited per address like every public route; ten times the public rate because a
# whole floor signs in from behind one NAT (sign-in attempts have their own limit below).
PAGE = {"authz": PUBLIC, "page": True, "rate_limit": ("pages", 10)}
HOME_PRECEDENCE = (
    Role.ADMINISTRATOR,
    Role.MANAGER,
    Role.SUPERVISOR,
    Role.COMMUNICATOR,
    Role.CLIENT_VIEWER,
)


class LoginForm(msgspec.Struct, forbid_unknown_fields=True):
    username: str = ""
    password: str = ""
    next: str = "/"
    csrf: str = msgspec.field(default="", name="_csrf")


class LanguageForm(msgspec.Struct, forbid_unknown_fields=True):
    lang: str = ""
    next: str = "/"
    csrf: str = msgspec.field(default="", name="_csrf")


def _safe_next(target: str) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _cookie(
    request: AnyRequest, key: str, value: str, max_age: int | None, *, http_only: bool = True
) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        httponly=http_only,
        samesite="lax",
        secure=services_of(request).settings.secure_cookies,
        path="/",
    )


def _login_page(
    request: AnyRequest, *, error: str | None, status: int = 200, next_path: str = "/"
) -> Response[Any]:
    anon = request.cookies.get(ANON_COOKIE)
    cookies = []
    if not anon:
        anon = new_secret()
        cookies.append(_cookie(request, ANON_COOKIE, anon, None))
    return Template(
        template_name="login.html",
        context={
            "error": error,
            "csrf": csrf_for(request, anon_value=anon),
            "next": _safe_next(next_path),
        },
        status_code=status,
        cookies=cookies,
    )


@get("/login", opt=PAGE, name="login")
async def login_page(request: AnyRequest, next: FromQuery[str] = "/") -> Response[Any]:
    if current_principal(request) is not None:
        return Redirect(path=_safe_next(next))
    return _login_page(request, error=None, next_path=next)


@post("/login", opt=PAGE)
async def login_submit(
    request: AnyRequest,
    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    services = services_of(request)
    ip = client_ip(request) or "unknown"
    # Per account and address (the limit), and per address for a whole floor behind one NAT.
    limiter, settings = services.login_limiter, services.settings
    wait_s = await limiter.hit(f"login:{ip}:{data.username.strip().lower()}") or await limiter.hit(
        f"login-ip:{ip}", limit=settings.login_attempts_per_window * settings.login_ip_multiplier
    )
    if wait_s is not None:
        response = _login_page(
            request,
            error=N_("Too many sign-in attempts. Wait and try again."),
            status=429,
            next_path=data.next,
        )
        response.headers["Retry-After"] = str(wait_s)
        response.status_code = HTTP_429_TOO_MANY_REQUESTS
        return response
    try:
        signed_in = await accounts.do_sign_in(
            services.db,
            services.hasher,
            username=data.username.strip(),
            password=data.password,
            max_age_s=services.settings.session_max_age_s,
            ip=ip,
            user_agent=request.headers.get("user-agent"),
        )
    except AuthenticationError:
        return _login_page(
            request,
            error=N_("Wrong username or password."),
            status=HTTP_401_UNAUTHORIZED,
            next_path=data.next,
        )
    old_session = request.cookies.get(SESSION_COOKIE)
    if (
        old_session
        and (old := await accounts.resolve_session(services.db, old_session)) is not None
    ):
        await accounts.do_sign_out(services.db, principal=old)
    target = _safe_next(data.next) if data.next != "/" else "/"
    return Redirect(
        path=target,
        status_code=HTTP_303_SEE_OTHER,
        cookies=[
            _cookie(
                request,
                SESSION_COOKIE,
                signed_in.session_token,
                services.settings.session_max_age_s,
            )
        ],
    )


@post("/logout", opt={"authz": ("read", "account"), "page": True})
async def logout(request: AnyRequest) -> Response[Any]:
    principal = current_principal(request)
    if principal is not None:
        await accounts.do_sign_out(services_of(request).db, principal=principal)
    response = Redirect(path="/login", status_code=HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@post("/language", opt=PAGE)
async def set_language(
    request: AnyRequest,
    data: Annotated[LanguageForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    if data.lang not in LANGUAGES:
        return Template(
            template_name="error.html",
            context={"status": 422, "detail": f"unknown language {data.lang!r}"},
            status_code=422,
        )
    principal = current_principal(request)
    if principal is not None:
        await accounts.do_set_locale(services_of(request).db, principal=principal, locale=data.lang)
    return Redirect(
        path=_safe_next(data.next),
        status_code=HTTP_303_SEE_OTHER,
        cookies=[_cookie(request, LANG_COOKIE, data.lang, 365 * 24 * 3600)],
    )


@get("/", opt={"authz": ("read", "account"), "page": True})
async def index(request: AnyRequest) -> Redirect:
    principal = current_principal(request)
    assert principal is not None
    role = next(role for role in HOME_PRECEDENCE if role in principal.roles)
    return Redirect(path=f"/home/{role.value}")


ROUTES = [login_page, login_submit, logout, set_language, index]
