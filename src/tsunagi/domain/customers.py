"""Customers: the validated shape of a customer record and its events (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar
from uuid import UUID

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event

IDENTIFIER_KINDS = ("phone", "email", "member_no", "contract_no")
CUSTOMER_KINDS = ("person", "company")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9０-９()（）\-‐－ ]{6,24}$")


_PHONE_LIKE = re.compile(r"^(\+|0|０)[0-9０-９()（）\-‐－ ]{8,23}$")


def check_opaque_reference(field_name: str, value: str | None) -> None:
    """An external system's reference travels in events and logs, so it must not be a
    customer's e-mail address or phone number (those go, sealed, with the contact's party)."""
    if value is None:
        return
    text = value.strip()
    if "@" in text and _EMAIL.match(text):
        raise InvalidInputError(
            f"{field_name} looks like an e-mail address; send addresses as the contact's party"
        )
    if _PHONE_LIKE.match(text) and sum(ch.isdigit() for ch in text) >= 9:
        raise InvalidInputError(
            f"{field_name} looks like a phone number; send numbers as the contact's party"
        )


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: str
    value: str
    label: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in IDENTIFIER_KINDS:
            raise InvalidInputError(f"identifier kind must be one of {', '.join(IDENTIFIER_KINDS)}")
        if not self.value.strip():
            raise InvalidInputError(f"{self.kind} is empty")
        if self.kind == "email" and not _EMAIL.match(self.value.strip()):
            raise InvalidInputError(f"{self.value!r} is not an e-mail address")
        if self.kind == "phone" and not _PHONE.match(self.value.strip()):
            raise InvalidInputError(f"{self.value!r} is not a phone number")


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """What a customer is made of before it is sealed and stored."""

    name: str
    kind: str = "person"
    name_kana: str | None = None
    address: str | None = None
    notes: str | None = None
    segment: str | None = None
    vip: bool = False
    tags: tuple[str, ...] = ()
    identifiers: tuple[Identifier, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInputError("a customer needs a name")
        if self.kind not in CUSTOMER_KINDS:
            raise InvalidInputError(f"customer kind must be one of {', '.join(CUSTOMER_KINDS)}")


class CustomersImportedEvent(Event, frozen=True, kw_only=True, tag="customers.imported"):
    """A batch of customers was created (their personal data never travels in events)."""

    resource: ClassVar[str] = "customer"
    batch_id: UUID
    count: int


class CustomerCreatedEvent(Event, frozen=True, kw_only=True, tag="customer.created"):
    resource: ClassVar[str] = "customer"
    customer_id: UUID


# --- CSV import --------------------------------------------------------------------------

CSV_COLUMNS = (
    "name",
    "name_kana",
    "kind",
    "phones",
    "emails",
    "member_no",
    "contract_no",
    "address",
    "segment",
    "vip",
    "tags",
    "notes",
)
REQUIRED_COLUMNS = ("name",)
LIST_SEPARATOR = ";"
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "はい", "○", "vip"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "n", "いいえ", "×"})


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


def check_header(header: list[str]) -> list[str]:
    """Column names as given (trimmed, lower-case); raises when unknown or required missing."""
    names = [column.strip().lower().lstrip("\ufeff") for column in header]
    unknown = sorted(set(names) - set(CSV_COLUMNS))
    if unknown:
        raise InvalidInputError(
            f"unknown column(s) {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}"
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise InvalidInputError(f"missing column(s): {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise InvalidInputError("a column appears twice")
    return names


def parse_row(names: list[str], values: list[str]) -> CustomerRecord:
    """One CSV row as a customer; raises InvalidInputError naming the problem."""
    if len(values) != len(names):
        raise InvalidInputError(f"expected {len(names)} fields, found {len(values)}")
    row = {name: value.strip() for name, value in zip(names, values, strict=True)}

    def many(column: str) -> list[str]:
        return [part.strip() for part in row.get(column, "").split(LIST_SEPARATOR) if part.strip()]

    vip_text = row.get("vip", "").lower()
    if vip_text not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidInputError(f"vip must be yes/no, not {row['vip']!r}")
    identifiers = [
        *(Identifier("phone", value) for value in many("phones")),
        *(Identifier("email", value) for value in many("emails")),
        *(Identifier("member_no", value) for value in many("member_no")),
        *(Identifier("contract_no", value) for value in many("contract_no")),
    ]
    return CustomerRecord(
        name=row["name"],
        kind=row.get("kind") or "person",
        name_kana=row.get("name_kana") or None,
        address=row.get("address") or None,
        notes=row.get("notes") or None,
        segment=row.get("segment") or None,
        vip=vip_text in TRUE_WORDS,
        tags=tuple(many("tags")),
        identifiers=tuple(identifiers),
    )


@dataclass(frozen=True, slots=True)
class CustomerChanges:
    """A partial update: ``None`` leaves a field as it is; ``""`` clears a text field."""

    name: str | None = None
    name_kana: str | None = None
    address: str | None = None
    notes: str | None = None
    segment: str | None = None
    vip: bool | None = None
    tags: tuple[str, ...] | None = None
    contact_preferences: dict[str, dict[str, bool]] | None = None
    identifiers: tuple[Identifier, ...] | None = None

    def __post_init__(self) -> None:
        if self.name is not None and not self.name.strip():
            raise InvalidInputError("a customer needs a name")
        for channel, flags in (self.contact_preferences or {}).items():
            if channel not in CHANNELS:
                raise InvalidInputError(f"unknown channel {channel!r}")
            unknown = set(flags) - {"consent", "do_not_contact"}
            if unknown:
                raise InvalidInputError(f"unknown preference(s) {', '.join(sorted(unknown))}")


CHANNELS = ("phone", "email", "sms", "chat", "post")


@dataclass(frozen=True, slots=True)
class OrderLineRecord:
    product_code: str
    product_name: str
    quantity: int = 1
    amount_yen: int = 0

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise InvalidInputError("quantity must be at least 1")
        if not self.product_code.strip():
            raise InvalidInputError("a line needs a product code")


@dataclass(frozen=True, slots=True)
class OrderRecord:
    number: str
    ordered_on: date
    kind: str = "order"
    status: str = "open"
    lines: tuple[OrderLineRecord, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("order", "contract"):
            raise InvalidInputError("kind must be order or contract")
        if not self.number.strip():
            raise InvalidInputError("an order needs a number")


class CustomerUpdatedEvent(Event, frozen=True, kw_only=True, tag="customer.updated"):
    resource: ClassVar[str] = "customer"
    customer_id: UUID


class CustomersMergedEvent(Event, frozen=True, kw_only=True, tag="customers.merged"):
    resource: ClassVar[str] = "customer"
    customer_id: UUID
    merged_id: UUID
