"""Queue routing settings: skills, service level, business hours, limits and overflow.

Stored under ``Queue.config["routing"]`` (the ``queues`` table belongs to the foundation);
:func:`routing_settings` reads them with defaults, so a queue without settings still routes
by a skill named after its code.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from tsunagi.domain.errors import InvalidInputError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OverflowAction(enum.StrEnum):
    """What happens to a contact the queue cannot take or keep."""

    QUEUE = "queue"  # move to ``overflow_queue``
    CALLBACK = "callback"  # keep the place as a callback (voice) or a reply later (chat)
    VOICEMAIL = "voicemail"  # close with a message left
    MESSAGE = "message"  # play/show the closed message and close


class QueueRouting(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    skill: str | None = None
    extra_skills: list[str] = msgspec.field(default_factory=list)
    vip_skill: str | None = None
    vip_priority: int = 5
    offer_timeout_s: int = 20
    acw_max_s: int = 60
    max_wait_s: int | None = None
    max_size: int | None = None
    overflow_action: OverflowAction = OverflowAction.CALLBACK
    overflow_queue: str | None = None
    # "mon": [["09:00", "18:00"]], ... ; a weekday missing means closed; empty dict = 24/7.
    business_hours: dict[str, list[tuple[str, str]]] = msgspec.field(default_factory=dict)
    holidays: list[date] = msgspec.field(default_factory=list)
    closed_action: OverflowAction = OverflowAction.MESSAGE
    closed_message_ja: str = "ただいまの時間は受付を終了しております。"
    closed_message_en: str = "We are closed now."
    sl_alert_pct: int | None = None
    waiting_alert: int | None = None

    def routing_skill(self, queue_code: str, *, vip: bool = False) -> str:
        if vip and self.vip_skill:
            return self.vip_skill
        return self.skill or queue_code

    def validated(self) -> QueueRouting:
        if self.offer_timeout_s < 1 or self.acw_max_s < 0:
            raise InvalidInputError("offer_timeout_s must be ≥ 1 and acw_max_s ≥ 0")
        if self.overflow_action is OverflowAction.QUEUE and not self.overflow_queue:
            raise InvalidInputError("overflow_action 'queue' needs overflow_queue")
        for day, spans in self.business_hours.items():
            if day not in WEEKDAYS:
                raise InvalidInputError(f"business_hours: unknown weekday {day!r}")
            for start, end in spans:
                if _parse_time(start) >= _parse_time(end):
                    raise InvalidInputError(f"business_hours {day}: {start} is not before {end}")
        return self


def routing_settings(config: dict[str, Any] | None) -> QueueRouting:
    """The routing settings inside a queue's ``config`` (defaults when absent)."""
    raw = (config or {}).get("routing") or {}
    try:
        return msgspec.convert(raw, QueueRouting).validated()
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"queue routing settings: {exc}") from exc


def _parse_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(f"not a time of day: {text!r}") from exc


def is_open(settings: QueueRouting, at: datetime, timezone: str) -> bool:
    """Whether the queue takes contacts at ``at`` in the center's ``timezone``."""
    local = at.astimezone(ZoneInfo(timezone))
    if local.date() in settings.holidays:
        return False
    if not settings.business_hours:
        return True
    spans = settings.business_hours.get(WEEKDAYS[local.weekday()], [])
    now = local.time()
    return any(_parse_time(start) <= now < _parse_time(end) for start, end in spans)


class Admission(enum.StrEnum):
    ADMIT = "admit"
    CLOSED = "closed"
    FULL = "full"


def admit(settings: QueueRouting, *, at: datetime, timezone: str, waiting: int) -> Admission:
    """Whether a new contact may join the queue now (hours first, then the size limit)."""
    if not is_open(settings, at, timezone):
        return Admission.CLOSED
    if settings.max_size is not None and waiting >= settings.max_size:
        return Admission.FULL
    return Admission.ADMIT
