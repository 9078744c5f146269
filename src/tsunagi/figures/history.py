"""Historical contacts from CSV (pure): parsing, checking and the ``contact.imported`` event.

A center that starts with Tsunagi brings its past as a per-contact log. Each good row
becomes one :class:`HistoryRow` (times still local and naive, names still the source's),
each bad row one :class:`RowError` naming its line and field; the action
(``tsunagi.actions.figures.history``) maps queues, communicators and the customer to the
tenant's and writes one :class:`ContactImportedEvent` per contact to the outbox. The fold
turns that event into the same record and interval measures a live contact gives.

Two formats (``docs/figures.md`` documents both):

* ``tsunagi`` — the generic CSV any center can write (comma separated, header row);
* ``anonymous-bank`` — the Technion "Anonymous Bank" call log (tab separated).
"""

from __future__ import annotations

import csv
import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, NoReturn
from zoneinfo import ZoneInfo

from tsunagi.domain.events import Event

FORMATS = ("tsunagi", "anonymous-bank")
OUTCOMES = ("answered", "abandoned", "unqueued")
CHANNELS = ("voice", "chat", "email", "sms", "callback", "video")
CUSTOMER_KINDS = ("phone", "email", "member_no", "contract_no")
# Names the ids derived from a tenant and a source key (contact ids, unknown communicators).
HISTORY_NAMESPACE = uuid.UUID("6f1c2a52-5d0e-4f55-9a64-2f6b8f0e7c11")
MAX_SECONDS = 7 * 24 * 3600  # a wait or a handle time longer than a week is a typo
# The communicator of an answered contact whose file names nobody.
UNKNOWN_COMMUNICATOR = uuid.uuid5(HISTORY_NAMESPACE, "communicator:unknown")


class ContactImportedEvent(Event, frozen=True, kw_only=True, tag="contact.imported"):
    """One historical contact loaded from a file, whole (it never went through routing).

    Times are UTC; durations integer milliseconds. ``customer_key`` is the tenant's keyed
    hash of the customer's identifier (``customer_kind``), never the identifier itself.
    ``contact_id`` is derived from the tenant and ``source_key``, so importing the same row
    twice names the same contact (and the same outbox ``event_id``).
    """

    resource: ClassVar[str] = "figures.admin"
    contact_id: uuid.UUID
    batch_id: uuid.UUID
    source_key: str
    queue_id: uuid.UUID | None
    channel: str
    arrived_at: datetime
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime
    outcome: str  # answered | abandoned | unqueued
    wait_ms: int = 0
    talk_ms: int = 0
    hold_ms: int = 0
    holds: int = 0
    acw_ms: int = 0
    transfers: int = 0
    escalations: int = 0
    callback: bool = False
    category: str | None = None
    agent_id: uuid.UUID | None = None
    resolved_first_contact: bool | None = None
    customer_kind: str | None = None
    customer_key: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One good row, before mapping: local naive times (or aware when the file said so)."""

    line: int
    key: str
    queue: str
    channel: str
    arrived: datetime
    queued: datetime | None
    answered: datetime | None
    ended: datetime
    outcome: str
    wait_ms: int
    talk_ms: int = 0
    hold_ms: int = 0
    holds: int = 0
    acw_ms: int = 0
    transfers: int = 0
    escalations: int = 0
    callback: bool = False
    category: str | None = None
    communicator: str | None = None
    customer_kind: str | None = None
    customer: str | None = None  # plaintext: hashed by the action, never stored or emitted
    resolved: bool | None = None
    notes: tuple[RowError, ...] = ()  # fields left out of an otherwise good row


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A row the format says to leave out (not an error), e.g. a PHANTOM call."""

    line: int
    reason: str


Parsed = HistoryRow | RowError | Skipped


class _BadFieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def read_history(fmt: str, lines: Iterable[str]) -> Iterator[Parsed]:
    """Rows of a history file in ``fmt``, one result per data row, streamed."""
    if fmt == "tsunagi":
        return _read_tsunagi(lines)
    if fmt == "anonymous-bank":
        return _read_bank(lines)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def contact_id_of(tenant_id: uuid.UUID, source_key: str) -> uuid.UUID:
    """The id of an imported contact: the same tenant and key always give the same id."""
    return uuid.uuid5(HISTORY_NAMESPACE, f"contact:{tenant_id}:{source_key}")


def communicator_id_of(tenant_id: uuid.UUID, name: str) -> uuid.UUID:
    """A stable id for a communicator of the source who is not a user of the tenant."""
    return uuid.uuid5(HISTORY_NAMESPACE, f"communicator:{tenant_id}:{name.strip().upper()}")


def parse_map(text: str | None) -> dict[str, str]:
    """``"PS=retail,IN=internet,*=retail"`` → ``{"PS": "retail", ...}`` (``*``: the rest)."""
    found: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"{item.strip()!r} is not SOURCE=TARGET")
        found[source.strip()] = target.strip()
    return found


def local_to_utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A file's time in UTC: naive times are the center's local time (``zone``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(ZoneInfo("UTC"))


def imported_event(
    row: HistoryRow,
    *,
    tenant_id: uuid.UUID,
    batch_id: uuid.UUID,
    zone: ZoneInfo,
    queue_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    customer_key: str | None,
    imported_at: datetime,
    actor: str | None,
) -> ContactImportedEvent:
    def utc(moment: datetime | None) -> datetime | None:
        return None if moment is None else local_to_utc(moment, zone)

    ended = local_to_utc(row.ended, zone)
    return ContactImportedEvent(
        tenant_id=tenant_id,
        occurred_at=imported_at,
        actor=actor,
        contact_id=contact_id_of(tenant_id, row.key),
        batch_id=batch_id,
        source_key=row.key,
        queue_id=queue_id,
        channel=row.channel,
        arrived_at=local_to_utc(row.arrived, zone),
        queued_at=utc(row.queued),
        answered_at=utc(row.answered),
        ended_at=ended,
        outcome=row.outcome,
        wait_ms=row.wait_ms,
        talk_ms=row.talk_ms,
        hold_ms=row.hold_ms,
        holds=row.holds,
        acw_ms=row.acw_ms,
        transfers=row.transfers,
        escalations=row.escalations,
        callback=row.callback,
        category=row.category,
        agent_id=agent_id if row.outcome == "answered" else None,
        resolved_first_contact=row.resolved if row.outcome == "answered" else None,
        customer_kind=row.customer_kind if customer_key is not None else None,
        customer_key=customer_key,
    )


# ------------------------------------------------------------------ tsunagi format

TSUNAGI_COLUMNS = (
    "key",
    "queue",
    "channel",
    "arrived_at",
    "queued_at",
    "answered_at",
    "ended_at",
    "outcome",
    "wait_s",
    "talk_s",
    "hold_s",
    "holds",
    "acw_s",
    "transfers",
    "escalations",
    "callback",
    "category",
    "communicator",
    "customer_kind",
    "customer",
    "resolved_first_contact",
)
TSUNAGI_REQUIRED = ("key", "queue", "arrived_at", "ended_at")
_YES = frozenset({"1", "true", "yes", "y", "はい", "○"})
_NO = frozenset({"0", "false", "no", "n", "いいえ", "×"})


def _records(
    reader: Any, names: Sequence[str], parse: Callable[[int, dict[str, str]], Parsed]
) -> Iterator[Parsed]:
    """Each non-empty data row as ``parse`` sees it; a field error names line and field."""
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        line = reader.line_num
        if len(values) != len(names):
            yield RowError(line, "row", f"expected {len(names)} fields, found {len(values)}")
            continue
        row = {name: value.strip() for name, value in zip(names, values, strict=True)}
        try:
            yield parse(line, row)
        except _BadFieldError as bad:
            yield RowError(line, bad.field, bad.message)


def _read_tsunagi(lines: Iterable[str]) -> Iterator[Parsed]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        yield RowError(1, "header", "the file is empty")
        return
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    unknown = sorted(set(names) - set(TSUNAGI_COLUMNS))
    missing = [name for name in TSUNAGI_REQUIRED if name not in names]
    if unknown or missing or len(set(names)) != len(names):
        problems = []
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if len(set(names)) != len(names):
            problems.append("a column appears twice")
        yield RowError(1, "header", "; ".join(problems))
        return
    yield from _records(reader, names, _tsunagi_row)


def _moment(row: dict[str, str], name: str, *, required: bool = False) -> datetime | None:
    text = row.get(name, "")
    if not text:
        if required:
            raise _BadFieldError(name, "is required")
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise _BadFieldError(name, f"{text!r} is not a time like 2026-11-03 09:15:00") from error


def _millis(row: dict[str, str], name: str) -> int | None:
    text = row.get(name, "")
    if not text:
        return None
    try:
        seconds = Decimal(text)
    except InvalidOperation as error:
        raise _BadFieldError(name, f"{text!r} is not a number of seconds") from error
    if not seconds.is_finite() or seconds < 0 or seconds > MAX_SECONDS:
        raise _BadFieldError(name, f"{text!r} is not between 0 and {MAX_SECONDS} seconds")
    return int((seconds * 1000).to_integral_value())


def _count(row: dict[str, str], name: str) -> int:
    text = row.get(name, "")
    if not text:
        return 0
    if not text.isdigit():
        raise _BadFieldError(name, f"{text!r} is not a whole number")
    return int(text)


def _flag(row: dict[str, str], name: str) -> bool | None:
    text = row.get(name, "").lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise _BadFieldError(name, f"{text!r} is not yes or no")


def _span_ms(begin: datetime, end: datetime, name: str) -> int:
    if (begin.tzinfo is None) != (end.tzinfo is None):
        raise _BadFieldError(name, "mixes a time with a UTC offset and one without")
    spent = end - begin
    if spent < timedelta(0):
        raise _BadFieldError(name, "is before the time it follows")
    return round(spent.total_seconds() * 1000)


def _tsunagi_row(line: int, row: dict[str, str]) -> HistoryRow:
    arrived = _moment(row, "arrived_at", required=True)
    ended = _moment(row, "ended_at", required=True)
    queued = _moment(row, "queued_at")
    answered = _moment(row, "answered_at")
    assert arrived is not None
    assert ended is not None
    _span_ms(arrived, ended, "ended_at")
    if queued is not None:
        _span_ms(arrived, queued, "queued_at")
    if answered is not None:
        _span_ms(queued or arrived, answered, "answered_at")
        _span_ms(answered, ended, "ended_at")
    outcome = row.get("outcome", "") or (
        "answered" if answered else "abandoned" if queued else "unqueued"
    )
    if outcome not in OUTCOMES:
        raise _BadFieldError("outcome", f"{outcome!r} is not one of {', '.join(OUTCOMES)}")
    if outcome == "answered" and answered is None:
        raise _BadFieldError("answered_at", "is required for an answered contact")
    if outcome == "abandoned" and (queued is None or answered is not None):
        raise _BadFieldError("outcome", "an abandoned contact has queued_at and no answered_at")
    if outcome == "unqueued" and (queued is not None or answered is not None):
        raise _BadFieldError("outcome", "an unqueued contact has neither queued_at nor answered_at")
    if outcome == "answered" and queued is None:
        queued = arrived  # answered without a recorded queue: offered when it arrived
    wait = _millis(row, "wait_s")
    if wait is None:
        if outcome == "answered":
            assert answered is not None
            assert queued is not None
            wait = _span_ms(queued, answered, "answered_at")
        elif outcome == "abandoned":
            assert queued is not None
            wait = _span_ms(queued, ended, "ended_at")
        else:
            wait = 0
    hold = _millis(row, "hold_s") or 0
    acw = _millis(row, "acw_s") or 0
    talk = _millis(row, "talk_s")
    if talk is None and answered is not None:
        talk = max(0, _span_ms(answered, ended, "ended_at") - hold - acw)
    channel = row.get("channel", "") or "voice"
    if channel not in CHANNELS:
        raise _BadFieldError("channel", f"{channel!r} is not one of {', '.join(CHANNELS)}")
    kind = row.get("customer_kind", "") or None
    customer = row.get("customer", "") or None
    if customer is not None and kind is None:
        kind = "phone"
    if kind is not None and kind not in CUSTOMER_KINDS:
        raise _BadFieldError("customer_kind", f"{kind!r} is not one of {', '.join(CUSTOMER_KINDS)}")
    answered_only = outcome == "answered"
    return HistoryRow(
        line=line,
        key=row["key"] or _missing("key"),
        queue=row["queue"] or _missing("queue"),
        channel=channel,
        arrived=arrived,
        queued=queued,
        answered=answered,
        ended=ended,
        outcome=outcome,
        wait_ms=wait if outcome != "unqueued" else 0,
        talk_ms=(talk or 0) if answered_only else 0,
        hold_ms=hold if answered_only else 0,
        holds=_count(row, "holds") if answered_only else 0,
        acw_ms=acw if answered_only else 0,
        transfers=_count(row, "transfers") if answered_only else 0,
        escalations=_count(row, "escalations") if answered_only else 0,
        callback=bool(_flag(row, "callback")),
        category=row.get("category", "") or None,
        communicator=row.get("communicator", "") or None,
        customer_kind=kind if customer is not None else None,
        customer=customer,
        resolved=_flag(row, "resolved_first_contact") if answered_only else None,
    )


def _missing(name: str) -> NoReturn:
    raise _BadFieldError(name, "is required")


# ----------------------------------------------------------- anonymous bank format

BANK_COLUMNS = (
    "vru+line",
    "call_id",
    "customer_id",
    "priority",
    "type",
    "date",
    "vru_entry",
    "vru_exit",
    "vru_time",
    "q_start",
    "q_exit",
    "q_time",
    "outcome",
    "ser_start",
    "ser_exit",
    "ser_time",
    "server",
)
BANK_ZONE = "Asia/Jerusalem"  # the log's clock times are the center's local time (Israel)
_NOT_QUEUED = "0:00:00"
_NO_SERVER = "NO_SERVER"
_ROLLOVER = timedelta(hours=12)


def _read_bank(lines: Iterable[str]) -> Iterator[Parsed]:
    reader = csv.reader(lines, delimiter="\t")
    header = next(reader, None)
    if header is None:
        yield RowError(1, "header", "the file is empty")
        return
    if tuple(name.strip().lstrip("\ufeff") for name in header) != BANK_COLUMNS:
        yield RowError(1, "header", f"expected the columns {', '.join(BANK_COLUMNS)}")
        return
    yield from _records(reader, BANK_COLUMNS, _bank_row)


def _bank_day(text: str) -> date:
    if len(text) != 6 or not text.isdigit():
        raise _BadFieldError("date", f"{text!r} is not YYMMDD")
    year = int(text[:2])
    try:
        return date((1900 if year >= 50 else 2000) + year, int(text[2:4]), int(text[4:]))
    except ValueError as error:
        raise _BadFieldError("date", f"{text!r} is not a date") from error


@functools.lru_cache(maxsize=100_000)
def _clock(text: str) -> time | None:
    """``H:MM:SS`` as a time of day (cached: a day has only 86,400 of them)."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    hours, minutes, seconds = (int(p) for p in parts)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    return time(hours, minutes, seconds)


def _bank_clock(row: dict[str, str], name: str) -> time:
    found = _clock(row[name])
    if found is None:
        raise _BadFieldError(name, f"{row[name]!r} is not a time of day H:MM:SS")
    return found


def _bank_seconds(row: dict[str, str], name: str) -> int:
    text = row[name]
    if not text.lstrip("-").isdigit():
        raise _BadFieldError(name, f"{text!r} is not a whole number of seconds")
    value = int(text)
    if value < 0 or value > MAX_SECONDS:
        raise _BadFieldError(name, f"{value} is not between 0 and {MAX_SECONDS}")
    return value


def _bank_row(line: int, row: dict[str, str]) -> HistoryRow | Skipped:
    """One call of the bank log; the rules are in docs/figures.md (*Anonymous Bank*)."""
    outcome = row["outcome"]
    if outcome == "PHANTOM":
        return Skipped(line, "PHANTOM (a virtual call, not a customer)")
    if outcome not in ("AGENT", "HANG"):
        raise _BadFieldError("outcome", f"{outcome!r} is not AGENT, HANG or PHANTOM")
    if not row["type"]:
        raise _BadFieldError("type", "is empty")
    if not row["call_id"].isdigit():
        raise _BadFieldError("call_id", f"{row['call_id']!r} is not a number")
    day = _bank_day(row["date"])
    entry = datetime.combine(day, _bank_clock(row, "vru_entry"))

    def at(name: str) -> datetime:
        # Clock times carry no date: one more than 12 h before the entry is the next day.
        moment = datetime.combine(day, _bank_clock(row, name))
        return moment + timedelta(days=1) if moment < entry - _ROLLOVER else moment

    vru_exit = at("vru_exit")
    queued = row["q_start"] != _NOT_QUEUED
    queue_start = at("q_start") if queued else None
    q_time = _bank_seconds(row, "q_time") if queued else 0
    customer = row["customer_id"]
    notes: tuple[RowError, ...] = ()
    if not customer.isdigit():
        # Spreadsheet damage (``3.27E+11``): the call counts, its customer is unknown.
        notes = (RowError(line, "customer_id", f"{customer!r} is not a number: left out"),)
        customer = "0"
    common: dict[str, Any] = {
        "line": line,
        "key": f"anonymous-bank/{day:%Y%m%d}/{row['vru+line']}/{row['call_id']}",
        "queue": row["type"],
        "channel": "voice",
        "arrived": entry,
        "customer_kind": "member_no" if customer != "0" else None,
        "customer": customer if customer != "0" else None,
        "notes": notes,
    }
    if outcome == "HANG":
        if queue_start is None:
            return HistoryRow(
                **common, queued=None, answered=None, ended=vru_exit, outcome="unqueued", wait_ms=0
            )
        return HistoryRow(
            **common,
            queued=queue_start,
            answered=None,
            ended=queue_start + timedelta(seconds=q_time),
            outcome="abandoned",
            wait_ms=q_time * 1000,
        )
    service = _bank_seconds(row, "ser_time")
    offered = queue_start or vru_exit  # answered straight from the VRU: no wait
    if row["ser_start"] == _NOT_QUEUED and service == 0:
        # Service times not recorded: answered when the queue (or the VRU) let go.
        answered = offered + timedelta(seconds=q_time)
    else:
        answered = at("ser_start")
    server = row["server"]
    return HistoryRow(
        **common,
        queued=offered,
        answered=answered,
        ended=answered + timedelta(seconds=service),
        outcome="answered",
        wait_ms=q_time * 1000,
        talk_ms=service * 1000,
        communicator=None if server in ("", _NO_SERVER) else server,
    )
