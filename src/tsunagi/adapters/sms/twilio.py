"""An SMS provider speaking the Twilio Programmable Messaging REST format, over httpx.

Implemented from the provider's published format (no SDK): a message is sent with
``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` (form fields ``To``,
``From``, ``Body``, ``StatusCallback``; HTTP basic auth with the account SID and auth
token) and answered with JSON carrying ``sid``. Inbound messages and status callbacks
are form posts signed with ``X-Twilio-Signature`` (see
``tsunagi.channels.sms.request_signature``). Other providers offering this format (and
test doubles) work by changing ``base_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

import httpx

from tsunagi.channels.sms import our_status, signature_matches
from tsunagi.ports.sms import DeliveryReport, InboundSms, Params, SmsSendError

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 10.0


class TwilioSms:
    """One provider account; ``client`` is shared by the feature (connection pooling)."""

    def __init__(self, config: TwilioConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    @property
    def messages_url(self) -> str:
        base = self.config.base_url.rstrip("/")
        return f"{base}/{API_VERSION}/Accounts/{self.config.account_sid}/Messages.json"

    async def send(self, *, to: str, sender: str, body: str, status_callback: str | None) -> str:
        form = {"To": to, "From": sender, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        try:
            response = await self.client.post(
                self.messages_url,
                data=form,
                auth=(self.config.account_sid, self.config.auth_token),
                timeout=self.config.timeout_s,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SmsSendError(
                f"provider unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            # The request may have reached the provider: its outcome is unknown.
            raise SmsSendError(
                f"no answer from the provider: {type(exc).__name__}", retryable=False,
                ambiguous=True,
            ) from exc  # fmt: skip
        return _sid_of(response)

    def parse_inbound(self, params: Params) -> InboundSms:
        fields = dict(params)
        missing = [name for name in ("MessageSid", "From", "To") if not fields.get(name)]
        if missing:
            raise ValueError(f"not an inbound message: no {', '.join(missing)}")
        return InboundSms(
            provider_id=fields["MessageSid"],
            sender=fields["From"],
            recipient=fields["To"],
            body=fields.get("Body", ""),
        )

    def parse_report(self, params: Params) -> DeliveryReport:
        fields = dict(params)
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        reported = fields.get("MessageStatus") or fields.get("SmsStatus")
        if not sid or not reported:
            raise ValueError("not a status callback: no MessageSid or MessageStatus")
        status = our_status(reported)
        if status is None:
            raise ValueError(f"unknown message status {reported[:40]!r}")
        return DeliveryReport(
            provider_id=sid,
            status=status,
            provider_status=reported,
            error_code=fields.get("ErrorCode") or None,
        )

    def verify(self, url: str, params: Params, signature: str | None) -> bool:
        return signature_matches(self.config.auth_token, url, params, signature)

    def webhook_answer(self, reply: str | None) -> tuple[bytes, str]:
        """TwiML: an empty ``<Response/>``, or one ``<Message>`` the provider sends back."""
        inner = f"<Message>{escape(reply)}</Message>" if reply else ""
        return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'.encode(), (
            "application/xml"
        )


def _sid_of(response: httpx.Response) -> str:
    if response.status_code in (200, 201):
        try:
            sid = response.json().get("sid")
        except ValueError:
            sid = None
        if isinstance(sid, str) and sid:
            return sid
        raise SmsSendError("the provider's answer has no message sid", retryable=False,
                           ambiguous=True)  # fmt: skip
    code, message = _error_of(response)
    detail = f"HTTP {response.status_code}" + (f" error {code}" if code else "")
    detail += f": {message}" if message else ""
    retryable = response.status_code == 429 or response.status_code >= 500
    raise SmsSendError(detail[:200], retryable=retryable, code=code)


def _error_of(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        data = response.json()
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("code")
    message = data.get("message")
    return (str(code) if code is not None else None), (str(message) if message else None)
