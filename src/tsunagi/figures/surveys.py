"""Customer surveys after a contact: the two questions, their scales, the settings of a
queue, the signed invitation token and the ``survey.answered`` event (issue 6).

* **NPS** — "How likely are you to recommend us?" 0-10. Promoters answer 9-10,
  passives 7-8, detractors 0-6. NPS = 100 · (promoters − detractors) ÷ answers.
* **CSAT** — "How satisfied were you?" 1-5. Satisfied answers are 4-5; CSAT = satisfied ÷
  answers (also the average score).

An invitation is a token, not a row: it names the tenant, the contact, the questions, the
channel it was sent by and when it expires, and carries an HMAC of all that under a key
only the tenant's keyring can derive. Nobody can make or alter one without that key; a
contact answers once (the ``survey_responses`` row is unique per contact and survey kind).
Pure: the MAC is computed by the caller (``TenantCipher.mac``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal
from uuid import UUID

import msgspec

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event

NPS_MIN, NPS_MAX = 0, 10
CSAT_MIN, CSAT_MAX = 1, 5
PROMOTER_FROM = 9  # 9-10
DETRACTOR_TO = 6  # 0-6
SATISFIED_FROM = 4  # 4-5
MAX_COMMENT = 2000
SURVEY_KIND = "contact"  # the survey after a contact; one answer per contact and kind
TOKEN_PURPOSE = "survey-token"  # noqa: S105 - a key-derivation label, not a secret
TOKEN_VERSION = 1
MAC_BYTES = 16

# The channels an invitation can be sent by (and an answer come through), by code.
CHANNEL_CODES: dict[str, int] = {"chat": 1, "email": 2, "sms": 3, "web": 4}
CHANNEL_NAMES = {code: name for name, code in CHANNEL_CODES.items()}
ASKING_CHANNELS = ("chat", "email", "sms")  # where a queue can turn surveys on

Questions = Literal["csat", "nps", "both"]


# ----------------------------------------------------------------- the scales


def is_promoter(score: int) -> bool:
    return score >= PROMOTER_FROM


def is_detractor(score: int) -> bool:
    return score <= DETRACTOR_TO


def is_satisfied(score: int) -> bool:
    return score >= SATISFIED_FROM


def check_scores(nps: int | None, csat: int | None, questions: Questions) -> None:
    """Refuse an answer outside the scales, to a question not asked, or with no score."""
    if nps is not None and not NPS_MIN <= nps <= NPS_MAX:
        raise InvalidInputError(f"nps: must be from {NPS_MIN} to {NPS_MAX}")
    if csat is not None and not CSAT_MIN <= csat <= CSAT_MAX:
        raise InvalidInputError(f"csat: must be from {CSAT_MIN} to {CSAT_MAX}")
    if nps is not None and questions == "csat":
        raise InvalidInputError("nps: this survey does not ask it")
    if csat is not None and questions == "nps":
        raise InvalidInputError("csat: this survey does not ask it")
    if nps is None and csat is None:
        raise InvalidInputError("csat: please choose a score")


def survey_measures(nps: int | None, csat: int | None) -> dict[str, int]:
    """What one answer adds to its interval (see docs/figures.md, *Surveys*)."""
    return {
        "nps_answers": int(nps is not None),
        "nps_promoters": int(nps is not None and is_promoter(nps)),
        "nps_detractors": int(nps is not None and is_detractor(nps)),
        "csat_answers": int(csat is not None),
        "csat_satisfied": int(csat is not None and is_satisfied(csat)),
        "csat_score_sum": csat or 0,
    }


# ------------------------------------------------------------------- settings


class SurveySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A queue's survey settings, ``queues.config["survey"]``; off until channels are named."""

    channels: list[str] = msgspec.field(default_factory=list)  # chat | email | sms
    questions: Questions = "both"
    expire_days: int = 7
    comment: bool = True

    def validated(self) -> SurveySettings:
        for channel in self.channels:
            if channel not in ASKING_CHANNELS:
                raise InvalidInputError(
                    f"channels: {channel!r} is not one of {', '.join(ASKING_CHANNELS)}"
                )
        if len(set(self.channels)) != len(self.channels):
            raise InvalidInputError("channels: a channel may appear once")
        if not 1 <= self.expire_days <= 90:
            raise InvalidInputError("expire_days: must be from 1 to 90")
        return self

    def asks(self, channel: str) -> bool:
        return channel in self.channels


def survey_settings(config: dict[str, object] | None) -> SurveySettings:
    """The survey settings inside a queue's ``config`` (off when absent)."""
    raw = (config or {}).get("survey") or {}
    try:
        return msgspec.convert(raw, SurveySettings).validated()
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"queue survey settings: {exc}") from exc


# ---------------------------------------------------------------------- token

_LAYOUT = struct.Struct(">B16s16sIBB")  # version, tenant, contact, expires (s), questions, channel
_QUESTION_BITS: dict[Questions, int] = {"nps": 1, "csat": 2, "both": 3}
_BITS_QUESTIONS = {bits: name for name, bits in _QUESTION_BITS.items()}


class SurveyTokenError(InvalidInputError):
    """A token that is not one of ours (malformed, altered, or for another tenant)."""


class SurveyExpiredError(InvalidInputError):
    """A genuine token whose time to answer is over."""


@dataclass(frozen=True, slots=True)
class Invitation:
    tenant_id: UUID
    contact_id: UUID
    questions: Questions
    channel: str
    expires_at: datetime

    def payload(self) -> bytes:
        return _LAYOUT.pack(
            TOKEN_VERSION,
            self.tenant_id.bytes,
            self.contact_id.bytes,
            int(self.expires_at.timestamp()),
            _QUESTION_BITS[self.questions],
            CHANNEL_CODES[self.channel],
        )

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def invitation(
    *,
    tenant_id: UUID,
    contact_id: UUID,
    settings: SurveySettings,
    channel: str,
    now: datetime,
) -> Invitation:
    """An invitation valid ``settings.expire_days`` from ``now`` (whole seconds)."""
    expires = (now + timedelta(days=settings.expire_days)).replace(microsecond=0)
    return Invitation(tenant_id, contact_id, settings.questions, channel, expires)


def encode_token(invite: Invitation, mac: bytes) -> str:
    """``payload + mac`` in URL-safe base64 without padding (74 characters)."""
    raw = invite.payload() + mac[:MAC_BYTES]
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_token(token: str) -> tuple[Invitation, bytes, bytes]:
    """(invitation, payload, mac) of a token, *not yet verified*: the caller checks the
    mac with the tenant's key (:func:`mac_matches`) before trusting anything in it."""
    text = token.strip()
    if not text or len(text) > 120:
        raise SurveyTokenError("this survey link is not valid")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SurveyTokenError("this survey link is not valid") from exc
    if len(raw) != _LAYOUT.size + MAC_BYTES:
        raise SurveyTokenError("this survey link is not valid")
    payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    version, tenant, contact, expires, bits, channel = _LAYOUT.unpack(payload)
    questions = _BITS_QUESTIONS.get(bits)
    channel_name = CHANNEL_NAMES.get(channel)
    if version != TOKEN_VERSION or questions is None or channel_name is None:
        raise SurveyTokenError("this survey link is not valid")
    invite = Invitation(
        UUID(bytes=tenant),
        UUID(bytes=contact),
        questions,
        channel_name,
        datetime.fromtimestamp(expires, UTC),
    )
    return invite, payload, mac


def mac_matches(expected: bytes, presented: bytes) -> bool:
    return hmac.compare_digest(expected[:MAC_BYTES], presented)


# ---------------------------------------------------------------------- event


class SurveyAnsweredEvent(Event, frozen=True, kw_only=True, tag="survey.answered"):
    """A customer answered the survey of a contact. Scores only: a comment is personal
    data, sealed in ``survey_responses``; the event says only whether there is one.

    ``contact_channel`` and ``queue_id`` are the contact's as the answer found it; the
    figures use them only for a contact they have no record of.
    """

    resource: ClassVar[str] = "survey_response"
    response_id: UUID
    contact_id: UUID
    channel: str  # how the answer came: chat (widget), email or sms (link page)
    contact_channel: str
    queue_id: UUID | None = None
    nps: int | None = None
    csat: int | None = None
    commented: bool = False
