"""Scheduled reports (pure): cadence checks, due times across zones and month ends,
report periods, recipients and their masking."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.domain.errors import InvalidInputError
from tsunagi.figures.schedules import (
    Cadence,
    mask_address,
    masked_text,
    next_due,
    parse_recipients,
    period_for,
)

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
ZONES = [TOKYO, NEW_YORK, UTC_ZONE, ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe")]


@pytest.mark.parametrize(
    ("kind", "send_time", "weekday", "month_day", "field"),
    [
        ("hourly", "08:00", None, None, "cadence"),
        ("daily", "8:00", None, None, "send_time"),
        ("daily", "24:00", None, None, "send_time"),
        ("daily", "08:60", None, None, "send_time"),
        ("weekly", "08:00", None, None, "weekday"),
        ("weekly", "08:00", 7, None, "weekday"),
        ("daily", "08:00", 1, None, "weekday"),
        ("monthly", "08:00", None, None, "month_day"),
        ("monthly", "08:00", None, 0, "month_day"),
        ("monthly", "08:00", None, 32, "month_day"),
        ("weekly", "08:00", 1, 5, "month_day"),
    ],
)
def test_a_bad_cadence_names_its_field(
    kind: str, send_time: str, weekday: int | None, month_day: int | None, field: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"^{field}:"):
        Cadence.parse(kind, send_time, weekday, month_day)


def test_daily_in_tokyo_is_the_next_local_eight() -> None:
    cadence = Cadence.parse("daily", "08:00", None, None)
    # 2026-03-01 22:59 UTC = 03-02 07:59 in Tokyo → 08:00 Tokyo = 23:00 UTC
    assert next_due(cadence, TOKYO, datetime(2026, 3, 1, 22, 59, tzinfo=UTC)) == datetime(
        2026, 3, 1, 23, 0, tzinfo=UTC
    )
    # exactly at the send time: the next one (strictly after)
    assert next_due(cadence, TOKYO, datetime(2026, 3, 1, 23, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 23, 0, tzinfo=UTC
    )


def test_weekly_on_monday_in_tokyo_crosses_the_utc_date() -> None:
    cadence = Cadence.parse("weekly", "07:30", 0, None)
    # Sunday 2026-03-01 12:00 UTC is Sunday 21:00 in Tokyo; Monday 07:30 JST is Sunday 22:30 UTC.
    assert next_due(cadence, TOKYO, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 1, 22, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("after", "expected_local_day"),
    [
        (datetime(2026, 1, 31, 12, tzinfo=UTC), date(2026, 2, 28)),  # 31 → February's 28th
        (datetime(2028, 2, 1, 12, tzinfo=UTC), date(2028, 2, 29)),  # a leap year's 29th
        (datetime(2026, 3, 31, 12, tzinfo=UTC), date(2026, 4, 30)),  # 31 → April's 30th
        (datetime(2026, 4, 30, 12, tzinfo=UTC), date(2026, 5, 31)),  # a full month: the 31st
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2027, 1, 31)),  # across the year
    ],
)
def test_monthly_on_the_31st_falls_on_each_month_s_last_day(
    after: datetime, expected_local_day: date
) -> None:
    cadence = Cadence.parse("monthly", "06:00", None, 31)
    due = next_due(cadence, UTC_ZONE, after)
    assert due == datetime.combine(expected_local_day, time(6), tzinfo=UTC)


def test_new_york_keeps_local_time_across_daylight_saving() -> None:
    cadence = Cadence.parse("daily", "08:00", None, None)
    # 2026-03-08 is the spring change in New York: 08:00 EST = 13:00 UTC, EDT = 12:00 UTC.
    before = next_due(cadence, NEW_YORK, datetime(2026, 3, 7, 0, 0, tzinfo=UTC))
    after = next_due(cadence, NEW_YORK, before)
    assert (before, after) == (
        datetime(2026, 3, 7, 13, 0, tzinfo=UTC),
        datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
    )


def test_a_time_in_the_spring_gap_lands_after_the_gap() -> None:
    cadence = Cadence.parse("daily", "02:30", None, None)
    due = next_due(cadence, NEW_YORK, datetime(2026, 3, 8, 5, 0, tzinfo=UTC))  # 00:00 EST
    assert due == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert due.astimezone(NEW_YORK).time() == time(3, 30)


def test_a_time_in_the_autumn_fold_is_its_first_occurrence_once() -> None:
    cadence = Cadence.parse("daily", "01:30", None, None)
    first = next_due(cadence, NEW_YORK, datetime(2026, 11, 1, 4, 0, tzinfo=UTC))  # 00:00 EDT
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    # the repeated 01:30 (EST) of the same day is not a second send
    assert next_due(cadence, NEW_YORK, first) == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


def test_periods() -> None:
    daily = Cadence.parse("daily", "08:00", None, None)
    weekly = Cadence.parse("weekly", "08:00", 0, None)
    monthly = Cadence.parse("monthly", "08:00", None, 1)
    assert period_for(daily, date(2026, 3, 1)) == (date(2026, 2, 28), date(2026, 2, 28))
    assert period_for(weekly, date(2026, 3, 2)) == (date(2026, 2, 23), date(2026, 3, 1))
    assert period_for(monthly, date(2026, 3, 1)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_for(monthly, date(2026, 1, 5)) == (date(2025, 12, 1), date(2025, 12, 31))


cadences = st.one_of(
    st.builds(
        lambda h, m: Cadence.parse("daily", f"{h:02d}:{m:02d}", None, None),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
    st.builds(
        lambda h, m, w: Cadence.parse("weekly", f"{h:02d}:{m:02d}", w, None),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 6),
    ),
    st.builds(
        lambda h, m, d: Cadence.parse("monthly", f"{h:02d}:{m:02d}", None, d),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(1, 31),
    ),
)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(cadence=cadences, zone=st.sampled_from(ZONES), after=instants)
def test_next_due_is_the_first_send_time_after(
    cadence: Cadence, zone: ZoneInfo, after: datetime
) -> None:
    due = next_due(cadence, zone, after)
    assert due > after
    local = due.astimezone(zone)
    # on a send day, at the send time unless that time did not exist there (a gap)
    gap_day = local.date() if cadence.sends_on(local.date()) else None
    assert gap_day is not None
    if local.time() != cadence.send_time:
        naive = datetime.combine(local.date(), cadence.send_time)
        round_trip = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
        assert round_trip.replace(tzinfo=None) != naive, "only a gap may move the time"
    # nothing was skipped: no send day between ``after`` and ``due`` has its time in between
    day = after.astimezone(zone).date() - timedelta(days=1)
    while day < local.date():
        if cadence.sends_on(day):
            candidate = datetime.combine(day, cadence.send_time, tzinfo=zone).astimezone(UTC)
            assert not after < candidate < due
        day += timedelta(days=1)
    # and asking again from the result moves on: the same time is never due twice
    assert next_due(cadence, zone, due) > due


@settings(max_examples=200, deadline=None)
@given(cadence=cadences, day=st.dates(date(2024, 1, 1), date(2030, 12, 31)))
def test_periods_end_before_the_send_day_and_follow_one_another(
    cadence: Cadence, day: date
) -> None:
    start, end = period_for(cadence, day)
    assert start <= end < day
    if cadence.kind == "monthly":
        assert start.day == 1 and (end + timedelta(days=1)).day == 1
    else:
        assert end == day - timedelta(days=1)
        assert (end - start).days == (0 if cadence.kind == "daily" else 6)


def test_recipients_are_checked_and_kept_once() -> None:
    assert parse_recipients([" boss@center.test", "Boss@Center.test", "sv@center.test"]) == [
        "boss@center.test",
        "sv@center.test",
    ]
    with pytest.raises(InvalidInputError, match=r"^recipients: 'n\*\*\*' is not an email"):
        parse_recipients(["not-an-address"])
    with pytest.raises(InvalidInputError, match=r"^recipients: at least one"):
        parse_recipients([])
    with pytest.raises(InvalidInputError, match=r"^recipients: at most 20"):
        parse_recipients([f"u{i}@center.test" for i in range(21)])


def test_addresses_are_masked_in_views_and_errors() -> None:
    assert mask_address("hanako@example.org") == "h***@example.org"
    error = "refused: hanako@example.org: 550 no such user; taro@example.org: 550 nope"
    shown = masked_text(error)
    assert "hanako" not in shown and "taro" not in shown
    assert shown == "refused: h***@example.org: 550 no such user; t***@example.org: 550 nope"
