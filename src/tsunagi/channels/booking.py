"""Web callback booking (電話予約(WEB)): settings, slots, capacity, references, phone numbers.

Pure: no database, no web. ``actions/booking.py`` reads the history and the bookings and
calls these functions; ``docs/architecture/booking.md`` explains the model.

Capacity of one slot (:func:`slot_capacity`), with the WFM maths of ``tsunagi.wfm``::

    a      = V · AHT / T                       offered inbound load (Erlangs) in the slot
    n_req  = required_agents(a, AHT, SL target)  Erlang C staffing for the queue's target
    spare  = max(0, N − n_req)                  agents the inbound traffic does not need
    seats  = ⌊ share · spare · T / H ⌋          callbacks of H seconds in a share of that time
    seats  = min(seats, max_per_slot)           when a cap is configured

``V`` is the forecast inbound volume of the slot, ``AHT`` its handle time, ``T`` the slot
length in seconds, ``N`` the planned agents, ``share`` the part of the spare time given to
booked callbacks (the rest absorbs forecast error) and ``H`` a callback's handle time.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event
from tsunagi.routing.queues import WEEKDAYS, QueueRouting, is_open
from tsunagi.wfm.staffing import Target, exact, required_agents, traffic

SLOT_MINUTES = (15, 30, 60)
# No 0/O, 1/I/L: a reference read out on the phone or typed from a screenshot stays right.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8
NAME_MAX = 100
NOTE_MAX = 500
MEMBER_MAX = 32
# Eleven-digit Japanese numbers: mobile (070/080/090), IP phone (050), M2M/pager (020, 060),
# toll-free (0800). Every other number has ten digits (area code + subscriber, 0120, 0570).
_ELEVEN_DIGIT_PREFIXES = ("070", "080", "090", "050", "020", "060", "0800")


def N_(message: str) -> str:  # noqa: N802 - the catalogue extraction knows this name
    """Mark a message the customer sees; the page translates it (``web/i18n.py``)."""
    return message


class BookingSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-queue booking settings, stored under ``queues.config["booking"]``."""

    enabled: bool = False
    slot_minutes: int = 30
    days_ahead: int = 14
    # A slot must start at least this long after the booking (time to plan for it).
    min_notice_minutes: int = 60
    # Part of the spare agent time that booked callbacks may take (0–1).
    spare_share: float = 0.5
    # Agents planned on the queue per slot; a weekday entry ("mon": 4) overrides it.
    planned_agents: int = 0
    planned_by_weekday: dict[str, int] = msgspec.field(default_factory=dict)
    # Inbound contacts expected per slot; None = forecast from the queue's figures history.
    expected_per_slot: float | None = None
    history_weeks: int = 6
    # Handle times when the history has none, and of a callback (None = the inbound AHT).
    aht_s: int = 300
    callback_handle_s: int | None = None
    max_per_slot: int | None = None
    max_per_phone_per_day: int = 3
    # Topics a customer may choose (shown as given, stored with the booking).
    topics: list[str] = msgspec.field(default_factory=list)

    def validated(self) -> BookingSettings:
        problems = []
        if self.slot_minutes not in SLOT_MINUTES:
            problems.append(f"slot_minutes must be one of {', '.join(map(str, SLOT_MINUTES))}")
        if not 1 <= self.days_ahead <= 90:
            problems.append("days_ahead must be 1–90")
        if not 0 <= self.min_notice_minutes <= 7 * 24 * 60:
            problems.append("min_notice_minutes must be 0–10080")
        if not 0 <= self.spare_share <= 1:
            problems.append("spare_share must be between 0 and 1")
        if not 0 <= self.planned_agents <= 10_000:
            problems.append("planned_agents must be 0–10000")
        for day, agents in self.planned_by_weekday.items():
            if day not in WEEKDAYS or not 0 <= agents <= 10_000:
                problems.append(f"planned_by_weekday: {day!r} must be a weekday with 0–10000")
        if self.expected_per_slot is not None and not 0 <= self.expected_per_slot <= 1e6:
            problems.append("expected_per_slot must be 0–1000000")
        if not 1 <= self.history_weeks <= 52:
            problems.append("history_weeks must be 1–52")
        if not 10 <= self.aht_s <= 36_000:
            problems.append("aht_s must be 10–36000")
        if self.callback_handle_s is not None and not 10 <= self.callback_handle_s <= 36_000:
            problems.append("callback_handle_s must be 10–36000")
        if self.max_per_slot is not None and not 0 <= self.max_per_slot <= 10_000:
            problems.append("max_per_slot must be 0–10000")
        if not 1 <= self.max_per_phone_per_day <= 100:
            problems.append("max_per_phone_per_day must be 1–100")
        if len(self.topics) > 30 or any(not 0 < len(t.strip()) <= 63 for t in self.topics):
            problems.append("topics: at most 30, each 1–63 characters")
        if problems:
            raise InvalidInputError("; ".join(problems))
        return self

    def agents_on(self, day: date) -> int:
        return self.planned_by_weekday.get(WEEKDAYS[day.weekday()], self.planned_agents)


def booking_settings(config: dict[str, object] | None) -> BookingSettings:
    """The booking settings inside a queue's ``config`` (defaults, disabled, when absent)."""
    raw = (config or {}).get("booking") or {}
    try:
        return msgspec.convert(raw, BookingSettings).validated()
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"queue booking settings: {exc}") from exc


# --- capacity -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapacityInput:
    """What one slot's capacity depends on (all durations in seconds)."""

    inbound_volume: float
    inbound_aht_s: float
    planned_agents: int
    slot_minutes: int
    callback_handle_s: float
    spare_share: float
    service_level: Fraction = Fraction(4, 5)
    service_seconds: float = 20.0
    max_per_slot: int | None = None


@dataclass(frozen=True, slots=True)
class SlotCapacity:
    seats: int
    required_agents: int  # for the forecast inbound traffic alone
    spare_agents: int
    offered_erlangs: float


def slot_capacity(given: CapacityInput) -> SlotCapacity:
    """Callbacks one slot can take: a share of the agent time the inbound forecast leaves.

    ``n_req`` is Erlang C staffing (``wfm.staffing.required_agents``) of the forecast
    inbound load for the queue's service level; the planned agents above it are spare,
    and ``spare_share`` of their time in the slot, divided by a callback's handle time
    (floored exactly), is what may be booked. More forecast volume never gives more seats
    (staffing is monotone in the load); more agents or a larger share never give fewer.
    """
    if given.inbound_volume < 0 or given.planned_agents < 0:
        raise InvalidInputError("volume and agents must not be negative")
    if given.callback_handle_s <= 0 or given.inbound_aht_s <= 0:
        raise InvalidInputError("handle times must be positive")
    slot_s = given.slot_minutes * 60
    load = traffic(given.inbound_volume, given.inbound_aht_s, slot_s)
    target = Target(service_level=given.service_level, service_seconds=given.service_seconds)
    needed = required_agents(load, given.inbound_aht_s, target).agents if load > 0 else 0
    spare = max(0, given.planned_agents - needed)
    share = exact(given.spare_share)
    seats_exact = share * spare * slot_s / exact(given.callback_handle_s)
    seats = seats_exact.numerator // seats_exact.denominator
    if given.max_per_slot is not None:
        seats = min(seats, given.max_per_slot)
    return SlotCapacity(seats, needed, spare, float(load))


# --- slots ---------------------------------------------------------------------------------


class SlotError(InvalidInputError):
    """The chosen time cannot be booked; ``code`` says why (past, closed, too_far, grid)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def day_slots(
    day: date, *, slot_minutes: int, routing: QueueRouting, timezone: str
) -> list[datetime]:
    """Starts (UTC) of the slots of a local ``day`` that lie wholly inside business hours."""
    zone = ZoneInfo(timezone)
    starts = []
    local = datetime.combine(day, time(0), zone)
    step = timedelta(minutes=slot_minutes)
    while local.date() == day:
        start = local.astimezone(UTC)
        if _open_throughout(routing, start, slot_minutes, timezone):
            starts.append(start)
        local = (local.astimezone(UTC) + step).astimezone(zone)
    return starts


def _open_throughout(routing: QueueRouting, start: datetime, minutes: int, timezone: str) -> bool:
    # Spans are minute-aligned, so checking every minute of the slot is exact.
    return all(is_open(routing, start + timedelta(minutes=m), timezone) for m in range(minutes))


def bookable_days(now: datetime, *, days_ahead: int, timezone: str) -> list[date]:
    today = now.astimezone(ZoneInfo(timezone)).date()
    return [today + timedelta(days=offset) for offset in range(days_ahead + 1)]


def check_slot(
    start: datetime,
    *,
    settings: BookingSettings,
    routing: QueueRouting,
    timezone: str,
    now: datetime,
) -> None:
    """Raise :class:`SlotError` unless ``start`` is a bookable slot start."""
    if start.tzinfo is None:
        raise SlotError("grid", N_("Please choose a time from the list."))
    local = start.astimezone(ZoneInfo(timezone))
    if start < now + timedelta(minutes=settings.min_notice_minutes):
        raise SlotError("past", N_("This time has passed or is too soon to book."))
    if local.date() > bookable_days(now, days_ahead=settings.days_ahead, timezone=timezone)[-1]:
        raise SlotError("too_far", N_("This day is too far ahead to book."))
    grid = day_slots(
        local.date(), slot_minutes=settings.slot_minutes, routing=routing, timezone=timezone
    )
    if start not in grid:
        minute_of_day = local.hour * 60 + local.minute
        if minute_of_day % settings.slot_minutes or local.second or local.microsecond:
            raise SlotError("grid", N_("Please choose a time from the list."))
        raise SlotError("closed", N_("We are closed at this time."))


@dataclass(frozen=True, slots=True)
class SlotView:
    start: datetime
    seats: int
    booked: int
    bookable: bool  # inside the notice and horizon

    @property
    def free(self) -> int:
        return max(0, self.seats - self.booked)

    @property
    def full(self) -> bool:
        return self.free == 0


def slot_views(
    starts: Sequence[datetime],
    seats: Sequence[int],
    booked: dict[datetime, int],
    *,
    earliest: datetime,
) -> list[SlotView]:
    return [
        SlotView(start, n, booked.get(start, 0), start >= earliest)
        for start, n in zip(starts, seats, strict=True)
    ]


# --- references and input -------------------------------------------------------------------


def new_reference() -> str:
    """8 characters from a 31-letter alphabet: 31⁸ ≈ 8.5 · 10¹¹ possibilities."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def clean_reference(text: str) -> str:
    """A reference as typed (any case, spaces, hyphens, full-width) in canonical form."""
    value = unicodedata.normalize("NFKC", text).upper().replace("-", "").replace(" ", "")
    if len(value) != REFERENCE_LENGTH or any(ch not in REFERENCE_ALPHABET for ch in value):
        raise InvalidInputError(N_("The reference has 8 letters and digits."))
    return value


def japanese_phone(text: str) -> str:
    """A Japanese phone number in its canonical digits (``09012345678``), or raise.

    Accepts hyphens, spaces, brackets, full-width digits and ``+81``; checks the length
    against the prefix (eleven digits for mobile, IP and 0800 numbers, ten otherwise).
    """
    value = unicodedata.normalize("NFKC", text).strip()
    for ch in " -‐－ー()（）":
        value = value.replace(ch, "")
    if value.startswith("+81"):
        value = "0" + value[3:].lstrip("0")
    if not value.isdigit() or not value.isascii():
        raise InvalidInputError(N_("Please enter a Japanese phone number (digits and hyphens)."))
    if not value.startswith("0") or value.startswith("00"):
        raise InvalidInputError(N_("Please enter a Japanese phone number (digits and hyphens)."))
    expected = 11 if value.startswith(_ELEVEN_DIGIT_PREFIXES) else 10
    if len(value) != expected:
        raise InvalidInputError(N_("The phone number has too few or too many digits."))
    return value


@dataclass(frozen=True, slots=True)
class BookingForm:
    """What the customer entered, checked and trimmed."""

    queue_id: UUID
    slot_start: datetime
    name: str
    phone: str  # canonical digits
    member_no: str | None
    note: str | None
    topic: str | None
    lang: str


def checked_form(
    *,
    queue_id: UUID,
    slot_start: datetime,
    name: str,
    phone: str,
    member_no: str | None,
    note: str | None,
    topic: str | None,
    lang: str,
    consent: bool,
    topics: Sequence[str],
) -> BookingForm:
    name = unicodedata.normalize("NFKC", name).strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInputError(N_("Please enter your name (at most 100 characters)."))
    member = unicodedata.normalize("NFKC", member_no or "").strip() or None
    if member is not None and (len(member) > MEMBER_MAX or not member.replace("-", "").isalnum()):
        raise InvalidInputError(N_("The member number has letters and digits only (at most 32)."))
    text = (note or "").strip() or None
    if text is not None and len(text) > NOTE_MAX:
        raise InvalidInputError(N_("The note is at most 500 characters."))
    chosen = (topic or "").strip() or None
    if chosen is not None and chosen not in topics:
        raise InvalidInputError(N_("Please choose a topic from the list."))
    if not consent:
        raise InvalidInputError(N_("Please agree to the callback and to how we use your data."))
    if lang not in ("ja", "en"):
        raise InvalidInputError(N_("The language must be Japanese or English."))
    return BookingForm(
        queue_id, slot_start, name, japanese_phone(phone), member, text, chosen, lang
    )


# --- events (ids and times only: names and numbers stay sealed) -----------------------------


class CallbackBookingEvent(Event, frozen=True, kw_only=True, tag=False):
    resource: ClassVar[str] = "callback_booking"
    booking_id: UUID
    queue_id: UUID
    slot_start: datetime


class CallbackBookingCreatedEvent(
    CallbackBookingEvent, frozen=True, kw_only=True, tag="callback_booking.created"
):
    contact_id: UUID
    slot_minutes: int


class CallbackBookingCancelledEvent(
    CallbackBookingEvent, frozen=True, kw_only=True, tag="callback_booking.cancelled"
):
    contact_id: UUID | None = None
    by: str  # customer | staff


class BookingSettingsUpdatedEvent(Event, frozen=True, kw_only=True, tag="booking_settings.updated"):
    resource: ClassVar[str] = "booking_settings"
    queue_id: UUID
    enabled: bool
