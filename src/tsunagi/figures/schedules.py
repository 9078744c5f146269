"""Scheduled figure reports (pure): cadence, due times, report periods, recipients.

A schedule sends one figures table as a CSV or Excel file by email at a local time of the
tenant's zone: every day, every week on a weekday, or every month on a day. Each send
covers the period that has just ended:

* daily — the day before the send day;
* weekly — the seven days before the send day;
* monthly — the calendar month before the send day's month.

A monthly day beyond a month's end (29-31) means the month's last day. A local time that
does not exist on a day (a daylight-saving gap) is read with the offset before the gap,
so it lands as far after the gap's start as it was meant after its own hour (02:30 in a
02:00→03:00 gap is 03:30); an ambiguous one (the repeated hour) is its first occurrence
(``fold=0``). Asia/Tokyo has neither; the rule matters for tenants elsewhere.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tsunagi.channels.email_settings import is_address
from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event

CADENCES = ("daily", "weekly", "monthly")
FORMATS = ("csv", "xlsx")
MAX_RECIPIENTS = 20
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _field(name: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{name}: {message}")


@dataclass(frozen=True, slots=True)
class Cadence:
    kind: str  # daily | weekly | monthly
    send_time: time
    weekday: int | None = None  # 0 = Monday (weekly only)
    month_day: int | None = None  # 1-31 (monthly only)

    @classmethod
    def parse(
        cls, kind: str, send_time: str, weekday: int | None, month_day: int | None
    ) -> Cadence:
        """A checked cadence; errors name the field (``cadence``, ``send_time``, …)."""
        if kind not in CADENCES:
            raise _field("cadence", f"must be one of {', '.join(CADENCES)}")
        match = _TIME.fullmatch(send_time or "")
        if match is None:
            raise _field("send_time", "must be HH:MM (00:00-23:59)")
        at = time(int(match[1]), int(match[2]))
        if kind == "weekly":
            if weekday is None or not 0 <= weekday <= 6:
                raise _field("weekday", "a weekly report needs a weekday, 0 (Monday) to 6")
        elif weekday is not None:
            raise _field("weekday", f"only a weekly report has one, not a {kind} one")
        if kind == "monthly":
            if month_day is None or not 1 <= month_day <= 31:
                raise _field("month_day", "a monthly report needs a day of the month, 1 to 31")
        elif month_day is not None:
            raise _field("month_day", f"only a monthly report has one, not a {kind} one")
        return cls(kind, at, weekday, month_day)

    @property
    def send_time_text(self) -> str:
        return self.send_time.strftime("%H:%M")

    def sends_on(self, day: date) -> bool:
        if self.kind == "weekly":
            return day.weekday() == self.weekday
        if self.kind == "monthly":
            assert self.month_day is not None
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day == min(self.month_day, last)
        return True


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(f"unknown time zone {name!r}") from exc


def at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``zone``, as UTC (gaps and folds: see the module docstring)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_due(cadence: Cadence, zone: ZoneInfo, after: datetime) -> datetime:
    """The first send time strictly after ``after`` (UTC)."""
    day = after.astimezone(zone).date() - timedelta(days=1)  # a gap can move a time back
    for _ in range(400):
        if cadence.sends_on(day):
            due = at_local(day, cadence.send_time, zone)
            if due > after:
                return due
        day += timedelta(days=1)
    raise AssertionError("no send day within 400 days")  # every cadence sends monthly


def period_for(cadence: Cadence, send_day: date) -> tuple[date, date]:
    """The days a send on ``send_day`` (local) reports: see the module docstring."""
    if cadence.kind == "daily":
        day = send_day - timedelta(days=1)
        return day, day
    if cadence.kind == "weekly":
        return send_day - timedelta(days=7), send_day - timedelta(days=1)
    last = send_day.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


# ------------------------------------------------------------------- recipients


def parse_recipients(values: Sequence[str]) -> list[str]:
    """Checked addresses (trimmed, duplicates removed ignoring case, order kept)."""
    if not values:
        raise _field("recipients", "at least one address is needed")
    found: dict[str, str] = {}
    for value in values:
        address = (value or "").strip()
        if not is_address(address):
            raise _field("recipients", f"{mask_address(address)!r} is not an email address")
        found.setdefault(address.lower(), address)
    if len(found) > MAX_RECIPIENTS:
        raise _field("recipients", f"at most {MAX_RECIPIENTS} addresses")
    return list(found.values())


def mask_address(address: str) -> str:
    """``h***@example.org``: enough to recognise a recipient, not to write to one."""
    local, at, domain = address.partition("@")
    if not at:
        return (address[:1] + "***") if address else ""
    return f"{local[:1]}***@{domain}"


_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"']+@[A-Za-z0-9.-]+")


def masked_text(text: str) -> str:
    """Text (an SMTP error) with every address in it masked, to be stored or shown."""
    return _ADDRESS.sub(lambda m: mask_address(m[0]), text)


# ------------------------------------------------------------------------ events


class ReportScheduleChangedEvent(Event, frozen=True, kw_only=True, tag="report_schedule.changed"):
    """A report schedule was created, changed, paused, resumed or deleted (``change``).
    Ids and settings only: recipients never leave the sealed column."""

    resource: ClassVar[str] = "report_schedule"
    schedule_id: UUID
    change: str  # created | updated | paused | resumed | deleted
    cadence: str
    recipient_count: int


class ReportRunFinishedEvent(Event, frozen=True, kw_only=True, tag="report_run.finished"):
    """A scheduled report's period was sent, or failed, or its sender died mid-send."""

    resource: ClassVar[str] = "report_schedule"
    schedule_id: UUID
    run_id: UUID
    period_from: date
    period_to: date
    status: str  # sent | failed | interrupted
    attempts: int
