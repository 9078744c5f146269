"""SMS as pure rules: keywords, segments, webhook signatures, delivery-status order.

Nothing here does I/O. The provider adapter (``tsunagi.adapters.sms``) speaks HTTP; the
actions (``tsunagi.actions.sms``) store and announce; this module decides what a text
*means* (an opt-out, a request for help), how many segments it costs, whether a webhook
was signed by the provider, and whether a delivery report moves a message forward.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from tsunagi.domain.events import Event

# --------------------------------------------------------------------------- keywords


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


# The industry-standard English words (the ones carriers and providers honour) and the
# Japanese ones customers of a Japanese center actually send.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "停止", "配信停止"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "再開"})
HELP_WORDS = frozenset({"HELP", "INFO", "ヘルプ"})
_TRAILING = " \t\n.!?。！？、,"


def keyword_of(body: str | None) -> tuple[Keyword, str] | None:
    """The keyword a whole message is (and the word as matched), else None.

    Only a message that *is* the keyword counts (width- and case-insensitive, trailing
    punctuation ignored): "Please stop by the shop" is a message, not an opt-out.
    """
    if not body:
        return None
    word = unicodedata.normalize("NFKC", body).strip().rstrip(_TRAILING).strip().upper()
    for kind, words in (
        (Keyword.OPT_OUT, OPT_OUT_WORDS),
        (Keyword.OPT_IN, OPT_IN_WORDS),
        (Keyword.HELP, HELP_WORDS),
    ):
        if word in words:
            return kind, word
    return None


# --------------------------------------------------------------------------- segments

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + char:
# two septets each). Anything else forces UCS-2 for the whole message.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Per segment: a single message vs one part of a concatenated message (the user data
# header of 6 bytes takes 7 septets or 3 UCS-2 characters).
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of one segment in this message (160/153, 70/67)


def _gsm7_units(text: str) -> list[int] | None:
    units = []
    for char in text:
        if char in GSM7_BASIC:
            units.append(1)
        elif char in GSM7_EXTENDED:
            units.append(2)
        else:
            return None
    return units


def _ucs2_units(text: str) -> list[int]:
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def _pack(units: list[int], part: int) -> int:
    """Segments needed when no character (escape pair, surrogate pair) may be split."""
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count


def count_segments(text: str) -> Segments:
    """How many SMS segments ``text`` is sent as (what the customer's carrier bills).

    GSM-7 when every character is in the GSM default alphabet or its extension table
    (extension characters cost two septets): 160 septets in one SMS, 153 per part when
    concatenated. Otherwise UCS-2 (Japanese always is): 70 UTF-16 units in one SMS, 67
    per part; characters outside the BMP (most emoji) cost two units. A character is
    never split across parts, so a part may hold one unit fewer than its capacity.
    """
    gsm = _gsm7_units(text)
    if gsm is not None:
        encoding, units, single, part = "GSM-7", gsm, GSM7_SINGLE, GSM7_PART
    else:
        encoding, units, single, part = "UCS-2", _ucs2_units(text), UCS2_SINGLE, UCS2_PART
    total = sum(units)
    if total <= single:
        return Segments(encoding, total, 1 if total else 0, single)
    return Segments(encoding, total, _pack(units, part), part)


# ------------------------------------------------------------------------- signatures


def request_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` of a webhook: base64 of HMAC-SHA1 keyed with the auth
    token over the full URL (with its query string) followed by every POST parameter,
    sorted by name, as name then value with no separators (a field repeated with the same
    value counts once, as the provider's reference validators do)."""
    data = url + "".join(key + value for key, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_matches(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], presented: str | None
) -> bool:
    """Whether ``presented`` is the provider's signature of this request (constant time)."""
    if not presented or not auth_token:
        return False
    expected = request_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), presented.strip().encode())


# --------------------------------------------------------------------- delivery status

# The provider's statuses as ours. Reports can arrive in any order (each is its own HTTP
# request, retried independently): a message only moves forward along
# queued → sent → delivered, or to failed, and a final status is never left.
PROVIDER_STATUS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
_RANK = {"queued": 1, "sent": 2, "delivered": 3, "failed": 3}


def our_status(provider_status: str) -> str | None:
    return PROVIDER_STATUS.get(provider_status.strip().lower())


def advances(current: str, reported: str) -> bool:
    """Whether a report of ``reported`` moves a message now at ``current``."""
    if current in ("delivered", "failed"):
        return False
    return _RANK.get(reported, 0) > _RANK.get(current, 0)


def retry_delay_s(attempt: int, *, base_s: float = 2.0, cap_s: float = 300.0) -> float:
    """Exponential backoff after the ``attempt``-th failed send (1, 2, …)."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))


# ----------------------------------------------------------------------------- events


class SmsStatusChangedEvent(Event, frozen=True, kw_only=True, tag="sms.status_changed"):
    """An outbound SMS moved on (sent, delivered, failed); no text, no number."""

    resource: ClassVar[str] = "conversation"
    conversation_id: UUID
    message_id: UUID
    status: str
    error_code: str | None = None


class SmsOptOutChangedEvent(Event, frozen=True, kw_only=True, tag="sms.opt_out_changed"):
    """A number opted out of (or back into) SMS from an account; the number stays sealed."""

    resource: ClassVar[str] = "conversation"
    account_id: UUID
    opted_out: bool
    keyword: str


class SmsAccountConfiguredEvent(Event, frozen=True, kw_only=True, tag="sms_account.configured"):
    """A queue's SMS number was set up or changed (never the token)."""

    resource: ClassVar[str] = "channel_account"
    account_id: UUID
    queue_id: UUID
    enabled: bool
