"""Time buckets: 15-minute intervals in UTC and the tenant's local day, week and month.

Every aggregate row is one 15-minute interval (``interval_start`` in UTC, a multiple of
15 minutes since the epoch). Coarser grains are sums of those rows: 30 and 60 minutes by
flooring ``interval_start``; day, week (starting Monday) and month by the *local* calendar
date of the interval in the tenant's time zone, stored with the row when it is written so
that both databases can group by it without time-zone arithmetic in SQL. A zone whose
offset is not a multiple of 15 minutes would put an interval across two local days; the
date of its start is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

INTERVAL_MINUTES = 15
INTERVAL = timedelta(minutes=INTERVAL_MINUTES)
GRAINS = ("15", "30", "60", "day", "week", "month", "total")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def interval_start(at: datetime, minutes: int = INTERVAL_MINUTES) -> datetime:
    """The start of the ``minutes``-long interval holding ``at`` (UTC, aligned to the epoch)."""
    if at.tzinfo is None:
        raise ValueError("interval_start needs a timezone-aware datetime")
    seconds = int((at.astimezone(UTC) - _EPOCH).total_seconds() // (minutes * 60)) * minutes * 60
    return _EPOCH + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Calendar:
    """The local calendar keys of one interval."""

    day: date
    week: date  # the Monday of the local week
    month: date  # the first day of the local month


def calendar_of(start: datetime, timezone: str) -> Calendar:
    local = start.astimezone(ZoneInfo(timezone)).date()
    return Calendar(
        day=local, week=local - timedelta(days=local.weekday()), month=local.replace(day=1)
    )


def split_span(begin: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
    """(interval start, seconds) for each 15-minute interval the span [begin, end) covers."""
    cursor = begin
    while cursor < end:
        start = interval_start(cursor)
        stop = min(end, start + INTERVAL)
        yield start, (stop - cursor).total_seconds()
        cursor = stop


def bucket_of(start: datetime, grain: str, calendar: Calendar) -> str:
    """The label of the bucket an interval falls in at ``grain`` (ISO text, sortable)."""
    if grain in ("15", "30", "60"):
        return interval_start(start, int(grain)).isoformat()
    if grain == "day":
        return calendar.day.isoformat()
    if grain == "week":
        return calendar.week.isoformat()
    if grain == "month":
        return calendar.month.isoformat()
    if grain == "total":
        return "total"
    raise ValueError(f"unknown grain {grain!r}; known: {', '.join(GRAINS)}")
