"""Provider webhooks: received messages and delivery reports (no session, signed).

Both are ``PUBLIC_API``: the caller is the provider, authenticated by the request's
signature over the URL the provider was given (``SmsAccount.hook_url``) and the posted
fields. Order of checks, cheapest first: rate limit (429), account and signature (403,
nothing read from the body is stored), fields (400), then the action.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from litestar import Request, Response, post
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.params import FromPath, FromQuery

from tsunagi.actions.sms import SmsAccount, do_receive_sms, do_record_sms_report, find_sms_account
from tsunagi.ports.sms import Params, SmsProvider
from tsunagi.web.auth import PUBLIC_API, client_ip
from tsunagi.web.public import limit_public
from tsunagi.web.services import services_of
from tsunagi.web.sms.sender import sender_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["sms"]
HOOK = {"authz": PUBLIC_API}
SIGNATURE_HEADER = "x-twilio-signature"
log = logging.getLogger(__name__)


async def _signed(
    request: AnyRequest, account_id: UUID, kind: str
) -> tuple[SmsAccount, SmsProvider, Params]:
    # Per number and caller: one abused number does not throttle the others.
    await limit_public(request, "sms-webhook", key=f"{account_id}:{client_ip(request)}")
    services = services_of(request)
    account = await find_sms_account(services.db, services.keyring, account_id)
    if account is None or not account.enabled or not account.auth_token:
        raise PermissionDeniedException("unknown or disabled SMS number")
    form = await request.form()
    params = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = account.hook_url(kind) + (f"?{query}" if query else "")
    provider = sender_of(services).provider(account)
    if not provider.verify(url, params, request.headers.get(SIGNATURE_HEADER)):
        log.warning("SMS webhook with a wrong or missing signature for account %s", account_id)
        raise PermissionDeniedException("the webhook signature is missing or wrong")
    return account, provider, params


@post("/hooks/sms/{account_id:uuid}/inbound", opt=HOOK, tags=TAGS, status_code=200)
async def inbound(request: AnyRequest, account_id: FromPath[UUID]) -> Response[bytes]:
    """A message from a customer's phone (form fields ``MessageSid``, ``From``, ``To``,
    ``Body``). The answer may carry a text for the provider to send back (HELP)."""
    account, provider, params = await _signed(request, account_id, "inbound")
    try:
        message = provider.parse_inbound(params)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    services = services_of(request)
    received = await do_receive_sms(services.db, services.keyring, account=account, inbound=message)
    body, media_type = provider.webhook_answer(received.reply)
    return Response(content=body, media_type=media_type, status_code=200)


@post("/hooks/sms/{account_id:uuid}/status", opt=HOOK, tags=TAGS, status_code=204)
async def status(
    request: AnyRequest, account_id: FromPath[UUID], m: FromQuery[UUID | None] = None
) -> None:
    """A delivery report (``MessageSid``, ``MessageStatus``, ``ErrorCode``); ``m`` is our
    message id, put in the callback URL when the message was sent."""
    account, provider, params = await _signed(request, account_id, "status")
    try:
        report = provider.parse_report(params)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    await do_record_sms_report(
        services_of(request).db, account=account, report=report, message_id=m
    )


ROUTES = [inbound, status]
