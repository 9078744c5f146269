"""Customers: create (one or a batch), find by identifier, read — sealed and audited.

Personal fields are sealed with the tenant's data key before they reach the session and
opened only in :func:`read_customer`, which records who read which record and why.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    Insert,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.events import emit
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import Customer, CustomerIdentifier, Order, OrderLine
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import AuditEntry
from tsunagi.domain.customers import (
    CustomerChanges,
    CustomerCreatedEvent,
    CustomerRecord,
    CustomersImportedEvent,
    CustomersMergedEvent,
    CustomerUpdatedEvent,
    Identifier,
    OrderRecord,
    RowError,
    check_header,
    parse_row,
)
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.domain.permissions import Principal

SEALED_FIELDS = ("name", "name_kana", "address", "notes")
# Core tables for bulk inserts (executemany), far faster than ORM unit-of-work for imports.
CUSTOMER_TABLE = cast(Table, Customer.__table__)
IDENTIFIER_TABLE = cast(Table, CustomerIdentifier.__table__)
LOOKUP_LIMIT = 10
"""At most this many records are opened by one lookup (a number shared by a family)."""


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
    contact_preferences: dict[str, Any]
    merged_into_id: UUID | None


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
    identifiers = _identifier_rows(cipher, tenant_id, customer_id, item.identifiers)
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
        await session.execute(insert(CUSTOMER_TABLE), customers)
        if identifiers:
            await session.execute(insert(IDENTIFIER_TABLE), identifiers)
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
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        return list(await session.scalars(find_by_identifier(cipher, kind, value).distinct()))


def find_by_identifier(cipher: TenantCipher, kind: str, value: str) -> Select[UUID]:
    return select(CustomerIdentifier.customer_id).where(
        CustomerIdentifier.kind == kind,
        CustomerIdentifier.value_hash == cipher.lookup_hash(kind, value),
    )


async def lookup_customers(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    kind: str,
    value: str,
    reason: str,
    limit: int,
    ip: str | None = None,
) -> list[CustomerView]:
    """Screen-pop: the customers with this identifier (at most ``limit``), found and read
    in one statement; each record opened is audited with ``reason`` before it is returned."""
    check_reason(reason)
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id, readonly=True, snapshot=False) as session:
        found = await open_by_identifier(session, cipher, kind, value, limit)
    customer_ids = list(found)
    await _audit_reads(db, principal, customer_ids, reason, ip)
    return [customer_view(cipher, *found[cid]) for cid in customer_ids]


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
    [view] = await read_customers(
        db, keyring, principal=principal, customer_ids=[customer_id], reason=reason, ip=ip
    )
    return view


async def read_customers(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    customer_ids: list[UUID],
    reason: str,
    ip: str | None = None,
) -> list[CustomerView]:
    """Open several records: read them, then one audit row each in one commit; nothing is
    returned unless the audit is committed."""
    check_reason(reason)
    if not customer_ids:
        return []
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        found = await load_customers(session, customer_ids)
    if any(cid not in found for cid in customer_ids):
        raise NotFoundError("customer not found")
    await _audit_reads(db, principal, customer_ids, reason, ip)
    return [customer_view(cipher, *found[cid]) for cid in customer_ids]


def check_reason(reason: str) -> None:
    if not reason.strip():
        raise InvalidInputError("say why you open this customer's record")


Opened = dict[UUID, tuple[Customer, list[CustomerIdentifier]]]


def _customers_with_identifiers() -> Select[Customer, CustomerIdentifier]:
    return select(Customer, CustomerIdentifier).outerjoin(
        CustomerIdentifier, CustomerIdentifier.customer_id == Customer.id
    )


# Built once (screen-pop runs it on every call): the statement object is reused, so
# SQLAlchemy neither rebuilds it nor recomputes its cache key; the tenant criterion is
# still added to every table by the scoped session on each execution.
_OPEN_BY_IDENTIFIER = _customers_with_identifiers().where(
    Customer.id.in_(
        select(CustomerIdentifier.customer_id)
        .where(
            CustomerIdentifier.kind == bindparam("kind", type_=String),
            CustomerIdentifier.value_hash == bindparam("value_hash", type_=String),
        )
        .distinct()
        .limit(bindparam("candidates", type_=Integer))
    )
)


async def open_by_identifier(
    session: AsyncSession, cipher: TenantCipher, kind: str, value: str, limit: int
) -> Opened:
    """The customers (at most ``limit``) with this identifier and all their identifiers,
    in one statement (keyed-hash lookup)."""
    rows = await session.execute(
        _OPEN_BY_IDENTIFIER,
        {"kind": kind, "value_hash": cipher.lookup_hash(kind, value), "candidates": limit},
    )
    return _opened(rows)


async def load_customers(session: AsyncSession, customer_ids: list[UUID]) -> Opened:
    """Customers with their identifiers, in one statement, in the order first met."""
    rows = await session.execute(_customers_with_identifiers().where(Customer.id.in_(customer_ids)))
    return _opened(rows)


def _opened(rows: Iterable[Any]) -> Opened:
    found: Opened = {}
    for customer, identifier in rows:
        _customer, identifiers = found.setdefault(customer.id, (customer, []))
        if identifier is not None:
            identifiers.append(identifier)
    return found


async def _audit_reads(
    db: Database, principal: Principal, customer_ids: list[UUID], reason: str, ip: str | None
) -> None:
    """One audit row per record opened, in one commit (see :func:`do_audit_reads`)."""
    await do_audit_reads(
        db, principal, [("customer.read", cid) for cid in customer_ids], reason, ip
    )


AUDIT_TABLE = cast(Table, AuditEntry.__table__)
_AUDIT_COLUMNS = (
    "id",
    "tenant_id",
    "occurred_at",
    "actor_user_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "ip",
    "reason",
    "detail",
)
_AUDIT_PER_ROW = frozenset({"id", "action", "resource_id"})
"""The parameters of each row (``id_0``, ``id_1``…); the others are one parameter for all
rows — ``tenant_id`` among them, which the scoped session checks against its tenant."""


@functools.lru_cache(maxsize=64)
def _audit_insert(rows: int) -> Insert:
    """``INSERT INTO audit_log (…) SELECT …, … UNION ALL SELECT …`` for ``rows`` rows, with
    named parameters: built once per row count and cacheable, so SQLAlchemy compiles it
    once (``INSERT … VALUES (…), (…)`` has no cache key: it was compiled anew on every
    screen-pop, about a quarter of the request's CPU)."""
    selects = [
        select(
            *[
                bindparam(
                    f"{column}_{row}" if column in _AUDIT_PER_ROW else column,
                    type_=AUDIT_TABLE.c[column].type,
                )
                for column in _AUDIT_COLUMNS
            ]
        )
        for row in range(rows)
    ]
    source = selects[0] if rows == 1 else union_all(*selects)
    return insert(AUDIT_TABLE).from_select(list(_AUDIT_COLUMNS), source)


async def do_audit_reads(
    db: Database,
    principal: Principal,
    reads: list[tuple[str, UUID]],
    reason: str,
    ip: str | None,
) -> None:
    """Audit rows ``(action, customer id)`` for reads of personal data, committed durably
    before the caller answers. The records were read on the read side; the rows are **one**
    ``INSERT … SELECT`` statement (:func:`_audit_insert`), one short transaction without
    BEGIN/COMMIT round trips (``autocommit``), so the SQLite writer is held only for it."""
    if not reads:
        return
    parameters: dict[str, Any] = {
        "tenant_id": principal.tenant_id,  # checked against the session's scope
        "occurred_at": datetime.now(UTC),
        "actor_user_id": principal.user_id,
        "resource_type": "customer",
        "outcome": "ok",
        "ip": ip,
        "reason": reason[:300],
        "detail": {},
    }
    for row, (action, customer_id) in enumerate(reads):
        parameters |= {
            f"id_{row}": new_id(),
            f"action_{row}": action,
            f"resource_id_{row}": str(customer_id),
        }
    async with db.scoped(principal.tenant_id, autocommit=True) as session:
        await session.execute(_audit_insert(len(reads)), parameters)


def customer_view(
    cipher: TenantCipher, customer: Customer, identifiers: list[CustomerIdentifier]
) -> CustomerView:
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
        contact_preferences=dict(customer.contact_preferences),
        merged_into_id=customer.merged_into_id,
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


# --- CSV import ---------------------------------------------------------------------------

IMPORT_BATCH = 1000
MAX_REPORTED_ERRORS = 1000


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)

    def reject(self, line: int, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, message))


async def do_import_csv(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    lines: Iterable[str],
    actor: str | None,
    dry_run: bool = False,
) -> ImportReport:
    """Import customers from CSV text, streamed: good rows are imported in batches (each
    batch one transaction), bad rows are reported with their line number and the reason.
    With ``dry_run`` nothing is written: the report is the preview."""
    reader = csv.reader(lines)
    try:
        names = check_header(next(reader))
    except StopIteration as exc:
        raise InvalidInputError("the file is empty") from exc
    report = ImportReport()
    batch: list[CustomerRecord] = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        report.rows += 1
        try:
            batch.append(parse_row(names, values))
        except InvalidInputError as exc:
            report.reject(reader.line_num, str(exc))
            continue
        if len(batch) >= IMPORT_BATCH:
            report.imported += await _flush(db, keyring, tenant_id, batch, actor, dry_run)
            batch = []
    if batch:
        report.imported += await _flush(db, keyring, tenant_id, batch, actor, dry_run)
    return report


async def _flush(
    db: Database,
    keyring: KeyRing,
    tenant_id: UUID,
    batch: list[CustomerRecord],
    actor: str | None,
    dry_run: bool,
) -> int:
    if not dry_run:
        await do_import_customers(db, keyring, tenant_id=tenant_id, items=batch, actor=actor)
    return len(batch)


# --- Changes ------------------------------------------------------------------------------


async def do_update_customer(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    customer_id: UUID,
    changes: CustomerChanges,
) -> None:
    """Change a customer's fields; given identifiers replace the old ones."""
    cipher = await keyring.cipher(db, principal.tenant_id)
    now = datetime.now(UTC)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.merged_into_id is not None:
            raise NotFoundError("customer not found")
        for name in SEALED_FIELDS:
            value = getattr(changes, name)
            if value is not None:
                sealed = cipher.seal(
                    value or None, table="customers", column=name, row_id=customer_id
                )
                if name == "name" and sealed is None:
                    raise InvalidInputError("a customer needs a name")
                setattr(customer, f"{name}_enc", sealed)
        for name in ("segment", "vip"):
            value = getattr(changes, name)
            if value is not None:
                setattr(customer, name, value)
        if changes.tags is not None:
            customer.tags = list(changes.tags)
        if changes.contact_preferences is not None:
            customer.contact_preferences = changes.contact_preferences
        if changes.identifiers is not None:
            await session.execute(
                delete(CustomerIdentifier).where(CustomerIdentifier.customer_id == customer_id)
            )
            rows = _identifier_rows(cipher, principal.tenant_id, customer_id, changes.identifiers)
            if rows:
                await session.execute(insert(IDENTIFIER_TABLE), rows)
        customer.updated_at = now
        emit(
            session,
            CustomerUpdatedEvent(
                tenant_id=principal.tenant_id,
                occurred_at=now,
                actor=principal.actor,
                customer_id=customer_id,
            ),
        )


async def do_merge_customers(
    db: Database, *, principal: Principal, keep_id: UUID, merge_id: UUID
) -> None:
    """Merge a duplicate into the record kept: identifiers and orders move, the duplicate
    stays (for history) marked as merged and no longer found by lookups."""
    if keep_id == merge_id:
        raise InvalidInputError("a customer cannot be merged into itself")
    now = datetime.now(UTC)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        keep = await session.get(Customer, keep_id)
        merged = await session.get(Customer, merge_id)
        if keep is None or merged is None:
            raise NotFoundError("customer not found")
        if keep.merged_into_id is not None or merged.merged_into_id is not None:
            raise ConflictError("one of these customers was already merged")
        await session.execute(
            update(CustomerIdentifier)
            .where(CustomerIdentifier.customer_id == merge_id)
            .values(customer_id=keep_id)
        )
        await session.execute(
            update(Order).where(Order.customer_id == merge_id).values(customer_id=keep_id)
        )
        keep.vip = keep.vip or merged.vip
        keep.tags = sorted(set(keep.tags) | set(merged.tags))
        keep.updated_at = merged.updated_at = now
        merged.merged_into_id = keep_id
        emit(
            session,
            CustomersMergedEvent(
                tenant_id=principal.tenant_id,
                occurred_at=now,
                actor=principal.actor,
                customer_id=keep_id,
                merged_id=merge_id,
            ),
        )


def _identifier_rows(
    cipher: TenantCipher, tenant_id: UUID, customer_id: UUID, identifiers: Iterable[Identifier]
) -> list[dict[str, Any]]:
    rows = []
    for identifier in identifiers:
        row_id = new_id()
        rows.append(
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
    return rows


# --- Orders -------------------------------------------------------------------------------


async def do_add_order(
    db: Database, *, principal: Principal, customer_id: UUID, order: OrderRecord
) -> UUID:
    async with db.scoped(principal.tenant_id) as session, session.begin():
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.merged_into_id is not None:
            raise NotFoundError("customer not found")
        taken = await session.scalar(
            select(Order.id).where(Order.kind == order.kind, Order.number == order.number)
        )
        if taken is not None:
            raise ConflictError(f"{order.kind} {order.number} exists")
        row = Order(
            customer_id=customer_id,
            kind=order.kind,
            number=order.number,
            ordered_on=order.ordered_on,
            status=order.status,
            total_yen=sum(line.amount_yen for line in order.lines),
        )
        session.add(row)
        await session.flush()
        for line in order.lines:
            session.add(
                OrderLine(
                    order_id=row.id,
                    product_code=line.product_code,
                    product_name=line.product_name,
                    quantity=line.quantity,
                    amount_yen=line.amount_yen,
                )
            )
        return row.id


async def do_import_orders(
    db: Database, *, tenant_id: UUID, orders: list[tuple[UUID, OrderRecord]]
) -> int:
    """Load many orders at once (history imports, the demo), in batches of 1,000."""
    for start in range(0, len(orders), IMPORT_BATCH):
        order_rows, line_rows = [], []
        for customer_id, order in orders[start : start + IMPORT_BATCH]:
            order_id = new_id()
            order_rows.append(
                {
                    "id": order_id,
                    "tenant_id": tenant_id,
                    "customer_id": customer_id,
                    "kind": order.kind,
                    "number": order.number,
                    "ordered_on": order.ordered_on,
                    "status": order.status,
                    "total_yen": sum(line.amount_yen for line in order.lines),
                }
            )
            line_rows += [
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "order_id": order_id,
                    "product_code": line.product_code,
                    "product_name": line.product_name,
                    "quantity": line.quantity,
                    "amount_yen": line.amount_yen,
                }
                for line in order.lines
            ]
        async with db.scoped(tenant_id) as session, session.begin():
            await session.execute(insert(cast(Table, Order.__table__)), order_rows)
            if line_rows:
                await session.execute(insert(cast(Table, OrderLine.__table__)), line_rows)
    return len(orders)


async def list_orders(
    db: Database, *, principal: Principal, customer_id: UUID, limit: int = 20
) -> list[dict[str, Any]]:
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        if await session.get(Customer, customer_id) is None:
            raise NotFoundError("customer not found")
        orders = (
            await session.scalars(
                select(Order)
                .where(Order.customer_id == customer_id)
                .order_by(Order.ordered_on.desc(), Order.number)
                .limit(limit)
            )
        ).all()
        lines = (
            await session.scalars(
                select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders]))
            )
        ).all()
    by_order: dict[UUID, list[dict[str, Any]]] = {}
    for line in lines:
        by_order.setdefault(line.order_id, []).append(
            {
                "product_code": line.product_code,
                "product_name": line.product_name,
                "quantity": line.quantity,
                "amount_yen": line.amount_yen,
            }
        )
    return [
        {
            "id": order.id,
            "kind": order.kind,
            "number": order.number,
            "ordered_on": order.ordered_on,
            "status": order.status,
            "total_yen": order.total_yen,
            "lines": by_order.get(order.id, []),
        }
        for order in orders
    ]
