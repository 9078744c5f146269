"""Staff side of web callback booking: the day's bookings (API and page), cancelling one,
and each queue's booking settings and slot availability."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from litestar import Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from tsunagi.actions import booking as actions
from tsunagi.actions import booking_slots
from tsunagi.actions.accounts import get_tenant
from tsunagi.channels.booking import BookingSettings
from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.permissions import Principal
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import client_ip, csrf_for, require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["booking"]


class BookingOut(Output):
    id: UUID
    reference: str
    queue_id: UUID
    slot_start: datetime
    slot_minutes: int
    name: str | None
    phone: str | None
    topic: str | None
    lang: str
    note: str | None
    contact_id: UUID | None
    contact_state: str | None
    created_at: datetime
    cancelled_at: datetime | None


class SlotOut(Output):
    start: datetime
    seats: int
    booked: int
    free: int
    bookable: bool


def _out(row: actions.BookingRow) -> BookingOut:
    return BookingOut(**{name: getattr(row, name) for name in BookingOut.__struct_fields__})


async def _zone_today(request: AnyRequest, principal: Principal) -> tuple[str, date]:
    tenant = await get_tenant(services_of(request).db, principal.tenant_id)
    return tenant.timezone, datetime.now(ZoneInfo(tenant.timezone)).date()


def _day(text: str | None, today: date) -> date:
    if not text:
        return today
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError("day must be YYYY-MM-DD") from exc


async def _rows(
    request: AnyRequest, day: str | None, queue_id: UUID | None
) -> tuple[list[actions.BookingRow], date, str]:
    principal = require_principal(request)
    services = services_of(request)
    zone, today = await _zone_today(request, principal)
    chosen = _day(day, today)
    rows = await actions.list_bookings(
        services.db,
        services.keyring,
        principal=principal,
        day=chosen,
        queue_id=queue_id,
        timezone=zone,
        ip=client_ip(request),
    )
    return rows, chosen, zone


@get("/api/v1/bookings", opt={"authz": ("read", "callback_booking")}, tags=TAGS)
async def list_bookings(
    request: AnyRequest, day: FromQuery[str | None] = None, queue_id: FromQuery[UUID | None] = None
) -> list[BookingOut]:
    """Bookings whose slot starts on a local day (default today), optionally of one queue.
    Names and numbers are opened: the read is audited."""
    rows, _chosen, _zone = await _rows(request, day, queue_id)
    return [_out(row) for row in rows]


@delete(
    "/api/v1/bookings/{booking_id:uuid}",
    opt={"authz": ("delete", "callback_booking")},
    tags=TAGS,
    status_code=204,
)
async def cancel_booking(request: AnyRequest, booking_id: FromPath[UUID]) -> None:
    """Cancel a booking for the customer (its scheduled callback is closed)."""
    await _cancel(request, booking_id)


async def _cancel(request: AnyRequest, booking_id: UUID) -> None:
    principal = require_principal(request)
    services = services_of(request)
    await actions.do_cancel_booking(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        booking_id=booking_id,
        actor=principal.actor,
    )


@get(
    "/api/v1/queues/{queue_id:uuid}/booking",
    opt={"authz": ("read", "booking_settings")},
    tags=TAGS,
)
async def read_settings(request: AnyRequest, queue_id: FromPath[UUID]) -> BookingSettings:
    principal = require_principal(request)
    queue = await booking_slots.get_booking_queue(
        services_of(request).db, principal.tenant_id, queue_id
    )
    return queue.settings


@put(
    "/api/v1/queues/{queue_id:uuid}/booking",
    opt={"authz": ("update", "booking_settings")},
    tags=TAGS,
)
async def update_settings(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[BookingSettings]
) -> BookingSettings:
    """Enable booking on a queue: slot length, days ahead, planned agents, spare share…"""
    principal = require_principal(request)
    return await actions.do_update_booking_settings(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        queue_id=queue_id,
        settings=data,
        actor=principal.actor,
    )


@get(
    "/api/v1/queues/{queue_id:uuid}/booking/slots",
    opt={"authz": ("read", "booking_settings")},
    tags=TAGS,
)
async def read_slots(
    request: AnyRequest, queue_id: FromPath[UUID], day: FromQuery[str | None] = None
) -> list[SlotOut]:
    """A day's slots as the public page sees them: seats from the capacity model, bookings."""
    principal = require_principal(request)
    db = services_of(request).db
    tenant = await get_tenant(db, principal.tenant_id)
    public = booking_slots.PublicTenant(
        tenant.id, tenant.slug, tenant.name, tenant.timezone, tenant.default_locale
    )
    queue = await booking_slots.get_booking_queue(db, principal.tenant_id, queue_id)
    _zone, today = await _zone_today(request, principal)
    views = await booking_slots.availability(
        db, public, queue, _day(day, today), now=datetime.now(UTC)
    )
    return [
        SlotOut(start=v.start, seats=v.seats, booked=v.booked, free=v.free, bookable=v.bookable)
        for v in views
    ]


@get("/booking", opt={"authz": ("read", "callback_booking"), "page": True})
async def bookings_page(
    request: AnyRequest, day: FromQuery[str | None] = None, queue: FromQuery[str | None] = None
) -> Template:
    """The day's bookings for supervisors (a plain GET form chooses the day and queue)."""
    principal = require_principal(request)
    db = services_of(request).db
    queue_id = None
    if queue:
        try:
            queue_id = UUID(queue)
        except ValueError as exc:
            raise InvalidInputError("queue must be a queue id") from exc
    rows, chosen, zone = await _rows(request, day, queue_id)
    queues = await booking_slots.booking_queues(db, principal.tenant_id, enabled_only=False)
    return Template(
        "booking/staff.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(db, principal.tenant_id),
            "csrf": csrf_for(request),
            "rows": rows,
            "day": chosen,
            "zone": zone,
            "queues": queues,
            "queue_id": queue_id,
            "names": {q.id: q for q in queues},
        },
    )


@post(
    "/booking/{booking_id:uuid}/cancel",
    opt={"authz": ("delete", "callback_booking"), "page": True},
)
async def cancel_from_page(request: AnyRequest, booking_id: FromPath[UUID]) -> Redirect:
    """The list's cancel button: cancel, then show the same day and queue again (the
    booking is looked up before the form is read: another tenant's id is a plain 404)."""
    await _cancel(request, booking_id)
    form = await request.form()
    back = {
        key: value
        for key in ("day", "queue")
        if isinstance(value := form.get(key), str) and value and len(value) <= 64
    }
    return Redirect(path=f"/booking?{urlencode(back)}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [
    list_bookings,
    cancel_booking,
    read_settings,
    update_settings,
    read_slots,
    bookings_page,
    cancel_from_page,
]
