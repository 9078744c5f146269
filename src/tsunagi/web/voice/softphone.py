"""``POST /api/v1/softphone/credential``: what the desk's browser softphone registers with
at the SIP edge — always the signed-in user's own name, signed for an hour.
``GET /api/v1/softphone/phone-password``: the signed-in user's desk phone settings and
password at the same edge (audited)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post

from tsunagi.actions.softphone import do_issue_softphone_credential, do_read_phone_password
from tsunagi.adapters.telephony.edge_auth import EDGE_REALM
from tsunagi.domain.errors import NotFoundError
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import client_ip, require_principal
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


class DeskPhoneOut(Output):
    sip_user: str
    """The phone's user name, also its digest (authentication) user name."""
    domain: str
    """The edge phones register at (``host:port``, the SIP domain and registrar)."""
    transport: str
    password: str
    """Derived from the installation's master key: it changes only when that key does."""
    realm: str


@get(
    "/api/v1/softphone/phone-password",
    opt={"authz": ("read", "softphone")},
    tags=["voice"],
)
async def desk_phone_password(request: AnyRequest) -> Response[DeskPhoneOut]:
    """Your own desk phone's settings and password at the SIP edge (never another user's;
    not for API tokens). Every read is audited."""
    services = services_of(request)
    edge = services.settings.voice_edge_sip
    if not edge:
        raise NotFoundError("no SIP edge for desk phones is configured (voice_edge_sip)")
    principal = require_principal(request)
    username, password = await do_read_phone_password(
        services.db, services.keyring, principal=principal, ip=client_ip(request)
    )
    body = DeskPhoneOut(
        sip_user=username, domain=edge, transport="udp", password=password, realm=EDGE_REALM
    )
    return Response(body, headers={"Cache-Control": "no-store"})


ROUTES = [softphone_credential, desk_phone_password]
