"""Customers and their identifiers; personal data is stored sealed (see ``security/crypto``).

Columns ending in ``_enc`` hold AES-GCM ciphertext bound to their row; ``value_hash``
columns hold keyed hashes for equality lookup (screen-pop by caller number or address).
Nothing personal is stored in plaintext: segment, VIP flag, tags and consent are business
attributes, not personal data.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class TenantKey(TenantScoped, Base):
    """A tenant's data key, wrapped by the master key (which never enters the database)."""

    __tablename__ = "tenant_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "version", name="uq_tenant_keys_version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(Integer, default=1)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Customer(TenantScoped, Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), default="person")  # person | company
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_kana_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    segment: Mapped[str | None] = mapped_column(String(63))
    vip: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(default=list)
    # Per channel: {"phone": {"consent": true, "do_not_contact": false}, ...}
    contact_preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    # Set when this record was merged into another; merged records are kept for history.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CustomerIdentifier(TenantScoped, Base):
    """A phone number, e-mail address or member/contract number of a customer."""

    __tablename__ = "customer_identifiers"
    __table_args__ = (Index("ix_customer_identifiers_lookup", "tenant_id", "kind", "value_hash"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # phone | email | member_no | contract_no
    label: Mapped[str | None] = mapped_column(String(32))  # home, mobile, work…
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    value_hash: Mapped[str] = mapped_column(String(64))


class Order(TenantScoped, Base):
    """An order or a contract of a customer (co-op deliveries, electricity, gas…)."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_customer_date", "tenant_id", "customer_id", "ordered_on"),
        UniqueConstraint("tenant_id", "kind", "number", name="uq_orders_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="order")  # order | contract
    number: Mapped[str] = mapped_column(String(64))
    ordered_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(32), default="open")
    total_yen: Mapped[int] = mapped_column(BigInteger, default=0)


class OrderLine(TenantScoped, Base):
    __tablename__ = "order_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    product_code: Mapped[str] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount_yen: Mapped[int] = mapped_column(BigInteger, default=0)


class ContactParty(TenantScoped, Base):
    """Who is on the other end of a contact: the address they came from (sealed, hashed)
    and the customer it was matched to. One row per contact (the routing engine's
    ``routing_contacts`` row keeps no personal data)."""

    __tablename__ = "contact_parties"
    __table_args__ = (
        Index("ix_contact_parties_customer", "tenant_id", "customer_id", "created_at"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("routing_contacts.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str | None] = mapped_column(String(16))  # phone | email | member_no | chat_login
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_hash: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    matched_by: Mapped[str | None] = mapped_column(String(16))  # lookup | communicator | api
    candidates: Mapped[int] = mapped_column(Integer, default=0)
    # The communicator's wrap-up notes for this contact (sealed) and sub-reason.
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    sub_reason: Mapped[str | None] = mapped_column(String(63))
    created_at: Mapped[datetime]
