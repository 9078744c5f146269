"""Booking slots, settings, references and Japanese phone numbers (pure rules)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from tsunagi.channels.booking import (
    REFERENCE_ALPHABET,
    BookingSettings,
    SlotError,
    bookable_days,
    booking_settings,
    check_slot,
    checked_form,
    clean_reference,
    day_slots,
    japanese_phone,
    new_reference,
)
from tsunagi.domain.errors import InvalidInputError
from tsunagi.routing.queues import QueueRouting

TOKYO = "Asia/Tokyo"
WEEKDAY_HOURS = {
    d: [("09:00", "12:00"), ("13:00", "17:45")] for d in ("mon", "tue", "wed", "thu", "fri")
}
ROUTING = QueueRouting(business_hours=WEEKDAY_HOURS, holidays=[date(2026, 12, 8)])
SETTINGS = BookingSettings(enabled=True, slot_minutes=30, days_ahead=7, min_notice_minutes=60)
# Thursday 2026-12-03 09:00 in Tokyo is 00:00 UTC.
THURSDAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # Wednesday 09:00 Tokyo


def tokyo(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC) - timedelta(hours=9)


def test_slots_lie_wholly_inside_business_hours() -> None:
    starts = day_slots(THURSDAY, slot_minutes=30, routing=ROUTING, timezone=TOKYO)
    local = [(s + timedelta(hours=9)).strftime("%H:%M") for s in starts]
    assert local[:6] == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert "12:00" not in local and "12:30" not in local  # lunch
    assert local[-1] == "17:00"  # 17:30 would end after 17:45
    assert len(local) == 6 + 9  # 09:00–11:30 and 13:00–17:00


def test_weekends_and_holidays_have_no_slots() -> None:
    assert day_slots(date(2026, 12, 5), slot_minutes=30, routing=ROUTING, timezone=TOKYO) == []
    assert day_slots(date(2026, 12, 8), slot_minutes=30, routing=ROUTING, timezone=TOKYO) == []


def test_a_queue_open_all_day_has_a_slot_every_interval() -> None:
    starts = day_slots(THURSDAY, slot_minutes=60, routing=QueueRouting(), timezone=TOKYO)
    assert len(starts) == 24
    assert starts[0] == tokyo(THURSDAY, 0, 0)


def test_check_slot_accepts_a_slot_on_the_grid() -> None:
    check_slot(tokyo(THURSDAY, 10, 30), settings=SETTINGS, routing=ROUTING, timezone=TOKYO, now=NOW)


@pytest.mark.parametrize(
    ("start", "code"),
    [
        (tokyo(date(2026, 12, 1), 10, 0), "past"),
        (NOW + timedelta(minutes=30), "past"),  # inside the minimum notice
        (tokyo(THURSDAY, 12, 0), "closed"),
        (tokyo(date(2026, 12, 5), 10, 0), "closed"),
        (tokyo(THURSDAY, 10, 15), "grid"),
        (tokyo(date(2026, 12, 10), 10, 0), "too_far"),
    ],
)
def test_check_slot_refuses(start: datetime, code: str) -> None:
    with pytest.raises(SlotError) as raised:
        check_slot(start, settings=SETTINGS, routing=ROUTING, timezone=TOKYO, now=NOW)
    assert raised.value.code == code


def test_bookable_days_count_from_the_local_today() -> None:
    late_evening = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)  # 01:00 Thursday in Tokyo
    days = bookable_days(late_evening, days_ahead=2, timezone=TOKYO)
    assert days == [date(2026, 12, 3), date(2026, 12, 4), date(2026, 12, 5)]


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("090-1234-5678", "09012345678"),
        ("０９０－１２３４－５６７８", "09012345678"),
        ("+81 90 1234 5678", "09012345678"),
        ("+81(0)90-1234-5678", "09012345678"),
        ("03-1234-5678", "0312345678"),
        ("(03) 1234-5678", "0312345678"),
        ("0120-123-456", "0120123456"),
        ("0570-000-123", "0570000123"),
        ("050-1234-5678", "05012345678"),
        ("0800-123-4567", "08001234567"),
        ("0466-12-3456", "0466123456"),
    ],
)
def test_japanese_phone_numbers(typed: str, canonical: str) -> None:
    assert japanese_phone(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "110",
        "090-1234-567",
        "090-1234-56789",
        "03-1234-56789",
        "00-1234-5678",
        "+1 415 555 0100",
        "090-1234-abcd",
        "1234567890",
        "<script>",
        "0312345678; DROP",
    ],
)
def test_not_japanese_phone_numbers(typed: str) -> None:
    with pytest.raises(InvalidInputError):
        japanese_phone(typed)


def test_references_are_unambiguous_and_unguessable() -> None:
    made = {new_reference() for _ in range(5000)}
    assert len(made) == 5000
    assert all(len(r) == 8 and set(r) <= set(REFERENCE_ALPHABET) for r in made)
    assert not set("01ILO") & set(REFERENCE_ALPHABET)
    assert clean_reference(" ab-cd ef23 ") == "ABCDEF23"
    assert clean_reference("ＡＢＣＤＥＦ２３") == "ABCDEF23"
    for bad in ("ABCDEF2", "ABCDEF230", "ABCDEF20", "ABCDEFI3"):
        with pytest.raises(InvalidInputError):
            clean_reference(bad)


def form(**overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "queue_id": uuid.uuid4(),
        "slot_start": tokyo(THURSDAY, 10, 0),
        "name": "  山田 花子 ",
        "phone": "090-1234-5678",
        "member_no": " M-123 ",
        "note": " 請求について ",
        "topic": None,
        "lang": "ja",
        "consent": True,
        "topics": ["billing"],
    }
    values.update(overrides)
    return checked_form(**values)  # type: ignore[arg-type]


def test_a_good_form_is_trimmed() -> None:
    checked = form()
    assert (checked.name, checked.phone, checked.member_no, checked.note) == (
        "山田 花子",
        "09012345678",
        "M-123",
        "請求について",
    )
    assert form(topic="billing").topic == "billing"
    assert form(member_no="", note="").member_no is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"consent": False},
        {"name": "   "},
        {"name": "x" * 101},
        {"phone": "12345"},
        {"note": "x" * 501},
        {"member_no": "M 1<2>"},
        {"topic": "not offered"},
        {"lang": "fr"},
    ],
)
def test_bad_forms_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        form(**overrides)


def test_settings_default_to_disabled_and_validate() -> None:
    assert booking_settings({}).enabled is False
    loaded = booking_settings({"booking": {"enabled": True, "planned_agents": 4}})
    assert loaded.enabled and loaded.agents_on(THURSDAY) == 4
    weekly = BookingSettings(planned_agents=4, planned_by_weekday={"thu": 9})
    assert weekly.agents_on(THURSDAY) == 9 and weekly.agents_on(date(2026, 12, 4)) == 4
    for bad in (
        {"slot_minutes": 20},
        {"days_ahead": 0},
        {"spare_share": 1.5},
        {"planned_by_weekday": {"someday": 3}},
        {"topics": [""]},
        {"unknown": 1},
        {"slot_minutes": "thirty"},
    ):
        with pytest.raises(InvalidInputError):
            booking_settings({"booking": bad})
