"""``POST /api/v1/softphone/credential``: what the desk's browser softphone registers with
at the SIP edge — always the signed-in user's own name, signed for an hour."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, post

from tsunagi.actions.softphone import do_issue_softphone_credential
from tsunagi.domain.errors import NotFoundError
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


class SoftphoneCredentialOut(Output):
    ws_url: str
    """The edge's SIP-over-WebSocket address."""
    uri: str
    """The address of record the softphone registers (``sip:<user name>@<edge host>``)."""
    authorization_user: str
    password: str
    expires_at: int
    """Unix seconds: ask for a new credential before then."""
    display_name: str


@post(
    "/api/v1/softphone/credential",
    opt={"authz": ("create", "softphone")},
    tags=["voice"],
    status_code=200,
)
async def softphone_credential(request: AnyRequest) -> Response[SoftphoneCredentialOut]:
    """A short-lived credential for your own browser softphone (never another user's)."""
    services = services_of(request)
    ws_url = services.settings.voice_softphone_ws_url
    if not ws_url:
        raise NotFoundError("no softphone edge is configured (voice_softphone_ws_url)")
    principal = require_principal(request)
    issued = await do_issue_softphone_credential(services.db, services.keyring, principal=principal)
    host = urlsplit(ws_url).hostname or "tsunagi.invalid"
    body = SoftphoneCredentialOut(
        ws_url=ws_url,
        uri=f"sip:{issued.sip_user}@{host}",
        authorization_user=issued.digest_user,
        password=issued.password,
        expires_at=issued.expires_at,
        display_name=principal.display_name or issued.sip_user,
    )
    return Response(body, headers={"Cache-Control": "no-store"})


ROUTES = [softphone_credential]
