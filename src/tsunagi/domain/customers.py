"""Customers: the validated shape of a customer record and its events (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event

IDENTIFIER_KINDS = ("phone", "email", "member_no", "contract_no")
CUSTOMER_KINDS = ("person", "company")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9０-９()（）\-‐－ ]{6,24}$")


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
