"""Customers: create (one or a batch), find by identifier, read — sealed and audited.

Personal fields are sealed with the tenant's data key before they reach the session and
opened only in :func:`read_customer`, which records who read which record and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.audit import record
from tsunagi.actions.events import emit
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import Customer, CustomerIdentifier
from tsunagi.adapters.storage.db import Database
from tsunagi.domain.customers import (
    CustomerCreatedEvent,
    CustomerRecord,
    CustomersImportedEvent,
)
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.domain.permissions import Principal

SEALED_FIELDS = ("name", "name_kana", "address", "notes")


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: UUID
    kind: str
    name: str
    name_kana: str | None
    address: str | None
    notes: str | None
    segment: str | None
    vip: bool
    tags: list[str]
    identifiers: list[dict[str, Any]]


def _rows(
    cipher: TenantCipher, tenant_id: UUID, item: CustomerRecord, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    customer_id = new_id()
    customer: dict[str, Any] = {
        "id": customer_id,
        "tenant_id": tenant_id,
        "kind": item.kind,
        "segment": item.segment,
        "vip": item.vip,
        "tags": list(item.tags),
        "contact_preferences": {},
        "key_version": 1,
        "created_at": now,
        "updated_at": now,
    }
    for name in SEALED_FIELDS:
        customer[f"{name}_enc"] = cipher.seal(
            getattr(item, name), table="customers", column=name, row_id=customer_id
        )
    identifiers = []
    for identifier in item.identifiers:
        row_id = new_id()
        identifiers.append(
            {
                "id": row_id,
                "tenant_id": tenant_id,
                "customer_id": customer_id,
                "kind": identifier.kind,
                "label": identifier.label,
                "value_enc": cipher.seal(
                    identifier.value, table="customer_identifiers", column="value", row_id=row_id
                ),
                "value_hash": cipher.lookup_hash(identifier.kind, identifier.value),
            }
        )
    return customer, identifiers


async def do_import_customers(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    items: list[CustomerRecord],
    actor: str | None,
) -> list[UUID]:
    """Create customers in one transaction: all of them or none."""
    if not items:
        raise InvalidInputError("nothing to import")
    cipher = await keyring.cipher(db, tenant_id)
    now = datetime.now(UTC)
    customers, identifiers = [], []
    for item in items:
        customer, its_identifiers = _rows(cipher, tenant_id, item, now)
        customers.append(customer)
        identifiers.extend(its_identifiers)
    async with db.scoped(tenant_id) as session, session.begin():
        await session.execute(insert(Customer.__table__), customers)
        if identifiers:
            await session.execute(insert(CustomerIdentifier.__table__), identifiers)
        if len(items) == 1:
            emit(
                session,
                CustomerCreatedEvent(
                    tenant_id=tenant_id,
                    occurred_at=now,
                    actor=actor,
                    customer_id=customers[0]["id"],
                ),
            )
        else:
            emit(
                session,
                CustomersImportedEvent(
                    tenant_id=tenant_id,
                    occurred_at=now,
                    actor=actor,
                    batch_id=new_id(),
                    count=len(items),
                ),
            )
    return [customer["id"] for customer in customers]


async def find_customers(
    db: Database, keyring: KeyRing, *, principal: Principal, kind: str, value: str
) -> list[UUID]:
    """Customers with this phone number, address or member number (keyed-hash lookup)."""
    cipher = await keyring.cipher(db, principal.tenant_id)
    wanted = cipher.lookup_hash(kind, value)
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        found = await session.scalars(
            select(CustomerIdentifier.customer_id)
            .where(CustomerIdentifier.kind == kind, CustomerIdentifier.value_hash == wanted)
            .distinct()
        )
        return list(found)


async def read_customer(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    customer_id: UUID,
    reason: str,
    ip: str | None = None,
) -> CustomerView:
    """Open one customer's record for ``principal``; the read is audited with ``reason``."""
    if not reason.strip():
        raise InvalidInputError("say why you open this customer's record")
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        customer = await session.get(Customer, customer_id)
        if customer is None:
            raise NotFoundError("customer not found")
        identifiers = (
            await session.scalars(
                select(CustomerIdentifier).where(CustomerIdentifier.customer_id == customer_id)
            )
        ).all()
        _audit_read(session, principal, customer_id, reason, ip)
    return _view(cipher, customer, identifiers)


def _audit_read(
    session: AsyncSession, principal: Principal, customer_id: UUID, reason: str, ip: str | None
) -> None:
    record(
        session,
        tenant_id=principal.tenant_id,
        action="customer.read",
        resource_type="customer",
        resource_id=str(customer_id),
        outcome="ok",
        actor_user_id=principal.user_id,
        ip=ip,
        reason=reason,
    )


def _view(cipher: TenantCipher, customer: Customer, identifiers: Any) -> CustomerView:
    def opened(name: str) -> str | None:
        return cipher.open(
            getattr(customer, f"{name}_enc"), table="customers", column=name, row_id=customer.id
        )

    return CustomerView(
        id=customer.id,
        kind=customer.kind,
        name=opened("name") or "",
        name_kana=opened("name_kana"),
        address=opened("address"),
        notes=opened("notes"),
        segment=customer.segment,
        vip=customer.vip,
        tags=list(customer.tags),
        identifiers=[
            {
                "kind": row.kind,
                "label": row.label,
                "value": cipher.open(
                    row.value_enc, table="customer_identifiers", column="value", row_id=row.id
                ),
            }
            for row in identifiers
        ],
    )
