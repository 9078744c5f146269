"""The desktop's customer side of a contact: who it is, their history, notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Request, get, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tsunagi.actions import desktop
from tsunagi.web.api.customers import CustomerOut, Reason, customer_out
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import client_ip, require_principal
from tsunagi.web.routing.desk_api import FollowUpOut, follow_up_out
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


class PartyIn(Input):
    kind: Literal["phone", "email", "member_no", "contract_no", "chat_login"]
    address: str


class LinkIn(Input):
    customer_id: UUID


class NotesIn(Input):
    notes: str | None = None
    sub_reason: str | None = None


class PartyOut(Output):
    candidates: int


class HistoryOut(Output):
    contact_id: UUID
    channel: str
    queue: str | None
    created_at: datetime
    state: str
    category: str | None
    outcome: str | None
    resolved_first_contact: bool | None
    communicator: str | None
    notes: str | None
    conversation_id: UUID | None = None
    sub_reason: str | None = None


class ScreenPopOut(Output):
    contact_id: UUID
    address_kind: str | None
    address: str | None
    customer: CustomerOut | None
    candidates: list[CustomerOut]
    history: list[HistoryOut]
    orders: list[dict[str, Any]]
    recommended: list[dict[str, Any]]
    follow_ups: list[FollowUpOut] = []  # noqa: RUF012 - msgspec copies defaults


class CallerPopOut(Output):
    customer: CustomerOut | None
    candidates: list[CustomerOut]
    history: list[HistoryOut]


def _history(entry: desktop.HistoryEntry) -> HistoryOut:
    return HistoryOut(
        contact_id=entry.contact_id,
        channel=entry.channel,
        queue=entry.queue,
        created_at=entry.created_at,
        state=entry.state,
        category=entry.category,
        outcome=entry.outcome,
        resolved_first_contact=entry.resolved_first_contact,
        communicator=entry.communicator,
        notes=entry.notes,
        conversation_id=entry.conversation_id,
        sub_reason=entry.sub_reason,
    )


@put(
    "/api/v1/contacts/{contact_id:uuid}/party",
    opt={"authz": ("update", "contact")},
    tags=["desktop"],
)
async def identify_party(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[PartyIn]
) -> PartyOut:
    """Where the contact came from (caller number, e-mail, member number, chat login); the
    customer is matched by keyed hash. Channel adapters call this after creating a contact."""
    principal = require_principal(request)
    services = services_of(request)
    found = await desktop.do_identify_party(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        kind=data.kind,
        address=data.address,
    )
    return PartyOut(candidates=found)


@put(
    "/api/v1/contacts/{contact_id:uuid}/customer",
    opt={"authz": ("update", "contact")},
    tags=["desktop"],
    status_code=204,
)
async def link_customer(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[LinkIn]
) -> None:
    principal = require_principal(request)
    await desktop.do_link_customer(
        services_of(request).db,
        principal=principal,
        contact_id=contact_id,
        customer_id=data.customer_id,
    )


@put(
    "/api/v1/contacts/{contact_id:uuid}/notes",
    opt={"authz": ("update", "contact")},
    tags=["desktop"],
    status_code=204,
)
async def save_notes(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[NotesIn]
) -> None:
    principal = require_principal(request)
    services = services_of(request)
    await desktop.do_save_notes(
        services.db,
        services.keyring,
        principal=principal,
        contact_id=contact_id,
        notes=data.notes,
        sub_reason=data.sub_reason,
    )


@get(
    "/api/v1/contacts/{contact_id:uuid}/screen-pop",
    opt={"authz": ("read", "customer")},
    tags=["desktop"],
)
async def screen_pop(request: AnyRequest, contact_id: FromPath[UUID]) -> ScreenPopOut:
    """Who the contact is, their history on every channel, recent orders and likely
    products. Each customer record opened is audited with the contact as the reason."""
    principal = require_principal(request)
    services = services_of(request)
    pop = await desktop.screen_pop(
        services.db,
        services.keyring,
        principal=principal,
        contact_id=contact_id,
        ip=client_ip(request),
    )
    return ScreenPopOut(
        contact_id=pop.contact_id,
        address_kind=pop.address_kind,
        address=pop.address,
        customer=customer_out(pop.customer) if pop.customer else None,
        candidates=[customer_out(c) for c in pop.candidates],
        history=[_history(h) for h in pop.history],
        orders=pop.orders,
        recommended=pop.recommended,
        follow_ups=[follow_up_out(f) for f in pop.follow_ups],
    )


@get(
    "/api/v1/customers/{customer_id:uuid}/history",
    opt={"authz": ("read", "customer")},
    tags=["desktop"],
)
async def customer_history(
    request: AnyRequest,
    customer_id: FromPath[UUID],
    reason: Annotated[str, QueryParameter(min_length=1, max_length=300)],
    before: FromQuery[datetime | None] = None,
    limit: FromQuery[int] = desktop.HISTORY_PAGE,
) -> list[HistoryOut]:
    """A page of the customer's contacts, newest first (notes included, so the read is
    audited with ``reason``); pass the last ``created_at`` as ``before`` for the next page."""
    principal = require_principal(request)
    services = services_of(request)
    entries = await desktop.customer_history(
        services.db,
        services.keyring,
        principal=principal,
        customer_id=customer_id,
        limit=max(1, min(limit, 100)),
        before=before,
        audit_reason=reason,
        ip=client_ip(request),
    )
    return [_history(entry) for entry in entries]


@get(
    "/api/v1/customers/screen-pop",
    opt={"authz": ("read", "customer")},
    tags=["desktop"],
    summary="Screen-pop by caller number: the customer and their first page of history",
    description=(
        "Finds the customers with this phone number (any spelling), e-mail, member or "
        "contract number. Exactly one: `customer` and the first page of their history, "
        "newest first (`history`; `GET /api/v1/customers/{id}/history?before=` pages on). "
        "Several: `candidates` and no history. None: both empty. Every record opened "
        "(`customer.read`) and the page (`customer.history_read`) are audited with "
        "`reason` in one commit before the answer is sent."
    ),
)
async def caller_screen_pop(
    request: AnyRequest,
    kind: Annotated[
        Literal["phone", "email", "member_no", "contract_no"], QueryParameter(required=True)
    ],
    value: Annotated[str, QueryParameter(min_length=1, max_length=320)],
    reason: Reason,
) -> CallerPopOut:
    """Screen-pop in one request: the customers with this phone number (e-mail, member or
    contract number) and, when exactly one is found, the first page of their history
    (``history``; several records: ``candidates`` to choose from, no history; none: both
    empty). Every record opened and the history page are audited with ``reason`` in one
    commit before the answer is sent."""
    principal = require_principal(request)
    services = services_of(request)
    pop = await desktop.screen_pop_by_identifier(
        services.db,
        services.keyring,
        principal=principal,
        kind=kind,
        value=value,
        reason=reason,
        ip=client_ip(request),
    )
    return CallerPopOut(
        customer=customer_out(pop.customer) if pop.customer else None,
        candidates=[customer_out(c) for c in pop.candidates],
        history=[_history(h) for h in pop.history],
    )


ROUTES = [
    identify_party,
    link_customer,
    save_notes,
    screen_pop,
    customer_history,
    caller_screen_pop,
]
