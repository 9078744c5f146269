"""History files: good rows parsed, bad rows reported with their line and field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tsunagi.figures.history import (
    BANK_COLUMNS,
    HistoryRow,
    RowError,
    Skipped,
    contact_id_of,
    imported_event,
    parse_map,
    read_history,
)

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
HEADER = "\t".join(BANK_COLUMNS)


def bank(*rows: str) -> list[HistoryRow | RowError | Skipped]:
    return list(read_history("anonymous-bank", [HEADER + "\r\n", *(r + "\r\n" for r in rows)]))


def tsunagi(header: str, *rows: str) -> list[HistoryRow | RowError | Skipped]:
    return list(read_history("tsunagi", [header + "\n", *(r + "\n" for r in rows)]))


def tab(*values: str) -> str:
    return "\t".join(values)


ANSWERED = tab(
    "AA0101", "33118", "27997683", "2", "PS", "990101",
    "6:55:20", "6:55:26", "6", "6:55:26", "6:55:43", "17",
    "AGENT", "6:55:43", "6:56:37", "54", "MICHAL",
)  # fmt: skip
ABANDONED = tab(
    "AA0101", "33116", "9664491", "2", "PS", "990101",
    "0:00:31", "0:00:36", "5", "0:00:36", "0:03:09", "153",
    "HANG", "0:00:00", "0:00:00", "0", "NO_SERVER",
)  # fmt: skip


def test_an_answered_call_of_the_bank_log() -> None:
    (row,) = bank(ANSWERED)
    assert isinstance(row, HistoryRow)
    assert row.line == 2
    assert row.key == "anonymous-bank/19990101/AA0101/33118"
    assert row.queue == "PS"
    assert row.outcome == "answered"
    assert row.arrived == datetime(1999, 1, 1, 6, 55, 20)
    assert row.queued == datetime(1999, 1, 1, 6, 55, 26)
    assert row.answered == datetime(1999, 1, 1, 6, 55, 43)
    assert row.ended == datetime(1999, 1, 1, 6, 56, 37)  # answered + 54 s of service
    assert (row.wait_ms, row.talk_ms) == (17_000, 54_000)
    assert row.communicator == "MICHAL"
    assert (row.customer_kind, row.customer) == ("member_no", "27997683")


def test_an_abandon_a_vru_hang_up_and_a_phantom() -> None:
    vru_only = tab(
        "AA0101", "33117", "0", "0", "PS", "990101", "0:34:12", "0:34:23", "11",
        "0:00:00", "0:00:00", "0", "HANG", "0:00:00", "0:00:00", "0", "NO_SERVER",
    )  # fmt: skip
    phantom = ABANDONED.replace("HANG", "PHANTOM").replace("33116", "1")
    abandoned, unqueued, skipped = bank(ABANDONED, vru_only, phantom)
    assert isinstance(abandoned, HistoryRow)
    assert abandoned.outcome == "abandoned"
    assert abandoned.wait_ms == 153_000
    assert abandoned.ended == datetime(1999, 1, 1, 0, 3, 9)
    assert abandoned.communicator is None
    assert isinstance(unqueued, HistoryRow)
    assert unqueued.outcome == "unqueued"
    assert unqueued.queued is None
    assert unqueued.ended == datetime(1999, 1, 1, 0, 34, 23)
    assert unqueued.customer is None  # customer_id 0: not identified
    assert skipped == Skipped(4, "PHANTOM (a virtual call, not a customer)")


def test_a_call_across_midnight_ends_the_next_day() -> None:
    late = tab(
        "AA0102", "28748", "0", "0", "PS", "990105", "23:59:15", "23:59:34", "19",
        "0:00:00", "0:00:00", "0", "AGENT", "23:59:33", "0:03:40", "247", "BENSION",
    )  # fmt: skip
    (row,) = bank(late)
    assert isinstance(row, HistoryRow)
    assert row.queued == datetime(1999, 1, 5, 23, 59, 34)  # straight from the VRU
    assert row.wait_ms == 0
    assert row.ended == datetime(1999, 1, 6, 0, 3, 40)


def test_bad_bank_rows_name_line_and_field_and_the_good_ones_still_come() -> None:
    bad_clock = ANSWERED.replace("6:55:43\t6:56:37", "6:5x:43\t6:56:37")
    bad_outcome = ANSWERED.replace("AGENT", "LOST")
    bad_date = ANSWERED.replace("990101", "991341")
    short = "\t".join(ANSWERED.split("\t")[:5])
    damaged_customer = ANSWERED.replace("27997683", "3.27E+11")
    parsed = bank(bad_clock, ANSWERED, bad_outcome, bad_date, short, damaged_customer)
    errors = [p for p in parsed if isinstance(p, RowError)]
    assert errors == [
        RowError(2, "ser_start", "'6:5x:43' is not a time of day H:MM:SS"),
        RowError(4, "outcome", "'LOST' is not AGENT, HANG or PHANTOM"),
        RowError(5, "date", "'991341' is not a date"),
        RowError(6, "row", "expected 17 fields, found 5"),
    ]
    good = [p for p in parsed if isinstance(p, HistoryRow)]
    assert [g.line for g in good] == [3, 7]
    kept = good[1]
    assert kept.customer is None  # the call counts; its damaged customer id is left out
    assert kept.notes == (RowError(7, "customer_id", "'3.27E+11' is not a number: left out"),)
    assert str(errors[0]) == "line 2, ser_start: '6:5x:43' is not a time of day H:MM:SS"


def test_a_wrong_header_is_one_error_on_line_1() -> None:
    (error,) = read_history("anonymous-bank", ["a\tb\n", "1\t2\n"])
    assert isinstance(error, RowError)
    assert (error.line, error.field) == (1, "header")


GENERIC = (
    "key,queue,channel,arrived_at,queued_at,answered_at,ended_at,hold_s,acw_s,"
    "category,communicator,customer_kind,customer,resolved_first_contact"
)


def test_the_generic_format_derives_wait_and_talk_from_the_times() -> None:
    (row,) = tsunagi(
        GENERIC,
        "c-1,billing,chat,2026-11-03 09:00:00,2026-11-03 09:00:10,2026-11-03 09:00:40,"
        "2026-11-03 09:10:40,60,90,address,aiko,phone,03-1234-5678,yes",
    )
    assert isinstance(row, HistoryRow)
    assert row.outcome == "answered"
    assert row.wait_ms == 30_000
    assert (row.hold_ms, row.acw_ms) == (60_000, 90_000)
    assert row.talk_ms == 600_000 - 60_000 - 90_000  # the rest of answered → ended
    assert (row.channel, row.category, row.communicator) == ("chat", "address", "aiko")
    assert row.resolved is True
    assert (row.customer_kind, row.customer) == ("phone", "03-1234-5678")


def test_the_generic_format_reports_each_bad_field() -> None:
    rows = tsunagi(
        "key,queue,arrived_at,queued_at,answered_at,ended_at,outcome,wait_s,resolved_first_contact",
        "a,q,2026-11-03 09:00:00,,,2026-11-03 09:01:00,,,",  # unqueued: fine
        "b,q,yesterday,,,2026-11-03 09:01:00,,,",
        "c,q,2026-11-03 09:00:00,2026-11-03 09:00:05,,2026-11-03 08:00:00,,,",
        "d,q,2026-11-03 09:00:00,2026-11-03 09:00:05,,2026-11-03 09:01:00,answered,,",
        "e,q,2026-11-03 09:00:00,2026-11-03 09:00:05,,2026-11-03 09:01:00,,-3,",
        "f,,2026-11-03 09:00:00,,,2026-11-03 09:01:00,,,",
        "g,q,2026-11-03 09:00:00,2026-11-03 09:00:05,2026-11-03 09:00:09,"
        "2026-11-03 09:01:00,,,perhaps",
    )
    assert isinstance(rows[0], HistoryRow)
    assert rows[0].outcome == "unqueued"
    assert [(e.line, e.field) for e in rows[1:] if isinstance(e, RowError)] == [
        (3, "arrived_at"),
        (4, "ended_at"),
        (5, "answered_at"),
        (6, "wait_s"),
        (7, "queue"),
        (8, "resolved_first_contact"),
    ]


def test_an_unknown_column_is_a_header_error() -> None:
    (error,) = tsunagi("key,queue,arrived_at,ended_at,colour", "a,q,x,y,z")
    assert isinstance(error, RowError)
    assert error.field == "header"
    assert "colour" in error.message


def test_maps_and_ids() -> None:
    assert parse_map("PS=retail, IN=internet,*=retail") == {
        "PS": "retail",
        "IN": "internet",
        "*": "retail",
    }
    assert parse_map("") == {}
    with pytest.raises(ValueError, match="SOURCE=TARGET"):
        parse_map("PS")
    assert contact_id_of(TENANT, "k") == contact_id_of(TENANT, "k")
    assert contact_id_of(TENANT, "k") != contact_id_of(uuid.uuid4(), "k")


def test_the_event_carries_utc_times_and_no_plain_customer() -> None:
    (row,) = bank(ANSWERED)
    assert isinstance(row, HistoryRow)
    event = imported_event(
        row,
        tenant_id=TENANT,
        batch_id=uuid.uuid4(),
        zone=ZoneInfo("Asia/Jerusalem"),
        queue_id=None,
        agent_id=None,
        customer_key="f" * 64,
        imported_at=datetime(2026, 12, 1, tzinfo=UTC),
        actor="t",
    )
    assert event.arrived_at == datetime(1999, 1, 1, 4, 55, 20, tzinfo=UTC)  # Israel: UTC+2
    assert event.ended_at == datetime(1999, 1, 1, 4, 56, 37, tzinfo=UTC)
    assert event.contact_id == contact_id_of(TENANT, row.key)
    assert event.customer_key == "f" * 64
    assert "27997683" not in repr(event)


def test_an_answered_contact_without_a_queue_time_was_offered_on_arrival() -> None:
    (row,) = tsunagi(
        "key,queue,arrived_at,answered_at,ended_at",
        "d-1,desk,2026-11-02 09:00:00,2026-11-02 09:00:08,2026-11-02 09:03:00",
    )
    assert isinstance(row, HistoryRow)
    assert row.queued == datetime(2026, 11, 2, 9, 0)
    assert (row.wait_ms, row.talk_ms) == (8_000, 172_000)
