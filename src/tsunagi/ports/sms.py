"""The SMS port: what the platform asks of an SMS provider, and what it hears back.

The platform stores, routes, honours opt-outs and retries; a provider adapter only
sends one message, reads its webhooks and checks they are really from the provider.
Another provider plugs in by implementing :class:`SmsProvider` (see
``tsunagi.adapters.sms.twilio`` for the one shipped). This module is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tsunagi.domain.errors import TsunagiError

Params = Sequence[tuple[str, str]]  # form fields of a webhook, in the order received


@dataclass(frozen=True, slots=True)
class InboundSms:
    provider_id: str  # the provider's message id: the idempotency key of the webhook
    sender: str  # the customer's number (E.164)
    recipient: str  # our number
    body: str


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    provider_id: str
    status: str  # ours: queued | sent | delivered | failed (see channels.sms.our_status)
    provider_status: str
    error_code: str | None = None


class SmsSendError(TsunagiError):
    """A send did not go through.

    ``retryable``: the provider certainly did not take the message (connection refused,
    429, 5xx) — sending again cannot duplicate it. ``ambiguous``: the request may have
    reached the provider (timeout while waiting for the answer) — sending again could
    make the customer's phone ring twice, so the platform does not.
    """

    def __init__(
        self, detail: str, *, retryable: bool, ambiguous: bool = False, code: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.code = code


class SmsProvider(Protocol):
    async def send(self, *, to: str, sender: str, body: str, status_callback: str | None) -> str:
        """Hand one message to the provider; returns the provider's message id.

        Raises :class:`SmsSendError` when the provider did not (or may not have) taken it.
        """
        ...

    def parse_inbound(self, params: Params) -> InboundSms:
        """A received message from the inbound webhook's fields (ValueError if not one)."""
        ...

    def parse_report(self, params: Params) -> DeliveryReport:
        """A delivery report from the status webhook's fields (ValueError if not one)."""
        ...

    def verify(self, url: str, params: Params, signature: str | None) -> bool:
        """Whether the webhook to ``url`` with ``params`` was signed by the provider."""
        ...

    def webhook_answer(self, reply: str | None) -> tuple[bytes, str]:
        """The body and media type answering an inbound webhook; ``reply`` is a text the
        provider should send back to the customer (a HELP answer, an opt-out notice)."""
        ...
