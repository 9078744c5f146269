"""Customers over HTTP: lookup (screen-pop), audited reads, create, update, merge, orders,
and CSV import with a preview. Every read of personal data names a reason and is audited."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tsunagi.actions import customers
from tsunagi.domain.customers import (
    CustomerChanges,
    CustomerRecord,
    Identifier,
    OrderLineRecord,
    OrderRecord,
)
from tsunagi.domain.errors import InvalidInputError
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import client_ip, require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
MAX_IMPORT_BYTES = 200 * 1024 * 1024
Reason = Annotated[str, QueryParameter(min_length=1, max_length=300)]


class IdentifierIn(Input):
    kind: str
    value: str
    label: str | None = None


class CustomerIn(Input):
    name: str
    kind: str = "person"
    name_kana: str | None = None
    address: str | None = None
    notes: str | None = None
    segment: str | None = None
    vip: bool = False
    tags: list[str] = msgspec.field(default_factory=list)
    identifiers: list[IdentifierIn] = msgspec.field(default_factory=list)


class CustomerPatch(Input):
    name: str | None = None
    name_kana: str | None = None
    address: str | None = None
    notes: str | None = None
    segment: str | None = None
    vip: bool | None = None
    tags: list[str] | None = None
    contact_preferences: dict[str, dict[str, bool]] | None = None
    identifiers: list[IdentifierIn] | None = None


class MergeIn(Input):
    merge_id: UUID


class OrderLineIn(Input):
    product_code: str
    product_name: str
    quantity: int = 1
    amount_yen: int = 0


class OrderIn(Input):
    number: str
    ordered_on: date
    kind: str = "order"
    status: str = "open"
    lines: list[OrderLineIn] = msgspec.field(default_factory=list)


class CustomerOut(Output):
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


class CreatedOut(Output):
    id: UUID


class ImportErrorOut(Output):
    line: int
    message: str


class ImportReportOut(Output):
    dry_run: bool
    rows: int
    imported: int
    rejected: int
    errors: list[ImportErrorOut]


def customer_out(view: customers.CustomerView) -> CustomerOut:
    return CustomerOut(
        id=view.id,
        kind=view.kind,
        name=view.name,
        name_kana=view.name_kana,
        address=view.address,
        notes=view.notes,
        segment=view.segment,
        vip=view.vip,
        tags=view.tags,
        identifiers=view.identifiers,
        contact_preferences=view.contact_preferences,
        merged_into_id=view.merged_into_id,
    )


def _identifiers(items: list[IdentifierIn]) -> tuple[Identifier, ...]:
    return tuple(Identifier(item.kind, item.value, item.label) for item in items)


@get("/api/v1/customers/lookup", opt={"authz": ("read", "customer")}, tags=["customers"])
async def lookup_customers(
    request: AnyRequest, kind: FromQuery[str], value: FromQuery[str], reason: Reason
) -> list[CustomerOut]:
    """Screen-pop: customers with this phone number, e-mail or member number (each opened
    record is audited with ``reason``)."""
    principal = require_principal(request)
    services = services_of(request)
    if kind not in ("phone", "email", "member_no", "contract_no"):
        raise InvalidInputError("kind must be phone, email, member_no or contract_no")
    views = await customers.lookup_customers(
        services.db,
        services.keyring,
        principal=principal,
        kind=kind,
        value=value,
        reason=reason,
        limit=customers.LOOKUP_LIMIT,
        ip=client_ip(request),
    )
    return [customer_out(view) for view in views]


@get(
    "/api/v1/customers/{customer_id:uuid}", opt={"authz": ("read", "customer")}, tags=["customers"]
)
async def read_customer(
    request: AnyRequest, customer_id: FromPath[UUID], reason: Reason
) -> CustomerOut:
    principal = require_principal(request)
    services = services_of(request)
    view = await customers.read_customer(
        services.db,
        services.keyring,
        principal=principal,
        customer_id=customer_id,
        reason=reason,
        ip=client_ip(request),
    )
    return customer_out(view)


@post("/api/v1/customers", opt={"authz": ("create", "customer")}, tags=["customers"])
async def create_customer(request: AnyRequest, data: JSONBody[CustomerIn]) -> CreatedOut:
    principal = require_principal(request)
    services = services_of(request)
    record = CustomerRecord(
        name=data.name,
        kind=data.kind,
        name_kana=data.name_kana,
        address=data.address,
        notes=data.notes,
        segment=data.segment,
        vip=data.vip,
        tags=tuple(data.tags),
        identifiers=_identifiers(data.identifiers),
    )
    [created] = await customers.do_import_customers(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        items=[record],
        actor=principal.actor,
    )
    return CreatedOut(id=created)


@patch(
    "/api/v1/customers/{customer_id:uuid}",
    opt={"authz": ("update", "customer")},
    tags=["customers"],
    status_code=204,
)
async def update_customer(
    request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[CustomerPatch]
) -> None:
    principal = require_principal(request)
    services = services_of(request)
    changes = CustomerChanges(
        name=data.name,
        name_kana=data.name_kana,
        address=data.address,
        notes=data.notes,
        segment=data.segment,
        vip=data.vip,
        tags=tuple(data.tags) if data.tags is not None else None,
        contact_preferences=data.contact_preferences,
        identifiers=_identifiers(data.identifiers) if data.identifiers is not None else None,
    )
    await customers.do_update_customer(
        services.db, services.keyring, principal=principal, customer_id=customer_id, changes=changes
    )


@post(
    "/api/v1/customers/{customer_id:uuid}/merge",
    opt={"authz": ("update", "customer")},
    tags=["customers"],
    status_code=204,
)
async def merge_customers(
    request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[MergeIn]
) -> None:
    """Merge the customer ``merge_id`` (a duplicate) into this one."""
    principal = require_principal(request)
    await customers.do_merge_customers(
        services_of(request).db, principal=principal, keep_id=customer_id, merge_id=data.merge_id
    )


@post(
    "/api/v1/customers/{customer_id:uuid}/orders",
    opt={"authz": ("update", "customer")},
    tags=["customers"],
)
async def add_order(
    request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[OrderIn]
) -> CreatedOut:
    principal = require_principal(request)
    order = OrderRecord(
        number=data.number,
        ordered_on=data.ordered_on,
        kind=data.kind,
        status=data.status,
        lines=tuple(
            OrderLineRecord(line.product_code, line.product_name, line.quantity, line.amount_yen)
            for line in data.lines
        ),
    )
    created = await customers.do_add_order(
        services_of(request).db, principal=principal, customer_id=customer_id, order=order
    )
    return CreatedOut(id=created)


@get(
    "/api/v1/customers/{customer_id:uuid}/orders",
    opt={"authz": ("read", "customer")},
    tags=["customers"],
)
async def list_orders(request: AnyRequest, customer_id: FromPath[UUID]) -> list[dict[str, Any]]:
    principal = require_principal(request)
    return await customers.list_orders(
        services_of(request).db, principal=principal, customer_id=customer_id
    )


@post(
    "/api/v1/customers/import",
    opt={"authz": ("create", "customer")},
    tags=["customers"],
    status_code=200,
)
async def import_customers(request: AnyRequest, dry_run: FromQuery[bool] = True) -> ImportReportOut:
    """Import customers from a CSV body (UTF-8, header row; columns in the docs). With
    ``dry_run=true`` (the default) nothing is written and the report is a preview."""
    principal = require_principal(request)
    services = services_of(request)
    if not request.headers.get("content-type", "").startswith("text/csv"):
        raise InvalidInputError("send the file as text/csv")
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise InvalidInputError("the file is too large for the API; use `tsunagi customers import`")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("the file must be UTF-8") from exc
    report = await customers.do_import_csv(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        lines=io.StringIO(text, newline=""),
        actor=principal.actor,
        dry_run=dry_run,
    )
    return ImportReportOut(
        dry_run=dry_run,
        rows=report.rows,
        imported=report.imported,
        rejected=report.rejected,
        errors=[ImportErrorOut(line=e.line, message=e.message) for e in report.errors],
    )


ROUTES = [
    lookup_customers,
    read_customer,
    create_customer,
    update_customer,
    merge_customers,
    add_order,
    list_orders,
    import_customers,
]
