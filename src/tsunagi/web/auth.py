"""Who is calling, whether they may, and CSRF — for every route and WebSocket.

* Authentication: ``Authorization: Bearer tsu_…`` (API token, limited by its scopes) or
  the ``tsunagi_session`` cookie (a server-side session).
* Authorization: every handler declares ``opt={"authz": (action, resource)}`` or
  ``opt={"authz": PUBLIC}`` (or ``PUBLIC_API``, see below); the app-wide guard calls
  :func:`authorize` with it. A handler without an entry is refused (fail closed) and the
  route-matrix test fails.
* CSRF: cookie-authenticated unsafe requests carry ``X-CSRF-Token`` (or a ``_csrf``
  form field) equal to an HMAC of the session cookie; anonymous form posts bind it to a
  pre-session cookie instead. Bearer-token requests carry no ambient credential.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)

from tsunagi.actions.accounts import resolve_api_token, resolve_session
from tsunagi.actions.audit import do_record_denial
from tsunagi.adapters.security.tokens import csrf_matches, csrf_token
from tsunagi.domain.errors import NotFoundError, PermissionDeniedError
from tsunagi.domain.permissions import Action, Principal, Resource, authorize
from tsunagi.web.public import limit_route
from tsunagi.web.services import services_of

SESSION_COOKIE = "tsunagi_session"
ANON_COOKIE = "tsunagi_anon"
LANG_COOKIE = "tsunagi_lang"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
PUBLIC = "public"
# Public endpoints called without ambient credentials — the chat widget on a customer's
# site (it presents its own bearer token), provider webhooks (signed): no cookie means no
# CSRF to check, so the handler authenticates the caller itself and is rate-limited
# (``tsunagi.web.public.limit_public``). Such a handler must never act on a session.
PUBLIC_API = "public_api"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Connection = ASGIConnection[Any, Any, Any, Any]


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: Connection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        principal = await principal_now(connection)
        if header.lower().startswith("bearer "):
            if principal is None:
                raise NotAuthorizedException("invalid, expired or revoked API token")
            return AuthenticationResult(user=principal, auth="token")
        if principal is not None:
            return AuthenticationResult(user=principal, auth="session")
        return AuthenticationResult(user=None, auth=None)


async def principal_now(connection: Connection) -> Principal | None:
    """Who the connection's credentials (bearer token, else session cookie) name right now:
    None once the token or session is revoked or expired. Long-lived sockets call it again
    to notice a revocation."""
    credential = credential_of(connection)
    if credential is None:
        return None
    kind, value = credential
    db = services_of(connection).db
    return await (resolve_api_token(db, value) if kind == "token" else resolve_session(db, value))


def credential_of(connection: Connection) -> tuple[str, str] | None:
    """The credential :func:`principal_now` would look up: ``("token", …)`` for a bearer
    token, else ``("session", …)`` for the session cookie (for batched re-checks:
    :func:`tsunagi.actions.accounts.resolve_many`)."""
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return "token", header[7:].strip()
    cookie = connection.cookies.get(SESSION_COOKIE)
    return ("session", cookie) if cookie else None


def current_principal(connection: Connection) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


def require_principal(connection: Connection) -> Principal:
    principal = current_principal(connection)
    if principal is None:
        raise NotAuthorizedException("sign in first")
    return principal


def csrf_binding(connection: Connection) -> str | None:
    """The cookie value a CSRF token is bound to for this request (None: no cookie auth)."""
    if connection.scope.get("auth") == "session":
        return connection.cookies.get(SESSION_COOKIE)
    if connection.scope.get("auth") == "token":
        return None
    return connection.cookies.get(ANON_COOKIE)


def csrf_for(connection: Connection, anon_value: str | None = None) -> str:
    """The token to embed in a page's forms (``anon_value``: a pre-session cookie just set)."""
    bound = csrf_binding(connection) or anon_value or ""
    return csrf_token(services_of(connection).settings.secret_key, bound)


async def authz_guard(connection: Connection, handler: BaseRouteHandler) -> None:
    spec = handler.opt.get("authz")
    if spec is None:
        raise PermissionDeniedException("this route has no authorization entry")
    method = connection.scope.get("method", "GET")
    unsafe = method not in SAFE_METHODS and connection.scope["type"] == ScopeType.HTTP
    if spec in (PUBLIC, PUBLIC_API) and (limit := handler.opt.get("rate_limit")) is not None:
        await limit_route(connection, limit)
    if spec == PUBLIC_API:
        return
    if spec == PUBLIC:
        if unsafe:
            await _check_csrf(connection)
        return
    principal = require_principal(connection)  # a stale session is told to sign in (401)
    if unsafe:
        await _check_csrf(connection)
    action, kind = spec
    try:
        authorize(principal, Action(action), Resource(kind=kind, tenant_id=principal.tenant_id))
    except (PermissionDeniedError, NotFoundError) as exc:
        await do_record_denial(
            services_of(connection).db,
            tenant_id=principal.tenant_id,
            actor_user_id=principal.user_id,
            resource_type=kind,
            action=action,
            reason=str(exc),
            ip=_client_ip(connection),
            path=connection.url.path,
        )
        raise PermissionDeniedException(str(exc)) from exc


async def _check_csrf(connection: Connection) -> None:
    bound = csrf_binding(connection)
    if connection.scope.get("auth") == "token":
        return
    presented = connection.headers.get(CSRF_HEADER)
    if presented is None and _is_form(connection):
        form = await connection.form()  # type: ignore[attr-defined]
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not bound or not csrf_matches(services_of(connection).settings.secret_key, bound, presented):
        raise PermissionDeniedException(
            "missing or wrong CSRF token; reload the page and try again"
        )


def _is_form(connection: Connection) -> bool:
    content_type = connection.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _client_ip(connection: Connection) -> str | None:
    client = connection.scope.get("client")
    return client[0] if client else None


def client_ip(connection: Connection) -> str | None:
    return _client_ip(connection)


def check(principal: Principal, action: Action, resource: Resource) -> None:
    """Object-level check inside a handler (ownership, tenant of a loaded row)."""
    try:
        authorize(principal, action, resource)
    except PermissionDeniedError as exc:
        raise PermissionDeniedException(str(exc)) from exc
